/* http_floor.h - the raw-HTTP floor a rollback is measured against: N GETs, then N PATCHes
 * with If-Match, over one libcurl multi handle at a fixed concurrency, retrying 5xx, resets
 * and 429s with the same bounds and backoff as the platform client (rg_platform_options) */
#ifndef RG_BENCH_HTTP_FLOOR_H
#define RG_BENCH_HTTP_FLOOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int concurrency;         /* transfers in flight at most */
    int max_retries;         /* 5xx / reset / timeout retries per request */
    int max_429_retries;     /* 429 retries per request */
    int64_t backoff_base_ms; /* full jitter: rand(0, min(cap, base * 2^(n-1))) */
    int64_t backoff_cap_ms;
    int64_t retry_after_cap_ms;
    int64_t timeout_ms; /* per attempt */
} bench_floor_options;

/* The platform client's defaults (platform/client.c), so the floor retries as rollgate does. */
void bench_floor_options_init(bench_floor_options *opts);

typedef struct {
    double seconds; /* wall time of both phases */
    long requests;  /* HTTP attempts sent */
    long retries;   /* attempts repeated after 5xx, reset, timeout or 429 */
    long failed;    /* requests that never got a 2xx */
} bench_floor_result;

/* For each i: GET urls[i] with `Bearer tokens[i]`, read its ETag, then PATCH `body` to the
 * same URL with If-Match as soon as its GET answered (the shape of one restore op).
 * 0, or -1 with a message on stderr when curl cannot be set up. */
int bench_floor_run(bench_floor_result *out, const bench_floor_options *opts, char *const *urls,
                    char *const *tokens, size_t n, const char *body);

#endif
