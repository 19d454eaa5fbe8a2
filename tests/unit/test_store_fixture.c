/* test_store_fixture.c - temporary store files and seed rows shared by the store tests */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "unit/test_store_fixture.h"

int store_fixture_setup(void **state)
{
    store_fixture *f = calloc(1, sizeof(*f));
    if (f == NULL || rg_test_mkdtemp(f->dir, sizeof(f->dir)) != 0) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/rollgate.db", f->dir);
    if (rg_store_open(&f->store, f->path) != 0) {
        print_error("rg_store_open: %s\n", rg_error_last());
        rg_test_rmtree(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

int store_fixture_teardown(void **state)
{
    store_fixture *f = *state;
    rg_store_free(f->store);
    rg_test_rmtree(f->dir);
    free(f);
    return 0;
}

void store_seed_rollout(rg_store *store, const char *tenant_id, const char *rollout_id)
{
    rg_store_rollout ro;
    char name[64], manifest[128];

    memset(&ro, 0, sizeof(ro));
    assert_int_equal(rg_store_tenant_ensure(store, tenant_id, tenant_id), 0);
    snprintf(name, sizeof(name), "routing-%s", rollout_id);
    snprintf(manifest, sizeof(manifest), "{\"name\":\"%s\",\"tenant\":\"%s\"}", name, tenant_id);
    ro.id = (char *)rollout_id;
    ro.tenant_id = (char *)tenant_id;
    ro.name = name;
    ro.manifest = manifest;
    ro.policy = (char *)"{\"alpha\":0.05}";
    ro.state = RG_ROLLOUT_RUNNING;
    ro.stage_index = 0;
    ro.stage_count = 3;
    ro.created_by = (char *)"release-manager";
    if (rg_store_rollout_insert(store, &ro) != 0)
        fail_msg("seed rollout %s: %s", rollout_id, rg_error_last());
    assert_int_equal(ro.revision, 1);
}

void store_seed_target(rg_store *store, const char *tenant_id, const char *rollout_id,
                       const char *org_id, const char *strategy_id, int64_t seq)
{
    rg_store_target t;

    memset(&t, 0, sizeof(t));
    t.rollout_id = (char *)rollout_id;
    t.tenant_id = (char *)tenant_id;
    t.seq = seq;
    t.org_id = (char *)org_id;
    t.group_name = (char *)"na_east";
    t.tier = 1;
    t.stage_index = 0;
    t.strategy_id = (char *)strategy_id;
    t.api_url = (char *)"http://127.0.0.1:1/api";
    t.login_url = (char *)"http://127.0.0.1:1/login";
    t.state = RG_TARGET_PENDING;
    if (rg_store_target_insert(store, &t) != 0)
        fail_msg("seed target %s/%s: %s", org_id, strategy_id, rg_error_last());
}
