/* test_e2e_gates_recovery.c - gating webhooks across a kill and a rollback, against
 * rollgate-sim and a receiver in this process: a killed driver neither skips nor double-passes
 * a gate; post-rollback is acknowledged before the end is recorded; `plan --offline` lists the
 * gates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e/gates_fixture.h"
#include "rollgate/util.h"
#include "support/testutil.h"

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
        assert_int_equal(rg_e2e_drive(&e, rg_e2e_stage_one_applied, 100), 0);
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
        cmocka_unit_test(test_killed_driver_neither_skips_nor_double_passes),
        cmocka_unit_test(test_post_rollback_acknowledged_before_the_end),
        cmocka_unit_test(test_plan_lists_the_gates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
