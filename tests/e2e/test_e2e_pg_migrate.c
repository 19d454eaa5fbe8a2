/* test_e2e_pg_migrate.c - `rollgate db migrate --to postgresql://...` on a real PostgreSQL
 * server: a database with a finished and a running rollout is copied and verified, and
 * `rollgate run` on PostgreSQL takes the running one to its end against rollgate-sim, one
 * successful apply write per org in the sim's request log; a non-empty target is refused, an
 * unreachable database exits 4, and a password in the URI is never printed */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollgate/manifest.h"
#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/pg.h"
#include "support/skip.h"
#include "support/testutil.h"

typedef struct {
    int status;
    char *out;
    char *err;
} run_result;

/* `rollgate ARGS` (a shell line: the caller quotes), stdout and stderr kept. */
static run_result run_rollgate(const char *dir, const char *args)
{
    char outp[700], errp[700];
    rg_buf cmd = RG_BUF_INIT;
    run_result r = {-1, NULL, NULL};
    int status;

    snprintf(outp, sizeof(outp), "%s/out", dir);
    snprintf(errp, sizeof(errp), "%s/err", dir);
    rg_buf_printf(&cmd, "'%s/cli/rollgate' %s >'%s' 2>'%s'", rg_test_binary_dir(), args, outp,
                  errp);
    status = system(rg_buf_cstr(&cmd));
    assert_true(status != -1 && WIFEXITED(status));
    r.status = WEXITSTATUS(status);
    r.out = rg_test_read_file(outp, NULL);
    r.err = rg_test_read_file(errp, NULL);
    assert_non_null(r.out);
    assert_non_null(r.err);
    rg_buf_dispose(&cmd);
    return r;
}

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

/* Whether some target of rollout `id` in the SQLite file is applied. */
static int some_target_applied(const char *db, const char *tenant, const char *id)
{
    rg_store *store = NULL;
    rg_store_targets targets = {0};
    int yes = 0;

    if (rg_store_open_readonly(&store, db) != 0)
        return 0;
    if (rg_store_target_list(&targets, store, tenant, id) == 0)
        for (size_t i = 0; i < targets.count; i++)
            yes |= targets.items[i].state == RG_TARGET_APPLIED;
    rg_store_targets_dispose(&targets);
    rg_store_free(store);
    return yes;
}

static rg_rollout_state state_of(rg_store *store, const char *tenant, const char *id)
{
    rg_store_rollout row = {0};
    rg_rollout_state s = (rg_rollout_state)-1;
    assert_int_equal(rg_store_rollout_get(&row, store, tenant, id), 0);
    s = row.state;
    rg_store_rollout_dispose(&row);
    return s;
}

static json_int_t table_rows(const json_t *doc, const char *table, const char *side)
{
    return json_integer_value(
        json_object_get(json_object_get(json_object_get(doc, "tables"), table), side));
}

static void test_migrate_and_continue_on_postgresql(void **state)
{
    char uri[700], args[2400], finished[RG_STORE_ROLLOUT_ID_LEN], running[RG_STORE_ROLLOUT_ID_LEN];
    char second[700], *text = NULL, *p = NULL;
    rg_manifest *m = NULL;
    rg_store *pg = NULL;
    json_t *log = NULL, *doc = NULL, *v;
    int before[16] = {0};
    size_t i;
    run_result r;
    rg_e2e e;
    (void)state;

    /* SQLite: one rollout finished, a second one started and partly applied by `run`. */
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json", NULL, 200), 0);
    assert_int_equal(rg_e2e_drive(&e, rg_e2e_finished, 4000), 0);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_COMPLETED);
    snprintf(finished, sizeof(finished), "%s", e.id);
    /* The second moves half the weight back: a change for every org, so each is written. */
    snprintf(second, sizeof(second), "%s/second.yaml", e.dir);
    text = rg_test_read_file(e.manifest, NULL);
    assert_non_null(text);
    assert_non_null(p = strstr(text, "weight: 0,"));
    p[8] = '5'; /* 0 -> 5 and 100 -> 95 in place: still 100 in all */
    assert_non_null(p = strstr(text, "weight: 100,"));
    p[8] = '9';
    p[9] = '5';
    p[10] = ' ';
    assert_int_equal(rg_test_write_file(second, text), 0);
    free(text);
    assert_int_equal(rg_manifest_load_file(&m, second, NULL), 0);
    assert_int_equal(rg_engine_start(running, e.engine, m, e.dir, "e2e", 1), 0);
    rg_manifest_free(m);
    rg_engine_free(e.engine);
    e.engine = NULL;
    rg_store_free(e.store);
    e.store = NULL;
    snprintf(args, sizeof(args), "--db '%s' run --once --quiet", e.db);
    for (int k = 0; k < 100 && !some_target_applied(e.db, e.tenant, running); k++) {
        r = run_rollgate(e.dir, args);
        assert_int_equal(r.status, 0);
        run_free(&r);
        rg_e2e_sleep_ms(100);
    }
    assert_true(some_target_applied(e.db, e.tenant, running));
    log = rg_e2e_requests(&e.sim);
    assert_non_null(log);
    assert_true(json_array_size(e.orgs) <= sizeof(before) / sizeof(before[0]));
    json_array_foreach(e.orgs, i, v) before[i] = rg_e2e_patches(log, json_string_value(v));
    json_decref(log);

    /* The copy, verified. */
    assert_int_equal(rg_test_pg_new_db(uri, sizeof(uri)), 0);
    snprintf(args, sizeof(args), "--db '%s' db migrate --to '%s' --json", e.db, uri);
    r = run_rollgate(e.dir, args);
    if (r.status != 0)
        fail_msg("db migrate: exit %d: %s%s", r.status, r.out, r.err);
    doc = json_loads(r.out, 0, NULL);
    assert_non_null(doc);
    assert_true(json_is_true(json_object_get(doc, "verified")));
    assert_int_equal(table_rows(doc, "rollouts", "source"), 2);
    assert_int_equal(table_rows(doc, "rollouts", "target"), 2);
    assert_int_equal(table_rows(doc, "targets", "target"), table_rows(doc, "targets", "source"));
    assert_true(table_rows(doc, "events", "target") > 0);
    assert_true(json_integer_value(json_object_get(doc, "snapshots_compared")) >=
                (json_int_t)json_array_size(e.orgs));
    json_decref(doc);
    run_free(&r);

    /* A second copy into the now non-empty target is refused. */
    snprintf(args, sizeof(args), "--db '%s' db migrate --to '%s' --json", e.db, uri);
    r = run_rollgate(e.dir, args);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "not empty"));
    assert_non_null(strstr(r.out, "\"conflict\""));
    run_free(&r);

    /* The running rollout continues on PostgreSQL to its end. */
    snprintf(args, sizeof(args), "--db '%s' run --until-done --quiet --tick 100ms", uri);
    r = run_rollgate(e.dir, args);
    if (r.status != 0)
        fail_msg("run on PostgreSQL: exit %d: %s", r.status, r.err);
    run_free(&r);
    assert_int_equal(rg_store_open(&pg, uri), 0);
    assert_int_equal(state_of(pg, e.tenant, running), RG_ROLLOUT_COMPLETED);
    assert_int_equal(state_of(pg, e.tenant, finished), RG_ROLLOUT_COMPLETED);
    rg_store_free(pg);

    /* What the platform saw: each org written once by each rollout, and the writes the
     * copy left to do were made from PostgreSQL. */
    log = rg_e2e_requests(&e.sim);
    assert_non_null(log);
    {
        int after_total = 0, before_total = 0;
        json_array_foreach(e.orgs, i, v)
        {
            int n = rg_e2e_patches(log, json_string_value(v));
            if (n != 2)
                fail_msg("org %s: %d successful PATCHes, want 2 (one per rollout)",
                         json_string_value(v), n);
            after_total += n;
            before_total += before[i];
        }
        assert_true(before_total > (int)json_array_size(e.orgs)); /* some of the second's */
        assert_true(after_total > before_total);                  /* and the rest after */
    }
    json_decref(log);
    rg_e2e_end(&e);
}

static void test_unreachable_database_exits_4_without_the_password(void **state)
{
    char dir[512], args[1600];
    run_result r;
    (void)state;

    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    /* A database the server does not have, and a server that is not there. */
    snprintf(args, sizeof(args),
             "--db 'postgresql://rollgate:hunter2secret@/no_such_db?host=%s&port=54329' list "
             "--json",
             rg_test_pg_dir());
    r = run_rollgate(dir, args);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.out, "\"database\""));
    assert_non_null(strstr(r.out, "rollgate:***@"));
    assert_null(strstr(r.out, "hunter2secret"));
    assert_null(strstr(r.err, "hunter2secret"));
    run_free(&r);
    snprintf(args, sizeof(args),
             "--db 'postgres://u@/x?host=%s/absent&password=hunter2secret' status ro_x", dir);
    r = run_rollgate(dir, args);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "cannot connect to the database"));
    assert_non_null(strstr(r.err, "password=***"));
    assert_null(strstr(r.err, "hunter2secret"));
    assert_null(strstr(r.out, "hunter2secret"));
    run_free(&r);
    rg_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unreachable_database_exits_4_without_the_password),
        cmocka_unit_test(test_migrate_and_continue_on_postgresql),
    };
    char why[512];
    int rc = rg_test_pg_start(why, sizeof(why));

    if (rc == RG_TEST_SKIP_CODE) {
        rg_test_note_skip("%s", why);
        return rg_test_exit(0);
    }
    if (rc != 0) {
        fprintf(stderr, "PostgreSQL: %s\n", why);
        return 1;
    }
    return rg_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
