/* schema.c - the store's schema as an ordered list of migrations keyed by PRAGMA user_version */
#include <stddef.h>

#include "rollgate/util.h"
#include "store/store_private.h"

/* Version 1: every table. Times are INTEGER milliseconds since the epoch (UTC). Every
 * table with tenant data carries tenant_id and, through the composite key
 * (rollout_id, tenant_id) -> rollouts(id, tenant_id), cannot point at another tenant's
 * rollout. JSON columns are checked with json_valid. */
static const char migration_v1[] =
    "CREATE TABLE tenants ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 128),"
    " name TEXT NOT NULL,"
    " created_at INTEGER NOT NULL);"

    "CREATE TABLE rollouts ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 128),"
    " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
    " name TEXT NOT NULL,"
    " manifest TEXT NOT NULL CHECK (json_valid(manifest)),"
    " policy TEXT NOT NULL CHECK (json_valid(policy)),"
    " state TEXT NOT NULL CHECK (state IN ('awaiting_approval', 'running', 'paused', 'held',"
    "  'rolling_back', 'rolled_back', 'rollback_incomplete', 'completed')),"
    " stage_index INTEGER NOT NULL CHECK (stage_index >= 0),"
    " stage_count INTEGER NOT NULL CHECK (stage_count >= 1),"
    " created_by TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " revision INTEGER NOT NULL CHECK (revision >= 1),"
    " hold_reason TEXT,"
    " verification TEXT CHECK (verification IN ('passed', 'failed', 'inconclusive')),"
    " stage_started_at INTEGER,"
    " stage_applied_at INTEGER,"
    " baseline TEXT CHECK (baseline IS NULL OR json_valid(baseline)),"
    " UNIQUE (id, tenant_id));"
    "CREATE INDEX rollouts_by_tenant ON rollouts (tenant_id, created_at);"

    "CREATE TABLE targets ("
    " rollout_id TEXT NOT NULL,"
    " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
    " seq INTEGER NOT NULL CHECK (seq >= 0),"
    " org_id TEXT NOT NULL CHECK (length(org_id) >= 1),"
    " group_name TEXT NOT NULL,"
    " tier INTEGER NOT NULL CHECK (tier >= 0),"
    " stage_index INTEGER NOT NULL CHECK (stage_index >= 0),"
    " strategy_id TEXT NOT NULL CHECK (length(strategy_id) >= 1),"
    " api_url TEXT,"
    " login_url TEXT,"
    " state TEXT NOT NULL CHECK (state IN ('pending', 'snapshotted', 'applied',"
    "  'apply_failed', 'restored', 'restore_failed', 'unchanged')),"
    " attempts INTEGER NOT NULL CHECK (attempts >= 0),"
    " last_error TEXT,"
    " applied_etag TEXT,"
    " applied_body TEXT CHECK (applied_body IS NULL OR json_valid(applied_body)),"
    " applied_at INTEGER,"
    " restored_etag TEXT,"
    " restored_at INTEGER,"
    " kept_fields TEXT CHECK (kept_fields IS NULL OR json_valid(kept_fields)),"
    " PRIMARY KEY (rollout_id, org_id, strategy_id),"
    " UNIQUE (rollout_id, seq),"
    " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"

    "CREATE TABLE snapshots ("
    " rollout_id TEXT NOT NULL,"
    " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
    " org_id TEXT NOT NULL,"
    " strategy_id TEXT NOT NULL,"
    " etag TEXT NOT NULL,"
    " body TEXT NOT NULL CHECK (json_valid(body)),"
    " taken_at INTEGER NOT NULL,"
    " PRIMARY KEY (rollout_id, org_id, strategy_id),"
    " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id),"
    " FOREIGN KEY (rollout_id, org_id, strategy_id)"
    "  REFERENCES targets (rollout_id, org_id, strategy_id));"
    /* Insert-only. The insert trigger also stops INSERT OR REPLACE, whose implicit delete
     * would not fire the delete trigger. */
    "CREATE TRIGGER snapshots_insert_only BEFORE INSERT ON snapshots"
    " WHEN EXISTS (SELECT 1 FROM snapshots WHERE rollout_id = NEW.rollout_id"
    "  AND org_id = NEW.org_id AND strategy_id = NEW.strategy_id)"
    " BEGIN SELECT RAISE(ABORT, 'snapshot already taken: snapshots are insert-only'); END;"
    "CREATE TRIGGER snapshots_no_update BEFORE UPDATE ON snapshots"
    " BEGIN SELECT RAISE(ABORT, 'snapshots are insert-only: update refused'); END;"
    "CREATE TRIGGER snapshots_no_delete BEFORE DELETE ON snapshots"
    " BEGIN SELECT RAISE(ABORT, 'snapshots are insert-only: delete refused'); END;"

    "CREATE TABLE measurements ("
    " rollout_id TEXT NOT NULL,"
    " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
    " org_id TEXT NOT NULL,"
    " queue_id TEXT NOT NULL,"
    " metric TEXT NOT NULL CHECK (length(metric) >= 1),"
    " bucket_start_ms INTEGER NOT NULL,"
    " bucket_len_ms INTEGER NOT NULL CHECK (bucket_len_ms > 0),"
    " count INTEGER NOT NULL CHECK (count >= 0),"
    " sum REAL,"
    " UNIQUE (rollout_id, org_id, queue_id, metric, bucket_start_ms, bucket_len_ms),"
    " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"

    "CREATE TABLE verdicts ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " rollout_id TEXT NOT NULL,"
    " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
    " stage INTEGER NOT NULL CHECK (stage >= 0),"
    " poll INTEGER NOT NULL CHECK (poll >= 0),"
    " metric TEXT NOT NULL,"
    " test TEXT NOT NULL,"
    " estimate REAL, ci_lo REAL, ci_hi REAL, z REAL, boundary REAL, p_value REAL,"
    " decision TEXT NOT NULL CHECK (decision IN ('pass', 'fail', 'inconclusive', 'error')),"
    " reason TEXT,"
    " at INTEGER NOT NULL,"
    " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"

    "CREATE TABLE events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " rollout_id TEXT NOT NULL,"
    " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
    " kind TEXT NOT NULL CHECK (length(kind) >= 1),"
    " from_state TEXT,"
    " to_state TEXT,"
    " detail TEXT CHECK (detail IS NULL OR json_valid(detail)),"
    " at INTEGER NOT NULL,"
    " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"

    "CREATE TABLE audit ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " rollout_id TEXT,"
    " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
    " actor TEXT NOT NULL CHECK (length(actor) >= 1),"
    " action TEXT NOT NULL CHECK (length(action) >= 1),"
    " reason TEXT,"
    " outcome TEXT,"
    " detail TEXT CHECK (detail IS NULL OR json_valid(detail)),"
    " at INTEGER NOT NULL,"
    " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"

    "CREATE TABLE leases ("
    " rollout_id TEXT PRIMARY KEY NOT NULL,"
    " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
    " owner TEXT NOT NULL CHECK (length(owner) >= 1),"
    " expires_at_ms INTEGER NOT NULL,"
    " acquired_at_ms INTEGER NOT NULL,"
    " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"

    "CREATE TABLE commands ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " rollout_id TEXT NOT NULL,"
    " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
    " kind TEXT NOT NULL CHECK (kind IN ('rollback', 'pause', 'resume', 'promote',"
    "  'approve')),"
    " actor TEXT NOT NULL CHECK (length(actor) >= 1),"
    " reason TEXT,"
    " force INTEGER NOT NULL CHECK (force IN (0, 1)),"
    " created_at INTEGER NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),"
    " outcome TEXT,"
    " done_at INTEGER,"
    " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"

    "PRAGMA user_version = 1;";

/* Version 2: indexes for the per-rollout reads the engine makes every tick. */
static const char migration_v2[] =
    "CREATE INDEX commands_pending ON commands (tenant_id, rollout_id, state, id);"
    "CREATE INDEX verdicts_by_rollout ON verdicts (tenant_id, rollout_id, stage, id);"
    "CREATE INDEX events_by_rollout ON events (tenant_id, rollout_id, id);"
    "CREATE INDEX audit_by_tenant ON audit (tenant_id, rollout_id, id);"
    "PRAGMA user_version = 2;";

/* Version 3: exactly once under faults.
 * - leases.epoch grows at every acquisition by another owner (or after a release: the row
 *   is kept, marked released, so the epoch never goes back); every write a driver makes
 *   checks it (store fencing). ttl_ms and batch_ms record the lease length the holder chose
 *   and its last measured platform batch, for status.
 * - one verdict per (rollout, stage, poll, metric): older duplicates are dropped, the
 *   first kept.
 * - claims: a non-terminal rollout holds each (org, resource) it targets, across tenants
 *   (an org is one platform object). Active rollouts of older versions claim theirs, the
 *   oldest first. */
static const char migration_v3[] =
    "ALTER TABLE leases ADD COLUMN epoch INTEGER NOT NULL DEFAULT 1 CHECK (epoch >= 1);"
    "ALTER TABLE leases ADD COLUMN released INTEGER NOT NULL DEFAULT 0"
    " CHECK (released IN (0, 1));"
    "ALTER TABLE leases ADD COLUMN ttl_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE leases ADD COLUMN batch_ms INTEGER NOT NULL DEFAULT 0;"
    "DELETE FROM verdicts WHERE id NOT IN (SELECT MIN(id) FROM verdicts"
    " GROUP BY rollout_id, tenant_id, stage, poll, metric);"
    "CREATE UNIQUE INDEX verdicts_one_per_poll ON verdicts (rollout_id, tenant_id, stage, poll,"
    " metric);"
    "CREATE TABLE claims ("
    " org_id TEXT NOT NULL CHECK (length(org_id) >= 1),"
    " resource TEXT NOT NULL CHECK (length(resource) >= 1),"
    " rollout_id TEXT NOT NULL,"
    " tenant_id TEXT NOT NULL REFERENCES tenants(id),"
    " claimed_at INTEGER NOT NULL,"
    " PRIMARY KEY (org_id, resource),"
    " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"
    "CREATE INDEX claims_by_rollout ON claims (tenant_id, rollout_id);"
    "INSERT OR IGNORE INTO claims (org_id, resource, rollout_id, tenant_id, claimed_at)"
    " SELECT t.org_id, 'strategy:' || t.strategy_id, t.rollout_id, t.tenant_id, r.created_at"
    " FROM targets t JOIN rollouts r ON r.id = t.rollout_id AND r.tenant_id = t.tenant_id"
    " WHERE r.state NOT IN ('rolled_back', 'rollback_incomplete', 'completed')"
    " ORDER BY r.created_at, r.id, t.seq;"
    "PRAGMA user_version = 3;";

/* Version 4: environment promotion. Every rollout records the artifact it runs (the
 * manifest's digest, "sha256:<hex>"), the environment it was started for, and the reason a
 * person gave to start it although the environment's requirements were not met. Rollouts
 * of older versions have none of them (NULL). */
static const char migration_v4[] =
    "ALTER TABLE rollouts ADD COLUMN digest TEXT"
    " CHECK (digest IS NULL OR (length(digest) = 71 AND digest LIKE 'sha256:%'));"
    "ALTER TABLE rollouts ADD COLUMN environment TEXT"
    " CHECK (environment IS NULL OR length(environment) BETWEEN 1 AND 128);"
    "ALTER TABLE rollouts ADD COLUMN forced_reason TEXT;"
    "CREATE INDEX rollouts_by_digest ON rollouts (tenant_id, digest, created_at);"
    "PRAGMA user_version = 4;";

/* Version 5: `promote --full` (issue 18): a queued promote can ask for every remaining
 * stage at once. Commands of older versions are plain promotes (0). */
static const char migration_v5[] =
    "ALTER TABLE commands ADD COLUMN full INTEGER NOT NULL DEFAULT 0 CHECK (full IN (0, 1));"
    "PRAGMA user_version = 5;";

/* Version 6: the same check on targets.state, written so that SQLite does not build it
 * for every row. SQLite codes a CHECK's `IN` list of more than two values as an ephemeral
 * index built anew for every row written (in a constraint there is no once-only guard), so
 * each update or insert of a target made a throwaway b-tree of the 7 states: about 35,000 of
 * the 56,000 instructions of a target update (callgrind; docs/benchmarks.md section 2). A
 * chain of `=` accepts exactly the same values. A CHECK that existing rows satisfy may be
 * rewritten in sqlite_schema (sqlite.org/lang_altertable.html: changes that do not touch the
 * stored content); RESET reloads this connection's schema, and the table made and dropped
 * after it moves the schema cookie so that every other connection reloads it too. */
static const char migration_v6[] =
    "PRAGMA writable_schema = ON;"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'state IN (''pending'', ''snapshotted'', ''applied'',  ''apply_failed'', ''restored'','"
    " || ' ''restore_failed'', ''unchanged''))',"
    " 'state = ''pending'' OR state = ''snapshotted'' OR state = ''applied''' ||"
    " ' OR state = ''apply_failed'' OR state = ''restored'' OR state = ''restore_failed''' ||"
    " ' OR state = ''unchanged'')')"
    " WHERE type = 'table' AND name = 'targets';"
    "PRAGMA writable_schema = RESET;"
    "CREATE TABLE rg_schema_cookie (x);"
    "DROP TABLE rg_schema_cookie;"
    "PRAGMA user_version = 6;";

/* migrations[i] takes a database from version i to i + 1; each sets user_version. */
static const char *const migrations[] = {migration_v1, migration_v2, migration_v3,
                                         migration_v4, migration_v5, migration_v6};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == RG_STORE_SCHEMA_VERSION,
               "one migration per schema version");

int rg_store__user_version(int *out, sqlite3 *db)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL);

    if (rc != SQLITE_OK)
        return rg_store__db_error(db, rc, "read schema version");
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        rc = rg_store__db_error(db, sqlite3_extended_errcode(db), "read schema version");
        sqlite3_finalize(stmt);
        return rc;
    }
    *out = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return 0;
}

int rg_store__migrate(sqlite3 *db, int target_version)
{
    int version = 0, rc;

    if (target_version < 1 || target_version > RG_STORE_SCHEMA_VERSION)
        return rg_error_set(RG_EINVALID, "store: migrate: no schema version %d", target_version);
    /* Already there (every open but the first): nothing to lock. A read sees only committed
     * versions, so a migration in progress elsewhere reads as the old version and takes the
     * locked path below. Without this, every open (serve opens one per request) waited for
     * the write lock behind any writer, backing off up to 250 ms at a time. */
    if ((rc = rg_store__user_version(&version, db)) < 0)
        return rc;
    if (version == target_version)
        return 0;
    /* The write lock first, then the version: two processes opening a fresh file at the
     * same moment migrate once. */
    if ((rc = rg_store__lite_exec(db, "BEGIN IMMEDIATE", "migrate: begin")) < 0)
        return rc;
    if ((rc = rg_store__user_version(&version, db)) < 0)
        goto cleanup;
    if (version > RG_STORE_SCHEMA_VERSION) {
        rc = rg_error_set(RG_EDB, "store: database schema version %d is newer than this build (%d)",
                          version, RG_STORE_SCHEMA_VERSION);
        goto cleanup;
    }
    for (int v = version; v < target_version; v++) {
        if ((rc = rg_store__lite_exec(db, migrations[v], "migrate")) < 0) {
            rg_error_prefix("to schema version %d", v + 1);
            goto cleanup;
        }
        rg_log(RG_LOG_INFO, "store", "migrated schema to version %d", v + 1);
    }
    rc = rg_store__lite_exec(db, "COMMIT", "migrate: commit");

cleanup:
    if (rc < 0 && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}
