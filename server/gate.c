/* gate.c - waiting for rollouts: the server's `changed` condition (rg_server__notify,
 * rg_server__wait_change), the gate long-poll and Server-Sent Events. Both block the
 * request's own connection thread on `changed` (broadcast after every scheduler tick and
 * every API command), re-reading the store at least once a second so a change made by
 * another process is seen too. Nothing spins. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_private.h"

#define GATE_MAX_MS (3600 * 1000)
#define RECHECK_MS 1000
/* Gates are woken by a narrated change of their own rollout; their re-check (every 5-10 s,
 * spread at random) only bounds a missed wake-up or a change made by another host, and a
 * thousand of them re-reading every second, or all at once, would load the database for
 * nothing and stall every other request behind them. */
#define GATE_RECHECK_MS 5000
#define KEEPALIVE_MS 15000

void rg_server__next_generation(rg_server *s, const char *id)
{
    size_t slot, len = id != NULL ? strlen(id) : 0;

    s->generation++;
    slot = (size_t)(s->generation % RG_SERVER__CHANGES);
    s->changes[slot].generation = s->generation;
    if (id != NULL && len <= RG_SERVER__ID_MAX)
        memcpy(s->changes[slot].id, id, len + 1);
    else
        s->changes[slot].id[0] = '\0'; /* any rollout */
}

void rg_server__notify(rg_server *s, const char *id, int kick)
{
    pthread_mutex_lock(&s->lock);
    rg_server__next_generation(s, id);
    pthread_cond_broadcast(&s->changed);
    if (kick) {
        s->kicked = 1;
        pthread_cond_signal(&s->kick);
    }
    pthread_mutex_unlock(&s->lock);
}

static void mono_deadline(struct timespec *ts, int64_t deadline_mono_ms)
{
    /* rg_time_mono_ms is CLOCK_MONOTONIC in milliseconds, as the condition's clock. */
    ts->tv_sec = (time_t)(deadline_mono_ms / 1000);
    ts->tv_nsec = (long)(deadline_mono_ms % 1000) * 1000000L;
}

uint64_t rg_server__wait_change(rg_server *s, uint64_t seen, int64_t deadline_mono_ms)
{
    struct timespec ts;
    uint64_t gen;

    mono_deadline(&ts, deadline_mono_ms);
    pthread_mutex_lock(&s->lock);
    while (s->generation == seen && !s->stopping && rg_time_mono_ms() < deadline_mono_ms)
        if (pthread_cond_timedwait(&s->changed, &s->lock, &ts) == ETIMEDOUT)
            break;
    gen = s->generation;
    pthread_mutex_unlock(&s->lock);
    return gen;
}

/* Under s->lock: whether a generation after `seen` may concern rollout `id`. */
static int concerns(const rg_server *s, uint64_t seen, const char *id)
{
    if (s->generation - seen >= RG_SERVER__CHANGES)
        return 1; /* the ring no longer tells */
    for (uint64_t g = seen + 1; g <= s->generation; g++) {
        const char *at = s->changes[g % RG_SERVER__CHANGES].id;
        if (at[0] == '\0' || strcmp(at, id) == 0)
            return 1;
    }
    return 0;
}

uint64_t rg_server__wait_rollout(rg_server *s, uint64_t seen, const char *id,
                                 int64_t deadline_mono_ms)
{
    struct timespec ts;
    uint64_t gen;

    mono_deadline(&ts, deadline_mono_ms);
    pthread_mutex_lock(&s->lock);
    while (!s->stopping && rg_time_mono_ms() < deadline_mono_ms) {
        if (s->generation != seen) {
            if (concerns(s, seen, id))
                break;
            seen = s->generation; /* another rollout's step: sleep on */
        }
        if (pthread_cond_timedwait(&s->changed, &s->lock, &ts) == ETIMEDOUT)
            break;
    }
    gen = s->generation;
    pthread_mutex_unlock(&s->lock);
    return gen;
}

static uint64_t generation(rg_server *s)
{
    uint64_t g;
    pthread_mutex_lock(&s->lock);
    g = s->generation;
    pthread_mutex_unlock(&s->lock);
    return g;
}

/* ?timeout=600 (seconds) or a duration ("10m", "PT30S"). */
static int parse_timeout(int64_t *out, const char *v)
{
    if (v == NULL) {
        *out = 0;
        return 0;
    }
    if (rg_parse_int64(out, v, 0, GATE_MAX_MS / 1000) == 0) {
        *out *= 1000;
        return 0;
    }
    if (rg_parse_duration_ms(out, v) == 0 && *out <= (int64_t)GATE_MAX_MS)
        return 0;
    return rg_error_set(RG_EINVALID,
                        "timeout '%s': expected seconds (0-%d) or a duration up to "
                        "1h",
                        v, GATE_MAX_MS / 1000);
}

static int read_state(rg_rollout_state *out, rg_engine *engine, const char *tenant, const char *id)
{
    rg_store_rollout row = {0};
    int rc = rg_engine_rollout_get(&row, engine, tenant, id);
    if (rc == 0)
        *out = row.state;
    rg_engine_rollout_dispose(&row);
    return rc;
}

enum MHD_Result rg_server__api_gate(rg_request *req, const char *id)
{
    rg_server *s = req->server;
    rg_engine *engine = NULL;
    rg_rollout_state state = RG_ROLLOUT_RUNNING;
    int64_t timeout = 0, deadline;
    uint64_t gen, rng = (uint64_t)(uintptr_t)req ^ (uint64_t)rg_time_mono_ms();
    int rc;

    if ((rc = parse_timeout(&timeout, rg_server__query(req, "timeout"))) < 0 ||
        (rc = rg_server__engine(&engine, req)) < 0)
        return rg_server__reply_rc(req, rc);
    if (timeout > 0 && (rc = rg_server__stream_acquire(s, req->token->sha256)) < 0)
        return rg_server__reply_error(req, MHD_HTTP_TOO_MANY_REQUESTS, "too_many_streams", "%s",
                                      rg_error_last());
    /* The connection is silent while it waits: its timeout covers the wait. */
    if (timeout > 0)
        MHD_set_connection_option(req->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                  (unsigned)(timeout / 1000) + s->opts.request_timeout_s);
    deadline = rg_time_mono_ms() + timeout;
    for (;;) {
        gen = generation(s); /* taken before the read: a change after it wakes the wait */
        if ((rc = read_state(&state, engine, req->token->tenant, id)) < 0) {
            if (timeout > 0)
                rg_server__stream_release(s, req->token->sha256);
            return rg_server__reply_rc(req, rc);
        }
        if (rg_rollout_state_is_terminal(state) || state == RG_ROLLOUT_HELD)
            break;
        if (rg_time_mono_ms() >= deadline || rg_server__stopping(s))
            break;
        {
            /* Spread over [1, 2) x GATE_RECHECK_MS, drawn afresh each time: a thousand gates
             * opened together would otherwise re-read the store together, every time. */
            int64_t until;
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            until = rg_time_mono_ms() + GATE_RECHECK_MS + (int64_t)((rng >> 33) % GATE_RECHECK_MS);
            rg_server__wait_rollout(s, gen, id, until < deadline ? until : deadline);
        }
    }
    if (timeout > 0)
        rg_server__stream_release(s, req->token->sha256);
    return rg_server__reply_json(req, MHD_HTTP_OK,
                                 json_pack("{s:s, s:s, s:s}", "id", id, "outcome",
                                           rg_engine_outcome(state), "state",
                                           rg_rollout_state_to_str(state)));
}

/* ---- Server-Sent Events ---- */

typedef struct {
    rg_server *server;
    rg_engine *engine; /* the stream's own (and its store), used only by its connection thread */
    char *tenant;
    char token_sha256[65]; /* the stream counts against this token until freed */
    char id[65];
    int64_t last_id;
    int64_t last_verdict_id; /* verdicts are sent as `event: verdict` after this id */
    rg_buf pending;
    size_t sent; /* bytes of `pending` already handed to MHD */
    int64_t last_write_ms;
    int64_t terminal_seen_ms; /* when the row was first seen terminal (mono), or 0 */
    int done;
} event_stream;

static void stream_free(void *cls)
{
    event_stream *es = cls;
    if (es->token_sha256[0])
        rg_server__stream_release(es->server, es->token_sha256);
    rg_engine_free(es->engine);
    rg_buf_dispose(&es->pending);
    free(es->tenant);
    free(es);
}

static int format_events(event_stream *es, const rg_store_events *events)
{
    for (size_t i = 0; i < events->count; i++) {
        const rg_store_event *e = &events->items[i];
        json_t *detail = e->detail ? json_loads(e->detail, 0, NULL) : NULL, *doc;
        char at[RG_TIME_ISO_LEN], *data;
        rg_rollout_state to;

        rg_time_format(at, e->at_ms);
        doc = json_pack("{s:I, s:s, s:s, s:s?, s:s?, s:o, s:s}", "id", (json_int_t)e->id, "rollout",
                        es->id, "kind", e->kind, "from", e->from_state, "to", e->to_state, "detail",
                        detail ? detail : json_null(), "at", at);
        data = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(doc);
        if (data == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        rg_buf_printf(&es->pending, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)e->id, e->kind,
                      data);
        free(data);
        es->last_id = e->id;
        if (strcmp(e->kind, "state") == 0 && e->to_state &&
            rg_rollout_state_from_str(&to, e->to_state) == 0 && rg_rollout_state_is_terminal(to))
            es->done = 1;
    }
    return 0;
}

static json_t *number_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Verdicts stored since the last one sent, as `event: verdict` messages (without an `id:`
 * line: Last-Event-ID counts events; a resumed stream sends only verdicts stored after it
 * connected). */
static int format_verdicts(event_stream *es)
{
    rg_store_verdicts list = {0};
    int rc;

    if ((rc = rg_engine_verdict_list(&list, es->engine, es->tenant, es->id, -1)) < 0)
        return rc;
    for (size_t i = 0; i < list.count; i++) {
        const rg_store_verdict *v = &list.items[i];
        char at[RG_TIME_ISO_LEN], *data;
        json_t *doc;

        if (v->id <= es->last_verdict_id)
            continue;
        rg_time_format(at, v->at_ms);
        doc = json_pack("{s:I, s:s, s:i, s:i, s:s, s:s?, s:o, s:[oo], s:o, s:o, s:o, s:s?, "
                        "s:s?, s:s}",
                        "verdict", (json_int_t)v->id, "rollout", es->id, "stage", v->stage, "poll",
                        v->poll, "metric", v->metric, "test", v->test, "estimate",
                        number_or_null(v->estimate), "ci", number_or_null(v->ci_lo),
                        number_or_null(v->ci_hi), "z", number_or_null(v->z), "boundary",
                        number_or_null(v->boundary), "p_value", number_or_null(v->p_value),
                        "decision", v->decision, "reason", v->reason, "at", at);
        data = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(doc);
        if (data == NULL) {
            rg_engine_verdicts_dispose(&list);
            return rg_error_set(RG_ENOMEM, "out of memory");
        }
        rg_buf_printf(&es->pending, "event: verdict\ndata: %s\n\n", data);
        free(data);
        es->last_verdict_id = v->id;
    }
    rg_engine_verdicts_dispose(&list);
    return 0;
}

/* Fills `pending` with new events, waiting for a change when there are none. 0, or -1 to end
 * the stream. */
static int stream_fill(event_stream *es)
{
    rg_server *s = es->server;

    while (es->pending.len == 0) {
        rg_store_events events = {0};
        rg_rollout_state state = RG_ROLLOUT_RUNNING;
        uint64_t gen = generation(s);
        int rc;

        if (es->done || rg_server__stopping(s))
            return -1;
        if ((rc = rg_engine_event_list(&events, es->engine, es->tenant, es->id, es->last_id)) < 0 ||
            (events.count == 0 && (rc = read_state(&state, es->engine, es->tenant, es->id)) < 0)) {
            rg_log(RG_LOG_WARN, "serve", "event stream: %s", rg_error_last());
            rg_engine_events_dispose(&events);
            return -1;
        }
        rc = format_verdicts(es);
        if (rc == 0)
            rc = format_events(es, &events);
        rg_engine_events_dispose(&events);
        if (rc < 0)
            return -1;
        if (es->pending.len)
            break;
        /* The row turns terminal a statement before its state event is appended; a
         * terminal row with no new event for two seconds (the stream resumed after the
         * final event) ends the stream. */
        if (rg_rollout_state_is_terminal(state)) {
            if (es->terminal_seen_ms == 0)
                es->terminal_seen_ms = rg_time_mono_ms();
            else if (rg_time_mono_ms() - es->terminal_seen_ms > 2000)
                return -1;
        }
        rg_server__wait_change(s, gen, rg_time_mono_ms() + RECHECK_MS);
        if (es->pending.len == 0 && rg_time_mono_ms() - es->last_write_ms >= KEEPALIVE_MS)
            rg_buf_puts(&es->pending, ": keepalive\n\n");
    }
    return 0;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    event_stream *es = cls;
    size_t n;

    (void)pos;
    if (es->sent == es->pending.len) {
        rg_buf_clear(&es->pending);
        es->sent = 0;
        if (stream_fill(es) < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
    }
    n = es->pending.len - es->sent;
    if (n > max)
        n = max;
    memcpy(buf, es->pending.ptr + es->sent, n);
    es->sent += n;
    es->last_write_ms = rg_time_mono_ms();
    return (ssize_t)n;
}

enum MHD_Result rg_server__api_events(rg_request *req, const char *id)
{
    const char *last = rg_server__header(req, "Last-Event-ID");
    event_stream *es = NULL;
    struct MHD_Response *resp;
    rg_rollout_state state;
    enum MHD_Result ret;
    int64_t after = 0;
    int rc = RG_ENOMEM;

    if (last == NULL)
        last = rg_server__query(req, "last_event_id");
    if (last && rg_parse_int64(&after, last, 0, INT64_MAX) < 0)
        return rg_server__reply_error(req, 400, "invalid",
                                      "Last-Event-ID '%s': expected an "
                                      "event id (a non-negative integer)",
                                      last);
    if ((rc = rg_server__stream_acquire(req->server, req->token->sha256)) < 0)
        return rg_server__reply_error(req, MHD_HTTP_TOO_MANY_REQUESTS, "too_many_streams", "%s",
                                      rg_error_last());
    if ((es = calloc(1, sizeof(*es))) == NULL) {
        rg_server__stream_release(req->server, req->token->sha256);
        return MHD_NO;
    }
    memcpy(es->token_sha256, req->token->sha256, sizeof(es->token_sha256));
    es->server = req->server;
    es->last_id = after;
    es->last_write_ms = rg_time_mono_ms();
    snprintf(es->id, sizeof(es->id), "%s", id);
    if ((es->tenant = rg_strdup(req->token->tenant)) == NULL ||
        (rc = rg_engine_open(&es->engine, req->server->db_path, 0, NULL)) < 0 ||
        (rc = read_state(&state, es->engine, es->tenant, id)) < 0) {
        ret = rg_server__reply_rc(req, es->tenant ? rc : RG_ENOMEM);
        stream_free(es);
        return ret;
    }
    if (after > 0) {
        rg_store_verdicts list = {0};
        if (rg_engine_verdict_list(&list, es->engine, es->tenant, id, -1) == 0 && list.count)
            es->last_verdict_id = list.items[list.count - 1].id;
        rg_engine_verdicts_dispose(&list);
    }
    rg_buf_puts(&es->pending, "retry: 2000\n\n");
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, es, stream_free);
    if (resp == NULL) {
        stream_free(es);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    ret = MHD_queue_response(req->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}
