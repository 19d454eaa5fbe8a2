/* test_sim_control.c - rollgate-sim's /sim/ control plane, analytics shapes, scenario errors */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "support/simproc.h"
#include "support/testutil.h"

typedef struct {
    rg_simproc sim;
    char *token;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    if (f == NULL || rg_simproc_start(&f->sim, "sim/scenarios/test-api.json") < 0 ||
        rg_simproc_token(&f->sim, "cid-a", "secret-a", &f->token) < 0) {
        fprintf(stderr, "cannot start rollgate-sim: %s\n", rg_error_last());
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = rg_simproc_stop(&f->sim);

    free(f->token);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* A request with the fixture's token; returns the parsed body (caller decrefs) or NULL. */
static json_t *api(const fixture *f, const char *method, const char *path, const char *body,
                   long *status, rg_buf *raw)
{
    char auth[160];
    const char *headers[] = {auth, NULL};
    rg_buf local = RG_BUF_INIT;
    rg_buf *out = raw ? raw : &local;
    json_t *doc;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", f->token);
    assert_int_equal(rg_simproc_request(&f->sim, method, path, body, headers, status, out, NULL),
                     0);
    doc = json_loadb(rg_buf_cstr(out), out->len, 0, NULL);
    rg_buf_dispose(&local);
    return doc;
}

static json_t *control(const fixture *f, const char *method, const char *path, const char *body,
                       long *status)
{
    rg_buf out = RG_BUF_INIT;
    json_t *doc;

    assert_int_equal(rg_simproc_request(&f->sim, method, path, body, NULL, status, &out, NULL), 0);
    doc = json_loadb(rg_buf_cstr(&out), out.len, 0, NULL);
    rg_buf_dispose(&out);
    return doc;
}

static json_t *org_of(json_t *state, const char *id)
{
    size_t i;
    json_t *org;

    json_array_foreach(json_object_get(state, "orgs"), i,
                       org) if (strcmp(json_string_value(json_object_get(org, "id")), id) ==
                                0) return org;
    return NULL;
}

static void test_state_and_edit(void **state)
{
    fixture *f = *state;
    json_t *st = NULL, *org, *strat, *doc, *history;
    long status;
    char etag[64];

    doc = api(f, "GET", "/api/v2/routing/strategies/strat_a", NULL, &status, NULL);
    assert_int_equal(status, 200);
    json_decref(doc);
    assert_int_equal(rg_simproc_state(&f->sim, &st), 0);
    org = org_of(st, "org_a");
    assert_non_null(org);
    assert_true(json_integer_value(json_object_get(org, "token_count")) >= 1);
    assert_true(json_integer_value(json_object_get(json_object_get(org, "requests"), "200")) >= 1);
    assert_int_equal(json_array_size(json_object_get(org, "queues")), 2);
    strat = json_array_get(json_object_get(org, "strategies"), 0);
    snprintf(etag, sizeof(etag), "%s", json_string_value(json_object_get(strat, "etag")));
    history = json_object_get(strat, "history");
    assert_int_equal(json_array_size(history), 1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(history, 0), "weights"), "queue_a1")),
                     100);
    json_decref(st);

    /* A person's edit bumps version and ETag and lands in the history. */
    doc = control(f, "POST", "/sim/edit",
                  "{\"org\":\"org_a\",\"strategy\":\"strat_a\",\"patch\":{\"targets\":[{\"type\":"
                  "\"Queue\",\"id\":\"queue_a2\",\"weight\":100}]}}",
                  &status);
    assert_int_equal(status, 200);
    assert_string_not_equal(json_string_value(json_object_get(doc, "etag")), etag);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "body"), "version")),
                     2);
    json_decref(doc);
    doc =
        control(f, "POST", "/sim/edit",
                "{\"org\":\"org_a\",\"strategy\":\"strat_a\",\"patch\":{\"targets\":[]}}", &status);
    assert_int_equal(status, 400);
    assert_non_null(strstr(json_string_value(json_object_get(doc, "message")), "targets"));
    json_decref(doc);
    doc = control(f, "POST", "/sim/edit",
                  "{\"org\":\"org_x\",\"strategy\":\"strat_a\",\"patch\":{}}", &status);
    assert_int_equal(status, 404);
    json_decref(doc);
    assert_int_equal(rg_simproc_state(&f->sim, &st), 0);
    strat = json_array_get(json_object_get(org_of(st, "org_a"), "strategies"), 0);
    history = json_object_get(strat, "history");
    assert_int_equal(json_array_size(history), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(history, 1), "source")),
                        "edit");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(history, 1), "weights"), "queue_a2")),
                     100);
    assert_true(json_is_string(json_object_get(json_array_get(history, 1), "at")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(strat, "body"), "version")),
                     2);
    json_decref(st);
}

static void test_request_log(void **state)
{
    fixture *f = *state;
    json_t *doc, *list, *last;
    long status;
    int64_t since;
    char path[64];

    doc = control(f, "GET", "/sim/requests?since=0", NULL, &status);
    assert_int_equal(status, 200);
    since = json_integer_value(json_object_get(doc, "next"));
    assert_true(since >= 1);
    json_decref(doc);
    json_decref(api(f, "GET", "/api/v2/routing/queues/queue_a1", NULL, &status, NULL));
    json_decref(api(f, "GET", "/api/v2/routing/queues/queue_zz", NULL, &status, NULL));
    snprintf(path, sizeof(path), "/sim/requests?since=%lld", (long long)since);
    doc = control(f, "GET", path, NULL, &status);
    list = json_object_get(doc, "requests");
    assert_int_equal(json_array_size(list), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "seq")),
                     since + 1);
    last = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(last, "path")),
                        "/api/v2/routing/queues/queue_zz");
    assert_int_equal(json_integer_value(json_object_get(last, "status")), 404);
    assert_string_equal(json_string_value(json_object_get(last, "org")), "org_a");
    assert_string_equal(json_string_value(json_object_get(last, "method")), "GET");
    json_decref(doc);
    doc = control(f, "GET", "/sim/requests?since=abc", NULL, &status);
    assert_int_equal(status, 400);
    json_decref(doc);
}

static void interval(char *out, size_t outlen, int64_t from_s, int64_t to_s)
{
    int64_t now = rg_time_now_ms() / 1000 * 1000;
    rg_interval_format(out, outlen, now + from_s * 1000, now + to_s * 1000);
}

static void test_aggregates_shape(void **state)
{
    fixture *f = *state;
    char iv[96], body[512];
    rg_buf one = RG_BUF_INIT, two = RG_BUF_INIT;
    json_t *doc, *results, *data, *metrics;
    long status;

    interval(iv, sizeof(iv), -3600, -3594);
    snprintf(body, sizeof(body),
             "{\"interval\":\"%s\",\"granularity\":\"PT1S\",\"groupBy\":[\"queueId\"],"
             "\"metrics\":[\"nOffered\",\"tAbandon\",\"tAnswered\",\"tHandle\"]}",
             iv);
    doc = api(f, "POST", "/api/v2/analytics/conversations/aggregates/query", body, &status, &one);
    assert_int_equal(status, 200);
    results = json_object_get(doc, "results");
    /* An hour ago all of org_a's traffic went to queue_a1; queue_a2 had none: it is absent. */
    assert_int_equal(json_array_size(results), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(results, 0), "group"), "queueId")),
                        "queue_a1");
    data = json_object_get(json_array_get(results, 0), "data");
    assert_true(json_array_size(data) >= 5 && json_array_size(data) <= 6);
    metrics = json_object_get(json_array_get(data, 0), "metrics");
    assert_string_equal(json_string_value(json_object_get(json_array_get(metrics, 0), "metric")),
                        "nOffered");
    assert_true(json_integer_value(json_object_get(
                    json_object_get(json_array_get(metrics, 0), "stats"), "count")) > 20);
    json_decref(doc);
    doc = api(f, "POST", "/api/v2/analytics/conversations/aggregates/query", body, &status, &two);
    assert_string_equal(rg_buf_cstr(&one), rg_buf_cstr(&two));
    json_decref(doc);

    /* The future has no elapsed buckets; bad granularity and metrics are 400 ErrorBody. */
    interval(iv, sizeof(iv), 60, 120);
    snprintf(body, sizeof(body),
             "{\"interval\":\"%s\",\"granularity\":\"PT1S\","
             "\"metrics\":[\"nOffered\"]}",
             iv);
    doc = api(f, "POST", "/api/v2/analytics/conversations/aggregates/query", body, &status, NULL);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(doc, "results")), 0);
    json_decref(doc);
    snprintf(body, sizeof(body),
             "{\"interval\":\"%s\",\"granularity\":\"soon\","
             "\"metrics\":[\"nOffered\"]}",
             iv);
    doc = api(f, "POST", "/api/v2/analytics/conversations/aggregates/query", body, &status, NULL);
    assert_int_equal(status, 400);
    assert_string_equal(json_string_value(json_object_get(doc, "code")), "invalid.value");
    json_decref(doc);
    snprintf(body, sizeof(body), "{\"interval\":\"%s\",\"metrics\":[\"nBogus\"]}", iv);
    doc = api(f, "POST", "/api/v2/analytics/conversations/aggregates/query", body, &status, NULL);
    assert_int_equal(status, 400);
    json_decref(doc);
    rg_buf_dispose(&one);
    rg_buf_dispose(&two);
}

static void test_aggregates_filter(void **state)
{
    fixture *f = *state;
    char iv[96], body[640];
    json_t *doc, *results;
    long status;

    interval(iv, sizeof(iv), -7200, -7140);
    snprintf(body, sizeof(body),
             "{\"interval\":\"%s\",\"granularity\":\"PT1M\",\"filter\":{\"type\":\"or\","
             "\"predicates\":[{\"type\":\"dimension\",\"dimension\":\"queueId\",\"operator\":"
             "\"matches\",\"value\":\"queue_a2\"}]},\"metrics\":[\"nOffered\"]}",
             iv);
    doc = api(f, "POST", "/api/v2/analytics/conversations/aggregates/query", body, &status, NULL);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(doc, "results")), 0);
    json_decref(doc);
    snprintf(body, sizeof(body),
             "{\"interval\":\"%s\",\"granularity\":\"PT1M\","
             "\"metrics\":[\"nOffered\",\"tWait\"]}",
             iv);
    doc = api(f, "POST", "/api/v2/analytics/conversations/aggregates/query", body, &status, NULL);
    results = json_object_get(doc, "results");
    assert_int_equal(json_array_size(results), 1);
    assert_int_equal(json_object_size(json_object_get(json_array_get(results, 0), "group")), 0);
    /* One simulated hour of 60 calls/min: about 3,600 offered in the single minute bucket. */
    assert_in_range(
        json_integer_value(json_object_get(
            json_object_get(
                json_array_get(
                    json_object_get(
                        json_array_get(json_object_get(json_array_get(results, 0), "data"), 0),
                        "metrics"),
                    0),
                "stats"),
            "count")),
        3300, 3900);
    json_decref(doc);
}

static void test_observations(void **state)
{
    fixture *f = *state;
    json_t *doc, *results, *users, *media;
    long status;
    int64_t idle, busy;

    doc = api(f, "POST", "/api/v2/analytics/queues/observations/query",
              "{\"filter\":{\"type\":\"or\",\"predicates\":[{\"type\":\"dimension\",\"dimension\":"
              "\"queueId\",\"operator\":\"matches\",\"value\":\"queue_a1\"}]},\"metrics\":["
              "\"oOnQueueUsers\",\"oActiveUsers\",\"oWaiting\"]}",
              &status, NULL);
    assert_int_equal(status, 200);
    results = json_object_get(doc, "results");
    assert_int_equal(json_array_size(results), 2);
    users = json_object_get(json_array_get(results, 0), "data");
    media = json_array_get(results, 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(users, 0), "qualifier")),
                        "IDLE");
    idle = json_integer_value(
        json_object_get(json_object_get(json_array_get(users, 0), "stats"), "count"));
    busy = json_integer_value(
        json_object_get(json_object_get(json_array_get(users, 1), "stats"), "count"));
    assert_int_equal(idle + busy, 50);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(media, "group"), "mediaType")), "voice");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(media, "data"), 0), "metric")),
                        "oWaiting");
    json_decref(doc);
}

static void test_scenario_replace(void **state)
{
    fixture *f = *state;
    char path[4096];
    char *text;
    json_t *doc, *st = NULL;
    long status;

    doc = control(f, "POST", "/sim/scenario", "{\"orgs\":[],\"colour\":1}", &status);
    assert_int_equal(status, 400);
    assert_non_null(strstr(json_string_value(json_object_get(doc, "message")), "colour"));
    json_decref(doc);
    rg_test_path(path, sizeof(path), "sim/scenarios/demo.json");
    assert_non_null(text = rg_test_read_file(path, NULL));
    doc = control(f, "POST", "/sim/scenario", text, &status);
    free(text);
    assert_int_equal(status, 200);
    json_decref(doc);
    assert_int_equal(rg_simproc_state(&f->sim, &st), 0);
    assert_true(json_array_size(json_object_get(st, "orgs")) >= 5);
    assert_non_null(org_of(st, "org_sub_002"));
    assert_null(org_of(st, "org_a"));
    json_decref(st);
    /* Tokens belonged to the old world. */
    doc = api(f, "GET", "/api/v2/organizations/me", NULL, &status, NULL);
    assert_int_equal(status, 401);
    json_decref(doc);
}

/* Starts the binary on a scenario and returns its exit code and stderr. */
static int run_sim(const char *scenario, rg_buf *err)
{
    char cmd[8192], line[512];
    FILE *p;
    int status;

    snprintf(cmd, sizeof(cmd), "'%s/sim/rollgate-sim' --scenario '%s' --port 0 2>&1",
             rg_test_binary_dir(), scenario);
    assert_non_null(p = popen(cmd, "r"));
    while (fgets(line, sizeof(line), p))
        rg_buf_puts(err, line);
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_bad_scenarios_exit_3(void **state)
{
    static const struct {
        const char *doc, *needle;
    } cases[] = {
        {"{\"orgs\":[{\"id\":\"o\",\"client_id\":\"c\",\"client_secret\":\"s\",\"queues\":[],"
         "\"colour\":2}]}",
         "scenario.orgs[0]: unknown key 'colour'"},
        {"{\"orgs\":[{\"id\":\"o\",\"client_id\":\"c\",\"client_secret\":\"s\",\"queues\":[{\"id\":"
         "\"q\"}],\"strategies\":[{\"id\":\"s\",\"targets\":[{\"type\":\"Queue\",\"id\":\"nope\","
         "\"weight\":100}]}]}]}",
         "unknown queue 'nope'"},
        {"{\"orgs\":[{\"id\":\"o\",\"client_id\":\"c\",\"client_secret\":\"s\",\"queues\":[]}],"
         "\"events\":[{\"orgs\":[\"ghost\"],\"from_s\":0,\"to_s\":1}]}",
         "scenario.events[0].orgs[0]"},
        {"{\"orgs\":[{\"id\":\"o\",\"client_id\":\"c\",\"client_secret\":\"s\",\"queues\":[]}],"
         "\"effects\":[{\"queue\":\"qq\"}]}",
         "scenario.effects[0].queue"},
        {"{\"seed\":1,", "line"},
    };
    char dir[4096], path[4200];
    rg_buf err = RG_BUF_INIT;

    (void)state;
    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/bad.json", dir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(rg_test_write_file(path, cases[i].doc), 0);
        rg_buf_clear(&err);
        assert_int_equal(run_sim(path, &err), 3);
        if (strstr(rg_buf_cstr(&err), cases[i].needle) == NULL)
            fail_msg("case %zu: '%s' not in '%s'", i, cases[i].needle, rg_buf_cstr(&err));
        assert_null(strstr(rg_buf_cstr(&err), "listening"));
    }
    rg_buf_dispose(&err);
    rg_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_and_edit),       cmocka_unit_test(test_request_log),
        cmocka_unit_test(test_aggregates_shape),     cmocka_unit_test(test_aggregates_filter),
        cmocka_unit_test(test_observations),         cmocka_unit_test(test_scenario_replace),
        cmocka_unit_test(test_bad_scenarios_exit_3),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
