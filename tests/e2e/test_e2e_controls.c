/* test_e2e_controls.c - people's controls against rollgate-sim: a pause stops the soak
 * clock; a forced rollback completes in the CLI process */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/testutil.h"

static int64_t book_poll(rg_e2e *e)
{
    rg_store_rollout row = {0};
    int64_t poll = -1;
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0 && row.baseline) {
        json_t *book = json_loads(row.baseline, 0, NULL);
        poll = json_integer_value(json_object_get(book, "poll"));
        json_decref(book);
    }
    rg_store_rollout_dispose(&row);
    return poll;
}

static int polled_once(rg_e2e *e)
{
    return book_poll(e) >= 1 || rg_e2e_state(e) != RG_ROLLOUT_RUNNING;
}

static int64_t g_poll_before;

/* The highest poll with verdicts at stage 1 (0 when none). */
static int max_poll_stage_one(rg_e2e *e)
{
    rg_store_verdicts v = {0};
    int max = 0;
    if (rg_store_verdict_list(&v, e->store, e->tenant, e->id, 0) == 0)
        for (size_t i = 0; i < v.count; i++)
            if (v.items[i].poll > max)
                max = v.items[i].poll;
    rg_store_verdicts_dispose(&v);
    return max;
}

/* The next look of stage 1 (it may promote), or anything else that ends the soak. */
static int polled_again(rg_e2e *e)
{
    return max_poll_stage_one(e) > g_poll_before || rg_e2e_state(e) != RG_ROLLOUT_RUNNING;
}

/* Analytics aggregate queries the sim received at or after `since_ms`: count, first time. */
static int analytics_since(const rg_simproc *sim, int64_t since_ms, int64_t *out_first_ms)
{
    json_t *log = rg_e2e_requests(sim), *r;
    size_t i;
    int n = 0;
    *out_first_ms = 0;
    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        const char *path = json_string_value(json_object_get(r, "path"));
        int64_t t = json_integer_value(json_object_get(r, "time_ms"));
        if (path == NULL || strstr(path, "/analytics/conversations/") == NULL || t < since_ms)
            continue;
        if (n++ == 0)
            *out_first_ms = t;
    }
    json_decref(log);
    return n;
}

static void command(rg_e2e *e, rg_command_kind kind)
{
    char *outcome = NULL;
    assert_int_equal(
        rg_engine_command(&outcome, e->engine, e->tenant, e->id, kind, "alice", "controls test", 0),
        0);
    assert_string_equal(outcome, "done");
    free(outcome);
}

/* 1. A 10 s pause a moment after poll 1: no look while paused; after resume the sim sees no
 * query until the time left before the pause has passed again, and that look is poll 2 (not
 * poll 4, which the wall clock alone would give). */
static void test_pause_stops_soak_clock(void **state)
{
    rg_e2e e;
    int64_t paused_at, resumed_at, first = 0, left;
    rg_store_rollout row = {0};
    (void)state;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json", NULL, 200), 0);
    assert_int_equal(rg_e2e_drive(&e, polled_once, 200), 0);
    assert_int_equal(book_poll(&e), 1);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_RUNNING);
    assert_int_equal(rg_store_rollout_get(&row, e.store, e.tenant, e.id), 0);
    paused_at = rg_time_now_ms();
    left = row.stage_applied_at_ms + 2 * (int64_t)3000 - paused_at; /* until poll 2 was due */
    rg_store_rollout_dispose(&row);
    command(&e, RG_COMMAND_PAUSE);
    for (int i = 0; i < 50; i++) { /* 10 s of driver ticks while paused */
        int64_t next = 0;
        assert_int_equal(rg_engine_tick_rollout(e.engine, e.tenant, e.id, &next), 0);
        rg_e2e_sleep_ms(200);
    }
    assert_int_equal(analytics_since(&e.sim, paused_at, &first), 0);
    resumed_at = rg_time_now_ms();
    command(&e, RG_COMMAND_RESUME);
    g_poll_before = book_poll(&e);
    assert_int_equal(g_poll_before, 1);
    assert_int_equal(rg_e2e_drive(&e, polled_again, 200), 0);
    assert_int_equal(max_poll_stage_one(&e), 2); /* the next look in order, not poll 4 */
    assert_true(analytics_since(&e.sim, resumed_at, &first) > 0);
    /* The look came when the time left at the pause had passed since the resume (the sim
     * stamps it; 500 ms allowed for the tick). Without the stopped clock it comes at once. */
    if (first < resumed_at + left - 500)
        fail_msg("poll 2 queried %lld ms after resume; %lld ms were left at the pause",
                 (long long)(first - resumed_at), (long long)left);
    rg_e2e_end(&e);
}

/* rollgate --db DB ARGS... with stdout to `out`; returns the pid. */
static pid_t spawn(const char *db, const char *out, char *const *args)
{
    char bin[1024];
    char *argv[16];
    size_t n = 0;
    pid_t pid;

    snprintf(bin, sizeof(bin), "%s/cli/rollgate", rg_test_binary_dir());
    argv[n++] = bin;
    argv[n++] = "--db";
    argv[n++] = (char *)db;
    for (size_t i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid = fork();
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, STDOUT_FILENO);
        execv(bin, argv);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid)
{
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Drives stage 1 to its apply, then lets go of the lease: no live driver is left. */
static void begin_applied(rg_e2e *e)
{
    assert_int_equal(rg_e2e_begin(e, "sim/scenarios/healthy.json", NULL, 200), 0);
    assert_int_equal(rg_e2e_drive(e, rg_e2e_stage_one_applied, 100), 0);
    assert_int_equal(rg_e2e_state(e), RG_ROLLOUT_RUNNING);
    assert_int_equal(
        rg_store_lease_release(NULL, e->store, e->tenant, e->id, rg_engine_owner(e->engine)), 0);
}

/* Every org of the first stage is live with its snapshot again (the sim's state). */
static void assert_restored(rg_e2e *e)
{
    const char *org = json_string_value(json_array_get(e->orgs, 0));
    json_t *live = rg_e2e_live(&e->sim, org), *snap = rg_e2e_snapshot(e, org);
    json_t *log = rg_e2e_requests(&e->sim);
    assert_int_equal(rg_e2e_patches(log, org), 2); /* the change, then the restore */
    json_decref(log);
    assert_non_null(live);
    assert_non_null(snap);
    assert_true(json_equal(json_object_get(live, "targets"), json_object_get(snap, "targets")));
    json_decref(live);
    json_decref(snap);
}

static int file_has(const char *path, const char *needle)
{
    char *text = rg_test_read_file(path, NULL);
    int yes = text && strstr(text, needle);
    free(text);
    return yes;
}

/* 2. A forced rollback with no driver: the CLI restores, then waits out verification with
 * progress lines and ends rolled_back; verification read the sim's analytics. */
static void test_rollback_completes_in_cli(void **state)
{
    char out[700], *args[] = {"rollback", NULL, "--reason", "on-call says no", NULL};
    int64_t began, first = 0;
    rg_e2e e;
    (void)state;
    begin_applied(&e);
    snprintf(out, sizeof(out), "%s/rollback.out", e.dir);
    args[1] = e.id;
    began = rg_time_now_ms();
    assert_int_equal(wait_exit(spawn(e.db, out, args)), 0);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLED_BACK);
    assert_true(file_has(out, "verifying by telemetry"));
    assert_true(file_has(out, "rolled_back (verification "));
    assert_restored(&e);
    assert_true(analytics_since(&e.sim, began, &first) > 0);
    rg_e2e_end(&e);
}

/* 3. --no-wait returns right after the restore: restored in the sim, no verification query
 * yet, still rolling_back; the next driver finishes it. */
static void test_rollback_no_wait(void **state)
{
    char out[700], *args[] = {"rollback", NULL, "--reason", "on-call", "--no-wait", NULL};
    int64_t began, first = 0;
    rg_e2e e;
    (void)state;
    begin_applied(&e);
    snprintf(out, sizeof(out), "%s/rollback.out", e.dir);
    args[1] = e.id;
    began = rg_time_now_ms();
    assert_int_equal(wait_exit(spawn(e.db, out, args)), 0);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLING_BACK);
    assert_restored(&e);
    assert_int_equal(analytics_since(&e.sim, began, &first), 0);
    assert_false(file_has(out, "verifying"));
    rg_e2e_end(&e);
}

static int ended(rg_e2e *e)
{
    return rg_rollout_state_is_terminal(rg_e2e_state(e));
}

/* 4. Ctrl-C while verifying: exit 2, restored, still rolling_back; the next driver
 * verifies and ends it. */
static void test_rollback_interrupted(void **state)
{
    char out[700], *args[] = {"rollback", NULL, "--reason", "on-call", NULL};
    rg_e2e e;
    pid_t pid;
    (void)state;
    begin_applied(&e);
    snprintf(out, sizeof(out), "%s/rollback.out", e.dir);
    args[1] = e.id;
    pid = spawn(e.db, out, args);
    for (int i = 0; i < 300 && !file_has(out, "verifying by telemetry"); i++)
        rg_e2e_sleep_ms(20);
    assert_true(file_has(out, "verifying by telemetry"));
    kill(pid, SIGINT);
    assert_int_equal(wait_exit(pid), 2);
    assert_true(file_has(out, "interrupted"));
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLING_BACK);
    assert_restored(&e);
    assert_int_equal(rg_e2e_drive(&e, ended, 200), 0);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLED_BACK);
    rg_e2e_end(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pause_stops_soak_clock),
        cmocka_unit_test(test_rollback_completes_in_cli),
        cmocka_unit_test(test_rollback_no_wait),
        cmocka_unit_test(test_rollback_interrupted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
