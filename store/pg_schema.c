/* pg_schema.c - the store's schema on PostgreSQL: the same tables, keys, checks and versions
 * as schema.c, in PostgreSQL's types, with the version in a table of its own */
#include <stddef.h>

#include "rollgate/util.h"
#include "store/store_private.h"

/* clang-format off: the migrations are SQL laid out by column, not C. */

/* Text compares and sorts bytewise, as in SQLite, whatever the database's locale. */
#define T "TEXT COLLATE \"C\""
#define I "BIGINT"
#define R "DOUBLE PRECISION"
/* CHECK (json_valid(col)) as in SQLite, the constraint named by its expression so that a
 * refusal names the column the same way ("... constraint \"json_valid(body)\""). */
#define JSON(col) "CONSTRAINT \"json_valid(" col ")\" CHECK (json_valid(" col "))"
#define JSON_OR_NULL(col)                                                                          \
    "CONSTRAINT \"json_valid(" col ")\" CHECK (" col " IS NULL OR json_valid(" col "))"

/* Version 1 (schema.c has the why of every table). */
static const char migration_v1[] =
    /* SQLite's json_valid, for the CHECKs: true for JSON text, false otherwise. */
    "CREATE FUNCTION json_valid(value text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS"
    " $$BEGIN PERFORM value::json; RETURN true;"
    " EXCEPTION WHEN others THEN RETURN false; END$$;"

    "CREATE TABLE tenants ("
    " id " T " PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 128),"
    " name " T " NOT NULL,"
    " created_at " I " NOT NULL);"

    "CREATE TABLE rollouts ("
    " id " T " PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 128),"
    " tenant_id " T " NOT NULL REFERENCES tenants(id),"
    " name " T " NOT NULL,"
    " manifest " T " NOT NULL " JSON(
        "manifest") ","
                    " policy " T " NOT NULL " JSON("policy") ","
                                                             " state " T
                                                             " NOT NULL CHECK (state IN "
                                                             "('awaiting_approval', 'running', "
                                                             "'paused', 'held',"
                                                             "  'rolling_back', 'rolled_back', "
                                                             "'rollback_incomplete', 'completed')),"
                                                             " stage_index " I
                                                             " NOT NULL CHECK (stage_index >= 0),"
                                                             " stage_count " I
                                                             " NOT NULL CHECK (stage_count >= 1),"
                                                             " created_by " T " NOT NULL,"
                                                             " created_at " I " NOT NULL,"
                                                             " updated_at " I " NOT NULL,"
                                                             " revision " I
                                                             " NOT NULL CHECK (revision >= 1),"
                                                             " hold_reason " T ","
                                                             " verification " T
                                                             " CHECK (verification IN ('passed', "
                                                             "'failed', 'inconclusive')),"
                                                             " stage_started_at " I ","
                                                             " stage_applied_at " I ","
                                                             " baseline " T
                                                             " " JSON_OR_NULL("baseline") ","
                                                                                          " UNIQUE "
                                                                                          "(id, "
                                                                                          "tenant_"
                                                                                          "id));"
                                                                                          "CREATE "
                                                                                          "INDEX "
                                                                                          "rollouts"
                                                                                          "_by_"
                                                                                          "tenant "
                                                                                          "ON "
                                                                                          "rollouts"
                                                                                          " ("
                                                                                          "tenant_"
                                                                                          "id, "
                                                                                          "created_"
                                                                                          "at);"

                                                                                          "CREATE "
                                                                                          "TABLE "
                                                                                          "targets "
                                                                                          "("
                                                                                          " rollout"
                                                                                          "_id " T
                                                                                          " NOT "
                                                                                          "NULL,"
                                                                                          " tenant_"
                                                                                          "id " T
                                                                                          " NOT "
                                                                                          "NULL "
                                                                                          "REFERENC"
                                                                                          "ES "
                                                                                          "tenants("
                                                                                          "id),"
                                                                                          " seq " I
                                                                                          " NOT "
                                                                                          "NULL "
                                                                                          "CHECK "
                                                                                          "(seq >= "
                                                                                          "0),"
                                                                                          " org_"
                                                                                          "id " T
                                                                                          " NOT "
                                                                                          "NULL "
                                                                                          "CHECK "
                                                                                          "(length("
                                                                                          "org_id) "
                                                                                          ">= 1),"
                                                                                          " group_"
                                                                                          "name " T
                                                                                          " NOT "
                                                                                          "NULL,"
                                                                                          " tier " I
                                                                                          " NOT "
                                                                                          "NULL "
                                                                                          "CHECK "
                                                                                          "(tier "
                                                                                          ">= 0),"
                                                                                          " stage_"
                                                                                          "index " I
                                                                                          " NOT "
                                                                                          "NULL "
                                                                                          "CHECK "
                                                                                          "(stage_"
                                                                                          "index "
                                                                                          ">= 0),"
                                                                                          " strateg"
                                                                                          "y_id " T
                                                                                          " NOT "
                                                                                          "NULL "
                                                                                          "CHECK "
                                                                                          "(length("
                                                                                          "strategy"
                                                                                          "_id) >= "
                                                                                          "1),"
                                                                                          " api_"
                                                                                          "url " T
                                                                                          ","
                                                                                          " login_"
                                                                                          "url " T
                                                                                          ","
                                                                                          " state"
                                                                                          " " T
                                                                                          " NOT "
                                                                                          "NULL "
                                                                                          "CHECK "
                                                                                          "(state "
                                                                                          "IN "
                                                                                          "('"
                                                                                          "pending'"
                                                                                          ", "
                                                                                          "'snapsho"
                                                                                          "tted', "
                                                                                          "'applied"
                                                                                          "',"
                                                                                          "  "
                                                                                          "'apply_"
                                                                                          "failed',"
                                                                                          " '"
                                                                                          "restored"
                                                                                          "', "
                                                                                          "'restore"
                                                                                          "_failed'"
                                                                                          ", "
                                                                                          "'unchang"
                                                                                          "ed')),"
                                                                                          " attempt"
                                                                                          "s " I
                                                                                          " NOT "
                                                                                          "NULL "
                                                                                          "CHECK "
                                                                                          "(attempt"
                                                                                          "s >= 0),"
                                                                                          " last_"
                                                                                          "error " T
                                                                                          ","
                                                                                          " applied"
                                                                                          "_etag " T
                                                                                          ","
                                                                                          " applied"
                                                                                          "_body " T
                                                                                          " " JSON_OR_NULL("applied_body") ","
                                                                                                                           " applied_at " I
                                                                                                                           ","
                                                                                                                           " restored_etag " T
                                                                                                                           ","
                                                                                                                           " restored_at " I
                                                                                                                           ","
                                                                                                                           " kept_fields " T
                                                                                                                           " " JSON_OR_NULL(
                                                                                                                               "kept_fields") ","
                                                                                                                                              " PRIMARY KEY (rollout_id, org_id, strategy_id),"
                                                                                                                                              " UNIQUE (rollout_id, seq),"
                                                                                                                                              " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"

                                                                                                                                              "CREATE TABLE snapshots ("
                                                                                                                                              " rollout_id " T
                                                                                                                                              " NOT NULL,"
                                                                                                                                              " tenant_id " T
                                                                                                                                              " NOT NULL REFERENCES tenants(id),"
                                                                                                                                              " org_id " T
                                                                                                                                              " NOT NULL,"
                                                                                                                                              " strategy_id " T
                                                                                                                                              " NOT NULL,"
                                                                                                                                              " etag " T
                                                                                                                                              " NOT NULL,"
                                                                                                                                              " body " T " NOT NULL " JSON("body") ","
                                                                                                                                                                                   " taken_at " I
                                                                                                                                                                                   " NOT NULL,"
                                                                                                                                                                                   " PRIMARY KEY (rollout_id, org_id, strategy_id),"
                                                                                                                                                                                   " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id),"
                                                                                                                                                                                   " FOREIGN KEY (rollout_id, org_id, strategy_id)"
                                                                                                                                                                                   "  REFERENCES targets (rollout_id, org_id, strategy_id));"
                                                                                                                                                                                   /* Insert-only: the key refuses a second insert (there is no INSERT OR REPLACE here);
                                                                                                                                                                                    * the trigger refuses updates and deletes, as a constraint violation (RG_ECONFLICT). */
                                                                                                                                                                                   "CREATE FUNCTION rg_snapshots_insert_only() RETURNS trigger LANGUAGE plpgsql AS"
                                                                                                                                                                                   " $$BEGIN RAISE EXCEPTION 'snapshots are insert-only: % refused', lower(TG_OP)"
                                                                                                                                                                                   " USING ERRCODE = 'integrity_constraint_violation'; END$$;"
                                                                                                                                                                                   "CREATE TRIGGER snapshots_insert_only BEFORE UPDATE OR DELETE ON snapshots"
                                                                                                                                                                                   " FOR EACH ROW EXECUTE FUNCTION rg_snapshots_insert_only();"

                                                                                                                                                                                   "CREATE TABLE measurements ("
                                                                                                                                                                                   " rollout_id " T
                                                                                                                                                                                   " NOT NULL,"
                                                                                                                                                                                   " tenant_id " T
                                                                                                                                                                                   " NOT NULL REFERENCES tenants(id),"
                                                                                                                                                                                   " org_id " T
                                                                                                                                                                                   " NOT NULL,"
                                                                                                                                                                                   " queue_id " T
                                                                                                                                                                                   " NOT NULL,"
                                                                                                                                                                                   " metric " T
                                                                                                                                                                                   " NOT NULL CHECK (length(metric) >= 1),"
                                                                                                                                                                                   " bucket_start_ms " I
                                                                                                                                                                                   " NOT NULL,"
                                                                                                                                                                                   " bucket_len_ms " I
                                                                                                                                                                                   " NOT NULL CHECK (bucket_len_ms > 0),"
                                                                                                                                                                                   " count " I
                                                                                                                                                                                   " NOT NULL CHECK (count >= 0),"
                                                                                                                                                                                   " sum " R
                                                                                                                                                                                   ","
                                                                                                                                                                                   " UNIQUE (rollout_id, org_id, queue_id, metric, bucket_start_ms, bucket_len_ms),"
                                                                                                                                                                                   " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"

                                                                                                                                                                                   "CREATE TABLE verdicts ("
                                                                                                                                                                                   " id " I
                                                                                                                                                                                   " GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                                                                                                                                                                                   " rollout_id " T
                                                                                                                                                                                   " NOT NULL,"
                                                                                                                                                                                   " tenant_id " T
                                                                                                                                                                                   " NOT NULL REFERENCES tenants(id),"
                                                                                                                                                                                   " stage " I
                                                                                                                                                                                   " NOT NULL CHECK (stage >= 0),"
                                                                                                                                                                                   " poll " I
                                                                                                                                                                                   " NOT NULL CHECK (poll >= 0),"
                                                                                                                                                                                   " metric " T
                                                                                                                                                                                   " NOT NULL,"
                                                                                                                                                                                   " test " T
                                                                                                                                                                                   " NOT NULL,"
                                                                                                                                                                                   " estimate " R
                                                                                                                                                                                   ", ci_lo " R
                                                                                                                                                                                   ", ci_hi " R
                                                                                                                                                                                   ", z " R
                                                                                                                                                                                   ", boundary " R
                                                                                                                                                                                   ", p_value " R
                                                                                                                                                                                   ","
                                                                                                                                                                                   " decision " T
                                                                                                                                                                                   " NOT NULL CHECK (decision IN ('pass', 'fail', 'inconclusive', 'error')),"
                                                                                                                                                                                   " reason " T
                                                                                                                                                                                   ","
                                                                                                                                                                                   " at " I
                                                                                                                                                                                   " NOT NULL,"
                                                                                                                                                                                   " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"

                                                                                                                                                                                   "CREATE TABLE events ("
                                                                                                                                                                                   " id " I
                                                                                                                                                                                   " GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                                                                                                                                                                                   " rollout_id " T
                                                                                                                                                                                   " NOT NULL,"
                                                                                                                                                                                   " tenant_id " T
                                                                                                                                                                                   " NOT NULL REFERENCES tenants(id),"
                                                                                                                                                                                   " kind " T " NOT NULL CHECK (length(kind) >= 1),"
                                                                                                                                                                                   " from_state " T
                                                                                                                                                                                   ","
                                                                                                                                                                                   " to_state " T
                                                                                                                                                                                   ","
                                                                                                                                                                                   " detail " T " " JSON_OR_NULL("detail") ","
                                                                                                                                                                                                                           " at " I
                                                                                                                                                                                                                           " NOT NULL,"
                                                                                                                                                                                                                           " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"

                                                                                                                                                                                                                           "CREATE TABLE audit ("
                                                                                                                                                                                                                           " id " I
                                                                                                                                                                                                                           " GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                                                                                                                                                                                                                           " rollout_id " T
                                                                                                                                                                                                                           ","
                                                                                                                                                                                                                           " tenant_id " T
                                                                                                                                                                                                                           " NOT NULL REFERENCES tenants(id),"
                                                                                                                                                                                                                           " actor " T
                                                                                                                                                                                                                           " NOT NULL CHECK (length(actor) >= 1),"
                                                                                                                                                                                                                           " action " T
                                                                                                                                                                                                                           " NOT NULL CHECK (length(action) >= 1),"
                                                                                                                                                                                                                           " reason " T
                                                                                                                                                                                                                           ","
                                                                                                                                                                                                                           " outcome " T
                                                                                                                                                                                                                           ","
                                                                                                                                                                                                                           " detail " T
                                                                                                                                                                                                                           " " JSON_OR_NULL(
                                                                                                                                                                                                                               "detail") ","
                                                                                                                                                                                                                                         " at " I
                                                                                                                                                                                                                                         " NOT NULL,"
                                                                                                                                                                                                                                         " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"

                                                                                                                                                                                                                                         "CREATE TABLE leases ("
                                                                                                                                                                                                                                         " rollout_id " T
                                                                                                                                                                                                                                         " PRIMARY KEY NOT NULL,"
                                                                                                                                                                                                                                         " tenant_id " T
                                                                                                                                                                                                                                         " NOT NULL REFERENCES tenants(id),"
                                                                                                                                                                                                                                         " owner " T
                                                                                                                                                                                                                                         " NOT NULL CHECK (length(owner) >= 1),"
                                                                                                                                                                                                                                         " expires_at_ms " I
                                                                                                                                                                                                                                         " NOT NULL,"
                                                                                                                                                                                                                                         " acquired_at_ms " I
                                                                                                                                                                                                                                         " NOT NULL,"
                                                                                                                                                                                                                                         " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"

                                                                                                                                                                                                                                         "CREATE TABLE commands ("
                                                                                                                                                                                                                                         " id " I
                                                                                                                                                                                                                                         " GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                                                                                                                                                                                                                                         " rollout_id " T
                                                                                                                                                                                                                                         " NOT NULL,"
                                                                                                                                                                                                                                         " tenant_id " T
                                                                                                                                                                                                                                         " NOT NULL REFERENCES tenants(id),"
                                                                                                                                                                                                                                         " kind " T
                                                                                                                                                                                                                                         " NOT NULL CHECK (kind IN ('rollback', 'pause', 'resume', 'promote',"
                                                                                                                                                                                                                                         "  'approve')),"
                                                                                                                                                                                                                                         " actor " T
                                                                                                                                                                                                                                         " NOT NULL CHECK (length(actor) >= 1),"
                                                                                                                                                                                                                                         " reason " T
                                                                                                                                                                                                                                         ","
                                                                                                                                                                                                                                         " force " I
                                                                                                                                                                                                                                         " NOT NULL CHECK (force IN (0, 1)),"
                                                                                                                                                                                                                                         " created_at " I
                                                                                                                                                                                                                                         " NOT NULL,"
                                                                                                                                                                                                                                         " state " T
                                                                                                                                                                                                                                         " NOT NULL CHECK (state IN ('pending', 'done', 'failed')),"
                                                                                                                                                                                                                                         " outcome " T
                                                                                                                                                                                                                                         ","
                                                                                                                                                                                                                                         " done_at " I
                                                                                                                                                                                                                                         ","
                                                                                                                                                                                                                                         " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"
                                                                                                                                                                                                                                         "UPDATE rg_schema_version SET version = 1;";

static const char migration_v2[] =
    "CREATE INDEX commands_pending ON commands (tenant_id, rollout_id, state, id);"
    "CREATE INDEX verdicts_by_rollout ON verdicts (tenant_id, rollout_id, stage, id);"
    "CREATE INDEX events_by_rollout ON events (tenant_id, rollout_id, id);"
    "CREATE INDEX audit_by_tenant ON audit (tenant_id, rollout_id, id);"
    "UPDATE rg_schema_version SET version = 2;";

static const char migration_v3[] =
    "ALTER TABLE leases ADD COLUMN epoch " I " NOT NULL DEFAULT 1 CHECK (epoch >= 1);"
    "ALTER TABLE leases ADD COLUMN released " I " NOT NULL DEFAULT 0"
    " CHECK (released IN (0, 1));"
    "ALTER TABLE leases ADD COLUMN ttl_ms " I " NOT NULL DEFAULT 0;"
    "ALTER TABLE leases ADD COLUMN batch_ms " I " NOT NULL DEFAULT 0;"
    "DELETE FROM verdicts WHERE id NOT IN (SELECT MIN(id) FROM verdicts"
    " GROUP BY rollout_id, tenant_id, stage, poll, metric);"
    "CREATE UNIQUE INDEX verdicts_one_per_poll ON verdicts (rollout_id, tenant_id, stage, poll,"
    " metric);"
    "CREATE TABLE claims ("
    " org_id " T " NOT NULL CHECK (length(org_id) >= 1),"
    " resource " T " NOT NULL CHECK (length(resource) >= 1),"
    " rollout_id " T " NOT NULL,"
    " tenant_id " T " NOT NULL REFERENCES tenants(id),"
    " claimed_at " I " NOT NULL,"
    " PRIMARY KEY (org_id, resource),"
    " FOREIGN KEY (rollout_id, tenant_id) REFERENCES rollouts (id, tenant_id));"
    "CREATE INDEX claims_by_rollout ON claims (tenant_id, rollout_id);"
    "INSERT INTO claims (org_id, resource, rollout_id, tenant_id, claimed_at)"
    " SELECT t.org_id, 'strategy:' || t.strategy_id, t.rollout_id, t.tenant_id, r.created_at"
    " FROM targets t JOIN rollouts r ON r.id = t.rollout_id AND r.tenant_id = t.tenant_id"
    " WHERE r.state NOT IN ('rolled_back', 'rollback_incomplete', 'completed')"
    " ORDER BY r.created_at, r.id, t.seq ON CONFLICT DO NOTHING;"
    "UPDATE rg_schema_version SET version = 3;";

static const char migration_v4[] =
    "ALTER TABLE rollouts ADD COLUMN digest " T
    " CHECK (digest IS NULL OR (length(digest) = 71 AND digest LIKE 'sha256:%'));"
    "ALTER TABLE rollouts ADD COLUMN environment " T
    " CHECK (environment IS NULL OR length(environment) BETWEEN 1 AND 128);"
    "ALTER TABLE rollouts ADD COLUMN forced_reason " T ";"
    "CREATE INDEX rollouts_by_digest ON rollouts (tenant_id, digest, created_at);"
    "UPDATE rg_schema_version SET version = 4;";

/* "full" is a reserved word in PostgreSQL: quoted here and in the store's SQL (rows.h). */
static const char migration_v5[] =
    "ALTER TABLE commands ADD COLUMN \"full\" " I " NOT NULL DEFAULT 0"
    " CHECK (\"full\" IN (0, 1));"
    "UPDATE rg_schema_version SET version = 5;";

/* SQLite's version 6 rewrote the targets.state CHECK as a chain of `=` for write speed
 * (SQLite builds an IN list as a b-tree per row); PostgreSQL checks the IN list as it is. */
static const char migration_v6[] = "UPDATE rg_schema_version SET version = 6;";

/* clang-format on */

static const char *const migrations[] = {migration_v1, migration_v2, migration_v3,
                                         migration_v4, migration_v5, migration_v6};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == RG_STORE_SCHEMA_VERSION,
               "one PostgreSQL migration per schema version");

/* Any constant: the key of the advisory lock that makes concurrent opens migrate once. */
#define MIGRATE_LOCK_KEY "7286931402"

int rg_store__pg_schema_version(int *out, rg_store__pg *pg)
{
    int exists = 0, rc;

    if ((rc = rg_store__pg_query_int(&exists, pg,
                                     "SELECT count(*) FROM pg_catalog.pg_tables WHERE"
                                     " schemaname = current_schema()"
                                     " AND tablename = 'rg_schema_version'",
                                     "read schema version")) < 0)
        return rc;
    if (!exists) {
        *out = 0;
        return 0;
    }
    return rg_store__pg_query_int(out, pg, "SELECT version FROM rg_schema_version",
                                  "read schema version");
}

int rg_store__pg_migrate(rg_store__pg *pg)
{
    int version = 0, rc;

    if ((rc = rg_store__pg_exec(pg, "BEGIN", "migrate: begin")) < 0)
        return rc;
    if ((rc = rg_store__pg_exec(pg,
                                "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ");"
                                "CREATE TABLE IF NOT EXISTS rg_schema_version"
                                " (version INTEGER NOT NULL);"
                                "INSERT INTO rg_schema_version (version) SELECT 0"
                                " WHERE NOT EXISTS (SELECT 1 FROM rg_schema_version)",
                                "migrate: lock")) < 0 ||
        (rc = rg_store__pg_schema_version(&version, pg)) < 0)
        goto cleanup;
    if (version > RG_STORE_SCHEMA_VERSION) {
        rc = rg_error_set(RG_EDB, "store: database schema version %d is newer than this build (%d)",
                          version, RG_STORE_SCHEMA_VERSION);
        goto cleanup;
    }
    for (int v = version; v < RG_STORE_SCHEMA_VERSION; v++) {
        if ((rc = rg_store__pg_exec(pg, migrations[v], "migrate")) < 0) {
            rg_error_prefix("to schema version %d", v + 1);
            goto cleanup;
        }
        rg_log(RG_LOG_INFO, "store", "migrated schema to version %d", v + 1);
    }
    rc = rg_store__pg_exec(pg, "COMMIT", "migrate: commit");

cleanup:
    if (rc < 0 && rg_store__pg_in_transaction(pg))
        rg_store__pg_exec(pg, "ROLLBACK", "migrate: rollback");
    return rc;
}
