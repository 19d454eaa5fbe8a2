/* test_store_tables.c - every column of the row tables (store/rows.h) reaches its own field,
 * and a stored value that does not read fails the read whole, naming the row */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/util.h"
#include "store/store_private.h"
#include "support/testutil.h"
#include "unit/test_store_fixture.h"

static const char *const ro_id = "ro_bbbbbbbbbbbb";
static const char digest[] =
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* Every field its own value, so a column read into the wrong field shows. */
static void assert_full_target(const rg_store_target *t)
{
    assert_string_equal(t->rollout_id, ro_id);
    assert_string_equal(t->tenant_id, "acme");
    assert_int_equal(t->seq, 41);
    assert_string_equal(t->org_id, "org_full");
    assert_string_equal(t->group_name, "emea");
    assert_int_equal(t->tier, 2);
    assert_int_equal(t->stage_index, 1);
    assert_string_equal(t->strategy_id, "strat_full");
    assert_string_equal(t->api_url, "http://127.0.0.1:2/api");
    assert_string_equal(t->login_url, "http://127.0.0.1:2/login");
    assert_int_equal(t->state, RG_TARGET_RESTORED);
    assert_int_equal(t->attempts, 3);
    assert_string_equal(t->last_error, "503 once");
    assert_string_equal(t->applied_etag, "\"a1\"");
    assert_string_equal(t->applied_body, "{\"applied\":1}");
    assert_int_equal(t->applied_at_ms, 5001);
    assert_string_equal(t->restored_etag, "\"r1\"");
    assert_int_equal(t->restored_at_ms, 5002);
    assert_string_equal(t->kept_fields, "[\"name\"]");
}

static void test_every_target_column_reaches_its_field(void **state)
{
    store_fixture *f = *state;
    rg_store_target t, got;
    rg_store_targets list = {0};

    memset(&t, 0, sizeof(t));
    memset(&got, 0, sizeof(got));
    store_seed_rollout(f->store, "acme", ro_id);
    t.rollout_id = (char *)ro_id;
    t.tenant_id = (char *)"acme";
    t.seq = 41;
    t.org_id = (char *)"org_full";
    t.group_name = (char *)"emea";
    t.tier = 2;
    t.stage_index = 1;
    t.strategy_id = (char *)"strat_full";
    t.api_url = (char *)"http://127.0.0.1:2/api";
    t.login_url = (char *)"http://127.0.0.1:2/login";
    t.state = RG_TARGET_PENDING;
    assert_int_equal(rg_store_target_insert(f->store, &t), 0);
    t.state = RG_TARGET_RESTORED;
    t.attempts = 3;
    t.last_error = (char *)"503 once";
    t.applied_etag = (char *)"\"a1\"";
    t.applied_body = (char *)"{\"applied\":1}";
    t.applied_at_ms = 5001;
    t.restored_etag = (char *)"\"r1\"";
    t.restored_at_ms = 5002;
    t.kept_fields = (char *)"[\"name\"]";
    assert_int_equal(rg_store_target_update(f->store, &t), 0);

    assert_int_equal(rg_store_target_get(&got, f->store, "acme", ro_id, "org_full", "strat_full"),
                     0);
    assert_full_target(&got);
    rg_store_target_dispose(&got);
    assert_null(got.org_id);
    assert_int_equal(rg_store_target_list(&list, f->store, "acme", ro_id), 0);
    assert_int_equal(list.count, 1);
    assert_full_target(&list.items[0]);
    rg_store_targets_dispose(&list);
    assert_null(list.items);
    assert_int_equal(list.count, 0);
}

static void test_every_rollout_column_reaches_its_field(void **state)
{
    store_fixture *f = *state;
    rg_store_rollout ro, got;

    memset(&ro, 0, sizeof(ro));
    memset(&got, 0, sizeof(got));
    assert_int_equal(rg_store_tenant_ensure(f->store, "acme", "Acme"), 0);
    ro.id = (char *)ro_id;
    ro.tenant_id = (char *)"acme";
    ro.name = (char *)"full";
    ro.manifest = (char *)"{\"m\":1}";
    ro.policy = (char *)"{\"p\":2}";
    ro.state = RG_ROLLOUT_HELD;
    ro.stage_index = 2;
    ro.stage_count = 4;
    ro.created_by = (char *)"erin";
    ro.created_at_ms = 1001;
    ro.updated_at_ms = 1002;
    ro.hold_reason = (char *)"why";
    ro.verification = (char *)"inconclusive";
    ro.stage_started_at_ms = 1003;
    ro.stage_applied_at_ms = 1004;
    ro.baseline = (char *)"{\"b\":3}";
    ro.digest = (char *)digest;
    ro.environment = (char *)"prod";
    ro.forced_reason = (char *)"hotfix";
    assert_int_equal(rg_store_rollout_insert(f->store, &ro), 0);

    assert_int_equal(rg_store_rollout_get(&got, f->store, "acme", ro_id), 0);
    assert_string_equal(got.id, ro_id);
    assert_string_equal(got.tenant_id, "acme");
    assert_string_equal(got.name, "full");
    assert_string_equal(got.manifest, "{\"m\":1}");
    assert_string_equal(got.policy, "{\"p\":2}");
    assert_int_equal(got.state, RG_ROLLOUT_HELD);
    assert_int_equal(got.stage_index, 2);
    assert_int_equal(got.stage_count, 4);
    assert_string_equal(got.created_by, "erin");
    assert_int_equal(got.created_at_ms, 1001);
    assert_int_equal(got.updated_at_ms, 1002);
    assert_int_equal(got.revision, 1);
    assert_string_equal(got.hold_reason, "why");
    assert_string_equal(got.verification, "inconclusive");
    assert_int_equal(got.stage_started_at_ms, 1003);
    assert_int_equal(got.stage_applied_at_ms, 1004);
    assert_string_equal(got.baseline, "{\"b\":3}");
    assert_string_equal(got.digest, digest);
    assert_string_equal(got.environment, "prod");
    assert_string_equal(got.forced_reason, "hotfix");
    rg_store_rollout_dispose(&got);
}

static void test_every_verdict_and_command_column_reaches_its_field(void **state)
{
    store_fixture *f = *state;
    rg_store_verdict_in v = {0};
    rg_store_verdicts verdicts = {0};
    rg_store_command_in c = {0};
    rg_store_command got;
    int64_t vid = 0, cid = 0;

    memset(&got, 0, sizeof(got));
    store_seed_rollout(f->store, "acme", ro_id);
    v.rollout_id = ro_id;
    v.tenant_id = "acme";
    v.stage = 2;
    v.poll = 5;
    v.metric = "handle_time";
    v.test = "msprt";
    v.estimate = 0.5;
    v.ci_lo = 0.25;
    v.ci_hi = 0.75;
    v.z = 1.5;
    v.boundary = 2.5;
    v.p_value = 0.125;
    v.decision = "inconclusive";
    v.reason = "too few calls";
    v.at_ms = 6001;
    assert_int_equal(rg_store_verdict_insert(&vid, f->store, &v), 0);
    assert_int_equal(rg_store_verdict_list(&verdicts, f->store, "acme", ro_id, -1), 0);
    assert_int_equal(verdicts.count, 1);
    assert_int_equal(verdicts.items[0].id, vid);
    assert_string_equal(verdicts.items[0].rollout_id, ro_id);
    assert_string_equal(verdicts.items[0].tenant_id, "acme");
    assert_int_equal(verdicts.items[0].stage, 2);
    assert_int_equal(verdicts.items[0].poll, 5);
    assert_string_equal(verdicts.items[0].metric, "handle_time");
    assert_string_equal(verdicts.items[0].test, "msprt");
    assert_true(verdicts.items[0].estimate == 0.5 && verdicts.items[0].ci_lo == 0.25);
    assert_true(verdicts.items[0].ci_hi == 0.75 && verdicts.items[0].z == 1.5);
    assert_true(verdicts.items[0].boundary == 2.5 && verdicts.items[0].p_value == 0.125);
    assert_string_equal(verdicts.items[0].decision, "inconclusive");
    assert_string_equal(verdicts.items[0].reason, "too few calls");
    assert_int_equal(verdicts.items[0].at_ms, 6001);
    rg_store_verdicts_dispose(&verdicts);

    c.rollout_id = ro_id;
    c.tenant_id = "acme";
    c.kind = RG_COMMAND_APPROVE;
    c.actor = "frank";
    c.reason = "go";
    c.force = 1;
    c.created_at_ms = 7001;
    assert_int_equal(rg_store_command_enqueue(&cid, f->store, &c), 0);
    assert_int_equal(
        rg_store_command_complete(f->store, "acme", cid, RG_COMMAND_FAILED, "no", 7002), 0);
    assert_int_equal(rg_store_command_get(&got, f->store, "acme", cid), 0);
    assert_int_equal(got.id, cid);
    assert_string_equal(got.rollout_id, ro_id);
    assert_string_equal(got.tenant_id, "acme");
    assert_int_equal(got.kind, RG_COMMAND_APPROVE);
    assert_string_equal(got.actor, "frank");
    assert_string_equal(got.reason, "go");
    assert_int_equal(got.force, 1);
    assert_int_equal(got.created_at_ms, 7001);
    assert_int_equal(got.state, RG_COMMAND_FAILED);
    assert_string_equal(got.outcome, "no");
    assert_int_equal(got.done_at_ms, 7002);
    rg_store_command_dispose(&got);
}

/* A state name the build does not know (written past the CHECK, as an older or newer writer
 * or a hand edit could): the read fails as a whole, names the row, and hands back nothing. */
static void test_an_unknown_stored_state_fails_the_read_naming_the_row(void **state)
{
    store_fixture *f = *state;
    rg_store_rollout ro;
    rg_store_rollouts list = {0};
    rg_store_targets targets = {0};

    memset(&ro, 0, sizeof(ro));
    store_seed_rollout(f->store, "acme", "ro_cccccccccccc");
    store_seed_rollout(f->store, "acme", ro_id);
    store_seed_target(f->store, "acme", ro_id, "org_odd", "strat_main", 0);
    if (f->pg) {
        char msg[256];
        assert_int_equal(store_fixture_raw_exec(f, "-",
                                                "ALTER TABLE rollouts DROP CONSTRAINT"
                                                " rollouts_state_check;"
                                                "ALTER TABLE targets DROP CONSTRAINT"
                                                " targets_state_check;"
                                                "UPDATE rollouts SET state = 'sleeping' WHERE id ="
                                                " 'ro_bbbbbbbbbbbb';"
                                                "UPDATE targets SET state = 'lost';",
                                                msg, sizeof(msg)),
                         0);
    } else {
        assert_int_equal(sqlite3_exec(f->store->db,
                                      "PRAGMA ignore_check_constraints = ON;"
                                      "UPDATE rollouts SET state = 'sleeping' WHERE id = "
                                      "'ro_bbbbbbbbbbbb';"
                                      "UPDATE targets SET state = 'lost';"
                                      "PRAGMA ignore_check_constraints = OFF;",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    }

    assert_int_equal(rg_store_rollout_get(&ro, f->store, "acme", ro_id), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "store: rollout ro_bbbbbbbbbbbb"));
    assert_non_null(strstr(rg_error_last(), "sleeping"));
    assert_null(ro.id);
    assert_int_equal(rg_store_rollout_list(&list, f->store, "acme"), RG_EINVALID);
    assert_null(list.items);
    assert_int_equal(list.count, 0);
    assert_int_equal(rg_store_target_list(&targets, f->store, "acme", ro_id), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "store: target org_odd/strat_main"));
    assert_non_null(strstr(rg_error_last(), "lost"));
    assert_null(targets.items);
    assert_int_equal(rg_store_rollout_get(&ro, f->store, "acme", "ro_cccccccccccc"), 0);
    assert_int_equal(ro.state, RG_ROLLOUT_RUNNING);
    rg_store_rollout_dispose(&ro);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_target_column_reaches_its_field,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_every_rollout_column_reaches_its_field,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_every_verdict_and_command_column_reaches_its_field,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_an_unknown_stored_state_fails_the_read_naming_the_row,
                                        store_fixture_setup, store_fixture_teardown),
    };
    if (store_fixture_backend_missing())
        return store_fixture_exit(0);
    return store_fixture_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
