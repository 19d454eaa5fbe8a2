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

#define DESCRIBE(R, col, field, kind) {offsetof(rg_store_##R, field), RG_STORE__COL_##kind},
#define CHECK(R, col, field, kind)                                                                 \
    _Static_assert(_Generic(((rg_store_##R *)0)->field, CTYPE_##kind : 1, default : 0),            \
                   "rg_store_" #R "." #field " is not " #kind);
/* rg_store__<R>_row from RG_STORE__<R>_TABLE; `what` names the row in messages. */
#define ROW_TYPE(R, TABLE, what, explain_fn)                                                       \
    TABLE(CHECK, CHECK, R)                                                                         \
    static const rg_store__column R##_columns[] = {TABLE(DESCRIBE, DESCRIBE, R)};                  \
    const rg_store__row_type rg_store__##R##_row = {what, sizeof(rg_store_##R), R##_columns,       \
                                                    sizeof(R##_columns) / sizeof(R##_columns[0]),  \
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

ROW_TYPE(rollout, RG_STORE__ROLLOUT_TABLE, "rollout", explain_rollout)
ROW_TYPE(target, RG_STORE__TARGET_TABLE, "target", explain_target)
ROW_TYPE(snapshot, RG_STORE__SNAPSHOT_TABLE, "snapshot", NULL)
ROW_TYPE(measurement, RG_STORE__MEASUREMENT_TABLE, "measurement", NULL)
ROW_TYPE(verdict, RG_STORE__VERDICT_TABLE, "verdict", NULL)
ROW_TYPE(event, RG_STORE__EVENT_TABLE, "event", NULL)
ROW_TYPE(audit, RG_STORE__AUDIT_TABLE, "audit entry", NULL)
ROW_TYPE(lease, RG_STORE__LEASE_TABLE, "lease", NULL)
ROW_TYPE(command, RG_STORE__COMMAND_TABLE, "command", explain_command)

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

int rg_store__row_read(const rg_store__row_type *type, void *row, rg_store__query *stmt)
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
#define ROW_DISPOSE(row)                                                                           \
    void rg_store_##row##_dispose(rg_store_##row *item)                                            \
    {                                                                                              \
        rg_store__row_dispose(&rg_store__##row##_row, item);                                       \
    }
#define LIST_DISPOSE(row)                                                                          \
    void rg_store_##row##s_dispose(rg_store_##row##s *list)                                        \
    {                                                                                              \
        if (list == NULL)                                                                          \
            return;                                                                                \
        for (size_t i = 0; i < list->count; i++)                                                   \
            rg_store__row_dispose(&rg_store__##row##_row, &list->items[i]);                        \
        free(list->items);                                                                         \
        memset(list, 0, sizeof(*list));                                                            \
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
    /* The failures return the constant, not rg_error_set's result, so that the analyzer sees
     * that a failed grow never reaches the caller's write into the array. */
    if (cap > SIZE_MAX / elem) {
        rg_error_set(RG_ENOMEM, "store: row array too large");
        return RG_ENOMEM;
    }
    grown = realloc(a->items, cap * elem);
    if (grown == NULL) {
        rg_error_set(RG_ENOMEM, "store: out of memory growing a row array");
        return RG_ENOMEM;
    }
    a->items = grown;
    a->cap = cap;
    return 0;
}

int rg_store__select_rows(rg_store__array *out, const rg_store__row_type *type, rg_store *store,
                          rg_store__binder *b, const char *op)
{
    rg_store__array a = {NULL, 0, 0};
    int rc, step;

    if ((rc = rg_store__binder_check(b, store, op)) < 0)
        return rc;
    while ((step = rg_store__step(store, b->stmt, op)) == 1) {
        void *row;
        if ((rc = array_grow(&a, type->size)) < 0)
            goto cleanup;
        row = (char *)a.items + a.count * type->size;
        memset(row, 0, type->size);
        if ((rc = rg_store__row_read(type, row, b->stmt)) < 0)
            goto cleanup;
        a.count++;
    }
    if (step < 0)
        rc = step;

cleanup:
    rg_store__reset(store, b->stmt);
    if (rc < 0) {
        for (size_t i = 0; i < a.count; i++)
            rg_store__row_dispose(type, (char *)a.items + i * type->size);
        free(a.items);
        return rc;
    }
    *out = a;
    return 0;
}

int rg_store__select_row(void *row, const rg_store__row_type *type, rg_store *store,
                         rg_store__binder *b, const char *op)
{
    int rc, step;

    if ((rc = rg_store__binder_check(b, store, op)) < 0)
        return rc;
    step = rg_store__step(store, b->stmt, op);
    if (step == 1)
        rc = rg_store__row_read(type, row, b->stmt);
    else if (step == 0)
        rc = rg_error_set(RG_ENOTFOUND, "store: %s: %s not found", op, type->name);
    else
        rc = step;
    rg_store__reset(store, b->stmt);
    return rc;
}

int rg_store__select_org_row(void *row, const rg_store__row_type *type, rg_store *store,
                             const char *sql, const char *op, const char *tenant_id,
                             const char *rollout_id, const char *org_id, const char *strategy_id)
{
    rg_store__binder b;
    int rc;

    if ((rc = rg_store__require(tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(rollout_id, op, "rollout id")) < 0 ||
        (rc = rg_store__require(org_id, op, "org id")) < 0 ||
        (rc = rg_store__require(strategy_id, op, "strategy id")) < 0 ||
        (rc = rg_store__rollout_stmt(&b, store, sql, op, tenant_id, rollout_id)) < 0)
        return rc;
    rg_store__bind_text(&b, org_id);
    rg_store__bind_text(&b, strategy_id);
    return rg_store__select_row(row, type, store, &b, op);
}
