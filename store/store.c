/* store.c - opening the database (SQLite: pragmas; PostgreSQL: a connection), migrations,
 * transactions and rollout ids */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "rollgate/util.h"
#include "store/store_private.h"

/* A wait this long for the lock is worth one line in the log. */
#define STORE_BUSY_LOG_MS 1000
#define STORE_BUSY_STEP_MAX_MS 250

/* The delay before the n-th retry (0-based): 1 ms doubling to STORE_BUSY_STEP_MAX_MS. */
static int busy_delay_ms(int n)
{
    return n >= 8 ? STORE_BUSY_STEP_MAX_MS : 1 << n;
}

/*
 * SQLite calls this while another connection holds the lock it needs (a backup, an
 * operator's sqlite3, another driver's commit). Waiting is always right: the engine's work
 * is durable only through the database, and a busy database is not an error of the
 * rollout. So it waits with backoff, without a limit, and says so once per wait, when the
 * wait passes STORE_BUSY_LOG_MS. SQLite does not call it where waiting could deadlock (a
 * read transaction upgrading); rg_store_begin retries those itself.
 */
static int on_busy(void *payload, int count)
{
    int64_t waited = 0;
    int delay = busy_delay_ms(count);
    struct timespec ts = {0, (long)delay * 1000000L};

    (void)payload;
    for (int i = 0; i < count && waited <= STORE_BUSY_LOG_MS; i++)
        waited += busy_delay_ms(i);
    if (waited <= STORE_BUSY_LOG_MS && waited + delay > STORE_BUSY_LOG_MS)
        rg_log(RG_LOG_WARN, "store",
               "the database is locked by another client; waiting "
               "for it (backing off, no limit)");
    nanosleep(&ts, NULL);
    return 1;
}

/* Connection settings that are not part of the file: applied on every open. A read-only
 * connection only reads the journal mode (a read-only file cannot switch it). */
static int configure(sqlite3 *db, int readonly)
{
    sqlite3_stmt *stmt = NULL;
    const unsigned char *mode;
    int rc;

    sqlite3_extended_result_codes(db, 1);
    rc = sqlite3_busy_handler(db, on_busy, NULL);
    if (rc != SQLITE_OK)
        return rg_store__db_error(db, rc, "open: busy handler");
    if ((rc = rg_store__lite_exec(db, "PRAGMA foreign_keys = ON", "open: foreign keys")) < 0 ||
        (rc = rg_store__lite_exec(db, "PRAGMA synchronous = NORMAL", "open: synchronous")) < 0)
        return rc;
    if (readonly)
        return 0;
    /* journal_mode answers with a row naming the mode it actually set. */
    rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rg_store__db_error(db, rc, "open: journal mode");
    if (sqlite3_step(stmt) != SQLITE_ROW) {
        rc = rg_store__db_error(db, sqlite3_extended_errcode(db), "open: journal mode");
        goto cleanup;
    }
    mode = sqlite3_column_text(stmt, 0);
    if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
        rc = rg_error_set(RG_EDB, "store: open: the database refused WAL mode (got %s)",
                          mode ? (const char *)mode : "nothing");
        goto cleanup;
    }
    rc = 0;

cleanup:
    sqlite3_finalize(stmt);
    return rc;
}

/* The database and its -wal/-shm hold every tenant's manifests and audit: owner-only
 * whatever the umask. SQLite creates -wal and -shm with the database file's mode. */
static int private_files(const char *path)
{
    char side[4096];
    int rc;

    if (path[0] == ':' || strncmp(path, "file:", 5) == 0)
        return 0;
    if ((rc = rg_file_private_ensure(path, "database")) < 0)
        return rc;
    for (int i = 0; i < 2; i++) {
        snprintf(side, sizeof(side), "%s%s", path, i ? "-shm" : "-wal");
        if ((rc = rg_file_private_tighten(side, "database")) < 0)
            return rc;
    }
    return 0;
}

/* A postgresql:// or postgres:// URI: a connection (one per handle: serve gives every
 * thread its own handle, so the handles are the pool) on a migrated schema. */
static int open_pg(rg_store **out, const char *uri, int readonly)
{
    rg_store__pg *pg = NULL;
    rg_store *store = NULL;
    char display[1024];
    int rc;

    if ((rc = rg_store__pg_open(&pg, uri)) < 0)
        return rc;
    if ((rc = rg_store__pg_migrate(pg)) < 0) {
        rg_store_location_display(display, sizeof(display), uri);
        rg_error_prefix("%s", display);
        rg_store__pg_close(pg);
        return rc;
    }
    if ((store = calloc(1, sizeof(*store))) == NULL) {
        rg_store__pg_close(pg);
        return rg_error_set(RG_ENOMEM, "store: open: out of memory");
    }
    if (readonly) {
        rg_store__pg_set_readonly(pg);
        store->readonly = 1;
    }
    store->pg = pg;
    *out = store;
    return 0;
}

int rg_store_open(rg_store **out, const char *path)
{
    rg_store *store = NULL;
    sqlite3 *db = NULL;
    int rc;

    if (out == NULL)
        return rg_error_set(RG_EINVALID, "store: open: no output handle");
    if ((rc = rg_store__require(path, "open", "database path")) < 0)
        return rc;
    if (rg_store__is_pg_location(path))
        return open_pg(out, path, 0);
    if ((rc = private_files(path)) < 0)
        return rc;
    /* NOMUTEX: a store handle is used by one thread at a time (serve gives every request,
     * the scheduler and the webhook thread handles of their own), so SQLite's per-call
     * connection mutex is pure cost. */
    rc = sqlite3_open_v2(path, &db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = rg_store__db_error(db, rc, "open");
        rg_error_prefix("%s", path);
        goto cleanup;
    }
    if ((rc = configure(db, 0)) < 0 || (rc = rg_store__migrate(db, RG_STORE_SCHEMA_VERSION)) < 0) {
        rg_error_prefix("%s", path);
        goto cleanup;
    }
    store = calloc(1, sizeof(*store));
    if (store == NULL) {
        rc = rg_error_set(RG_ENOMEM, "store: open: out of memory");
        goto cleanup;
    }
    store->db = db;
    db = NULL;
    *out = store;

cleanup:
    sqlite3_close(db);
    return rc;
}

/* The current schema without a migration, or RG_ENOTFOUND when the file is absent or
 * behind (the caller then opens read-write and migrates). */
static int open_readonly(rg_store **out, const char *path)
{
    rg_store *store = NULL;
    sqlite3 *db = NULL;
    int rc, version = 0;

    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = rc == SQLITE_CANTOPEN ? RG_ENOTFOUND : rg_store__db_error(db, rc, "open");
        goto cleanup;
    }
    if ((rc = configure(db, 1)) < 0 || (rc = rg_store__user_version(&version, db)) < 0)
        goto cleanup;
    if (version > RG_STORE_SCHEMA_VERSION) {
        rc = rg_error_set(RG_EDB,
                          "store: database schema version %d is newer than this build "
                          "(%d)",
                          version, RG_STORE_SCHEMA_VERSION);
        goto cleanup;
    }
    if (version < RG_STORE_SCHEMA_VERSION) {
        rc = RG_ENOTFOUND;
        goto cleanup;
    }
    if ((store = calloc(1, sizeof(*store))) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "store: open: out of memory");
        goto cleanup;
    }
    store->db = db;
    store->readonly = 1;
    db = NULL;
    *out = store;
    rc = 0;
cleanup:
    sqlite3_close(db);
    return rc;
}

int rg_store_open_readonly(rg_store **out, const char *path)
{
    int rc;

    if (out == NULL)
        return rg_error_set(RG_EINVALID, "store: open: no output handle");
    if ((rc = rg_store__require(path, "open", "database path")) < 0)
        return rc;
    if (rg_store__is_pg_location(path))
        return open_pg(out, path, 1);
    rc = open_readonly(out, path);
    if (rc == RG_ENOTFOUND) {
        /* Absent or behind: only a write can create or migrate it, and that may wait for
         * the lock like any write. */
        rg_log(RG_LOG_INFO, "store",
               "%s is absent or needs a migration: opening it for "
               "writing once",
               path);
        return rg_store_open(out, path);
    }
    if (rc < 0)
        rg_error_prefix("%s", path);
    return rc;
}

void rg_store_free(rg_store *store)
{
    if (store == NULL)
        return;
    rg_store__fence_clear(store);
    rg_store__stmt_cache_free(store);
    if (store->pg) {
        if (rg_store__pg_in_transaction(store->pg))
            rg_store__pg_exec(store->pg, "ROLLBACK", "close");
        rg_store__pg_close(store->pg);
        free(store);
        return;
    }
    if (!sqlite3_get_autocommit(store->db))
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(store->db);
    free(store);
}

int rg_store_schema_version(int *out, rg_store *store)
{
    int version = 0, rc;
    if (out == NULL || store == NULL)
        return rg_error_set(RG_EINVALID, "store: schema version: missing argument");
    if ((rc = store->pg ? rg_store__pg_schema_version(&version, store->pg)
                        : rg_store__user_version(&version, store->db)) < 0)
        return rc;
    *out = version;
    return 0;
}

/* ---- transactions ---- */

static int begin(rg_store *store, int durable)
{
    int rc;

    if (store == NULL)
        return rg_error_set(RG_EINVALID, "store: begin: no store");
    if (rg_store_in_transaction(store))
        return rg_error_set(RG_EINVALID, "store: begin: a transaction is already open");
    /* synchronous cannot change inside a transaction; it applies at commit. PostgreSQL
     * commits durably (synchronous_commit) at every commit. */
    if (durable && store->db &&
        (rc = rg_store__lite_exec(store->db, "PRAGMA synchronous = FULL", "begin durable")) < 0)
        return rc;
    store->fence.checked = 0;
    rc = rg_store__begin_write(store, "begin");
    if (rc == 0 && store->pg)
        rg_store__pg_set_guarded(store->pg, 1);
    if (rc == 0 && (rc = rg_store__fence_check(store, "begin")) < 0)
        rg_store__exec(store, "ROLLBACK", "begin");
    if (rc < 0) {
        if (durable && store->db)
            sqlite3_exec(store->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
        return rc;
    }
    store->durable = durable;
    return 0;
}

int rg_store_begin(rg_store *store)
{
    return begin(store, 0);
}

int rg_store_begin_durable(rg_store *store)
{
    return begin(store, 1);
}

/* Back to synchronous=NORMAL once the durable transaction is over. */
static int end_durable(rg_store *store, int rc)
{
    int restore;

    if (!store->durable || rg_store_in_transaction(store))
        return rc;
    store->durable = 0;
    if (store->pg)
        return rc;
    restore = rg_store__lite_exec(store->db, "PRAGMA synchronous = NORMAL", "restore synchronous");
    return rc < 0 ? rc : restore;
}

int rg_store_commit(rg_store *store)
{
    int rc;

    if (store == NULL)
        return rg_error_set(RG_EINVALID, "store: commit: no store");
    if (!rg_store_in_transaction(store))
        return rg_error_set(RG_EINVALID, "store: commit: no transaction is open");
    rc = rg_store__exec(store, "COMMIT", "commit");
    if (!rg_store_in_transaction(store))
        store->fence.checked = 0;
    return end_durable(store, rc);
}

int rg_store_rollback(rg_store *store)
{
    int rc = 0;

    if (store == NULL)
        return rg_error_set(RG_EINVALID, "store: rollback: no store");
    if (rg_store_in_transaction(store))
        rc = rg_store__exec(store, "ROLLBACK", "rollback");
    store->fence.checked = 0;
    return end_durable(store, rc);
}

int rg_store_in_transaction(const rg_store *store)
{
    if (store == NULL)
        return 0;
    if (store->pg)
        return rg_store__pg_in_transaction(store->pg);
    return !sqlite3_get_autocommit(store->db);
}

/* ---- ids ---- */

int rg_store_rollout_id_new(char out[RG_STORE_ROLLOUT_ID_LEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char bytes[6];

    if (RAND_bytes(bytes, (int)sizeof(bytes)) != 1)
        return rg_error_set(RG_EIO, "store: rollout id: the random source failed");
    memcpy(out, "ro_", 3);
    for (size_t i = 0; i < sizeof(bytes); i++) {
        out[3 + 2 * i] = hex[bytes[i] >> 4];
        out[4 + 2 * i] = hex[bytes[i] & 0x0f];
    }
    out[RG_STORE_ROLLOUT_ID_LEN - 1] = '\0';
    return 0;
}
