/* test_e2e_datatable_restore.c - data-table rollouts that go back: a trip restoring every
 * touched row, a person's rollback keeping a later edit outside the change, kills between
 * durable steps (each row PUT once, a restore PUT not repeated), and a missing row created
 * under create: true, then deleted by its rollback. Every assertion on the platform side reads the
 * sim's state, /sim/writes and request log */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e/datatable_fixture.h"
#include "rollgate/util.h"

/* 2. A bad change trips: every row (touched or not) equals its pre-change row field for field;
 * touched rows saw one PUT to apply and one to restore, untouched rows none. */
static void test_bad_change_trips_and_restores(void **state)
{
    dt d;
    json_t *log;
    int touched = 0;
    (void)state;
    policy_text = rg_e2e_policy;
    begin(&d, bad_change, NULL, 1);
    policy_text = rg_e2e_fast_policy;
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_ROLLED_BACK);
    log = rg_e2e_requests(&d.e.sim);
    assert_non_null(log);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        json_t *live;
        int puts;
        snprintf(org, sizeof(org), "org_dt_%d", i);
        live = sim_row(&d.e, org);
        assert_rows_equal(live, d.seed, org);
        puts = row_requests(log, org, "PUT");
        assert_true(puts == 0 || puts == 2);
        touched += puts == 2;
        json_decref(live);
    }
    assert_true(touched >= 1);
    assert_true(touched < NORGS); /* tripped before the last stage */
    assert_no_strategy_requests(log);
    json_decref(log);
    end(&d);
}

/* 8. A rollback writes the snapshot row back: the change's fields as they were, and a field
 * outside the change that a person edited after the apply is kept. */
static void test_rollback_restores_row_and_keeps_edit(void **state)
{
    dt d;
    char *outcome = NULL;
    json_t *live, *want;
    (void)state;
    begin(&d, healthy_change, NULL, 1);
    assert_int_equal(rg_e2e_drive(&d.e, rg_e2e_stage_one_applied, 100), 0);
    assert_int_equal(rg_simproc_json(&d.e.sim, "POST", "/sim/edit",
                                     "{\"org\":\"org_dt_1\",\"datatable\":\"" TABLE
                                     "\",\"row\":\"" ROW "\",\"fields\":{\"note\":"
                                     "\"after the apply\"}}",
                                     NULL),
                     0);
    assert_int_equal(rg_engine_command(&outcome, d.e.engine, d.e.tenant, d.e.id,
                                       RG_COMMAND_ROLLBACK, "alice", "testing the row restore", 0),
                     0);
    free(outcome);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_ROLLED_BACK);
    want = json_deep_copy(d.seed);
    json_object_set_new(want, "note", json_string("after the apply"));
    live = sim_row(&d.e, "org_dt_1");
    assert_rows_equal(live, want, "org_dt_1");
    json_decref(live);
    for (int i = 2; i <= NORGS; i++) {
        char org[32];
        snprintf(org, sizeof(org), "org_dt_%d", i);
        live = sim_row(&d.e, org);
        assert_rows_equal(live, d.seed, org);
        json_decref(live);
    }
    json_decref(want);
    end(&d);
}

/* The rollout driven in a child process (its own store connection and engine) that SIGKILLs
 * itself at the crash point `at` ("POINT[:N]"); the parent's engine is closed meanwhile and
 * reopened after, taking over the dead child's lease. */
static void crash_run(dt *d, const char *at)
{
    rg_engine_options opts;
    int status = 0;
    pid_t pid;

    rg_engine_free(d->e.engine);
    rg_store_free(d->e.store);
    d->e.engine = NULL;
    d->e.store = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        rg_e2e child = d->e;
        rg_engine_options_init(&opts);
        opts.tick_ms = 200;
        setenv("ROLLGATE_TEST_CRASH_AT", at, 1);
        if (rg_store_open(&child.store, child.db) < 0 ||
            rg_engine_new(&child.engine, child.store, &opts) < 0)
            _exit(2);
        rg_e2e_drive(&child, rg_e2e_settled, 400);
        _exit(3); /* never reached the point */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("the run did not die at %s (status %d)", at, status);
    rg_engine_options_init(&opts);
    opts.tick_ms = 200;
    assert_int_equal(rg_store_open(&d->e.store, d->e.db), 0);
    assert_int_equal(rg_engine_new(&d->e.engine, d->e.store, &opts), 0);
}

/* 10. Killed right after a PUT landed (before it was recorded) and right after a snapshot
 * was committed (before the PUT): the restarted engine re-reads, finds the first in place and
 * writes the second once; every org's row is PUT exactly once. */
static void test_crash_between_steps_writes_each_row_once(void **state)
{
    dt d;
    (void)state;
    begin(&d, healthy_change, NULL, 1);
    crash_run(&d, "after_patch");
    crash_run(&d, "after_snapshot:2");
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_COMPLETED);
    assert_each_row_written_once(&d.e, -1);
    end(&d);
}

/* 11. Killed right after a restore PUT landed: the restart finds the snapshot row in place
 * and does not PUT it again; the touched rows equal their snapshot. */
static void test_crash_after_restore_put_is_not_repeated(void **state)
{
    dt d;
    json_t *log;
    (void)state;
    begin(&d, bad_change, NULL, 1);
    crash_run(&d, "after_restore_patch");
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_ROLLED_BACK);
    log = rg_e2e_requests(&d.e.sim);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        int puts;
        json_t *live;
        snprintf(org, sizeof(org), "org_dt_%d", i);
        puts = row_requests(log, org, "PUT");
        assert_true(puts == 0 || puts == 2);
        live = sim_row(&d.e, org);
        assert_rows_equal(live, d.seed, org);
        json_decref(live);
    }
    json_decref(log);
    end(&d);
}

/* 14. create: true and no row: each org's row is created (one POST of the template plus the
 * key) and the rollout completes; the routing row is untouched. */
static void test_missing_row_is_created(void **state)
{
    dt d;
    json_t *log, *want;
    (void)state;
    begin(&d, create_change, NULL, 1);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_COMPLETED);
    want = json_pack("{s:s, s:s, s:i, s:s, s:i, s:s}", "key", "canary", "queue_a", "q-main",
                     "weight_a", 0, "queue_b", "q-v2", "weight_b", 100, "note", "created");
    log = rg_e2e_requests(&d.e.sim);
    assert_non_null(log);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        json_t *live;
        snprintf(org, sizeof(org), "org_dt_%d", i);
        live = sim_row_by_key(&d.e, org, "canary");
        assert_non_null(live);
        assert_rows_equal(live, want, org);
        json_decref(live);
        live = sim_row(&d.e, org);
        assert_rows_equal(live, d.seed, org);
        json_decref(live);
        assert_int_equal(
            rg_e2e_count_requests(log, org, "POST", "/api/v2/flows/datatables/" TABLE "/rows", 200),
            1);
        assert_int_equal(rg_e2e_count_requests(log, org, "PUT",
                                               "/api/v2/flows/datatables/" TABLE "/rows/canary",
                                               200),
                         0);
    }
    assert_no_strategy_requests(log);
    json_decref(log);
    json_decref(want);
    end(&d);
}

/* 15. A rollback of a created row deletes it (its snapshot says "absent"): after stage 1 and
 * a person's rollback, no org has the row; the one created saw one DELETE, the others none. */
static void test_rollback_deletes_created_row(void **state)
{
    dt d;
    char *outcome = NULL;
    json_t *log;
    (void)state;
    begin(&d, create_change, NULL, 1);
    assert_int_equal(rg_e2e_drive(&d.e, rg_e2e_stage_one_applied, 100), 0);
    {
        json_t *live = sim_row_by_key(&d.e, "org_dt_1", "canary");
        assert_non_null(live); /* created by stage 1 */
        json_decref(live);
    }
    assert_int_equal(rg_engine_command(&outcome, d.e.engine, d.e.tenant, d.e.id,
                                       RG_COMMAND_ROLLBACK, "alice", "testing the row delete", 0),
                     0);
    free(outcome);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_ROLLED_BACK);
    log = rg_e2e_requests(&d.e.sim);
    assert_non_null(log);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        json_t *live;
        snprintf(org, sizeof(org), "org_dt_%d", i);
        live = sim_row_by_key(&d.e, org, "canary");
        if (live != NULL)
            fail_msg("%s still has the created row", org);
        live = sim_row(&d.e, org);
        assert_rows_equal(live, d.seed, org);
        json_decref(live);
        assert_int_equal(rg_e2e_count_requests(log, org, "DELETE",
                                               "/api/v2/flows/datatables/" TABLE "/rows/canary",
                                               204),
                         i == 1 ? 1 : 0);
    }
    assert_no_strategy_requests(log);
    json_decref(log);
    end(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_change_trips_and_restores),
        cmocka_unit_test(test_rollback_restores_row_and_keeps_edit),
        cmocka_unit_test(test_crash_between_steps_writes_each_row_once),
        cmocka_unit_test(test_crash_after_restore_put_is_not_repeated),
        cmocka_unit_test(test_missing_row_is_created),
        cmocka_unit_test(test_rollback_deletes_created_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
