/* test_e2e_datatable.c - whole rollouts of an Architect data-table row against rollgate-sim in
 * data-table mode (no strategies at all): healthy, a person's edit between rollgate's read and
 * its write, a writer right after its PUT, a lost PUT reply, capacity weight columns and the
 * capacity floor, the row's claim and plan's findings. Trips, rollbacks, kills and a row
 * created under create: true are in test_e2e_datatable_restore.c. Every assertion on the
 * platform side reads the sim's state, /sim/writes and request log */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e/datatable_fixture.h"
#include "rollgate/util.h"

/* 1. A healthy change completes: every org's row is the template plus its key (and its other
 * fields as they were); one PUT per org; no strategy is ever asked for. */
static void test_healthy_completes(void **state)
{
    dt d;
    json_t *log, *want;
    (void)state;
    policy_text = rg_e2e_policy;
    begin(&d, healthy_change, NULL, 1);
    policy_text = rg_e2e_fast_policy;
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_COMPLETED);
    want = json_deep_copy(d.seed);
    {
        json_t *change = json_pack("{s:s, s:i, s:s, s:i}", "queue_a", "q-main", "weight_a", 0,
                                   "queue_b", "q-v2", "weight_b", 100);
        json_object_update(want, change);
        json_decref(change);
    }
    log = rg_e2e_requests(&d.e.sim);
    assert_non_null(log);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        json_t *live;
        snprintf(org, sizeof(org), "org_dt_%d", i);
        live = sim_row(&d.e, org);
        assert_rows_equal(live, want, org);
        assert_string_equal(json_string_value(json_object_get(live, "key")), ROW);
        assert_int_equal(row_requests(log, org, "PUT"), 1);
        json_decref(live);
    }
    assert_no_strategy_requests(log);
    json_decref(log);
    json_decref(want);
    end(&d);
}

/* 3a. A person edits another field between rollgate's read and its write: the write merges
 * it (kept), the rollout goes on. */
static void test_edit_of_other_field_is_kept(void **state)
{
    dt d;
    json_t *live, *log;
    (void)state;
    begin(&d, healthy_change,
          "{\"org\":\"org_dt_1\",\"on\":\"get\",\"datatable\":\"" TABLE "\",\"row\":\"" ROW
          "\",\"fields\":{\"note\":\"edited by a "
          "person\"}}",
          1);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_COMPLETED);
    live = sim_row(&d.e, "org_dt_1");
    assert_string_equal(json_string_value(json_object_get(live, "note")), "edited by a person");
    assert_int_equal(json_integer_value(json_object_get(live, "weight_b")), 100);
    log = rg_e2e_requests(&d.e.sim);
    assert_int_equal(row_requests(log, "org_dt_1", "PUT"), 1); /* no blind first PUT */
    json_decref(log);
    json_decref(live);
    end(&d);
}

/* 3b. A person edits a field the change sets: the rollout holds naming the org and the
 * field; the person's value stays, nothing is PUT. */
static void test_edit_of_changed_field_holds(void **state)
{
    dt d;
    json_t *live, *log;
    char *why;
    (void)state;
    begin(&d, healthy_change,
          "{\"org\":\"org_dt_1\",\"on\":\"get\",\"datatable\":\"" TABLE "\",\"row\":\"" ROW
          "\",\"fields\":{\"weight_b\":30,"
          "\"weight_a\":70}}",
          1);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_HELD);
    why = rg_e2e_hold_reason(&d.e);
    assert_non_null(why);
    assert_non_null(strstr(why, "org_dt_1"));
    assert_true(strstr(why, "weight_a") != NULL || strstr(why, "weight_b") != NULL);
    free(why);
    live = sim_row(&d.e, "org_dt_1");
    assert_int_equal(json_integer_value(json_object_get(live, "weight_b")), 30);
    assert_int_equal(json_integer_value(json_object_get(live, "weight_a")), 70);
    log = rg_e2e_requests(&d.e.sim);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        snprintf(org, sizeof(org), "org_dt_%d", i);
        assert_int_equal(row_requests(log, org, "PUT"), 0);
    }
    json_decref(log);
    json_decref(live);
    end(&d);
}

/* 4. Someone writes the row right after rollgate's PUT: the read-back sees it, the rollout
 * holds naming the org, and that write is not overwritten. */
static void test_writer_after_put_holds(void **state)
{
    dt d;
    json_t *live, *log;
    char *why;
    (void)state;
    begin(&d, healthy_change,
          "{\"org\":\"org_dt_1\",\"on\":\"put\",\"datatable\":\"" TABLE "\",\"row\":\"" ROW
          "\",\"fields\":{\"weight_a\":100,"
          "\"weight_b\":0}}",
          1);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_HELD);
    why = rg_e2e_hold_reason(&d.e);
    assert_non_null(why);
    assert_non_null(strstr(why, "org_dt_1"));
    assert_non_null(strstr(why, "after"));
    free(why);
    live = sim_row(&d.e, "org_dt_1");
    assert_int_equal(json_integer_value(json_object_get(live, "weight_a")), 100);
    log = rg_e2e_requests(&d.e.sim);
    assert_int_equal(row_requests(log, "org_dt_1", "PUT"), 1);
    assert_int_equal(row_requests(log, "org_dt_2", "PUT"), 0);
    json_decref(log);
    json_decref(live);
    end(&d);
}

/* 5. plan refuses a template value of the wrong column type, naming org, table, field and
 * type; it writes nothing. */
static void test_plan_refuses_wrong_type(void **state)
{
    dt d;
    json_t *plan = NULL, *f, *log;
    int named = 0;
    size_t i;
    (void)state;
    begin(&d,
          "change:\n"
          "  resource: {kind: datatable_row, datatable: " TABLE ", row: " ROW "}\n"
          "  watch_queues: [q-main, q-v2]\n"
          "  template: {queue_a: q-main, weight_a: 0, queue_b: q-v2, weight_b: 100,"
          " note: 5}\n"
          "  weights: {weight_a: queue_a, weight_b: queue_b}\n",
          NULL, 0);
    assert_int_equal(rg_e2e_plan(&plan, &d.e), 0);
    assert_true(json_is_true(json_object_get(plan, "blocked")));
    json_array_foreach(json_object_get(plan, "findings"), i, f)
    {
        const char *what = json_string_value(json_object_get(f, "what"));
        if (what && strstr(what, "'note'") && strstr(what, "string") && strstr(what, TABLE) &&
            strstr(what, json_string_value(json_object_get(f, "org"))))
            named++;
    }
    assert_int_equal(named, NORGS);
    log = rg_e2e_requests(&d.e.sim);
    for (int k = 1; k <= NORGS; k++) {
        char org[32];
        snprintf(org, sizeof(org), "org_dt_%d", k);
        assert_int_equal(row_requests(log, org, "PUT"), 0);
    }
    assert_no_strategy_requests(log);
    json_decref(log);
    json_decref(plan);
    end(&d);
}

/* 6. Every PUT's reply is lost (committed, never answered): each is re-read before anything
 * else, found in place, and never sent twice; the rollout completes. */
static void test_lost_put_reply_is_not_resent(void **state)
{
    dt d;
    (void)state;
    begin(&d, healthy_change, NULL, 0);
    assert_int_equal(rg_simproc_faults(&d.e.sim, "{\"apply_drop_rate\":1}"), 0);
    assert_int_equal(rg_e2e_start(&d.e, 200), 0);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_COMPLETED);
    assert_each_row_written_once(&d.e, 1);
    end(&d);
}

/* 7. `capacity` weight columns are shares of 100 in proportion to agents on each column's
 * queue (200 on q-main, 600 on q-v2: 25 / 75). */
static void test_capacity_weight_columns(void **state)
{
    dt d;
    (void)state;
    v2_agents = 600;
    begin(&d,
          "change:\n"
          "  resource: {kind: datatable_row, datatable: " TABLE ", row: " ROW "}\n"
          "  watch_queues: [q-main, q-v2]\n"
          "  template: {queue_a: q-main, weight_a: capacity, queue_b: q-v2,"
          " weight_b: capacity}\n"
          "  weights: {weight_a: queue_a, weight_b: queue_b}\n",
          NULL, 1);
    v2_agents = 200;
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_COMPLETED);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        json_t *live;
        snprintf(org, sizeof(org), "org_dt_%d", i);
        live = sim_row(&d.e, org);
        assert_int_equal(json_integer_value(json_object_get(live, "weight_a")), 25);
        assert_int_equal(json_integer_value(json_object_get(live, "weight_b")), 75);
        json_decref(live);
    }
    end(&d);
}

/* 9. Agents on a queue the row routes to drop to half in an org of the last stage: the
 * capacity check pauses the rollout naming org and queue before that org's row is written. */
static void test_capacity_drop_pauses_before_the_row(void **state)
{
    dt d;
    json_t *log;
    char *why;
    (void)state;
    scenario_events = "[{\"orgs\":[\"org_dt_3\"],\"from_s\":3,\"to_s\":600,"
                      "\"agents_mult\":0.5}]";
    begin(&d, healthy_change, NULL, 1);
    scenario_events = NULL;
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_PAUSED);
    why = rg_e2e_hold_reason(&d.e);
    assert_non_null(why);
    assert_non_null(strstr(why, "org_dt_3"));
    assert_non_null(strstr(why, "q-v2"));
    assert_non_null(strstr(why, "0.50 of the 200"));
    free(why);
    log = rg_e2e_requests(&d.e.sim);
    assert_int_equal(row_requests(log, "org_dt_1", "PUT"), 1);
    assert_int_equal(row_requests(log, "org_dt_3", "PUT"), 0);
    assert_int_equal(row_requests(log, "org_dt_4", "PUT"), 0);
    json_decref(log);
    end(&d);
}

/* 12. A second active rollout of the same row in the same org is refused by the claim
 * datatable_row:<table>/<row>; another row of the table is not. */
static void test_same_row_is_claimed_once(void **state)
{
    dt d;
    rg_manifest *m = NULL;
    char id[RG_STORE_ROLLOUT_ID_LEN];
    (void)state;
    begin(&d, healthy_change, NULL, 1);
    assert_int_equal(rg_manifest_load_file(&m, d.e.manifest, NULL), 0);
    assert_int_equal(rg_engine_start(id, d.e.engine, m, d.e.dir, "e2e", 1), RG_ECLAIMED);
    assert_non_null(strstr(rg_error_last(), "datatable_row:" TABLE "/" ROW));
    free(m->resource.row);
    m->resource.row = rg_strdup("other");
    free(m->strategy);
    m->strategy = rg_strdup(TABLE "/other");
    assert_int_equal(rg_engine_start(id, d.e.engine, m, d.e.dir, "e2e", 1), 0);
    rg_manifest_free(m);
    end(&d);
}

/* The live plan of `change` (new reference); the sim's log must show no row PUT. */
static json_t *plan_of(dt *d, const char *change)
{
    json_t *plan = NULL;

    write_manifest(d->e.manifest, d->e.sim.url, change);
    if (rg_e2e_plan(&plan, &d->e) < 0)
        fail_msg("plan: %s", rg_error_last());
    return plan;
}

/* 13. plan passes a good change with the live row's diff, and blocks a missing table, a
 * missing row (a warning under create: true), and a weight's queue that does not exist. */
static void test_plan_findings(void **state)
{
    dt d;
    json_t *plan, *diff, *c;
    size_t i;
    int modified = 0;
    (void)state;
    begin(&d, healthy_change, NULL, 0);
    plan = plan_of(&d, healthy_change);
    assert_false(json_is_true(json_object_get(plan, "blocked")));
    assert_int_equal(json_array_size(json_object_get(plan, "findings")), 0);
    diff = json_object_get(json_array_get(json_object_get(plan, "targets"), 0), "diff");
    json_array_foreach(diff, i, c) modified +=
        strcmp(json_string_value(json_object_get(c, "change")), "modified") == 0;
    assert_int_equal(modified, 2); /* weight_a 100 -> 0, weight_b 0 -> 100 */
    json_decref(plan);

    plan = plan_of(&d, "change:\n"
                       "  resource: {kind: datatable_row, datatable: dt-nope, row: " ROW "}\n"
                       "  template: {note: x}\n");
    assert_true(json_is_true(json_object_get(plan, "blocked")));
    assert_int_equal(rg_e2e_findings_with(plan, "dt-nope", "Unable to find a data table", NULL),
                     NORGS);
    json_decref(plan);

    plan = plan_of(&d, "change:\n"
                       "  resource: {kind: datatable_row, datatable: " TABLE ", row: nope}\n"
                       "  template: {note: x}\n");
    assert_true(json_is_true(json_object_get(plan, "blocked")));
    assert_int_equal(rg_e2e_findings_with(plan, "no row 'nope'", NULL, NULL), NORGS);
    json_decref(plan);

    plan = plan_of(&d, "change:\n"
                       "  resource: {kind: datatable_row, datatable: " TABLE ", row: nope,"
                       " create: true}\n"
                       "  template: {note: x}\n");
    assert_false(json_is_true(json_object_get(plan, "blocked")));
    assert_int_equal(rg_e2e_findings_with(plan, "no row 'nope'", "the apply creates it", NULL),
                     NORGS);
    json_decref(plan);

    plan = plan_of(&d, "change:\n"
                       "  resource: {kind: datatable_row, datatable: " TABLE ", row: " ROW "}\n"
                       "  template: {queue_a: q-main, weight_a: 50, queue_b: q-gone,"
                       " weight_b: 50}\n"
                       "  weights: {weight_a: queue_a, weight_b: queue_b}\n");
    assert_true(json_is_true(json_object_get(plan, "blocked")));
    assert_int_equal(rg_e2e_findings_with(plan, "queue q-gone", "queue_b", NULL), NORGS);
    json_decref(plan);
    {
        json_t *log = rg_e2e_requests(&d.e.sim);
        for (int k = 1; k <= NORGS; k++) {
            char org[32];
            snprintf(org, sizeof(org), "org_dt_%d", k);
            assert_int_equal(row_requests(log, org, "PUT"), 0);
        }
        assert_no_strategy_requests(log);
        json_decref(log);
    }
    end(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy_completes),
        cmocka_unit_test(test_edit_of_other_field_is_kept),
        cmocka_unit_test(test_edit_of_changed_field_holds),
        cmocka_unit_test(test_writer_after_put_holds),
        cmocka_unit_test(test_plan_refuses_wrong_type),
        cmocka_unit_test(test_lost_put_reply_is_not_resent),
        cmocka_unit_test(test_capacity_weight_columns),
        cmocka_unit_test(test_capacity_drop_pauses_before_the_row),
        cmocka_unit_test(test_same_row_is_claimed_once),
        cmocka_unit_test(test_plan_findings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
