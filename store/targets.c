/* targets.c - target rows (one per rollout, organization, strategy) and their mutable state */
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"
#include "store/rows.h"

static int check_target_key(const rg_store_target *t, const char *op)
{
    int rc;

    if (t == NULL)
        return rg_error_set(RG_EINVALID, "store: %s: no target", op);
    if ((rc = rg_store__require(t->tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(t->rollout_id, op, "rollout id")) < 0 ||
        (rc = rg_store__require(t->org_id, op, "org id")) < 0 ||
        (rc = rg_store__require(t->strategy_id, op, "strategy id")) < 0)
        return rc;
    if (rg_target_state_to_str(t->state) == NULL)
        return rg_error_set(RG_EINVALID, "store: %s: target %s/%s: invalid state %d", op, t->org_id,
                            t->strategy_id, (int)t->state);
    if (t->attempts < 0)
        return rg_error_set(RG_EINVALID, "store: %s: target %s/%s: negative attempts", op,
                            t->org_id, t->strategy_id);
    return 0;
}

static void bind_target_state(rg_store__binder *b, const rg_store_target *t)
{
    rg_store__bind_text(b, rg_target_state_to_str(t->state));
    rg_store__bind_int64(b, t->attempts);
    rg_store__bind_text(b, t->last_error);
    rg_store__bind_text(b, t->applied_etag);
    rg_store__bind_text(b, t->applied_body);
    rg_store__bind_time(b, t->applied_at_ms);
    rg_store__bind_text(b, t->restored_etag);
    rg_store__bind_time(b, t->restored_at_ms);
    rg_store__bind_text(b, t->kept_fields);
}

int rg_store_target_insert(rg_store *store, const rg_store_target *target)
{
    static const char sql[] = "INSERT INTO targets (" RG_STORE__TARGET_COLUMNS ") VALUES"
                              " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    static const char op[] = "target insert";
    rg_store__binder b;
    int rc;

    if ((rc = check_target_key(target, op)) < 0 ||
        (rc = rg_store__require(target->group_name, op, "group name")) < 0 ||
        (rc = rg_store__rollout_exists(store, target->tenant_id, target->rollout_id, op)) < 0 ||
        (rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, target->rollout_id);
    rg_store__bind_text(&b, target->tenant_id);
    rg_store__bind_int64(&b, target->seq);
    rg_store__bind_text(&b, target->org_id);
    rg_store__bind_text(&b, target->group_name);
    rg_store__bind_int64(&b, target->tier);
    rg_store__bind_int64(&b, target->stage_index);
    rg_store__bind_text(&b, target->strategy_id);
    rg_store__bind_text(&b, target->api_url);
    rg_store__bind_text(&b, target->login_url);
    bind_target_state(&b, target);
    if ((rc = rg_store__binder_check(&b, store, op)) < 0 ||
        (rc = rg_store__step_done(store, b.stmt, op)) < 0) {
        if (rc == RG_ENOTFOUND)
            rg_error_set(rc, "store: %s: rollout %s not found", op, target->rollout_id);
        return rc;
    }
    return 0;
}

int rg_store_target_get(rg_store_target *out, rg_store *store, const char *tenant_id,
                        const char *rollout_id, const char *org_id, const char *strategy_id)
{
    static const char sql[] = "SELECT " RG_STORE__TARGET_COLUMNS " FROM targets"
                              " WHERE tenant_id = ? AND rollout_id = ? AND org_id = ?"
                              " AND strategy_id = ?";
    static const char op[] = "target get";
    rg_store_target t;
    int rc;

    memset(&t, 0, sizeof(t));
    if ((rc = rg_store__select_org_row(&t, &rg_store__target_row, store, sql, op, tenant_id,
                                       rollout_id, org_id, strategy_id)) < 0)
        return rc;
    *out = t;
    return 0;
}

int rg_store_target_update(rg_store *store, const rg_store_target *target)
{
    static const char sql[] =
        "UPDATE targets SET state = ?, attempts = ?, last_error = ?, applied_etag = ?,"
        " applied_body = ?, applied_at = ?, restored_etag = ?, restored_at = ?, kept_fields = ?"
        " WHERE tenant_id = ? AND rollout_id = ? AND org_id = ? AND strategy_id = ?";
    static const char op[] = "target update";
    rg_store__binder b;
    int rc;

    if ((rc = check_target_key(target, op)) < 0 || (rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    bind_target_state(&b, target);
    rg_store__bind_text(&b, target->tenant_id);
    rg_store__bind_text(&b, target->rollout_id);
    rg_store__bind_text(&b, target->org_id);
    rg_store__bind_text(&b, target->strategy_id);
    if ((rc = rg_store__binder_check(&b, store, op)) < 0 ||
        (rc = rg_store__step_done(store, b.stmt, op)) < 0)
        return rc;
    if (rg_store__changes(store) == 0)
        return rg_error_set(RG_ENOTFOUND, "store: %s: target %s/%s of rollout %s not found", op,
                            target->org_id, target->strategy_id, target->rollout_id);
    return 0;
}

int rg_store_target_list(rg_store_targets *out, rg_store *store, const char *tenant_id,
                         const char *rollout_id)
{
    static const char sql[] = "SELECT " RG_STORE__TARGET_COLUMNS " FROM targets"
                              " WHERE tenant_id = ? AND rollout_id = ? ORDER BY seq";
    static const char op[] = "target list";
    rg_store__binder b;
    rg_store__array a;
    int rc;

    if ((rc = rg_store__rollout_stmt(&b, store, sql, op, tenant_id, rollout_id)) < 0)
        return rc;
    if ((rc = rg_store__select_rows(&a, &rg_store__target_row, store, &b, op)) < 0)
        return rc;
    RG_STORE__LIST_TAKE(out, a);
    return 0;
}
