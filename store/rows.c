/* rows.c - row types made from the column tables in rows.h: reading a result row into its
 * struct, disposing rows and lists, collecting a SELECT into a list */
#include <stdlib.h>
#include <string.h>

#include "store/rows.h"

/* ---- the tables as data, with their field types checked at compile time ---- */

#define CTYPE_TEXT char *
#define CTYPE_INT64 int64_t
#define CTYPE_INT int
#define CTYPE_DOUBLE double
#define CTYPE_ROLLOUT_STATE rg_rollout_state
#define CTYPE_TARGET_STATE rg_target_state
#define CTYPE_COMMAND_KIND rg_command_kind
#define CTYPE_COMMAND_STATE rg_command_state

/* ROW names the struct the table at hand describes. */
#define DESCRIBE(col, field, kind) {offsetof(ROW, field), RG_STORE__COL_##kind},
#define CHECK(col, field, kind)                                                                \
    _Static_assert(_Generic(((ROW *)0)->field, CTYPE_##kind: 1, default: 0),                   \
                   #field " is not " #kind);
#define ROW_TYPE(var, what, TABLE, explain_fn)                                                 \
    TABLE(CHECK, CHECK)                                                                        \
    static const rg_store__column var##_columns[] = {TABLE(DESCRIBE, DESCRIBE)};               \
    const rg_store__row_type var = {what, sizeof(ROW), var##_columns,                          \
                                    sizeof(var##_columns) / sizeof(var##_columns[0]),          \
                                    explain_fn};

static void explain_rollout(const void *row)
{
    const rg_store_rollout *ro = row;
    rg_error_prefix("store: rollout %s", ro->id ? ro->id : "?");
}

static void explain_target(const void *row)
{
    const rg_store_target *t = row;
    rg_error_prefix("store: target %s/%s", t->org_id ? t->org_id : "?",
                    t->strategy_id ? t->strategy_id : "?");
}

static void explain_command(const void *row)
{
    const rg_store_command *c = row;
    rg_error_prefix("store: command %lld", (long long)c->id);
}

#define ROW rg_store_rollout
ROW_TYPE(rg_store__rollout_row, "rollout", RG_STORE__ROLLOUT_TABLE, explain_rollout)
#undef ROW
#define ROW rg_store_target
ROW_TYPE(rg_store__target_row, "target", RG_STORE__TARGET_TABLE, explain_target)
#undef ROW
#define ROW rg_store_snapshot
ROW_TYPE(rg_store__snapshot_row, "snapshot", RG_STORE__SNAPSHOT_TABLE, NULL)
#undef ROW
#define ROW rg_store_measurement
ROW_TYPE(rg_store__measurement_row, "measurement", RG_STORE__MEASUREMENT_TABLE, NULL)
#undef ROW
#define ROW rg_store_verdict
ROW_TYPE(rg_store__verdict_row, "verdict", RG_STORE__VERDICT_TABLE, NULL)
#undef ROW
#define ROW rg_store_event
ROW_TYPE(rg_store__event_row, "event", RG_STORE__EVENT_TABLE, NULL)
#undef ROW
#define ROW rg_store_audit
ROW_TYPE(rg_store__audit_row, "audit entry", RG_STORE__AUDIT_TABLE, NULL)
#undef ROW
#define ROW rg_store_lease
ROW_TYPE(rg_store__lease_row, "lease", RG_STORE__LEASE_TABLE, NULL)
#undef ROW
#define ROW rg_store_command
ROW_TYPE(rg_store__command_row, "command", RG_STORE__COMMAND_TABLE, explain_command)
#undef ROW

static const rg_store__column text_columns[] = {{0, RG_STORE__COL_TEXT}};
const rg_store__row_type rg_store__text_row = {"tenant", sizeof(char *), text_columns, 1, NULL};

/* ---- reading and disposing ---- */

void rg_store__row_dispose(const rg_store__row_type *type, void *row)
{
    if (row == NULL)
        return;
    for (size_t i = 0; i < type->ncolumns; i++)
        if (type->columns[i].kind == RG_STORE__COL_TEXT)
            free(*(char **)((char *)row + type->columns[i].offset));
    memset(row, 0, type->size);
}

static void read_enum(rg_store__reader *r, rg_store__column_kind kind, void *field)
{
    char *name = rg_store__read_text(r);
    int rc = 0;

    if (r->rc == 0) {
        switch (kind) {
        case RG_STORE__COL_ROLLOUT_STATE: rc = rg_rollout_state_from_str(field, name); break;
        case RG_STORE__COL_TARGET_STATE: rc = rg_target_state_from_str(field, name); break;
        case RG_STORE__COL_COMMAND_KIND: rc = rg_command_kind_from_str(field, name); break;
        case RG_STORE__COL_COMMAND_STATE: rc = rg_command_state_from_str(field, name); break;
        default: rc = rg_error_set(RG_EINVALID, "store: column kind %d is no enum", (int)kind);
        }
        r->rc = rc;
    }
    free(name);
}

int rg_store__row_read(const rg_store__row_type *type, void *row, sqlite3_stmt *stmt)
{
    rg_store__reader r;

    rg_store__reader_init(&r, stmt);
    for (size_t i = 0; i < type->ncolumns; i++) {
        void *field = (char *)row + type->columns[i].offset;
        switch (type->columns[i].kind) {
        case RG_STORE__COL_TEXT: *(char **)field = rg_store__read_text(&r); break;
        case RG_STORE__COL_INT64: *(int64_t *)field = rg_store__read_int64(&r); break;
        case RG_STORE__COL_INT: *(int *)field = (int)rg_store__read_int64(&r); break;
        case RG_STORE__COL_DOUBLE: *(double *)field = rg_store__read_double(&r); break;
        default: read_enum(&r, type->columns[i].kind, field); break;
        }
    }
    if (r.rc < 0) {
        if (r.rc == RG_EINVALID && type->explain)
            type->explain(row);
        rg_store__row_dispose(type, row);
    }
    return r.rc;
}

/* The public disposers of every row struct and its list:
 * rg_store_<row>_dispose and rg_store_<row>s_dispose. */
#define ROW_DISPOSE(row)                                                                       \
    void rg_store_##row##_dispose(rg_store_##row *row)                                         \
    {                                                                                          \
        rg_store__row_dispose(&rg_store__##row##_row, row);                                    \
    }
#define LIST_DISPOSE(row)                                                                      \
    void rg_store_##row##s_dispose(rg_store_##row##s *list)                                    \
    {                                                                                          \
        if (list == NULL)                                                                      \
            return;                                                                            \
        for (size_t i = 0; i < list->count; i++)                                               \
            rg_store__row_dispose(&rg_store__##row##_row, &list->items[i]);                    \
        free(list->items);                                                                     \
        memset(list, 0, sizeof(*list));                                                        \
    }
#define DISPOSERS(row) ROW_DISPOSE(row) LIST_DISPOSE(row)

DISPOSERS(rollout)
DISPOSERS(target)
DISPOSERS(snapshot)
DISPOSERS(measurement)
DISPOSERS(verdict)
DISPOSERS(event)
DISPOSERS(audit)
DISPOSERS(command)
ROW_DISPOSE(lease)

/* ---- collecting rows ---- */

static int array_grow(rg_store__array *a, size_t elem)
{
    size_t cap;
    void *grown;

    if (a->count < a->cap)
        return 0;
    cap = a->cap ? a->cap * 2 : 8;
    if (cap > SIZE_MAX / elem)
        return rg_error_set(RG_ENOMEM, "store: row array too large");
    grown = realloc(a->items, cap * elem);
    if (grown == NULL)
        return rg_error_set(RG_ENOMEM, "store: out of memory growing a row array");
    a->items = grown;
    a->cap = cap;
    return 0;
}

int rg_store__collect(rg_store__array *out, const rg_store__row_type *type, rg_store *store,
                      sqlite3_stmt *stmt, const char *op)
{
    rg_store__array a = {NULL, 0, 0};
    int rc = 0, step;

    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        void *row;
        if ((rc = array_grow(&a, type->size)) < 0)
            goto cleanup;
        row = (char *)a.items + a.count * type->size;
        memset(row, 0, type->size);
        if ((rc = rg_store__row_read(type, row, stmt)) < 0)
            goto cleanup;
        a.count++;
    }
    if (step != SQLITE_DONE)
        rc = rg_store__db_error(store->db, sqlite3_extended_errcode(store->db), op);

cleanup:
    sqlite3_reset(stmt);
    if (rc < 0) {
        for (size_t i = 0; i < a.count; i++)
            rg_store__row_dispose(type, (char *)a.items + i * type->size);
        free(a.items);
        return rc;
    }
    *out = a;
    return 0;
}

int rg_store__fetch_one(void *row, const rg_store__row_type *type, rg_store *store,
                        sqlite3_stmt *stmt, const char *op)
{
    int step = sqlite3_step(stmt);
    int rc;

    if (step == SQLITE_ROW)
        rc = rg_store__row_read(type, row, stmt);
    else if (step == SQLITE_DONE)
        rc = rg_error_set(RG_ENOTFOUND, "store: %s: %s not found", op, type->name);
    else
        rc = rg_store__db_error(store->db, sqlite3_extended_errcode(store->db), op);
    sqlite3_reset(stmt);
    return rc;
}
