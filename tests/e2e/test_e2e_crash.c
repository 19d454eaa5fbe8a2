/* test_e2e_crash.c - `rollgate run` SIGKILLed at random instants of a bad-change rollout and
 * at every named durable step, restarted each time: no snapshot lost, no apply or restore
 * PATCH sent twice (the simulator's log), no verdict or event row twice, and the same end
 * state as a run left alone. RG_CRASH_KILLS sets the number of random kills (default 30);
 * where they landed is reported from the durable state and the last narrated step. */
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

/* `rollgate run --until-done`; with `narration` its narration goes there, else nowhere. */
static pid_t spawn_run_to(const char *db, const char *crash_at, const char *narration,
                          const char *crash_log)
{
    char bin[1024];
    pid_t pid;

    snprintf(bin, sizeof(bin), "%s/cli/rollgate", rg_test_binary_dir());
    pid = fork();
    if (pid == 0) {
        int out = open(narration ? narration : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (crash_at)
            setenv("ROLLGATE_TEST_CRASH_AT", crash_at, 1);
        else
            unsetenv("ROLLGATE_TEST_CRASH_AT");
        if (crash_log)
            setenv("ROLLGATE_TEST_CRASH_LOG", crash_log, 1);
        else
            unsetenv("ROLLGATE_TEST_CRASH_LOG");
        dup2(out, STDOUT_FILENO);
        if (narration)
            execl(bin, bin, "--db", db, "run", "--until-done", "--tick", "200ms", (char *)NULL);
        else
            execl(bin, bin, "--db", db, "run", "--until-done", "--tick", "200ms", "--quiet",
                  (char *)NULL);
        _exit(127);
    }
    return pid;
}

static pid_t spawn_run_at(const char *db, const char *crash_at)
{
    return spawn_run_to(db, crash_at, NULL, NULL);
}

static pid_t spawn_run(const char *db)
{
    return spawn_run_at(db, NULL);
}

/* Where a kill landed: the step in progress by the durable state, and the last step the
 * driver narrated before it died. */
static void landed(char *out, size_t outlen, rg_e2e *e, const char *narration)
{
    rg_store_rollout row = {0};
    rg_store_targets targets = {0};
    char *text = rg_test_read_file(narration, NULL), *last = NULL, step[96] = "?";
    char kind[32] = "nothing";
    size_t snapped = 0, restored = 0, touched = 0;

    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0 &&
        rg_store_target_list(&targets, e->store, e->tenant, e->id) == 0) {
        for (size_t i = 0; i < targets.count; i++) {
            rg_target_state s = targets.items[i].state;
            snapped += s == RG_TARGET_SNAPSHOTTED;
            restored += s == RG_TARGET_RESTORED;
            touched += s != RG_TARGET_PENDING;
        }
        if (row.state == RG_ROLLOUT_RUNNING && row.stage_applied_at_ms == 0)
            snprintf(step, sizeof(step), "apply stage %d%s", row.stage_index + 1,
                     snapped ? " (snapshot taken, PATCH unrecorded)" : "");
        else if (row.state == RG_ROLLOUT_RUNNING)
            snprintf(step, sizeof(step), "soak stage %d", row.stage_index + 1);
        else if (row.state == RG_ROLLOUT_ROLLING_BACK)
            snprintf(step, sizeof(step), "%s", restored < touched ? "restore" : "verify");
        else
            snprintf(step, sizeof(step), "%s", rg_rollout_state_to_str(row.state));
    }
    /* narration lines: "HH:MM:SS <id> <kind> <text>" */
    for (char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (*p != '\n')
            last = p;
    if (last && sscanf(last, "%*s %*s %31s", kind) != 1)
        snprintf(kind, sizeof(kind), "?");
    snprintf(out, outlen, "%s, after a '%s' line", step, kind);
    free(text);
    rg_store_rollout_dispose(&row);
    rg_store_targets_dispose(&targets);
}

/* Runs `rollgate run` and kills it; returns 1 once a run ended itself. Every other kill is
 * at a random instant; the others land on work: the process dies at the N-th durable step it
 * reaches (N random, ROLLGATE_TEST_CRASH_AT=any:N), which names itself. Each kill is counted
 * in `where` by where it landed. */
static int run_and_kill(rg_e2e *e, unsigned *seed, json_t *where, int on_work)
{
    char narration[700], crash_log[700], at[256], any[32];
    pid_t pid;
    long delay = on_work ? 30000 : 20 + (long)(rand_r(seed) % 500);
    int status = 0;

    snprintf(narration, sizeof(narration), "%s/narration.txt", e->dir);
    snprintf(crash_log, sizeof(crash_log), "%s/crash-point.txt", e->dir);
    snprintf(any, sizeof(any), "any:%d", 1 + (int)(rand_r(seed) % 8));
    unlink(crash_log);
    pid = spawn_run_to(e->db, on_work ? any : NULL, narration, on_work ? crash_log : NULL);
    assert_true(pid > 0);
    for (long waited = 0; waited < delay; waited += 10) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && on_work)
                goto killed; /* it died at its N-th step */
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
            return 1;
        }
        rg_e2e_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
killed : {
    char *point = rg_test_read_file(crash_log, NULL);
    if (point) {
        snprintf(at, sizeof(at), "at step %s", point);
        free(point);
    } else {
        char step[200];
        landed(step, sizeof(step), e, narration);
        snprintf(at, sizeof(at), "instant in %s", step);
    }
}
    json_object_set_new(where, at,
                        json_integer(json_integer_value(json_object_get(where, at)) + 1));
    return 0;
}

static void check_end_state(rg_e2e *ep);

/* No look judged twice, no step's event recorded twice (the schema refuses a second verdict
 * for a (stage, poll, metric); this checks what a resumed driver wrote, not the schema). */
static void check_no_duplicates(rg_e2e *e)
{
    rg_store_verdicts v = {0};
    rg_store_events ev = {0};
    json_t *seen = json_object();

    assert_int_equal(rg_store_verdict_list(&v, e->store, e->tenant, e->id, -1), 0);
    for (size_t i = 0; i < v.count; i++) {
        char key[256];
        snprintf(key, sizeof(key), "verdict %d/%d/%s", v.items[i].stage, v.items[i].poll,
                 v.items[i].metric);
        if (json_object_get(seen, key))
            fail_msg("%s recorded twice", key);
        json_object_set_new(seen, key, json_true());
    }
    assert_int_equal(rg_store_event_list(&ev, e->store, e->tenant, e->id, 0), 0);
    for (size_t i = 0; i < ev.count; i++) {
        const rg_store_event *x = &ev.items[i];
        json_t *d = x->detail ? json_loads(x->detail, 0, NULL) : NULL;
        char key[512];
        if (strcmp(x->kind, "target_skipped") == 0) {
            json_decref(d);
            continue;
        }
        /* an event is one step: its kind, states and the stage/poll it is about */
        snprintf(key, sizeof(key), "event %s %s->%s stage %lld poll %lld from %lld", x->kind,
                 x->from_state ? x->from_state : "", x->to_state ? x->to_state : "",
                 (long long)json_integer_value(json_object_get(d, "stage")),
                 (long long)json_integer_value(json_object_get(d, "poll")),
                 (long long)json_integer_value(json_object_get(d, "from")));
        json_decref(d);
        if (json_object_get(seen, key))
            fail_msg("%s recorded twice", key);
        json_object_set_new(seen, key, json_true());
    }
    json_decref(seen);
    rg_store_verdicts_dispose(&v);
    rg_store_events_dispose(&ev);
}

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
    /* Test-only value produced by the test harness. */
    // NOLINTNEXTLINE(cert-err34-c)
    int kills = env && *env ? atoi(env) : 30, killed = 0, rollouts = 0;
    unsigned seed = 20261122;
    json_t *where = json_object();
    const char *at;
    json_t *n;
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
                killed += !run_and_kill(&e, &seed, where, killed % 2);
            else
                run_to_end(e.db);
        }
        check_end_state(&e);
        rg_e2e_end(&e);
        rollouts++;
    }
    fprintf(stderr, "killed rollgate run %d times over %d rollouts; the kills landed in:\n", killed,
            rollouts);
    json_object_foreach(where, at, n)
        fprintf(stderr, "  %3lld  %s\n", (long long)json_integer_value(n), at);
    json_decref(where);
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
    check_no_duplicates(&e);
}

/* A crash landed exactly at each step, one after another, in one rollout. */
static void test_killed_at_every_step(void **state)
{
    /* In the order a bad change reaches them; each kill resumes where the last left off. */
    static const char *const points[] = {
        "before_snapshot",       /* GET answered, snapshot not yet committed */
        "after_snapshot",        /* snapshot committed, no PATCH sent */
        "after_patch",           /* PATCH answered, not recorded */
        "before_commit",         /* the stage's close and its event, uncommitted */
        "mid_poll",              /* telemetry stored, no verdict */
        "verdicts_stored",       /* a look's verdicts written, its record uncommitted */
        "after_trip",            /* the trip's event written, state not yet changed */
        "after_state_save",      /* state saved, its event not yet written */
        "after_restore_patch",   /* restore PATCH answered, not recorded */
        "between_restore_tiers", /* one tier restored and recorded, the next not begun */
    };
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
