/* rows.h - every row type's columns, declared once; the SELECT column lists, the readers
 * and the disposers are made from these tables (rows.c) */
#ifndef RG_STORE_ROWS_H
#define RG_STORE_ROWS_H

#include <stddef.h>

#include "store/store_private.h"

/*
 * One table per row struct of include/rollgate/store.h, its columns in SELECT order:
 *
 *     COL(R, sql_column, c_field, KIND)
 *
 * R is the row (the generator passes the struct's short name, e.g. `event` for
 * rg_store_event). The first column is written FIRST(...) instead, so that the column list
 * has no leading comma.
 * KIND is how the column travels between SQLite and the struct:
 *   TEXT    char *, owned by the struct (a copy); NULL for NULL; freed by the disposer
 *   INT64   int64_t; NULL reads as 0 (times: 0 means "not set")
 *   INT     int, stored as an integer
 *   DOUBLE  double; NULL reads as NaN
 *   ROLLOUT_STATE, TARGET_STATE, COMMAND_KIND, COMMAND_STATE
 *           the enum in C, its lowercase name in SQL (enums.c); an unknown name is
 *           RG_EINVALID naming the row
 * rows.c checks at compile time that each field has the C type its kind says. Adding a
 * column: add the field to the struct, a line here in the SELECT position you want, and the
 * column to the INSERT/UPDATE statements that write it (and to schema.c, as a migration).
 * Writes are not generated: their SQL and binds stay in the row's file, in plain view. The
 * INSERTs name their columns with the lists below, so their binds follow a table's order:
 * moving a line moves a `?` (docs/internals/store.md, "Adding a column").
 */

#define RG_STORE__ROLLOUT_TABLE(FIRST, COL, R)                                                     \
    FIRST(R, id, id, TEXT)                                                                         \
    COL(R, tenant_id, tenant_id, TEXT)                                                             \
    COL(R, name, name, TEXT)                                                                       \
    COL(R, manifest, manifest, TEXT)                                                               \
    COL(R, policy, policy, TEXT)                                                                   \
    COL(R, state, state, ROLLOUT_STATE)                                                            \
    COL(R, stage_index, stage_index, INT)                                                          \
    COL(R, stage_count, stage_count, INT)                                                          \
    COL(R, created_by, created_by, TEXT)                                                           \
    COL(R, created_at, created_at_ms, INT64)                                                       \
    COL(R, updated_at, updated_at_ms, INT64)                                                       \
    COL(R, revision, revision, INT64)                                                              \
    COL(R, hold_reason, hold_reason, TEXT)                                                         \
    COL(R, verification, verification, TEXT)                                                       \
    COL(R, stage_started_at, stage_started_at_ms, INT64)                                           \
    COL(R, stage_applied_at, stage_applied_at_ms, INT64)                                           \
    COL(R, baseline, baseline, TEXT)                                                               \
    COL(R, digest, digest, TEXT)                                                                   \
    COL(R, environment, environment, TEXT)                                                         \
    COL(R, forced_reason, forced_reason, TEXT)

#define RG_STORE__TARGET_TABLE(FIRST, COL, R)                                                      \
    FIRST(R, rollout_id, rollout_id, TEXT)                                                         \
    COL(R, tenant_id, tenant_id, TEXT)                                                             \
    COL(R, seq, seq, INT64)                                                                        \
    COL(R, org_id, org_id, TEXT)                                                                   \
    COL(R, group_name, group_name, TEXT)                                                           \
    COL(R, tier, tier, INT)                                                                        \
    COL(R, stage_index, stage_index, INT)                                                          \
    COL(R, strategy_id, strategy_id, TEXT)                                                         \
    COL(R, api_url, api_url, TEXT)                                                                 \
    COL(R, login_url, login_url, TEXT)                                                             \
    COL(R, state, state, TARGET_STATE)                                                             \
    COL(R, attempts, attempts, INT)                                                                \
    COL(R, last_error, last_error, TEXT)                                                           \
    COL(R, applied_etag, applied_etag, TEXT)                                                       \
    COL(R, applied_body, applied_body, TEXT)                                                       \
    COL(R, applied_at, applied_at_ms, INT64)                                                       \
    COL(R, restored_etag, restored_etag, TEXT)                                                     \
    COL(R, restored_at, restored_at_ms, INT64)                                                     \
    COL(R, kept_fields, kept_fields, TEXT)

#define RG_STORE__SNAPSHOT_TABLE(FIRST, COL, R)                                                    \
    FIRST(R, rollout_id, rollout_id, TEXT)                                                         \
    COL(R, tenant_id, tenant_id, TEXT)                                                             \
    COL(R, org_id, org_id, TEXT)                                                                   \
    COL(R, strategy_id, strategy_id, TEXT)                                                         \
    COL(R, etag, etag, TEXT)                                                                       \
    COL(R, body, body, TEXT)                                                                       \
    COL(R, taken_at, taken_at_ms, INT64)

#define RG_STORE__MEASUREMENT_TABLE(FIRST, COL, R)                                                 \
    FIRST(R, rollout_id, rollout_id, TEXT)                                                         \
    COL(R, tenant_id, tenant_id, TEXT)                                                             \
    COL(R, org_id, org_id, TEXT)                                                                   \
    COL(R, queue_id, queue_id, TEXT)                                                               \
    COL(R, metric, metric, TEXT)                                                                   \
    COL(R, bucket_start_ms, bucket_start_ms, INT64)                                                \
    COL(R, bucket_len_ms, bucket_len_ms, INT64)                                                    \
    COL(R, count, count, INT64)                                                                    \
    COL(R, sum, sum, DOUBLE)

#define RG_STORE__VERDICT_TABLE(FIRST, COL, R)                                                     \
    FIRST(R, id, id, INT64)                                                                        \
    COL(R, rollout_id, rollout_id, TEXT)                                                           \
    COL(R, tenant_id, tenant_id, TEXT)                                                             \
    COL(R, stage, stage, INT)                                                                      \
    COL(R, poll, poll, INT)                                                                        \
    COL(R, metric, metric, TEXT)                                                                   \
    COL(R, test, test, TEXT)                                                                       \
    COL(R, estimate, estimate, DOUBLE)                                                             \
    COL(R, ci_lo, ci_lo, DOUBLE)                                                                   \
    COL(R, ci_hi, ci_hi, DOUBLE)                                                                   \
    COL(R, z, z, DOUBLE)                                                                           \
    COL(R, boundary, boundary, DOUBLE)                                                             \
    COL(R, p_value, p_value, DOUBLE)                                                               \
    COL(R, decision, decision, TEXT)                                                               \
    COL(R, reason, reason, TEXT)                                                                   \
    COL(R, at, at_ms, INT64)

#define RG_STORE__EVENT_TABLE(FIRST, COL, R)                                                       \
    FIRST(R, id, id, INT64)                                                                        \
    COL(R, rollout_id, rollout_id, TEXT)                                                           \
    COL(R, tenant_id, tenant_id, TEXT)                                                             \
    COL(R, kind, kind, TEXT)                                                                       \
    COL(R, from_state, from_state, TEXT)                                                           \
    COL(R, to_state, to_state, TEXT)                                                               \
    COL(R, detail, detail, TEXT)                                                                   \
    COL(R, at, at_ms, INT64)

#define RG_STORE__AUDIT_TABLE(FIRST, COL, R)                                                       \
    FIRST(R, id, id, INT64)                                                                        \
    COL(R, rollout_id, rollout_id, TEXT)                                                           \
    COL(R, tenant_id, tenant_id, TEXT)                                                             \
    COL(R, actor, actor, TEXT)                                                                     \
    COL(R, action, action, TEXT)                                                                   \
    COL(R, reason, reason, TEXT)                                                                   \
    COL(R, outcome, outcome, TEXT)                                                                 \
    COL(R, detail, detail, TEXT)                                                                   \
    COL(R, at, at_ms, INT64)

/* now_ms is no column: leases.c selects the database clock (DB_NOW) in its place, so its
 * SELECT is written out there instead of using RG_STORE__LEASE_COLUMNS. */
#define RG_STORE__LEASE_TABLE(FIRST, COL, R)                                                       \
    FIRST(R, rollout_id, rollout_id, TEXT)                                                         \
    COL(R, tenant_id, tenant_id, TEXT)                                                             \
    COL(R, owner, owner, TEXT)                                                                     \
    COL(R, expires_at_ms, expires_at_ms, INT64)                                                    \
    COL(R, acquired_at_ms, acquired_at_ms, INT64)                                                  \
    COL(R, epoch, epoch, INT64)                                                                    \
    COL(R, ttl_ms, ttl_ms, INT64)                                                                  \
    COL(R, batch_ms, batch_ms, INT64)                                                              \
    COL(R, now_ms, now_ms, INT64)

#define RG_STORE__COMMAND_TABLE(FIRST, COL, R)                                                     \
    FIRST(R, id, id, INT64)                                                                        \
    COL(R, rollout_id, rollout_id, TEXT)                                                           \
    COL(R, tenant_id, tenant_id, TEXT)                                                             \
    COL(R, kind, kind, COMMAND_KIND)                                                               \
    COL(R, actor, actor, TEXT)                                                                     \
    COL(R, reason, reason, TEXT)                                                                   \
    COL(R, force, force, INT)                                                                      \
    COL(R, created_at, created_at_ms, INT64)                                                       \
    COL(R, state, state, COMMAND_STATE)                                                            \
    COL(R, outcome, outcome, TEXT)                                                                 \
    COL(R, done_at, done_at_ms, INT64)                                                             \
    COL(R, "full", full, INT)

/* The column lists as SQL text, for "SELECT " RG_STORE__EVENT_COLUMNS " FROM events ..." and
 * "INSERT INTO events (" RG_STORE__EVENT_COLUMNS ") VALUES (...)". */
#define RG_STORE__NAME_FIRST(R, col, field, kind) #col
#define RG_STORE__NAME_NEXT(R, col, field, kind) ", " #col
#define RG_STORE__COLUMNS(TABLE) TABLE(RG_STORE__NAME_FIRST, RG_STORE__NAME_NEXT, -)
#define RG_STORE__ROLLOUT_COLUMNS RG_STORE__COLUMNS(RG_STORE__ROLLOUT_TABLE)
#define RG_STORE__TARGET_COLUMNS RG_STORE__COLUMNS(RG_STORE__TARGET_TABLE)
#define RG_STORE__SNAPSHOT_COLUMNS RG_STORE__COLUMNS(RG_STORE__SNAPSHOT_TABLE)
#define RG_STORE__MEASUREMENT_COLUMNS RG_STORE__COLUMNS(RG_STORE__MEASUREMENT_TABLE)
#define RG_STORE__VERDICT_COLUMNS RG_STORE__COLUMNS(RG_STORE__VERDICT_TABLE)
#define RG_STORE__EVENT_COLUMNS RG_STORE__COLUMNS(RG_STORE__EVENT_TABLE)
#define RG_STORE__AUDIT_COLUMNS RG_STORE__COLUMNS(RG_STORE__AUDIT_TABLE)
#define RG_STORE__COMMAND_COLUMNS RG_STORE__COLUMNS(RG_STORE__COMMAND_TABLE)

/* ---- row types: a table turned into data (rows.c) ---- */

typedef enum {
    RG_STORE__COL_TEXT,
    RG_STORE__COL_INT64,
    RG_STORE__COL_INT,
    RG_STORE__COL_DOUBLE,
    RG_STORE__COL_ROLLOUT_STATE,
    RG_STORE__COL_TARGET_STATE,
    RG_STORE__COL_COMMAND_KIND,
    RG_STORE__COL_COMMAND_STATE,
} rg_store__column_kind;

typedef struct {
    size_t offset; /* of the field in the row struct */
    rg_store__column_kind kind;
} rg_store__column;

typedef struct {
    const char *name; /* "rollout": "store: <op>: rollout not found" */
    size_t size;      /* of the row struct */
    const rg_store__column *columns;
    size_t ncolumns;
    /* Prefixes the message of a stored value that does not parse with the row's key;
     * NULL for rows without enums. */
    void (*explain)(const void *row);
} rg_store__row_type;

extern const rg_store__row_type rg_store__rollout_row;
extern const rg_store__row_type rg_store__target_row;
extern const rg_store__row_type rg_store__snapshot_row;
extern const rg_store__row_type rg_store__measurement_row;
extern const rg_store__row_type rg_store__verdict_row;
extern const rg_store__row_type rg_store__event_row;
extern const rg_store__row_type rg_store__audit_row;
extern const rg_store__row_type rg_store__lease_row;
extern const rg_store__row_type rg_store__command_row;
/* One TEXT column read into a `char *` (a tenant's name). */
extern const rg_store__row_type rg_store__text_row;

/* Frees the row's TEXT fields and zeroes it; NULL is a no-op. */
void rg_store__row_dispose(const rg_store__row_type *type, void *row);
/* Fills a zeroed row from the current result row, columns in table order. On failure
 * (RG_ENOMEM, or RG_EINVALID for an unknown enum name) the row is disposed. */
int rg_store__row_read(const rg_store__row_type *type, void *row, rg_store__query *stmt);

/* A growable array of rows, moved into a typed list on success. */
typedef struct {
    void *items;
    size_t count;
    size_t cap;
} rg_store__array;

/* Runs the SELECT bound through `b` (its bind failure, if any, comes first) and reads every
 * row; on failure the rows read so far are disposed and `out` is left untouched. */
int rg_store__select_rows(rg_store__array *out, const rg_store__row_type *type, rg_store *store,
                          rg_store__binder *b, const char *op);
/* Moves a collected array into a typed list ({T *items; size_t count; size_t cap}). */
#define RG_STORE__LIST_TAKE(list, array)                                                           \
    ((list)->items = (array).items, (list)->count = (array).count, (list)->cap = (array).cap)
/* As rg_store__select_rows for a SELECT of at most one row, read into the zeroed `row`:
 * RG_ENOTFOUND (message "store: <op>: <type name> not found") when there is none. */
int rg_store__select_row(void *row, const rg_store__row_type *type, rg_store *store,
                         rg_store__binder *b, const char *op);
/* rg_store__select_row of a target's row: `sql` takes tenant, rollout, org and strategy id
 * in that order, all required. */
int rg_store__select_org_row(void *row, const rg_store__row_type *type, rg_store *store,
                             const char *sql, const char *op, const char *tenant_id,
                             const char *rollout_id, const char *org_id, const char *strategy_id);

#endif
