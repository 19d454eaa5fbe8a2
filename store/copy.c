/* copy.c - copying an SQLite database into PostgreSQL (rollgate db migrate): every table in
 * key order in one target transaction, then row counts and snapshot bytes compared */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"
#include "store/store_private.h"

/* Parents before children, so that every foreign key finds its row. */
static const char *const copy_tables[] = {"tenants",      "rollouts", "targets", "snapshots",
                                          "measurements", "verdicts", "events",  "audit",
                                          "leases",       "commands", "claims"};
/* The tables whose ids the target numbers on from the copied ones. */
static const char *const identity_tables[] = {"verdicts", "events", "audit", "commands"};

_Static_assert(sizeof(copy_tables) / sizeof(copy_tables[0]) <= RG_STORE_COPY_MAX_TABLES,
               "every table fits the report");

#define PG_UNKNOWN 0u /* the parameter's type is the column's (the server infers it) */

static int count_rows(int64_t *out, rg_store *store, const char *table, const char *op)
{
    char sql[128];
    int rc, step;

    /* The statement cache is keyed by the SQL's address: a table's count is not cached. */
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    if (store->pg) {
        int n = 0;
        rc = rg_store__pg_query_int(&n, store->pg, sql, op);
        *out = n;
        return rc;
    }
    {
        sqlite3_stmt *stmt = NULL;
        rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);
        if (rc != SQLITE_OK)
            return rg_store__db_error(store->db, rc, op);
        step = sqlite3_step(stmt);
        *out = step == SQLITE_ROW ? (int64_t)sqlite3_column_int64(stmt, 0) : 0;
        rc = step == SQLITE_ROW ? 0 : rg_store__db_error(store->db, step, op);
        sqlite3_finalize(stmt);
    }
    return rc;
}

/* INSERT INTO <table> ("c1", ...) VALUES (?, ...) for the columns of the source's rows. */
static char *insert_sql(const char *table, sqlite3_stmt *select)
{
    int n = sqlite3_column_count(select);
    rg_buf b;

    rg_buf_init(&b);
    rg_buf_printf(&b, "INSERT INTO %s (", table);
    for (int i = 0; i < n; i++)
        rg_buf_printf(&b, "%s\"%s\"", i ? ", " : "", sqlite3_column_name(select, i));
    rg_buf_printf(&b, ") VALUES (");
    for (int i = 0; i < n; i++)
        rg_buf_printf(&b, "%s?", i ? ", " : "");
    rg_buf_printf(&b, ")");
    return rg_buf_detach(&b);
}

/* One source column as the text PostgreSQL parses into the target column's type: integers
 * exactly, reals with 17 significant digits (they round-trip), text as stored. */
static const char *column_text(char *buf, size_t buflen, sqlite3_stmt *select, int col)
{
    switch (sqlite3_column_type(select, col)) {
    case SQLITE_NULL: return NULL;
    case SQLITE_INTEGER:
        snprintf(buf, buflen, "%lld", (long long)sqlite3_column_int64(select, col));
        return buf;
    case SQLITE_FLOAT:
        snprintf(buf, buflen, "%.17g", sqlite3_column_double(select, col));
        return buf;
    default: return (const char *)sqlite3_column_text(select, col);
    }
}

static int copy_table(rg_store *to, rg_store *from, const char *table, const char *op)
{
    char sql[128], bufs[RG_STORE_COPY_MAX_COLUMNS][40];
    sqlite3_stmt *select = NULL;
    rg_store__pg_stmt *insert = NULL;
    char *text = NULL;
    int rc = 0, step, n;

    snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY rowid", table);
    if ((step = sqlite3_prepare_v2(from->db, sql, -1, &select, NULL)) != SQLITE_OK)
        return rg_store__db_error(from->db, step, op);
    n = sqlite3_column_count(select);
    if (n > RG_STORE_COPY_MAX_COLUMNS) {
        rc = rg_error_set(RG_ELIMIT, "store: %s: table %s has %d columns", op, table, n);
        goto cleanup;
    }
    if ((text = insert_sql(table, select)) == NULL ||
        (insert = rg_store__pg_stmt_new(to->pg, text)) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "store: %s: out of memory", op);
        goto cleanup;
    }
    while ((step = sqlite3_step(select)) == SQLITE_ROW) {
        for (int i = 0; i < n && rc == 0; i++)
            rc = rg_store__pg_bind(insert, i + 1, PG_UNKNOWN,
                                   column_text(bufs[i], sizeof(bufs[i]), select, i));
        if (rc == 0 && (rc = rg_store__pg_step(to->pg, insert, op)) > 0)
            rc = 0;
        rg_store__pg_reset(insert);
        if (rc < 0) {
            rg_error_prefix("table %s", table);
            goto cleanup;
        }
    }
    if (step != SQLITE_DONE)
        rc = rg_store__db_error(from->db, step, op);

cleanup:
    rg_store__pg_stmt_free(insert);
    free(text);
    sqlite3_finalize(select);
    return rc;
}

/* Every snapshot's etag and body, byte for byte, in key order: one string per side. */
static int snapshot_digest(rg_buf *out, int64_t *out_count, rg_store *store, const char *op)
{
    static const char sql[] = "SELECT rollout_id, org_id, strategy_id, etag, body FROM snapshots"
                              " ORDER BY rollout_id, org_id, strategy_id";
    rg_store__query *q = NULL;
    int rc, step;

    *out_count = 0;
    if ((rc = rg_store__stmt(&q, store, sql, op)) < 0)
        return rc;
    while ((step = rg_store__step(store, q, op)) == 1) {
        for (int i = 0; i < 5; i++) {
            size_t len = 0;
            const char *v = rg_store__col_text(q, i, &len);
            /* Length-prefixed, so that no two different rows make the same string. */
            rg_buf_printf(out, "%zu:", v ? len : 0);
            if (v)
                rg_buf_put(out, v, len);
        }
        (*out_count)++;
    }
    rg_store__reset(store, q);
    return step < 0 ? step : 0;
}

static int verify(rg_store_copy_report *report, rg_store *to, rg_store *from, const char *op)
{
    rg_buf a, b;
    int64_t na = 0, nb = 0;
    int rc;

    for (size_t i = 0; i < report->count; i++) {
        rg_store_copy_table *t = &report->tables[i];
        if ((rc = count_rows(&t->target_rows, to, t->table, op)) < 0)
            return rc;
        if (t->target_rows != t->source_rows)
            return rg_error_set(RG_EDB,
                                "store: %s: table %s has %lld rows in the target, %lld in the "
                                "source; nothing was committed",
                                op, t->table, (long long)t->target_rows, (long long)t->source_rows);
    }
    rg_buf_init(&a);
    rg_buf_init(&b);
    if ((rc = snapshot_digest(&a, &na, from, op)) == 0 &&
        (rc = snapshot_digest(&b, &nb, to, op)) == 0) {
        if (na != nb || a.len != b.len || (a.len > 0 && memcmp(a.ptr, b.ptr, a.len) != 0))
            rc = rg_error_set(RG_EDB,
                              "store: %s: the snapshots differ between the source and the "
                              "target; nothing was committed",
                              op);
        report->snapshots_compared = na;
        report->snapshot_bytes = (int64_t)a.len;
    }
    rg_buf_dispose(&a);
    rg_buf_dispose(&b);
    return rc;
}

static int target_rows(int64_t *out, rg_store *to, const char *op)
{
    int64_t n = 0;
    int rc;

    *out = 0;
    for (size_t i = 0; i < sizeof(copy_tables) / sizeof(copy_tables[0]); i++) {
        if ((rc = count_rows(&n, to, copy_tables[i], op)) < 0)
            return rc;
        *out += n;
    }
    return 0;
}

static int copy_all(rg_store_copy_report *report, rg_store *to, rg_store *from, int replace,
                    const char *op)
{
    char sql[256];
    int64_t present = 0;
    int rc;

    if ((rc = target_rows(&present, to, op)) < 0)
        return rc;
    if (present > 0 && !replace)
        return rg_error_set(RG_ECONFLICT,
                            "store: %s: the target database is not empty (%lld rows); "
                            "--replace empties it first",
                            op, (long long)present);
    if (present > 0 &&
        (rc = rg_store__pg_exec(to->pg,
                                "TRUNCATE tenants, rollouts, targets, snapshots, measurements,"
                                " verdicts, events, audit, leases, commands, claims"
                                " RESTART IDENTITY",
                                op)) < 0)
        return rc;
    for (size_t i = 0; i < sizeof(copy_tables) / sizeof(copy_tables[0]); i++) {
        rg_store_copy_table *t = &report->tables[report->count++];
        t->table = copy_tables[i];
        if ((rc = count_rows(&t->source_rows, from, t->table, op)) < 0 ||
            (rc = copy_table(to, from, t->table, op)) < 0)
            return rc;
    }
    for (size_t i = 0; i < sizeof(identity_tables) / sizeof(identity_tables[0]); i++) {
        snprintf(sql, sizeof(sql),
                 "SELECT setval(pg_get_serial_sequence('%s', 'id'), COALESCE(max(id), 1),"
                 " max(id) IS NOT NULL) FROM %s",
                 identity_tables[i], identity_tables[i]);
        if ((rc = rg_store__pg_exec(to->pg, sql, op)) < 0)
            return rc;
    }
    return verify(report, to, from, op);
}

int rg_store_copy(rg_store_copy_report *out, rg_store *to, rg_store *from, int replace)
{
    static const char op[] = "copy";
    rg_store_copy_report report;
    int rc;

    if (out == NULL || to == NULL || from == NULL)
        return rg_error_set(RG_EINVALID, "store: %s: missing argument", op);
    if (from->db == NULL || to->pg == NULL)
        return rg_error_set(RG_EINVALID,
                            "store: %s: copies an SQLite database into a PostgreSQL one", op);
    if (rg_store_in_transaction(to) || rg_store_in_transaction(from))
        return rg_error_set(RG_EINVALID, "store: %s: a transaction is already open", op);
    memset(&report, 0, sizeof(report));
    /* One read snapshot of the source, one transaction on the target: all or nothing. */
    if ((rc = rg_store__lite_exec(from->db, "BEGIN", op)) < 0)
        return rc;
    if ((rc = rg_store__pg_exec(to->pg, "BEGIN", op)) == 0 &&
        (rc = copy_all(&report, to, from, replace, op)) == 0)
        rc = rg_store__pg_exec(to->pg, "COMMIT", op);
    if (rc < 0 && rg_store__pg_in_transaction(to->pg))
        rg_store__pg_exec(to->pg, "ROLLBACK", op);
    sqlite3_exec(from->db, "ROLLBACK", NULL, NULL, NULL);
    if (rc == 0)
        *out = report;
    return rc;
}
