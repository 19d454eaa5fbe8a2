/* test_e2e_cxone.c - whole rollouts on NICE CXone brands against rollgate-sim speaking CXone:
 * the weight store (a JSON document in a skill's field, read-compare-write-verify like a
 * data-table row) changed brand by brand, judged by skill summaries. A healthy change
 * completes; a bad one trips and every brand's store equals its snapshot. Assertions read the
 * sim's state and request log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/testutil.h"

#define NBRANDS 3
#define STORE "9000"
#define ROW "main"
#define STORE_PATH "/incontactapi/services/v31.0/skills/" STORE

static const char healthy_change[] =
    "change:\n"
    "  resource: {kind: datatable_row, datatable: \"" STORE "\", row: " ROW "}\n"
    "  watch_queues: [\"101\", \"102\"]\n"
    "  template: {queue_a: \"101\", weight_a: 0, queue_b: \"102\", weight_b: 100}\n"
    "  weights: {weight_a: queue_a, weight_b: queue_b}\n";

static const char bad_change[] =
    "change:\n"
    "  resource: {kind: datatable_row, datatable: \"" STORE "\", row: " ROW "}\n"
    "  watch_queues: [\"101\", \"103\"]\n"
    "  template: {queue_a: \"101\", weight_a: 0, queue_b: \"103\", weight_b: 100}\n"
    "  weights: {weight_a: queue_a, weight_b: queue_b}\n";

static const char skill_change[] =
    "change:\n"
    "  resource: {kind: versioned, path: /skills/101}\n"
    "  watch_queues: [\"101\", \"102\"]\n"
    "  template: {serviceLevelThreshold: 30, serviceLevelGoal: 90}\n";

static json_t *queue(const char *id, double abandon_p, double asa_s)
{
    return json_pack("{s:s,s:s,s:i,s:f,s:f,s:f,s:{s:i,s:i,s:b}}", "id", id, "name", id, "agents",
                     200, "abandon_p", abandon_p, "asa_s", asa_s, "handle_s", 120.0, "skill",
                     "serviceLevelThreshold", 20, "serviceLevelGoal", 80, "enableShortAbandon", 1);
}

static json_t *seed_row(void)
{
    return json_pack("{s:s,s:s,s:i,s:s,s:i,s:s}", "key", ROW, "queue_a", "101", "weight_a", 100,
                     "queue_b", "102", "weight_b", 0, "note", "seed");
}

static void brand_id(char *out, size_t n, int i)
{
    snprintf(out, n, "tenant-cx-%d", i);
}

static int write_scenario(const char *path)
{
    json_t *orgs = json_array(), *doc;
    int rc;

    for (int i = 1; i <= NBRANDS; i++) {
        char id[32], v[64];
        json_t *o;
        brand_id(id, sizeof(id), i);
        o = json_pack("{s:s,s:s,s:[o,o,o],s:[{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s},s:[o]}],"
                      "s:{s:s,s:s,s:i,s:{s:s,s:s}}}",
                      "id", id, "driver", "cxone", "queues", queue("101", 0.05, 20),
                      queue("102", 0.05, 20), queue("103", 0.6, 90), "datatables", "id", STORE,
                      "name", "Weight store", "columns", "queue_a", "string", "weight_a", "integer",
                      "queue_b", "string", "weight_b", "integer", "note", "string", "rows",
                      seed_row(), "routing", "datatable", STORE, "row", ROW, "calls_per_min", 120,
                      "weights", "weight_a", "queue_a", "weight_b", "queue_b");
        snprintf(v, sizeof(v), "app-%d", i);
        json_object_set_new(o, "client_id", json_string(v));
        snprintf(v, sizeof(v), "app-secret-%d", i);
        json_object_set_new(o, "client_secret", json_string(v));
        snprintf(v, sizeof(v), "ak-%d", i);
        json_object_set_new(o, "access_key_id", json_string(v));
        snprintf(v, sizeof(v), "ak secret/+%d", i); /* form-encoded on the way */
        json_object_set_new(o, "access_key_secret", json_string(v));
        json_array_append_new(orgs, o);
    }
    doc =
        json_pack("{s:i,s:f,s:i,s:{s:i,s:i},s:o}", "seed", 22, "time_scale", 1200.0, "token_ttl_s",
                  86400, "rate_limit", "allowed", 100000, "window_s", 60, "orgs", orgs);
    rc = json_dump_file(doc, path, JSON_INDENT(1));
    json_decref(doc);
    return rc;
}

/* Skill 101's settings as the sim holds them (new reference). */
static json_t *skill_settings(rg_e2e *e, const char *brand)
{
    json_t *st = NULL, *o, *out = NULL;
    size_t i;

    assert_int_equal(rg_simproc_state(&e->sim, &st), 0);
    json_array_foreach(json_object_get(st, "orgs"), i, o)
    {
        json_t *q;
        size_t k;
        if (strcmp(json_string_value(json_object_get(o, "id")), brand) != 0)
            continue;
        json_array_foreach(json_object_get(o, "queues"), k,
                           q) if (strcmp(json_string_value(json_object_get(q, "id")), "101") == 0)
            out = json_incref(json_object_get(q, "skill"));
    }
    json_decref(st);
    assert_non_null(out);
    return out;
}

static void set_credentials(void)
{
    for (int i = 1; i <= NBRANDS; i++) {
        char id[32], name[128], v[64];
        brand_id(id, sizeof(id), i);
        rg_platform_env_name(name, sizeof(name), id, "CLIENT_ID");
        snprintf(v, sizeof(v), "app-%d", i);
        setenv(name, v, 1);
        rg_platform_env_name(name, sizeof(name), id, "CLIENT_SECRET");
        snprintf(v, sizeof(v), "app-secret-%d", i);
        setenv(name, v, 1);
        rg_platform_env_name(name, sizeof(name), id, "ACCESS_KEY_ID");
        snprintf(v, sizeof(v), "ak-%d", i);
        setenv(name, v, 1);
        rg_platform_env_name(name, sizeof(name), id, "ACCESS_KEY_SECRET");
        snprintf(v, sizeof(v), "ak secret/+%d", i);
        setenv(name, v, 1);
    }
}

static void begin(rg_e2e *e, const char *change)
{
    char scenario[700];
    rg_buf m = RG_BUF_INIT;
    rg_engine_options opts;
    rg_manifest *man = NULL;

    memset(e, 0, sizeof(*e));
    assert_int_equal(rg_test_mkdtemp(e->dir, sizeof(e->dir)), 0);
    snprintf(scenario, sizeof(scenario), "%s/scenario.json", e->dir);
    assert_int_equal(write_scenario(scenario), 0);
    if (rg_simproc_start(&e->sim, scenario) < 0)
        fail_msg("cannot start rollgate-sim: %s", rg_error_last());
    set_credentials();
    snprintf(e->db, sizeof(e->db), "%s/e2e.db", e->dir);
    snprintf(e->manifest, sizeof(e->manifest), "%s/manifest.yaml", e->dir);
    snprintf(e->tenant, sizeof(e->tenant), "e2e");
    rg_buf_printf(&m,
                  "name: e2e-cxone\ntenant: e2e\nstages: [10, 50, 100]\napproval: none\n"
                  "platform: {driver: cxone, api_url: \"%s\", login_url: \"%s\", "
                  "credentials: env, rate_budget: 6000}\ngroups:\n"
                  "  - {name: parent, orgs: [tenant-cx-1]}\n"
                  "  - {name: region, depends_on: [parent], orgs: [tenant-cx-2, tenant-cx-3]}\n",
                  e->sim.url, e->sim.url);
    rg_buf_puts(&m, change);
    rg_buf_puts(&m, rg_e2e_policy);
    assert_int_equal(rg_test_write_file(e->manifest, rg_buf_cstr(&m)), 0);
    rg_buf_dispose(&m);
    if (rg_manifest_load_file(&man, e->manifest, NULL) < 0)
        fail_msg("manifest: %s", rg_error_last());
    rg_engine_options_init(&opts);
    opts.tick_ms = 200;
    assert_int_equal(rg_store_open(&e->store, e->db), 0);
    assert_int_equal(rg_engine_new(&e->engine, e->store, &opts), 0);
    if (rg_engine_start(e->id, e->engine, man, e->dir, "e2e", 1) < 0)
        fail_msg("start: %s", rg_error_last());
    rg_manifest_free(man);
}

static void run_to_end(rg_e2e *e)
{
    rg_store_rollout row = {0};

    if (rg_e2e_drive(e, rg_e2e_finished, 400) < 0)
        fail_msg("rollout did not finish: %s", rg_error_last());
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0 && row.hold_reason)
        fprintf(stderr, "rollout %s: %s: %s\n", e->id, rg_rollout_state_to_str(rg_e2e_state(e)),
                row.hold_reason);
    rg_store_rollout_dispose(&row);
}

/* The brand's routing row as the sim holds it (new reference). */
static json_t *store_row(rg_e2e *e, const char *brand)
{
    json_t *st = NULL, *o, *out = NULL;
    size_t i;

    assert_int_equal(rg_simproc_state(&e->sim, &st), 0);
    json_array_foreach(json_object_get(st, "orgs"), i, o)
    {
        json_t *rows, *r;
        size_t k;
        if (strcmp(json_string_value(json_object_get(o, "id")), brand) != 0)
            continue;
        rows = json_object_get(json_array_get(json_object_get(o, "datatables"), 0), "rows");
        json_array_foreach(rows, k, r) if (json_is_true(json_object_get(r, "routing"))) out =
            json_incref(json_object_get(r, "fields"));
    }
    json_decref(st);
    assert_non_null(out);
    return out;
}

/* Answered requests of `method` whose path starts with `prefix`, for the brand. */
static int requests(const json_t *log, const char *brand, const char *method, const char *prefix)
{
    size_t i;
    json_t *r;
    int n = 0;

    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        const char *o = json_string_value(json_object_get(r, "org"));
        const char *p = json_string_value(json_object_get(r, "path"));
        n += o && p && strcmp(o, brand) == 0 && strncmp(p, prefix, strlen(prefix)) == 0 &&
             strcmp(json_string_value(json_object_get(r, "method")), method) == 0 &&
             json_integer_value(json_object_get(r, "status")) == 200;
    }
    return n;
}

static void assert_cxone_only(const json_t *log)
{
    size_t i;
    json_t *r;

    assert_true(json_array_size(json_object_get(log, "requests")) > 0);
    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        const char *p = json_string_value(json_object_get(r, "path"));
        if (p && strncmp(p, "/api/", 5) == 0)
            fail_msg("a Genesys request %s to a CXone brand", p);
    }
}

/* 1. A healthy change completes: every brand's store row is the template (its other fields as
 * they were), after one PUT of the store skill per brand; every brand signed in with the
 * password grant and discovered its API base; telemetry came from skill summaries. */
static void test_healthy_completes(void **state)
{
    rg_e2e e;
    json_t *log, *want = seed_row();
    (void)state;
    begin(&e, healthy_change);
    run_to_end(&e);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_COMPLETED);
    json_object_update_new(want, json_pack("{s:s,s:i,s:s,s:i}", "queue_a", "101", "weight_a", 0,
                                           "queue_b", "102", "weight_b", 100));
    assert_non_null(log = rg_e2e_requests(&e.sim));
    for (int i = 1; i <= NBRANDS; i++) {
        char brand[32];
        json_t *live;
        brand_id(brand, sizeof(brand), i);
        live = store_row(&e, brand);
        if (!json_equal(live, want))
            fail_msg("%s: the store row is not the change", brand);
        assert_int_equal(requests(log, brand, "PUT", STORE_PATH), 1);
        assert_true(requests(log, brand, "POST", "/auth/token") >= 1);
        assert_true(requests(log, brand, "GET", "/.well-known/cxone-configuration") >= 1);
        assert_true(requests(log, brand, "GET", "/incontactapi/services/v31.0/skills/summary") > 1);
        json_decref(live);
    }
    assert_cxone_only(log);
    json_decref(log);
    json_decref(want);
    rg_e2e_end(&e);
}

/* 2. A bad change trips: every brand's store row equals its pre-change row field for field;
 * a touched brand saw one PUT to apply and one to restore, an untouched one none. */
static void test_bad_change_trips_and_restores(void **state)
{
    rg_e2e e;
    json_t *log, *seed = seed_row();
    int touched = 0;
    (void)state;
    begin(&e, bad_change);
    run_to_end(&e);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLED_BACK);
    assert_non_null(log = rg_e2e_requests(&e.sim));
    for (int i = 1; i <= NBRANDS; i++) {
        char brand[32];
        json_t *live;
        int puts;
        brand_id(brand, sizeof(brand), i);
        live = store_row(&e, brand);
        if (!json_equal(live, seed))
            fail_msg("%s: the store row is not its snapshot", brand);
        puts = requests(log, brand, "PUT", STORE_PATH);
        assert_true(puts == 0 || puts == 2);
        touched += puts == 2;
        json_decref(live);
    }
    assert_true(touched >= 1);
    assert_cxone_only(log);
    json_decref(log);
    json_decref(seed);
    rg_e2e_end(&e);
}

#define SKILL_PATH "/incontactapi/services/v31.0/skills/101"

/* 3. Skill settings through GET/PUT /skills/{id}: a healthy change completes with one PUT
 * per brand and the settings read back as intended, the skill's other settings kept. */
static void test_skill_settings_complete(void **state)
{
    rg_e2e e;
    json_t *log, *want;
    (void)state;
    begin(&e, skill_change);
    run_to_end(&e);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_COMPLETED);
    want = json_pack("{s:i,s:i,s:b}", "serviceLevelThreshold", 30, "serviceLevelGoal", 90,
                     "enableShortAbandon", 1);
    assert_non_null(log = rg_e2e_requests(&e.sim));
    for (int i = 1; i <= NBRANDS; i++) {
        char brand[32];
        json_t *live;
        brand_id(brand, sizeof(brand), i);
        live = skill_settings(&e, brand);
        json_object_del(live, "skillName"); /* the PUT carries the skill as read */
        json_object_del(live, "mediaTypeId");
        json_object_del(live, "mediaTypeName");
        json_object_del(live, "isActive");
        if (!json_equal(live, want))
            fail_msg("%s: skill 101 is not the change", brand);
        assert_int_equal(requests(log, brand, "PUT", SKILL_PATH), 1);
        assert_int_equal(requests(log, brand, "PUT", STORE_PATH), 0);
        json_decref(live);
    }
    assert_cxone_only(log);
    json_decref(log);
    json_decref(want);
    rg_e2e_end(&e);
}

static int stage_one_applied(rg_e2e *e)
{
    return rg_e2e_stage_one_applied(e);
}

/* 4. A rollback after stage 1 restores the touched brand's skill from its snapshot (one
 * restore PUT); the untouched brands saw no PUT at all. */
static void test_skill_rollback_restores(void **state)
{
    rg_e2e e;
    json_t *log;
    char *outcome = NULL;
    int touched = 0;
    (void)state;
    begin(&e, skill_change);
    if (rg_e2e_drive(&e, stage_one_applied, 400) < 0)
        fail_msg("stage 1 was not applied: %s", rg_error_last());
    assert_int_equal(rg_engine_command(&outcome, e.engine, e.tenant, e.id, RG_COMMAND_ROLLBACK,
                                       "alice", "cxone restore test", 0),
                     0);
    free(outcome);
    run_to_end(&e);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_ROLLED_BACK);
    assert_non_null(log = rg_e2e_requests(&e.sim));
    for (int i = 1; i <= NBRANDS; i++) {
        char brand[32];
        json_t *live;
        int puts;
        brand_id(brand, sizeof(brand), i);
        live = skill_settings(&e, brand);
        assert_int_equal(json_integer_value(json_object_get(live, "serviceLevelThreshold")), 20);
        assert_int_equal(json_integer_value(json_object_get(live, "serviceLevelGoal")), 80);
        puts = requests(log, brand, "PUT", SKILL_PATH);
        assert_true(puts == 0 || puts == 2);
        touched += puts == 2;
        json_decref(live);
    }
    assert_true(touched >= 1);
    json_decref(log);
    rg_e2e_end(&e);
}

/* ---- a manifest mixing Genesys orgs and CXone brands ---- */

static const char mixed_manifest[] =
    "name: e2e-mixed\ntenant: e2e\nstages: [10, 50, 100]\napproval: none\n"
    "platform:\n  driver: genesys\n  api_url: \"%s\"\n  login_url: \"%s\"\n"
    "  credentials: env\n"
    "  cxone: {api_url: \"%s\", login_url: \"%s\", weight_store: \"" STORE "\", "
    "rate_budget: 6000}\n"
    "groups:\n"
    "  - {name: genesys, orgs: [org_dt_1, org_dt_2], vars: {QA: q-main, QB: \"%s\"}}\n"
    "  - name: brands\n    depends_on: [genesys]\n"
    "    orgs: [{id: tenant-cx-1, driver: cxone}, {id: tenant-cx-2, driver: cxone}]\n"
    "    vars: {QA: \"101\", QB: \"%s\"}\n"
    "change:\n"
    "  resource: {kind: datatable_row, datatable: dt-routing, row: " ROW "}\n"
    "  template: {queue_a: \"{{QA}}\", weight_a: 0, queue_b: \"{{QB}}\", weight_b: 100}\n"
    "  weights: {weight_a: queue_a, weight_b: queue_b}\n";

/* sim/scenarios/datatable.json's first two orgs beside two CXone brands. */
static void write_mixed_scenario(const char *path)
{
    char src[1024];
    json_t *doc, *orgs, *first;

    rg_test_path(src, sizeof(src), "sim/scenarios/datatable.json");
    assert_non_null(doc = json_load_file(src, 0, NULL));
    json_object_set_new(doc, "time_scale", json_real(1200));
    json_object_set_new(doc, "token_ttl_s", json_integer(86400));
    json_object_set_new(doc, "rate_limit",
                        json_pack("{s:i,s:i}", "allowed", 100000, "window_s", 60));
    orgs = json_object_get(doc, "orgs");
    first = json_deep_copy(json_array_get(orgs, 0));
    json_array_clear(orgs);
    for (int i = 1; i <= 2; i++) {
        json_t *o = json_deep_copy(first);
        char v[32];
        snprintf(v, sizeof(v), "org_dt_%d", i);
        json_object_set_new(o, "id", json_string(v));
        snprintf(v, sizeof(v), "cid-dt-%d", i);
        json_object_set_new(o, "client_id", json_string(v));
        snprintf(v, sizeof(v), "secret-dt-%d", i);
        json_object_set_new(o, "client_secret", json_string(v));
        json_array_append_new(orgs, o);
    }
    json_decref(first);
    {
        char tmp[800];
        json_t *cx;
        snprintf(tmp, sizeof(tmp), "%s.cx", path);
        assert_int_equal(write_scenario(tmp), 0);
        assert_non_null(cx = json_load_file(tmp, 0, NULL));
        for (int i = 0; i < 2; i++)
            json_array_append(orgs, json_array_get(json_object_get(cx, "orgs"), (size_t)i));
        json_decref(cx);
    }
    assert_int_equal(json_dump_file(doc, path, JSON_INDENT(1)), 0);
    json_decref(doc);
}

static void begin_mixed(rg_e2e *e, const char *genesys_b, const char *cxone_b)
{
    char scenario[700];
    rg_buf m = RG_BUF_INIT;
    rg_engine_options opts;
    rg_manifest *man = NULL;
    json_t *orgs = NULL;

    memset(e, 0, sizeof(*e));
    assert_int_equal(rg_test_mkdtemp(e->dir, sizeof(e->dir)), 0);
    snprintf(scenario, sizeof(scenario), "%s/scenario.json", e->dir);
    write_mixed_scenario(scenario);
    if (rg_simproc_start(&e->sim, scenario) < 0)
        fail_msg("cannot start rollgate-sim: %s", rg_error_last());
    assert_int_equal(rg_e2e_credentials(&orgs, scenario), 0);
    json_decref(orgs);
    set_credentials();
    snprintf(e->db, sizeof(e->db), "%s/e2e.db", e->dir);
    snprintf(e->manifest, sizeof(e->manifest), "%s/manifest.yaml", e->dir);
    snprintf(e->tenant, sizeof(e->tenant), "e2e");
    rg_buf_printf(&m, mixed_manifest, e->sim.url, e->sim.url, e->sim.url, e->sim.url, genesys_b,
                  cxone_b);
    rg_buf_puts(&m, rg_e2e_policy);
    assert_int_equal(rg_test_write_file(e->manifest, rg_buf_cstr(&m)), 0);
    rg_buf_dispose(&m);
    if (rg_manifest_load_file(&man, e->manifest, NULL) < 0)
        fail_msg("manifest: %s", rg_error_last());
    rg_engine_options_init(&opts);
    opts.tick_ms = 200;
    assert_int_equal(rg_store_open(&e->store, e->db), 0);
    assert_int_equal(rg_engine_new(&e->engine, e->store, &opts), 0);
    if (rg_engine_start(e->id, e->engine, man, e->dir, "e2e", 1) < 0)
        fail_msg("start: %s", rg_error_last());
    rg_manifest_free(man);
}

/* 5. One manifest, Genesys orgs first, CXone brands after: every org's row changes on its
 * own platform (the data-table row PUT for Genesys, the store skill PUT for CXone), once. */
static void test_mixed_manifest_completes(void **state)
{
    static const char *const orgs[] = {"org_dt_1", "org_dt_2", "tenant-cx-1", "tenant-cx-2"};
    rg_e2e e;
    json_t *log;
    (void)state;
    begin_mixed(&e, "q-v2", "102");
    run_to_end(&e);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_COMPLETED);
    assert_non_null(log = rg_e2e_requests(&e.sim));
    for (size_t i = 0; i < 4; i++) {
        int cx = i >= 2;
        json_t *live = store_row(&e, orgs[i]);
        assert_string_equal(json_string_value(json_object_get(live, "queue_b")),
                            cx ? "102" : "q-v2");
        assert_int_equal(json_integer_value(json_object_get(live, "weight_b")), 100);
        assert_int_equal(json_integer_value(json_object_get(live, "weight_a")), 0);
        assert_int_equal(
            requests(log, orgs[i], "PUT",
                     cx ? STORE_PATH : "/api/v2/flows/datatables/dt-routing/rows/main"),
            1);
        assert_int_equal(requests(log, orgs[i], "POST", cx ? "/oauth/token" : "/auth/token"), 0);
        json_decref(live);
    }
    json_decref(log);
    rg_e2e_end(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy_completes),
        cmocka_unit_test(test_bad_change_trips_and_restores),
        cmocka_unit_test(test_skill_settings_complete),
        cmocka_unit_test(test_skill_rollback_restores),
        cmocka_unit_test(test_mixed_manifest_completes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
