/* snapshots.c - insert-only pre-change copies of strategies, committed with synchronous=FULL */
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"
#include "store/rows.h"

static int insert_row(rg_store *store, const rg_store_snapshot_in *snapshot, const char *op)
{
    static const char sql[] = "INSERT INTO snapshots (" RG_STORE__SNAPSHOT_COLUMNS ")"
                              " VALUES (?, ?, ?, ?, ?, ?, ?)";
    rg_store__binder b;
    int rc;

    if ((rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, snapshot->rollout_id);
    rg_store__bind_text(&b, snapshot->tenant_id);
    rg_store__bind_text(&b, snapshot->org_id);
    rg_store__bind_text(&b, snapshot->strategy_id);
    rg_store__bind_text(&b, snapshot->etag);
    rg_store__bind_text(&b, snapshot->body);
    rg_store__bind_int64(&b, snapshot->taken_at_ms ? snapshot->taken_at_ms : rg_time_now_ms());
    if ((rc = rg_store__binder_check(&b, store, op)) < 0)
        return rc;
    rc = rg_store__step_done(store, b.stmt, op);
    if (rc == RG_ENOTFOUND)
        rg_error_set(rc, "store: %s: target %s/%s of rollout %s not found", op, snapshot->org_id,
                     snapshot->strategy_id, snapshot->rollout_id);
    else if (rc == RG_ECONFLICT)
        rg_error_set(rc,
                     "store: %s: a snapshot of %s/%s already exists for rollout %s; the "
                     "first is kept",
                     op, snapshot->org_id, snapshot->strategy_id, snapshot->rollout_id);
    return rc;
}

int rg_store_snapshot_insert(rg_store *store, const rg_store_snapshot_in *snapshot)
{
    static const char op[] = "snapshot insert";
    int rc, restore;

    if (snapshot == NULL)
        return rg_error_set(RG_EINVALID, "store: %s: no snapshot", op);
    if ((rc = rg_store__require(snapshot->tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(snapshot->rollout_id, op, "rollout id")) < 0 ||
        (rc = rg_store__require(snapshot->org_id, op, "org id")) < 0 ||
        (rc = rg_store__require(snapshot->strategy_id, op, "strategy id")) < 0 ||
        (rc = rg_store__require(snapshot->etag, op, "etag")) < 0 ||
        (rc = rg_store__require(snapshot->body, op, "body")) < 0)
        return rc;
    /* Another tenant's key must look absent, not "already taken". */
    if ((rc = rg_store__rollout_exists(store, snapshot->tenant_id, snapshot->rollout_id, op)) < 0)
        return rc;
    if (rg_store_in_transaction(store)) {
        /* The commit decides durability, and synchronous cannot change mid-transaction. */
        if (!store->durable)
            return rg_error_set(RG_EINVALID,
                                "store: %s: the open transaction was not begun "
                                "with rg_store_begin_durable",
                                op);
        return insert_row(store, snapshot, op);
    }
    if (store->pg) /* every PostgreSQL commit is durable */
        return insert_row(store, snapshot, op);
    if ((rc = rg_store__lite_exec(store->db, "PRAGMA synchronous = FULL", op)) < 0)
        return rc;
    rc = insert_row(store, snapshot, op);
    restore = rg_store__lite_exec(store->db, "PRAGMA synchronous = NORMAL", "restore synchronous");
    return rc < 0 ? rc : restore;
}

int rg_store_snapshot_get(rg_store_snapshot *out, rg_store *store, const char *tenant_id,
                          const char *rollout_id, const char *org_id, const char *strategy_id)
{
    static const char sql[] = "SELECT " RG_STORE__SNAPSHOT_COLUMNS " FROM snapshots"
                              " WHERE tenant_id = ? AND rollout_id = ? AND org_id = ?"
                              " AND strategy_id = ?";
    static const char op[] = "snapshot get";
    rg_store_snapshot s;
    int rc;

    memset(&s, 0, sizeof(s));
    if ((rc = rg_store__select_org_row(&s, &rg_store__snapshot_row, store, sql, op, tenant_id,
                                       rollout_id, org_id, strategy_id)) < 0)
        return rc;
    *out = s;
    return 0;
}

int rg_store_snapshot_list(rg_store_snapshots *out, rg_store *store, const char *tenant_id,
                           const char *rollout_id)
{
    static const char sql[] = "SELECT " RG_STORE__SNAPSHOT_COLUMNS " FROM snapshots"
                              " WHERE tenant_id = ? AND rollout_id = ?"
                              " ORDER BY org_id, strategy_id";
    static const char op[] = "snapshot list";
    rg_store__binder b;
    rg_store__array a;
    int rc;

    if ((rc = rg_store__rollout_stmt(&b, store, sql, op, tenant_id, rollout_id)) < 0)
        return rc;
    if ((rc = rg_store__select_rows(&a, &rg_store__snapshot_row, store, &b, op)) < 0)
        return rc;
    RG_STORE__LIST_TAKE(out, a);
    return 0;
}
