/* test_e2e_hosts_paused.c - a host paused in the middle of a write, past its lease, while
 * another host takes its rollout over: its late write (apply, or restore) is not made. The
 * engine under test runs in this process on an SQLite file; what the platform saw is read
 * from rollgate-sim's request log. (The three-host kill test: test_e2e_hosts.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "integration/test_serve_support.h"
#include "rollgate/platform.h"
#include "rollgate/util.h"
#include "support/pg.h"
#include "support/e2e.h"
#include "support/simproc.h"
#include "support/skip.h"
#include "support/testutil.h"

static int patches_of(const json_t *log, const char *org)
{
    size_t i;
    json_t *e;
    int n = 0;
    json_array_foreach(json_object_get(log, "requests"), i, e)
    {
        const char *m = json_string_value(json_object_get(e, "method"));
        const char *o = json_string_value(json_object_get(e, "org"));
        const char *path = json_string_value(json_object_get(e, "path"));
        json_int_t status = json_integer_value(json_object_get(e, "status"));
        if (m && o && path && strcmp(o, org) == 0 && strcmp(m, "GET") != 0 &&
            strncmp(path, "/api/v2/routing/strategies", 26) == 0 && status >= 200 && status < 300)
            n++;
    }
    return n;
}

static int is_changed(const json_t *body)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(body, "targets"), i,
                       t) if (strcmp(json_string_value(json_object_get(t, "id")), "queue_v2") ==
                              0) return json_integer_value(json_object_get(t, "weight")) == 100;
    return 0;
}

static int is_original(const json_t *body)
{
    size_t i;
    json_t *t;
    int ok =
        strcmp(json_string_value(json_object_get(body, "name")) ?: "", "Production_Routing") == 0;
    json_array_foreach(json_object_get(body, "targets"), i, t)
    {
        const char *q = json_string_value(json_object_get(t, "id"));
        json_int_t w = json_integer_value(json_object_get(t, "weight"));
        if (strcmp(q, "queue_global_001") == 0)
            ok &= w == 100;
        else if (strcmp(q, "queue_v2") == 0)
            ok &= w == 0;
    }
    return ok;
}

/* ---- a host paused in the middle of a write ---- */

typedef struct {
    rg_engine *engine;
    const char *tenant, *id;
    int rc;
} paused_driver;

static void *paused_main(void *arg)
{
    paused_driver *d = arg;
    int64_t next = 0;
    d->rc = rg_engine_tick_rollout(d->engine, d->tenant, d->id, &next);
    return NULL;
}

static int parent_state(rg_e2e *e, rg_target_state *out)
{
    rg_store_targets targets = {0};
    int rc = rg_store_target_list(&targets, e->store, e->tenant, e->id);
    if (rc == 0 && targets.count > 0)
        *out = targets.items[0].state;
    rg_store_targets_dispose(&targets);
    return rc;
}

static void sim_edit(rg_e2e *e, const char *org, const char *name)
{
    char body[256];
    rg_buf resp = RG_BUF_INIT;
    long status = 0;
    snprintf(body, sizeof(body),
             "{\"org\":\"%s\",\"strategy\":\"strat_main\",\"patch\":{\"name\":\"%s\"}}", org, name);
    assert_int_equal(
        rg_simproc_request(&e->sim, "POST", "/sim/edit", body, NULL, &status, &resp, NULL), 0);
    assert_int_equal(status, 200);
    rg_buf_dispose(&resp);
}

/* Host A (another machine's owner id, so only the lease can tell it is gone) sends stage 1's
 * PATCH into a platform answering writes in 2 s. Meanwhile host B takes the rollout over and
 * the org's strategy moves on (B applied and restored it: the body is the one from before,
 * the ETag is new). A's PATCH meets a 412 and A re-reads: it must not write the change again,
 * since the rollout is no longer its own. The platform sees no successful write of A. */
static void test_a_paused_host_does_not_write_after_a_takeover(void **state)
{
    rg_e2e e;
    rg_engine_options opts;
    rg_store *a_store = NULL;
    paused_driver a = {0};
    pthread_t thread;
    rg_target_state ts = RG_TARGET_PENDING;
    const char *parent;
    json_t *log, *live;
    int held = 0;
    (void)state;

    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json", NULL, 200), 0);
    parent = json_string_value(json_array_get(e.orgs, 0));
    assert_int_equal(rg_store_open(&a_store, e.db), 0);
    rg_engine_options_init(&opts);
    opts.tick_ms = 200;
    opts.owner = "elsewhere:1:1";
    assert_int_equal(rg_engine_new(&a.engine, a_store, &opts), 0);
    a.tenant = e.tenant;
    a.id = e.id;
    assert_int_equal(rg_simproc_faults(&e.sim, "{\"latency_ms\":2000,\"latency_on\":\"writes\"}"),
                     0);
    assert_int_equal(pthread_create(&thread, NULL, paused_main, &a), 0);
    /* A read the strategy and committed its snapshot: its PATCH carries that read's ETag */
    for (int i = 0; i < 200 && ts == RG_TARGET_PENDING; i++) {
        rg_e2e_sleep_ms(20);
        assert_int_equal(parent_state(&e, &ts), 0);
    }
    assert_int_equal(ts, RG_TARGET_SNAPSHOTTED);
    /* B takes over (A looks dead to it) and the org moves on to its old body, a new ETag */
    assert_int_equal(rg_store_lease_take_over(&held, e.store, e.tenant, e.id, "b-host:2:2",
                                              "elsewhere:1:1", 0, 60000),
                     0);
    assert_int_equal(held, 1);
    sim_edit(&e, parent, "Production_Routing_B");
    sim_edit(&e, parent, "Production_Routing");
    pthread_join(thread, NULL);
    assert_int_equal(a.rc, 0); /* a lost lease is not an error of the tick */

    log = rg_e2e_requests(&e.sim);
    assert_non_null(log);
    if (patches_of(log, parent) != 0)
        fail_msg("%s: %d successful writes after the takeover, want 0", parent,
                 patches_of(log, parent));
    live = rg_e2e_live(&e.sim, parent);
    assert_true(is_original(live));
    json_decref(live);
    json_decref(log);
    rg_engine_free(a.engine);
    rg_store_free(a_store);
    rg_e2e_end(&e);
}

/* The seq of the first GET of org's strategy after `since` in the sim's log, or 0. */
static long read_after(const rg_simproc *sim, const char *org, long since)
{
    json_t *log = rg_e2e_requests(sim), *r;
    size_t i;
    long seq = 0;
    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        const char *m = json_string_value(json_object_get(r, "method"));
        const char *o = json_string_value(json_object_get(r, "org"));
        const char *path = json_string_value(json_object_get(r, "path"));
        long n = (long)json_integer_value(json_object_get(r, "seq"));
        if (seq == 0 && n > since && m && o && path && strcmp(m, "GET") == 0 &&
            strcmp(o, org) == 0 && strstr(path, "/routing/strategies/") != NULL)
            seq = n;
    }
    json_decref(log);
    return seq;
}

/* The same for a restore: host A restores stage 1's org into a platform answering writes in
 * 2 s; meanwhile host B takes over, and the org moves on (B restored it and a later rollout
 * put the change back: the body is the applied one, the ETag new). A's PATCH meets a 412
 * and A re-reads: it must not restore over the later change. */
static void test_a_paused_host_does_not_restore_after_a_takeover(void **state)
{
    rg_e2e e;
    rg_engine_options opts;
    rg_store *a_store = NULL;
    rg_store_command_in rollback = {0};
    paused_driver a = {0};
    pthread_t thread;
    const char *parent;
    json_t *log, *live;
    long since, seen = 0;
    int held = 0;
    (void)state;

    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json", NULL, 200), 0);
    parent = json_string_value(json_array_get(e.orgs, 0));
    assert_int_equal(rg_e2e_drive(&e, rg_e2e_stage_one_applied, 100), 0);
    assert_int_equal(
        rg_store_lease_release(NULL, e.store, e.tenant, e.id, rg_engine_owner(e.engine)), 0);
    rollback.rollout_id = e.id;
    rollback.tenant_id = e.tenant;
    rollback.kind = RG_COMMAND_ROLLBACK;
    rollback.actor = "alice";
    rollback.reason = "test";
    assert_int_equal(rg_store_command_enqueue(NULL, e.store, &rollback), 0);
    log = rg_e2e_requests(&e.sim);
    since = (long)json_integer_value(json_object_get(log, "next"));
    json_decref(log);
    assert_int_equal(rg_store_open(&a_store, e.db), 0);
    rg_engine_options_init(&opts);
    opts.tick_ms = 200;
    opts.owner = "elsewhere:1:1";
    assert_int_equal(rg_engine_new(&a.engine, a_store, &opts), 0);
    a.tenant = e.tenant;
    a.id = e.id;
    assert_int_equal(rg_simproc_faults(&e.sim, "{\"latency_ms\":2000,\"latency_on\":\"writes\"}"),
                     0);
    assert_int_equal(pthread_create(&thread, NULL, paused_main, &a), 0);
    /* A read the strategy to restore it: its PATCH carries that read's ETag */
    for (int i = 0; i < 250 && seen == 0; i++) {
        rg_e2e_sleep_ms(20);
        seen = read_after(&e.sim, parent, since);
    }
    if (seen == 0) {
        pthread_join(thread, NULL);
        fail_msg("A never read %s to restore it", parent);
    }
    assert_int_equal(rg_store_lease_take_over(&held, e.store, e.tenant, e.id, "b-host:2:2",
                                              "elsewhere:1:1", 0, 60000),
                     0);
    assert_int_equal(held, 1);
    sim_edit(&e, parent, "Production_Routing_B");
    sim_edit(&e, parent, "Production_Routing_v2"); /* the applied body again, a new ETag */
    pthread_join(thread, NULL);
    assert_int_equal(a.rc, 0);

    log = rg_e2e_requests(&e.sim);
    assert_non_null(log);
    if (patches_of(log, parent) != 1) /* the apply only */
        fail_msg("%s: %d successful writes, want 1 (the apply; no restore after the takeover)",
                 parent, patches_of(log, parent));
    live = rg_e2e_live(&e.sim, parent);
    assert_true(is_changed(live));
    json_decref(live);
    json_decref(log);
    rg_engine_free(a.engine);
    rg_store_free(a_store);
    rg_e2e_end(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_paused_host_does_not_write_after_a_takeover),
        cmocka_unit_test(test_a_paused_host_does_not_restore_after_a_takeover),
    };
    return rg_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
