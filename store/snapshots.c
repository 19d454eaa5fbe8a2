/* snapshots.c - insert-only pre-change copies of strategies, committed with synchronous=FULL */
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"
#include "store/store_private.h"

#define SNAPSHOT_COLUMNS "rollout_id, tenant_id, org_id, strategy_id, etag, body, taken_at"

void rg_store_snapshot_dispose(rg_store_snapshot *snapshot)
{
    if (snapshot == NULL)
        return;
    free(snapshot->rollout_id);
    free(snapshot->tenant_id);
    free(snapshot->org_id);
    free(snapshot->strategy_id);
    free(snapshot->etag);
    free(snapshot->body);
    memset(snapshot, 0, sizeof(*snapshot));
}

void rg_store_snapshots_dispose(rg_store_snapshots *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->count; i++)
        rg_store_snapshot_dispose(&list->items[i]);
    free(list->items);
    memset(list, 0, sizeof(*list));
}

static void dispose_snapshot(void *element)
{
    rg_store_snapshot_dispose(element);
}

static int read_snapshot(void *element, sqlite3_stmt *stmt)
{
    rg_store_snapshot *s = element;
    rg_store__reader r;

    rg_store__reader_init(&r, stmt);
    s->rollout_id = rg_store__read_text(&r);
    s->tenant_id = rg_store__read_text(&r);
    s->org_id = rg_store__read_text(&r);
    s->strategy_id = rg_store__read_text(&r);
    s->etag = rg_store__read_text(&r);
    s->body = rg_store__read_text(&r);
    s->taken_at_ms = rg_store__read_int64(&r);
    if (r.rc < 0)
        rg_store_snapshot_dispose(s);
    return r.rc;
}

static int insert_row(rg_store *store, const rg_store_snapshot *snapshot, const char *op)
{
    static const char sql[] = "INSERT INTO snapshots (" SNAPSHOT_COLUMNS ")"
                              " VALUES (?, ?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *stmt = NULL;
    rg_store__binder b;
    int rc;

    if ((rc = rg_store__stmt(&stmt, store, sql, op)) < 0)
        return rc;
    rg_store__binder_init(&b, stmt);
    rg_store__bind_text(&b, snapshot->rollout_id);
    rg_store__bind_text(&b, snapshot->tenant_id);
    rg_store__bind_text(&b, snapshot->org_id);
    rg_store__bind_text(&b, snapshot->strategy_id);
    rg_store__bind_text(&b, snapshot->etag);
    rg_store__bind_text(&b, snapshot->body);
    rg_store__bind_int64(&b, snapshot->taken_at_ms ? snapshot->taken_at_ms : rg_time_now_ms());
    if ((rc = rg_store__binder_check(&b, store->db, op)) < 0)
        return rc;
    rc = rg_store__step_done(store, stmt, op);
    if (rc == RG_ENOTFOUND)
        rg_error_set(rc, "store: %s: target %s/%s of rollout %s not found", op,
                     snapshot->org_id, snapshot->strategy_id, snapshot->rollout_id);
    else if (rc == RG_ECONFLICT)
        rg_error_set(rc, "store: %s: a snapshot of %s/%s already exists for rollout %s; the "
                         "first is kept",
                     op, snapshot->org_id, snapshot->strategy_id, snapshot->rollout_id);
    return rc;
}

int rg_store_snapshot_insert(rg_store *store, const rg_store_snapshot *snapshot)
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
    if ((rc = rg_store__rollout_exists(store, snapshot->tenant_id, snapshot->rollout_id, op)) <
        0)
        return rc;
    if (rg_store_in_transaction(store)) {
        /* The commit decides durability, and synchronous cannot change mid-transaction. */
        if (!store->durable)
            return rg_error_set(RG_EINVALID, "store: %s: the open transaction was not begun "
                                             "with rg_store_begin_durable",
                                op);
        return insert_row(store, snapshot, op);
    }
    if ((rc = rg_store__exec(store->db, "PRAGMA synchronous = FULL", op)) < 0)
        return rc;
    rc = insert_row(store, snapshot, op);
    restore = rg_store__exec(store->db, "PRAGMA synchronous = NORMAL", "restore synchronous");
    return rc < 0 ? rc : restore;
}

int rg_store_snapshot_get(rg_store_snapshot *out, rg_store *store, const char *tenant_id,
                          const char *rollout_id, const char *org_id, const char *strategy_id)
{
    static const char sql[] = "SELECT " SNAPSHOT_COLUMNS " FROM snapshots WHERE tenant_id = ?"
                              " AND rollout_id = ? AND org_id = ? AND strategy_id = ?";
    static const char op[] = "snapshot get";
    rg_store_snapshot s;
    sqlite3_stmt *stmt = NULL;
    rg_store__binder b;
    int rc;

    memset(&s, 0, sizeof(s));
    if ((rc = rg_store__require(tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(rollout_id, op, "rollout id")) < 0 ||
        (rc = rg_store__require(org_id, op, "org id")) < 0 ||
        (rc = rg_store__require(strategy_id, op, "strategy id")) < 0 ||
        (rc = rg_store__stmt(&stmt, store, sql, op)) < 0)
        return rc;
    rg_store__binder_init(&b, stmt);
    rg_store__bind_text(&b, tenant_id);
    rg_store__bind_text(&b, rollout_id);
    rg_store__bind_text(&b, org_id);
    rg_store__bind_text(&b, strategy_id);
    if ((rc = rg_store__binder_check(&b, store->db, op)) < 0 ||
        (rc = rg_store__fetch_one(&s, store, stmt, read_snapshot, op, "snapshot")) < 0)
        return rc;
    *out = s;
    return 0;
}

int rg_store_snapshot_list(rg_store_snapshots *out, rg_store *store, const char *tenant_id,
                           const char *rollout_id)
{
    static const char sql[] = "SELECT " SNAPSHOT_COLUMNS " FROM snapshots WHERE tenant_id = ?"
                              " AND rollout_id = ? ORDER BY org_id, strategy_id";
    static const char op[] = "snapshot list";
    sqlite3_stmt *stmt = NULL;
    rg_store__binder b;
    rg_store__array a;
    int rc;

    if ((rc = rg_store__require(tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(rollout_id, op, "rollout id")) < 0 ||
        (rc = rg_store__stmt(&stmt, store, sql, op)) < 0)
        return rc;
    rg_store__binder_init(&b, stmt);
    rg_store__bind_text(&b, tenant_id);
    rg_store__bind_text(&b, rollout_id);
    if ((rc = rg_store__binder_check(&b, store->db, op)) < 0 ||
        (rc = rg_store__collect(&a, sizeof(rg_store_snapshot), store, stmt, read_snapshot,
                                dispose_snapshot, op)) < 0)
        return rc;
    out->items = a.items;
    out->count = a.count;
    out->cap = a.cap;
    return 0;
}
