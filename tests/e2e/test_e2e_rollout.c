/* test_e2e_rollout.c - whole rollouts against rollgate-sim: healthy, bad, spike, order,
 * a person's edit kept through a rollback, and faults that must not change the outcome */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/body.h"
#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/testutil.h"

static void assert_fields_equal(const json_t *a, const json_t *b, const char *org)
{
    for (size_t f = 0; rg_body_fields[f]; f++)
        if (!json_equal(json_object_get(a, rg_body_fields[f]),
                        json_object_get(b, rg_body_fields[f])))
            fail_msg("%s: field %s differs from its snapshot", org, rg_body_fields[f]);
}

static void run_to_end(rg_e2e *e)
{
    rg_store_rollout row = {0};
    if (rg_e2e_drive(e, rg_e2e_finished, 400) < 0)
        fail_msg("rollout did not finish: %s", rg_error_last());
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0 && row.hold_reason)
        fprintf(stderr, "rollout %s: %s: %s\n", row.id, rg_rollout_state_to_str(row.state),
                row.hold_reason);
    rg_store_rollout_dispose(&row);
}

/* Every verdict with an estimate was judged against a concurrent control, the last stage's
 * too (its control: the orgs changed earlier); none fell back to pre/post alone. */
static void assert_every_verdict_has_a_control(rg_e2e *e)
{
    json_t *explain = NULL, *v;
    json_int_t last = -1;
    int at_last = 0, judged = 0;
    size_t i;

    assert_int_equal(rg_engine_explain_json(&explain, e->engine, e->tenant, e->id), 0);
    json_array_foreach(json_object_get(explain, "verdicts"), i, v)
    {
        if (json_integer_value(json_object_get(v, "stage")) > last)
            last = json_integer_value(json_object_get(v, "stage"));
    }
    json_array_foreach(json_object_get(explain, "verdicts"), i, v)
    {
        const char *reason = json_string_value(json_object_get(v, "reason"));
        if (!json_is_number(json_object_get(v, "estimate")))
            continue;
        judged++;
        if (!reason || !strstr(reason, " vs control; "))
            fail_msg("stage %d poll %d: judged without a control: %s",
                     (int)json_integer_value(json_object_get(v, "stage")),
                     (int)json_integer_value(json_object_get(v, "poll")), reason ? reason : "-");
        if (json_integer_value(json_object_get(v, "stage")) == last)
            at_last++;
    }
    assert_true(last >= 1); /* more than one stage was judged */
    assert_true(judged >= 2);
    assert_true(at_last >= 1);
    json_decref(explain);
}

/* 1. A healthy change completes; every org carries the new body; the gate says completed;
 * every stage, the last included, was judged against a control. */
static void test_healthy_completes(void **state)
{
    rg_e2e e;
    json_t *status = NULL;
    (void)state;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json", NULL, 200), 0);
    run_to_end(&e);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_COMPLETED);
    assert_string_equal(rg_engine_outcome(rg_e2e_state(&e)), "completed");
    for (size_t i = 0; i < json_array_size(e.orgs); i++) {
        const char *org = json_string_value(json_array_get(e.orgs, i));
        json_t *live = rg_e2e_live(&e.sim, org);
        json_t *targets = json_object_get(live, "targets");
        assert_string_equal(json_string_value(json_object_get(live, "name")),
                            "Production_Routing_v2");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(targets, 1), "weight")),
                         100);
        json_decref(live);
    }
    assert_int_equal(rg_engine_status_json(&status, e.engine, e.tenant, e.id), 0);
    assert_string_equal(json_string_value(json_object_get(status, "outcome")), "completed");
    json_decref(status);
    assert_every_verdict_has_a_control(&e);
    rg_e2e_end(&e);
}

/* 2. A bad change trips before 100%; touched orgs equal their snapshots; untouched orgs were
 * never PATCHed; explain carries the failing metric's numbers. */
static void test_bad_change_trips_and_restores(void **state)
{
    rg_e2e e;
    json_t *log, *explain = NULL, *v;
    rg_store_targets targets = {0};
    int failing = 0;
    size_t i;
    (void)state;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/demo.json", NULL, 200), 0);
    run_to_end(&e);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLED_BACK);
    assert_int_equal(rg_store_target_list(&targets, e.store, e.tenant, e.id), 0);
    log = rg_e2e_requests(&e.sim);
    assert_non_null(log);
    for (i = 0; i < targets.count; i++) {
        rg_store_target *t = &targets.items[i];
        int patches = rg_e2e_patches(log, t->org_id);
        if (t->state == RG_TARGET_PENDING) {
            assert_int_equal(patches, 0); /* never touched */
            assert_null(rg_e2e_snapshot(&e, t->org_id));
        } else {
            json_t *live = rg_e2e_live(&e.sim, t->org_id), *snap = rg_e2e_snapshot(&e, t->org_id);
            assert_int_equal(t->state, RG_TARGET_RESTORED);
            assert_non_null(snap);
            assert_fields_equal(live, snap, t->org_id);
            assert_int_equal(patches, 2); /* one apply, one restore */
            json_decref(live);
            json_decref(snap);
        }
    }
    /* tripped before the last stage */
    assert_true(targets.items[targets.count - 1].state == RG_TARGET_PENDING);
    assert_int_equal(rg_engine_explain_json(&explain, e.engine, e.tenant, e.id), 0);
    json_array_foreach(json_object_get(explain, "verdicts"), i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "decision")), "fail") != 0)
            continue;
        failing++;
        assert_true(json_is_number(json_object_get(v, "estimate")));
        assert_true(json_number_value(json_object_get(v, "estimate")) > 0.15);
        assert_true(json_is_number(json_object_get(v, "z")));
        assert_non_null(strstr(json_string_value(json_object_get(v, "reason")), "crossed"));
    }
    assert_true(failing >= 1);
    json_decref(explain);
    json_decref(log);
    rg_store_targets_dispose(&targets);
    rg_e2e_end(&e);
}

/* 3. A spike in every org during the first stages is not blamed on the change. */
static void test_spike_everywhere_is_not_rolled_back(void **state)
{
    char dir[512], path[700];
    rg_e2e e;
    json_t *doc, *ev;
    (void)state;
    memset(&e, 0, sizeof(e));
    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    rg_test_path(path, sizeof(path), "sim/scenarios/spike.json");
    doc = json_load_file(path, 0, NULL);
    assert_non_null(doc);
    ev = json_array_get(json_object_get(doc, "events"), 0);
    json_object_set_new(ev, "from_s", json_integer(3));
    json_object_set_new(ev, "to_s", json_integer(14));
    snprintf(path, sizeof(path), "%s/spike-early.json", dir);
    assert_int_equal(json_dump_file(doc, path, 0), 0);
    json_decref(doc);
    assert_int_equal(rg_simproc_start(&e.sim, path), 0);
    assert_int_equal(rg_e2e_credentials(&e.orgs, path), 0);
    assert_int_equal(rg_e2e_begin(&e, NULL, NULL, 200), 0);
    run_to_end(&e);
    assert_int_not_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLED_BACK);
    assert_int_not_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLING_BACK);
    rg_e2e_end(&e);
    rg_test_rmtree(dir);
}

/* 6. A person's edit of a field the change did not touch survives the rollback, and the
 * audit says it was kept. 4. The parent is PATCHed before any sub-organization. */
static void test_manual_edit_survives_rollback(void **state)
{
    rg_e2e e;
    char *outcome = NULL;
    rg_buf body = RG_BUF_INIT;
    long status = 0;
    json_t *live, *audit = NULL, *a, *log;
    const char *parent;
    int kept = 0;
    size_t i;
    (void)state;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json", NULL, 200), 0);
    parent = json_string_value(json_array_get(e.orgs, 0));
    assert_int_equal(rg_e2e_drive(&e, rg_e2e_stage_one_applied, 100), 0);
    {
        /* status shows where the soak stands: 24 s soak limit / 3 s polls = 8 looks. */
        json_t *st = NULL, *soak;
        assert_int_equal(rg_engine_status_json(&st, e.engine, e.tenant, e.id), 0);
        soak = json_object_get(st, "soak");
        assert_int_equal(json_integer_value(json_object_get(soak, "planned")), 8);
        assert_true(json_integer_value(json_object_get(soak, "left_ms")) > 0);
        assert_true(json_integer_value(json_object_get(soak, "left_ms")) <= 24000);
        json_decref(st);
    }
    {
        char edit[512];
        snprintf(edit, sizeof(edit),
                 "{\"org\":\"%s\",\"strategy\":\"strat_main\",\"patch\":{\"settings\":"
                 "{\"enabled\":true,\"longRunning\":false}}}",
                 parent);
        assert_int_equal(
            rg_simproc_request(&e.sim, "POST", "/sim/edit", edit, NULL, &status, &body, NULL), 0);
        assert_int_equal(status, 200);
    }
    assert_int_equal(rg_engine_command(&outcome, e.engine, e.tenant, e.id, RG_COMMAND_ROLLBACK,
                                       "alice", "testing the three-way restore", 0),
                     0);
    assert_string_equal(outcome, "done");
    free(outcome);
    run_to_end(&e);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLED_BACK);
    live = rg_e2e_live(&e.sim, parent);
    assert_true(json_is_false(json_object_get(json_object_get(live, "settings"), "longRunning")));
    assert_string_equal(json_string_value(json_object_get(live, "name")), "Production_Routing");
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(live, "targets"), 0), "weight")),
                     100);
    json_decref(live);
    assert_int_equal(rg_engine_audit_json(&audit, e.engine, e.tenant, e.id), 0);
    json_array_foreach(audit, i, a)
    {
        const char *action = json_string_value(json_object_get(a, "action"));
        if (strcmp(action, "restore") == 0 &&
            strcmp(json_string_value(json_object_get(a, "outcome")), "kept") == 0) {
            json_t *fields = json_object_get(json_object_get(a, "detail"), "kept");
            assert_string_equal(json_string_value(json_array_get(fields, 0)),
                                "settings.longRunning");
            kept++;
        }
        if (strcmp(action, "rollback") == 0) {
            assert_string_equal(json_string_value(json_object_get(a, "actor")), "alice");
            assert_string_equal(json_string_value(json_object_get(a, "reason")),
                                "testing the three-way restore");
        }
    }
    assert_int_equal(kept, 1);
    /* 4: the parent was PATCHed, no sub-org was, and the sub-orgs hold their snapshots. */
    log = rg_e2e_requests(&e.sim);
    assert_true(rg_e2e_first_patch(log, parent) > 0);
    for (i = 1; i < json_array_size(e.orgs); i++)
        assert_int_equal(rg_e2e_patches(log, json_string_value(json_array_get(e.orgs, i))), 0);
    json_decref(log);
    json_decref(audit);
    rg_buf_dispose(&body);
    rg_e2e_end(&e);
}

/* 4. Through a whole healthy rollout: every sub-org's first PATCH comes after the parent's. */
static void test_parent_before_sub_orgs(void **state)
{
    rg_e2e e;
    json_t *log;
    long parent_seq;
    (void)state;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json", NULL, 200), 0);
    run_to_end(&e);
    log = rg_e2e_requests(&e.sim);
    parent_seq = rg_e2e_first_patch(log, json_string_value(json_array_get(e.orgs, 0)));
    assert_true(parent_seq > 0);
    for (size_t i = 1; i < json_array_size(e.orgs); i++) {
        long s = rg_e2e_first_patch(log, json_string_value(json_array_get(e.orgs, i)));
        assert_true(s > parent_seq);
    }
    json_decref(log);
    rg_e2e_end(&e);
}

/* 7. Tokens expiring every 3 s and 10% 503s do not change the outcome of a bad change. */
static void test_faults_do_not_change_the_outcome(void **state)
{
    rg_e2e e;
    rg_store_targets targets = {0};
    (void)state;
    memset(&e, 0, sizeof(e));
    assert_int_equal(rg_simproc_start(&e.sim, "sim/scenarios/demo.json"), 0);
    assert_int_equal(rg_e2e_credentials(&e.orgs, "sim/scenarios/demo.json"), 0);
    assert_int_equal(rg_simproc_faults(&e.sim, "{\"token_ttl_s\":3,\"error_rate\":0.1,"
                                               "\"error_status\":503}"),
                     0);
    assert_int_equal(rg_e2e_begin(&e, NULL, NULL, 200), 0);
    run_to_end(&e);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLED_BACK);
    assert_int_equal(rg_store_target_list(&targets, e.store, e.tenant, e.id), 0);
    for (size_t i = 0; i < targets.count; i++) {
        rg_store_target *t = &targets.items[i];
        assert_true(t->state == RG_TARGET_PENDING || t->state == RG_TARGET_RESTORED);
        if (t->state == RG_TARGET_RESTORED) {
            json_t *live = rg_e2e_live(&e.sim, t->org_id), *snap = rg_e2e_snapshot(&e, t->org_id);
            assert_fields_equal(live, snap, t->org_id);
            json_decref(live);
            json_decref(snap);
        }
    }
    rg_store_targets_dispose(&targets);
    rg_e2e_end(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy_completes),
        cmocka_unit_test(test_bad_change_trips_and_restores),
        cmocka_unit_test(test_spike_everywhere_is_not_rolled_back),
        cmocka_unit_test(test_manual_edit_survives_rollback),
        cmocka_unit_test(test_parent_before_sub_orgs),
        cmocka_unit_test(test_faults_do_not_change_the_outcome),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
