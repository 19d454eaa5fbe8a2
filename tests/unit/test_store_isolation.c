/* test_store_isolation.c - one tenant's rows are invisible to another through every store call */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/util.h"
#include "support/testutil.h"
#include "unit/test_store_fixture.h"

#define OWNER "acme"
#define OTHER "globex"
#define RO "ro_a00000000001"
#define ORG "org_1"
#define STRAT "strat_main"
#define LEASE_OWNER "host-a:100:5000"
#define NA SIZE_MAX /* the call returns no count */

typedef struct {
    rg_store *store;
    int64_t command_id;
} iso_ctx;

/* Runs one store call as `tenant` against acme's rows; *count gets a list length or a
 * held/released flag when the call has one. */
typedef int (*iso_call)(iso_ctx *c, const char *tenant, size_t *count);

/* Test table; field order reads as the case. */
// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding)
typedef struct {
    const char *name;
    iso_call call;
    int owner_rc;
    size_t owner_count;
    int other_rc;
    size_t other_count;
} iso_case;

static int64_t acme_revision(iso_ctx *c)
{
    rg_store_rollout ro = {0};
    int64_t rev;
    assert_int_equal(rg_store_rollout_get(&ro, c->store, OWNER, RO), 0);
    rev = ro.revision;
    rg_store_rollout_dispose(&ro);
    return rev;
}

static int call_rollout_get(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_rollout ro = {0};
    int rc = rg_store_rollout_get(&ro, c->store, tenant, RO);
    *count = NA;
    rg_store_rollout_dispose(&ro);
    return rc;
}

static int call_rollout_update(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_rollout ro = {0};
    ro.id = (char *)RO;
    ro.tenant_id = (char *)tenant;
    ro.state = RG_ROLLOUT_PAUSED;
    ro.stage_count = 3;
    ro.revision = acme_revision(c);
    *count = NA;
    return rg_store_rollout_update(c->store, &ro);
}

static int call_rollout_list(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_rollouts list = {0};
    int rc = rg_store_rollout_list(&list, c->store, tenant);
    *count = 0;
    for (size_t i = 0; i < list.count; i++) {
        assert_string_equal(list.items[i].tenant_id, tenant);
        *count += strcmp(list.items[i].id, RO) == 0;
    }
    rg_store_rollouts_dispose(&list);
    return rc;
}

static int call_target_get(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_target t = {0};
    int rc = rg_store_target_get(&t, c->store, tenant, RO, ORG, STRAT);
    *count = NA;
    rg_store_target_dispose(&t);
    return rc;
}

static int call_target_list(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_targets list = {0};
    int rc = rg_store_target_list(&list, c->store, tenant, RO);
    *count = list.count;
    rg_store_targets_dispose(&list);
    return rc;
}

static void fill_target(rg_store_target *t, const char *tenant)
{
    memset(t, 0, sizeof(*t));
    t->rollout_id = (char *)RO;
    t->tenant_id = (char *)tenant;
    t->org_id = (char *)ORG;
    t->strategy_id = (char *)STRAT;
    t->group_name = (char *)"na_east";
    t->seq = 5;
}

static int call_target_update(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_target t;
    fill_target(&t, tenant);
    t.state = RG_TARGET_APPLY_FAILED;
    *count = NA;
    return rg_store_target_update(c->store, &t);
}

static int call_target_insert(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_target t;
    fill_target(&t, tenant); /* the key acme already has */
    *count = NA;
    return rg_store_target_insert(c->store, &t);
}

static int call_snapshot_get(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_snapshot s = {0};
    int rc = rg_store_snapshot_get(&s, c->store, tenant, RO, ORG, STRAT);
    *count = NA;
    rg_store_snapshot_dispose(&s);
    return rc;
}

static int call_snapshot_list(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_snapshots list = {0};
    int rc = rg_store_snapshot_list(&list, c->store, tenant, RO);
    *count = list.count;
    rg_store_snapshots_dispose(&list);
    return rc;
}

static int call_snapshot_insert(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_snapshot_in s = {0};
    s.rollout_id = (char *)RO;
    s.tenant_id = (char *)tenant;
    s.org_id = (char *)ORG;
    s.strategy_id = (char *)STRAT;
    s.etag = (char *)"\"forged\"";
    s.body = (char *)"{\"forged\":true}";
    *count = NA;
    return rg_store_snapshot_insert(c->store, &s);
}

static void fill_measurement(rg_store_measurement_in *m, const char *tenant, int64_t n)
{
    memset(m, 0, sizeof(*m));
    m->rollout_id = (char *)RO;
    m->tenant_id = (char *)tenant;
    m->org_id = (char *)ORG;
    m->queue_id = (char *)"queue_v2";
    m->metric = (char *)"nOffered";
    m->bucket_start_ms = 0;
    m->bucket_len_ms = 60000;
    m->count = n;
    m->sum = 0;
}

static int call_measurement_list(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_measurements list = {0};
    int rc = rg_store_measurement_list(&list, c->store, tenant, RO, NULL, 0, INT64_MAX);
    *count = list.count;
    rg_store_measurements_dispose(&list);
    return rc;
}

static int call_measurement_put(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_measurement_in m;
    fill_measurement(&m, tenant, 999);
    *count = NA;
    return rg_store_measurement_put(c->store, &m);
}

static int call_verdict_list(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_verdicts list = {0};
    int rc = rg_store_verdict_list(&list, c->store, tenant, RO, -1);
    *count = list.count;
    rg_store_verdicts_dispose(&list);
    return rc;
}

static int call_verdict_insert(iso_ctx *c, const char *tenant, size_t *count)
{
    static int poll; /* one verdict per (stage, poll, metric): each call its own look */
    rg_store_verdict_in v = {0};
    v.poll = poll++;
    v.rollout_id = (char *)RO;
    v.tenant_id = (char *)tenant;
    v.metric = (char *)"abandonment_rate";
    v.test = (char *)"none";
    v.decision = (char *)"pass";
    *count = NA;
    return rg_store_verdict_insert(NULL, c->store, &v);
}

static int call_event_list(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_events list = {0};
    int rc = rg_store_event_list(&list, c->store, tenant, RO, 0);
    *count = list.count;
    rg_store_events_dispose(&list);
    return rc;
}

static int call_event_append(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_event_in e = {0};
    e.rollout_id = (char *)RO;
    e.tenant_id = (char *)tenant;
    e.kind = (char *)"state";
    *count = NA;
    return rg_store_event_append(NULL, c->store, &e);
}

static int call_audit_list_rollout(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_audits list = {0};
    int rc = rg_store_audit_list(&list, c->store, tenant, RO);
    *count = list.count;
    rg_store_audits_dispose(&list);
    return rc;
}

static int call_audit_list_tenant(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_audits list = {0};
    int rc = rg_store_audit_list(&list, c->store, tenant, NULL);
    *count = 0;
    for (size_t i = 0; i < list.count; i++) {
        assert_string_equal(list.items[i].tenant_id, tenant);
        *count += list.items[i].rollout_id && strcmp(list.items[i].rollout_id, RO) == 0;
    }
    rg_store_audits_dispose(&list);
    return rc;
}

static int call_audit_append(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_audit_in a = {0};
    a.rollout_id = (char *)RO;
    a.tenant_id = (char *)tenant;
    a.actor = (char *)"mallory";
    a.action = (char *)"rollback";
    *count = NA;
    return rg_store_audit_append(NULL, c->store, &a);
}

static int call_lease_get(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_lease l = {0};
    int rc = rg_store_lease_get(&l, c->store, tenant, RO);
    *count = NA;
    rg_store_lease_dispose(&l);
    return rc;
}

static int call_lease_acquire(iso_ctx *c, const char *tenant, size_t *count)
{
    int held = -1;
    int rc = rg_store_lease_acquire(&held, c->store, tenant, RO, "intruder:1:1", 2000, 1000);
    *count = rc == 0 ? (size_t)held : NA;
    return rc;
}

static int call_lease_renew(iso_ctx *c, const char *tenant, size_t *count)
{
    int held = -1;
    int rc = rg_store_lease_renew(&held, c->store, tenant, RO, LEASE_OWNER, 2000, 1000);
    *count = rc == 0 ? (size_t)held : NA;
    return rc;
}

static int call_lease_release(iso_ctx *c, const char *tenant, size_t *count)
{
    int released = -1;
    int rc = rg_store_lease_release(&released, c->store, tenant, RO, LEASE_OWNER);
    *count = rc == 0 ? (size_t)released : NA;
    return rc;
}

static int call_lease_take_over(iso_ctx *c, const char *tenant, size_t *count)
{
    int held = -1;
    int rc = rg_store_lease_take_over(&held, c->store, tenant, RO, "intruder:1:1", LEASE_OWNER,
                                      2000, 1000);
    *count = rc == 0 ? (size_t)held : NA;
    return rc;
}

static int call_command_get(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_command cmd = {0};
    int rc = rg_store_command_get(&cmd, c->store, tenant, c->command_id);
    *count = NA;
    rg_store_command_dispose(&cmd);
    return rc;
}

static int call_command_list(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_commands list = {0};
    int rc = rg_store_command_list_pending(&list, c->store, tenant, RO);
    *count = list.count;
    rg_store_commands_dispose(&list);
    return rc;
}

static int call_command_complete(iso_ctx *c, const char *tenant, size_t *count)
{
    *count = NA;
    return rg_store_command_complete(c->store, tenant, c->command_id, RG_COMMAND_DONE, "done", 0);
}

static int call_command_enqueue(iso_ctx *c, const char *tenant, size_t *count)
{
    rg_store_command_in cmd = {0};
    cmd.rollout_id = (char *)RO;
    cmd.tenant_id = (char *)tenant;
    cmd.kind = RG_COMMAND_ROLLBACK;
    cmd.actor = (char *)"mallory";
    *count = NA;
    return rg_store_command_enqueue(NULL, c->store, &cmd);
}

/* Reads come before the writes that would change their answer for the owner. */
static const iso_case cases[] = {
    {"rollout get", call_rollout_get, 0, NA, RG_ENOTFOUND, NA},
    {"rollout list", call_rollout_list, 0, 1, 0, 0},
    {"rollout update", call_rollout_update, 0, NA, RG_ENOTFOUND, NA},
    {"target get", call_target_get, 0, NA, RG_ENOTFOUND, NA},
    {"target list", call_target_list, 0, 1, 0, 0},
    {"target insert", call_target_insert, RG_ECONFLICT, NA, RG_ENOTFOUND, NA},
    {"target update", call_target_update, 0, NA, RG_ENOTFOUND, NA},
    {"snapshot get", call_snapshot_get, 0, NA, RG_ENOTFOUND, NA},
    {"snapshot list", call_snapshot_list, 0, 1, 0, 0},
    {"snapshot insert", call_snapshot_insert, RG_ECONFLICT, NA, RG_ENOTFOUND, NA},
    {"measurement list", call_measurement_list, 0, 1, 0, 0},
    {"measurement put", call_measurement_put, 0, NA, RG_ENOTFOUND, NA},
    {"verdict list", call_verdict_list, 0, 1, 0, 0},
    {"verdict insert", call_verdict_insert, 0, NA, RG_ENOTFOUND, NA},
    {"event list", call_event_list, 0, 1, 0, 0},
    {"event append", call_event_append, 0, NA, RG_ENOTFOUND, NA},
    {"audit list (rollout)", call_audit_list_rollout, 0, 1, 0, 0},
    {"audit list (tenant)", call_audit_list_tenant, 0, 1, 0, 0},
    {"audit append", call_audit_append, 0, NA, RG_ENOTFOUND, NA},
    {"lease get", call_lease_get, 0, NA, RG_ENOTFOUND, NA},
    {"lease acquire", call_lease_acquire, 0, 0, RG_ENOTFOUND, NA},
    {"lease renew", call_lease_renew, 0, 1, RG_ENOTFOUND, NA},
    {"lease release", call_lease_release, 0, 1, RG_ENOTFOUND, NA},
    {"lease take over", call_lease_take_over, 0, 1, RG_ENOTFOUND, NA},
    {"command get", call_command_get, 0, NA, RG_ENOTFOUND, NA},
    {"command list pending", call_command_list, 0, 1, 0, 0},
    {"command complete", call_command_complete, 0, NA, RG_ENOTFOUND, NA},
    {"command enqueue", call_command_enqueue, 0, NA, RG_ENOTFOUND, NA},
};

static void seed_acme(iso_ctx *c)
{
    rg_store_snapshot_in s = {0};
    rg_store_measurement_in m;
    rg_store_command_in cmd = {0};
    int held = 0;

    store_seed_rollout(c->store, OWNER, RO);
    store_seed_target(c->store, OWNER, RO, ORG, STRAT, 0);
    s.rollout_id = (char *)RO;
    s.tenant_id = (char *)OWNER;
    s.org_id = (char *)ORG;
    s.strategy_id = (char *)STRAT;
    s.etag = (char *)"\"e1\"";
    s.body = (char *)"{\"weight\":50}";
    assert_int_equal(rg_store_snapshot_insert(c->store, &s), 0);
    fill_measurement(&m, OWNER, 5);
    assert_int_equal(rg_store_measurement_put(c->store, &m), 0);
    assert_int_equal(call_verdict_insert(c, OWNER, &(size_t){0}), 0);
    assert_int_equal(call_event_append(c, OWNER, &(size_t){0}), 0);
    assert_int_equal(call_audit_append(c, OWNER, &(size_t){0}), 0);
    assert_int_equal(rg_store_lease_acquire(&held, c->store, OWNER, RO, LEASE_OWNER, 1000, 5000),
                     0);
    assert_int_equal(held, 1);
    cmd.rollout_id = (char *)RO;
    cmd.tenant_id = (char *)OWNER;
    cmd.kind = RG_COMMAND_PAUSE;
    cmd.actor = (char *)"alice";
    assert_int_equal(rg_store_command_enqueue(&c->command_id, c->store, &cmd), 0);
}

/* Everything acme owns, exactly as seeded. */
static void assert_acme_untouched(iso_ctx *c)
{
    rg_store_target t = {0};
    rg_store_snapshot s = {0};
    rg_store_lease l = {0};
    rg_store_command cmd = {0};
    rg_store_measurements ms = {0};
    size_t n = 0;

    assert_int_equal(acme_revision(c), 1);
    assert_int_equal(rg_store_target_get(&t, c->store, OWNER, RO, ORG, STRAT), 0);
    assert_int_equal(t.state, RG_TARGET_PENDING);
    assert_int_equal(t.seq, 0);
    rg_store_target_dispose(&t);
    assert_int_equal(rg_store_snapshot_get(&s, c->store, OWNER, RO, ORG, STRAT), 0);
    assert_string_equal(s.etag, "\"e1\"");
    rg_store_snapshot_dispose(&s);
    assert_int_equal(rg_store_measurement_list(&ms, c->store, OWNER, RO, NULL, 0, INT64_MAX), 0);
    assert_int_equal(ms.count, 1);
    assert_int_equal(ms.items[0].count, 5);
    rg_store_measurements_dispose(&ms);
    assert_int_equal(call_verdict_list(c, OWNER, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(call_event_list(c, OWNER, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(call_audit_list_rollout(c, OWNER, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rg_store_lease_get(&l, c->store, OWNER, RO), 0);
    assert_string_equal(l.owner, LEASE_OWNER);
    assert_int_equal(l.expires_at_ms, 6000);
    rg_store_lease_dispose(&l);
    assert_int_equal(rg_store_command_get(&cmd, c->store, OWNER, c->command_id), 0);
    assert_int_equal(cmd.state, RG_COMMAND_PENDING);
    assert_int_equal(cmd.kind, RG_COMMAND_PAUSE);
    rg_store_command_dispose(&cmd);
}

static void run_case(iso_ctx *c, const iso_case *tc, const char *tenant, int want_rc,
                     size_t want_count)
{
    size_t count = NA;
    int rc = tc->call(c, tenant, &count);
    if (rc != want_rc || count != want_count)
        fail_msg("%s as %s: rc %s (want %s), count %zu (want %zu); %s", tc->name, tenant,
                 rg_error_name(rc), rg_error_name(want_rc), count, want_count,
                 rc < 0 ? rg_error_last() : "");
    /* A refusal must not hint that the row exists for someone else. */
    if (rc == RG_ENOTFOUND && strcmp(tenant, OTHER) == 0 && strstr(rg_error_last(), OWNER))
        fail_msg("%s as %s: message names the owner: %s", tc->name, tenant, rg_error_last());
}

static void test_every_call_is_tenant_scoped(void **state)
{
    store_fixture *f = *state;
    iso_ctx c = {f->store, 0};
    size_t n = sizeof(cases) / sizeof(cases[0]);

    seed_acme(&c);
    /* globex has rows of its own, so empty answers are not an empty database. */
    store_seed_rollout(f->store, OTHER, "ro_g00000000001");
    store_seed_target(f->store, OTHER, "ro_g00000000001", ORG, STRAT, 0);

    for (size_t i = 0; i < n; i++)
        run_case(&c, &cases[i], OTHER, cases[i].other_rc, cases[i].other_count);
    assert_acme_untouched(&c);
    /* The same calls as the owner answer differently, so the table can fail. */
    for (size_t i = 0; i < n; i++)
        run_case(&c, &cases[i], OWNER, cases[i].owner_rc, cases[i].owner_count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_call_is_tenant_scoped, store_fixture_setup,
                                        store_fixture_teardown),
    };
    if (store_fixture_backend_missing())
        return store_fixture_exit(0);
    return store_fixture_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
