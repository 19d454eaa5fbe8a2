/* test_store_fixture.h - a store on a fresh temporary file (or, with
 * RG_TEST_STORE_BACKEND=postgresql, a fresh PostgreSQL database) and seed rows for the store
 * tests */
#ifndef RG_TEST_STORE_FIXTURE_H
#define RG_TEST_STORE_FIXTURE_H

#include <limits.h>

#include "rollgate/store.h"

typedef struct {
    char dir[PATH_MAX];
    char path[PATH_MAX + 128]; /* the SQLite file, or the PostgreSQL conninfo URI */
    int pg;                    /* the store is on PostgreSQL */
    rg_store *store;
} store_fixture;

/* cmocka setup/teardown: a new directory with "rollgate.db" opened in fixture->store; with
 * $RG_TEST_STORE_BACKEND=postgresql a new database on the test server (tests/support/pg.h)
 * instead, the test skipped when PostgreSQL is not installed. */
int store_fixture_setup(void **state);
int store_fixture_teardown(void **state);
/* Whether this run is the PostgreSQL one ($RG_TEST_STORE_BACKEND=postgresql). */
int store_fixture_backend_is_pg(void);
/* On the PostgreSQL run: 1 (the skip noted, with its reason) when PostgreSQL is not
 * installed, so that main skips every test; starts the server otherwise. */
int store_fixture_backend_missing(void);
/* The program's exit code: rg_test_exit (SKIPPED when the backend is missing). */
int store_fixture_exit(int failed);

/* Runs SQL around the store, on a connection of its own: 0, 1 when a constraint (a CHECK,
 * key, foreign key or trigger) refused it, -1 for any other failure. `sqlite_sql` or
 * `pg_sql` is run by backend (NULL: the same text). The message is in `msg`. */
int store_fixture_raw_exec(store_fixture *f, const char *sqlite_sql, const char *pg_sql, char *msg,
                           size_t msglen);
/* The first column of the first row of a query on its own connection, as an int; -1 when
 * it fails or returns no row. */
int store_fixture_raw_int(store_fixture *f, const char *sqlite_sql, const char *pg_sql);

/* Ensures the tenant and inserts a running rollout with 3 stages; asserts success. */
void store_seed_rollout(rg_store *store, const char *tenant_id, const char *rollout_id);
/* Inserts a pending target; asserts success. */
void store_seed_target(rg_store *store, const char *tenant_id, const char *rollout_id,
                       const char *org_id, const char *strategy_id, int64_t seq);

#endif
