/* test_platform_versioned.c - the verified versioned write against rollgate-sim's IVR configs:
 * a stale version is re-read and merged (409 and the 400 wording), never overwritten; a
 * person's edit to other fields survives, one to the changed field holds naming it; a writer
 * right after the PUT; a lost reply written once. Counts and bodies from the sim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/platform.h"
#include "support/simproc.h"
#include "support/testutil.h"

#define ORG "org_ivr_1"

typedef rg_sim_client fixture;

static int setup(void **state)
{
    return rg_sim_client_setup(state, "sim/scenarios/versioned.json", ORG, "cid-ivr-1",
                               "secret-ivr-1", 20);
}

static json_t *control(const fixture *f, const char *method, const char *path, const char *body)
{
    json_t *doc = NULL;

    if (rg_simproc_json(&f->sim, method, path, body, &doc) < 0)
        fail_msg("%s", rg_error_last());
    return doc;
}

/* The IVR as the sim holds it (its state, not an API read). */
static json_t *sim_ivr(const fixture *f, const char *id)
{
    json_t *doc = control(f, "GET", "/sim/state", NULL), *ivr, *out = NULL;
    size_t i;

    json_array_foreach(json_object_get(json_array_get(json_object_get(doc, "orgs"), 0), "ivrs"), i,
                       ivr) if (strcmp(json_string_value(json_object_get(ivr, "id")), id) == 0)
        out = json_incref(ivr);
    json_decref(doc);
    assert_non_null(out);
    return out;
}

static json_int_t applied(const fixture *f, const char *id)
{
    json_t *ivr = sim_ivr(f, id);
    json_int_t n = json_integer_value(json_object_get(ivr, "writes"));
    json_decref(ivr);
    return n;
}

static const char *open_flow(json_t *ivr)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(ivr, "body"), "openHoursFlow"), "id"));
}

static void mark(fixture *f)
{
    json_t *st = control(f, "GET", "/sim/state", NULL);
    f->since = json_integer_value(json_object_get(st, "requests_total"));
    json_decref(st);
}

/* "GET 200,PUT 409,GET 200,PUT 200,GET 200": the calls to `path` since mark(). */
static void calls_since(char *out, size_t outlen, const fixture *f, const char *path)
{
    char q[64];
    json_t *log, *e;
    size_t i, n = 0;

    snprintf(q, sizeof(q), "/sim/requests?since=%lld", (long long)f->since);
    log = control(f, "GET", q, NULL);
    out[0] = '\0';
    json_array_foreach(json_object_get(log, "requests"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "path")), path) != 0)
            continue;
        n += (size_t)snprintf(out + n, n < outlen ? outlen - n : 0, "%s%s %lld", n ? "," : "",
                              json_string_value(json_object_get(e, "method")),
                              (long long)json_integer_value(json_object_get(e, "status")));
    }
    json_decref(log);
}

static json_t *flow_fields(const char *flow)
{
    return json_pack("{s:{s:s,s:s}}", "openHoursFlow", "id", flow, "name", flow);
}

static void test_healthy_then_in_place(void **state)
{
    fixture *f = *state;
    char path[128], calls[512];
    json_t *live = NULL, *fields = flow_fields("flow-open-v2"), *ivr;
    int in_place = -1;

    assert_int_equal(rg_platform_ivr_path(path, sizeof(path), "ivr-main"), 0);
    mark(f);
    assert_int_equal(rg_platform_versioned_write(&live, &in_place, f->p, ORG, path, fields, NULL),
                     0);
    assert_int_equal(in_place, 0);
    assert_int_equal(json_integer_value(json_object_get(live, "version")), 4);
    json_decref(live);
    calls_since(calls, sizeof(calls), f, path);
    assert_string_equal(calls, "GET 200,PUT 200,GET 200");
    ivr = sim_ivr(f, "ivr-main");
    assert_string_equal(open_flow(ivr), "flow-open-v2");
    /* the merge kept every other field of the live body */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ivr, "body"), "description")), "seed");
    assert_non_null(json_object_get(json_object_get(ivr, "body"), "closedHoursFlow"));
    json_decref(ivr);
    assert_int_equal(applied(f, "ivr-main"), 1);
    /* again: already in place, nothing written */
    mark(f);
    assert_int_equal(rg_platform_versioned_write(NULL, &in_place, f->p, ORG, path, fields, NULL),
                     0);
    assert_int_equal(in_place, 1);
    calls_since(calls, sizeof(calls), f, path);
    assert_string_equal(calls, "GET 200");
    assert_int_equal(applied(f, "ivr-main"), 1);
    json_decref(fields);
}

/* A person edits another field between rollgate's GET and its PUT: the PUT's version is
 * stale, the sim refuses it (409, or the 400 wording), rollgate re-reads and merges; the
 * person's edit survives. */
static void stale_reread(fixture *f, const char *id, const char *flow, int expect_status)
{
    char path[128], calls[512], hook[256], want[128];
    json_t *fields = flow_fields(flow), *ivr, *doc;
    json_int_t before = applied(f, id), version;

    ivr = sim_ivr(f, id);
    version = json_integer_value(json_object_get(ivr, "version"));
    json_decref(ivr);
    assert_int_equal(rg_platform_ivr_path(path, sizeof(path), id), 0);
    snprintf(hook, sizeof(hook),
             "{\"org\":\"" ORG "\",\"on\":\"get\",\"ivr\":\"%s\","
             "\"fields\":{\"description\":\"by hand\"}}",
             id);
    doc = control(f, "POST", "/sim/hook", hook);
    json_decref(doc);
    mark(f);
    assert_int_equal(rg_platform_versioned_write(NULL, NULL, f->p, ORG, path, fields, NULL), 0);
    calls_since(calls, sizeof(calls), f, path);
    snprintf(want, sizeof(want), "GET 200,PUT %d,GET 200,PUT 200,GET 200", expect_status);
    assert_string_equal(calls, want);
    ivr = sim_ivr(f, id);
    assert_string_equal(open_flow(ivr), flow);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ivr, "body"), "description")), "by hand");
    /* the hook's edit and rollgate's one PUT */
    assert_int_equal(json_integer_value(json_object_get(ivr, "version")), version + 2);
    json_decref(ivr);
    assert_int_equal(applied(f, id), before + 1);
    json_decref(fields);
}

static void test_stale_409_reread(void **state)
{
    stale_reread(*state, "ivr-main", "flow-open-v3", 409);
}

static void test_stale_400_worded_reread(void **state)
{
    stale_reread(*state, "ivr-worded", "flow-open-v3", 400);
}

static void test_stale_fault_400(void **state)
{
    fixture *f = *state;
    assert_int_equal(rg_simproc_faults(&f->sim, "{\"version_conflict_status\":400}"), 0);
    stale_reread(f, "ivr-main", "flow-open-v3b", 400);
    assert_int_equal(rg_simproc_faults(&f->sim, "{}"), 0);
}

/* The person edits the very field rollgate changes: never overwritten; the error names the
 * org and the field. */
static void test_concurrent_edit_of_the_field_holds(void **state)
{
    fixture *f = *state;
    char path[128], calls[512];
    json_t *fields = flow_fields("flow-open-v4"), *ivr, *doc;
    json_int_t before = applied(f, "ivr-main");

    assert_int_equal(rg_platform_ivr_path(path, sizeof(path), "ivr-main"), 0);
    doc = control(f, "POST", "/sim/hook",
                  "{\"org\":\"" ORG "\",\"on\":\"get\",\"ivr\":\"ivr-main\","
                  "\"fields\":{\"openHoursFlow\":{\"id\":\"flow-by-hand\"}}}");
    json_decref(doc);
    mark(f);
    assert_int_equal(rg_platform_versioned_write(NULL, NULL, f->p, ORG, path, fields, NULL),
                     RG_ECONFLICT);
    assert_non_null(strstr(rg_error_last(), ORG));
    assert_non_null(strstr(rg_error_last(), "openHoursFlow"));
    calls_since(calls, sizeof(calls), f, path);
    assert_string_equal(calls, "GET 200,PUT 409,GET 200");
    ivr = sim_ivr(f, "ivr-main");
    assert_string_equal(open_flow(ivr), "flow-by-hand");
    json_decref(ivr);
    assert_int_equal(applied(f, "ivr-main"), before);
    /* the same against values rollgate saw earlier (a snapshot): held before any PUT */
    {
        json_t *base = flow_fields("flow-open-v3");
        mark(f);
        assert_int_equal(rg_platform_versioned_write(NULL, NULL, f->p, ORG, path, fields, base),
                         RG_ECONFLICT);
        assert_non_null(strstr(rg_error_last(), "openHoursFlow"));
        calls_since(calls, sizeof(calls), f, path);
        assert_string_equal(calls, "GET 200");
        json_decref(base);
    }
    json_decref(fields);
}

static void test_writer_after_put(void **state)
{
    fixture *f = *state;
    char path[128];
    json_t *fields = flow_fields("flow-open-v5"), *ivr, *doc;

    assert_int_equal(rg_platform_ivr_path(path, sizeof(path), "ivr-main"), 0);
    doc = control(f, "POST", "/sim/hook",
                  "{\"org\":\"" ORG "\",\"on\":\"put\",\"ivr\":\"ivr-main\","
                  "\"fields\":{\"openHoursFlow\":{\"id\":\"flow-right-after\"}}}");
    json_decref(doc);
    assert_int_equal(rg_platform_versioned_write(NULL, NULL, f->p, ORG, path, fields, NULL),
                     RG_ECONFLICT);
    assert_non_null(strstr(rg_error_last(), ORG));
    assert_non_null(strstr(rg_error_last(), "read-back"));
    ivr = sim_ivr(f, "ivr-main");
    assert_string_equal(open_flow(ivr), "flow-right-after");
    json_decref(ivr);
    json_decref(fields);
}

/* The PUT commits but its reply is dropped: the re-read finds it in place; one write. */
static void test_dropped_reply_written_once(void **state)
{
    fixture *f = *state;
    char path[128], calls[512];
    json_t *fields = flow_fields("flow-open-v6"), *ivr;
    json_int_t before = applied(f, "ivr-main");
    int in_place = 0;

    assert_int_equal(rg_platform_ivr_path(path, sizeof(path), "ivr-main"), 0);
    assert_int_equal(rg_simproc_faults(&f->sim, "{\"apply_drop_rate\":1}"), 0);
    mark(f);
    assert_int_equal(rg_platform_versioned_write(NULL, &in_place, f->p, ORG, path, fields, NULL),
                     0);
    assert_int_equal(rg_simproc_faults(&f->sim, "{}"), 0);
    assert_int_equal(in_place, 1);
    calls_since(calls, sizeof(calls), f, path);
    assert_string_equal(calls, "GET 200,PUT 0,GET 200");
    assert_int_equal(applied(f, "ivr-main"), before + 1);
    ivr = sim_ivr(f, "ivr-main");
    assert_string_equal(open_flow(ivr), "flow-open-v6");
    json_decref(ivr);
    json_decref(fields);
}

/* The re-reads are bounded: with one PUT allowed, a stale version fails naming the org. */
static void test_stale_attempts_bounded(void **state)
{
    fixture *f = *state;
    char path[128], calls[512];
    rg_platform_options opts;
    rg_platform_org org = {0};
    rg_platform *one = NULL;
    json_t *fields = flow_fields("flow-open-v7"), *doc;
    json_int_t before = applied(f, "ivr-main");

    rg_platform_options_init(&opts);
    opts.max_412_attempts = 1;
    org.id = ORG;
    org.api_url = f->sim.url;
    org.login_url = f->sim.url;
    assert_int_equal(rg_platform_new(&one, &opts), 0);
    assert_int_equal(rg_platform_add_org_secret(one, &org, "cid-ivr-1", "secret-ivr-1"), 0);
    assert_int_equal(rg_platform_ivr_path(path, sizeof(path), "ivr-main"), 0);
    doc = control(f, "POST", "/sim/hook",
                  "{\"org\":\"" ORG "\",\"on\":\"get\",\"ivr\":\"ivr-main\","
                  "\"fields\":{\"description\":\"again by hand\"}}");
    json_decref(doc);
    mark(f);
    assert_int_equal(rg_platform_versioned_write(NULL, NULL, one, ORG, path, fields, NULL),
                     RG_ECONFLICT);
    assert_non_null(strstr(rg_error_last(), ORG));
    assert_non_null(strstr(rg_error_last(), "stale"));
    calls_since(calls, sizeof(calls), f, path);
    assert_string_equal(calls, "GET 200,PUT 409");
    assert_int_equal(applied(f, "ivr-main"), before);
    rg_platform_free(one);
    json_decref(fields);
}

/* 408 on every PUT: each one re-read before the next (the version unchanged, so sent
 * again), bounded; nothing written. */
static void test_timeouts_reread_bounded(void **state)
{
    fixture *f = *state;
    char path[128], calls[512];
    json_t *fields = flow_fields("flow-open-v8");
    json_int_t before = applied(f, "ivr-main");

    assert_int_equal(rg_platform_ivr_path(path, sizeof(path), "ivr-main"), 0);
    assert_int_equal(rg_simproc_faults(&f->sim, "{\"error_rate\":1,\"error_status\":408,"
                                                "\"error_on\":\"writes\"}"),
                     0);
    mark(f);
    assert_int_equal(rg_platform_versioned_write(NULL, NULL, f->p, ORG, path, fields, NULL),
                     RG_EPLATFORM);
    assert_int_equal(rg_simproc_faults(&f->sim, "{}"), 0);
    assert_non_null(strstr(rg_error_last(), ORG));
    calls_since(calls, sizeof(calls), f, path);
    assert_string_equal(calls, "GET 200,PUT 408,GET 200,PUT 408,GET 200,PUT 408,GET 200,PUT 408");
    assert_int_equal(applied(f, "ivr-main"), before);
    json_decref(fields);
}

static void test_errors(void **state)
{
    fixture *f = *state;
    char path[128];
    json_t *fields = flow_fields("x"), *bad;

    assert_int_equal(rg_platform_ivr_path(path, sizeof(path), "nope"), 0);
    assert_int_equal(rg_platform_versioned_write(NULL, NULL, f->p, ORG, path, fields, NULL),
                     RG_ENOTFOUND);
    assert_non_null(strstr(rg_error_last(), ORG));
    assert_non_null(strstr(rg_error_last(), "nope"));
    assert_int_equal(rg_platform_versioned_write(NULL, NULL, f->p, ORG,
                                                 "/api/v2/architect/ivrs/../queues", fields, NULL),
                     RG_EINVALID);
    assert_int_equal(rg_platform_ivr_path(path, sizeof(path), "ivr-main"), 0);
    bad = json_pack("{s:i}", "version", 1);
    assert_int_equal(rg_platform_versioned_write(NULL, NULL, f->p, ORG, path, bad, NULL),
                     RG_EINVALID);
    json_decref(bad);
    /* a type the platform refuses: its message, RG_EINVALID, nothing retried */
    bad = json_pack("{s:i}", "dnis", 5);
    assert_int_equal(rg_platform_versioned_write(NULL, NULL, f->p, ORG, path, bad, NULL),
                     RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "dnis"));
    json_decref(bad);
    json_decref(fields);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy_then_in_place),
        cmocka_unit_test(test_stale_409_reread),
        cmocka_unit_test(test_stale_400_worded_reread),
        cmocka_unit_test(test_stale_fault_400),
        cmocka_unit_test(test_concurrent_edit_of_the_field_holds),
        cmocka_unit_test(test_writer_after_put),
        cmocka_unit_test(test_dropped_reply_written_once),
        cmocka_unit_test(test_stale_attempts_bounded),
        cmocka_unit_test(test_timeouts_reread_bounded),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, rg_sim_client_teardown);
}
