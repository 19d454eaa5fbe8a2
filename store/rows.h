/* rows.h - every row type's columns, declared once; the SELECT column lists, the readers
 * and the disposers are made from these tables (rows.c) */
#ifndef RG_STORE_ROWS_H
#define RG_STORE_ROWS_H

#include <stddef.h>

#include "store/store_private.h"

/*
 * One table per row struct of include/rollgate/store.h, its columns in SELECT order:
 *
 *     COL(sql_column, c_field, KIND)
 *
 * The first is written FIRST(...) instead, so that the column list has no leading comma.
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
 * Writes are not generated: their SQL and binds stay in the row's file, in plain view.
 */

#define RG_STORE__ROLLOUT_TABLE(FIRST, COL)                                                    \
    FIRST(id, id, TEXT)                                                                        \
    COL(tenant_id, tenant_id, TEXT)                                                            \
    COL(name, name, TEXT)                                                                      \
    COL(manifest, manifest, TEXT)                                                              \
    COL(policy, policy, TEXT)                                                                  \
    COL(state, state, ROLLOUT_STATE)                                                           \
    COL(stage_index, stage_index, INT)                                                         \
    COL(stage_count, stage_count, INT)                                                         \
    COL(created_by, created_by, TEXT)                                                          \
    COL(created_at, created_at_ms, INT64)                                                      \
    COL(updated_at, updated_at_ms, INT64)                                                      \
    COL(revision, revision, INT64)                                                             \
    COL(hold_reason, hold_reason, TEXT)                                                        \
    COL(verification, verification, TEXT)                                                      \
    COL(stage_started_at, stage_started_at_ms, INT64)                                          \
    COL(stage_applied_at, stage_applied_at_ms, INT64)                                          \
    COL(baseline, baseline, TEXT)                                                              \
    COL(digest, digest, TEXT)                                                                  \
    COL(environment, environment, TEXT)                                                        \
    COL(forced_reason, forced_reason, TEXT)

#define RG_STORE__TARGET_TABLE(FIRST, COL)                                                     \
    FIRST(rollout_id, rollout_id, TEXT)                                                        \
    COL(tenant_id, tenant_id, TEXT)                                                            \
    COL(seq, seq, INT64)                                                                       \
    COL(org_id, org_id, TEXT)                                                                  \
    COL(group_name, group_name, TEXT)                                                          \
    COL(tier, tier, INT)                                                                       \
    COL(stage_index, stage_index, INT)                                                         \
    COL(strategy_id, strategy_id, TEXT)                                                        \
    COL(api_url, api_url, TEXT)                                                                \
    COL(login_url, login_url, TEXT)                                                            \
    COL(state, state, TARGET_STATE)                                                            \
    COL(attempts, attempts, INT)                                                               \
    COL(last_error, last_error, TEXT)                                                          \
    COL(applied_etag, applied_etag, TEXT)                                                      \
    COL(applied_body, applied_body, TEXT)                                                      \
    COL(applied_at, applied_at_ms, INT64)                                                      \
    COL(restored_etag, restored_etag, TEXT)                                                    \
    COL(restored_at, restored_at_ms, INT64)                                                    \
    COL(kept_fields, kept_fields, TEXT)

#define RG_STORE__SNAPSHOT_TABLE(FIRST, COL)                                                   \
    FIRST(rollout_id, rollout_id, TEXT)                                                        \
    COL(tenant_id, tenant_id, TEXT)                                                            \
    COL(org_id, org_id, TEXT)                                                                  \
    COL(strategy_id, strategy_id, TEXT)                                                        \
    COL(etag, etag, TEXT)                                                                      \
    COL(body, body, TEXT)                                                                      \
    COL(taken_at, taken_at_ms, INT64)

#define RG_STORE__MEASUREMENT_TABLE(FIRST, COL)                                                \
    FIRST(rollout_id, rollout_id, TEXT)                                                        \
    COL(tenant_id, tenant_id, TEXT)                                                            \
    COL(org_id, org_id, TEXT)                                                                  \
    COL(queue_id, queue_id, TEXT)                                                              \
    COL(metric, metric, TEXT)                                                                  \
    COL(bucket_start_ms, bucket_start_ms, INT64)                                               \
    COL(bucket_len_ms, bucket_len_ms, INT64)                                                   \
    COL(count, count, INT64)                                                                   \
    COL(sum, sum, DOUBLE)

#define RG_STORE__VERDICT_TABLE(FIRST, COL)                                                    \
    FIRST(id, id, INT64)                                                                       \
    COL(rollout_id, rollout_id, TEXT)                                                          \
    COL(tenant_id, tenant_id, TEXT)                                                            \
    COL(stage, stage, INT)                                                                     \
    COL(poll, poll, INT)                                                                       \
    COL(metric, metric, TEXT)                                                                  \
    COL(test, test, TEXT)                                                                      \
    COL(estimate, estimate, DOUBLE)                                                            \
    COL(ci_lo, ci_lo, DOUBLE)                                                                  \
    COL(ci_hi, ci_hi, DOUBLE)                                                                  \
    COL(z, z, DOUBLE)                                                                          \
    COL(boundary, boundary, DOUBLE)                                                            \
    COL(p_value, p_value, DOUBLE)                                                              \
    COL(decision, decision, TEXT)                                                              \
    COL(reason, reason, TEXT)                                                                  \
    COL(at, at_ms, INT64)

#define RG_STORE__EVENT_TABLE(FIRST, COL)                                                      \
    FIRST(id, id, INT64)                                                                       \
    COL(rollout_id, rollout_id, TEXT)                                                          \
    COL(tenant_id, tenant_id, TEXT)                                                            \
    COL(kind, kind, TEXT)                                                                      \
    COL(from_state, from_state, TEXT)                                                          \
    COL(to_state, to_state, TEXT)                                                              \
    COL(detail, detail, TEXT)                                                                  \
    COL(at, at_ms, INT64)

#define RG_STORE__AUDIT_TABLE(FIRST, COL)                                                      \
    FIRST(id, id, INT64)                                                                       \
    COL(rollout_id, rollout_id, TEXT)                                                          \
    COL(tenant_id, tenant_id, TEXT)                                                            \
    COL(actor, actor, TEXT)                                                                    \
    COL(action, action, TEXT)                                                                  \
    COL(reason, reason, TEXT)                                                                  \
    COL(outcome, outcome, TEXT)                                                                \
    COL(detail, detail, TEXT)                                                                  \
    COL(at, at_ms, INT64)

/* now_ms is no column: leases.c selects the database clock (DB_NOW) in its place, so its
 * SELECT is written out there instead of using RG_STORE__LEASE_COLUMNS. */
#define RG_STORE__LEASE_TABLE(FIRST, COL)                                                      \
    FIRST(rollout_id, rollout_id, TEXT)                                                        \
    COL(tenant_id, tenant_id, TEXT)                                                            \
    COL(owner, owner, TEXT)                                                                    \
    COL(expires_at_ms, expires_at_ms, INT64)                                                   \
    COL(acquired_at_ms, acquired_at_ms, INT64)                                                 \
    COL(epoch, epoch, INT64)                                                                   \
    COL(ttl_ms, ttl_ms, INT64)                                                                 \
    COL(batch_ms, batch_ms, INT64)                                                             \
    COL(now_ms, now_ms, INT64)

#define RG_STORE__COMMAND_TABLE(FIRST, COL)                                                    \
    FIRST(id, id, INT64)                                                                       \
    COL(rollout_id, rollout_id, TEXT)                                                          \
    COL(tenant_id, tenant_id, TEXT)                                                            \
    COL(kind, kind, COMMAND_KIND)                                                              \
    COL(actor, actor, TEXT)                                                                    \
    COL(reason, reason, TEXT)                                                                  \
    COL(force, force, INT)                                                                     \
    COL(created_at, created_at_ms, INT64)                                                      \
    COL(state, state, COMMAND_STATE)                                                           \
    COL(outcome, outcome, TEXT)                                                                \
    COL(done_at, done_at_ms, INT64)

/* The column lists as SQL text, for "SELECT " RG_STORE__EVENT_COLUMNS " FROM events ..." and
 * "INSERT INTO events (" RG_STORE__EVENT_COLUMNS ") VALUES (...)". */
#define RG_STORE__NAME_FIRST(col, field, kind) #col
#define RG_STORE__NAME_NEXT(col, field, kind) ", " #col
#define RG_STORE__COLUMNS(TABLE) TABLE(RG_STORE__NAME_FIRST, RG_STORE__NAME_NEXT)
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
int rg_store__row_read(const rg_store__row_type *type, void *row, sqlite3_stmt *stmt);

/* A growable array of rows, moved into a typed list on success. */
typedef struct {
    void *items;
    size_t count;
    size_t cap;
} rg_store__array;

/* Runs a prepared, bound SELECT and reads every row; on failure the rows read so far are
 * disposed and `out` is left untouched. */
int rg_store__collect(rg_store__array *out, const rg_store__row_type *type, rg_store *store,
                      sqlite3_stmt *stmt, const char *op);
/* Moves a collected array into a typed list ({T *items; size_t count; size_t cap}). */
#define RG_STORE__LIST_TAKE(list, array)                                                       \
    ((list)->items = (array).items, (list)->count = (array).count, (list)->cap = (array).cap)
/* Runs a bound SELECT expected to return at most one row into the zeroed `row`:
 * RG_ENOTFOUND (message "store: <op>: <type name> not found") when none. */
int rg_store__fetch_one(void *row, const rg_store__row_type *type, rg_store *store,
                        sqlite3_stmt *stmt, const char *op);

#endif
