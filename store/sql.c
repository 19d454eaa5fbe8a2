/* sql.c - the store's statement plumbing over its two drivers (SQLite here, PostgreSQL in
 * pg.c): statement cache, binding, stepping, reading columns, error mapping */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollgate/util.h"
#include "store/store_private.h"

int rg_store__db_error(sqlite3 *db, int rc, const char *op)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    int code;

    switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_TRIGGER: code = RG_ECONFLICT; break;
    case SQLITE_CONSTRAINT_FOREIGNKEY: code = RG_ENOTFOUND; break;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG: code = RG_EINVALID; break;
    case SQLITE_NOMEM: code = RG_ENOMEM; break;
    default: code = RG_EDB; break;
    }
    /* SQLite's messages name tables, columns and constraints, never bound values, so no
     * secret or customer data can reach the error record through them. */
    return rg_error_set(code, "store: %s: %s (%s)", op, msg, sqlite3_errstr(rc));
}

int rg_store__lite_exec(sqlite3 *db, const char *sql, const char *op)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return rg_store__db_error(db, sqlite3_extended_errcode(db), op);
    return 0;
}

int rg_store__exec(rg_store *store, const char *sql, const char *op)
{
    if (store->pg)
        return rg_store__pg_exec(store->pg, sql, op);
    return rg_store__lite_exec(store->db, sql, op);
}

int rg_store__is_pg_location(const char *location)
{
    return location && (strncmp(location, "postgresql://", 13) == 0 ||
                        strncmp(location, "postgres://", 11) == 0);
}

static void query_free(rg_store__query *q)
{
    if (q == NULL)
        return;
    sqlite3_finalize(q->lite);
    rg_store__pg_stmt_free(q->pg);
    free(q);
}

int rg_store__stmt(rg_store__query **out, rg_store *store, const char *sql, const char *op)
{
    rg_store__query *q = NULL;
    int rc;

    for (size_t i = 0; i < store->stmt_count; i++) {
        if (store->stmts[i]->sql == sql) {
            q = store->stmts[i];
            rg_store__reset(store, q);
            if (q->lite)
                sqlite3_clear_bindings(q->lite);
            *out = q;
            return 0;
        }
    }
    if (store->stmt_count == store->stmt_cap) {
        size_t cap = store->stmt_cap ? store->stmt_cap * 2 : 32;
        rg_store__query **grown = realloc(store->stmts, cap * sizeof(rg_store__query *));
        if (grown == NULL)
            return rg_error_set(RG_ENOMEM, "store: %s: out of memory", op);
        store->stmts = grown;
        store->stmt_cap = cap;
    }
    if ((q = calloc(1, sizeof(*q))) == NULL)
        return rg_error_set(RG_ENOMEM, "store: %s: out of memory", op);
    q->sql = sql;
    if (store->pg) {
        if ((q->pg = rg_store__pg_stmt_new(store->pg, sql)) == NULL) {
            free(q);
            return rg_error_set(RG_ENOMEM, "store: %s: out of memory", op);
        }
    } else {
        rc = sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q->lite, NULL);
        if (rc != SQLITE_OK) {
            free(q);
            return rg_store__db_error(store->db, rc, op);
        }
    }
    store->stmts[store->stmt_count++] = q;
    *out = q;
    return 0;
}

void rg_store__stmt_cache_free(rg_store *store)
{
    for (size_t i = 0; i < store->stmt_count; i++)
        query_free(store->stmts[i]);
    free(store->stmts);
    store->stmts = NULL;
    store->stmt_count = store->stmt_cap = 0;
}

int rg_store__step(rg_store *store, rg_store__query *q, const char *op)
{
    int rc;

    if (q->pg)
        return rg_store__pg_step(store->pg, q->pg, op);
    rc = sqlite3_step(q->lite);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return rg_store__db_error(store->db, sqlite3_extended_errcode(store->db), op);
}

void rg_store__reset(rg_store *store, rg_store__query *q)
{
    (void)store;
    if (q->pg)
        rg_store__pg_reset(q->pg);
    else
        sqlite3_reset(q->lite);
}

int64_t rg_store__changes(rg_store *store)
{
    return store->pg ? rg_store__pg_changes(store->pg) : (int64_t)sqlite3_changes(store->db);
}

int64_t rg_store__last_id(rg_store *store)
{
    return store->pg ? rg_store__pg_last_id(store->pg)
                     : (int64_t)sqlite3_last_insert_rowid(store->db);
}

int rg_store__col_null(rg_store__query *q, int col)
{
    size_t len;
    if (q->pg)
        return rg_store__pg_col(q->pg, col, &len) == NULL;
    return sqlite3_column_type(q->lite, col) == SQLITE_NULL;
}

const char *rg_store__col_text(rg_store__query *q, int col, size_t *len)
{
    const unsigned char *text;

    if (q->pg)
        return rg_store__pg_col(q->pg, col, len);
    if (sqlite3_column_type(q->lite, col) == SQLITE_NULL)
        return NULL;
    text = sqlite3_column_text(q->lite, col);
    *len = (size_t)sqlite3_column_bytes(q->lite, col);
    return (const char *)text;
}

int64_t rg_store__col_int64(rg_store__query *q, int col)
{
    size_t len;
    const char *text;

    if (q->lite)
        return (int64_t)sqlite3_column_int64(q->lite, col);
    text = rg_store__pg_col(q->pg, col, &len);
    return text ? (int64_t)strtoll(text, NULL, 10) : 0;
}

double rg_store__col_double(rg_store__query *q, int col)
{
    size_t len;
    const char *text;

    if (q->lite)
        return sqlite3_column_double(q->lite, col);
    text = rg_store__pg_col(q->pg, col, &len);
    return text ? strtod(text, NULL) : 0.0;
}

int rg_store__step_unfenced(rg_store *store, rg_store__query *stmt, const char *op)
{
    int rc = rg_store__step(store, stmt, op);

    /* Reset at once: a statement left mid-way would pin a read snapshot. */
    rg_store__reset(store, stmt);
    return rc < 0 ? rc : 0;
}

int rg_store__step_done(rg_store *store, rg_store__query *stmt, const char *op)
{
    int rc;

    if (store->fence.tenant_id == NULL)
        return rg_store__step_unfenced(store, stmt, op);
    if (rg_store_in_transaction(store)) {
        if ((rc = rg_store__fence_check(store, op)) < 0)
            return rc;
        return rg_store__step_unfenced(store, stmt, op);
    }
    /* A lone write under a fence: its own transaction, so the check and the write are one
     * atomic step (no other driver can take the lease between them). */
    if ((rc = rg_store__begin_write(store, op)) < 0)
        return rc;
    store->fence.checked = 0;
    if ((rc = rg_store__fence_check(store, op)) == 0 &&
        (rc = rg_store__step_unfenced(store, stmt, op)) == 0)
        rc = rg_store__exec(store, "COMMIT", op);
    if (rc < 0 && rg_store_in_transaction(store))
        rg_store__exec(store, "ROLLBACK", op);
    store->fence.checked = 0;
    return rc;
}

int rg_store__begin_write(rg_store *store, const char *op)
{
    if (store->pg)
        return rg_store__pg_exec(store->pg, "BEGIN", op);
    return rg_store__begin_immediate(store->db, op);
}

static int is_busy(int code)
{
    return (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED;
}

int rg_store__begin_immediate(sqlite3 *db, const char *op)
{
    int rc = SQLITE_OK;

    for (int attempt = 0; attempt < 200; attempt++) {
        struct timespec ts = {0, (long)(attempt < 8 ? 1 << attempt : 250) * 1000000L};
        rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return 0;
        rc = sqlite3_extended_errcode(db);
        if (!is_busy(rc))
            break;
        if (attempt == 4)
            rg_log(RG_LOG_WARN, "store", "%s: the database stays busy (%s); retrying", op,
                   sqlite3_errstr(rc));
        nanosleep(&ts, NULL);
    }
    return rg_store__db_error(db, rc, op);
}

int rg_store__fence_check(rg_store *store, const char *op)
{
    /* PostgreSQL: the row stays share-locked to the end of the transaction, so a take-over
     * (an UPDATE of it) waits until this transaction's writes are committed or gone. */
    static const char sql[] = "SELECT epoch FROM leases WHERE rollout_id = ? AND tenant_id = ?"
                              " AND owner = ? AND released = 0 /*pg: FOR SHARE*/";
    rg_store__fence *f = &store->fence;
    rg_store__query *stmt = NULL;
    rg_store__binder b;
    int64_t epoch = 0;
    int rc, step;

    if (f->tenant_id == NULL || f->checked)
        return 0;
    if ((rc = rg_store__stmt(&stmt, store, sql, op)) < 0)
        return rc;
    rg_store__binder_init(&b, stmt);
    rg_store__bind_text(&b, f->rollout_id);
    rg_store__bind_text(&b, f->tenant_id);
    rg_store__bind_text(&b, f->owner);
    if ((rc = rg_store__binder_check(&b, store, op)) < 0)
        return rc;
    step = rg_store__step(store, stmt, op);
    if (step == 1)
        epoch = rg_store__col_int64(stmt, 0);
    else if (step < 0)
        rc = step;
    rg_store__reset(store, stmt);
    if (rc < 0)
        return rc;
    if (epoch != f->epoch)
        return rg_error_set(RG_ELEASE,
                            "store: %s: lease lost: rollout %s is no longer driven "
                            "by this process at epoch %lld (%s)",
                            op, f->rollout_id, (long long)f->epoch,
                            epoch ? "this owner holds a newer epoch" : "another driver took it");
    f->checked = 1;
    return 0;
}

void rg_store__fence_clear(rg_store *store)
{
    free(store->fence.tenant_id);
    free(store->fence.rollout_id);
    free(store->fence.owner);
    memset(&store->fence, 0, sizeof(store->fence));
}

int rg_store_fence(rg_store *store, const char *tenant_id, const char *rollout_id,
                   const char *owner, int64_t epoch)
{
    int rc;

    if (store == NULL)
        return rg_error_set(RG_EINVALID, "store: fence: no store");
    if ((rc = rg_store__require(tenant_id, "fence", "tenant id")) < 0 ||
        (rc = rg_store__require(rollout_id, "fence", "rollout id")) < 0 ||
        (rc = rg_store__require(owner, "fence", "owner")) < 0)
        return rc;
    if (epoch < 1)
        return rg_error_set(RG_EINVALID, "store: fence: bad epoch %lld", (long long)epoch);
    rg_store__fence_clear(store);
    store->fence.tenant_id = rg_strdup(tenant_id);
    store->fence.rollout_id = rg_strdup(rollout_id);
    store->fence.owner = rg_strdup(owner);
    store->fence.epoch = epoch;
    if (!store->fence.tenant_id || !store->fence.rollout_id || !store->fence.owner) {
        rg_store__fence_clear(store);
        return rg_error_set(RG_ENOMEM, "store: fence: out of memory");
    }
    return 0;
}

void rg_store_unfence(rg_store *store)
{
    if (store)
        rg_store__fence_clear(store);
}

int rg_store__require(const char *value, const char *op, const char *field)
{
    if (value == NULL || value[0] == '\0')
        return rg_error_set(RG_EINVALID, "store: %s: %s is missing", op, field);
    return 0;
}

int rg_store__rollout_exists(rg_store *store, const char *tenant_id, const char *rollout_id,
                             const char *op)
{
    static const char sql[] = "SELECT 1 FROM rollouts WHERE id = ? AND tenant_id = ?";
    rg_store__query *stmt = NULL;
    rg_store__binder b;
    int rc, step;

    if ((rc = rg_store__stmt(&stmt, store, sql, op)) < 0)
        return rc;
    rg_store__binder_init(&b, stmt);
    rg_store__bind_text(&b, rollout_id);
    rg_store__bind_text(&b, tenant_id);
    if ((rc = rg_store__binder_check(&b, store, op)) < 0)
        return rc;
    step = rg_store__step(store, stmt, op);
    if (step == 1)
        rc = 0;
    else if (step == 0)
        rc = rg_error_set(RG_ENOTFOUND, "store: %s: rollout %s not found", op, rollout_id);
    else
        rc = step;
    rg_store__reset(store, stmt);
    return rc;
}

/* ---- binding ---- */

/* PostgreSQL type oids of the parameters (pg_type.h): the statement is prepared with the
 * types of its first binding, so that a 64-bit millisecond time is never taken for int4. */
#define PG_TEXT 25u
#define PG_INT8 20u
#define PG_FLOAT8 701u

void rg_store__binder_init(rg_store__binder *b, rg_store__query *stmt)
{
    b->stmt = stmt;
    b->index = 0;
    b->rc = SQLITE_OK;
}

void rg_store__bind_text(rg_store__binder *b, const char *s)
{
    int rc;
    b->index++;
    if (b->rc != SQLITE_OK)
        return;
    if (b->stmt->pg) {
        b->rc = rg_store__pg_bind(b->stmt->pg, b->index, PG_TEXT, s);
        return;
    }
    /* SQLITE_STATIC: every store function steps its statement to the end before it returns,
     * while the caller's strings live, and the next use resets and clears the bindings
     * before binding again; nothing reads them after the call. Copying each value (the
     * default, SQLITE_TRANSIENT) was a malloc and a copy per column per row. The
     * PostgreSQL driver keeps the pointer the same way. */
    rc = s ? sqlite3_bind_text(b->stmt->lite, b->index, s, -1, SQLITE_STATIC)
           : sqlite3_bind_null(b->stmt->lite, b->index);
    b->rc = rc;
}

static void bind_pg_int64(rg_store__binder *b, int64_t v)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, v);
    b->rc = rg_store__pg_bind(b->stmt->pg, b->index, PG_INT8, text);
}

void rg_store__bind_int64(rg_store__binder *b, int64_t v)
{
    b->index++;
    if (b->rc != SQLITE_OK)
        return;
    if (b->stmt->pg)
        bind_pg_int64(b, v);
    else
        b->rc = sqlite3_bind_int64(b->stmt->lite, b->index, (sqlite3_int64)v);
}

void rg_store__bind_time(rg_store__binder *b, int64_t ms)
{
    b->index++;
    if (b->rc != SQLITE_OK)
        return;
    if (b->stmt->pg) {
        if (ms == 0)
            b->rc = rg_store__pg_bind(b->stmt->pg, b->index, PG_INT8, NULL);
        else
            bind_pg_int64(b, ms);
        return;
    }
    b->rc = ms == 0 ? sqlite3_bind_null(b->stmt->lite, b->index)
                    : sqlite3_bind_int64(b->stmt->lite, b->index, (sqlite3_int64)ms);
}

void rg_store__bind_double(rg_store__binder *b, double v)
{
    char text[40];

    b->index++;
    if (b->rc != SQLITE_OK)
        return;
    if (b->stmt->pg) {
        if (!isnan(v))
            snprintf(text, sizeof(text), "%.17g", v);
        b->rc = rg_store__pg_bind(b->stmt->pg, b->index, PG_FLOAT8, isnan(v) ? NULL : text);
        return;
    }
    b->rc = isnan(v) ? sqlite3_bind_null(b->stmt->lite, b->index)
                     : sqlite3_bind_double(b->stmt->lite, b->index, v);
}

int rg_store__binder_check(rg_store__binder *b, rg_store *store, const char *op)
{
    if (b->rc == SQLITE_OK)
        return 0;
    if (store->pg)
        return b->rc; /* an RG_E* code with its message */
    return rg_store__db_error(store->db, b->rc, op);
}

int rg_store__prepare(rg_store__binder *b, rg_store *store, const char *sql, const char *op)
{
    rg_store__query *stmt = NULL;
    int rc = rg_store__stmt(&stmt, store, sql, op);

    if (rc < 0)
        return rc;
    rg_store__binder_init(b, stmt);
    return 0;
}

int rg_store__tenant_stmt(rg_store__binder *b, rg_store *store, const char *sql, const char *op,
                          const char *tenant_id)
{
    int rc;

    if ((rc = rg_store__require(tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__prepare(b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_text(b, tenant_id);
    return 0;
}

int rg_store__rollout_stmt(rg_store__binder *b, rg_store *store, const char *sql, const char *op,
                           const char *tenant_id, const char *rollout_id)
{
    int rc;

    if ((rc = rg_store__require(tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(rollout_id, op, "rollout id")) < 0 ||
        (rc = rg_store__tenant_stmt(b, store, sql, op, tenant_id)) < 0)
        return rc;
    rg_store__bind_text(b, rollout_id);
    return 0;
}

/* ---- reading ---- */

void rg_store__reader_init(rg_store__reader *r, rg_store__query *stmt)
{
    r->stmt = stmt;
    r->col = 0;
    r->rc = 0;
}

char *rg_store__read_text(rg_store__reader *r)
{
    int col = r->col++;
    const char *text;
    size_t len = 0;
    char *copy;

    if (r->rc != 0 || rg_store__col_null(r->stmt, col))
        return NULL;
    text = rg_store__col_text(r->stmt, col, &len);
    if (text == NULL) {
        r->rc = rg_error_set(RG_ENOMEM, "store: out of memory reading a column");
        return NULL;
    }
    copy = rg_strndup(text, len);
    if (copy == NULL)
        r->rc = rg_error_set(RG_ENOMEM, "store: out of memory copying a column");
    return copy;
}

int64_t rg_store__read_int64(rg_store__reader *r)
{
    int col = r->col++;
    return rg_store__col_int64(r->stmt, col);
}

double rg_store__read_double(rg_store__reader *r)
{
    int col = r->col++;
    if (rg_store__col_null(r->stmt, col))
        return NAN;
    return rg_store__col_double(r->stmt, col);
}
