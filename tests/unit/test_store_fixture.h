/* test_store_fixture.h - a store on a fresh temporary file and seed rows for the store tests */
#ifndef RG_TEST_STORE_FIXTURE_H
#define RG_TEST_STORE_FIXTURE_H

#include <limits.h>

#include "rollgate/store.h"

typedef struct {
    char dir[PATH_MAX];
    char path[PATH_MAX + 32];
    rg_store *store;
} store_fixture;

/* cmocka setup/teardown: a new directory with "rollgate.db" opened in fixture->store. */
int store_fixture_setup(void **state);
int store_fixture_teardown(void **state);

/* Ensures the tenant and inserts a running rollout with 3 stages; asserts success. */
void store_seed_rollout(rg_store *store, const char *tenant_id, const char *rollout_id);
/* Inserts a pending target; asserts success. */
void store_seed_target(rg_store *store, const char *tenant_id, const char *rollout_id,
                       const char *org_id, const char *strategy_id, int64_t seq);

#endif
