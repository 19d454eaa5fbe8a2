/* retry.c - `retry`: a rolled-back rollout again, as a new rollout of the same recorded
 * artifact linked to the old one (docs/operations.md, "Retry") */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "rollgate/util.h"

/* Why a new rollout and not a resumed stage: the old rollout's record (its verdicts, its
 * trip, its snapshots and restore) stays what happened; the new one snapshots the platform
 * as it is now (after the restore and anything people changed since), measures a fresh
 * pre-change window and spends a fresh alpha, claims its orgs again and checks its
 * environment's requirements again, as any start does. */
int rg_engine_retry(char out_id[RG_STORE_ROLLOUT_ID_LEN], rg_engine *engine, const char *tenant_id,
                    const char *rollout_id, const char *actor, int approve)
{
    rg_store_rollout row = {0};
    rg_manifest *m = NULL;
    rg_manifest_options opts = {NULL, 0, NULL};
    int rc;

    if (out_id == NULL || engine == NULL || tenant_id == NULL || rollout_id == NULL ||
        actor == NULL)
        return rg_error_set(RG_EINVALID, "rg_engine_retry: invalid arguments");
    if ((rc = rg_store_rollout_get(&row, engine->store, tenant_id, rollout_id)) < 0)
        return rc;
    if (row.state != RG_ROLLOUT_ROLLED_BACK) {
        rc = rg_error_set(RG_ECONFLICT,
                          "cannot retry rollout %s: it is %s (only a rolled-back "
                          "rollout is retried%s)",
                          rollout_id, rg_rollout_state_to_str(row.state),
                          row.state == RG_ROLLOUT_ROLLBACK_INCOMPLETE
                              ? "; finish restoring the organizations named in its status "
                                "first"
                              : "");
        goto cleanup;
    }
    opts.environment = row.environment;
    /* The artifact recorded with the rollout, never a file on disk. */
    if ((rc = rg_manifest_load_buffer(&m, "stored manifest", row.manifest, strlen(row.manifest),
                                      NULL, &opts)) < 0) {
        rg_error_prefix("rollout %s", rollout_id);
        goto cleanup;
    }
    rc = rg_engine__start_linked(out_id, engine, m, NULL, actor, approve, NULL, rollout_id);
cleanup:
    rg_manifest_free(m);
    rg_store_rollout_dispose(&row);
    return rc;
}
