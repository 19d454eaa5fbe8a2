/* http_floor.c - a retrying raw-HTTP floor over one libcurl multi handle (see http_floor.h).
 * It does the least work a correct rollback must do: one GET and one conditional PATCH per
 * org, with no store, no snapshot and no merge, retrying exactly what the platform client
 * retries (5xx 500/502/503/504, resets, timeouts; 429 after Retry-After) with the same
 * bounds and full-jitter backoff. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "bench/http_floor.h"

void bench_floor_options_init(bench_floor_options *opts)
{
    opts->concurrency = 32;
    opts->max_retries = 6;
    opts->max_429_retries = 20;
    opts->backoff_base_ms = 100;
    opts->backoff_cap_ms = 10000;
    opts->retry_after_cap_ms = 180000;
    opts->timeout_ms = 30000;
}

enum { PHASE_GET, PHASE_PATCH, PHASE_DONE };

typedef struct {
    size_t index;
    int phase;
    int transient;    /* 5xx / reset retries so far in this phase */
    int limited;      /* 429s so far in this phase */
    int64_t ready_at; /* monotonic ms */
    int64_t retry_after_ms;
    char etag[256];
    struct curl_slist *headers;
} request;

typedef struct {
    request **items;
    size_t count;
} heap; /* min-heap on (ready_at, index) */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int before(const request *a, const request *b)
{
    return a->ready_at < b->ready_at || (a->ready_at == b->ready_at && a->index < b->index);
}

static void heap_push(heap *h, request *r)
{
    size_t i = h->count++;
    h->items[i] = r;
    while (i > 0 && before(h->items[i], h->items[(i - 1) / 2])) {
        request *t = h->items[i];
        h->items[i] = h->items[(i - 1) / 2];
        h->items[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static request *heap_pop(heap *h)
{
    request *top = h->items[0];
    size_t i = 0;
    h->items[0] = h->items[--h->count];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->count && before(h->items[l], h->items[m]))
            m = l;
        if (r < h->count && before(h->items[r], h->items[m]))
            m = r;
        if (m == i)
            break;
        request *t = h->items[i];
        h->items[i] = h->items[m];
        h->items[m] = t;
        i = m;
    }
    return top;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static int64_t backoff(const bench_floor_options *o, int failures)
{
    int64_t ceiling = o->backoff_base_ms;
    for (int i = 1; i < failures && ceiling < o->backoff_cap_ms; i++)
        ceiling *= 2;
    if (ceiling > o->backoff_cap_ms)
        ceiling = o->backoff_cap_ms;
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ceiling > 0 ? (int64_t)(rng_state % (uint64_t)(ceiling + 1)) : 0;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

/* Keeps the ETag of a GET and the Retry-After of any reply. */
static size_t on_header(char *line, size_t size, size_t nmemb, void *userdata)
{
    request *r = userdata;
    size_t total = size * nmemb, len = total;
    char buf[256];

    if (len >= sizeof(buf))
        return total;
    memcpy(buf, line, len);
    buf[len] = '\0';
    while (len > 0 && (buf[len - 1] == '\r' || buf[len - 1] == '\n'))
        buf[--len] = '\0';
    if (strncasecmp(buf, "ETag:", 5) == 0) {
        const char *v = buf + 5;
        while (*v == ' ')
            v++;
        snprintf(r->etag, sizeof(r->etag), "%s", v);
    } else if (strncasecmp(buf, "Retry-After:", 12) == 0) {
        long s = strtol(buf + 12, NULL, 10);
        r->retry_after_ms = s > 0 ? s * 1000 : 0;
    }
    return total;
}

static CURL *easy_for(request *r, const bench_floor_options *o, char *const *urls,
                      char *const *tokens, const char *body)
{
    CURL *e = curl_easy_init();
    char auth[1200], match[300];

    if (e == NULL)
        return NULL;
    curl_slist_free_all(r->headers);
    r->headers = NULL;
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tokens[r->index]);
    r->headers = curl_slist_append(r->headers, auth);
    r->retry_after_ms = -1;
    curl_easy_setopt(e, CURLOPT_URL, urls[r->index]);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /* loopback, no proxy: as the platform client, the floor spares libcurl its proxy look-ups
     * (five scans of an environment that holds every org's credentials) */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOPROXY, "");
    if (r->phase == PHASE_PATCH) {
        snprintf(match, sizeof(match), "If-Match: %s", r->etag);
        r->headers = curl_slist_append(r->headers, match);
        r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    return e;
}

/* Decides what follows one finished attempt: next phase, a retry, or a failure. */
static void settle(request *r, CURLcode res, long status, const bench_floor_options *o,
                   bench_floor_result *out, heap *wait, int64_t now)
{
    int transient =
        res != CURLE_OK || status == 500 || status == 502 || status == 503 || status == 504;

    if (res == CURLE_OK && status >= 200 && status < 300) {
        r->transient = r->limited = 0;
        r->phase = r->phase == PHASE_GET ? PHASE_PATCH : PHASE_DONE;
        r->ready_at = 0;
        if (r->phase == PHASE_PATCH)
            heap_push(wait, r);
        return;
    }
    if (res == CURLE_OK && status == 429 && ++r->limited <= o->max_429_retries) {
        int64_t d = r->retry_after_ms >= 0 ? r->retry_after_ms : backoff(o, r->limited);
        r->ready_at = now + (d > o->retry_after_cap_ms ? o->retry_after_cap_ms : d);
    } else if (transient && ++r->transient <= o->max_retries) {
        r->ready_at = now + backoff(o, r->transient);
    } else {
        out->failed++;
        r->phase = PHASE_DONE;
        return;
    }
    out->retries++;
    heap_push(wait, r);
}

int bench_floor_run(bench_floor_result *out, const bench_floor_options *opts, char *const *urls,
                    char *const *tokens, size_t n, const char *body)
{
    request *reqs = calloc(n ? n : 1, sizeof(*reqs));
    heap wait = {calloc(n ? n : 1, sizeof(request *)), 0};
    CURLM *multi = curl_multi_init();
    int64_t t0 = mono_ms();
    int running = 0, in_flight = 0, rc = 0;

    memset(out, 0, sizeof(*out));
    if (reqs == NULL || wait.items == NULL || multi == NULL) {
        fprintf(stderr, "http_floor: out of memory\n");
        rc = -1;
        goto cleanup;
    }
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)opts->concurrency);
    for (size_t i = 0; i < n; i++) {
        reqs[i].index = i;
        heap_push(&wait, &reqs[i]);
    }
    /* Each org's PATCH follows its own GET at once, as one restore op does in the engine. */
    while (wait.count > 0 || in_flight > 0) {
        int64_t now = mono_ms();
        CURLMsg *msg;
        int left, timeout = 100;
        while (in_flight < opts->concurrency && wait.count > 0 && wait.items[0]->ready_at <= now) {
            request *r = heap_pop(&wait);
            CURL *e = easy_for(r, opts, urls, tokens, body);
            if (e == NULL || curl_multi_add_handle(multi, e) != CURLM_OK) {
                fprintf(stderr, "http_floor: cannot start a transfer\n");
                rc = -1;
                goto cleanup;
            }
            out->requests++;
            in_flight++;
        }
        curl_multi_perform(multi, &running);
        while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
            request *r;
            long status = 0;
            CURLcode result;
            CURL *done;
            if (msg->msg != CURLMSG_DONE)
                continue;
            done = msg->easy_handle;
            result = msg->data.result; /* msg is invalid once the handle is removed */
            curl_easy_getinfo(done, CURLINFO_PRIVATE, (char **)&r);
            curl_easy_getinfo(done, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(multi, done);
            curl_easy_cleanup(done);
            settle(r, result, status, opts, out, &wait, mono_ms());
            in_flight--;
        }
        /* Sleep no longer than until the next request may start (a PATCH queued just now
         * by a finished GET may start at once). */
        if (wait.count > 0 && in_flight < opts->concurrency) {
            int64_t d = wait.items[0]->ready_at - mono_ms();
            timeout = d < 0 ? 0 : d < 100 ? (int)d : 100;
        }
        if (in_flight > 0 || wait.count > 0)
            curl_multi_poll(multi, NULL, 0, timeout, NULL);
    }
    out->seconds = (double)(mono_ms() - t0) / 1000.0;
cleanup:
    if (multi)
        curl_multi_cleanup(multi);
    for (size_t i = 0; reqs && i < n; i++)
        curl_slist_free_all(reqs[i].headers);
    free(reqs);
    free(wait.items);
    return rc;
}
