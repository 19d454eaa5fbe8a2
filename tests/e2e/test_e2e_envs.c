/* test_e2e_envs.c - environment promotion against rollgate-sim: staging and production are
 * separate orgs; production takes only the digest staging completed, from the recorded
 * artifact; a forced start is audited; bad input exits 3 with file:line:col */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/testutil.h"

#define STAGING_ORG "org_sub_002"
#define PROD_ORG_A "org_sub_003"
#define PROD_ORG_B "org_sub_004"

/* One stage, the e2e policy's short windows: a healthy staging rollout completes in a few
 * seconds of wall time. */
static const char manifest_fmt[] =
    "name: envs-routing\ntenant: e2e\nstages: [100]\napproval: none\n"
    "platform: {driver: genesys, api_url: \"%s\", login_url: \"%s\", credentials: env}\n"
    "environments:\n"
    "  staging:\n"
    "    vars: {LABEL: stg}\n"
    "    groups: [{name: stg, orgs: [" STAGING_ORG "]}]\n"
    "  production:\n"
    "    requires: {staging: completed, max_age: 7d}\n"
    "    vars: {LABEL: prod}\n"
    "    groups: [{name: prod, orgs: [" PROD_ORG_A ", " PROD_ORG_B "]}]\n"
    "change:\n  strategy: strat_main\n  watch_queues: [queue_global_001, queue_v2]\n"
    "  template:\n    name: \"Routing_v3-{{LABEL}}\"\n    targets:\n"
    "      - {type: Queue, id: queue_global_001, weight: %d, priority: 1}\n"
    "      - {type: Queue, id: queue_v2, weight: %d, priority: 1}\n";

typedef struct {
    rg_simproc sim;
    json_t *orgs;
    char dir[512], db[600], file[600];
    rg_store *store;
    rg_engine *engine;
} env_test;

static void write_manifest(env_test *t, int v2_weight)
{
    rg_buf m = RG_BUF_INIT;
    rg_buf_printf(&m, manifest_fmt, t->sim.url, t->sim.url, 100 - v2_weight, v2_weight);
    rg_buf_puts(&m, rg_e2e_policy);
    assert_int_equal(rg_test_write_file(t->file, rg_buf_cstr(&m)), 0);
    rg_buf_dispose(&m);
}

static rg_manifest *load_env(env_test *t, const char *env)
{
    rg_manifest_options opts = {NULL, 0, env};
    rg_manifest *m = NULL;
    if (rg_manifest_load_file(&m, t->file, &opts) < 0)
        fail_msg("%s", rg_error_last());
    return m;
}

static rg_rollout_state state_of(env_test *t, const char *id)
{
    rg_store_rollout row = {0};
    rg_rollout_state s = RG_ROLLOUT_RUNNING;
    if (rg_store_rollout_get(&row, t->store, "e2e", id) == 0)
        s = row.state;
    rg_store_rollout_dispose(&row);
    return s;
}

/* Ticks one rollout until it is terminal (bounded). */
static void drive(env_test *t, const char *id)
{
    for (int i = 0; i < 400 && !rg_rollout_state_is_terminal(state_of(t, id)); i++) {
        int64_t next = 0, wait;
        if (rg_engine_tick_rollout(t->engine, "e2e", id, &next) < 0)
            fail_msg("tick %s: %s", id, rg_error_last());
        wait = next - rg_time_now_ms();
        if (wait > 200)
            wait = 200;
        if (wait > 0) {
            struct timespec ts = {0, wait * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    assert_true(rg_rollout_state_is_terminal(state_of(t, id)));
}

static int run_cli(env_test *t, const char *args, char **out)
{
    char outp[700];
    rg_buf cmd = RG_BUF_INIT;
    int status;

    snprintf(outp, sizeof(outp), "%s/cli.out", t->dir);
    rg_buf_printf(&cmd, "'%s/cli/rollgate' %s --db '%s' >'%s' 2>&1", rg_test_binary_dir(), args,
                  t->db, outp);
    status = system(rg_buf_cstr(&cmd));
    rg_buf_dispose(&cmd);
    assert_true(status != -1 && WIFEXITED(status));
    *out = rg_test_read_file(outp, NULL);
    assert_non_null(*out);
    return WEXITSTATUS(status);
}

static json_t *live_body(env_test *t, const char *org)
{
    json_t *live = rg_e2e_live(&t->sim, org);
    assert_non_null(live);
    return live;
}

static int live_v2_weight(env_test *t, const char *org)
{
    json_t *live = live_body(t, org);
    int w = (int)json_integer_value(
        json_object_get(json_array_get(json_object_get(live, "targets"), 1), "weight"));
    json_decref(live);
    return w;
}

static void test_promotion_end_to_end(void **state)
{
    env_test t;
    rg_manifest *stg = NULL, *prod = NULL, *edited = NULL;
    char stg_id[RG_STORE_ROLLOUT_ID_LEN], prod_id[RG_STORE_ROLLOUT_ID_LEN];
    char stg2_id[RG_STORE_ROLLOUT_ID_LEN], forced_id[RG_STORE_ROLLOUT_ID_LEN];
    char d1[RG_MANIFEST_DIGEST_LEN], d2[RG_MANIFEST_DIGEST_LEN], args[2048];
    json_t *st = NULL, *doc = NULL, *log;
    char *out = NULL;
    int v2_before;
    (void)state;

    memset(&t, 0, sizeof(t));
    assert_int_equal(rg_simproc_start(&t.sim, "sim/scenarios/healthy.json"), 0);
    assert_int_equal(rg_e2e_credentials(&t.orgs, "sim/scenarios/healthy.json"), 0);
    assert_int_equal(rg_test_mkdtemp(t.dir, sizeof(t.dir)), 0);
    snprintf(t.db, sizeof(t.db), "%s/envs.db", t.dir);
    snprintf(t.file, sizeof(t.file), "%s/manifest.yaml", t.dir);
    {
        rg_engine_options opts;
        rg_engine_options_init(&opts);
        opts.tick_ms = 200;
        assert_int_equal(rg_store_open(&t.store, t.db), 0);
        assert_int_equal(rg_engine_new(&t.engine, t.store, &opts), 0);
    }
    write_manifest(&t, 100);
    v2_before = live_v2_weight(&t, PROD_ORG_A);
    stg = load_env(&t, "staging");
    prod = load_env(&t, "production");
    snprintf(d1, sizeof(d1), "%s", stg->digest);
    assert_string_equal(prod->digest, d1);

    /* Production before staging ran: refused, nothing written to a production org. */
    assert_int_equal(rg_engine_start(prod_id, t.engine, prod, t.dir, "rm", 1), RG_ECONFLICT);
    assert_non_null(strstr(rg_error_last(), "environment production requires staging completed"));
    assert_non_null(strstr(rg_error_last(), d1));
    assert_non_null(strstr(rg_error_last(), "no staging rollout of this digest"));
    /* The CLI says the same with exit 1. */
    snprintf(args, sizeof(args), "start '%s' --env production --approve", t.file);
    assert_int_equal(run_cli(&t, args, &out), 1);
    assert_non_null(strstr(out, "requires staging completed"));
    free(out);

    /* 1. Staging completes; production of the same digest is accepted. */
    assert_int_equal(rg_engine_start(stg_id, t.engine, stg, t.dir, "dev", 0), 0);
    drive(&t, stg_id);
    assert_int_equal(state_of(&t, stg_id), RG_ROLLOUT_COMPLETED);
    {
        json_t *live = live_body(&t, STAGING_ORG);
        assert_string_equal(json_string_value(json_object_get(live, "name")), "Routing_v3-stg");
        json_decref(live);
    }
    snprintf(args, sizeof(args), "may-promote %s --env production --tenant e2e", d1);
    assert_int_equal(run_cli(&t, args, &out), 0);
    free(out);

    /* 2. The file on disk changes (new digest): production from the file is refused, naming
     * the staging rollout that ran the other digest. */
    write_manifest(&t, 70);
    edited = load_env(&t, "production");
    snprintf(d2, sizeof(d2), "%s", edited->digest);
    assert_string_not_equal(d1, d2);
    assert_int_equal(rg_engine_start(prod_id, t.engine, edited, t.dir, "rm", 1), RG_ECONFLICT);
    assert_non_null(strstr(rg_error_last(), d2));
    assert_non_null(strstr(rg_error_last(), stg_id));
    assert_non_null(strstr(rg_error_last(), d1));
    /* plan --artifact shows how the file differs from what staging ran. */
    snprintf(args, sizeof(args), "plan '%s' --env production --artifact %s", t.file, stg_id);
    assert_int_equal(run_cli(&t, args, &out), 1);
    assert_non_null(strstr(out, "change.template.targets[1].weight: 100 -> 70"));
    free(out);

    /* 3. Promotion from the recorded artifact, not the edited file: production gets what
     * staging ran (weight 100 on queue_v2), with production's variables. */
    snprintf(args, sizeof(args), "promote-env %s --to production --approve --actor rm --json",
             stg_id);
    assert_int_equal(run_cli(&t, args, &out), 0);
    doc = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(doc);
    snprintf(prod_id, sizeof(prod_id), "%s", json_string_value(json_object_get(doc, "id")));
    assert_string_equal(json_string_value(json_object_get(doc, "digest")), d1);
    assert_string_equal(json_string_value(json_object_get(doc, "environment")), "production");
    json_decref(doc);
    drive(&t, prod_id);
    assert_int_equal(state_of(&t, prod_id), RG_ROLLOUT_COMPLETED);
    log = rg_e2e_requests(&t.sim);
    assert_true(rg_e2e_patches(log, PROD_ORG_A) >= 1);
    assert_true(rg_e2e_patches(log, PROD_ORG_B) >= 1);
    json_decref(log);
    assert_int_not_equal(v2_before, 100);
    assert_int_equal(live_v2_weight(&t, PROD_ORG_A), 100);
    assert_int_equal(live_v2_weight(&t, PROD_ORG_B), 100);
    {
        json_t *live = live_body(&t, PROD_ORG_B);
        assert_string_equal(json_string_value(json_object_get(live, "name")), "Routing_v3-prod");
        json_decref(live);
    }

    /* 4. Staging of the edited digest is rolled back: production refused, naming it. */
    rg_manifest_free(stg);
    stg = load_env(&t, "staging");
    assert_int_equal(rg_engine_start(stg2_id, t.engine, stg, t.dir, "dev", 0), 0);
    assert_int_equal(rg_engine_command(NULL, t.engine, "e2e", stg2_id, RG_COMMAND_ROLLBACK, "dev",
                                       "bad numbers", 0),
                     0);
    drive(&t, stg2_id);
    assert_true(state_of(&t, stg2_id) == RG_ROLLOUT_ROLLED_BACK);
    assert_int_equal(rg_engine_start(forced_id, t.engine, edited, t.dir, "rm", 1), RG_ECONFLICT);
    assert_non_null(strstr(rg_error_last(), stg2_id));
    assert_non_null(strstr(rg_error_last(), "is rolled_back"));
    snprintf(args, sizeof(args), "may-promote %s --env production --tenant e2e --json", d2);
    assert_int_equal(run_cli(&t, args, &out), 1);
    assert_non_null(strstr(out, stg2_id));
    free(out);

    /* 5. --force with a reason: accepted, audited, marked on the rollout and in the history. */
    snprintf(args, sizeof(args), "start '%s' --env production --force --actor rm", t.file);
    assert_int_equal(run_cli(&t, args, &out), 3); /* --force without --reason */
    free(out);
    snprintf(args, sizeof(args),
             "start '%s' --env production --force --reason 'hotfix INC-42' --actor rm --json",
             t.file);
    assert_int_equal(run_cli(&t, args, &out), 0);
    doc = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(doc);
    snprintf(forced_id, sizeof(forced_id), "%s", json_string_value(json_object_get(doc, "id")));
    assert_string_equal(json_string_value(json_object_get(doc, "forced_reason")), "hotfix INC-42");
    json_decref(doc);
    assert_int_equal(rg_engine_status_json(&st, t.engine, "e2e", forced_id), 0);
    assert_string_equal(json_string_value(json_object_get(st, "forced_reason")), "hotfix INC-42");
    assert_string_equal(json_string_value(json_object_get(st, "digest")), d2);
    json_decref(st);
    assert_int_equal(rg_engine_audit_json(&doc, t.engine, "e2e", forced_id), 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(doc, 0), "action")),
                        "force_environment");
    assert_string_equal(json_string_value(json_object_get(json_array_get(doc, 0), "reason")),
                        "hotfix INC-42");
    json_decref(doc);
    snprintf(args, sizeof(args), "status %s", forced_id);
    assert_int_equal(run_cli(&t, args, &out), 0);
    assert_non_null(strstr(out, "FORCED past its environment's requirements: hotfix INC-42"));
    assert_non_null(strstr(out, d2));
    free(out);
    snprintf(args, sizeof(args), "history %s --tenant e2e", d2);
    assert_int_equal(run_cli(&t, args, &out), 0);
    assert_non_null(strstr(out, stg2_id));
    assert_non_null(strstr(out, "rolled_back"));
    assert_non_null(strstr(out, "FORCED: hotfix INC-42"));
    free(out);
    /* list --digest: only this artifact's rollouts, the forced one marked. */
    snprintf(args, sizeof(args), "list --digest %s", d2);
    assert_int_equal(run_cli(&t, args, &out), 0);
    assert_non_null(strstr(out, forced_id));
    assert_non_null(strstr(out, stg2_id));
    assert_non_null(strstr(out, "FORCED: hotfix INC-42"));
    assert_null(strstr(out, d1)); /* never the first digest's rollouts */
    free(out);
    assert_int_equal(rg_engine_command(NULL, t.engine, "e2e", forced_id, RG_COMMAND_ROLLBACK, "rm",
                                       "test over", 0),
                     0);
    drive(&t, forced_id);

    /* The history of the first digest: staging then production, approvers named. */
    assert_int_equal(rg_engine_history_json(&doc, t.engine, "e2e", d1), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "rollouts")), 2);
    {
        json_t *p = json_array_get(json_object_get(doc, "rollouts"), 1);
        assert_string_equal(json_string_value(json_object_get(p, "environment")), "production");
        assert_string_equal(json_string_value(json_object_get(p, "state")), "completed");
        assert_string_equal(json_string_value(json_array_get(json_object_get(p, "approvers"), 0)),
                            "rm");
    }
    json_decref(doc);
    /* Another tenant sees nothing of it. */
    assert_int_equal(rg_engine_history_json(&doc, t.engine, "other", d1), RG_ENOTFOUND);

    rg_manifest_free(stg);
    rg_manifest_free(prod);
    rg_manifest_free(edited);
    rg_engine_free(t.engine);
    rg_store_free(t.store);
    rg_simproc_stop(&t.sim);
    json_decref(t.orgs);
    rg_test_rmtree(t.dir);
}

/* Bad input through the CLI: exit 3 with file:line:col. */
static void test_bad_input_exits_3(void **state)
{
    static const char *const cases[][3] = {
        {"good.yaml", "--env prod", "good.yaml:13:3: environments: unknown environment 'prod'"},
        {"cycle.yaml", "--env staging",
         "cycle.yaml:19:25: environments.production.requires."
         "staging: cycle in requires"},
        {"org_twice.yaml", "--env staging",
         "org_twice.yaml:23:63: environments.production."
         "groups[1].orgs[1]: org 'org_stg_1' is already "
         "listed in environment 'staging'"},
        {"missing_required.yaml", "--env production",
         "missing_required.yaml:18:20: environments.production.requires.qa: unknown "
         "environment 'qa'"},
        {"good.yaml", "", "good.yaml:13:3: environments: this manifest has environments"},
    };
    env_test t;
    char args[2048];
    char *out = NULL;
    (void)state;

    memset(&t, 0, sizeof(t));
    assert_int_equal(rg_test_mkdtemp(t.dir, sizeof(t.dir)), 0);
    snprintf(t.db, sizeof(t.db), "%s/bad.db", t.dir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int cmd = 0; cmd < 2; cmd++) {
            snprintf(args, sizeof(args), "%s '%s/tests/data/envs/%s' %s %s", cmd ? "start" : "plan",
                     rg_test_source_dir(), cases[i][0], cases[i][1], cmd ? "" : "--offline");
            if (run_cli(&t, args, &out) != 3 || strstr(out, cases[i][2]) == NULL)
                fail_msg("%s: want exit 3 with '%s', got: %s", args, cases[i][2], out);
            free(out);
        }
    }
    rg_test_rmtree(t.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input_exits_3),
        cmocka_unit_test(test_promotion_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
