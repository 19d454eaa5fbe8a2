/* test_e2e_crash.c - `rollgate run` SIGKILLed at random instants of a bad-change rollout and
 * restarted each time: no snapshot lost, no apply or restore PATCH sent twice, and the same
 * end state as a run left alone. RG_CRASH_KILLS sets the number of kills (default 30). */
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
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollgate/body.h"
#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/testutil.h"

static pid_t spawn_run_at(const char *db, const char *crash_at)
{
    char bin[1024];
    pid_t pid;

    snprintf(bin, sizeof(bin), "%s/cli/rollgate", rg_test_binary_dir());
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", 1);
        if (crash_at)
            setenv("ROLLGATE_TEST_CRASH_AT", crash_at, 1);
        else
            unsetenv("ROLLGATE_TEST_CRASH_AT");
        dup2(devnull, STDOUT_FILENO);
        execl(bin, bin, "--db", db, "run", "--until-done", "--tick", "200ms", "--quiet",
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

static pid_t spawn_run(const char *db)
{
    return spawn_run_at(db, NULL);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Runs `rollgate run` and kills it after a random delay; returns 1 once a run ended itself. */
static int run_and_kill(const char *db, unsigned *seed)
{
    pid_t pid = spawn_run(db);
    long delay = 20 + (long)(rand_r(seed) % 500);
    int status = 0;

    assert_true(pid > 0);
    for (long waited = 0; waited < delay; waited += 10) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
            return 1;
        }
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return 0;
}

static void check_end_state(rg_e2e *ep);

/* One uninterrupted `rollgate run --until-done`. */
static void run_to_end(const char *db)
{
    int status = 0;
    pid_t pid = spawn_run(db);
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_killed_at_random_instants(void **state)
{
    const char *env = getenv("RG_CRASH_KILLS");
    int kills = env && *env ? atoi(env) : 30, killed = 0, rollouts = 0;
    unsigned seed = 20261122;
    (void)state;

    /* Rollout after rollout (each on a fresh simulator) until `kills` kills have landed. */
    while (killed < kills) {
        rg_e2e e;
        assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/demo.json", NULL, 200), 0);
        /* The engine in this process only started the rollout; the CLI drives it. */
        rg_engine_free(e.engine);
        e.engine = NULL;
        while (!rg_rollout_state_is_terminal(rg_e2e_state(&e))) {
            if (killed < kills)
                killed += !run_and_kill(e.db, &seed);
            else
                run_to_end(e.db);
        }
        check_end_state(&e);
        rg_e2e_end(&e);
        rollouts++;
    }
    fprintf(stderr, "killed rollgate run %d times over %d rollouts\n", killed, rollouts);
}

/* The end state of a bad change, however often it was killed: rolled back; every touched
 * target restored to its snapshot with exactly one apply and one restore PATCH; every
 * untouched one never PATCHed. */
static void check_end_state(rg_e2e *ep)
{
    rg_e2e e = *ep;
    rg_store_targets targets = {0};
    json_t *log;

    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLED_BACK);
    log = rg_e2e_requests(&e.sim);
    assert_non_null(log);
    assert_int_equal(rg_store_target_list(&targets, e.store, e.tenant, e.id), 0);
    for (size_t i = 0; i < targets.count; i++) {
        rg_store_target *t = &targets.items[i];
        int patches = rg_e2e_patches(log, t->org_id);
        json_t *snap = rg_e2e_snapshot(&e, t->org_id), *live = rg_e2e_live(&e.sim, t->org_id);
        if (t->state == RG_TARGET_PENDING) {
            assert_int_equal(patches, 0);
        } else {
            assert_int_equal(t->state, RG_TARGET_RESTORED);
            assert_non_null(snap); /* every snapshot present */
            if (patches != 2)
                fail_msg("%s received %d successful PATCHes (want one apply, one restore)",
                         t->org_id, patches);
            for (size_t f = 0; rg_body_fields[f]; f++)
                assert_true(json_equal(json_object_get(live, rg_body_fields[f]),
                                       json_object_get(snap, rg_body_fields[f])));
        }
        json_decref(snap);
        json_decref(live);
    }
    rg_store_targets_dispose(&targets);
    json_decref(log);
}

/* A crash landed exactly at each step, one after another, in one rollout. */
static void test_killed_at_every_step(void **state)
{
    static const char *const points[] = {"before_snapshot", "after_snapshot", "after_patch",
                                         "mid_poll", "after_restore_patch"};
    rg_e2e e;
    (void)state;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/demo.json", NULL, 200), 0);
    rg_engine_free(e.engine);
    e.engine = NULL;
    for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
        int status = 0;
        pid_t pid = spawn_run_at(e.db, points[i]);
        waitpid(pid, &status, 0);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            fail_msg("rollgate run did not die at %s (status %d)", points[i], status);
    }
    run_to_end(e.db);
    check_end_state(&e);
    rg_e2e_end(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_killed_at_random_instants),
        cmocka_unit_test(test_killed_at_every_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
