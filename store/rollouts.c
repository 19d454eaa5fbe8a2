/* rollouts.c - tenants and rollout rows, with optimistic revision checks on update */
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"
#include "store/rows.h"

/* ---- tenants ---- */

int rg_store_tenant_ensure(rg_store *store, const char *tenant_id, const char *name)
{
    static const char sql[] = "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)"
                              " ON CONFLICT (id) DO NOTHING";
    static const char op[] = "tenant ensure";
    rg_store__binder b;
    int rc;

    if ((rc = rg_store__require(tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(name, op, "tenant name")) < 0 ||
        (rc = rg_store__tenant_stmt(&b, store, sql, op, tenant_id)) < 0)
        return rc;
    rg_store__bind_text(&b, name);
    rg_store__bind_int64(&b, rg_time_now_ms());
    if ((rc = rg_store__binder_check(&b, store, op)) < 0)
        return rc;
    return rg_store__step_done(store, b.stmt, op);
}

int rg_store_tenant_name(char **out, rg_store *store, const char *tenant_id)
{
    static const char sql[] = "SELECT name FROM tenants WHERE id = ?";
    static const char op[] = "tenant name";
    rg_store__binder b;
    char *name = NULL;
    int rc;

    if ((rc = rg_store__tenant_stmt(&b, store, sql, op, tenant_id)) < 0)
        return rc;
    if ((rc = rg_store__select_row(&name, &rg_store__text_row, store, &b, op)) < 0)
        return rc;
    *out = name;
    return 0;
}

/* ---- rollouts ---- */

static int check_rollout_fields(const rg_store_rollout *ro, const char *op)
{
    int rc;

    if (ro == NULL)
        return rg_error_set(RG_EINVALID, "store: %s: no rollout", op);
    if ((rc = rg_store__require(ro->id, op, "rollout id")) < 0 ||
        (rc = rg_store__require(ro->tenant_id, op, "tenant id")) < 0)
        return rc;
    if (rg_rollout_state_to_str(ro->state) == NULL)
        return rg_error_set(RG_EINVALID, "store: %s: rollout %s: invalid state %d", op, ro->id,
                            (int)ro->state);
    if (ro->stage_count < 1 || ro->stage_index < 0 || ro->stage_index > ro->stage_count)
        return rg_error_set(RG_EINVALID, "store: %s: rollout %s: stage %d of %d is out of range",
                            op, ro->id, ro->stage_index, ro->stage_count);
    return 0;
}

int rg_store_rollout_insert(rg_store *store, rg_store_rollout *rollout)
{
    static const char sql[] = "INSERT INTO rollouts (" RG_STORE__ROLLOUT_COLUMNS ") VALUES"
                              " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)";
    static const char op[] = "rollout insert";
    rg_store__query *stmt = NULL;
    rg_store__binder b;
    int64_t created, updated;
    int rc;

    if ((rc = check_rollout_fields(rollout, op)) < 0 ||
        (rc = rg_store__require(rollout->name, op, "rollout name")) < 0 ||
        (rc = rg_store__require(rollout->manifest, op, "manifest")) < 0 ||
        (rc = rg_store__require(rollout->policy, op, "policy")) < 0 ||
        (rc = rg_store__require(rollout->created_by, op, "created_by")) < 0 ||
        (rc = rg_store__stmt(&stmt, store, sql, op)) < 0)
        return rc;
    created = rollout->created_at_ms ? rollout->created_at_ms : rg_time_now_ms();
    updated = rollout->updated_at_ms ? rollout->updated_at_ms : created;
    rg_store__binder_init(&b, stmt);
    rg_store__bind_text(&b, rollout->id);
    rg_store__bind_text(&b, rollout->tenant_id);
    rg_store__bind_text(&b, rollout->name);
    rg_store__bind_text(&b, rollout->manifest);
    rg_store__bind_text(&b, rollout->policy);
    rg_store__bind_text(&b, rg_rollout_state_to_str(rollout->state));
    rg_store__bind_int64(&b, rollout->stage_index);
    rg_store__bind_int64(&b, rollout->stage_count);
    rg_store__bind_text(&b, rollout->created_by);
    rg_store__bind_int64(&b, created);
    rg_store__bind_int64(&b, updated);
    rg_store__bind_text(&b, rollout->hold_reason);
    rg_store__bind_text(&b, rollout->verification);
    rg_store__bind_time(&b, rollout->stage_started_at_ms);
    rg_store__bind_time(&b, rollout->stage_applied_at_ms);
    rg_store__bind_text(&b, rollout->baseline);
    rg_store__bind_text(&b, rollout->digest);
    rg_store__bind_text(&b, rollout->environment);
    rg_store__bind_text(&b, rollout->forced_reason);
    if ((rc = rg_store__binder_check(&b, store, op)) < 0 ||
        (rc = rg_store__step_done(store, stmt, op)) < 0) {
        if (rc == RG_ENOTFOUND)
            rg_error_set(rc, "store: %s: tenant %s not found", op, rollout->tenant_id);
        return rc;
    }
    rollout->revision = 1;
    rollout->created_at_ms = created;
    rollout->updated_at_ms = updated;
    return 0;
}

int rg_store_rollout_get(rg_store_rollout *out, rg_store *store, const char *tenant_id,
                         const char *rollout_id)
{
    static const char sql[] = "SELECT " RG_STORE__ROLLOUT_COLUMNS " FROM rollouts"
                              " WHERE tenant_id = ? AND id = ?";
    static const char op[] = "rollout get";
    rg_store_rollout ro;
    rg_store__binder b;
    int rc;

    memset(&ro, 0, sizeof(ro));
    if ((rc = rg_store__rollout_stmt(&b, store, sql, op, tenant_id, rollout_id)) < 0)
        return rc;
    if ((rc = rg_store__select_row(&ro, &rg_store__rollout_row, store, &b, op)) < 0) {
        if (rc == RG_ENOTFOUND)
            rg_error_set(rc, "store: %s: rollout %s not found", op, rollout_id);
        return rc;
    }
    *out = ro;
    return 0;
}

/* After an update matched no row: tell a stale revision from a missing rollout. */
static int explain_no_update(rg_store *store, const rg_store_rollout *rollout, const char *op)
{
    static const char sql[] = "SELECT revision FROM rollouts WHERE id = ? AND tenant_id = ?";
    rg_store__binder b;
    int rc, step;

    if ((rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, rollout->id);
    rg_store__bind_text(&b, rollout->tenant_id);
    if ((rc = rg_store__binder_check(&b, store, op)) < 0)
        return rc;
    step = rg_store__step(store, b.stmt, op);
    if (step == 1)
        rc = rg_error_set(RG_ECONFLICT,
                          "store: %s: rollout %s changed concurrently (revision %lld, expected "
                          "%lld)",
                          op, rollout->id, (long long)rg_store__col_int64(b.stmt, 0),
                          (long long)rollout->revision);
    else if (step == 0)
        rc = rg_error_set(RG_ENOTFOUND, "store: %s: rollout %s not found", op, rollout->id);
    else
        rc = step;
    rg_store__reset(store, b.stmt);
    return rc;
}

int rg_store_rollout_update(rg_store *store, rg_store_rollout *rollout)
{
    static const char sql[] =
        "UPDATE rollouts SET state = ?, stage_index = ?, stage_count = ?, hold_reason = ?,"
        " verification = ?, stage_started_at = ?, stage_applied_at = ?, baseline = ?,"
        " updated_at = ?, revision = revision + 1"
        " WHERE id = ? AND tenant_id = ? AND revision = ?";
    static const char op[] = "rollout update";
    rg_store__binder b;
    int64_t now = rg_time_now_ms();
    int rc;

    if ((rc = check_rollout_fields(rollout, op)) < 0 ||
        (rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, rg_rollout_state_to_str(rollout->state));
    rg_store__bind_int64(&b, rollout->stage_index);
    rg_store__bind_int64(&b, rollout->stage_count);
    rg_store__bind_text(&b, rollout->hold_reason);
    rg_store__bind_text(&b, rollout->verification);
    rg_store__bind_time(&b, rollout->stage_started_at_ms);
    rg_store__bind_time(&b, rollout->stage_applied_at_ms);
    rg_store__bind_text(&b, rollout->baseline);
    rg_store__bind_int64(&b, now);
    rg_store__bind_text(&b, rollout->id);
    rg_store__bind_text(&b, rollout->tenant_id);
    rg_store__bind_int64(&b, rollout->revision);
    if ((rc = rg_store__binder_check(&b, store, op)) < 0 ||
        (rc = rg_store__step_done(store, b.stmt, op)) < 0)
        return rc;
    if (rg_store__changes(store) == 0)
        return explain_no_update(store, rollout, op);
    rollout->revision++;
    rollout->updated_at_ms = now;
    return 0;
}

static int collect_rollouts(rg_store_rollouts *out, rg_store *store, rg_store__binder *b,
                            const char *op)
{
    rg_store__array a;
    int rc = rg_store__select_rows(&a, &rg_store__rollout_row, store, b, op);
    if (rc < 0)
        return rc;
    RG_STORE__LIST_TAKE(out, a);
    return 0;
}

/* A SELECT of rollouts without parameters: the reads across tenants. */
static int list_all_tenants(rg_store_rollouts *out, rg_store *store, const char *sql,
                            const char *op)
{
    rg_store__binder b;
    int rc;

    if ((rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    return collect_rollouts(out, store, &b, op);
}

int rg_store_rollout_list(rg_store_rollouts *out, rg_store *store, const char *tenant_id)
{
    static const char sql[] = "SELECT " RG_STORE__ROLLOUT_COLUMNS " FROM rollouts"
                              " WHERE tenant_id = ? ORDER BY created_at, id";
    static const char op[] = "rollout list";
    rg_store__binder b;
    int rc;

    if ((rc = rg_store__tenant_stmt(&b, store, sql, op, tenant_id)) < 0)
        return rc;
    return collect_rollouts(out, store, &b, op);
}

int rg_store_rollout_list_all_tenants(rg_store_rollouts *out, rg_store *store)
{
    /* For `rollgate list` on the engine host: history across tenants, oldest first. */
    static const char sql[] = "SELECT " RG_STORE__ROLLOUT_COLUMNS " FROM rollouts"
                              " ORDER BY created_at, id";
    return list_all_tenants(out, store, sql, "rollout list (all tenants)");
}

int rg_store_rollout_list_active_all_tenants(rg_store_rollouts *out, rg_store *store)
{
    /* The one read that crosses tenants, for the scheduler; callers continue per row with
     * the row's own tenant_id. */
    static const char sql[] = "SELECT " RG_STORE__ROLLOUT_COLUMNS " FROM rollouts"
                              " WHERE state IN ('awaiting_approval', 'running', 'paused',"
                              " 'held', 'rolling_back') ORDER BY created_at, id";
    return list_all_tenants(out, store, sql, "rollout list active (all tenants)");
}

int rg_store_rollout_list_digest(rg_store_rollouts *out, rg_store *store, const char *tenant_id,
                                 const char *digest)
{
    static const char sql[] = "SELECT " RG_STORE__ROLLOUT_COLUMNS " FROM rollouts"
                              " WHERE tenant_id = ? AND digest = ? ORDER BY created_at, id";
    static const char op[] = "rollout list by digest";
    rg_store__binder b;
    int rc;

    if ((rc = rg_store__require(tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(digest, op, "digest")) < 0 ||
        (rc = rg_store__tenant_stmt(&b, store, sql, op, tenant_id)) < 0)
        return rc;
    rg_store__bind_text(&b, digest);
    return collect_rollouts(out, store, &b, op);
}

int rg_store_rollout_last_in_environment(rg_store_rollout *out, rg_store *store,
                                         const char *tenant_id, const char *environment)
{
    static const char sql[] = "SELECT " RG_STORE__ROLLOUT_COLUMNS " FROM rollouts"
                              " WHERE tenant_id = ? AND environment = ?"
                              " ORDER BY created_at DESC, id DESC LIMIT 1";
    static const char op[] = "rollout last in environment";
    rg_store_rollout ro;
    rg_store__binder b;
    int rc;

    memset(&ro, 0, sizeof(ro));
    if ((rc = rg_store__require(tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(environment, op, "environment")) < 0 ||
        (rc = rg_store__tenant_stmt(&b, store, sql, op, tenant_id)) < 0)
        return rc;
    rg_store__bind_text(&b, environment);
    if ((rc = rg_store__select_row(&ro, &rg_store__rollout_row, store, &b, op)) < 0) {
        if (rc == RG_ENOTFOUND)
            rg_error_set(rc, "store: %s: no rollout in environment %s", op, environment);
        return rc;
    }
    *out = ro;
    return 0;
}
