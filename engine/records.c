/* records.c - what the server and the CLI read of a rollout's record (and the audit entry
 * they write), through the engine's store: the only way above the engine to the store */
#include <stdlib.h>
#include <unistd.h>

#include "engine/engine_private.h"
#include "rollgate/platform.h"
#include "rollgate/records.h"

int rg_engine_open(rg_engine **out, const char *db_path, int readonly,
                   const rg_engine_options *opts)
{
    rg_store *store = NULL;
    rg_engine *engine = NULL;
    int rc = readonly ? rg_store_open_readonly(&store, db_path) : rg_store_open(&store, db_path);

    if (rc < 0)
        return rc;
    if ((rc = rg_engine_new(&engine, store, opts)) < 0) {
        rg_store_free(store);
        return rc;
    }
    engine->own_store = 1;
    *out = engine;
    return 0;
}

int rg_engine_db_display(char *out, size_t outlen, const char *db_path)
{
    return rg_store_location_display(out, outlen, db_path);
}

int rg_engine_db_is_postgresql(const char *db_path)
{
    return rg_store_location_is_postgresql(db_path);
}

int rg_engine_db_copy(rg_store_copy_report *out, const char *from_path, const char *to_uri,
                      int replace)
{
    rg_store *from = NULL, *to = NULL;
    char shown[1024];
    int rc;

    if (out == NULL || from_path == NULL || to_uri == NULL)
        return rg_error_set(RG_EINVALID, "db copy: missing argument");
    if (rg_store_location_is_postgresql(from_path))
        return rg_error_set(RG_EINVALID, "db copy: the source (--db) must be an SQLite file");
    if (!rg_store_location_is_postgresql(to_uri))
        return rg_error_set(RG_EINVALID,
                            "db copy: the target must be a postgresql:// or postgres:// URI");
    if (access(from_path, R_OK) != 0)
        return rg_error_set(RG_ENOTFOUND, "db copy: no database file %s", from_path);
    if ((rc = rg_store_open(&from, from_path)) < 0)
        return rc;
    if ((rc = rg_store_open(&to, to_uri)) == 0 &&
        (rc = rg_store_copy(out, to, from, replace)) < 0) {
        rg_store_location_display(shown, sizeof(shown), to_uri);
        rg_error_prefix("copying %s into %s", from_path, shown);
    }
    rg_store_free(to);
    rg_store_free(from);
    return rc;
}

int rg_engine_lease_claim_next(rg_store_lease *out, int *out_found, rg_engine *engine,
                               int64_t ttl_ms)
{
    if (engine == NULL)
        return rg_error_set(RG_EINVALID, "engine: lease claim next: no engine");
    return rg_store_lease_claim_next(out, out_found, engine->store, engine->owner,
                                     ttl_ms > 0 ? ttl_ms : rg_engine__lease_ttl(engine));
}

int rg_engine_rollout_get(rg_store_rollout *out, rg_engine *engine, const char *tenant_id,
                          const char *rollout_id)
{
    return rg_store_rollout_get(out, engine->store, tenant_id, rollout_id);
}

int rg_engine_rollout_list(rg_store_rollouts *out, rg_engine *engine, const char *tenant_id)
{
    return rg_store_rollout_list(out, engine->store, tenant_id);
}

int rg_engine_rollout_list_all_tenants(rg_store_rollouts *out, rg_engine *engine)
{
    return rg_store_rollout_list_all_tenants(out, engine->store);
}

int rg_engine_rollout_list_active_all_tenants(rg_store_rollouts *out, rg_engine *engine)
{
    return rg_store_rollout_list_active_all_tenants(out, engine->store);
}

int rg_engine_target_list(rg_store_targets *out, rg_engine *engine, const char *tenant_id,
                          const char *rollout_id)
{
    return rg_store_target_list(out, engine->store, tenant_id, rollout_id);
}

int rg_engine_snapshot_list(rg_store_snapshots *out, rg_engine *engine, const char *tenant_id,
                            const char *rollout_id)
{
    return rg_store_snapshot_list(out, engine->store, tenant_id, rollout_id);
}

int rg_engine_verdict_list(rg_store_verdicts *out, rg_engine *engine, const char *tenant_id,
                           const char *rollout_id, int stage)
{
    return rg_store_verdict_list(out, engine->store, tenant_id, rollout_id, stage);
}

int rg_engine_event_list(rg_store_events *out, rg_engine *engine, const char *tenant_id,
                         const char *rollout_id, int64_t after_id)
{
    return rg_store_event_list(out, engine->store, tenant_id, rollout_id, after_id);
}

int rg_engine_audit_list(rg_store_audits *out, rg_engine *engine, const char *tenant_id,
                         const char *rollout_id)
{
    return rg_store_audit_list(out, engine->store, tenant_id, rollout_id);
}

int rg_engine_audit_append(int64_t *out_id, rg_engine *engine, const rg_store_audit_in *entry)
{
    return rg_store_audit_append(out_id, engine->store, entry);
}

void rg_engine_rollout_dispose(rg_store_rollout *rollout)
{
    rg_store_rollout_dispose(rollout);
}

void rg_engine_rollouts_dispose(rg_store_rollouts *list)
{
    rg_store_rollouts_dispose(list);
}

void rg_engine_targets_dispose(rg_store_targets *list)
{
    rg_store_targets_dispose(list);
}

void rg_engine_snapshots_dispose(rg_store_snapshots *list)
{
    rg_store_snapshots_dispose(list);
}

void rg_engine_verdicts_dispose(rg_store_verdicts *list)
{
    rg_store_verdicts_dispose(list);
}

void rg_engine_events_dispose(rg_store_events *list)
{
    rg_store_events_dispose(list);
}

void rg_engine_audits_dispose(rg_store_audits *list)
{
    rg_store_audits_dispose(list);
}

int rg_engine_strategy_read(json_t **out_body, const char *org_id, const char *api_url,
                            const char *login_url, const char *credentials, const char *strategy_id)
{
    rg_platform *pf = NULL;
    rg_platform_org org = {org_id, api_url, login_url, credentials};
    char *etag = NULL;
    int rc;

    if ((rc = rg_platform_new(&pf, NULL)) < 0)
        return rc;
    if ((rc = rg_platform_add_org(pf, &org)) == 0)
        rc = rg_platform_strategy_get(out_body, &etag, pf, org_id, strategy_id);
    free(etag);
    rg_platform_free(pf);
    return rc;
}

int rg_engine_credentials_env_name(char *out, size_t outlen, const char *org_id, const char *suffix)
{
    return rg_platform_env_name(out, outlen, org_id, suffix);
}

int rg_engine_platform_add_org(rg_platform *platform, const char *org_id, const char *api_url,
                               const char *login_url, const char *credentials)
{
    rg_platform_org org = {org_id, api_url, login_url, credentials};
    return rg_platform_add_org(platform, &org);
}
