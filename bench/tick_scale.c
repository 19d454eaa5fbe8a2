/* tick_scale.c - benchmark: one scheduler tick over N soaking targets (time, peak RSS) and
 * target-state writes against a raw SQLite batched-insert loop */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench/bench_util.h"
#include "rollgate/engine.h"
#include "rollgate/store.h"
#include "rollgate/util.h"

#define RUNS 5
#define PER_ROLLOUT 10000 /* RG_MANIFEST_MAX_ORGS: more targets are more rollouts */
#define MAX_ROLLOUTS 10
#define POLL_MS 300000 /* 5 m: the policy's poll interval; nothing is due for 4 minutes */
#define OWNER "bench-tick"

static const char policy[] =
    "policy:\n"
    "  alpha: 0.05\n  sequential: group\n  stabilization_window: 15m\n  soak_limit: 60m\n"
    "  poll_interval: 5m\n  granularity: PT1M\n  settle: 1m\n  pre_window: 30m\n"
    "  breaker: {consecutive: 2}\n  on_inconclusive: hold\n  errors: {limit: 3}\n"
    "  verify_window: 5m\n  capacity: {min_ratio: 0.8}\n  metrics:\n"
    "    - {name: abandonment_rate, kind: proportion, events: tAbandon, trials: nOffered,\n"
    "       increase_is_bad: true, tolerance: {relative: 0.15}, critical: true}\n"
    "    - {name: speed_of_answer, kind: mean, source: tAnswered, increase_is_bad: true,\n"
    "       tolerance: {absolute: 10s}}\n";

typedef struct {
    int ok;
    char error[256];
    char id[RG_STORE_ROLLOUT_ID_LEN]; /* the first rollout */
    char ids[MAX_ROLLOUTS][RG_STORE_ROLLOUT_ID_LEN];
    int nrollouts;
    int64_t applied_at_ms;
    double update_s[RUNS], insert_s[RUNS], raw_update_s[RUNS];
    double tick_ms, rss_mib;
    long platform_requests;
} result;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs fn in a child process; its result comes back through a pipe. */
static int in_child(result *out, void (*fn)(result *, void *), void *arg)
{
    int fds[2], status = 0;
    pid_t pid;
    ssize_t n;

    if (pipe(fds) != 0 || (pid = fork()) < 0)
        return rg_error_set(RG_EIO, "cannot fork a measurement child");
    if (pid == 0) {
        result r;
        memset(&r, 0, sizeof(r));
        close(fds[0]);
        fn(&r, arg);
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

typedef struct {
    const char *dir;
    int n;
} setup_arg;

/* rg_store_target_update of every target in one transaction, RUNS times. */
/* The same UPDATE of the same rows of the store's own table (its CHECKs and indexes) through a
 * second, raw connection: what SQLite itself costs for this write, without the store. */
static int time_raw_updates(result *r, const char *path, const rg_store_targets *list)
{
    static const char sql[] =
        "UPDATE targets SET state = ?, attempts = ?, last_error = ?, applied_etag = ?,"
        " applied_body = ?, applied_at = ?, restored_etag = ?, restored_at = ?, kept_fields = ?"
        " WHERE tenant_id = ? AND rollout_id = ? AND org_id = ? AND strategy_id = ?";
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = 0;

    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = rg_error_set(RG_EDB, "raw sqlite: %s", sqlite3_errmsg(db));
        sqlite3_close(db);
        return rc;
    }
    for (int run = 0; run < RUNS && rc == 0; run++) {
        double t0 = now_s();
        char etag[32];
        snprintf(etag, sizeof(etag), "raw-%d", run);
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (size_t i = 0; i < list->count && rc == 0; i++) {
            const rg_store_target *t = &list->items[i];
            sqlite3_bind_text(st, 1, "applied", -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 2, 1);
            sqlite3_bind_null(st, 3);
            sqlite3_bind_text(st, 4, etag, -1, SQLITE_STATIC);
            if (t->applied_body)
                sqlite3_bind_text(st, 5, t->applied_body, -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(st, 5);
            sqlite3_bind_int64(st, 6, rg_time_now_ms());
            sqlite3_bind_null(st, 7);
            sqlite3_bind_null(st, 8);
            sqlite3_bind_null(st, 9);
            sqlite3_bind_text(st, 10, t->tenant_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 11, t->rollout_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 12, t->org_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 13, t->strategy_id, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = rg_error_set(RG_EDB, "raw sqlite update: %s", sqlite3_errmsg(db));
            sqlite3_reset(st);
        }
        if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            rc = rg_error_set(RG_EDB, "raw sqlite commit: %s", sqlite3_errmsg(db));
        r->raw_update_s[run] = now_s() - t0;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

static int time_target_updates(result *r, rg_store *store, const char *store_path)
{
    rg_store_targets list = {0}, more = {0};
    int rc = 0;

    for (int k = 0; k < r->nrollouts && rc == 0; k++) {
        if ((rc = rg_store_target_list(k ? &more : &list, store, "bench", r->ids[k])) < 0)
            break;
        if (k > 0) {
            rg_store_target *grown =
                realloc(list.items, (list.count + more.count) * sizeof(*grown));
            if (grown == NULL) {
                rc = rg_error_set(RG_ENOMEM, "out of memory");
                break;
            }
            list.items = grown;
            memcpy(list.items + list.count, more.items, more.count * sizeof(*grown));
            list.count += more.count;
            free(more.items); /* the strings moved to list */
            memset(&more, 0, sizeof(more));
        }
    }
    for (int run = 0; run < RUNS && rc == 0; run++) {
        double t0 = now_s();
        char etag[32];
        snprintf(etag, sizeof(etag), "etag-%d", run);
        if ((rc = rg_store_begin(store)) < 0)
            break;
        for (size_t i = 0; i < list.count && rc == 0; i++) {
            rg_store_target t = list.items[i];
            t.state = RG_TARGET_APPLIED;
            t.attempts = 1;
            t.applied_etag = etag;
            t.applied_at_ms = rg_time_now_ms();
            rc = rg_store_target_update(store, &t);
        }
        if (rc == 0)
            rc = rg_store_commit(store);
        else
            rg_store_rollback(store);
        r->update_s[run] = now_s() - t0;
    }
    if (rc == 0)
        rc = time_raw_updates(r, store_path, &list);
    rg_store_targets_dispose(&list);
    return rc;
}

/* The floor: prepared INSERTs of the same columns in one transaction, same pragmas. */
static int time_raw_inserts(result *r, const char *dir, int n)
{
    char path[4200];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/raw.db", dir);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL) !=
            SQLITE_OK)
        return rg_error_set(RG_EDB, "raw sqlite: %s", sqlite3_errmsg(db));
    for (int run = 0; run < RUNS && rc == 0; run++) {
        double t0;
        sqlite3_exec(db,
                     "DROP TABLE IF EXISTS t; CREATE TABLE t(tenant TEXT, rollout TEXT, "
                     "org TEXT, strategy TEXT, state TEXT, attempts INT, etag TEXT, "
                     "at INT, PRIMARY KEY(tenant, rollout, org, strategy))",
                     NULL, NULL, NULL);
        t0 = now_s();
        if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?,?,?,?,?,?,?,?)", -1, &st, NULL) !=
                SQLITE_OK) {
            rc = rg_error_set(RG_EDB, "raw sqlite: %s", sqlite3_errmsg(db));
            break;
        }
        for (int i = 0; i < n && rc == 0; i++) {
            char org[32];
            snprintf(org, sizeof(org), "org_%05d", i);
            sqlite3_bind_text(st, 1, "bench", -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, r->id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, org, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 4, "strat_main", -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 5, "applied", -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 6, 1);
            sqlite3_bind_text(st, 7, "etag", -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 8, rg_time_now_ms());
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = rg_error_set(RG_EDB, "raw sqlite insert: %s", sqlite3_errmsg(db));
            sqlite3_reset(st);
        }
        sqlite3_finalize(st);
        st = NULL;
        if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            rc = rg_error_set(RG_EDB, "raw sqlite commit: %s", sqlite3_errmsg(db));
        r->insert_s[run] = now_s() - t0;
    }
    sqlite3_close(db);
    return rc;
}

/* Stage applied a minute ago (no poll due for 4 more), fresh telemetry for the last 5
 * one-minute buckets of both watched queues of every org. */
static void org_name(char *out, size_t outlen, int rollout, int i)
{
    snprintf(out, outlen, "o%d_%05d", rollout, i);
}

static int make_soaking(result *r, rg_store *store, int k, int n)
{
    static const char *const metrics[] = {"nOffered", "tAbandon", "tAnswered"};
    static const char *const queues[] = {"queue_global_001", "queue_v2"};
    rg_store_rollout row = {0};
    int64_t now = rg_time_now_ms(), minute = now - now % 60000;
    int rc;

    if ((rc = rg_store_rollout_get(&row, store, "bench", r->ids[k])) < 0)
        return rc;
    row.stage_started_at_ms = now - 120000;
    row.stage_applied_at_ms = now - 60000;
    if (k == 0)
        r->applied_at_ms = row.stage_applied_at_ms; /* the rollout the tick check follows */
    rc = rg_store_rollout_update(store, &row);
    rg_store_rollout_dispose(&row);
    if (rc < 0 || (rc = rg_store_begin(store)) < 0)
        return rc;
    for (int i = 0; i < n && rc == 0; i++) {
        char org[32];
        org_name(org, sizeof(org), k, i);
        for (int b = 1; b <= 5 && rc == 0; b++)
            for (int q = 0; q < 2 && rc == 0; q++)
                for (int m = 0; m < 3 && rc == 0; m++) {
                    rg_store_measurement_in ms = {r->ids[k],
                                                  "bench",
                                                  org,
                                                  queues[q],
                                                  metrics[m],
                                                  minute - b * (int64_t)60000,
                                                  60000,
                                                  m == 0 ? 120 : (m == 1 ? 10 : 110),
                                                  m == 2 ? 110 * 20000.0 : 0};
                    rc = rg_store_measurement_put(store, &ms);
                }
    }
    if (rc == 0)
        return rg_store_commit(store);
    rg_store_rollback(store);
    return rc;
}

static void setup(result *r, void *arg)
{
    const setup_arg *a = arg;
    char manifest[4200], db[4200];
    rg_store *store = NULL;
    rg_engine *engine = NULL;
    rg_engine_options opts;
    int rc = 0;

    snprintf(db, sizeof(db), "%s/tick.db", a->dir);
    rg_engine_options_init(&opts);
    opts.owner = OWNER;
    r->nrollouts = (a->n + PER_ROLLOUT - 1) / PER_ROLLOUT;
    if (r->nrollouts > MAX_ROLLOUTS)
        rc = rg_error_set(RG_EINVALID, "at most %d targets", MAX_ROLLOUTS * PER_ROLLOUT);
    if (rc == 0 &&
        ((rc = rg_store_open(&store, db)) < 0 || (rc = rg_engine_new(&engine, store, &opts)) < 0))
        goto out;
    for (int k = 0; k < r->nrollouts && rc == 0; k++) {
        int n = a->n - k * PER_ROLLOUT < PER_ROLLOUT ? a->n - k * PER_ROLLOUT : PER_ROLLOUT;
        json_t *orgs = json_array();
        rg_manifest *m = NULL;
        for (int i = 0; i < n; i++) {
            char org[32];
            org_name(org, sizeof(org), k, i);
            json_array_append_new(orgs, json_string(org));
        }
        snprintf(manifest, sizeof(manifest), "%s/manifest%d.yaml", a->dir, k);
        if ((rc = bench_write_manifest(manifest, "http://127.0.0.1:9", orgs, policy)) == 0 &&
            (rc = rg_manifest_load_file(&m, manifest, NULL)) == 0)
            rc = rg_engine_start(r->ids[k], engine, m, a->dir, "bench", 1);
        rg_manifest_free(m);
        json_decref(orgs);
    }
    memcpy(r->id, r->ids[0], sizeof(r->id));
    if (rc == 0 && ((rc = time_target_updates(r, store, db)) < 0 ||
                    (rc = time_raw_inserts(r, a->dir, a->n)) < 0))
        goto out;
    for (int k = 0; k < r->nrollouts && rc == 0; k++)
        rc = make_soaking(r, store, k,
                          a->n - k * PER_ROLLOUT < PER_ROLLOUT ? a->n - k * PER_ROLLOUT
                                                               : PER_ROLLOUT);
out:
    if (rc < 0)
        snprintf(r->error, sizeof(r->error), "setup of %d targets: %s", a->n, rg_error_last());
    r->ok = rc == 0;
    rg_engine_free(engine);
    rg_store_free(store);
}

typedef struct {
    const char *dir;
    const result *setup;
} tick_arg;

static void tick(result *r, void *arg)
{
    const tick_arg *a = arg;
    char db[4200];
    rg_store *store = NULL;
    rg_engine *engine = NULL;
    rg_engine_options opts;
    rg_engine_metrics metrics;
    int64_t next = 0;
    double t0;
    int rc;

    snprintf(db, sizeof(db), "%s/tick.db", a->dir);
    rg_engine_options_init(&opts);
    opts.owner = OWNER; /* the same driver as before: the lease is ours */
    if ((rc = rg_store_open(&store, db)) == 0 && (rc = rg_engine_new(&engine, store, &opts)) == 0) {
        t0 = now_s();
        rc = rg_engine_tick(engine, &next);
        r->tick_ms = (now_s() - t0) * 1000.0;
    }
    r->rss_mib = bench_peak_rss_mib();
    if (rc < 0) {
        snprintf(r->error, sizeof(r->error), "tick: %s", rg_error_last());
    } else {
        /* rg_engine_tick reports at most one tick ahead; one untimed step of the rollout
         * says what it found: the soak, its first poll due one interval after the stage */
        rc = rg_engine_tick_rollout(engine, "bench", a->setup->id, &next);
        rg_engine_get_metrics(&metrics, engine);
        r->platform_requests = (long)metrics.platform_requests;
        if (rc < 0)
            snprintf(r->error, sizeof(r->error), "tick: %s", rg_error_last());
        else if (next != a->setup->applied_at_ms + POLL_MS)
            snprintf(r->error, sizeof(r->error), "tick did not reach the soak (next %lld)",
                     (long long)next);
    }
    r->ok = r->error[0] == '\0';
    rg_engine_free(engine);
    rg_store_free(store);
}

static int measure(int n, const char *dir)
{
    result s, t;
    setup_arg sa = {dir, n};
    tick_arg ta = {dir, &s};
    double ms[RUNS], rss[RUNS], upd[RUNS], raw[RUNS], rawu[RUNS];
    bench_summary a, b, c, d, e;
    char f1[96], f2[96], f3[96], f4[96], f5[96];
    long requests = 0;

    if (in_child(&s, setup, &sa) < 0)
        return -1;
    for (int i = 0; i < RUNS; i++) {
        if (in_child(&t, tick, &ta) < 0)
            return -1;
        ms[i] = t.tick_ms;
        rss[i] = t.rss_mib;
        requests += t.platform_requests;
        upd[i] = n / s.update_s[i];
        raw[i] = n / s.insert_s[i];
        rawu[i] = n / s.raw_update_s[i];
    }
    bench_summarize(&a, ms, RUNS);
    bench_summarize(&b, rss, RUNS);
    bench_summarize(&c, upd, RUNS);
    bench_summarize(&d, raw, RUNS);
    bench_summarize(&e, rawu, RUNS);
    printf("| %d | %s | %s | %ld | %s | %s | %.2f | %s | %.2f |\n", n,
           bench_format(f1, sizeof(f1), &a, 1), bench_format(f2, sizeof(f2), &b, 1), requests,
           bench_format(f3, sizeof(f3), &c, 0), bench_format(f4, sizeof(f4), &d, 0),
           c.median / d.median, bench_format(f5, sizeof(f5), &e, 0), c.median / e.median);
    return 0;
}

int main(int argc, char **argv)
{
    char dir[256];
    int rc = 0, max = 100000;

    if (argc == 3 && strcmp(argv[1], "--max-targets") == 0)
        /* Bench command line typed by hand; a bad value shows in the output. */
        // NOLINTNEXTLINE(cert-err34-c)
        max = atoi(argv[2]);
    else if (argc != 1) {
        fprintf(stderr, "usage: tick_scale [--max-targets N]\n");
        return 3;
    }
    printf("N targets soaking in rollouts of at most 10,000 (the manifest limit; 100,000 = 10 "
           "rollouts), each stage applied 1 min ago (5 min polls: no poll due), fresh telemetry "
           "for the last 5 one-minute buckets (N x 30 measurement rows). "
           "Each tick in its own child process (%d runs): wall time of rg_engine_tick and the "
           "child's peak RSS (getrusage ru_maxrss). Target-state writes: rg_store_target_update"
           " of all N targets in one transaction vs raw sqlite3 prepared INSERTs of the same "
           "columns in one transaction into a fresh narrow table (WAL, synchronous=NORMAL), "
           "and vs the same UPDATE of the same rows of the store's own table through a raw "
           "connection, %d runs each.\n\n"
           "| targets | tick ms | peak RSS MiB | platform requests (all runs) | "
           "target updates/s | raw SQLite inserts/s | ratio | raw SQLite updates/s | ratio |\n"
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
           RUNS, RUNS);
    fflush(stdout);
    for (int n = 1000; n <= max && rc == 0; n *= 10) {
        snprintf(dir, sizeof(dir), "/tmp/rg-tick-XXXXXX");
        if (mkdtemp(dir) == NULL) {
            fprintf(stderr, "tick_scale: cannot make a temporary directory\n");
            return 4;
        }
        if (measure(n, dir) < 0) {
            fprintf(stderr, "tick_scale: %s\n", rg_error_last());
            rc = 4;
        }
        fflush(stdout);
        {
            char cmd[512];
            snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
            if (system(cmd) != 0)
                fprintf(stderr, "tick_scale: could not remove %s\n", dir);
        }
    }
    return rc;
}
