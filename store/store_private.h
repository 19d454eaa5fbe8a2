/* store_private.h - the store handle and the SQLite helpers shared by the store files */
#ifndef RG_STORE_PRIVATE_H
#define RG_STORE_PRIVATE_H

#include <sqlite3.h>

#include "rollgate/store.h"

typedef struct {
    const char *sql; /* identity: the address of a static SQL text */
    sqlite3_stmt *stmt;
} rg_store__cached_stmt;

/* The lease a driver holds while it writes for one rollout (rg_store_fence). */
typedef struct {
    char *tenant_id; /* NULL: no fence */
    char *rollout_id;
    char *owner;
    int64_t epoch;
    int checked; /* the open transaction has checked it */
} rg_store__fence;

struct rg_store {
    sqlite3 *db;
    int durable;  /* the open transaction commits with synchronous=FULL */
    int readonly; /* opened by rg_store_open_readonly on a current schema */
    rg_store__fence fence;
    rg_store__cached_stmt *stmts;
    size_t stmt_count;
    size_t stmt_cap;
};

/* ---- schema (schema.c) ---- */

/* Migrates an open connection from its user_version to `target_version` inside one
 * BEGIN IMMEDIATE transaction. Refuses a database newer than RG_STORE_SCHEMA_VERSION.
 * Exposed so tests can build a database at an older version. */
int rg_store__migrate(sqlite3 *db, int target_version);
int rg_store__user_version(int *out, sqlite3 *db);

/* ---- statements and errors (sql.c) ---- */

/* Maps a SQLite result code to an RG_E* code and sets the message
 * "store: <op>: <sqlite message>". Returns the RG code. */
int rg_store__db_error(sqlite3 *db, int rc, const char *op);
/* Runs SQL text that takes no parameters. */
int rg_store__exec(sqlite3 *db, const char *sql, const char *op);
/* The cached prepared statement for a static SQL text, reset and unbound. */
int rg_store__stmt(sqlite3_stmt **out, rg_store *store, const char *sql, const char *op);
void rg_store__stmt_cache_free(rg_store *store);
/* Steps a statement that returns no rows; maps errors. A write: with a fence set it runs
 * inside a transaction that checked the fence (its own when none is open). */
int rg_store__step_done(rg_store *store, sqlite3_stmt *stmt, const char *op);
/* As rg_store__step_done without the fence: the lease statements themselves. */
int rg_store__step_unfenced(rg_store *store, sqlite3_stmt *stmt, const char *op);
/* BEGIN IMMEDIATE, retried with backoff while the database answers busy where SQLite's
 * busy handler does not wait (a busy snapshot or recovery). */
int rg_store__begin_immediate(sqlite3 *db, const char *op);
/* Inside an open transaction: RG_ELEASE unless the fence's owner still holds the lease at
 * its epoch (0 without a fence, or when this transaction already checked). */
int rg_store__fence_check(rg_store *store, const char *op);
void rg_store__fence_clear(rg_store *store);
/* RG_EINVALID "store: <op>: <field> is missing" for NULL or "". */
int rg_store__require(const char *value, const char *op, const char *field);
/* RG_ENOTFOUND unless the rollout exists for the tenant. */
int rg_store__rollout_exists(rg_store *store, const char *tenant_id, const char *rollout_id,
                             const char *op);

/* Binds positional parameters in order, remembering the first failure. */
typedef struct {
    sqlite3_stmt *stmt;
    int index;
    int rc; /* SQLITE_OK until a bind fails */
} rg_store__binder;

void rg_store__binder_init(rg_store__binder *b, sqlite3_stmt *stmt);
void rg_store__bind_text(rg_store__binder *b, const char *s); /* NULL binds NULL */
void rg_store__bind_int64(rg_store__binder *b, int64_t v);
void rg_store__bind_time(rg_store__binder *b, int64_t ms); /* 0 binds NULL */
void rg_store__bind_double(rg_store__binder *b, double v); /* NaN binds NULL */
int rg_store__binder_check(rg_store__binder *b, sqlite3 *db, const char *op);
/* rg_store__stmt and rg_store__binder_init in one: `b` binds the cached statement's
 * parameters in order (b->stmt is the statement). */
int rg_store__prepare(rg_store__binder *b, rg_store *store, const char *sql, const char *op);
/* The cached statement for `sql` with its first parameter bound to tenant_id, which is
 * required (RG_EINVALID "tenant id is missing"); the caller binds the rest through `b`. */
int rg_store__tenant_stmt(rg_store__binder *b, rg_store *store, const char *sql, const char *op,
                          const char *tenant_id);
/* As rg_store__tenant_stmt with the second parameter bound to rollout_id, also required:
 * the shape of every per-rollout statement, "... WHERE tenant_id = ? AND rollout_id = ?". */
int rg_store__rollout_stmt(rg_store__binder *b, rg_store *store, const char *sql, const char *op,
                           const char *tenant_id, const char *rollout_id);

/* Reads the columns of the current row in order, remembering the first failure. */
typedef struct {
    sqlite3_stmt *stmt;
    int col;
    int rc; /* 0 until a read fails (an RG_E* code with its message set) */
} rg_store__reader;

void rg_store__reader_init(rg_store__reader *r, sqlite3_stmt *stmt);
char *rg_store__read_text(rg_store__reader *r);    /* NULL for NULL; owned copy */
int64_t rg_store__read_int64(rg_store__reader *r); /* 0 for NULL */
double rg_store__read_double(rg_store__reader *r); /* NaN for NULL */

/* Row types, the column tables and the row collectors: rows.h. */

#endif
