/* platform_options.h - how a platform client behaves: concurrency, timeouts, retries, TLS,
 * paths. Its own header so that the engine's options carry it without exposing the client
 * (platform.h). */
#ifndef RG_PLATFORM_OPTIONS_H
#define RG_PLATFORM_OPTIONS_H

#include <stdint.h>

typedef struct rg_platform_options {
    int max_concurrency;          /* ceiling on transfers in flight, all orgs together (32) */
    int64_t connect_timeout_ms;   /* per attempt (10000) */
    int64_t request_timeout_ms;   /* per attempt, whole transfer (30000) */
    int max_retries;              /* retries after 5xx, reset, timeout; then the op fails (6) */
    int max_429_retries;          /* 429s one op may absorb before failing (20) */
    int max_412_attempts;         /* PATCH attempts per strategy update, 412 re-reads (3) */
    int64_t backoff_base_ms;      /* full-jitter backoff: rand(0, min(cap, base*2^n)) (100) */
    int64_t backoff_cap_ms;       /* (10000) */
    int64_t retry_after_cap_ms;   /* longest Retry-After honoured (180000) */
    int64_t rate_reset_margin_ms; /* waited beyond a window reset before sending again (50) */
    int rate_low_water;           /* remaining budget at which an org drops to one request
                                   * in flight (10) */
    uint64_t jitter_seed;         /* backoff jitter seed; 0 = seeded from the clock */
    int insecure;                 /* disable TLS verification: refused unless every org URL
                                   * is loopback (0) */
    const char *ca_file;          /* CA bundle for TLS; NULL = system default. Copied. */
    const char *strategies_path;  /* "/api/v2/routing/strategies". Copied. */
    const char *media_type;       /* aggregates filter: "voice" (default), "chat", "email",
                                   * "callback", "message", or "" for none */
    int predicate_batch;          /* most queueId predicates in one analytics query (100);
                                   * more queues take several queries, merged. 1..1000 */
    struct rg_platform_tokens *tokens; /* token cache shared with other clients (platform.h);
                                        * borrowed, must outlive the client. NULL: tokens die
                                        * with the client */
    /* Asked before a write the client decides on its own after a re-read inside one call
     * (a versioned resource's stale version): 0 lets it go; an error code stops the call
     * with it (the engine: RG_ELEASE once another host drives the rollout). NULL: allowed. */
    int (*may_write)(void *payload);
    void *may_write_payload;
} rg_platform_options;

/* Fills `opts` with the defaults above. */
void rg_platform_options_init(rg_platform_options *opts);

#endif
