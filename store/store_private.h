/* store_private.h - the store handle, its two drivers (SQLite, PostgreSQL) and the
 * statement helpers shared by the store files */
#ifndef RG_STORE_PRIVATE_H
#define RG_STORE_PRIVATE_H

#include <sqlite3.h>

#include "rollgate/store.h"

/*
 * Every query of the store is one SQL text, written in SQLite's dialect, run by either
 * driver. The PostgreSQL driver (pg.c) translates it once per statement (rg_store__pg_sql):
 * `?` and `?N` become `$N`; RG_STORE__DB_NOW becomes the database's now(); "VALUES (NULL,"
 * of an id column becomes "VALUES (DEFAULT,"; and a comment "/\*pg: ...*\/" becomes its
 * text (SQLite ignores it), for the few clauses only PostgreSQL has (FOR SHARE, SKIP LOCKED,
 * RETURNING id). docs/internals/store.md, "Two drivers".
 */

/* The statement's own clock in epoch ms: one clock for every process writing the database,
 * read at the moment of the write (PostgreSQL: now(), the transaction's start). */
#define RG_STORE__DB_NOW "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"

typedef struct rg_store__pg rg_store__pg;           /* pg.c: one connection and its state */
typedef struct rg_store__pg_stmt rg_store__pg_stmt; /* pg.c: one translated statement */

/* One cached statement of either driver; its address is stable while the store lives. */
typedef struct {
    const char *sql; /* identity: the address of a static SQL text */
    sqlite3_stmt *lite;
    rg_store__pg_stmt *pg;
} rg_store__query;

/* The lease a driver holds while it writes for one rollout (rg_store_fence). */
typedef struct {
    char *tenant_id; /* NULL: no fence */
    char *rollout_id;
    char *owner;
    int64_t epoch;
    int checked; /* the open transaction has checked it */
} rg_store__fence;

struct rg_store {
    sqlite3 *db;      /* the SQLite driver's connection, or NULL */
    rg_store__pg *pg; /* the PostgreSQL driver's, or NULL */
    int durable;      /* the open transaction commits with synchronous=FULL */
    int readonly;     /* opened by rg_store_open_readonly on a current schema */
    rg_store__fence fence;
    rg_store__query **stmts;
    size_t stmt_count;
    size_t stmt_cap;
};

/* Whether `location` names a PostgreSQL database (postgresql:// or postgres://). */
int rg_store__is_pg_location(const char *location);

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
/* Runs SQLite SQL text that takes no parameters. */
int rg_store__lite_exec(sqlite3 *db, const char *sql, const char *op);
/* Runs SQL text that takes no parameters on either driver (BEGIN, COMMIT, ROLLBACK). */
int rg_store__exec(rg_store *store, const char *sql, const char *op);
/* The cached prepared statement for a static SQL text, reset and unbound. */
int rg_store__stmt(rg_store__query **out, rg_store *store, const char *sql, const char *op);
void rg_store__stmt_cache_free(rg_store *store);
/* Steps a statement: 1 at a row (read it with rg_store__col_*), 0 when done, or an RG_E*
 * code with its message. The first step runs it. */
int rg_store__step(rg_store *store, rg_store__query *q, const char *op);
/* Ends a statement's run (its rows are gone); the next step runs it again. */
void rg_store__reset(rg_store *store, rg_store__query *q);
/* Rows the last write changed (INSERT ... ON CONFLICT DO NOTHING: 0 when it did nothing). */
int64_t rg_store__changes(rg_store *store);
/* The id the last INSERT ... VALUES (NULL, ...) gave its row (PostgreSQL: from the
 * statement's "/\*pg: RETURNING id*\/"). */
int64_t rg_store__last_id(rg_store *store);
int rg_store__col_null(rg_store__query *q, int col);
/* The column as text, NULL for NULL; valid until the next step or reset. */
const char *rg_store__col_text(rg_store__query *q, int col, size_t *len);
int64_t rg_store__col_int64(rg_store__query *q, int col); /* 0 for NULL */
double rg_store__col_double(rg_store__query *q, int col); /* 0 for NULL */
/* Steps a statement that returns no rows; maps errors. A write: with a fence set it runs
 * inside a transaction that checked the fence (its own when none is open). */
int rg_store__step_done(rg_store *store, rg_store__query *stmt, const char *op);
/* As rg_store__step_done without the fence: the lease statements themselves. */
int rg_store__step_unfenced(rg_store *store, rg_store__query *stmt, const char *op);
/* BEGIN IMMEDIATE, retried with backoff while the database answers busy where SQLite's
 * busy handler does not wait (a busy snapshot or recovery). */
int rg_store__begin_immediate(sqlite3 *db, const char *op);
/* Opens a write transaction on either driver (SQLite: BEGIN IMMEDIATE). */
int rg_store__begin_write(rg_store *store, const char *op);
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
    rg_store__query *stmt;
    int index;
    int rc; /* 0 until a bind fails (SQLite: its code; PostgreSQL: an RG_E* code) */
} rg_store__binder;

void rg_store__binder_init(rg_store__binder *b, rg_store__query *stmt);
void rg_store__bind_text(rg_store__binder *b, const char *s); /* NULL binds NULL */
void rg_store__bind_int64(rg_store__binder *b, int64_t v);
void rg_store__bind_time(rg_store__binder *b, int64_t ms); /* 0 binds NULL */
void rg_store__bind_double(rg_store__binder *b, double v); /* NaN binds NULL */
int rg_store__binder_check(rg_store__binder *b, rg_store *store, const char *op);
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
    rg_store__query *stmt;
    int col;
    int rc; /* 0 until a read fails (an RG_E* code with its message set) */
} rg_store__reader;

void rg_store__reader_init(rg_store__reader *r, rg_store__query *stmt);
char *rg_store__read_text(rg_store__reader *r);    /* NULL for NULL; owned copy */
int64_t rg_store__read_int64(rg_store__reader *r); /* 0 for NULL */
double rg_store__read_double(rg_store__reader *r); /* NaN for NULL */

/* ---- the PostgreSQL driver (pg.c) ---- */

/* Connects to a postgresql:// URI and migrates it; errors name it without its password. */
int rg_store__pg_open(rg_store__pg **out, const char *uri);
void rg_store__pg_close(rg_store__pg *pg);
/* Every later transaction of the connection is read-only (rg_store_open_readonly). */
void rg_store__pg_set_readonly(rg_store__pg *pg);
/* The open transaction is the caller's (rg_store_begin): each write in it runs under a
 * savepoint, so that a failed statement fails alone, as in SQLite. */
void rg_store__pg_set_guarded(rg_store__pg *pg, int guarded);
/* Runs a query of one integer column; 0 when it returns no row. */
int rg_store__pg_query_int(int *out, rg_store__pg *pg, const char *sql, const char *op);
/* Migrates to RG_STORE_SCHEMA_VERSION under an advisory lock (pg_schema.c). */
int rg_store__pg_migrate(rg_store__pg *pg);
int rg_store__pg_exec(rg_store__pg *pg, const char *sql, const char *op);
int rg_store__pg_in_transaction(const rg_store__pg *pg);
int rg_store__pg_schema_version(int *out, rg_store__pg *pg);
rg_store__pg_stmt *rg_store__pg_stmt_new(rg_store__pg *pg, const char *sql);
void rg_store__pg_stmt_free(rg_store__pg_stmt *st);
/* Binds parameter `index` (1-based) as text of the given type oid (0: NULL). */
int rg_store__pg_bind(rg_store__pg_stmt *st, int index, unsigned type, const char *text);
int rg_store__pg_step(rg_store__pg *pg, rg_store__pg_stmt *st, const char *op);
void rg_store__pg_reset(rg_store__pg_stmt *st);
int64_t rg_store__pg_changes(const rg_store__pg *pg);
int64_t rg_store__pg_last_id(const rg_store__pg *pg);
const char *rg_store__pg_col(rg_store__pg_stmt *st, int col, size_t *len); /* NULL for NULL */
/* The SQLite-dialect SQL text in PostgreSQL's (malloc'd), and its parameter count. */
char *rg_store__pg_sql(const char *sql, int *out_nparams);

/* Row types, the column tables and the row collectors: rows.h. */

#endif
