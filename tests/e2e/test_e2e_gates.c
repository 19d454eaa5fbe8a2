/* test_e2e_gates.c - gating webhooks against rollgate-sim and a receiver in this process: a
 * refusal holds the rollout before any write of the stage, a resume asks again and the stage
 * is applied once the receiver accepts; transport failures and 503s are retried within the
 * gate's timeout; a confirm-promotion refusal holds the promotion; a killed driver neither
 * skips nor double-passes a gate; post-rollback is acknowledged before the end is recorded. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/testutil.h"

#define SECRET "gate-test-secret-0123456789"
#define MAX_SCRIPT 8
#define DROP 0 /* close the connection without an answer: a transport failure */

/* ---- the receiver: answers from a script, records what it saw ---- */

typedef struct {
    unsigned status; /* DROP, or the HTTP status */
    const char *body;
} answer;

typedef struct {
    struct MHD_Daemon *daemon;
    char url[128];
    pthread_mutex_t lock;
    answer script[MAX_SCRIPT]; /* answers in order; the last repeats */
    size_t nscript;
    json_t *seen; /* [{body, signature_ok, event, delivery, at_ms}] */
    int bad_signatures;
} receiver;

typedef struct {
    rg_buf body;
} pending_request;

static int signature_ok(const char *sig, const char *ts, const char *body)
{
    uint8_t mac[RG_SHA256_LEN];
    char hex[2 * RG_SHA256_LEN + 1];
    rg_buf text = RG_BUF_INIT;
    if (sig == NULL || ts == NULL || strncmp(sig, "sha256=", 7) != 0)
        return 0;
    rg_buf_printf(&text, "%s.%s", ts, body);
    rg_hmac_sha256(mac, SECRET, strlen(SECRET), rg_buf_cstr(&text), text.len);
    rg_buf_dispose(&text);
    for (size_t i = 0; i < RG_SHA256_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    return strcmp(hex, sig + 7) == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    receiver *r = cls;
    pending_request *req = *con_cls;
    const char *sig, *ts, *ev, *dk;
    struct MHD_Response *resp;
    answer a;
    enum MHD_Result ret;
    size_t n;
    int ok;

    (void)url, (void)version;
    if (req == NULL) {
        *con_cls = req = calloc(1, sizeof(*req));
        return req ? MHD_YES : MHD_NO;
    }
    if (*size) {
        rg_buf_put(&req->body, data, *size);
        *size = 0;
        return MHD_YES;
    }
    sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Rollgate-Signature");
    ts = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Rollgate-Timestamp");
    ev = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Rollgate-Event");
    dk = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Rollgate-Delivery");
    ok = strcmp(method, "POST") == 0 && signature_ok(sig, ts, rg_buf_cstr(&req->body));
    pthread_mutex_lock(&r->lock);
    n = json_array_size(r->seen);
    a = r->script[n < r->nscript ? n : r->nscript - 1];
    json_array_append_new(r->seen, json_pack("{s:o?, s:b, s:s?, s:s?, s:I}", "body",
                                             json_loads(rg_buf_cstr(&req->body), 0, NULL),
                                             "signature_ok", ok, "event", ev, "delivery", dk,
                                             "at_ms", (json_int_t)rg_time_now_ms()));
    r->bad_signatures += !ok;
    pthread_mutex_unlock(&r->lock);
    if (a.status == DROP)
        return MHD_NO;
    resp = MHD_create_response_from_buffer(a.body ? strlen(a.body) : 0, (void *)a.body,
                                           MHD_RESPMEM_MUST_COPY);
    ret = MHD_queue_response(conn, a.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    pending_request *req = *con_cls;
    (void)cls, (void)conn, (void)toe;
    if (req) {
        rg_buf_dispose(&req->body);
        free(req);
    }
    *con_cls = NULL;
}

static void receiver_start(receiver *r, const answer *script, size_t n)
{
    const union MHD_DaemonInfo *info;
    struct sockaddr_in sa;

    memset(r, 0, sizeof(*r));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(n > 0 && n <= MAX_SCRIPT);
    memcpy(r->script, script, n * sizeof(*script));
    r->nscript = n;
    r->seen = json_array();
    pthread_mutex_init(&r->lock, NULL);
    r->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
                                 on_request, r, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_done, r, MHD_OPTION_END);
    assert_non_null(r->daemon);
    info = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%u/gate", info->port);
}

static void receiver_stop(receiver *r)
{
    MHD_stop_daemon(r->daemon);
    json_decref(r->seen);
    pthread_mutex_destroy(&r->lock);
}

static size_t receiver_count(receiver *r)
{
    size_t n;
    pthread_mutex_lock(&r->lock);
    n = json_array_size(r->seen);
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* Request i as seen (new reference). */
static json_t *receiver_seen(receiver *r, size_t i)
{
    json_t *v;
    pthread_mutex_lock(&r->lock);
    v = json_incref(json_array_get(r->seen, i));
    pthread_mutex_unlock(&r->lock);
    return v;
}

/* ---- the rollout ---- */

static char g_policy[4096];

/* The e2e policy with `gates` appended (it is the manifest's last top-level key). */
static const char *policy_with_gates(const char *at, const char *url, const char *timeout)
{
    snprintf(g_policy, sizeof(g_policy),
             "%sgates:\n  - {at: %s, url: \"%s\", timeout: %s, secret: env:RG_TEST_GATE_SECRET}\n",
             rg_e2e_policy, at, url, timeout);
    return g_policy;
}

static rg_e2e *g_e;
static receiver *g_r;
static size_t g_want;

static int held(rg_e2e *e)
{
    return rg_e2e_state(e) == RG_ROLLOUT_HELD;
}

static int stage_applied(rg_e2e *e)
{
    rg_store_rollout row = {0};
    int done = 0;
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0)
        done = row.stage_applied_at_ms != 0 || row.state != RG_ROLLOUT_RUNNING;
    rg_store_rollout_dispose(&row);
    return done;
}

static int asked(rg_e2e *e)
{
    (void)e;
    return receiver_count(g_r) >= g_want || rg_e2e_state(g_e) == RG_ROLLOUT_HELD ||
           rg_rollout_state_is_terminal(rg_e2e_state(g_e));
}

static int stage_index(rg_e2e *e)
{
    rg_store_rollout row = {0};
    int k = -1;
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0)
        k = row.stage_index;
    rg_store_rollout_dispose(&row);
    return k;
}

static int promoted_or_stopped(rg_e2e *e)
{
    return stage_index(e) >= 1 || rg_e2e_state(e) != RG_ROLLOUT_RUNNING;
}

static char *hold_reason(rg_e2e *e)
{
    json_t *st = NULL;
    char *why = NULL;
    assert_int_equal(rg_engine_status_json(&st, e->engine, e->tenant, e->id), 0);
    if (json_is_string(json_object_get(st, "hold_reason")))
        why = rg_strdup(json_string_value(json_object_get(st, "hold_reason")));
    json_decref(st);
    return why;
}

/* PATCHes of any org the sim answered 200. */
static int patches_total(const rg_e2e *e)
{
    json_t *log = rg_e2e_requests(&e->sim);
    int n = 0;
    for (size_t i = 0; i < json_array_size(e->orgs); i++)
        n += rg_e2e_patches(log, json_string_value(json_array_get(e->orgs, i)));
    json_decref(log);
    return n;
}

/* The sim's time of its first successful PATCH (0 when none). */
static int64_t first_patch_ms(const rg_e2e *e)
{
    json_t *log = rg_e2e_requests(&e->sim), *r;
    int64_t first = 0;
    size_t i;
    json_array_foreach(json_object_get(log, "requests"), i,
                       r) if (strcmp(json_string_value(json_object_get(r, "method")), "PATCH") ==
                                  0 &&
                              json_integer_value(json_object_get(r, "status")) == 200)
    {
        first = json_integer_value(json_object_get(r, "time_ms"));
        break;
    }
    json_decref(log);
    return first;
}

static void command(rg_e2e *e, rg_command_kind kind)
{
    char *outcome = NULL;
    assert_int_equal(
        rg_engine_command(&outcome, e->engine, e->tenant, e->id, kind, "alice", "gates test", 0),
        0);
    assert_string_equal(outcome, "done");
    free(outcome);
}

/* The events of `kind` with their detail (new array). */
static json_t *events_of(rg_e2e *e, const char *kind)
{
    rg_store_events ev = {0};
    json_t *out = json_array();
    assert_int_equal(rg_store_event_list(&ev, e->store, e->tenant, e->id, 0), 0);
    for (size_t i = 0; i < ev.count; i++)
        if (strcmp(ev.items[i].kind, kind) == 0)
            json_array_append_new(out, json_loads(ev.items[i].detail ? ev.items[i].detail : "null",
                                                  JSON_DECODE_ANY, NULL));
    rg_store_events_dispose(&ev);
    return out;
}

static int contains(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return 1;
    return 0;
}

static void assert_no_secret_stored(rg_e2e *e)
{
    const char *suffix[] = {"", "-wal", "-journal"};
    for (size_t i = 0; i < 3; i++) {
        char path[700];
        size_t len = 0;
        char *db;
        snprintf(path, sizeof(path), "%s%s", e->db, suffix[i]);
        if ((db = rg_test_read_file(path, &len)) == NULL) {
            assert_true(i > 0); /* the database itself exists */
            continue;
        }
        assert_false(contains(db, len, SECRET));
        free(db);
    }
}

/* 1. pre-stage: the receiver refuses (403 with a reason carrying a control character and a
 * long tail), then accepts. The refusal holds the rollout with the reason, sanitised and
 * bounded, and the sim saw no PATCH; `resume` asks again and the stage is applied. */
static void test_refusal_holds_then_resume_applies(void **state)
{
    static const answer script[] = {
        {403, "{\"reason\": \"change window closed\\u0007 until 18:00 UTC; "
              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
              "TAIL\"}"},
        {200, "ok"}};
    receiver r;
    rg_e2e e;
    json_t *seen, *body, *gates;
    char *why;
    (void)state;

    setenv("RG_TEST_GATE_SECRET", SECRET, 1);
    receiver_start(&r, script, 2);
    g_r = &r;
    g_e = &e;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json",
                                  policy_with_gates("pre-stage", r.url, "20s"), 200),
                     0);
    assert_int_equal(rg_e2e_drive(&e, held, 50), 0);

    /* The receiver saw one signed request naming the rollout, the gate and the stage. */
    assert_int_equal(receiver_count(&r), 1);
    seen = receiver_seen(&r, 0);
    assert_true(json_is_true(json_object_get(seen, "signature_ok")));
    assert_string_equal(json_string_value(json_object_get(seen, "event")), "gate.pre-stage");
    body = json_object_get(seen, "body");
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "gate")), "pre-stage");
    assert_string_equal(json_string_value(json_object_get(body, "rollout")), e.id);
    assert_int_equal(json_integer_value(json_object_get(body, "stage")), 1);
    assert_int_equal(json_integer_value(json_object_get(body, "percent")), 10);
    assert_int_equal(json_integer_value(json_object_get(body, "attempt")), 1);
    json_decref(seen);

    /* Held with the receiver's reason: no control character, bounded, gate named. */
    why = hold_reason(&e);
    assert_non_null(why);
    assert_non_null(strstr(why, "gate pre-stage"));
    assert_non_null(strstr(why, "refused (HTTP 403): change window closed until 18:00 UTC"));
    assert_null(strchr(why, '\a'));
    assert_null(strstr(why, "TAIL"));
    assert_true(strlen(why) < 400);
    free(why);
    gates = events_of(&e, "gate");
    assert_int_equal(json_array_size(gates), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(gates, 0), "outcome")),
                        "refused");
    json_decref(gates);
    /* The sim saw no write of the gated stage. */
    assert_int_equal(patches_total(&e), 0);
    /* More ticks while held ask nothing and write nothing. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(rg_engine_tick_rollout(e.engine, e.tenant, e.id, NULL), 0);
    assert_int_equal(receiver_count(&r), 1);
    assert_int_equal(patches_total(&e), 0);

    /* A person resumes: the gate is asked again, accepts, and the stage is applied. */
    command(&e, RG_COMMAND_RESUME);
    assert_int_equal(rg_e2e_drive(&e, stage_applied, 100), 0);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_RUNNING);
    assert_int_equal(receiver_count(&r), 2);
    seen = receiver_seen(&r, 1);
    assert_true(json_is_true(json_object_get(seen, "signature_ok")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(seen, "body"), "stage")),
                     1);
    /* The accepting answer came before the first write. */
    assert_true(patches_total(&e) >= 1);
    assert_true(first_patch_ms(&e) >= json_integer_value(json_object_get(seen, "at_ms")) - 5);
    json_decref(seen);
    gates = events_of(&e, "gate");
    assert_int_equal(json_array_size(gates), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(gates, 1), "outcome")),
                        "passed");
    json_decref(gates);
    /* The passed gate is not asked again by later ticks of the same stage. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(rg_engine_tick_rollout(e.engine, e.tenant, e.id, NULL), 0);
    assert_int_equal(receiver_count(&r), 2);
    assert_int_equal(r.bad_signatures, 0);
    assert_no_secret_stored(&e);
    rg_e2e_end(&e);
    receiver_stop(&r);
}

/* 2. pre-rollout: a dropped connection and a 503 are retried with backoff within the
 * timeout; the third answer (200) lets the first stage start, and nothing was written
 * before it. The retries carry one delivery id. */
static void test_transport_failure_retried_within_timeout(void **state)
{
    static const answer script[] = {{DROP, NULL}, {503, "busy"}, {200, "{}"}};
    receiver r;
    rg_e2e e;
    json_t *first, *third;
    (void)state;

    setenv("RG_TEST_GATE_SECRET", SECRET, 1);
    receiver_start(&r, script, 3);
    g_r = &r;
    g_e = &e;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json",
                                  policy_with_gates("pre-rollout", r.url, "30s"), 200),
                     0);
    assert_int_equal(rg_e2e_drive(&e, stage_applied, 100), 0);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_RUNNING);
    assert_int_equal(receiver_count(&r), 3);
    first = receiver_seen(&r, 0);
    third = receiver_seen(&r, 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(third, "body"), "attempt")),
                     3);
    assert_string_equal(json_string_value(json_object_get(first, "delivery")),
                        json_string_value(json_object_get(third, "delivery")));
    /* Backoff: the retries were spread, not sent back to back (at least 1 s + 2 s). */
    assert_true(json_integer_value(json_object_get(third, "at_ms")) -
                    json_integer_value(json_object_get(first, "at_ms")) >=
                2500);
    assert_true(first_patch_ms(&e) >= json_integer_value(json_object_get(third, "at_ms")) - 5);
    json_decref(first);
    json_decref(third);
    assert_int_equal(r.bad_signatures, 0);
    rg_e2e_end(&e);
    receiver_stop(&r);
}

/* 3. A receiver that never answers 2xx within the timeout holds the rollout naming the gate
 * and the failure; nothing is written. */
static void test_timeout_holds_naming_the_failure(void **state)
{
    static const answer script[] = {{503, "down"}};
    receiver r;
    rg_e2e e;
    char *why;
    (void)state;

    setenv("RG_TEST_GATE_SECRET", SECRET, 1);
    receiver_start(&r, script, 1);
    g_r = &r;
    g_e = &e;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json",
                                  policy_with_gates("pre-rollout", r.url, "2s"), 200),
                     0);
    assert_int_equal(rg_e2e_drive(&e, held, 100), 0);
    why = hold_reason(&e);
    assert_non_null(why);
    assert_non_null(strstr(why, "gate pre-rollout"));
    assert_non_null(strstr(why, "failed: no 2xx answer within 2s"));
    assert_non_null(strstr(why, "HTTP 503"));
    free(why);
    assert_true(receiver_count(&r) >= 1);
    assert_int_equal(patches_total(&e), 0);
    rg_e2e_end(&e);
    receiver_stop(&r);
}

/* 4. confirm-promotion: a stage's passing verdict asks the gate before the promotion is
 * recorded; a refusal holds at stage 1 with no write of stage 2; after resume and a 200 the
 * promotion is recorded. */
static void test_confirm_promotion_refused_then_accepted(void **state)
{
    static const answer script[] = {{409, "{\"reason\": \"incident open\"}"}, {200, "{}"}};
    receiver r;
    rg_e2e e;
    json_t *seen;
    char *why;
    int before;
    (void)state;

    setenv("RG_TEST_GATE_SECRET", SECRET, 1);
    receiver_start(&r, script, 2);
    g_r = &r;
    g_e = &e;
    g_want = 1;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json",
                                  policy_with_gates("confirm-promotion", r.url, "20s"), 200),
                     0);
    assert_int_equal(rg_e2e_drive(&e, asked, 400), 0);
    assert_int_equal(rg_e2e_drive(&e, held, 20), 0);
    assert_int_equal(stage_index(&e), 0);
    why = hold_reason(&e);
    assert_non_null(why);
    assert_non_null(strstr(why, "gate confirm-promotion"));
    assert_non_null(strstr(why, "incident open"));
    free(why);
    seen = receiver_seen(&r, 0);
    assert_true(json_is_true(json_object_get(seen, "signature_ok")));
    /* The verdict summary of the stage is in the body. */
    assert_true(json_array_size(json_object_get(
                    json_object_get(json_object_get(seen, "body"), "verdict"), "metrics")) >= 1);
    json_decref(seen);
    before = patches_total(&e);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rg_engine_tick_rollout(e.engine, e.tenant, e.id, NULL), 0);
    assert_int_equal(patches_total(&e), before); /* no write of stage 2 */
    command(&e, RG_COMMAND_RESUME);
    assert_int_equal(rg_e2e_drive(&e, promoted_or_stopped, 50), 0);
    assert_int_equal(stage_index(&e), 1);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_RUNNING);
    assert_int_equal(receiver_count(&r), 2);
    rg_e2e_end(&e);
    receiver_stop(&r);
}

/* `rollgate --db DB run --until-done` killed at `crash_at`; @return its wait status. */
static int run_killed_at(const char *db, const char *crash_at)
{
    char bin[1024];
    int status = 0;
    pid_t pid;

    snprintf(bin, sizeof(bin), "%s/cli/rollgate", rg_test_binary_dir());
    pid = fork();
    if (pid == 0) {
        int out = open("/dev/null", O_WRONLY);
        setenv("ROLLGATE_TEST_CRASH_AT", crash_at, 1);
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
        execl(bin, bin, "--db", db, "run", "--until-done", "--tick", "200ms", "--quiet",
              (char *)NULL);
        _exit(127);
    }
    assert_true(pid > 0);
    waitpid(pid, &status, 0);
    return status;
}

/* Each org of stage 1 PATCHed exactly once (and nothing else). */
static void assert_stage_one_applied_once(rg_e2e *e)
{
    rg_store_targets targets = {0};
    json_t *log = rg_e2e_requests(&e->sim);
    assert_int_equal(rg_store_target_list(&targets, e->store, e->tenant, e->id), 0);
    for (size_t i = 0; i < targets.count; i++)
        assert_int_equal(rg_e2e_patches(log, targets.items[i].org_id),
                         targets.items[i].stage_index == 0 ? 1 : 0);
    rg_store_targets_dispose(&targets);
    json_decref(log);
}

/* 5. A driver killed right after a gate's pass is committed: the next driver applies the
 * stage without asking again. Killed after the answer but before it was recorded: the next
 * driver asks again (same delivery id) and applies once. */
static void test_killed_driver_neither_skips_nor_double_passes(void **state)
{
    static const answer script[] = {{200, "{}"}};
    const char *points[] = {"gate_passed", "gate_answered"};
    rg_engine_options opts;
    (void)state;

    setenv("RG_TEST_GATE_SECRET", SECRET, 1);
    for (size_t k = 0; k < 2; k++) {
        receiver r;
        rg_e2e e;
        int status;
        json_t *a, *b;

        receiver_start(&r, script, 1);
        assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json",
                                      policy_with_gates("pre-stage", r.url, "20s"), 200),
                         0);
        rg_engine_free(e.engine); /* the CLI drives; this process only started it */
        e.engine = NULL;
        status = run_killed_at(e.db, points[k]);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        assert_int_equal(receiver_count(&r), 1);
        assert_int_equal(patches_total(&e), 0);
        rg_engine_options_init(&opts);
        opts.tick_ms = 200;
        assert_int_equal(rg_engine_new(&e.engine, e.store, &opts), 0);
        assert_int_equal(rg_e2e_drive(&e, stage_applied, 100), 0);
        assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_RUNNING);
        assert_int_equal(receiver_count(&r), k == 0 ? 1 : 2);
        if (k == 1) {
            a = receiver_seen(&r, 0);
            b = receiver_seen(&r, 1);
            assert_string_equal(json_string_value(json_object_get(a, "delivery")),
                                json_string_value(json_object_get(b, "delivery")));
            json_decref(a);
            json_decref(b);
        }
        assert_stage_one_applied_once(&e);
        rg_e2e_end(&e);
        receiver_stop(&r);
    }
}

static int ended(rg_e2e *e)
{
    return rg_rollout_state_is_terminal(rg_e2e_state(e));
}

/* 6. post-rollback: after a bad change is tripped and restored, the end (rolled_back) is
 * recorded only once the receiver acknowledged (a 500 first is retried); the
 * restore's PATCHes all came before the gate was asked. */
static void test_post_rollback_acknowledged_before_the_end(void **state)
{
    static const answer script[] = {{500, "oops"}, {200, "{}"}};
    receiver r;
    rg_e2e e;
    json_t *log, *req, *seen, *gates;
    int64_t last_patch = 0, asked_at, acked_at;
    rg_store_events ev = {0};
    int64_t ended_at = 0;
    size_t i;
    (void)state;

    setenv("RG_TEST_GATE_SECRET", SECRET, 1);
    receiver_start(&r, script, 2);
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/demo.json",
                                  policy_with_gates("post-rollback", r.url, "20s"), 200),
                     0);
    assert_int_equal(rg_e2e_drive(&e, ended, 2000), 0);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLED_BACK);
    assert_int_equal(receiver_count(&r), 2);
    seen = receiver_seen(&r, 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(seen, "body"), "gate")),
                        "post-rollback");
    assert_string_equal(json_string_value(json_object_get(json_object_get(seen, "body"), "state")),
                        "rolling_back");
    asked_at = json_integer_value(json_object_get(seen, "at_ms"));
    json_decref(seen);
    seen = receiver_seen(&r, 1);
    acked_at = json_integer_value(json_object_get(seen, "at_ms"));
    json_decref(seen);
    log = rg_e2e_requests(&e.sim);
    json_array_foreach(
        json_object_get(log, "requests"), i,
        req) if (strcmp(json_string_value(json_object_get(req, "method")), "PATCH") == 0)
        last_patch = json_integer_value(json_object_get(req, "time_ms"));
    json_decref(log);
    assert_true(last_patch > 0 && last_patch <= asked_at + 5);
    assert_int_equal(rg_store_event_list(&ev, e.store, e.tenant, e.id, 0), 0);
    for (i = 0; i < ev.count; i++)
        if (strcmp(ev.items[i].kind, "state") == 0 && ev.items[i].to_state &&
            strcmp(ev.items[i].to_state, "rolled_back") == 0)
            ended_at = ev.items[i].at_ms;
    rg_store_events_dispose(&ev);
    assert_true(ended_at >= acked_at - 5);
    gates = events_of(&e, "gate");
    assert_int_equal(json_array_size(gates), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(gates, 0), "outcome")),
                        "passed");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(gates, 0), "attempts")), 2);
    json_decref(gates);
    rg_e2e_end(&e);
    receiver_stop(&r);
}

/* 7. A gate whose secret variable is not set holds at once, asks nothing, and says which
 * variable (never a value). */
static void test_missing_secret_holds_at_once(void **state)
{
    static const answer script[] = {{200, "{}"}};
    receiver r;
    rg_e2e e;
    char *why;
    (void)state;

    unsetenv("RG_TEST_GATE_SECRET");
    receiver_start(&r, script, 1);
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json",
                                  policy_with_gates("pre-rollout", r.url, "20s"), 200),
                     0);
    assert_int_equal(rg_e2e_drive(&e, held, 20), 0);
    why = hold_reason(&e);
    assert_non_null(why);
    assert_non_null(strstr(why, "gate pre-rollout"));
    assert_non_null(strstr(why, "RG_TEST_GATE_SECRET is not set"));
    free(why);
    assert_int_equal(receiver_count(&r), 0);
    assert_int_equal(patches_total(&e), 0);
    rg_e2e_end(&e);
    receiver_stop(&r);
}

/* 8. `plan --offline` lists the gates, a URL without its query, the secret by name. */
static void test_plan_lists_the_gates(void **state)
{
    char dir[512], path[700], out[700], bin[1024];
    json_t *orgs = json_pack("[s, s, s]", "org_a", "org_b", "org_c");
    char *text;
    int status = 0;
    pid_t pid;
    (void)state;

    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/m.yaml", dir);
    snprintf(out, sizeof(out), "%s/plan.txt", dir);
    assert_int_equal(
        rg_e2e_write_manifest(
            path, "http://127.0.0.1:9", orgs,
            policy_with_gates("confirm-promotion", "http://127.0.0.1:1/g?token=abc", "90s")),
        0);
    snprintf(bin, sizeof(bin), "%s/cli/rollgate", rg_test_binary_dir());
    pid = fork();
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, STDOUT_FILENO);
        execl(bin, bin, "plan", path, "--offline", (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    text = rg_test_read_file(out, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "gate confirm-promotion: http://127.0.0.1:1/g (timeout 1m30s, "
                                 "secret env:RG_TEST_GATE_SECRET)\n"));
    assert_null(strstr(text, "token=abc"));
    free(text);
    json_decref(orgs);
    rg_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusal_holds_then_resume_applies),
        cmocka_unit_test(test_transport_failure_retried_within_timeout),
        cmocka_unit_test(test_timeout_holds_naming_the_failure),
        cmocka_unit_test(test_confirm_promotion_refused_then_accepted),
        cmocka_unit_test(test_killed_driver_neither_skips_nor_double_passes),
        cmocka_unit_test(test_post_rollback_acknowledged_before_the_end),
        cmocka_unit_test(test_missing_secret_holds_at_once),
        cmocka_unit_test(test_plan_lists_the_gates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
