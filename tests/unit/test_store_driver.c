/* test_store_driver.c - what the two drivers must do alike: a failed statement inside a
 * transaction fails alone, schedulers claim unleased rollouts one each (PostgreSQL: without
 * waiting on each other, FOR UPDATE SKIP LOCKED), and PostgreSQL's connection comes back
 * after the server drops it */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/records.h"
#include "rollgate/util.h"
#include "store/store_private.h"
#include "support/testutil.h"
#include "unit/test_store_fixture.h"

static rg_store *second_handle(const store_fixture *f)
{
    rg_store *other = NULL;
    assert_int_equal(rg_store_open(&other, f->path), 0);
    return other;
}

static void set_state(rg_store *store, const char *tenant, const char *id, rg_rollout_state s)
{
    rg_store_rollout ro = {0};
    assert_int_equal(rg_store_rollout_get(&ro, store, tenant, id), 0);
    ro.state = s;
    assert_int_equal(rg_store_rollout_update(store, &ro), 0);
    rg_store_rollout_dispose(&ro);
}

/* Claims the next rollout for `owner`; its id (static buffer) or NULL when none is free. */
static const char *claim(rg_store *store, const char *owner, int64_t *out_epoch)
{
    static char id[64];
    rg_store_lease lease = {0};
    int found = -1;

    assert_int_equal(rg_store_lease_claim_next(&lease, &found, store, owner, 60000), 0);
    if (!found)
        return NULL;
    assert_string_equal(lease.owner, owner);
    assert_true(lease.expires_at_ms > lease.now_ms);
    snprintf(id, sizeof(id), "%s", lease.rollout_id);
    if (out_epoch)
        *out_epoch = lease.epoch;
    rg_store_lease_dispose(&lease);
    return id;
}

static void test_claim_next_gives_each_scheduler_its_own(void **state)
{
    store_fixture *f = *state;
    rg_store *other = second_handle(f);
    int64_t epoch = 0;
    int held = -1, released = -1;
    const char *got;

    store_seed_rollout(f->store, "acme", "ro_000000000001");
    store_seed_rollout(f->store, "acme", "ro_000000000002");
    store_seed_rollout(f->store, "globex", "ro_000000000003");
    store_seed_rollout(f->store, "acme", "ro_000000000004");
    store_seed_rollout(f->store, "acme", "ro_000000000005");
    set_state(f->store, "acme", "ro_000000000005", RG_ROLLOUT_COMPLETED);
    /* ro_4: leased long ago by a holder whose lease ran out (by the database's clock). */
    assert_int_equal(rg_store_lease_acquire(&held, f->store, "acme", "ro_000000000004",
                                            "host-gone:1:1", 1000, 10),
                     0);
    assert_int_equal(held, 1);

    /* Oldest first, across tenants, one each: never the same one twice, never a finished
     * one. (Seeded in one millisecond or not, ids break the tie in the same order.) */
    char seen[4][64];
    for (int i = 0; i < 4; i++) {
        got = claim(i % 2 ? other : f->store, i % 2 ? "host-b:2:2" : "host-a:1:1", &epoch);
        assert_non_null(got);
        snprintf(seen[i], sizeof(seen[i]), "%s", got);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(seen[i], seen[j]);
        /* The expired lease is taken with the next epoch; fresh ones start at 1. */
        assert_int_equal(epoch, strcmp(got, "ro_000000000004") == 0 ? 2 : 1);
    }
    assert_null(claim(f->store, "host-c:3:3", NULL));
    assert_null(claim(other, "host-c:3:3", NULL));
    /* Released: free again, for anyone, at a new epoch. */
    assert_int_equal(rg_store_lease_release(&released, f->store, "acme", seen[0], "host-a:1:1"), 0);
    assert_int_equal(released, 1);
    got = claim(other, "host-b:2:2", &epoch);
    assert_non_null(got);
    assert_string_equal(got, seen[0]);
    assert_int_equal(epoch, 2);
    /* Not inside a transaction of the caller's. */
    assert_int_equal(rg_store_begin(f->store), 0);
    {
        rg_store_lease lease = {0};
        int found = -1;
        assert_int_equal(rg_store_lease_claim_next(&lease, &found, f->store, "x:1:1", 1000),
                         RG_EINVALID);
    }
    assert_int_equal(rg_store_rollback(f->store), 0);
    rg_store_free(other);
}

/* The engine's door to it (the server calls no store function): as the engine's owner, with
 * the engine's lease length. */
static void test_engine_claims_as_its_owner(void **state)
{
    store_fixture *f = *state;
    rg_engine *engine = NULL;
    rg_store_lease lease = {0};
    int found = -1;

    store_seed_rollout(f->store, "acme", "ro_000000000001");
    assert_int_equal(rg_engine_open(&engine, f->path, 0, NULL), 0);
    assert_int_equal(rg_engine_lease_claim_next(&lease, &found, engine, 0), 0);
    assert_int_equal(found, 1);
    assert_string_equal(lease.rollout_id, "ro_000000000001");
    assert_int_equal(lease.epoch, 1);
    assert_true(lease.ttl_ms >= 30000); /* the engine's default lease */
    assert_non_null(strchr(lease.owner, ':'));
    rg_store_lease_dispose(&lease);
    assert_int_equal(rg_engine_lease_claim_next(&lease, &found, engine, 0), 0);
    assert_int_equal(found, 0);
    rg_engine_free(engine);
}

/* PostgreSQL: a scheduler does not wait for a rollout row another one holds locked; it takes
 * the next (SKIP LOCKED). SQLite has one writer at a time: nothing to show there. */
static void test_claim_next_skips_locked_rows(void **state)
{
    store_fixture *f = *state;
    rg_store *other = NULL;
    rg_store_rollout ro = {0};
    const char *got;

    if (!f->pg) {
        print_message("SQLite serializes writers: no row locks to skip\n");
        return;
    }
    other = second_handle(f);
    store_seed_rollout(f->store, "acme", "ro_000000000001");
    store_seed_rollout(f->store, "acme", "ro_000000000002");
    /* The first handle's open transaction holds ro_1's row (an update not yet committed). */
    assert_int_equal(rg_store_begin(f->store), 0);
    assert_int_equal(rg_store_rollout_get(&ro, f->store, "acme", "ro_000000000001"), 0);
    assert_int_equal(rg_store_rollout_update(f->store, &ro), 0);
    got = claim(other, "host-b:2:2", NULL);
    assert_non_null(got);
    assert_string_equal(got, "ro_000000000002");
    assert_null(claim(other, "host-b:2:2", NULL));
    assert_int_equal(rg_store_commit(f->store), 0);
    got = claim(other, "host-b:2:2", NULL);
    assert_non_null(got);
    assert_string_equal(got, "ro_000000000001");
    rg_store_rollout_dispose(&ro);
    rg_store_free(other);
}

/* SQLite undoes a failed statement alone; the PostgreSQL driver puts a savepoint around each
 * write of a caller's transaction so that it does the same, and the commit keeps the rest. */
static void test_a_failed_statement_leaves_the_transaction_usable(void **state)
{
    store_fixture *f = *state;
    rg_store_rollout ro = {0}, dup = {0};
    rg_store_events events = {0};
    rg_store_event_in ev = {0};

    store_seed_rollout(f->store, "acme", "ro_000000000001");
    assert_int_equal(rg_store_begin(f->store), 0);
    ev.rollout_id = (char *)"ro_000000000001";
    ev.tenant_id = (char *)"acme";
    ev.kind = (char *)"note";
    assert_int_equal(rg_store_event_append(NULL, f->store, &ev), 0);
    /* The same id again: refused by the key... */
    assert_int_equal(rg_store_rollout_get(&ro, f->store, "acme", "ro_000000000001"), 0);
    dup = ro;
    dup.revision = 0;
    assert_int_equal(rg_store_rollout_insert(f->store, &dup), RG_ECONFLICT);
    /* ...and bad JSON by its CHECK, naming the column; the transaction goes on. */
    ev.detail = (char *)"{not json";
    assert_int_equal(rg_store_event_append(NULL, f->store, &ev), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "json_valid(detail)"));
    ev.detail = NULL;
    assert_int_equal(rg_store_event_append(NULL, f->store, &ev), 0);
    assert_int_equal(rg_store_commit(f->store), 0);
    assert_int_equal(rg_store_event_list(&events, f->store, "acme", "ro_000000000001", 0), 0);
    assert_int_equal(events.count, 2);
    assert_true(events.items[1].id > events.items[0].id);
    rg_store_events_dispose(&events);
    rg_store_rollout_dispose(&ro);
}

static void kill_connections(store_fixture *f)
{
    char msg[512];
    assert_int_equal(store_fixture_raw_exec(f, "-",
                                            "SELECT pg_terminate_backend(pid) FROM"
                                            " pg_stat_activity WHERE datname = current_database()"
                                            " AND pid <> pg_backend_pid()",
                                            msg, sizeof(msg)),
                     0);
}

/* The server drops the connection (a restart, a failover, an idle timeout): the next
 * statement outside a transaction reconnects; one inside a transaction fails with RG_EDB
 * (its work is gone) and the handle works again after the rollback. */
static void test_postgresql_reconnects_after_the_server_drops_it(void **state)
{
    store_fixture *f = *state;
    rg_store_rollout ro = {0};
    char name[16];

    if (!f->pg) {
        print_message("SQLite has no connection to lose\n");
        return;
    }
    store_seed_rollout(f->store, "acme", "ro_000000000001");
    kill_connections(f);
    assert_int_equal(rg_store_rollout_get(&ro, f->store, "acme", "ro_000000000001"), 0);
    rg_store_rollout_dispose(&ro);
    store_seed_rollout(f->store, "acme", "ro_000000000002"); /* statements prepare again */

    assert_int_equal(rg_store_begin(f->store), 0);
    assert_int_equal(rg_store_rollout_get(&ro, f->store, "acme", "ro_000000000001"), 0);
    kill_connections(f);
    assert_int_equal(rg_store_rollout_update(f->store, &ro), RG_EDB);
    assert_non_null(strstr(rg_error_last(), "transaction is rolled back"));
    assert_int_equal(rg_store_commit(f->store), RG_EDB);
    assert_int_equal(rg_store_rollback(f->store), 0);
    assert_false(rg_store_in_transaction(f->store));
    rg_store_rollout_dispose(&ro);
    assert_int_equal(rg_store_rollout_get(&ro, f->store, "acme", "ro_000000000001"), 0);
    assert_int_equal(ro.revision, 1); /* the update was not committed */
    rg_store_rollout_dispose(&ro);
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "ro_00000000001%d", i);
        store_seed_rollout(f->store, "acme", name);
    }
}

/* The translation of the store's SQL into PostgreSQL's, on the statements' shapes. */
static void test_postgresql_translation(void **state)
{
    static const struct {
        const char *in, *out;
        int nparams;
    } cases[] = {
        {"SELECT a FROM t WHERE x = ? AND y = ?", "SELECT a FROM t WHERE x = $1 AND y = $2", 2},
        {"UPDATE t SET a = ?1 WHERE b = ?2 OR c = ?1", "UPDATE t SET a = $1 WHERE b = $2 OR c = $1",
         2},
        {"SELECT '?' , ? FROM t", "SELECT '?' , $1 FROM t", 1},
        {"SELECT 'it''s ?', ?3", "SELECT 'it''s ?', $3", 3},
        {"INSERT INTO e (id, k) VALUES (NULL, ?) /*pg: RETURNING id*/",
         "INSERT INTO e (id, k) VALUES (DEFAULT, $1)  RETURNING id", 1},
        {"SELECT " RG_STORE__DB_NOW,
         "SELECT CAST(floor(extract(epoch FROM now()) * 1000) AS BIGINT)", 0},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = -1;
        char *out = rg_store__pg_sql(cases[i].in, &n);
        assert_non_null(out);
        assert_string_equal(out, cases[i].out);
        assert_int_equal(n, cases[i].nparams);
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_claim_next_gives_each_scheduler_its_own,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_engine_claims_as_its_owner, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_claim_next_skips_locked_rows, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_statement_leaves_the_transaction_usable,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_postgresql_reconnects_after_the_server_drops_it,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test(test_postgresql_translation),
    };
    if (store_fixture_backend_missing())
        return store_fixture_exit(0);
    return store_fixture_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
