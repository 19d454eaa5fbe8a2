/* store_backends.c - benchmark: the store on SQLite and on PostgreSQL side by side:
 * target-state writes (one transaction, and lone fenced writes) and the store work of a
 * soaking tick (lease extension, rollout, targets, pending commands, measurement sums) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "rollgate/store.h"
#include "rollgate/util.h"
#include "support/pg.h"
#include "support/testutil.h"

#define RUNS 3
#define OWNER "bench-store:1:1"
#define TENANT "bench"
#define ROLLOUT "ro_000000bench"
#define BUCKETS 5 /* one-minute measurement buckets per org and metric, as a soak has */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int seed(rg_store *store, int n)
{
    rg_store_rollout ro = {0};
    char org[32];
    int rc;

    ro.id = (char *)ROLLOUT;
    ro.tenant_id = (char *)TENANT;
    ro.name = (char *)"bench";
    ro.manifest = (char *)"{}";
    ro.policy = (char *)"{}";
    ro.state = RG_ROLLOUT_RUNNING;
    ro.stage_count = 1;
    ro.created_by = (char *)"bench";
    if ((rc = rg_store_tenant_ensure(store, TENANT, TENANT)) < 0 ||
        (rc = rg_store_begin(store)) < 0 || (rc = rg_store_rollout_insert(store, &ro)) < 0)
        return rc;
    for (int i = 0; i < n && rc == 0; i++) {
        rg_store_target t = {0};
        snprintf(org, sizeof(org), "org_%06d", i);
        t.rollout_id = (char *)ROLLOUT;
        t.tenant_id = (char *)TENANT;
        t.seq = i;
        t.org_id = org;
        t.group_name = (char *)"g";
        t.strategy_id = (char *)"strat_main";
        t.state = RG_TARGET_PENDING;
        rc = rg_store_target_insert(store, &t);
        for (int b = 0; b < BUCKETS && rc == 0; b++) {
            rg_store_measurement_in m = {0};
            m.rollout_id = (char *)ROLLOUT;
            m.tenant_id = (char *)TENANT;
            m.org_id = org;
            m.queue_id = (char *)"queue_v2";
            m.metric = (char *)"nOffered";
            m.bucket_start_ms = 60000LL * b;
            m.bucket_len_ms = 60000;
            m.count = 10;
            m.sum = 10.0;
            rc = rg_store_measurement_put(store, &m);
        }
    }
    if (rc < 0) {
        rg_store_rollback(store);
        return rc;
    }
    return rg_store_commit(store);
}

typedef struct {
    double batch_per_s[RUNS]; /* target updates in one transaction */
    double lone_per_s[RUNS];  /* fenced updates, each its own transaction */
    double tick_ms[RUNS];     /* the store work of one soaking tick */
} figures;

static int measure(figures *out, rg_store *store, int n)
{
    rg_store_targets list = {0};
    int64_t epoch = 0;
    int rc, held = 0, lone = n < 1000 ? n : 1000;

    if ((rc = rg_store_target_list(&list, store, TENANT, ROLLOUT)) < 0)
        return rc;
    for (int run = 0; run < RUNS && rc == 0; run++) {
        char etag[32];
        double t0 = now_s();
        snprintf(etag, sizeof(etag), "etag-%d", run);
        if ((rc = rg_store_begin(store)) < 0)
            break;
        for (size_t i = 0; i < list.count && rc == 0; i++) {
            rg_store_target t = list.items[i];
            t.state = RG_TARGET_APPLIED;
            t.attempts = run + 1;
            t.applied_etag = etag;
            t.applied_at_ms = rg_time_now_ms();
            rc = rg_store_target_update(store, &t);
        }
        rc = rc == 0 ? rg_store_commit(store) : (rg_store_rollback(store), rc);
        out->batch_per_s[run] = (double)list.count / (now_s() - t0);
    }
    /* Lone writes under the lease's fence: each checks the epoch in its own transaction. */
    if (rc == 0 &&
        (rc = rg_store_lease_acquire(&held, store, TENANT, ROLLOUT, OWNER, 0, 600000)) == 0) {
        rg_store_lease lease = {0};
        if ((rc = rg_store_lease_get(&lease, store, TENANT, ROLLOUT)) == 0) {
            epoch = lease.epoch;
            rg_store_lease_dispose(&lease);
            rc = rg_store_fence(store, TENANT, ROLLOUT, OWNER, epoch);
        }
    }
    for (int run = 0; run < RUNS && rc == 0; run++) {
        double t0 = now_s();
        for (int i = 0; i < lone && rc == 0; i++) {
            rg_store_target t = list.items[i];
            t.attempts = 10 + run;
            rc = rg_store_target_update(store, &t);
        }
        out->lone_per_s[run] = (double)lone / (now_s() - t0);
    }
    for (int run = 0; run < RUNS && rc == 0; run++) {
        rg_store_rollout ro = {0};
        rg_store_targets targets = {0};
        rg_store_commands commands = {0};
        double t0 = now_s();
        if ((rc = rg_store_lease_extend(store, TENANT, ROLLOUT, OWNER, epoch, 600000, -1)) == 0 &&
            (rc = rg_store_rollout_get(&ro, store, TENANT, ROLLOUT)) == 0 &&
            (rc = rg_store_target_list(&targets, store, TENANT, ROLLOUT)) == 0 &&
            (rc = rg_store_command_list_pending(&commands, store, TENANT, ROLLOUT)) == 0) {
            rg_store_measurements m = {0};
            rc = rg_store_measurement_list(&m, store, TENANT, ROLLOUT, NULL, 0, INT64_MAX);
            rg_store_measurements_dispose(&m);
        }
        out->tick_ms[run] = (now_s() - t0) * 1000.0;
        rg_store_rollout_dispose(&ro);
        rg_store_targets_dispose(&targets);
        rg_store_commands_dispose(&commands);
    }
    rg_store_unfence(store);
    rg_store_targets_dispose(&list);
    return rc;
}

static int row(const char *backend, const char *location, int n)
{
    rg_store *store = NULL;
    figures f;
    bench_summary a, b, c;
    char f1[96], f2[96], f3[96];
    int rc;

    memset(&f, 0, sizeof(f));
    if ((rc = rg_store_open(&store, location)) < 0 || (rc = seed(store, n)) < 0 ||
        (rc = measure(&f, store, n)) < 0) {
        fprintf(stderr, "store_backends: %s: %s\n", backend, rg_error_last());
        rg_store_free(store);
        return rc;
    }
    rg_store_free(store);
    bench_summarize(&a, f.batch_per_s, RUNS);
    bench_summarize(&b, f.lone_per_s, RUNS);
    bench_summarize(&c, f.tick_ms, RUNS);
    printf("| %s | %d | %s | %s | %s |\n", backend, n, bench_format(f1, sizeof(f1), &a, 0),
           bench_format(f2, sizeof(f2), &b, 0), bench_format(f3, sizeof(f3), &c, 1));
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    char dir[512], path[600], uri[700], why[512] = "";
    const char *pg_uri = NULL;
    int n = 10000, rc = 0, pg;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--targets") == 0 && i + 1 < argc) {
            /* Bench command line typed by hand; a bad value shows in the output. */
            n = (int)strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--pg") == 0 && i + 1 < argc) {
            pg_uri = argv[++i];
        } else {
            fprintf(stderr, "usage: store_backends [--targets N] [--pg postgresql://...]\n"
                            "  without --pg a throwaway PostgreSQL server is started (initdb,\n"
                            "  pg_ctl); the PostgreSQL row is skipped when there is none\n");
            return 3;
        }
    }
    if (n < 1 || n > 1000000) {
        fprintf(stderr, "store_backends: --targets between 1 and 1000000\n");
        return 3;
    }
    printf("One rollout of N targets (and N x %d measurement buckets), on each backend, %d runs:"
           " rg_store_target_update of all N targets in one transaction; %d lone "
           "rg_store_target_update calls under the lease's fence (each its own transaction "
           "that checks the epoch); the store work of one soaking tick (lease extension, "
           "rollout, all targets, pending commands, all measurements). SQLite: a WAL file in "
           "/tmp; PostgreSQL: %s.\n\n"
           "| backend | targets | target updates/s (one transaction) | fenced lone updates/s | "
           "tick store work ms |\n|---|---:|---:|---:|---:|\n",
           BUCKETS, RUNS, n < 1000 ? n : 1000,
           pg_uri ? "the given server" : "a local server on a unix socket (fsync off)");
    if (rg_test_mkdtemp(dir, sizeof(dir)) != 0) {
        fprintf(stderr, "store_backends: cannot make a temporary directory\n");
        return 4;
    }
    snprintf(path, sizeof(path), "%s/bench.db", dir);
    if (row("SQLite", path, n) < 0)
        rc = 4;
    rg_test_rmtree(dir);
    if (pg_uri) {
        if (row("PostgreSQL", pg_uri, n) < 0)
            rc = 4;
        return rc;
    }
    pg = rg_test_pg_start(why, sizeof(why));
    if (pg != 0) {
        printf("| PostgreSQL | %d | skipped: %s | | |\n", n, why);
        return rc;
    }
    if (rg_test_pg_new_db(uri, sizeof(uri)) != 0 || row("PostgreSQL", uri, n) < 0)
        rc = 4;
    rg_test_pg_stop();
    return rc;
}
