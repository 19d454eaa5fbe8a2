/* test_sim_api.c - rollgate-sim over real HTTP: tokens, errors, queues, strategies, budgets */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/simproc.h"

typedef struct {
    rg_simproc sim;
    char *token_a;
    char *token_b;
} fixture;

typedef struct {
    long status;
    rg_buf body;
    rg_buf headers;
    json_t *json;
} reply;

static void reply_dispose(reply *r)
{
    rg_buf_dispose(&r->body);
    rg_buf_dispose(&r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

/* One API call with a bearer token (NULL: none) and an optional extra header. */
static void call(reply *r, const fixture *f, const char *method, const char *path, const char *body,
                 const char *token, const char *extra)
{
    char auth[256];
    const char *headers[3] = {NULL, NULL, NULL};
    size_t n = 0;

    memset(r, 0, sizeof(*r));
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        headers[n++] = auth;
    }
    if (extra)
        headers[n++] = extra;
    assert_int_equal(
        rg_simproc_request(&f->sim, method, path, body, headers, &r->status, &r->body, &r->headers),
        0);
    r->json = json_loadb(rg_buf_cstr(&r->body), r->body.len, 0, NULL);
}

/* A numeric response header; fails the test when absent or not a number. */
static int64_t header_int(const reply *r, const char *name)
{
    char value[64];
    int64_t v = -1;

    assert_non_null(rg_simproc_header(value, sizeof(value), &r->headers, name));
    assert_int_equal(rg_parse_int64(&v, value, INT64_MIN, INT64_MAX), 0);
    return v;
}

static void assert_error_body(const reply *r, long status, const char *code)
{
    assert_int_equal(r->status, status);
    assert_non_null(r->json);
    assert_string_equal(json_string_value(json_object_get(r->json, "code")), code);
    assert_int_equal(json_integer_value(json_object_get(r->json, "status")), status);
    assert_true(json_is_string(json_object_get(r->json, "message")));
    assert_true(json_string_length(json_object_get(r->json, "contextId")) > 0);
    assert_true(json_is_array(json_object_get(r->json, "details")));
    assert_int_equal(json_array_size(json_object_get(r->json, "details")), 0);
    assert_true(json_is_array(json_object_get(r->json, "errors")));
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    if (f == NULL || rg_simproc_start(&f->sim, "sim/scenarios/test-api.json") < 0) {
        fprintf(stderr, "cannot start rollgate-sim: %s\n", rg_error_last());
        free(f);
        return -1;
    }
    if (rg_simproc_token(&f->sim, "cid-a", "secret-a", &f->token_a) < 0 ||
        rg_simproc_token(&f->sim, "cid-b", "secret-b", &f->token_b) < 0) {
        fprintf(stderr, "token: %s\n", rg_error_last());
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = rg_simproc_stop(&f->sim);

    free(f->token_a);
    free(f->token_b);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void test_token_endpoint(void **state)
{
    fixture *f = *state;
    const char *bad[] = {"Authorization: Basic Y2lkLWE6d3Jvbmc=", /* cid-a:wrong */
                         "Content-Type: application/x-www-form-urlencoded", NULL};
    reply r = {0};

    assert_int_equal(rg_simproc_request(&f->sim, "POST", "/oauth/token",
                                        "grant_type=client_credentials", bad, &r.status, &r.body,
                                        NULL),
                     0);
    assert_int_equal(r.status, 400);
    assert_string_equal(rg_buf_cstr(&r.body),
                        "{\"error\":\"invalid_client\",\"description\":\"authentication failed\","
                        "\"error_description\":\"authentication failed\"}");
    assert_null(strstr(rg_buf_cstr(&r.body), "wrong"));
    reply_dispose(&r);
    assert_int_equal(rg_simproc_request(&f->sim, "POST", "/oauth/token",
                                        "grant_type=client_credentials", bad + 1, &r.status,
                                        &r.body, NULL),
                     0);
    assert_int_equal(r.status, 400);
    reply_dispose(&r);
    /* A good token: bearer, the scenario's TTL, and it names its organization. */
    call(&r, f, "GET", "/api/v2/organizations/me", NULL, f->token_a, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "id")), "org_a");
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "active");
    assert_true(json_is_integer(json_object_get(r.json, "version")));
    reply_dispose(&r);
    call(&r, f, "GET", "/api/v2/organizations/me", NULL, f->token_b, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "id")), "org_b");
    reply_dispose(&r);
}

static void test_bad_credentials(void **state)
{
    fixture *f = *state;
    char value[64];
    reply r;

    call(&r, f, "GET", "/api/v2/organizations/me", NULL, "0.deadbeef", NULL);
    assert_error_body(&r, 401, "bad.credentials");
    assert_non_null(rg_simproc_header(value, sizeof(value), &r.headers, "inin-ratelimit-allowed"));
    reply_dispose(&r);
    call(&r, f, "GET", "/api/v2/organizations/me", NULL, NULL, NULL);
    assert_error_body(&r, 401, "bad.credentials");
    reply_dispose(&r);
}

static void test_queues_and_isolation(void **state)
{
    fixture *f = *state;
    reply r;

    call(&r, f, "GET", "/api/v2/routing/queues/queue_a2", NULL, f->token_a, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "id")), "queue_a2");
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "A two");
    assert_int_equal(json_integer_value(json_object_get(r.json, "memberCount")), 62);
    reply_dispose(&r);
    call(&r, f, "GET", "/api/v2/routing/queues/queue_b1", NULL, f->token_a, NULL);
    assert_error_body(&r, 404, "not.found");
    reply_dispose(&r);
    /* Organization A's strategy does not exist for B's token. */
    call(&r, f, "GET", "/api/v2/routing/strategies/strat_a", NULL, f->token_b, NULL);
    assert_error_body(&r, 404, "not.found");
    reply_dispose(&r);
    call(&r, f, "PATCH", "/api/v2/routing/strategies/strat_a", "{\"name\":\"x\"}", f->token_b,
         "If-Match: \"whatever\"");
    assert_error_body(&r, 404, "not.found");
    reply_dispose(&r);
    call(&r, f, "GET", "/api/v2/no/such/thing", NULL, f->token_a, NULL);
    assert_error_body(&r, 404, "not.found");
    reply_dispose(&r);
}

static void test_strategy_list_and_get(void **state)
{
    fixture *f = *state;
    char etag[64], count[32];
    reply r;

    call(&r, f, "GET", "/api/v2/routing/strategies?pageSize=100&pageNumber=1", NULL, f->token_a,
         NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "total")), 1);
    assert_int_equal(json_integer_value(json_object_get(r.json, "pageSize")), 100);
    assert_int_equal(json_integer_value(json_object_get(r.json, "pageNumber")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r.json, "entities"), 0), "id")),
                        "strat_a");
    reply_dispose(&r);
    call(&r, f, "GET", "/api/v2/routing/strategies?pageSize=100&pageNumber=2", NULL, f->token_a,
         NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "entities")), 0);
    reply_dispose(&r);
    call(&r, f, "GET", "/api/v2/routing/strategies?pageSize=0", NULL, f->token_a, NULL);
    assert_error_body(&r, 400, "invalid.value");
    reply_dispose(&r);
    call(&r, f, "GET", "/api/v2/routing/strategies/strat_b", NULL, f->token_b, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(rg_simproc_header(etag, sizeof(etag), &r.headers, "ETag"));
    assert_true(etag[0] == '"' && strlen(etag) > 2);
    assert_non_null(rg_simproc_header(count, sizeof(count), &r.headers, "inin-ratelimit-count"));
    assert_int_equal(json_integer_value(json_object_get(r.json, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "B routing");
    assert_true(json_is_true(json_object_get(json_object_get(r.json, "settings"), "enabled")));
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(r.json, "targets"), 0), "weight")),
                     100);
    reply_dispose(&r);
}

/* GETs strat_a and returns its ETag and body bytes. */
static void snapshot_a(const fixture *f, char *etag, size_t etaglen, char **body)
{
    reply r;

    call(&r, f, "GET", "/api/v2/routing/strategies/strat_a", NULL, f->token_a, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(rg_simproc_header(etag, etaglen, &r.headers, "ETag"));
    *body = rg_buf_detach(&r.body);
    reply_dispose(&r);
}

static void test_patch_rejections_change_nothing(void **state)
{
    static const char *const bad[] = {
        "{\"targets\":[{\"type\":\"Queue\",\"id\":\"queue_nope\",\"weight\":100}]}",
        "{\"targets\":[{\"type\":\"Queue\",\"id\":\"queue_a1\",\"weight\":101}]}",
        "{\"targets\":[{\"type\":\"Queue\",\"id\":\"queue_a1\",\"weight\":-1}]}",
        "{\"targets\":[{\"type\":\"Queue\",\"id\":\"queue_a1\",\"weight\":50.5}]}",
        /* One case split over two lines (literal concatenation). */
        // NOLINTNEXTLINE(bugprone-suspicious-missing-comma)
        "{\"targets\":[{\"type\":\"Queue\",\"id\":\"queue_a1\",\"weight\":0},"
        "{\"type\":\"Queue\",\"id\":\"queue_a2\",\"weight\":0}]}",
        "{\"settings\":{\"enabled\":\"yes\"}}", NULL};
    fixture *f = *state;
    char etag[64], etag2[64], if_match[96];
    char *body = NULL, *body2 = NULL;
    reply r;

    snapshot_a(f, etag, sizeof(etag), &body);
    call(&r, f, "PATCH", "/api/v2/routing/strategies/strat_a", "{\"name\":\"n\"}", f->token_a,
         NULL);
    assert_error_body(&r, 428, "precondition.required");
    reply_dispose(&r);
    call(&r, f, "PATCH", "/api/v2/routing/strategies/strat_a", "{\"name\":\"n\"}", f->token_a,
         "If-Match: \"stale-etag\"");
    assert_error_body(&r, 412, "precondition.failed");
    reply_dispose(&r);
    snprintf(if_match, sizeof(if_match), "If-Match: %s", etag);
    for (size_t i = 0; bad[i]; i++) {
        call(&r, f, "PATCH", "/api/v2/routing/strategies/strat_a", bad[i], f->token_a, if_match);
        assert_error_body(&r, 400, "invalid.value");
        reply_dispose(&r);
    }
    call(&r, f, "PATCH", "/api/v2/routing/strategies/strat_a", "{not json", f->token_a, if_match);
    assert_int_equal(r.status, 400);
    reply_dispose(&r);
    snapshot_a(f, etag2, sizeof(etag2), &body2);
    assert_string_equal(etag, etag2);
    assert_string_equal(body, body2);
    free(body);
    free(body2);
}

static void test_patch_applies(void **state)
{
    fixture *f = *state;
    char etag[64], new_etag[64], if_match[96];
    char *before = NULL, *after = NULL;
    json_t *targets;
    reply r;

    snapshot_a(f, etag, sizeof(etag), &before);
    snprintf(if_match, sizeof(if_match), "If-Match: %s", etag);
    call(&r, f, "PATCH", "/api/v2/routing/strategies/strat_a",
         "{\"name\":\"A v2\",\"targets\":[{\"type\":\"Queue\",\"id\":\"queue_a1\",\"weight\":60,"
         "\"priority\":1},{\"type\":\"Queue\",\"id\":\"queue_a2\",\"weight\":40,\"priority\":1}]}",
         f->token_a, if_match);
    assert_int_equal(r.status, 200);
    assert_non_null(rg_simproc_header(new_etag, sizeof(new_etag), &r.headers, "ETag"));
    assert_string_not_equal(etag, new_etag);
    assert_int_equal(json_integer_value(json_object_get(r.json, "version")), 2);
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "A v2");
    targets = json_object_get(r.json, "targets");
    assert_int_equal(json_array_size(targets), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(targets, 1), "weight")), 40);
    reply_dispose(&r);
    /* The old ETag is now stale; a GET returns the PATCH's body and ETag. */
    call(&r, f, "PATCH", "/api/v2/routing/strategies/strat_a", "{\"name\":\"again\"}", f->token_a,
         if_match);
    assert_error_body(&r, 412, "precondition.failed");
    reply_dispose(&r);
    snapshot_a(f, etag, sizeof(etag), &after);
    assert_string_equal(etag, new_etag);
    assert_non_null(strstr(after, "\"A v2\""));
    free(before);
    free(after);
}

static void test_rate_limit(void **state)
{
    fixture *f = *state;
    char value[32];
    char *token = NULL;
    reply r;

    assert_int_equal(rg_simproc_faults(&f->sim, "{\"rate_limit\":3,\"rate_window_s\":60}"), 0);
    assert_int_equal(rg_simproc_token(&f->sim, "cid-b", "secret-b", &token), 0);
    for (int i = 1; i <= 3; i++) {
        call(&r, f, "GET", "/api/v2/organizations/me", NULL, token, NULL);
        assert_int_equal(r.status, 200);
        assert_string_equal(
            rg_simproc_header(value, sizeof(value), &r.headers, "inin-ratelimit-allowed"), "3");
        assert_int_equal(header_int(&r, "inin-ratelimit-count"), i);
        assert_non_null(
            rg_simproc_header(value, sizeof(value), &r.headers, "inin-ratelimit-reset"));
        reply_dispose(&r);
    }
    call(&r, f, "GET", "/api/v2/organizations/me", NULL, token, NULL);
    assert_error_body(&r, 429, "too.many.requests.retry.after");
    assert_true(header_int(&r, "Retry-After") >= 1 && header_int(&r, "Retry-After") <= 60);
    assert_int_equal(header_int(&r, "inin-ratelimit-count"), 3);
    reply_dispose(&r);
    assert_int_equal(rg_simproc_faults(&f->sim, "{}"), 0);
    call(&r, f, "GET", "/api/v2/organizations/me", NULL, token, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(
        rg_simproc_header(value, sizeof(value), &r.headers, "inin-ratelimit-allowed"), "300");
    reply_dispose(&r);
    free(token);
}

static void test_expired_token(void **state)
{
    fixture *f = *state;
    char *token = NULL;
    int64_t deadline;
    long last = 0;
    reply r;

    assert_int_equal(rg_simproc_faults(&f->sim, "{\"token_ttl_s\":1}"), 0);
    assert_int_equal(rg_simproc_token(&f->sim, "cid-a", "secret-a", &token), 0);
    assert_int_equal(rg_simproc_faults(&f->sim, "{}"), 0);
    /* Poll until the token has expired: the sim's answer, not our clock, decides. */
    deadline = rg_time_mono_ms() + 10000;
    while (rg_time_mono_ms() < deadline && last != 401) {
        call(&r, f, "GET", "/api/v2/organizations/me", NULL, token, NULL);
        last = r.status;
        if (last == 401)
            assert_error_body(&r, 401, "bad.credentials");
        else
            assert_int_equal(last, 200);
        reply_dispose(&r);
        if (last != 401)
            usleep(100 * 1000); /* pacing only: the budget is 300 requests per minute */
    }
    assert_int_equal(last, 401);
    free(token);
}

static void test_injected_faults(void **state)
{
    fixture *f = *state;
    rg_buf body = RG_BUF_INIT;
    char auth[128];
    const char *headers[] = {auth, NULL};
    long status = -1;
    reply r;

    assert_int_equal(rg_simproc_faults(&f->sim, "{\"error_rate\":1,\"error_status\":503}"), 0);
    call(&r, f, "GET", "/api/v2/organizations/me", NULL, f->token_a, NULL);
    assert_error_body(&r, 503, "service.unavailable");
    reply_dispose(&r);
    assert_int_equal(rg_simproc_faults(&f->sim, "{\"reset_rate\":1}"), 0);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", f->token_a);
    assert_int_equal(rg_simproc_request(&f->sim, "GET", "/api/v2/organizations/me", NULL, headers,
                                        &status, &body, NULL),
                     RG_EPLATFORM);
    assert_int_equal(status, 0);
    rg_buf_dispose(&body);
    assert_int_not_equal(rg_simproc_faults(&f->sim, "{\"error_rate\":2}"), 0);
    assert_int_not_equal(rg_simproc_faults(&f->sim, "{\"bogus\":1}"), 0);
    assert_int_equal(rg_simproc_faults(&f->sim, "{}"), 0);
    call(&r, f, "GET", "/api/v2/organizations/me", NULL, f->token_a, NULL);
    assert_int_equal(r.status, 200);
    reply_dispose(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_endpoint),
        cmocka_unit_test(test_bad_credentials),
        cmocka_unit_test(test_queues_and_isolation),
        cmocka_unit_test(test_strategy_list_and_get),
        cmocka_unit_test(test_patch_rejections_change_nothing),
        cmocka_unit_test(test_patch_applies),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_expired_token),
        cmocka_unit_test(test_injected_faults),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
