/* lookup.c - the tenant of a rollout named by id alone, for local operator tools */
#include <stdlib.h>

#include "store/store_private.h"

int rg_store_rollout_tenant_all_tenants(char **out, rg_store *store, const char *rollout_id)
{
    /* Crosses tenants on purpose: the CLI on the engine host reads the database directly
     * and names rollouts by id; every call after this one takes the tenant it returns. */
    static const char sql[] = "SELECT tenant_id FROM rollouts WHERE id = ?";
    static const char op[] = "rollout tenant lookup";
    rg_store__binder b;
    rg_store__reader r;
    char *tenant = NULL;
    int rc, step;

    if ((rc = rg_store__require(rollout_id, op, "rollout id")) < 0)
        return rc;
    if ((rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, rollout_id);
    if ((rc = rg_store__binder_check(&b, store, op)) < 0)
        return rc;
    step = rg_store__step(store, b.stmt, op);
    if (step == 1) {
        rg_store__reader_init(&r, b.stmt);
        tenant = rg_store__read_text(&r);
        rc = tenant ? 0 : rg_error_set(RG_ENOMEM, "store: %s: out of memory", op);
    } else if (step == 0) {
        rc = rg_error_set(RG_ENOTFOUND, "no rollout '%s'", rollout_id);
    } else {
        rc = step;
    }
    rg_store__reset(store, b.stmt);
    if (rc == 0)
        *out = tenant;
    return rc;
}
