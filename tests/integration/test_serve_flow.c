/* test_serve_flow.c - a whole bad rollout through `rollgate serve`: the gate long-poll answers
 * once the outcome is stored, an SSE client sees every state change in order (and resumes
 * with Last-Event-ID), and webhooks arrive signed, once each, despite an injected 500 */
#include <curl/curl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "integration/test_serve_support.h"
#include "rollgate/store.h"
#include "support/simproc.h"
#include "support/testutil.h"

#define HOOK_SECRET "test-hook-secret-8f2c"

typedef struct {
    char dir[PATH_MAX], db[PATH_MAX + 16], tokens[PATH_MAX + 16];
    rg_simproc sim;
    serve_proc srv;
    hook_receiver hooks;
    json_t *orgs;
    char *viewer, *release;
    char id[64];
    pthread_t reader;
    int reader_started;
    rg_buf stream; /* what the live SSE client received */
    long stream_status;
} fixture;

static size_t collect(char *ptr, size_t size, size_t n, void *buf)
{
    return rg_buf_put(buf, ptr, size * n) == 0 ? size * n : 0;
}

/* GET …/events until the server ends the stream. */
static long read_events(fixture *f, const char *last_event_id, rg_buf *out)
{
    char url[256], auth[128], last[64];
    struct curl_slist *h = NULL;
    long status = 0;
    CURL *c = curl_easy_init();

    snprintf(url, sizeof(url), "%s/api/v1/rollouts/%s/events", f->srv.url, f->id);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", f->viewer);
    h = curl_slist_append(h, auth);
    if (last_event_id) {
        snprintf(last, sizeof(last), "Last-Event-ID: %s", last_event_id);
        h = curl_slist_append(h, last);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 150L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static void *reader_main(void *arg)
{
    fixture *f = arg;
    f->stream_status = read_events(f, NULL, &f->stream);
    return NULL;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    json_t *doc;
    long status = 0;
    char *body;

    if (f == NULL || rg_test_mkdtemp(f->dir, sizeof(f->dir)) < 0)
        return -1;
    snprintf(f->db, sizeof(f->db), "%s/serve.db", f->dir);
    snprintf(f->tokens, sizeof(f->tokens), "%s/tokens.json", f->dir);
    setenv("ROLLGATE_HOOK_SECRET", HOOK_SECRET, 1); /* inherited by the server */
    if ((f->orgs = serve_scenario_credentials("sim/scenarios/demo.json")) == NULL ||
        rg_simproc_start(&f->sim, "sim/scenarios/demo.json") < 0 ||
        hook_receiver_start(&f->hooks, HOOK_SECRET, 1) < 0)
        return -1;
    f->viewer = serve_token_new(f->tokens, "demo", "viewer", "watcher");
    f->release = serve_token_new(f->tokens, "demo", "release", "ci-bot");
    if (!f->viewer || !f->release ||
        serve_register(f->db, "demo", f->orgs, f->sim.url, "ROLLGATE_HOOK_SECRET") < 0 ||
        serve_start(&f->srv, f->db, f->tokens) < 0)
        return -1;
    body = serve_manifest("flow-bad", "demo", f->sim.url, f->orgs, f->hooks.url, "none", 0);
    doc = serve_http_json(f->srv.url, "POST", "/api/v1/rollouts", f->release, body, &status);
    free(body);
    if (status != 201 || !json_is_string(json_object_get(doc, "id")))
        return -1;
    snprintf(f->id, sizeof(f->id), "%s", json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
    if (pthread_create(&f->reader, NULL, reader_main, f) != 0)
        return -1;
    f->reader_started = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f == NULL)
        return 0;
    if (f->reader_started)
        pthread_join(f->reader, NULL);
    serve_stop(&f->srv);
    hook_receiver_stop(&f->hooks);
    rg_simproc_stop(&f->sim);
    json_decref(f->orgs);
    free(f->viewer);
    free(f->release);
    rg_buf_dispose(&f->stream);
    rg_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* The stored terminal state event of the rollout (its time), or 0. */
static int64_t terminal_event_at(fixture *f)
{
    rg_store *store = NULL;
    rg_store_events ev = {0};
    int64_t at = 0;

    if (rg_store_open(&store, f->db) < 0)
        return 0;
    if (rg_store_event_list(&ev, store, "demo", f->id, 0) == 0)
        for (size_t i = 0; i < ev.count; i++)
            if (strcmp(ev.items[i].kind, "state") == 0 && ev.items[i].to_state &&
                strcmp(ev.items[i].to_state, "rolled_back") == 0)
                at = ev.items[i].at_ms;
    rg_store_events_dispose(&ev);
    rg_store_free(store);
    return at;
}

static void test_gate_long_poll(void **state)
{
    fixture *f = *state;
    char path[256];
    long status = 0;
    json_t *doc;
    int64_t answered, decided;

    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/gate?timeout=150", f->id);
    doc = serve_http_json(f->srv.url, "GET", path, f->viewer, NULL, &status);
    answered = rg_time_now_ms();
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(doc, "outcome")), "rolled_back");
    assert_string_equal(json_string_value(json_object_get(doc, "state")), "rolled_back");
    assert_string_equal(json_string_value(json_object_get(doc, "id")), f->id);
    json_decref(doc);
    /* It answered after the outcome was stored, and promptly (a bound generous for CI; the
     * scheduler ticks every 200 ms). */
    decided = terminal_event_at(f);
    assert_true(decided > 0);
    assert_true(decided <= answered);
    assert_true(answered - decided < 5000);
    /* A decided rollout answers at once; a bad timeout is a 400. */
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/gate?timeout=0", f->id);
    doc = serve_http_json(f->srv.url, "GET", path, f->viewer, NULL, &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(doc, "outcome")), "rolled_back");
    json_decref(doc);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/gate?timeout=soon", f->id);
    doc = serve_http_json(f->srv.url, "GET", path, f->viewer, NULL, &status);
    assert_int_equal(status, 400);
    json_decref(doc);
}

static void test_gate_timeout_undecided(void **state)
{
    fixture *f = *state;
    char path[256], *body;
    long status = 0;
    json_t *doc;
    int64_t t0;

    body = serve_manifest("flow-wait", "demo", f->sim.url, f->orgs, NULL, "required", 0);
    doc = serve_http_json(f->srv.url, "POST", "/api/v1/rollouts", f->release, body, &status);
    free(body);
    assert_int_equal(status, 201);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/gate?timeout=1",
             json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
    t0 = rg_time_mono_ms();
    doc = serve_http_json(f->srv.url, "GET", path, f->viewer, NULL, &status);
    assert_int_equal(status, 200);
    assert_true(rg_time_mono_ms() - t0 >= 1000); /* it waited for the timeout */
    assert_string_equal(json_string_value(json_object_get(doc, "outcome")), "running");
    assert_string_equal(json_string_value(json_object_get(doc, "state")), "awaiting_approval");
    json_decref(doc);
}

/* Parses an SSE body into [{"id":n,"event":k,"data":{…}}]. */
static json_t *parse_sse(const char *text)
{
    json_t *out = json_array(), *cur = json_object();
    char *copy = strdup(text), *save = NULL;

    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "id: ", 4) == 0) {
            if (json_object_size(cur)) {
                json_array_append_new(out, cur);
                cur = json_object();
            }
            json_object_set_new(cur, "id", json_integer(strtoll(line + 4, NULL, 10)));
        } else if (strncmp(line, "event: ", 7) == 0) {
            if (json_object_get(cur, "event")) { /* a message without an id: a verdict */
                json_array_append_new(out, cur);
                cur = json_object();
            }
            json_object_set_new(cur, "event", json_string(line + 7));
        } else if (strncmp(line, "data: ", 6) == 0) {
            json_object_set_new(cur, "data", json_loads(line + 6, 0, NULL));
        }
    }
    if (json_object_size(cur))
        json_array_append_new(out, cur);
    else
        json_decref(cur);
    free(copy);
    return out;
}

static void check_stream(fixture *f, json_t *events, int64_t after)
{
    rg_store *store = NULL;
    rg_store_events stored = {0};
    const char *prev_to = NULL;
    json_int_t prev_id = after;
    size_t i, states = 0;
    json_t *e;

    assert_int_equal(rg_store_open(&store, f->db), 0);
    assert_int_equal(rg_store_event_list(&stored, store, "demo", f->id, after), 0);
    /* Exactly the stored events after `after`, in id order (verdicts come between them). */
    for (i = json_array_size(events); i-- > 0;)
        if (strcmp(json_string_value(json_object_get(json_array_get(events, i), "event")),
                   "verdict") == 0)
            json_array_remove(events, i);
    assert_int_equal(json_array_size(events), stored.count);
    json_array_foreach(events, i, e)
    {
        json_t *data = json_object_get(e, "data");
        json_int_t id = json_integer_value(json_object_get(e, "id"));
        assert_true(id > prev_id);
        prev_id = id;
        assert_int_equal(id, stored.items[i].id);
        assert_string_equal(json_string_value(json_object_get(e, "event")), stored.items[i].kind);
        assert_int_equal(json_integer_value(json_object_get(data, "id")), id);
        if (strcmp(stored.items[i].kind, "state") == 0) {
            const char *from = json_string_value(json_object_get(data, "from"));
            if (prev_to)
                assert_string_equal(from, prev_to); /* a chain: nothing missed */
            prev_to = json_string_value(json_object_get(data, "to"));
            states++;
        }
    }
    assert_true(states >= 1);
    assert_non_null(prev_to);
    assert_string_equal(prev_to, "rolled_back");
    /* The last event of the stream is the terminal state change. */
    e = json_array_get(events, json_array_size(events) - 1);
    assert_string_equal(json_string_value(json_object_get(e, "event")), "state");
    rg_store_events_dispose(&stored);
    rg_store_free(store);
}

static void test_sse_whole_rollout(void **state)
{
    fixture *f = *state;
    json_t *events, *e;
    rg_buf resumed = RG_BUF_INIT;
    char last[32];
    size_t i, tripped = 0;

    pthread_join(f->reader, NULL);
    f->reader_started = 0;
    assert_int_equal(f->stream_status, 200);
    events = parse_sse(rg_buf_cstr(&f->stream));
    assert_true(json_array_size(events) >= 3);
    {
        /* The stream carries the verdicts too, with the numbers the dashboard draws. */
        size_t verdicts = 0, fails = 0;
        json_array_foreach(events, i, e)
        {
            json_t *d = json_object_get(e, "data");
            if (strcmp(json_string_value(json_object_get(e, "event")), "verdict") != 0)
                continue;
            assert_null(json_object_get(e, "id"));
            assert_non_null(json_string_value(json_object_get(d, "metric")));
            assert_true(json_is_array(json_object_get(d, "ci")));
            verdicts++;
            fails += strcmp(json_string_value(json_object_get(d, "decision")), "fail") == 0;
        }
        assert_true(verdicts >= 1);
        assert_true(fails >= 1); /* the breaker tripped on failing polls */
    }
    check_stream(f, events, 0);
    /* It began with the rollout running and went through rolling_back. */
    json_array_foreach(events, i, e)
    {
        json_t *d = json_object_get(e, "data");
        if (strcmp(json_string_value(json_object_get(e, "event")), "tripped") == 0)
            tripped = (size_t)json_integer_value(json_object_get(e, "id"));
        if (strcmp(json_string_value(json_object_get(e, "event")), "state") == 0 &&
            strcmp(json_string_value(json_object_get(d, "to")), "rolling_back") == 0)
            assert_string_equal(json_string_value(json_object_get(d, "from")), "running");
    }
    assert_true(tripped > 0);
    json_decref(events);
    /* Resuming after the trip gives exactly the rest. */
    snprintf(last, sizeof(last), "%zu", tripped);
    assert_int_equal(read_events(f, last, &resumed), 200);
    events = parse_sse(rg_buf_cstr(&resumed));
    assert_true(json_array_size(events) >= 2);
    check_stream(f, events, (int64_t)tripped);
    json_decref(events);
    rg_buf_dispose(&resumed);
}

/* The audit's final webhook outcomes for the rollout: delivered count, retry count. */
static void hook_audit(fixture *f, int *delivered, int *retried)
{
    rg_store *store = NULL;
    rg_store_audits a = {0};

    *delivered = *retried = 0;
    if (rg_store_open(&store, f->db) < 0)
        return;
    if (rg_store_audit_list(&a, store, "demo", f->id) == 0)
        for (size_t i = 0; i < a.count; i++)
            if (strcmp(a.items[i].action, "webhook") == 0 && a.items[i].outcome) {
                *delivered += strncmp(a.items[i].outcome, "delivered", 9) == 0;
                *retried += strncmp(a.items[i].outcome, "retrying (HTTP 500", 18) == 0;
            }
    rg_store_audits_dispose(&a);
    rg_store_free(store);
}

/* Until both webhooks are audited as delivered (or a minute passes): the rollout of setup
 * trips and rolls back on its own, so a case run alone (RG_TEST_CASE) waits for it here. */
static void wait_delivered(fixture *f, int *delivered, int *retried)
{
    int64_t deadline = rg_time_mono_ms() + 60000;

    while (rg_time_mono_ms() < deadline) {
        hook_audit(f, delivered, retried);
        if (*delivered >= 2)
            break;
        usleep(200 * 1000);
    }
}

static void test_webhooks(void **state)
{
    fixture *f = *state;
    int delivered = 0, retried = 0;
    size_t i;
    json_t *p;

    wait_delivered(f, &delivered, &retried);
    assert_int_equal(delivered, 2);
    assert_int_equal(retried, 1);
    assert_int_equal(hook_receiver_count(&f->hooks, "tripped"), 1);
    assert_int_equal(hook_receiver_count(&f->hooks, "rolled_back"), 1);
    pthread_mutex_lock(&f->hooks.lock);
    assert_int_equal(f->hooks.bad_signatures, 0);
    assert_int_equal(f->hooks.requests, 3); /* one 500, then one delivery of each */
    /* The retry carries the delivery id of the attempt that got the 500. */
    assert_string_equal(json_string_value(json_array_get(f->hooks.deliveries, 0)),
                        json_string_value(json_array_get(f->hooks.deliveries, 1)));
    assert_string_not_equal(json_string_value(json_array_get(f->hooks.deliveries, 1)),
                            json_string_value(json_array_get(f->hooks.deliveries, 2)));
    assert_int_equal(
        strncmp(json_string_value(json_array_get(f->hooks.deliveries, 0)), f->id, strlen(f->id)),
        0);
    json_array_foreach(f->hooks.received, i, p)
    {
        assert_string_equal(json_string_value(json_object_get(p, "rollout")), f->id);
        assert_string_equal(json_string_value(json_object_get(p, "tenant")), "demo");
        assert_true(json_is_integer(json_object_get(p, "stage")));
        assert_true(json_is_string(json_object_get(p, "at")));
        assert_true(json_is_string(json_object_get(p, "reason")));
    }
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(f->hooks.received, 0), "event")),
        "tripped");
    pthread_mutex_unlock(&f->hooks.lock);
}

static void test_restart_does_not_resend(void **state)
{
    fixture *f = *state;
    int delivered = 0, retried = 0;
    long status = 0;
    json_t *doc;

    wait_delivered(f, &delivered, &retried);  /* at once after test_webhooks */
    assert_int_equal(serve_stop(&f->srv), 0); /* a clean stop on SIGTERM */
    assert_int_equal(serve_start(&f->srv, f->db, f->tokens), 0);
    /* A command on the finished rollout goes through the new process (and is refused). */
    {
        char path[256];
        snprintf(path, sizeof(path), "/api/v1/rollouts/%s/approve", f->id);
        doc = serve_http_json(f->srv.url, "POST", path, f->release, "{}", &status);
        assert_int_equal(status, 409);
        json_decref(doc);
    }
    hook_audit(f, &delivered, &retried);
    assert_int_equal(delivered, 2);
    assert_int_equal(hook_receiver_count(&f->hooks, "tripped"), 1);
    assert_int_equal(hook_receiver_count(&f->hooks, "rolled_back"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gate_long_poll),
        cmocka_unit_test(test_gate_timeout_undecided),
        cmocka_unit_test(test_sse_whole_rollout),
        cmocka_unit_test(test_webhooks),
        cmocka_unit_test(test_restart_does_not_resend),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
