/* store.c - opening the database (pragmas, migrations), transactions and rollout ids */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "rollgate/util.h"
#include "store/store_private.h"

#define STORE_BUSY_TIMEOUT_MS 5000

/* Connection settings that are not part of the file: applied on every open. */
static int configure(sqlite3 *db)
{
    sqlite3_stmt *stmt = NULL;
    const unsigned char *mode;
    int rc;

    sqlite3_extended_result_codes(db, 1);
    rc = sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    if (rc != SQLITE_OK)
        return rg_store__db_error(db, rc, "open: busy timeout");
    if ((rc = rg_store__exec(db, "PRAGMA foreign_keys = ON", "open: foreign keys")) < 0 ||
        (rc = rg_store__exec(db, "PRAGMA synchronous = NORMAL", "open: synchronous")) < 0)
        return rc;
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

int rg_store_open(rg_store **out, const char *path)
{
    rg_store *store = NULL;
    sqlite3 *db = NULL;
    int rc;

    if (out == NULL)
        return rg_error_set(RG_EINVALID, "store: open: no output handle");
    if ((rc = rg_store__require(path, "open", "database path")) < 0)
        return rc;
    if ((rc = private_files(path)) < 0)
        return rc;
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        rc = rg_store__db_error(db, rc, "open");
        rg_error_prefix("%s", path);
        goto cleanup;
    }
    if ((rc = configure(db)) < 0 || (rc = rg_store__migrate(db, RG_STORE_SCHEMA_VERSION)) < 0) {
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

void rg_store_free(rg_store *store)
{
    if (store == NULL)
        return;
    rg_store__stmt_cache_free(store);
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
    if ((rc = rg_store__user_version(&version, store->db)) < 0)
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
    if (!sqlite3_get_autocommit(store->db))
        return rg_error_set(RG_EINVALID, "store: begin: a transaction is already open");
    /* synchronous cannot change inside a transaction; it applies at commit. */
    if (durable &&
        (rc = rg_store__exec(store->db, "PRAGMA synchronous = FULL", "begin durable")) < 0)
        return rc;
    rc = rg_store__exec(store->db, "BEGIN IMMEDIATE", "begin");
    if (rc < 0) {
        if (durable)
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

    if (!store->durable || !sqlite3_get_autocommit(store->db))
        return rc;
    store->durable = 0;
    restore = rg_store__exec(store->db, "PRAGMA synchronous = NORMAL", "restore synchronous");
    return rc < 0 ? rc : restore;
}

int rg_store_commit(rg_store *store)
{
    int rc;

    if (store == NULL)
        return rg_error_set(RG_EINVALID, "store: commit: no store");
    if (sqlite3_get_autocommit(store->db))
        return rg_error_set(RG_EINVALID, "store: commit: no transaction is open");
    rc = rg_store__exec(store->db, "COMMIT", "commit");
    return end_durable(store, rc);
}

int rg_store_rollback(rg_store *store)
{
    int rc = 0;

    if (store == NULL)
        return rg_error_set(RG_EINVALID, "store: rollback: no store");
    if (!sqlite3_get_autocommit(store->db))
        rc = rg_store__exec(store->db, "ROLLBACK", "rollback");
    return end_durable(store, rc);
}

int rg_store_in_transaction(const rg_store *store)
{
    return store != NULL && !sqlite3_get_autocommit(store->db);
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
