/* claims.c - which active rollout holds an (org, resource): one writer per platform object */
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"
#include "store/store_private.h"

int rg_store_claim(rg_store *store, const char *tenant_id, const char *rollout_id,
                   const char *org_id, const char *resource)
{
    static const char insert_sql[] =
        "INSERT INTO claims (org_id, resource, rollout_id, tenant_id, claimed_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (org_id, resource) DO NOTHING";
    /* Crosses tenants on purpose: an org is one platform object whoever drives it. Only
     * the holder's id leaves this function, and only to its own tenant. */
    static const char holder_sql[] = "SELECT rollout_id, tenant_id FROM claims"
                                     " WHERE org_id = ? AND resource = ?";
    static const char op[] = "claim";
    rg_store__binder b;
    rg_store__reader r;
    char *holder = NULL, *holder_tenant = NULL;
    int rc, step;

    if ((rc = rg_store__require(tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(rollout_id, op, "rollout id")) < 0 ||
        (rc = rg_store__require(org_id, op, "org id")) < 0 ||
        (rc = rg_store__require(resource, op, "resource")) < 0 ||
        (rc = rg_store__prepare(&b, store, insert_sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, org_id);
    rg_store__bind_text(&b, resource);
    rg_store__bind_text(&b, rollout_id);
    rg_store__bind_text(&b, tenant_id);
    rg_store__bind_int64(&b, rg_time_now_ms());
    if ((rc = rg_store__binder_check(&b, store, op)) < 0 ||
        (rc = rg_store__step_done(store, b.stmt, op)) < 0)
        return rc;
    if (rg_store__changes(store) > 0)
        return 0;
    if ((rc = rg_store__prepare(&b, store, holder_sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, org_id);
    rg_store__bind_text(&b, resource);
    if ((rc = rg_store__binder_check(&b, store, op)) < 0)
        return rc;
    step = rg_store__step(store, b.stmt, op);
    if (step == 1) {
        rg_store__reader_init(&r, b.stmt);
        holder = rg_store__read_text(&r);
        holder_tenant = rg_store__read_text(&r);
        rc = r.rc;
    } else if (step < 0) {
        rc = step;
    }
    rg_store__reset(store, b.stmt);
    if (rc < 0)
        goto cleanup;
    if (holder == NULL || holder_tenant == NULL)
        rc = rg_error_set(RG_EDB, "store: %s: %s %s: the claim vanished while read", op, org_id,
                          resource);
    else if (strcmp(holder, rollout_id) == 0 && strcmp(holder_tenant, tenant_id) == 0)
        rc = 0; /* ours already */
    else if (strcmp(holder_tenant, tenant_id) == 0)
        rc = rg_error_set(RG_ECLAIMED,
                          "org %s %s is claimed by active rollout %s: wait for "
                          "it to end or roll it back",
                          org_id, resource, holder);
    else
        rc = rg_error_set(RG_ECLAIMED,
                          "org %s %s is claimed by another rollout (of another "
                          "tenant): wait for it to end",
                          org_id, resource);
cleanup:
    free(holder);
    free(holder_tenant);
    return rc;
}

int rg_store_claims_release(rg_store *store, const char *tenant_id, const char *rollout_id)
{
    static const char sql[] = "DELETE FROM claims WHERE tenant_id = ? AND rollout_id = ?";
    static const char op[] = "claims release";
    rg_store__binder b;
    int rc;

    if ((rc = rg_store__rollout_stmt(&b, store, sql, op, tenant_id, rollout_id)) < 0 ||
        (rc = rg_store__binder_check(&b, store, op)) < 0)
        return rc;
    return rg_store__step_done(store, b.stmt, op);
}

int rg_store_claims_count(int64_t *out, rg_store *store, const char *tenant_id,
                          const char *rollout_id)
{
    static const char sql[] = "SELECT count(*) FROM claims WHERE tenant_id = ?"
                              " AND rollout_id = ?";
    static const char op[] = "claims count";
    rg_store__binder b;
    int rc, step;

    if ((rc = rg_store__rollout_stmt(&b, store, sql, op, tenant_id, rollout_id)) < 0 ||
        (rc = rg_store__binder_check(&b, store, op)) < 0)
        return rc;
    step = rg_store__step(store, b.stmt, op);
    if (step == 1)
        *out = rg_store__col_int64(b.stmt, 0);
    else
        rc = step < 0 ? step : rg_error_set(RG_EDB, "store: %s: count returned no row", op);
    rg_store__reset(store, b.stmt);
    return rc;
}
