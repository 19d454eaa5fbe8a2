/* test_store.c - schema and migrations, insert-only snapshots, crash safety, transactions */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollgate/util.h"
#include "store/store_private.h"
#include "support/testutil.h"
#include "unit/test_store_fixture.h"

static const char *const all_tables[] = {"audit",        "commands", "events",    "leases",
                                         "measurements", "rollouts", "snapshots", "targets",
                                         "tenants",      "verdicts"};

static int raw_count(sqlite3 *db, const char *sql, const char *arg)
{
    sqlite3_stmt *stmt = NULL;
    int n = -1;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    if (arg)
        assert_int_equal(sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_STATIC), SQLITE_OK);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        n = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return n;
}

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
    return db;
}

/* The migration tests build SQLite files of older versions: PostgreSQL databases start at
 * the current version (rollgate db migrate copies older SQLite ones). Not a skip: the
 * PostgreSQL run has nothing to test there, and $RG_REQUIRE forbids its skips. */
#define SQLITE_ONLY(f, what)                                                                       \
    do {                                                                                           \
        if ((f)->pg) {                                                                             \
            print_message("not on PostgreSQL: %s\n", what);                                        \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* PostgreSQL: every table, the snapshots trigger, and a reopen that keeps the rows. */
static void check_pg_schema(store_fixture *f)
{
    char sql[256];
    for (size_t i = 0; i < sizeof(all_tables) / sizeof(all_tables[0]); i++) {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"
                 " AND tablename = '%s'",
                 all_tables[i]);
        assert_int_equal(store_fixture_raw_int(f, sql, sql), 1);
    }
    assert_int_equal(store_fixture_raw_int(f, "-",
                                           "SELECT count(*) FROM information_schema.triggers"
                                           " WHERE event_object_table = 'snapshots'"),
                     2); /* one trigger, for UPDATE and DELETE */
    assert_int_equal(store_fixture_raw_int(f, "-", "SELECT version FROM rg_schema_version"),
                     RG_STORE_SCHEMA_VERSION);
}

static void test_open_creates_schema_and_reopen_is_noop(void **state)
{
    store_fixture *f = *state;
    rg_store_rollout ro;
    sqlite3 *db;
    int version = 0;

    assert_int_equal(rg_store_schema_version(&version, f->store), 0);
    assert_int_equal(version, RG_STORE_SCHEMA_VERSION);
    if (f->pg) {
        check_pg_schema(f);
        goto reopen;
    }
    db = raw_open(f->path);
    for (size_t i = 0; i < sizeof(all_tables) / sizeof(all_tables[0]); i++)
        assert_int_equal(raw_count(db,
                                   "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                   " AND name = ?",
                                   all_tables[i]),
                         1);
    assert_int_equal(raw_count(db,
                               "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
                               " AND tbl_name = ?",
                               "snapshots"),
                     3);
    assert_int_equal(raw_count(db, "SELECT journal_mode = 'wal' FROM pragma_journal_mode", NULL),
                     1);
    sqlite3_close(db);
    /* The connection's own settings. */
    assert_int_equal(raw_count(f->store->db, "PRAGMA foreign_keys", NULL), 1);
    assert_int_equal(raw_count(f->store->db, "PRAGMA synchronous", NULL), 1); /* NORMAL */

reopen:
    store_seed_rollout(f->store, "acme", "ro_000000000001");
    rg_store_free(f->store);
    f->store = NULL;
    assert_int_equal(rg_store_open(&f->store, f->path), 0);
    assert_int_equal(rg_store_schema_version(&version, f->store), 0);
    assert_int_equal(version, RG_STORE_SCHEMA_VERSION);
    memset(&ro, 0, sizeof(ro));
    assert_int_equal(rg_store_rollout_get(&ro, f->store, "acme", "ro_000000000001"), 0);
    assert_string_equal(ro.name, "routing-ro_000000000001");
    assert_int_equal(ro.state, RG_ROLLOUT_RUNNING);
    assert_int_equal(ro.revision, 1);
    rg_store_rollout_dispose(&ro);
}

static void test_older_version_migrates_with_data_intact(void **state)
{
    store_fixture *f = *state;
    char path[PATH_MAX + 32];
    rg_store *store = NULL;
    rg_store_rollout ro;
    sqlite3 *db = NULL;
    int version = 0;
    SQLITE_ONLY(f, "migrations from older SQLite files");

    snprintf(path, sizeof(path), "%s/v1.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(rg_store__migrate(db, 1), 0);
    assert_int_equal(rg_store__user_version(&version, db), 0);
    assert_int_equal(version, 1);
    assert_int_equal(
        raw_count(db, "SELECT count(*) FROM sqlite_master WHERE name = ?", "commands_pending"), 0);
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO tenants VALUES ('acme', 'Acme', 1);"
                     "INSERT INTO rollouts (id, tenant_id, name, manifest, policy, state,"
                     " stage_index, stage_count, created_by, created_at, updated_at, revision)"
                     " VALUES ('ro_old', 'acme', 'old', '{}', '{}', 'paused', 1, 3, 'me', 10,"
                     " 20, 7);"
                     "INSERT INTO commands (rollout_id, tenant_id, kind, actor, force,"
                     " created_at, state) VALUES ('ro_old', 'acme', 'resume', 'me', 0, 30,"
                     " 'pending');",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(rg_store_open(&store, path), 0);
    assert_int_equal(rg_store_schema_version(&version, store), 0);
    assert_int_equal(version, RG_STORE_SCHEMA_VERSION);
    assert_int_equal(raw_count(store->db, "SELECT count(*) FROM sqlite_master WHERE name = ?",
                               "commands_pending"),
                     1);
    memset(&ro, 0, sizeof(ro));
    assert_int_equal(rg_store_rollout_get(&ro, store, "acme", "ro_old"), 0);
    assert_int_equal(ro.state, RG_ROLLOUT_PAUSED);
    assert_int_equal(ro.revision, 7);
    assert_int_equal(ro.stage_index, 1);
    assert_int_equal(ro.created_at_ms, 10);
    rg_store_rollout_dispose(&ro);
    {
        rg_store_commands pending = {0};
        assert_int_equal(rg_store_command_list_pending(&pending, store, "acme", "ro_old"), 0);
        assert_int_equal(pending.count, 1);
        assert_int_equal(pending.items[0].kind, RG_COMMAND_RESUME);
        assert_int_equal(pending.items[0].full, 0); /* schema 5's column, 0 for older rows */
        rg_store_commands_dispose(&pending);
    }
    rg_store_free(store);
}

/* Version 2 to 3: duplicate verdicts of one look are dropped (the first kept), leases get
 * epoch 1, and active rollouts claim their (org, strategy); ended ones do not. */
static void test_v2_migrates_to_fenced_leases_and_claims(void **state)
{
    store_fixture *f = *state;
    char path[PATH_MAX + 32];
    rg_store *store = NULL;
    rg_store_lease lease = {0};
    sqlite3 *db = NULL;
    int64_t n = -1;
    SQLITE_ONLY(f, "migrations from older SQLite files");

    snprintf(path, sizeof(path), "%s/v2.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(rg_store__migrate(db, 2), 0);
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO tenants VALUES ('acme', 'Acme', 1);"
                     "INSERT INTO rollouts (id, tenant_id, name, manifest, policy, state,"
                     " stage_index, stage_count, created_by, created_at, updated_at, revision)"
                     " VALUES ('ro_live', 'acme', 'a', '{}', '{}', 'running', 0, 3, 'me', 10,"
                     " 20, 1), ('ro_done', 'acme', 'b', '{}', '{}', 'completed', 2, 3, 'me',"
                     " 5, 20, 1);"
                     "INSERT INTO targets (rollout_id, tenant_id, seq, org_id, group_name, tier,"
                     " stage_index, strategy_id, state, attempts) VALUES"
                     " ('ro_live', 'acme', 0, 'org_1', 'g', 0, 0, 's1', 'applied', 0),"
                     " ('ro_done', 'acme', 0, 'org_2', 'g', 0, 0, 's1', 'applied', 0);"
                     "INSERT INTO verdicts (rollout_id, tenant_id, stage, poll, metric, test,"
                     " decision, reason, at) VALUES"
                     " ('ro_live', 'acme', 0, 1, 'm', 'group', 'pass', 'first', 1),"
                     " ('ro_live', 'acme', 0, 1, 'm', 'group', 'fail', 'again', 2),"
                     " ('ro_live', 'acme', 0, 2, 'm', 'group', 'pass', 'next', 3);"
                     "INSERT INTO leases VALUES ('ro_live', 'acme', 'h:1:1', 100, 50);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(rg_store_open(&store, path), 0);
    assert_int_equal(raw_count(store->db, "SELECT count(*) FROM verdicts WHERE poll = 1", NULL), 1);
    assert_int_equal(
        raw_count(store->db, "SELECT count(*) FROM verdicts WHERE reason = ?", "first"), 1);
    assert_int_equal(rg_store_lease_get(&lease, store, "acme", "ro_live"), 0);
    assert_int_equal(lease.epoch, 1);
    rg_store_lease_dispose(&lease);
    assert_int_equal(rg_store_claims_count(&n, store, "acme", "ro_live"), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rg_store_claims_count(&n, store, "acme", "ro_done"), 0);
    assert_int_equal(n, 0);
    rg_store_free(store);
}

/* Version 3 to 4: old rollouts keep their rows with no digest or environment; new ones
 * record both, and are listed by digest. */
/* 1 when the statement's program builds an ephemeral table (EXPLAIN's opcode column). */
static int builds_ephemeral(sqlite3 *db, const char *sql)
{
    char explain[512];
    sqlite3_stmt *stmt = NULL;
    int found = 0;

    snprintf(explain, sizeof(explain), "EXPLAIN %s", sql);
    assert_int_equal(sqlite3_prepare_v2(db, explain, -1, &stmt, NULL), SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW)
        if (strcmp((const char *)sqlite3_column_text(stmt, 1), "OpenEphemeral") == 0)
            found = 1;
    sqlite3_finalize(stmt);
    return found;
}

static void test_v5_migrates_to_a_state_check_built_once(void **state)
{
    static const char update[] = "UPDATE targets SET state = 'restored' WHERE rollout_id = 'ro_old'"
                                 " AND org_id = 'org_a' AND strategy_id = 's'";
    store_fixture *f = *state;
    char path[PATH_MAX + 32];
    rg_store *store = NULL;
    sqlite3 *db = NULL, *other = NULL;
    int version = 0;

    SQLITE_ONLY(f, "SQLite's version 6 rewrite of the state CHECK");
    snprintf(path, sizeof(path), "%s/v5.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(rg_store__migrate(db, 5), 0);
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO tenants VALUES ('acme', 'Acme', 1);"
                     "INSERT INTO rollouts (id, tenant_id, name, manifest, policy, state,"
                     " stage_index, stage_count, created_by, created_at, updated_at, revision)"
                     " VALUES ('ro_old', 'acme', 'a', '{}', '{}', 'running', 0, 1, 'me', 10,"
                     " 20, 1);"
                     "INSERT INTO targets (rollout_id, tenant_id, seq, org_id, group_name, tier,"
                     " stage_index, strategy_id, state, attempts) VALUES ('ro_old', 'acme', 0,"
                     " 'org_a', 'g', 0, 0, 's', 'applied', 1);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    /* Version 5 checks the state with an IN list: a b-tree built for every row written. */
    assert_true(builds_ephemeral(db, update));
    sqlite3_close(db);
    other = raw_open(path); /* holds the old schema while another connection migrates */
    assert_true(builds_ephemeral(other, update));

    assert_int_equal(rg_store_open(&store, path), 0);
    assert_int_equal(rg_store_schema_version(&version, store), 0);
    assert_int_equal(version, 6);
    assert_false(builds_ephemeral(store->db, update));
    /* The schema cookie moved: the other connection's next read reloads the schema. */
    assert_int_equal(raw_count(other, "SELECT count(*) FROM targets", NULL), 1);
    assert_false(builds_ephemeral(other, update));
    assert_int_equal(
        raw_count(store->db, "SELECT count(*) FROM targets WHERE state = ?", "applied"), 1);
    /* The same values are accepted and refused as before, on both connections. */
    assert_int_equal(sqlite3_exec(other, update, NULL, NULL, NULL), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(store->db,
                                      "UPDATE targets SET state = 'bogus' WHERE rollout_id = "
                                      "'ro_old'",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_equal(sqlite3_extended_errcode(store->db), SQLITE_CONSTRAINT_CHECK);
    assert_int_equal(sqlite3_exec(other, "UPDATE targets SET state = 'Applied'", NULL, NULL, NULL),
                     SQLITE_CONSTRAINT);
    assert_int_equal(
        raw_count(store->db, "SELECT count(*) FROM targets WHERE state = ?", "restored"), 1);
    assert_int_equal(raw_count(store->db,
                               "SELECT count(*) FROM pragma_integrity_check"
                               " WHERE integrity_check = 'ok'",
                               NULL),
                     1);
    sqlite3_close(other);
    rg_store_free(store);
}

static void test_v3_migrates_to_digests(void **state)
{
    static const char digest[] =
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    store_fixture *f = *state;
    char path[PATH_MAX + 32];
    rg_store *store = NULL;
    rg_store_rollout row = {0}, fresh = {0};
    rg_store_rollouts list = {0};
    sqlite3 *db = NULL;
    SQLITE_ONLY(f, "migrations from older SQLite files");

    snprintf(path, sizeof(path), "%s/v3.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(rg_store__migrate(db, 3), 0);
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO tenants VALUES ('acme', 'Acme', 1);"
                     "INSERT INTO rollouts (id, tenant_id, name, manifest, policy, state,"
                     " stage_index, stage_count, created_by, created_at, updated_at, revision)"
                     " VALUES ('ro_old', 'acme', 'a', '{}', '{}', 'completed', 0, 1, 'me', 10,"
                     " 20, 1);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(rg_store_open(&store, path), 0);
    assert_int_equal(rg_store_rollout_get(&row, store, "acme", "ro_old"), 0);
    assert_null(row.digest);
    assert_null(row.environment);
    assert_null(row.forced_reason);
    rg_store_rollout_dispose(&row);
    fresh.id = "ro_new";
    fresh.tenant_id = "acme";
    fresh.name = "a";
    fresh.manifest = "{}";
    fresh.policy = "{}";
    fresh.state = RG_ROLLOUT_RUNNING;
    fresh.stage_count = 1;
    fresh.created_by = "me";
    fresh.digest = (char *)digest;
    fresh.environment = "staging";
    fresh.forced_reason = "hotfix";
    assert_int_equal(rg_store_rollout_insert(store, &fresh), 0);
    fresh.id = "ro_bad";
    fresh.digest = "md5:abc";
    assert_int_equal(rg_store_rollout_insert(store, &fresh), RG_EINVALID);
    assert_int_equal(rg_store_rollout_list_digest(&list, store, "acme", digest), 0);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].id, "ro_new");
    assert_string_equal(list.items[0].environment, "staging");
    assert_string_equal(list.items[0].forced_reason, "hotfix");
    rg_store_rollouts_dispose(&list);
    assert_int_equal(rg_store_rollout_list_digest(&list, store, "other", digest), 0);
    assert_int_equal(list.count, 0);
    rg_store_rollouts_dispose(&list);
    rg_store_free(store);
}

/* A read-only open takes no lock and migrates nothing: it reads while another client holds
 * the write lock, and its writes fail. */
static void test_readonly_open_reads_under_a_write_lock(void **state)
{
    store_fixture *f = *state;
    rg_store *ro = NULL;
    rg_store_rollout row;
    sqlite3 *db;

    /* (A write-open here would wait for the lock for ever: the test would hang, not pass.) */
    store_seed_rollout(f->store, "acme", "ro_000000000001");
    if (f->pg) {
        /* No file lock to read under; a read-only handle reads, and its writes fail. */
        assert_int_equal(rg_store_open_readonly(&ro, f->path), 0);
        memset(&row, 0, sizeof(row));
        assert_int_equal(rg_store_rollout_get(&row, ro, "acme", "ro_000000000001"), 0);
        rg_store_rollout_dispose(&row);
        assert_int_equal(rg_store_tenant_ensure(ro, "other", "Other"), RG_EDB);
        assert_non_null(strstr(rg_error_last(), "read-only"));
        rg_store_free(ro);
        return;
    }
    db = raw_open(f->path);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(rg_store_open_readonly(&ro, f->path), 0);
    memset(&row, 0, sizeof(row));
    assert_int_equal(rg_store_rollout_get(&row, ro, "acme", "ro_000000000001"), 0);
    rg_store_rollout_dispose(&row);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(rg_store_tenant_ensure(ro, "other", "Other"), RG_EDB);
    rg_store_free(ro);
    sqlite3_close(db);
}

static void test_open_does_not_wait_for_a_writer(void **state)
{
    store_fixture *f = *state;
    sqlite3 *db;
    pid_t pid;
    int status = -1, done = 0;

    SQLITE_ONLY(f, "SQLite's write lock at open (PostgreSQL migrates under an advisory lock)");
    /* A database at this build's version needs no migration, so opening it must not take
     * the write lock: serve opens one store per request, and each waited behind any writer. */
    store_seed_rollout(f->store, "acme", "ro_000000000001");
    db = raw_open(f->path);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        rg_store *store = NULL;
        rg_store_rollout row;
        int ok;
        memset(&row, 0, sizeof(row));
        ok = rg_store_open(&store, f->path) == 0 &&
             rg_store_rollout_get(&row, store, "acme", "ro_000000000001") == 0;
        rg_store_rollout_dispose(&row);
        rg_store_free(store);
        _exit(ok ? 0 : 1);
    }
    for (int i = 0; i < 1000 && !done; i++) { /* up to 10 s */
        if (waitpid(pid, &status, WNOHANG) == pid)
            done = 1;
        else
            usleep(10000);
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_true(done);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_newer_schema_is_refused(void **state)
{
    store_fixture *f = *state;
    char path[PATH_MAX + 128];
    rg_store *store = NULL;
    sqlite3 *db = NULL;

    snprintf(path, sizeof(path), "%s/future.db", f->dir);
    if (f->pg) {
        char msg[256];
        snprintf(path, sizeof(path), "%s", f->path);
        assert_int_equal(store_fixture_raw_exec(f, "-", "UPDATE rg_schema_version SET version = 99",
                                                msg, sizeof(msg)),
                         0);
    } else {
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    assert_int_equal(rg_store_open(&store, path), RG_EDB);
    assert_null(store);
    assert_non_null(strstr(rg_error_last(), "newer than this build"));
    assert_non_null(strstr(rg_error_last(), "99"));
}

static void put_snapshot(rg_store *store, const char *etag, const char *body, int expect)
{
    rg_store_snapshot_in s;
    memset(&s, 0, sizeof(s));
    s.rollout_id = (char *)"ro_snap";
    s.tenant_id = (char *)"acme";
    s.org_id = (char *)"org_1";
    s.strategy_id = (char *)"strat_main";
    s.etag = (char *)etag;
    s.body = (char *)body;
    s.taken_at_ms = 1000;
    assert_int_equal(rg_store_snapshot_insert(store, &s), expect);
}

static void assert_snapshot_body(rg_store *store, const char *etag, const char *body)
{
    rg_store_snapshot s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(rg_store_snapshot_get(&s, store, "acme", "ro_snap", "org_1", "strat_main"), 0);
    assert_string_equal(s.etag, etag);
    assert_string_equal(s.body, body);
    assert_int_equal(s.taken_at_ms, 1000);
    rg_store_snapshot_dispose(&s);
}

static void test_snapshots_are_insert_only(void **state)
{
    store_fixture *f = *state;
    sqlite3 *db;
    static const char *const refused[] = {
        "UPDATE snapshots SET body = '{\"weight\":1}'",
        "DELETE FROM snapshots",
        /* One case split over two lines (literal concatenation). */
        // NOLINTNEXTLINE(bugprone-suspicious-missing-comma)
        "INSERT OR REPLACE INTO snapshots VALUES ('ro_snap', 'acme', 'org_1', 'strat_main',"
        " 'e9', '{}', 5)",
        "DELETE FROM rollouts WHERE id = 'ro_snap'",
        "DELETE FROM targets WHERE rollout_id = 'ro_snap'",
    };

    store_seed_rollout(f->store, "acme", "ro_snap");
    store_seed_target(f->store, "acme", "ro_snap", "org_1", "strat_main", 0);
    put_snapshot(f->store, "\"e1\"", "{\"weight\":50}", 0);
    /* A second snapshot of the same strategy is a conflict and the first is kept. */
    put_snapshot(f->store, "\"e2\"", "{\"weight\":99}", RG_ECONFLICT);
    assert_non_null(strstr(rg_error_last(), "first is kept"));
    assert_snapshot_body(f->store, "\"e1\"", "{\"weight\":50}");

    /* The triggers hold against any SQL, not only against this API. */
    if (f->pg) {
        static const char *const pg_refused[] = {
            "UPDATE snapshots SET body = '{\"weight\":1}'", "DELETE FROM snapshots",
            /* One case split over two lines (literal concatenation). */
            // NOLINTNEXTLINE(bugprone-suspicious-missing-comma)
            "INSERT INTO snapshots VALUES ('ro_snap', 'acme', 'org_1', 'strat_main', 'e9', '{}', "
            "5)",
            "DELETE FROM rollouts WHERE id = 'ro_snap'",
            "DELETE FROM targets WHERE rollout_id = 'ro_snap'"};
        char msg[512];
        for (size_t i = 0; i < sizeof(pg_refused) / sizeof(pg_refused[0]); i++)
            assert_int_equal(store_fixture_raw_exec(f, "-", pg_refused[i], msg, sizeof(msg)), 1);
        assert_int_equal(
            store_fixture_raw_exec(f, "-", "UPDATE snapshots SET etag = 'x'", msg, sizeof(msg)), 1);
        assert_non_null(strstr(msg, "insert-only"));
        assert_int_equal(store_fixture_raw_int(f, "-", "SELECT count(*) FROM snapshots"), 1);
        assert_snapshot_body(f->store, "\"e1\"", "{\"weight\":50}");
        return;
    }
    db = raw_open(f->path);
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        int rc = sqlite3_exec(db, refused[i], NULL, NULL, NULL);
        assert_int_equal(rc & 0xff, SQLITE_CONSTRAINT);
    }
    assert_int_equal(sqlite3_exec(db, "UPDATE snapshots SET etag = 'x'", NULL, NULL, NULL),
                     SQLITE_CONSTRAINT);
    assert_non_null(strstr(sqlite3_errmsg(db), "insert-only"));
    assert_int_equal(raw_count(db, "SELECT count(*) FROM snapshots", NULL), 1);
    sqlite3_close(db);
    assert_snapshot_body(f->store, "\"e1\"", "{\"weight\":50}");
}

static void test_snapshot_durability_rules(void **state)
{
    store_fixture *f = *state;
    rg_store_snapshots list = {0};
    rg_store_snapshot_in s;

    store_seed_rollout(f->store, "acme", "ro_snap");
    store_seed_target(f->store, "acme", "ro_snap", "org_1", "strat_main", 0);
    /* A plain transaction cannot hold a snapshot: its commit would not be FULL. */
    assert_int_equal(rg_store_begin(f->store), 0);
    put_snapshot(f->store, "\"e1\"", "{}", RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "rg_store_begin_durable"));
    assert_int_equal(rg_store_rollback(f->store), 0);

    assert_int_equal(rg_store_begin_durable(f->store), 0);
    if (!f->pg) /* PostgreSQL: every commit is durable (synchronous_commit) */
        assert_int_equal(raw_count(f->store->db, "PRAGMA synchronous", NULL), 2); /* FULL */
    put_snapshot(f->store, "\"e1\"", "{\"a\":1}", 0);
    assert_int_equal(rg_store_commit(f->store), 0);
    if (!f->pg)
        assert_int_equal(raw_count(f->store->db, "PRAGMA synchronous", NULL), 1); /* NORMAL */
    assert_snapshot_body(f->store, "\"e1\"", "{\"a\":1}");

    /* A snapshot whose target does not exist is refused; bad JSON is invalid input. */
    memset(&s, 0, sizeof(s));
    s.rollout_id = (char *)"ro_snap";
    s.tenant_id = (char *)"acme";
    s.org_id = (char *)"org_missing";
    s.strategy_id = (char *)"strat_main";
    s.etag = (char *)"e";
    s.body = (char *)"{}";
    assert_int_equal(rg_store_snapshot_insert(f->store, &s), RG_ENOTFOUND);
    store_seed_target(f->store, "acme", "ro_snap", "org_2", "strat_main", 1);
    s.org_id = (char *)"org_2";
    s.body = (char *)"{not json";
    assert_int_equal(rg_store_snapshot_insert(f->store, &s), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "json_valid(body)"));
    if (!f->pg)
        assert_int_equal(raw_count(f->store->db, "PRAGMA synchronous", NULL), 1);
    assert_int_equal(rg_store_snapshot_list(&list, f->store, "acme", "ro_snap"), 0);
    assert_int_equal(list.count, 1);
    rg_store_snapshots_dispose(&list);
}

/* The child writes inside an open transaction, reports through a pipe, and waits to be
 * killed; nothing it wrote may survive. */
static void crash_child(const char *path, int ready_fd, int hold_fd)
{
    rg_store *store = NULL;
    rg_store_rollout ro;
    char byte = 0;

    memset(&ro, 0, sizeof(ro));
    if (rg_store_open(&store, path) != 0 || rg_store_begin(store) != 0)
        _exit(2);
    if (rg_store_rollout_get(&ro, store, "acme", "ro_crash") != 0)
        _exit(3);
    ro.state = RG_ROLLOUT_ROLLING_BACK;
    if (rg_store_rollout_update(store, &ro) != 0)
        _exit(4);
    for (int i = 0; i < 3; i++) {
        rg_store_event_in e = {0};
        e.rollout_id = (char *)"ro_crash";
        e.tenant_id = (char *)"acme";
        e.kind = (char *)"state";
        if (rg_store_event_append(NULL, store, &e) != 0)
            _exit(5);
    }
    {
        rg_store_target t = {0};
        t.rollout_id = (char *)"ro_crash";
        t.tenant_id = (char *)"acme";
        t.seq = 9;
        t.org_id = (char *)"org_new";
        t.group_name = (char *)"na_east";
        t.strategy_id = (char *)"strat_main";
        if (rg_store_target_insert(store, &t) != 0)
            _exit(6);
    }
    if (write(ready_fd, "r", 1) != 1)
        _exit(6);
    /* Blocks until the parent's SIGKILL; the parent never writes to this pipe. */
    while (read(hold_fd, &byte, 1) < 0)
        ;
    _exit(7);
}

static void test_crash_mid_transaction_keeps_previous_state(void **state)
{
    store_fixture *f = *state;
    int ready[2], hold[2], status = 0;
    rg_store_rollout ro;
    rg_store_events events = {0};
    rg_store_targets targets = {0};
    char byte = 0;
    pid_t pid;

    store_seed_rollout(f->store, "acme", "ro_crash");
    store_seed_target(f->store, "acme", "ro_crash", "org_1", "strat_main", 0);
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(hold), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(hold[1]);
        crash_child(f->path, ready[1], hold[0]);
    }
    close(ready[1]);
    close(hold[0]);
    assert_int_equal(read(ready[0], &byte, 1), 1);
    assert_int_equal(byte, 'r');
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(ready[0]);
    close(hold[1]);

    /* Reopen from scratch, as a restarted process would. */
    rg_store_free(f->store);
    f->store = NULL;
    assert_int_equal(rg_store_open(&f->store, f->path), 0);
    memset(&ro, 0, sizeof(ro));
    assert_int_equal(rg_store_rollout_get(&ro, f->store, "acme", "ro_crash"), 0);
    assert_int_equal(ro.state, RG_ROLLOUT_RUNNING);
    assert_int_equal(ro.revision, 1);
    rg_store_rollout_dispose(&ro);
    assert_int_equal(rg_store_event_list(&events, f->store, "acme", "ro_crash", 0), 0);
    assert_int_equal(events.count, 0);
    assert_int_equal(rg_store_target_list(&targets, f->store, "acme", "ro_crash"), 0);
    assert_int_equal(targets.count, 1);
    assert_string_equal(targets.items[0].org_id, "org_1");
    rg_store_targets_dispose(&targets);
    /* And the write lock the child held is gone. */
    assert_int_equal(rg_store_begin(f->store), 0);
    assert_int_equal(rg_store_commit(f->store), 0);
}

static void test_transactions_commit_and_roll_back(void **state)
{
    store_fixture *f = *state;
    rg_store_rollout ro;

    memset(&ro, 0, sizeof(ro));
    assert_int_equal(rg_store_commit(f->store), RG_EINVALID);
    assert_int_equal(rg_store_rollback(f->store), 0);
    assert_int_equal(rg_store_begin(f->store), 0);
    assert_true(rg_store_in_transaction(f->store));
    assert_int_equal(rg_store_begin(f->store), RG_EINVALID);
    store_seed_rollout(f->store, "acme", "ro_gone");
    assert_int_equal(rg_store_rollback(f->store), 0);
    assert_false(rg_store_in_transaction(f->store));
    assert_int_equal(rg_store_rollout_get(&ro, f->store, "acme", "ro_gone"), RG_ENOTFOUND);
    assert_non_null(strstr(rg_error_last(), "ro_gone"));

    assert_int_equal(rg_store_begin(f->store), 0);
    store_seed_rollout(f->store, "acme", "ro_kept");
    assert_int_equal(rg_store_commit(f->store), 0);
    assert_int_equal(rg_store_rollout_get(&ro, f->store, "acme", "ro_kept"), 0);
    rg_store_rollout_dispose(&ro);
}

static void test_enums_round_trip_and_check_constraints(void **state)
{
    store_fixture *f = *state;
    rg_rollout_state rs = RG_ROLLOUT_RUNNING;
    rg_target_state ts = RG_TARGET_PENDING;
    rg_command_kind ck = RG_COMMAND_PAUSE;
    rg_command_state cs = RG_COMMAND_PENDING;
    sqlite3 *db;

    for (int i = RG_ROLLOUT_AWAITING_APPROVAL; i <= RG_ROLLOUT_COMPLETED; i++) {
        assert_int_equal(rg_rollout_state_from_str(&rs, rg_rollout_state_to_str(i)), 0);
        assert_int_equal(rs, i);
    }
    for (int i = RG_TARGET_PENDING; i <= RG_TARGET_UNCHANGED; i++) {
        assert_int_equal(rg_target_state_from_str(&ts, rg_target_state_to_str(i)), 0);
        assert_int_equal(ts, i);
    }
    for (int i = RG_COMMAND_ROLLBACK; i <= RG_COMMAND_APPROVE; i++) {
        assert_int_equal(rg_command_kind_from_str(&ck, rg_command_kind_to_str(i)), 0);
        assert_int_equal(ck, i);
    }
    assert_int_equal(rg_command_state_from_str(&cs, "failed"), 0);
    assert_int_equal(cs, RG_COMMAND_FAILED);
    assert_string_equal(rg_rollout_state_to_str(RG_ROLLOUT_ROLLBACK_INCOMPLETE),
                        "rollback_incomplete");
    assert_string_equal(rg_target_state_to_str(RG_TARGET_SNAPSHOTTED), "snapshotted");
    assert_null(rg_rollout_state_to_str((rg_rollout_state)42));
    assert_int_equal(rg_rollout_state_from_str(&rs, "Running"), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "Running"));
    assert_true(rg_rollout_state_is_terminal(RG_ROLLOUT_COMPLETED));
    assert_false(rg_rollout_state_is_terminal(RG_ROLLOUT_HELD));

    store_seed_rollout(f->store, "acme", "ro_enum");
    if (f->pg) {
        char msg[256];
        assert_int_equal(store_fixture_raw_exec(f, "-", "UPDATE rollouts SET state = 'exploded'",
                                                msg, sizeof(msg)),
                         1);
        assert_int_equal(store_fixture_raw_exec(f, "-",
                                                "UPDATE rollouts SET verification = 'maybe'", msg,
                                                sizeof(msg)),
                         1);
        return;
    }
    db = raw_open(f->path);
    assert_int_equal(sqlite3_exec(db, "UPDATE rollouts SET state = 'exploded'", NULL, NULL, NULL),
                     SQLITE_CONSTRAINT);
    assert_int_equal(
        sqlite3_exec(db, "UPDATE rollouts SET verification = 'maybe'", NULL, NULL, NULL),
        SQLITE_CONSTRAINT);
    sqlite3_close(db);
}

static void test_rollout_ids_are_random_hex(void **state)
{
    char a[RG_STORE_ROLLOUT_ID_LEN], b[RG_STORE_ROLLOUT_ID_LEN];
    (void)state;
    assert_int_equal(rg_store_rollout_id_new(a), 0);
    assert_int_equal(rg_store_rollout_id_new(b), 0);
    assert_int_equal(strlen(a), 15);
    assert_memory_equal(a, "ro_", 3);
    assert_int_equal(strspn(a + 3, "0123456789abcdef"), 12);
    assert_string_not_equal(a, b);
}

static void test_invalid_input_names_the_field(void **state)
{
    store_fixture *f = *state;
    rg_store_rollout ro;
    rg_store *store = NULL;

    memset(&ro, 0, sizeof(ro));
    assert_int_equal(rg_store_open(&store, ""), RG_EINVALID);
    assert_int_equal(rg_store_tenant_ensure(f->store, "acme", "Acme"), 0);
    ro.id = (char *)"ro_bad";
    ro.tenant_id = (char *)"acme";
    ro.name = (char *)"bad";
    ro.policy = (char *)"{}";
    ro.created_by = (char *)"me";
    ro.stage_count = 3;
    assert_int_equal(rg_store_rollout_insert(f->store, &ro), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "manifest is missing"));
    ro.manifest = (char *)"{\"unterminated\": ";
    assert_int_equal(rg_store_rollout_insert(f->store, &ro), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "json_valid(manifest)"));
    ro.manifest = (char *)"{}";
    ro.state = (rg_rollout_state)77;
    assert_int_equal(rg_store_rollout_insert(f->store, &ro), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "invalid state"));
    ro.state = RG_ROLLOUT_AWAITING_APPROVAL;
    ro.tenant_id = (char *)"nobody";
    assert_int_equal(rg_store_rollout_insert(f->store, &ro), RG_ENOTFOUND);
    assert_non_null(strstr(rg_error_last(), "tenant nobody not found"));
    ro.tenant_id = (char *)"acme";
    assert_int_equal(rg_store_rollout_insert(f->store, &ro), 0);
    assert_int_equal(rg_store_rollout_insert(f->store, &ro), RG_ECONFLICT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_schema_and_reopen_is_noop,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_older_version_migrates_with_data_intact,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_v2_migrates_to_fenced_leases_and_claims,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_v3_migrates_to_digests, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_v5_migrates_to_a_state_check_built_once,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_readonly_open_reads_under_a_write_lock,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_open_does_not_wait_for_a_writer, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_is_refused, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_snapshots_are_insert_only, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_durability_rules, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_crash_mid_transaction_keeps_previous_state,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_transactions_commit_and_roll_back, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_enums_round_trip_and_check_constraints,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test(test_rollout_ids_are_random_hex),
        cmocka_unit_test_setup_teardown(test_invalid_input_names_the_field, store_fixture_setup,
                                        store_fixture_teardown),
    };
    if (store_fixture_backend_missing())
        return store_fixture_exit(0);
    return store_fixture_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
