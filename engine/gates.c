/* gates.c - gating webhooks (docs/gates.md): before a stage's first write, before a verdict's
 * promotion is recorded and before a rollback's end is recorded, the manifest's gates of that
 * point are asked with a signed POST; the step proceeds only on 2xx. A refusal holds the
 * rollout with the receiver's reason; transport failures, 429 and 5xx are retried with
 * backoff within the gate's timeout, one bounded call per tick, so a slow receiver delays
 * only its rollout and never outlasts the lease.
 *
 * What the store keeps (the rollout's book): gates.<key> per gate asked ({"passed": ms} once
 * it answered 2xx, {"first","attempts","next","error"} while retrying), gate_pending (a
 * promotion or a rollback's end that waits for its gates) and gate_hold (the rollout is held
 * by a gate; `resume` asks again). A pass is written in the transaction that records the step
 * it allows (or, for a stage, before its first write), so a restarted engine neither skips a
 * gate nor asks one that has passed. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "rollgate/http.h"
#include "rollgate/util.h"

#define REASON_MAX 200    /* bytes of the receiver's reason kept */
#define CALL_MAX_MS 10000 /* one call's ceiling, whatever the gate's timeout */
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 15000

typedef enum { ASK_PASSED, ASK_WAIT, ASK_REFUSED, ASK_FAILED } ask_result;

/* What one call decided, written (event and audit) in the transaction of the step it
 * allows or stops, never while the call is in flight. */
typedef struct {
    const rg_manifest_gate *gate; /* NULL: no call was made */
    int stage;
    const char *outcome; /* "passed", "refused", "failed" */
    long status;
    int attempts;
    char reason[REASON_MAX + 32];
    int has_reason;
} gate_outcome;

/* The book's key of gate `i` of point `at` at `stage`: "pre-stage:1#0". */
static void gate_key(char *out, size_t outlen, rg_gate_point at, int stage, size_t i)
{
    if (at == RG_GATE_PRE_ROLLOUT || at == RG_GATE_POST_ROLLBACK)
        snprintf(out, outlen, "%s#%zu", rg_gate_point_name(at), i);
    else
        snprintf(out, outlen, "%s:%d#%zu", rg_gate_point_name(at), stage, i);
}

static json_t *gates_book(rg_rollout_ctx *ctx)
{
    json_t *g = json_object_get(ctx->book, "gates");
    if (g == NULL && json_object_set_new(ctx->book, "gates", g = json_object()) < 0)
        return NULL;
    return g;
}

static int has_gates(const rg_rollout_ctx *ctx, rg_gate_point at)
{
    for (size_t i = 0; i < ctx->manifest->gates_count; i++)
        if (ctx->manifest->gates[i].at == at)
            return 1;
    return 0;
}

/* The receiver's reason: a JSON body's "reason" string, or the body itself; control
 * characters become spaces, runs of spaces one, cut at REASON_MAX bytes on a character
 * boundary. */
static void sanitise_reason(char *out, size_t outlen, const char *body)
{
    json_t *doc = body ? json_loads(body, 0, NULL) : NULL;
    const char *text = json_string_value(json_object_get(doc, "reason"));
    size_t n = 0, max = outlen - 1 < REASON_MAX ? outlen - 1 : REASON_MAX;

    if (text == NULL)
        text = body ? body : "";
    for (const unsigned char *p = (const unsigned char *)text; *p && n < max; p++) {
        unsigned char c = *p < 0x20 || *p == 0x7f ? ' ' : *p;
        if (c == ' ' && (n == 0 || out[n - 1] == ' '))
            continue;
        out[n++] = (char)c;
    }
    if (n == max) /* do not end inside a multi-byte character */
        while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80)
            n--;
    if (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0xC0)
        n--;
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    if (n == 0)
        snprintf(out, outlen, "(no reason given)");
    json_decref(doc);
}

/* The last look's verdicts of `stage`: {"stage", "poll", "metrics": [{metric, decision,
 * reason}]}, or null when it has none. */
static json_t *verdict_summary(rg_rollout_ctx *ctx, int stage)
{
    rg_store_verdicts v = {0};
    json_t *out = json_null(), *metrics;
    int poll = -1;

    if (stage < 0 ||
        rg_store_verdict_list(&v, ctx->engine->store, ctx->row.tenant_id, ctx->row.id, stage) < 0 ||
        v.count == 0) {
        rg_error_clear();
        rg_store_verdicts_dispose(&v);
        return out;
    }
    for (size_t i = 0; i < v.count; i++)
        if (v.items[i].poll > poll)
            poll = v.items[i].poll;
    metrics = json_array();
    for (size_t i = 0; i < v.count; i++)
        if (v.items[i].poll == poll)
            json_array_append_new(
                metrics, json_pack("{s:s, s:s, s:s?}", "metric", v.items[i].metric, "decision",
                                   v.items[i].decision, "reason", v.items[i].reason));
    json_decref(out);
    out = json_pack("{s:i, s:i, s:o}", "stage", stage + 1, "poll", poll, "metrics", metrics);
    rg_store_verdicts_dispose(&v);
    return out ? out : json_null();
}

static char *request_body(rg_rollout_ctx *ctx, rg_gate_point at, int stage, size_t index,
                          int attempt, const char *why)
{
    int verdict_stage = at == RG_GATE_PRE_STAGE || at == RG_GATE_PRE_ROLLOUT ? stage - 1 : stage;
    char now[RG_TIME_ISO_LEN];
    json_t *body;
    char *text;

    rg_time_format(now, rg_time_now_ms());
    body = json_pack(
        "{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:s?, s:o, s:s, s:s}", "gate",
        rg_gate_point_name(at), "rollout", ctx->row.id, "tenant", ctx->row.tenant_id, "name",
        ctx->manifest->name, "gate_index", (int)index, "stage", stage + 1, "stages",
        ctx->row.stage_count, "percent",
        ctx->manifest->stages[stage < (int)ctx->manifest->stages_count ? stage : 0].percent,
        "attempt", attempt, "reason", why, "verdict", verdict_summary(ctx, verdict_stage), "state",
        rg_rollout_state_to_str(ctx->row.state), "at", now);
    text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(body);
    return text;
}

/* One signed POST. @return 0 with the response, or the transport error (message set). */
static int post(rg_http_response *resp, rg_rollout_ctx *ctx, const rg_manifest_gate *g,
                const char *key, const char *body, int64_t timeout_ms)
{
    const char *secret = getenv(g->secret_env);
    char sig[RG_HTTP_SIGNATURE_LEN + 32], ts[64], stamp[40], ev[96], dk[256];
    const char *headers[5];
    rg_http_options opts;
    rg_engine *e = ctx->engine;
    int rc;

    if (secret == NULL || *secret == '\0')
        return rg_error_set(RG_EAUTH, "the secret's environment variable %s is not set",
                            g->secret_env);
    snprintf(stamp, sizeof(stamp), "%lld", (long long)(rg_time_now_ms() / 1000));
    memcpy(sig, "X-Rollgate-Signature: ", 23);
    if ((rc = rg_http_signature(sig + 22, sizeof(sig) - 22, secret, stamp, body)) < 0)
        return rc;
    snprintf(ts, sizeof(ts), "X-Rollgate-Timestamp: %s", stamp);
    snprintf(ev, sizeof(ev), "X-Rollgate-Event: gate.%s", rg_gate_point_name(g->at));
    snprintf(dk, sizeof(dk), "X-Rollgate-Delivery: %s/gate:%s", ctx->row.id, key);
    headers[0] = sig;
    headers[1] = ts;
    headers[2] = ev;
    headers[3] = dk;
    headers[4] = NULL;
    /* The lease must outlast the call: renewed first, and no call is longer than half. */
    if (e->epoch > 0 &&
        (rc = rg_store_lease_extend(e->store, ctx->row.tenant_id, ctx->row.id, e->owner, e->epoch,
                                    rg_engine__lease_ttl(e), e->batch_last_ms)) < 0)
        return rc;
    if (timeout_ms > rg_engine__lease_ttl(e) / 2)
        timeout_ms = rg_engine__lease_ttl(e) / 2;
    rg_http_options_init(&opts);
    opts.timeout_ms = timeout_ms;
    opts.connect_timeout_ms = timeout_ms < 3000 ? timeout_ms : 3000;
    opts.user_agent = "rollgate-gate/1";
    opts.max_body = 4096;
    rc = rg_http_post_json(resp, g->url, headers, body, &opts);
    explicit_bzero(sig, sizeof(sig));
    return rc;
}

static int outcome_event(rg_rollout_ctx *ctx, const gate_outcome *o)
{
    const rg_manifest_gate *g = o->gate;
    const char *reason = o->has_reason ? o->reason : NULL, *outcome = o->outcome;
    int stage = o->stage, attempts = o->attempts, rc;
    long status = o->status;
    char url[512];
    json_t *detail;

    if (g == NULL)
        return 0;
    rg_http_url_for_log(url, sizeof(url), g->url);
    detail = json_pack("{s:s, s:i, s:s, s:s, s:i, s:i, s:s?}", "gate", rg_gate_point_name(g->at),
                       "stage", stage, "url", url, "outcome", outcome, "status", (int)status,
                       "attempts", attempts, "reason", reason);
    if ((rc = rg_engine__audit(ctx->engine, ctx->row.tenant_id, ctx->row.id, "rollgate-gate",
                               "gate", rg_gate_point_name(g->at), outcome, json_incref(detail))) <
        0) {
        json_decref(detail);
        return rc;
    }
    return rg_engine__event(ctx, "gate", detail, "gate %s (%s) at stage %d: %s%s%s",
                            rg_gate_point_name(g->at), url, stage + 1, outcome, reason ? ": " : "",
                            reason ? reason : "");
}

/* One ask of one gate, as it goes. */
typedef struct {
    const rg_manifest_gate *gate;
    json_t *book; /* the book's `gates` object (borrowed) */
    char key[96];
    char url[512]; /* as logs show it */
    int64_t first; /* when the first attempt of this ask was made */
    int attempts;  /* including this one */
} ask_state;

/* What an answer settles: a pass, a refusal, or a missing secret. 0 when it settles
 * nothing (a transport failure, 429 or 5xx: retried). */
static int settle(ask_result *out, gate_outcome *o, const ask_state *a, int rc,
                  const rg_http_response *resp, char *hold, size_t holdlen)
{
    const char *at = rg_gate_point_name(a->gate->at);

    if (rc == 0 && resp->status >= 200 && resp->status < 300) {
        json_object_set_new(a->book, a->key,
                            json_pack("{s:I}", "passed", (json_int_t)rg_time_now_ms()));
        *out = ASK_PASSED;
        o->outcome = "passed";
        return 1;
    }
    if (rc == 0 && resp->status != 429 && resp->status < 500) {
        sanitise_reason(o->reason, sizeof(o->reason), resp->body);
        snprintf(hold, holdlen, "gate %s (%s) refused (HTTP %ld): %s", at, a->url, resp->status,
                 o->reason);
        *out = ASK_REFUSED;
        o->outcome = "refused";
    } else if (rc == RG_EAUTH) { /* no secret: retrying cannot help until a person sets it */
        snprintf(o->reason, sizeof(o->reason), "%s", rg_error_last());
        snprintf(hold, holdlen, "gate %s (%s): %s", at, a->url, o->reason);
        *out = ASK_FAILED;
        o->outcome = "failed";
        rg_error_clear();
    } else {
        return 0;
    }
    o->has_reason = 1;
    json_object_del(a->book, a->key); /* asked afresh after a person resumes */
    return 1;
}

/* A failed attempt: the next one after a backoff, or, when the timeout would run out
 * first, the end of the ask naming the last error. */
static void retry_or_fail(ask_result *out, gate_outcome *o, rg_rollout_ctx *ctx, const ask_state *a,
                          const char *err, char *hold, size_t holdlen)
{
    const rg_manifest_gate *g = a->gate;
    int64_t wait = BACKOFF_FIRST_MS, now = rg_time_now_ms(), next;

    for (int k = 1; k < a->attempts && wait < BACKOFF_MAX_MS; k++)
        wait *= 2;
    if (wait > BACKOFF_MAX_MS)
        wait = BACKOFF_MAX_MS;
    if (now + wait >= a->first + g->timeout_ms) {
        rg_buf within = RG_BUF_INIT;
        rg_format_duration(&within, g->timeout_ms);
        snprintf(hold, holdlen,
                 "gate %s (%s) failed: no 2xx answer within %s after %d "
                 "attempt%s (last: %s)",
                 rg_gate_point_name(g->at), a->url, rg_buf_cstr(&within), a->attempts,
                 a->attempts == 1 ? "" : "s", err);
        rg_buf_dispose(&within);
        json_object_del(a->book, a->key);
        *out = ASK_FAILED;
        o->outcome = "failed";
        snprintf(o->reason, sizeof(o->reason), "%.220s", err);
        o->has_reason = 1;
        return;
    }
    o->gate = NULL; /* a retry: narrated, recorded in the book only */
    next = now + wait;
    json_object_set_new(a->book, a->key,
                        json_pack("{s:I, s:i, s:I, s:s}", "first", (json_int_t)a->first, "attempts",
                                  a->attempts, "next", (json_int_t)next, "error", err));
    rg_engine__narrate(ctx, "gate", "gate %s (%s) attempt %d: %s; retrying in %lld ms",
                       rg_gate_point_name(g->at), a->url, a->attempts, err, (long long)wait);
    ctx->next_ms = next;
    *out = ASK_WAIT;
}

/* Asks gate `i` once (or not, when it passed or its retry is not due). `why` goes in the
 * body. On ASK_REFUSED/ASK_FAILED `hold` says why, naming the gate; `o` says what to
 * record when a call settled something. */
static int ask_one(ask_result *out, gate_outcome *o, rg_rollout_ctx *ctx, size_t i, int stage,
                   const char *why, char *hold, size_t holdlen)
{
    ask_state a = {&ctx->manifest->gates[i], gates_book(ctx), "", "", 0, 0};
    rg_http_response resp = {0};
    int64_t now = rg_time_now_ms(), left;
    char err[384];
    json_t *entry;
    char *body;
    int rc;

    if (a.book == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    gate_key(a.key, sizeof(a.key), a.gate->at, stage, i);
    entry = json_object_get(a.book, a.key);
    *out = ASK_PASSED;
    if (json_object_get(entry, "passed"))
        return 0;
    if (json_integer_value(json_object_get(entry, "next")) > now) {
        ctx->next_ms = json_integer_value(json_object_get(entry, "next"));
        *out = ASK_WAIT;
        return 0;
    }
    a.first = entry ? json_integer_value(json_object_get(entry, "first")) : now;
    a.attempts = (int)json_integer_value(json_object_get(entry, "attempts")) + 1;
    left = a.first + a.gate->timeout_ms - now;
    if (left < 1000)
        left = 1000; /* the last attempt still gets a fair call */
    if ((body = request_body(ctx, a.gate->at, stage, i, a.attempts, why)) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    rc = post(&resp, ctx, a.gate, a.key, body, left < CALL_MAX_MS ? left : CALL_MAX_MS);
    free(body);
    if (rc == RG_ELEASE || rc == RG_EDB) {
        rg_http_response_dispose(&resp);
        return rc;
    }
    rg_http_url_for_log(a.url, sizeof(a.url), a.gate->url);
    *o = (gate_outcome){
        .gate = a.gate, .stage = stage, .attempts = a.attempts, .status = resp.status};
    if (!settle(out, o, &a, rc, &resp, hold, holdlen)) {
        if (rc == 0)
            snprintf(err, sizeof(err), "HTTP %ld", resp.status);
        else
            snprintf(err, sizeof(err), "%s", rg_error_last());
        rg_error_clear();
        retry_or_fail(out, o, ctx, &a, err, hold, holdlen);
    }
    rg_http_response_dispose(&resp);
    return 0;
}

/* Asks the gates of `at` in order until one does not pass, making at most one call (a
 * later gate is asked on the next step, right away). */
static int ask_all(ask_result *out, gate_outcome *o, rg_rollout_ctx *ctx, rg_gate_point at,
                   int stage, const char *why, char *hold, size_t holdlen)
{
    int rc;

    *out = ASK_PASSED;
    memset(o, 0, sizeof(*o));
    for (size_t i = 0; i < ctx->manifest->gates_count; i++) {
        if (ctx->manifest->gates[i].at != at)
            continue;
        if (o->gate != NULL) { /* one call made and passed: the next gate next step */
            char key[96];
            gate_key(key, sizeof(key), at, stage, i);
            if (json_object_get(json_object_get(gates_book(ctx), key), "passed"))
                continue;
            ctx->next_ms = rg_time_now_ms();
            *out = ASK_WAIT;
            return 0;
        }
        if ((rc = ask_one(out, o, ctx, i, stage, why, hold, holdlen)) < 0)
            return rc;
        if (*out != ASK_PASSED)
            return 0;
    }
    return 0;
}

static int hold_by_gate(rg_rollout_ctx *ctx, rg_gate_point at, int stage, const char *why)
{
    json_object_set_new(ctx->book, "gate_hold",
                        json_pack("{s:s, s:i}", "at", rg_gate_point_name(at), "stage", stage));
    return rg_engine__set_state(ctx, RG_ROLLOUT_HELD, why);
}

int rg_engine__gate_before_stage(rg_rollout_ctx *ctx, int *out_pass)
{
    rg_gate_point points[2] = {RG_GATE_PRE_ROLLOUT, RG_GATE_PRE_STAGE};
    int stage = ctx->row.stage_index, rc, own = 0;
    char hold[1024] = "";
    ask_result r = ASK_PASSED;
    gate_outcome o;

    *out_pass = 1;
    json_object_del(ctx->book, "gate_hold"); /* running again: a gate hold was released */
    for (size_t p = stage == 0 ? 0 : 1; p < 2; p++) {
        if (!has_gates(ctx, points[p]))
            continue;
        if ((rc = ask_all(&r, &o, ctx, points[p], stage, NULL, hold, sizeof(hold))) < 0)
            return rc;
        if (o.gate != NULL)
            rg_engine__crash_point("gate_answered"); /* nothing recorded: asked again */
        /* A pass and its event commit together, before the stage's first write. */
        if ((rc = rg_engine__tx_begin(ctx, &own)) < 0)
            return rc;
        rc = outcome_event(ctx, &o);
        if (rc == 0 && (r == ASK_REFUSED || r == ASK_FAILED))
            rc = hold_by_gate(ctx, points[p], stage, hold);
        else if (rc == 0)
            rc = rg_engine__save(ctx);
        if ((rc = rg_engine__tx_end(ctx, own, rc)) < 0)
            return rc;
        if (o.gate != NULL && r == ASK_PASSED)
            rg_engine__crash_point("gate_passed"); /* recorded: never asked again */
        if (r != ASK_PASSED) {
            *out_pass = 0;
            return 0;
        }
        if (o.gate != NULL && p == 0 && has_gates(ctx, RG_GATE_PRE_STAGE)) {
            *out_pass = 0; /* one call per tick: pre-stage on the next, right away */
            ctx->next_ms = rg_time_now_ms();
            return 0;
        }
    }
    return 0;
}

/* Records a promotion or a rollback's end that waits for its gates; the next step asks. */
static int make_pending(rg_rollout_ctx *ctx, rg_gate_point at, const char *state, const char *why)
{
    json_object_set_new(ctx->book, "gate_pending",
                        json_pack("{s:s, s:i, s:s, s:s?}", "at", rg_gate_point_name(at), "stage",
                                  ctx->row.stage_index, "why", why, "state", state));
    ctx->next_ms = ctx->now_ms;
    rg_engine__narrate(ctx, "gate", "waiting for the %s gate%s", rg_gate_point_name(at),
                       at == RG_GATE_CONFIRM_PROMOTION ? " before promoting" : "");
    return rg_engine__save(ctx);
}

int rg_engine__gate_promote(rg_rollout_ctx *ctx, const char *why)
{
    if (!has_gates(ctx, RG_GATE_CONFIRM_PROMOTION))
        return rg_engine__promote(ctx, why);
    return make_pending(ctx, RG_GATE_CONFIRM_PROMOTION, NULL, why);
}

int rg_engine__gate_finish_rollback(rg_rollout_ctx *ctx, rg_rollout_state state, const char *why)
{
    if (!has_gates(ctx, RG_GATE_POST_ROLLBACK))
        return rg_engine__set_state(ctx, state, why);
    return make_pending(ctx, RG_GATE_POST_ROLLBACK, rg_rollout_state_to_str(state), why);
}

int rg_engine__gate_pending(const rg_rollout_ctx *ctx)
{
    const char *at =
        json_string_value(json_object_get(json_object_get(ctx->book, "gate_pending"), "at"));
    if (at == NULL)
        return 0;
    if (ctx->row.state == RG_ROLLOUT_RUNNING)
        return strcmp(at, rg_gate_point_name(RG_GATE_CONFIRM_PROMOTION)) == 0;
    if (ctx->row.state == RG_ROLLOUT_ROLLING_BACK)
        return strcmp(at, rg_gate_point_name(RG_GATE_POST_ROLLBACK)) == 0;
    return 0;
}

int rg_engine__gate_continue(rg_rollout_ctx *ctx)
{
    json_t *pending = json_incref(json_object_get(ctx->book, "gate_pending"));
    const char *why = json_string_value(json_object_get(pending, "why"));
    const char *state = json_string_value(json_object_get(pending, "state"));
    int stage = (int)json_integer_value(json_object_get(pending, "stage"));
    int post = ctx->row.state == RG_ROLLOUT_ROLLING_BACK, own = 0, rc;
    rg_gate_point at = post ? RG_GATE_POST_ROLLBACK : RG_GATE_CONFIRM_PROMOTION;
    rg_rollout_state end = RG_ROLLOUT_ROLLED_BACK;
    char hold[1024] = "";
    ask_result r = ASK_PASSED;
    gate_outcome o;

    if (state && strcmp(state, "rollback_incomplete") == 0)
        end = RG_ROLLOUT_ROLLBACK_INCOMPLETE;
    json_object_del(ctx->book, "gate_hold"); /* running again: a gate hold was released */
    /* The call is made outside any transaction; what it decided commits with the step. */
    if ((rc = ask_all(&r, &o, ctx, at, stage, why, hold, sizeof(hold))) < 0 ||
        (rc = rg_engine__tx_begin(ctx, &own)) < 0) {
        json_decref(pending);
        return rc;
    }
    if ((rc = outcome_event(ctx, &o)) < 0)
        ; /* rolled back by tx_end */
    else if (r == ASK_WAIT)
        rc = rg_engine__save(ctx);
    else if (post) {
        /* A rollback is never held: the configuration is back already. Its end is recorded
         * once the receiver acknowledged, or with the gate's failure named. */
        json_object_del(ctx->book, "gate_pending");
        if (r != ASK_PASSED)
            rg_engine__narrate(ctx, "gate", "%s; recording the rollback's end anyway", hold);
        rc = rg_engine__set_state(ctx, end, why ? why : "rolled back");
    } else if (r == ASK_PASSED) {
        rc = rg_engine__promote(ctx, why ? why : "verdict"); /* drops gate_pending */
    } else {
        rc = hold_by_gate(ctx, at, stage, hold);
    }
    json_decref(pending);
    return rg_engine__tx_end(ctx, own, rc);
}

int rg_engine__gate_resume(rg_rollout_ctx *ctx, const char *why)
{
    json_object_del(ctx->book, "gate_hold");
    ctx->next_ms = ctx->now_ms;
    return rg_engine__set_state(ctx, RG_ROLLOUT_RUNNING, why);
}

int rg_engine__gate_held(const rg_rollout_ctx *ctx)
{
    return ctx->row.state == RG_ROLLOUT_HELD && json_object_get(ctx->book, "gate_hold") != NULL &&
           ctx->row.hold_reason != NULL && strncmp(ctx->row.hold_reason, "gate ", 5) == 0;
}
