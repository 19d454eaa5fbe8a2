/* test_e2e_sized.c - traffic-sized stages (`stages: [{min_offered: N}, 50, 100]`) against
 * rollgate-sim: stage 1 is sized from analytics at start, and a restarted engine writes
 * exactly the orgs chosen then (the sim's request log says which orgs were PATCHed) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/testutil.h"

#define SCENARIO "sim/scenarios/healthy.json"

/* Expected offered calls of one healthy.json org over the e2e policy's 24 s soak:
 * calls_per_min 120 x time_scale 1200 per real minute. */
static double per_org_over_soak(void)
{
    char path[1024];
    json_t *doc;
    double cpm, scale;

    rg_test_path(path, sizeof(path), SCENARIO);
    doc = json_load_file(path, 0, NULL);
    assert_non_null(doc);
    scale = json_number_value(json_object_get(doc, "time_scale"));
    cpm = json_number_value(json_object_get(
        json_array_get(
            json_object_get(json_array_get(json_object_get(doc, "orgs"), 0), "strategies"), 0),
        "calls_per_min"));
    json_decref(doc);
    return cpm * scale * 24 / 60.0;
}

/* The e2e manifest with `stages` replaced. */
static void write_manifest(rg_e2e *e, const char *stages)
{
    char *text, *at;
    rg_buf fixed = RG_BUF_INIT;

    assert_int_equal(rg_e2e_write_manifest(e->manifest, e->sim.url, e->orgs, NULL), 0);
    text = rg_test_read_file(e->manifest, NULL);
    assert_non_null(text);
    at = strstr(text, "stages: [10, 50, 100]");
    assert_non_null(at);
    rg_buf_put(&fixed, text, (size_t)(at - text));
    rg_buf_printf(&fixed, "%s%s", stages, at + strlen("stages: [10, 50, 100]"));
    free(text);
    assert_int_equal(rg_test_write_file(e->manifest, rg_buf_cstr(&fixed)), 0);
    rg_buf_dispose(&fixed);
}

static int stage_one_applied(rg_e2e *e)
{
    rg_store_rollout row = {0};
    int yes = 0;
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0)
        yes = row.stage_applied_at_ms != 0 || row.state != RG_ROLLOUT_RUNNING;
    rg_store_rollout_dispose(&row);
    return yes;
}

static size_t count_path(const json_t *log, const char *method, const char *part)
{
    size_t i, n = 0;
    json_t *r;
    json_array_foreach(json_object_get(log, "requests"), i, r) n +=
        strcmp(json_string_value(json_object_get(r, "method")), method) == 0 &&
        strstr(json_string_value(json_object_get(r, "path")), part) != NULL;
    return n;
}

/* The list of active rollouts (the engine's, and `rollgate status` without an id, table and
 * --json) gives a sized stage the percent it reached, 2 of 7 targets, and its min_offered. */
static void assert_listed_as_reached(rg_e2e *e, const char *min_offered)
{
    json_t *list = NULL, *r, *doc;
    char cmd[4096], out[700], want[128];
    char *text;
    size_t i;
    int found = 0, status;

    assert_int_equal(rg_engine_list_json(&list, e->engine, e->tenant), 0);
    json_array_foreach(list, i,
                       r) if (strcmp(json_string_value(json_object_get(r, "id")), e->id) == 0)
    {
        assert_int_equal(json_integer_value(json_object_get(r, "percent")), 29);
        assert_int_equal(json_integer_value(json_object_get(r, "min_offered")),
                         strtoll(min_offered, NULL, 10));
        found++;
    }
    assert_int_equal(found, 1);
    json_decref(list);

    snprintf(out, sizeof(out), "%.500s/status.out", e->dir);
    snprintf(cmd, sizeof(cmd), "'%s/cli/rollgate' --db '%s' status >'%s' 2>/dev/null",
             rg_test_binary_dir(), e->db, out);
    status = system(cmd);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    text = rg_test_read_file(out, NULL);
    assert_non_null(text);
    snprintf(want, sizeof(want), "stage 1 (29%%, min_offered %s)\n", min_offered);
    if (strstr(text, e->id) == NULL || strstr(text, want) == NULL)
        fail_msg("status lists '%s', want a line with %s and '%s'", text, e->id, want);
    free(text);

    snprintf(cmd, sizeof(cmd), "'%s/cli/rollgate' --db '%s' status --json >'%s' 2>/dev/null",
             rg_test_binary_dir(), e->db, out);
    status = system(cmd);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    doc = json_load_file(out, 0, NULL);
    assert_non_null(doc);
    r = json_array_get(doc, 0);
    assert_string_equal(json_string_value(json_object_get(r, "id")), e->id);
    assert_int_equal(json_integer_value(json_object_get(r, "percent")), 29);
    assert_int_equal(json_integer_value(json_object_get(r, "min_offered")),
                     strtoll(min_offered, NULL, 10));
    json_decref(doc);
}

/* 1.5 orgs' worth of offered calls: stage 1 takes the parent and the first sub-org, though
 * the minimal (traffic-less) resolution puts one org there; a new engine on the same store
 * (a restart) applies exactly those two. */
static void test_stage_one_sized_and_kept_across_restart(void **state)
{
    rg_e2e e;
    rg_manifest *m = NULL;
    rg_engine_options opts;
    json_t *log;
    char stages[128], min_offered[32];
    const char *parent, *sub2;
    size_t n;
    (void)state;

    memset(&e, 0, sizeof(e));
    assert_int_equal(rg_simproc_start(&e.sim, SCENARIO), 0);
    assert_int_equal(rg_e2e_credentials(&e.orgs, SCENARIO), 0);
    assert_int_equal(rg_test_mkdtemp(e.dir, sizeof(e.dir)), 0);
    snprintf(e.db, sizeof(e.db), "%.500s/e2e.db", e.dir);
    snprintf(e.manifest, sizeof(e.manifest), "%.500s/manifest.yaml", e.dir);
    snprintf(e.tenant, sizeof(e.tenant), "e2e");
    snprintf(min_offered, sizeof(min_offered), "%.0f", 1.5 * per_org_over_soak());
    snprintf(stages, sizeof(stages), "stages: [{min_offered: %s}, 50, 100]", min_offered);
    write_manifest(&e, stages);
    assert_int_equal(rg_manifest_load_file(&m, e.manifest, NULL), 0);
    rg_engine_options_init(&opts);
    opts.tick_ms = 200;
    assert_int_equal(rg_store_open(&e.store, e.db), 0);
    assert_int_equal(rg_engine_new(&e.engine, e.store, &opts), 0);
    assert_int_equal(rg_engine_start(e.id, e.engine, m, e.dir, "e2e", 1), 0);
    rg_manifest_free(m);

    /* the start read every org's analytics and wrote nothing */
    log = rg_e2e_requests(&e.sim);
    assert_non_null(log);
    assert_int_equal(count_path(log, "POST", "/analytics/conversations/aggregates/query"),
                     json_array_size(e.orgs));
    assert_int_equal(count_path(log, "PATCH", "/"), 0);
    json_decref(log);

    /* a restart: a new engine on the same store */
    rg_engine_free(e.engine);
    assert_int_equal(rg_engine_new(&e.engine, e.store, &opts), 0);
    assert_int_equal(rg_e2e_drive(&e, stage_one_applied, 100), 0);

    log = rg_e2e_requests(&e.sim);
    assert_non_null(log);
    parent = json_string_value(json_array_get(e.orgs, 0));
    sub2 = json_string_value(json_array_get(e.orgs, 1));
    assert_int_equal(rg_e2e_patches(log, parent), 1);
    assert_int_equal(rg_e2e_patches(log, sub2), 1);
    n = 0;
    for (size_t i = 2; i < json_array_size(e.orgs); i++)
        n += (size_t)rg_e2e_patches(log, json_string_value(json_array_get(e.orgs, i)));
    assert_int_equal(n, 0);
    /* parents still first */
    assert_true(rg_e2e_first_patch(log, parent) < rg_e2e_first_patch(log, sub2));
    json_decref(log);
    {
        json_t *status = NULL;
        assert_int_equal(rg_engine_status_json(&status, e.engine, e.tenant, e.id), 0);
        /* 2 of 7 targets: the status gives the percentage it resolved to */
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(status, "stage"), "percent")), 29);
        /* the planner's numbers from the same single read, with stage 1 as it was sized */
        assert_null(json_object_get(json_object_get(status, "planner"), "error"));
        assert_int_equal(
            json_array_size(json_object_get(
                json_array_get(json_object_get(json_object_get(status, "planner"), "stages"), 0),
                "canary")),
            2);
        json_decref(status);
    }
    assert_listed_as_reached(&e, min_offered);
    rg_e2e_end(&e);
}

/* An unreachable number: the stage stops at the next percentage less one org (50 % of 7 =
 * 4, so 3), shown by plan; and offline plan says it is sized at start. */
static void test_cap_and_plan(void **state)
{
    rg_e2e e;
    char cmd[4096], out[700];
    json_t *plan, *st, *t;
    char *text;
    size_t i;
    int status;
    (void)state;

    memset(&e, 0, sizeof(e));
    assert_int_equal(rg_simproc_start(&e.sim, SCENARIO), 0);
    assert_int_equal(rg_e2e_credentials(&e.orgs, SCENARIO), 0);
    assert_int_equal(rg_test_mkdtemp(e.dir, sizeof(e.dir)), 0);
    snprintf(e.manifest, sizeof(e.manifest), "%.500s/manifest.yaml", e.dir);
    write_manifest(&e, "stages: [{min_offered: 1000000000}, 50, 100]");
    snprintf(out, sizeof(out), "%.500s/out", e.dir);
    snprintf(cmd, sizeof(cmd), "'%s/cli/rollgate' plan '%s' --json >'%s' 2>/dev/null",
             rg_test_binary_dir(), e.manifest, out);
    status = system(cmd);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    plan = json_load_file(out, 0, NULL);
    assert_non_null(plan);
    st = json_array_get(json_object_get(json_object_get(plan, "planner"), "stages"), 0);
    assert_int_equal(json_integer_value(json_object_get(st, "min_offered")), 1000000000);
    assert_int_equal(json_array_size(json_object_get(st, "canary")), 3);
    assert_int_equal(json_integer_value(json_object_get(st, "percent")), 43);
    json_array_foreach(json_object_get(plan, "targets"), i, t)
        assert_int_equal(json_integer_value(json_object_get(t, "stage")), i < 3   ? 0
                                                                          : i < 4 ? 1
                                                                                  : 2);
    json_decref(plan);

    snprintf(cmd, sizeof(cmd), "'%s/cli/rollgate' plan '%s' --offline >'%s' 2>/dev/null",
             rg_test_binary_dir(), e.manifest, out);
    status = system(cmd);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    text = rg_test_read_file(out, NULL);
    assert_non_null(strstr(text, "stage 1 (min_offered 1000000000: sized at start"));
    free(text);
    rg_e2e_end(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stage_one_sized_and_kept_across_restart),
        cmocka_unit_test(test_cap_and_plan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
