/* test_store_fixture.c - temporary store files or PostgreSQL databases and seed rows shared
 * by the store tests */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "support/pg.h"
#include "support/skip.h"
#include "support/testutil.h"
#include "unit/test_store_fixture.h"

int store_fixture_backend_is_pg(void)
{
    const char *backend = getenv("RG_TEST_STORE_BACKEND");
    return backend && strcmp(backend, "postgresql") == 0;
}

int store_fixture_backend_missing(void)
{
    char why[512] = "";

    if (!store_fixture_backend_is_pg() || rg_test_pg_start(why, sizeof(why)) != RG_TEST_SKIP_CODE)
        return 0;
    rg_test_note_skip("%s", why);
    return 1;
}

int store_fixture_exit(int failed)
{
    return rg_test_exit(failed);
}

int store_fixture_setup(void **state)
{
    store_fixture *f = calloc(1, sizeof(*f));
    char why[512] = "";
    int rc;

    if (f == NULL || rg_test_mkdtemp(f->dir, sizeof(f->dir)) != 0) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/rollgate.db", f->dir);
    if (store_fixture_backend_is_pg()) {
        f->pg = 1;
        if ((rc = rg_test_pg_start(why, sizeof(why))) != 0) {
            rg_test_rmtree(f->dir);
            free(f);
            print_error("PostgreSQL: %s\n", why);
            return -1;
        }
        if (rg_test_pg_new_db(f->path, sizeof(f->path)) != 0) {
            rg_test_rmtree(f->dir);
            free(f);
            return -1;
        }
    }
    if (rg_store_open(&f->store, f->path) != 0) {
        print_error("rg_store_open: %s\n", rg_error_last());
        rg_test_rmtree(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

int store_fixture_teardown(void **state)
{
    store_fixture *f = *state;
    if (f == NULL)
        return 0;
    rg_store_free(f->store);
    rg_test_rmtree(f->dir);
    free(f);
    return 0;
}

void store_seed_rollout(rg_store *store, const char *tenant_id, const char *rollout_id)
{
    rg_store_rollout ro;
    char name[64], manifest[128];

    memset(&ro, 0, sizeof(ro));
    assert_int_equal(rg_store_tenant_ensure(store, tenant_id, tenant_id), 0);
    snprintf(name, sizeof(name), "routing-%s", rollout_id);
    snprintf(manifest, sizeof(manifest), "{\"name\":\"%s\",\"tenant\":\"%s\"}", name, tenant_id);
    ro.id = (char *)rollout_id;
    ro.tenant_id = (char *)tenant_id;
    ro.name = name;
    ro.manifest = manifest;
    ro.policy = (char *)"{\"alpha\":0.05}";
    ro.state = RG_ROLLOUT_RUNNING;
    ro.stage_index = 0;
    ro.stage_count = 3;
    ro.created_by = (char *)"release-manager";
    if (rg_store_rollout_insert(store, &ro) != 0)
        fail_msg("seed rollout %s: %s", rollout_id, rg_error_last());
    assert_int_equal(ro.revision, 1);
}

void store_seed_target(rg_store *store, const char *tenant_id, const char *rollout_id,
                       const char *org_id, const char *strategy_id, int64_t seq)
{
    rg_store_target t;

    memset(&t, 0, sizeof(t));
    t.rollout_id = (char *)rollout_id;
    t.tenant_id = (char *)tenant_id;
    t.seq = seq;
    t.org_id = (char *)org_id;
    t.group_name = (char *)"na_east";
    t.tier = 1;
    t.stage_index = 0;
    t.strategy_id = (char *)strategy_id;
    t.api_url = (char *)"http://127.0.0.1:1/api";
    t.login_url = (char *)"http://127.0.0.1:1/login";
    t.state = RG_TARGET_PENDING;
    if (rg_store_target_insert(store, &t) != 0)
        fail_msg("seed target %s/%s: %s", org_id, strategy_id, rg_error_last());
}

static int raw_pg(store_fixture *f, const char *sql, char *msg, size_t msglen, int *out_int)
{
    PGconn *conn = PQconnectdb(f->path);
    PGresult *res = NULL;
    int rc = -1;

    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(msg, msglen, "%s", PQerrorMessage(conn));
        PQfinish(conn);
        return -1;
    }
    res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK) {
        rc = 0;
        if (out_int)
            *out_int = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)
                           ? (int)strtol(PQgetvalue(res, 0, 0), NULL, 10)
                           : -1;
        snprintf(msg, msglen, "ok");
    } else {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(msg, msglen, "%s", PQerrorMessage(conn));
        rc = state && strncmp(state, "23", 2) == 0 ? 1 : -1;
    }
    PQclear(res);
    PQfinish(conn);
    return rc;
}

static int raw_sqlite(store_fixture *f, const char *sql, char *msg, size_t msglen, int *out_int)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc;

    if (sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(msg, msglen, "cannot open %.400s", f->path);
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    if (out_int == NULL) {
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    } else {
        *out_int = -1;
        rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            *out_int = sqlite3_column_int(stmt, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
        sqlite3_finalize(stmt);
    }
    snprintf(msg, msglen, "%s", rc == SQLITE_OK ? "ok" : sqlite3_errmsg(db));
    sqlite3_close(db);
    if (rc == SQLITE_OK)
        return 0;
    return (rc & 0xff) == SQLITE_CONSTRAINT ? 1 : -1;
}

int store_fixture_raw_exec(store_fixture *f, const char *sqlite_sql, const char *pg_sql, char *msg,
                           size_t msglen)
{
    if (f->pg)
        return raw_pg(f, pg_sql ? pg_sql : sqlite_sql, msg, msglen, NULL);
    return raw_sqlite(f, sqlite_sql, msg, msglen, NULL);
}

int store_fixture_raw_int(store_fixture *f, const char *sqlite_sql, const char *pg_sql)
{
    char msg[512];
    int n = -1;
    int rc = f->pg ? raw_pg(f, pg_sql ? pg_sql : sqlite_sql, msg, sizeof(msg), &n)
                   : raw_sqlite(f, sqlite_sql, msg, sizeof(msg), &n);
    if (rc != 0)
        print_error("raw query: %s\n", msg);
    return rc == 0 ? n : -1;
}
