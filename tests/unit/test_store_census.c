/* test_store_census.c - the lease census several hosts' schedulers share
 * (rg_store_lease_census_all_tenants): which active rollouts nobody leases, across tenants,
 * and how many drivers hold the others, by the database's clock */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/util.h"
#include "unit/test_store_fixture.h"

static int has(const rg_store_lease_census *c, const char *tenant, const char *id)
{
    for (size_t i = 0; i < c->claimable_count; i++)
        if (strcmp(c->claimable[i].tenant_id, tenant) == 0 &&
            strcmp(c->claimable[i].rollout_id, id) == 0)
            return 1;
    return 0;
}

static void finish(rg_store *store, const char *tenant, const char *id)
{
    rg_store_rollout ro;
    memset(&ro, 0, sizeof(ro));
    assert_int_equal(rg_store_rollout_get(&ro, store, tenant, id), 0);
    ro.state = RG_ROLLOUT_COMPLETED;
    assert_int_equal(rg_store_rollout_update(store, &ro), 0);
    rg_store_rollout_dispose(&ro);
}

static void test_census_lists_unleased_and_counts_holders(void **state)
{
    store_fixture *f = *state;
    rg_store_lease_census c;
    int held = 0;

    memset(&c, 0, sizeof(c));
    store_seed_rollout(f->store, "acme", "ro_000000000001"); /* never leased */
    store_seed_rollout(f->store, "acme", "ro_000000000002"); /* held by a */
    store_seed_rollout(f->store, "beta", "ro_000000000003"); /* held by b, another tenant */
    store_seed_rollout(f->store, "beta", "ro_000000000004"); /* leased long ago: expired */
    store_seed_rollout(f->store, "acme", "ro_000000000005"); /* released */
    store_seed_rollout(f->store, "acme", "ro_000000000006"); /* held by a */
    store_seed_rollout(f->store, "acme", "ro_000000000007"); /* finished, lease held */
    /* time 0: the database's clock, a minute ahead */
    assert_int_equal(
        rg_store_lease_acquire(&held, f->store, "acme", "ro_000000000002", "a:1:1", 0, 60000), 0);
    assert_int_equal(
        rg_store_lease_acquire(&held, f->store, "beta", "ro_000000000003", "b:2:2", 0, 60000), 0);
    assert_int_equal(
        rg_store_lease_acquire(&held, f->store, "beta", "ro_000000000004", "c:3:3", 1000, 10), 0);
    assert_int_equal(
        rg_store_lease_acquire(&held, f->store, "acme", "ro_000000000005", "a:1:1", 0, 60000), 0);
    assert_int_equal(rg_store_lease_release(NULL, f->store, "acme", "ro_000000000005", "a:1:1"), 0);
    assert_int_equal(
        rg_store_lease_acquire(&held, f->store, "acme", "ro_000000000006", "a:1:1", 0, 60000), 0);
    assert_int_equal(
        rg_store_lease_acquire(&held, f->store, "acme", "ro_000000000007", "d:4:4", 0, 60000), 0);
    finish(f->store, "acme", "ro_000000000007");

    assert_int_equal(rg_store_lease_census_all_tenants(&c, f->store, "a:1:1"), 0);
    assert_int_equal(c.claimable_count, 3);
    assert_true(has(&c, "acme", "ro_000000000001"));
    assert_true(has(&c, "beta", "ro_000000000004"));
    assert_true(has(&c, "acme", "ro_000000000005"));
    /* a and b hold live leases on active rollouts; c's expired, d's rollout is finished */
    assert_int_equal(c.holders, 2);
    assert_int_equal(c.held_by_owner, 2);
    rg_store_lease_census_dispose(&c);

    /* a newcomer holds nothing; taking an expired lease makes it a holder */
    assert_int_equal(
        rg_store_lease_acquire(&held, f->store, "beta", "ro_000000000004", "e:5:5", 0, 60000), 0);
    assert_int_equal(held, 1);
    assert_int_equal(rg_store_lease_census_all_tenants(&c, f->store, "e:5:5"), 0);
    assert_int_equal(c.claimable_count, 2);
    assert_false(has(&c, "beta", "ro_000000000004"));
    assert_int_equal(c.holders, 3);
    assert_int_equal(c.held_by_owner, 1);
    rg_store_lease_census_dispose(&c);
    rg_store_lease_census_dispose(&c); /* twice is harmless */
}

static void test_census_refuses_a_missing_owner(void **state)
{
    store_fixture *f = *state;
    rg_store_lease_census c;

    memset(&c, 0, sizeof(c));
    assert_int_equal(rg_store_lease_census_all_tenants(&c, f->store, NULL), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "owner"));
    assert_int_equal(rg_store_lease_census_all_tenants(&c, f->store, ""), RG_EINVALID);
    assert_int_equal(rg_store_lease_census_all_tenants(NULL, f->store, "a:1:1"), RG_EINVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_census_lists_unleased_and_counts_holders,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_census_refuses_a_missing_owner, store_fixture_setup,
                                        store_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
