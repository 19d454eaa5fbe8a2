/* test_manifest_sized.c - traffic-sized stages: {min_offered: N} parses with its errors at
 * file:line:col, round-trips and changes the digest; the resolution grows such a stage in
 * target order until the expected offered calls reach N, capped */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "rollgate/manifest.h"
#include "rollgate/util.h"

/* Seven orgs: a parent, then six children (parents first in target order). */
static const char head[] = "name: sized\ntenant: acme\npolicy: contact-center\n";
static const char tail[] =
    "\nplatform: {driver: genesys, api_url: https://api.mypurecloud.com,\n"
    "           login_url: https://login.mypurecloud.com, credentials: env}\n"
    "groups:\n"
    "  - {name: parent, orgs: [o1]}\n"
    "  - {name: child, depends_on: [parent], orgs: [o2, o3, o4, o5, o6, o7]}\n"
    "change:\n  strategy: s\n  template:\n    targets:\n"
    "      - {type: Queue, id: q1, weight: 100, priority: 1}\n";

static int load(rg_manifest **m, const char *stages)
{
    rg_buf doc = RG_BUF_INIT;
    int rc;
    rg_buf_printf(&doc, "%s%s%s", head, stages, tail);
    rc = rg_manifest_load_buffer(m, "s.yaml", doc.ptr, doc.len, NULL, NULL);
    rg_buf_dispose(&doc);
    return rc;
}

static void expect_error(const char *stages, const char *message)
{
    rg_manifest *m = NULL;
    assert_int_equal(load(&m, stages), RG_EINVALID);
    assert_null(m);
    assert_string_equal(rg_error_last(), message);
}

static void test_errors_name_the_place(void **state)
{
    (void)state;
    expect_error("stages: [{min_offered: 2000}, 50, {min_offered: 9, percent: 100}]",
                 "s.yaml:4:35: stages[2]: min_offered on the last stage: it covers every "
                 "organization");
    expect_error("stages: [{min_offered: 0}, 50, 100]",
                 "s.yaml:4:24: stages[0].min_offered: expected an integer in 1..1000000000, "
                 "got '0'");
    /* with a percent, the percent is the stage's cap and orders as any percent */
    expect_error("stages: [{min_offered: 2000, percent: 60}, 50, 100]",
                 "s.yaml:4:44: stages[1]: stages must increase strictly: 50 after 60");
    /* a traffic-sized stage without a percent sits between its neighbours */
    expect_error("stages: [10, {min_offered: 2000}, 10, 100]",
                 "s.yaml:4:35: stages[2]: stages must increase strictly: 10 after 10");
    expect_error("stages: [{approval: required}, 100]",
                 "s.yaml:4:10: stages[0].percent: required field is missing");
}

static void test_round_trip_and_digest(void **state)
{
    rg_manifest *m = NULL, *back = NULL, *plain = NULL;
    json_t *json = NULL;
    char *text;
    (void)state;

    assert_int_equal(load(&m, "stages: [{min_offered: 2000}, {min_offered: 50, percent: 40}, "
                              "50, 100]"),
                     0);
    assert_int_equal(m->stages[0].min_offered, 2000);
    assert_int_equal(m->stages[0].percent, 0);
    assert_int_equal(m->stages[1].min_offered, 50);
    assert_int_equal(m->stages[1].percent, 40);
    assert_int_equal(rg_manifest_to_json(&json, m), 0);
    text = json_dumps(json_object_get(json, "stages"), JSON_COMPACT);
    assert_string_equal(text, "[{\"min_offered\":2000},{\"percent\":40,\"min_offered\":50},50,"
                              "100]");
    free(text);
    text = json_dumps(json, JSON_COMPACT);
    assert_int_equal(rg_manifest_load_buffer(&back, "stored.json", text, strlen(text), NULL, NULL),
                     0);
    assert_true(rg_manifest_equal(m, back));
    assert_int_equal(load(&plain, "stages: [10, 40, 50, 100]"), 0);
    assert_false(rg_manifest_equal(m, plain));
    assert_string_not_equal(m->digest, plain->digest);
    free(text);
    json_decref(json);
    rg_manifest_free(m);
    rg_manifest_free(back);
    rg_manifest_free(plain);
}

/* The stage_end of stage 0 after sizing with `offered` (NULL: the traffic-less resolution). */
static size_t first_stage(const char *stages, const double *offered, size_t *second)
{
    rg_manifest *m = NULL;
    rg_resolution *r = NULL;
    size_t end;

    assert_int_equal(load(&m, stages), 0);
    assert_int_equal(rg_manifest_resolve(&r, m), 0);
    assert_int_equal(rg_manifest_traffic_sized(m), 1);
    if (offered)
        assert_int_equal(rg_resolution_size_stages(r, m, offered), 0);
    end = r->stage_end[0];
    *second = r->stage_end[1];
    for (size_t i = 0; i < r->count; i++)
        assert_int_equal(r->targets[i].stage, i < end ? 0 : i < *second ? 1 : 2);
    rg_resolution_free(r);
    rg_manifest_free(m);
    return end;
}

static void test_sizing(void **state)
{
    const double offered[7] = {500, 800, 900, 1000, 100, 100, 100};
    const double idle[7] = {0, 0, 0, 0, 0, 0, 0};
    size_t second;
    (void)state;

    /* 500 + 800 = 1300 < 2000, + 900 = 2200: three orgs */
    assert_int_equal(first_stage("stages: [{min_offered: 2000}, 50, 100]", offered, &second), 3);
    assert_int_equal(second, 4); /* ceil(50 % of 7) */
    /* exactly reached at two */
    assert_int_equal(first_stage("stages: [{min_offered: 1300}, 50, 100]", offered, &second), 2);
    /* unreachable: the next percent's 4 orgs less one */
    assert_int_equal(first_stage("stages: [{min_offered: 99999}, 50, 100]", offered, &second), 3);
    /* a percent caps it: ceil(20 % of 7) = 2 */
    assert_int_equal(
        first_stage("stages: [{min_offered: 99999, percent: 20}, 50, 100]", offered, &second), 2);
    /* orgs without traffic: it grows to its cap; no traffic read (offline): one org */
    assert_int_equal(first_stage("stages: [{min_offered: 2000}, 50, 100]", idle, &second), 3);
    assert_int_equal(first_stage("stages: [{min_offered: 2000}, 50, 100]", NULL, &second), 1);
    /* the next stage at 15 % covers 2: the cap would leave it nothing, so it is 1 */
    assert_int_equal(first_stage("stages: [{min_offered: 99999}, 15, 100]", offered, &second), 1);
    assert_int_equal(second, 2);
    /* a second traffic-sized stage grows from where the first stopped */
    assert_int_equal(
        first_stage("stages: [{min_offered: 1000}, {min_offered: 1800}, 100]", offered, &second),
        2);
    assert_int_equal(second, 4); /* 900 + 1000 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_name_the_place),
        cmocka_unit_test(test_round_trip_and_digest),
        cmocka_unit_test(test_sizing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
