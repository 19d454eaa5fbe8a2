/* poll_tick.c - benchmark: the tick that runs a poll (analytics fetch for every canary and
 * control org, measurements stored, verdicts computed) at N target orgs on rollgate-sim.
 * A rollout of stages [10, 100] is started and its first stage applied in one child process;
 * each timed poll then runs in a child of its own (wall time, peak RSS, platform requests). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "rollgate/engine.h"
#include "rollgate/store.h"
#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/simproc.h"
#include "support/testutil.h"

#define OWNER "bench-poll"
#define POLL_MS 3000
#define POLLS 2

/* Short windows, as the demo's, so a poll is due 3 s after the stage is applied. */
static const char policy[] =
    "policy:\n"
    "  alpha: 0.05\n  sequential: group\n  stabilization_window: 6s\n  soak_limit: 24s\n"
    "  poll_interval: 3s\n  granularity: PT1S\n  settle: 1s\n  pre_window: 60s\n"
    "  breaker: {consecutive: 2}\n  on_inconclusive: hold\n  errors: {limit: 3}\n"
    "  verify_window: 10s\n  capacity: {min_ratio: 0.8}\n  metrics:\n"
    "    - {name: abandonment_rate, kind: proportion, events: tAbandon, trials: nOffered,\n"
    "       increase_is_bad: true, tolerance: {relative: 0.15}, critical: true}\n"
    "    - {name: speed_of_answer, kind: mean, source: tAnswered, increase_is_bad: true,\n"
    "       tolerance: {absolute: 10s}}\n";

typedef struct {
    int ok;
    char error[300];
    char id[RG_STORE_ROLLOUT_ID_LEN];
    double ms;
    double cpu_s; /* this process's user + system CPU in the timed tick */
    long requests;
    long verdicts;
    double rss_mib;
} result;

static double cpu_now_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(int64_t epoch_ms)
{
    for (int64_t wait; (wait = epoch_ms - rg_time_now_ms()) > 0;) {
        struct timespec ts = {wait / 1000, (wait % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

typedef struct {
    const char *dir;
    const char *db;
    result *setup; /* for the polls: the rollout id */
} arg;

static int open_engine(rg_store **store, rg_engine **engine, const char *db)
{
    rg_engine_options opts;
    int rc;

    rg_engine_options_init(&opts);
    opts.owner = OWNER; /* every child is the same driver: the lease stays ours */
    if ((rc = rg_store_open(store, db)) < 0)
        return rc;
    return rg_engine_new(engine, *store, &opts);
}

/* Starts the rollout and ticks until its first stage is applied. */
static void setup(result *r, void *p)
{
    const arg *a = p;
    char manifest[700];
    rg_manifest *m = NULL;
    rg_store *store = NULL;
    rg_engine *engine = NULL;
    rg_store_rollout row = {0};
    int64_t next = 0;
    int rc;

    snprintf(manifest, sizeof(manifest), "%s/manifest.yaml", a->dir);
    if ((rc = rg_manifest_load_file(&m, manifest, NULL)) < 0 ||
        (rc = open_engine(&store, &engine, a->db)) < 0 ||
        (rc = rg_engine_start(r->id, engine, m, a->dir, "bench", 1)) < 0)
        goto out;
    for (int i = 0; i < 100000 && rc == 0; i++) {
        if ((rc = rg_engine_tick_rollout(engine, "bench", r->id, &next)) < 0 ||
            (rc = rg_store_rollout_get(&row, store, "bench", r->id)) < 0)
            break;
        if (row.stage_applied_at_ms != 0 || rg_rollout_state_is_terminal(row.state) ||
            row.state != RG_ROLLOUT_RUNNING) {
            if (row.state != RG_ROLLOUT_RUNNING)
                rc = rg_error_set(RG_EINVALID, "the rollout is %s before its first poll",
                                  rg_rollout_state_to_str(row.state));
            rg_store_rollout_dispose(&row);
            break;
        }
        rg_store_rollout_dispose(&row);
        sleep_until(next);
    }
out:
    if (rc < 0)
        snprintf(r->error, sizeof(r->error), "setup: %s", rg_error_last());
    r->ok = rc == 0;
    rg_engine_free(engine);
    rg_store_free(store);
    rg_manifest_free(m);
}

/* Waits for the next poll, then times the one tick that runs it. */
static void poll_once(result *r, void *p)
{
    const arg *a = p;
    rg_store *store = NULL;
    rg_engine *engine = NULL;
    rg_engine_metrics m0, m1;
    rg_store_verdicts before = {0}, after = {0};
    int64_t next = 0;
    double t0, c0;
    int rc;

    if ((rc = open_engine(&store, &engine, a->db)) < 0 ||
        (rc = rg_store_verdict_list(&before, store, "bench", a->setup->id, 0)) < 0)
        goto out;
    /* One untimed step says when the poll is due (the lease renewed, nothing else done). */
    if ((rc = rg_engine_tick_rollout(engine, "bench", a->setup->id, &next)) < 0)
        goto out;
    sleep_until(next);
    rg_engine_get_metrics(&m0, engine);
    c0 = cpu_now_s();
    t0 = now_s();
    rc = rg_engine_tick_rollout(engine, "bench", a->setup->id, &next);
    r->ms = (now_s() - t0) * 1000.0;
    r->cpu_s = cpu_now_s() - c0;
    rg_engine_get_metrics(&m1, engine);
    r->requests = (long)(m1.platform_requests - m0.platform_requests);
    if (rc == 0 && (rc = rg_store_verdict_list(&after, store, "bench", a->setup->id, 0)) == 0)
        r->verdicts = (long)(after.count - before.count);
    if (rc == 0 && r->verdicts == 0)
        rc = rg_error_set(RG_EINVALID, "the timed tick ran no poll (no new verdict)");
out:
    r->rss_mib = bench_peak_rss_mib();
    if (rc < 0)
        snprintf(r->error, sizeof(r->error), "poll: %s", rg_error_last());
    r->ok = rc == 0;
    rg_store_verdicts_dispose(&before);
    rg_store_verdicts_dispose(&after);
    rg_engine_free(engine);
    rg_store_free(store);
}

static int in_child(result *out, void (*fn)(result *, void *), void *p)
{
    int fds[2], status = 0;
    pid_t pid;
    ssize_t n;

    fflush(NULL);
    if (pipe(fds) != 0 || (pid = fork()) < 0)
        return rg_error_set(RG_EIO, "cannot fork a measurement child: %s", strerror(errno));
    if (pid == 0) {
        result r;
        memset(&r, 0, sizeof(r));
        close(fds[0]);
        fn(&r, p);
        n = write(fds[1], &r, sizeof(r));
        _exit(n == (ssize_t)sizeof(r) ? 0 : 1);
    }
    close(fds[1]);
    n = read(fds[0], out, sizeof(*out));
    close(fds[0]);
    waitpid(pid, &status, 0);
    if (n != (ssize_t)sizeof(*out) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return rg_error_set(RG_EIO, "the measurement child failed");
    if (!out->ok)
        return rg_error_set(RG_EIO, "%s", out->error);
    return 0;
}

static int measure(int n, const char *dir)
{
    char file[700], gen[4096], cmd[5000], manifest[700], db[700];
    json_t *orgs = NULL;
    rg_simproc sim = {0};
    result s = {0}, polls[POLLS];
    arg a = {dir, db, &s};
    int rc, status;

    snprintf(file, sizeof(file), "%s/orgs.json", dir);
    snprintf(manifest, sizeof(manifest), "%s/manifest.yaml", dir);
    snprintf(db, sizeof(db), "%s/poll.db", dir);
    rg_test_path(gen, sizeof(gen), "sim/gen-scenario");
    snprintf(cmd, sizeof(cmd), "python3 '%s' --orgs %d --time-scale 60 --out '%s'", gen, n, file);
    status = system(cmd);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return rg_error_set(RG_EIO, "the scenario generator failed");
    if ((rc = rg_simproc_start(&sim, file)) < 0)
        return rc;
    if ((rc = rg_e2e_credentials(&orgs, file)) < 0)
        goto cleanup;
    if ((rc = bench_write_manifest_stages(manifest, sim.url, orgs, "[10, 100]", policy)) < 0 ||
        (rc = in_child(&s, setup, &a)) < 0)
        goto cleanup;
    for (int k = 0; k < POLLS && rc == 0; k++)
        rc = in_child(&polls[k], poll_once, &a);
    for (int k = 0; k < POLLS && rc == 0; k++)
        /* Analyzer false positive: the loop runs only while rc == 0, when in_child filled polls[k].
         */
        // NOLINTNEXTLINE(clang-analyzer-core.CallAndMessage)
        printf("| %d | %d | %d%s | %.0f | %.2f | %ld | %ld | %.1f |\n", n, n / 10, k + 1,
               k == 0 ? " (fetches the pre window too)" : "", polls[k].ms, polls[k].cpu_s,
               polls[k].requests, polls[k].verdicts, polls[k].rss_mib);
cleanup:
    rg_simproc_stop(&sim);
    json_decref(orgs);
    return rc;
}

int main(int argc, char **argv)
{
    int n = 10000, rc = 0;
    char dir[512];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--orgs") == 0 && i + 1 < argc)
            /* Bench command line typed by hand; a bad value shows in the output. */
            // NOLINTNEXTLINE(cert-err34-c)
            n = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: poll_tick [--orgs N]\n");
            return 3;
        }
    }
    if (n < 10 || n > 100000) {
        fprintf(stderr, "poll_tick: --orgs must be within 10..100000\n");
        return 3;
    }
    setenv("RG_BINARY_DIR", RG_BENCH_BINARY_DIR, 0);
    setenv("RG_SOURCE_DIR", RG_SOURCE_DIR, 0);
    printf("One rollout of N orgs, stages [10, 100], its first stage applied (N/10 canary "
           "orgs, the rest their control); then the tick that runs poll k, each in a child "
           "process of its own: wall time of rg_engine_tick_rollout (analytics for every "
           "canary and control org through rollgate-sim, measurements stored, verdicts), its "
           "rollgate's own CPU time in it (user + system; the rest of the wall time is spent "
           "waiting on the simulator, which draws every synthetic call of every bucket), its "
           "platform requests, new verdict rows, and the child's peak RSS. Policy: 3 s polls, "
           "PT1S buckets, 60 s pre window (time scale 60).\n\n"
           "| orgs | canary orgs | poll | tick ms | rollgate CPU s | platform requests | verdicts "
           "| peak RSS MiB |\n|---:|---:|---|---:|---:|---:|---:|---:|\n");
    fflush(stdout);
    if (rg_test_mkdtemp(dir, sizeof(dir)) < 0) {
        fprintf(stderr, "poll_tick: cannot make a temporary directory\n");
        return 4;
    }
    if (measure(n, dir) < 0) {
        fprintf(stderr, "poll_tick: %d orgs: %s\n", n, rg_error_last());
        rc = 4;
    }
    rg_test_rmtree(dir);
    return rc;
}
