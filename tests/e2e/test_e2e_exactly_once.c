/* test_e2e_exactly_once.c - the promises of issue 13 tried the way a fault injector would:
 * analytics failing at a poll, a command killed between its effect and its completion, a
 * write-locked database, claimed resources, and two drivers against a slow platform. Writes
 * are counted from the simulator's request log, not from rollgate's own records. */
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
#include <libpq-fe.h>
#include <sqlite3.h>

#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/pg.h"
#include "support/skip.h"
#include "support/testutil.h"

/* Three looks over 9 s, the last one the first that may pass: a look that fails there is
 * the last planned poll. */
static const char last_poll_policy[] =
    "policy:\n"
    "  alpha: 0.05\n  sequential: group\n  stabilization_window: 9s\n  soak_limit: 9s\n"
    "  poll_interval: 3s\n  granularity: PT1S\n  settle: 1s\n  pre_window: 20s\n"
    "  breaker: {consecutive: 2}\n  on_inconclusive: hold\n  errors: {limit: 3}\n"
    "  verify_window: 4s\n  capacity: {min_ratio: 0.8}\n  metrics:\n"
    "    - {name: abandonment_rate, kind: proportion, events: tAbandon, trials: nOffered,\n"
    "       increase_is_bad: true, tolerance: {relative: 0.15}, critical: true}\n"
    "    - {name: speed_of_answer, kind: mean, source: tAnswered, increase_is_bad: true,\n"
    "       tolerance: {absolute: 10s}}\n";

/* ---- the CLI as a child process ---- */

/* Runs `rollgate --db DB ARGS...` with stdout and stderr to files (NULL: /dev/null) and
 * ROLLGATE_TEST_CRASH_AT set to crash_at (NULL: unset). */
static pid_t spawn_cli(const char *db, const char *crash_at, const char *out, const char *err,
                       const char *const *args)
{
    char bin[1024];
    const char *argv[24];
    size_t n = 0;
    pid_t pid;

    snprintf(bin, sizeof(bin), "%s/cli/rollgate", rg_test_binary_dir());
    argv[n++] = bin;
    argv[n++] = "--db";
    argv[n++] = db;
    for (size_t i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid = fork();
    if (pid == 0) {
        int o = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (crash_at)
            setenv("ROLLGATE_TEST_CRASH_AT", crash_at, 1);
        else
            unsetenv("ROLLGATE_TEST_CRASH_AT");
        dup2(o, STDOUT_FILENO);
        dup2(e, STDERR_FILENO);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    assert_true(pid > 0);
    return pid;
}

/* The child's exit status within `limit_ms`, or -1 (still running) after it. */
static int wait_exit(pid_t pid, long limit_ms, int *out_signal)
{
    int status = 0;
    for (long waited = 0; waited <= limit_ms; waited += 20) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            *out_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        }
        rg_e2e_sleep_ms(20);
    }
    return -1;
}

static int run_cli(const char *db, const char *crash_at, const char *out, const char *err,
                   const char *const *args, int *out_signal)
{
    pid_t pid = spawn_cli(db, crash_at, out, err, args);
    int sig = 0, code = wait_exit(pid, 120000, &sig);
    if (code < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("rollgate %s did not finish in 120 s", args[0]);
    }
    if (out_signal)
        *out_signal = sig;
    return code;
}

/* ---- reading the outcome ---- */

static json_t *book_of(rg_e2e *e)
{
    rg_store_rollout row = {0};
    json_t *book = NULL;
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0 && row.baseline)
        book = json_loads(row.baseline, 0, NULL);
    rg_store_rollout_dispose(&row);
    return book ? book : json_object();
}

static int64_t book_int(rg_e2e *e, const char *key)
{
    json_t *book = book_of(e);
    int64_t v = json_integer_value(json_object_get(book, key));
    json_decref(book);
    return v;
}

static int stage_index(rg_e2e *e)
{
    rg_store_rollout row = {0};
    int s = -1;
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0)
        s = row.stage_index;
    rg_store_rollout_dispose(&row);
    return s;
}

static int polled_once(rg_e2e *e)
{
    return book_int(e, "poll") >= 1 || rg_e2e_state(e) != RG_ROLLOUT_RUNNING;
}

static int polled_twice(rg_e2e *e)
{
    return book_int(e, "poll") >= 2 || rg_e2e_state(e) != RG_ROLLOUT_RUNNING;
}

static int one_error(rg_e2e *e)
{
    return book_int(e, "errors") >= 1 || rg_e2e_state(e) != RG_ROLLOUT_RUNNING;
}

static int left_stage_one(rg_e2e *e)
{
    return stage_index(e) != 0 || rg_e2e_state(e) != RG_ROLLOUT_RUNNING;
}

static int not_running(rg_e2e *e)
{
    return rg_e2e_state(e) != RG_ROLLOUT_RUNNING;
}

/* No (stage, poll, metric) has two verdicts, no (kind, from, to, stage) event twice among
 * the events a rollout makes once. */
static void assert_no_duplicate_rows(rg_e2e *e)
{
    rg_store_verdicts v = {0};
    rg_store_events ev = {0};
    json_t *seen = json_object();

    assert_int_equal(rg_store_verdict_list(&v, e->store, e->tenant, e->id, -1), 0);
    for (size_t i = 0; i < v.count; i++) {
        char key[256];
        snprintf(key, sizeof(key), "v/%d/%d/%s", v.items[i].stage, v.items[i].poll,
                 v.items[i].metric);
        if (json_object_get(seen, key))
            fail_msg("verdict %s recorded twice", key);
        json_object_set_new(seen, key, json_true());
    }
    assert_int_equal(rg_store_event_list(&ev, e->store, e->tenant, e->id, 0), 0);
    for (size_t i = 0; i < ev.count; i++) {
        const rg_store_event *x = &ev.items[i];
        json_t *detail = x->detail ? json_loads(x->detail, 0, NULL) : NULL;
        char key[512];
        if (strcmp(x->kind, "state") != 0 && strcmp(x->kind, "tripped") != 0 &&
            strcmp(x->kind, "restored") != 0 && strcmp(x->kind, "stage_applied") != 0 &&
            strcmp(x->kind, "promoted") != 0 && strcmp(x->kind, "levels") != 0) {
            json_decref(detail);
            continue;
        }
        snprintf(key, sizeof(key), "e/%s/%s/%s/%lld/%lld/%lld", x->kind,
                 x->from_state ? x->from_state : "", x->to_state ? x->to_state : "",
                 (long long)json_integer_value(json_object_get(detail, "stage")),
                 (long long)json_integer_value(json_object_get(detail, "poll")),
                 (long long)json_integer_value(json_object_get(detail, "from")));
        json_decref(detail);
        if (json_object_get(seen, key))
            fail_msg("event %s recorded twice", key);
        json_object_set_new(seen, key, json_true());
    }
    json_decref(seen);
    rg_store_verdicts_dispose(&v);
    rg_store_events_dispose(&ev);
}

/* Every org got at most one successful apply PATCH and, when `restore`, exactly one more
 * for its restore (the sim's log): `applied` orgs had the apply. */
static void assert_patches(rg_e2e *e, int restore)
{
    rg_store_targets targets = {0};
    json_t *log = rg_e2e_requests(&e->sim);

    assert_non_null(log);
    assert_int_equal(rg_store_target_list(&targets, e->store, e->tenant, e->id), 0);
    for (size_t i = 0; i < targets.count; i++) {
        const rg_store_target *t = &targets.items[i];
        int patches = rg_e2e_patches(log, t->org_id);
        int want = t->state == RG_TARGET_PENDING ? 0 : restore ? 2 : 1;
        if (patches != want)
            fail_msg("%s (%s) received %d successful PATCHes, want %d", t->org_id,
                     rg_target_state_to_str(t->state), patches, want);
    }
    rg_store_targets_dispose(&targets);
    json_decref(log);
}

/* An in-process driver whose platform client does not retry, so an analytics failure is
 * one failed look at once. */
static void begin_no_retry(rg_e2e *e, const char *scenario, const char *policy)
{
    rg_engine_options opts;
    assert_int_equal(rg_e2e_begin(e, scenario, policy, 200), 0);
    rg_engine_free(e->engine);
    rg_engine_options_init(&opts);
    opts.tick_ms = 200;
    opts.platform.max_retries = 0;
    assert_int_equal(rg_engine_new(&e->engine, e->store, &opts), 0);
}

/* ---- polls ---- */

/* Analytics failing from the last planned poll on: the rollout holds after errors.limit
 * failed looks with the reason. It used to stay running forever. */
static void test_analytics_failing_at_the_last_poll_holds(void **state)
{
    rg_e2e e;
    rg_store_rollout row = {0};
    rg_store_verdicts v = {0};
    size_t errors = 0;
    (void)state;

    begin_no_retry(&e, "sim/scenarios/healthy.json", last_poll_policy);
    assert_int_equal(rg_e2e_drive(&e, polled_twice, 400), 0);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_RUNNING);
    assert_int_equal(rg_simproc_faults(&e.sim, "{\"error_rate\":1.0,\"error_status\":503}"), 0);
    if (rg_e2e_drive(&e, not_running, 300) < 0)
        fail_msg("still running after analytics failed at the last poll: %s", rg_error_last());
    assert_int_equal(rg_store_rollout_get(&row, e.store, e.tenant, e.id), 0);
    assert_int_equal(row.state, RG_ROLLOUT_HELD);
    assert_non_null(strstr(row.hold_reason, "analytics errors in a row"));
    rg_store_rollout_dispose(&row);
    assert_int_equal(rg_store_verdict_list(&v, e.store, e.tenant, e.id, 0), 0);
    for (size_t i = 0; i < v.count; i++)
        if (v.items[i].poll == 3) {
            assert_string_equal(v.items[i].test, "error");
            errors++;
        }
    assert_int_equal(errors, 2); /* one per metric, however many failed looks */
    rg_store_verdicts_dispose(&v);
    assert_no_duplicate_rows(&e);
    rg_e2e_end(&e);
}

/* One failed look, then analytics recover: the failed look is retried (not used up) and
 * the rollout goes on to decide. */
static void test_analytics_failing_once_then_recovering_decides(void **state)
{
    rg_e2e e;
    rg_store_verdicts v = {0};
    int poll2 = 0;
    (void)state;

    begin_no_retry(&e, "sim/scenarios/healthy.json", last_poll_policy);
    assert_int_equal(rg_e2e_drive(&e, polled_once, 400), 0);
    assert_int_equal(rg_simproc_faults(&e.sim, "{\"error_rate\":1.0,\"error_status\":503}"), 0);
    assert_int_equal(rg_e2e_drive(&e, one_error, 100), 0);
    assert_int_equal(book_int(&e, "poll"), 1); /* the failed look did not count */
    assert_int_equal(rg_simproc_faults(&e.sim, "{}"), 0);
    if (rg_e2e_drive(&e, left_stage_one, 400) < 0)
        fail_msg("stage 1 undecided after analytics recovered: %s", rg_error_last());
    assert_true(stage_index(&e) == 1 || rg_e2e_state(&e) == RG_ROLLOUT_HELD ||
                rg_e2e_state(&e) == RG_ROLLOUT_ROLLING_BACK);
    assert_int_equal(rg_store_verdict_list(&v, e.store, e.tenant, e.id, 0), 0);
    for (size_t i = 0; i < v.count; i++)
        if (v.items[i].poll == 2) {
            assert_string_not_equal(v.items[i].test, "error"); /* the retry's verdict */
            poll2++;
        }
    assert_int_equal(poll2, 2);
    rg_store_verdicts_dispose(&v);
    assert_no_duplicate_rows(&e);
    rg_e2e_end(&e);
}

/* ---- commands ---- */

static size_t count_events(rg_e2e *e, const char *kind)
{
    rg_store_events ev = {0};
    size_t n = 0;
    assert_int_equal(rg_store_event_list(&ev, e->store, e->tenant, e->id, 0), 0);
    for (size_t i = 0; i < ev.count; i++)
        n += strcmp(ev.items[i].kind, kind) == 0;
    rg_store_events_dispose(&ev);
    return n;
}

static int reached_stage_three(rg_e2e *e)
{
    return stage_index(e) >= 2 || rg_e2e_state(e) != RG_ROLLOUT_RUNNING;
}

/* A queued `promote --force`, the driver killed after its effect and before its completion:
 * the restarted driver promotes once, and the next stage is soaked and gated. */
static void test_command_killed_between_effect_and_completion(void **state)
{
    static const char *const once[] = {"run", "--once", "--tick", "200ms", "--quiet", NULL};
    rg_e2e e;
    rg_store_command_in queued = {0};
    rg_store_command c = {0};
    rg_store_commands pending = {0};
    rg_store_verdicts v = {0};
    int64_t cid = 0;
    int sig = 0;
    (void)state;

    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json", NULL, 200), 0);
    assert_int_equal(rg_e2e_drive(&e, rg_e2e_stage_one_applied, 100), 0);
    /* This process stops driving; the command waits in the queue for the CLI's driver. */
    assert_int_equal(
        rg_store_lease_release(NULL, e.store, e.tenant, e.id, rg_engine_owner(e.engine)), 0);
    queued.rollout_id = e.id;
    queued.tenant_id = e.tenant;
    queued.kind = RG_COMMAND_PROMOTE;
    queued.actor = "alice";
    queued.reason = "skip the soak";
    queued.force = 1;
    assert_int_equal(rg_store_command_enqueue(&cid, e.store, &queued), 0);
    run_cli(e.db, "command_effect", NULL, NULL, once, &sig);
    if (sig != SIGKILL)
        fail_msg("rollgate run did not die at command_effect (signal %d)", sig);
    /* The kill undid the effect with the completion. */
    assert_int_equal(stage_index(&e), 0);
    assert_int_equal(rg_store_command_list_pending(&pending, e.store, e.tenant, e.id), 0);
    assert_int_equal(pending.count, 1);
    rg_store_commands_dispose(&pending);
    assert_int_equal(run_cli(e.db, NULL, NULL, NULL, once, NULL), 0);
    assert_int_equal(stage_index(&e), 1);
    assert_int_equal(count_events(&e, "promoted"), 1);
    assert_int_equal(rg_store_command_get(&c, e.store, e.tenant, cid), 0);
    assert_int_equal(c.state, RG_COMMAND_DONE);
    rg_store_command_dispose(&c);
    /* Resuming here (the CLI's lease is a dead pid's): stage 2 is soaked before stage 3. */
    assert_int_equal(run_cli(e.db, NULL, NULL, NULL, once, NULL), 0);
    assert_int_equal(rg_e2e_drive(&e, reached_stage_three, 600), 0);
    assert_int_equal(rg_store_verdict_list(&v, e.store, e.tenant, e.id, 1), 0);
    if (v.count == 0)
        fail_msg("stage 2 left without a verdict");
    rg_store_verdicts_dispose(&v);
    assert_int_equal(count_events(&e, "promoted"), 2);
    assert_patches(&e, 0);
    assert_no_duplicate_rows(&e);
    rg_e2e_end(&e);
}

/* ---- a busy database ---- */

static size_t count_in_file(const char *path, const char *needle)
{
    char *text = rg_test_read_file(path, NULL);
    size_t n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(text);
    return n;
}

static int some_target_applied(rg_e2e *e)
{
    rg_store_targets targets = {0};
    int yes = 0;
    if (rg_store_target_list(&targets, e->store, e->tenant, e->id) == 0)
        for (size_t i = 0; i < targets.count; i++)
            yes |= targets.items[i].state == RG_TARGET_APPLIED;
    rg_store_targets_dispose(&targets);
    return yes;
}

/* Another client holds the write lock for 8 s during `rollgate run`: the run waits (one log
 * line) and completes; `status` answers during the lock. */
static void test_write_locked_database_waits(void **state)
{
    static const char *const run[] = {"run", "--until-done", "--tick", "200ms", "--quiet", NULL};
    char out[700], err[700], status_out[700];
    const char *status[] = {"status", NULL, "--json", NULL};
    rg_e2e e;
    sqlite3 *db = NULL;
    PGconn *pg = NULL;
    PGresult *res = NULL;
    pid_t pid;
    int sig = 0, code;
    int64_t locked_at;
    (void)state;

    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/demo.json", NULL, 200), 0);
    rg_engine_free(e.engine);
    e.engine = NULL;
    snprintf(out, sizeof(out), "%s/run.out", e.dir);
    snprintf(err, sizeof(err), "%s/run.err", e.dir);
    snprintf(status_out, sizeof(status_out), "%s/status.out", e.dir);
    status[1] = e.id;
    pid = spawn_cli(e.db, NULL, out, err, run);
    for (int i = 0; i < 300 && !some_target_applied(&e); i++)
        rg_e2e_sleep_ms(50);
    assert_true(some_target_applied(&e));
    if (rg_test_pg_backend()) {
        /* PostgreSQL: the tables the driver writes locked against writes (reads pass). */
        pg = PQconnectdb(e.db);
        assert_int_equal(PQstatus(pg), CONNECTION_OK);
        res = PQexec(pg, "BEGIN; LOCK TABLE rollouts, targets, leases, events, snapshots"
                         " IN EXCLUSIVE MODE");
        assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
        PQclear(res);
    } else {
        assert_int_equal(sqlite3_open_v2(e.db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    }
    locked_at = rg_time_mono_ms();
    /* status answers while the lock is held */
    code = run_cli(e.db, NULL, status_out, NULL, status, NULL);
    assert_int_equal(code, 0);
    /* it answered while the lock was still held (before this test released it) */
    {
        /* who drives it, at which epoch, and for how long: by the database's clock */
        json_t *st = json_load_file(status_out, 0, NULL), *lease = json_object_get(st, "lease");
        assert_string_equal(json_string_value(json_object_get(st, "id")), e.id);
        assert_true(json_integer_value(json_object_get(lease, "epoch")) >= 1);
        assert_true(json_integer_value(json_object_get(lease, "ttl_ms")) >= 30000);
        assert_true(json_is_integer(json_object_get(lease, "batch_ms")));
        json_decref(st);
    }
    while (rg_time_mono_ms() - locked_at < 8000) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            fail_msg("rollgate run exited while the database was locked");
        rg_e2e_sleep_ms(100);
    }
    if (pg) {
        res = PQexec(pg, "COMMIT");
        assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
        PQclear(res);
        PQfinish(pg);
    } else {
        assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    code = wait_exit(pid, 120000, &sig);
    if (code != 0) {
        char *text = rg_test_read_file(err, NULL);
        fail_msg("rollgate run ended %d (signal %d): %s", code, sig, text ? text : "");
    }
    assert_int_equal(count_in_file(err, "locked by another client"), 1);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLED_BACK);
    assert_patches(&e, 1);
    assert_no_duplicate_rows(&e);
    rg_e2e_end(&e);
}

/* ---- claims ---- */

/* The first line of a file (the id `start` prints). */
static void first_line(char *out, size_t outlen, const char *path)
{
    char *text = rg_test_read_file(path, NULL);
    assert_non_null(text);
    snprintf(out, outlen, "%.*s", (int)strcspn(text, "\n"), text);
    free(text);
}

static void test_claimed_resources_refuse_a_second_start(void **state)
{
    static const char *const run[] = {"run", "--until-done", "--tick", "200ms", "--quiet", NULL};
    char out[700], err[700], other[700], first[64], *text;
    const char *start[] = {"start", NULL, NULL};
    const char *rollback[] = {"rollback", first, "--reason", "make room", NULL};
    rg_e2e e;
    (void)state;

    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json", NULL, 200), 0);
    rg_engine_free(e.engine);
    e.engine = NULL;
    snprintf(out, sizeof(out), "%s/start.out", e.dir);
    snprintf(err, sizeof(err), "%s/start.err", e.dir);
    start[1] = e.manifest;
    /* rg_e2e_begin started one; the same orgs again are refused with exit 3 naming it */
    assert_int_equal(run_cli(e.db, NULL, out, err, start, NULL), 3);
    text = rg_test_read_file(err, NULL);
    assert_non_null(text);
    if (strstr(text, e.id) == NULL)
        fail_msg("refusal does not name the holder %s: %s", e.id, text);
    free(text);
    /* another tenant on the same orgs: refused without seeing the holder's id */
    snprintf(other, sizeof(other), "%s/other.yaml", e.dir);
    text = rg_test_read_file(e.manifest, NULL);
    assert_non_null(text);
    /* Overwrites bytes inside an already terminated string. */
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result)
    memcpy(strstr(text, "tenant: e2e"), "tenant: zz9", 11);
    assert_int_equal(rg_test_write_file(other, text), 0);
    free(text);
    start[1] = other;
    assert_int_equal(run_cli(e.db, NULL, out, err, start, NULL), 3);
    text = rg_test_read_file(err, NULL);
    assert_non_null(strstr(text, "another rollout"));
    assert_null(strstr(text, e.id));
    free(text);
    /* once the first ends, the orgs are free */
    snprintf(first, sizeof(first), "%s", e.id);
    assert_int_equal(run_cli(e.db, NULL, NULL, NULL, rollback, NULL), 0);
    assert_int_equal(run_cli(e.db, NULL, NULL, NULL, run, NULL), 0);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLED_BACK);
    start[1] = e.manifest;
    assert_int_equal(run_cli(e.db, NULL, out, err, start, NULL), 0);
    first_line(first, sizeof(first), out);
    assert_true(strncmp(first, "ro_", 3) == 0 && strcmp(first, e.id) != 0);
    rg_e2e_end(&e);
}

/* ---- two drivers ---- */

/* Two `rollgate run` at once against a platform answering in 1.5 s: one driver at a time
 * writes, every org gets exactly one apply and one restore PATCH. */
static void two_drivers(const char *tick, const char *lease)
{
    const char *run[] = {"run", "--until-done", "--quiet", NULL, NULL, NULL, NULL, NULL};
    char err1[700], err2[700];
    size_t n = 3;
    rg_e2e e;
    pid_t a, b;
    int sa = 0, sb = 0, ca, cb;

    if (tick) {
        run[n++] = "--tick";
        run[n++] = tick;
    }
    if (lease) {
        run[n++] = "--lease";
        run[n++] = lease;
    }
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/demo.json", NULL, 200), 0);
    rg_engine_free(e.engine);
    e.engine = NULL;
    snprintf(err1, sizeof(err1), "%s/a.err", e.dir);
    snprintf(err2, sizeof(err2), "%s/b.err", e.dir);
    assert_int_equal(rg_simproc_faults(&e.sim, "{\"latency_ms\":1500}"), 0);
    a = spawn_cli(e.db, NULL, NULL, err1, run);
    b = spawn_cli(e.db, NULL, NULL, err2, run);
    ca = wait_exit(a, 240000, &sa);
    cb = wait_exit(b, 240000, &sb);
    if (ca != 0 || cb != 0)
        fail_msg("drivers ended %d and %d", ca, cb);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLED_BACK);
    assert_patches(&e, 1);
    assert_no_duplicate_rows(&e);
    fprintf(stderr, "two drivers (tick %s, lease %s): leases lost %zu + %zu times\n",
            tick ? tick : "default", lease ? lease : "default", count_in_file(err1, "lease lost"),
            count_in_file(err2, "lease lost"));
    rg_e2e_end(&e);
}

static void test_two_drivers_fast_tick_short_lease(void **state)
{
    (void)state;
    /* a 600 ms first lease under 1.5 s batches: takeovers happen, fencing must hold */
    two_drivers("200ms", "100ms");
}

static void test_two_drivers_default_tick(void **state)
{
    (void)state;
    two_drivers(NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_analytics_failing_at_the_last_poll_holds),
        cmocka_unit_test(test_analytics_failing_once_then_recovering_decides),
        cmocka_unit_test(test_command_killed_between_effect_and_completion),
        cmocka_unit_test(test_write_locked_database_waits),
        cmocka_unit_test(test_claimed_resources_refuse_a_second_start),
        cmocka_unit_test(test_two_drivers_fast_tick_short_lease),
        cmocka_unit_test(test_two_drivers_default_tick),
    };
    if (rg_test_pg_backend_missing())
        return rg_test_exit(0);
    return rg_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
