/* test_e2e_versioned.c - whole rollouts of a versioned resource (an Architect IVR config)
 * against rollgate-sim's versioned scenario: healthy, a trip restoring the snapshot's fields, a
 * version made stale between rollgate's read and its PUT (409 and 400 "does not match the
 * current version") re-read and merged with the person's edit kept, a person's edit to a
 * changed field holding, and plan's findings. Every assertion on the platform side reads the
 * sim's state and request log */
#include <setjmp.h>
#include <pthread.h>
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

#define NORGS 3
#define IVR "ivr-main"
#define IVR_PATH "/api/v2/architect/ivrs/" IVR

static const char change_text[] = "change:\n"
                                  "  resource: {kind: versioned, path: " IVR_PATH "}\n"
                                  "  watch_queues: [q-main]\n"
                                  "  template:\n"
                                  "    openHoursFlow: {id: flow-open-v2, name: \"Open {{FLOW}}\"}\n"
                                  "    description: canary flow\n";

/* A strategy as the org's traffic source (the sim does not route calls by IVR config; rollgate
 * never asks for strategies). */
static void add_traffic(json_t *org)
{
    json_object_set_new(org, "strategies",
                        json_pack("[{s:s, s:s, s:f, s:{s:b}, s:[{s:s, s:s, s:i, s:i}]}]", "id",
                                  "strat_traffic", "name", "Traffic", "calls_per_min", 120.0,
                                  "settings", "enabled", 1, "targets", "type", "Queue", "id",
                                  "q-main", "weight", 100, "priority", 1));
}

typedef struct {
    rg_e2e e;
    json_t *seed; /* the scenario's IVR config as every org starts */
} vt;

static void sim_post(vt *d, const char *path, const char *body)
{
    if (rg_simproc_json(&d->e.sim, "POST", path, body, NULL) < 0)
        fail_msg("%s", rg_error_last());
}

/* The sim (sim/scenarios/versioned.json's first org NORGS times, `events` may be NULL),
 * credentials and manifest; the rollout starts unless `start` is 0. */
static void begin(vt *d, const char *change, const char *policy, const char *events,
                  const char *hook, int start)
{
    const rg_e2e_scenario sc = {"sim/scenarios/versioned.json", "ivr", NORGS, events, add_traffic};
    char scenario[700];
    json_t *first = NULL;
    rg_buf text = RG_BUF_INIT;

    memset(d, 0, sizeof(*d));
    assert_int_equal(rg_e2e_dir(&d->e), 0);
    snprintf(scenario, sizeof(scenario), "%s/scenario.json", d->e.dir);
    assert_int_equal(rg_e2e_write_scenario(&first, scenario, &sc), 0);
    d->seed = json_incref(json_array_get(json_object_get(first, "ivrs"), 0));
    json_decref(first);
    if (rg_e2e_sim(&d->e, scenario, hook) < 0)
        fail_msg("rollgate-sim: %s", rg_error_last());
    rg_buf_printf(&text,
                  "name: e2e-versioned\ntenant: e2e\nstages: [10, 50, 100]\n"
                  "approval: none\nplatform: {driver: genesys, api_url: \"%s\", "
                  "login_url: \"%s\", credentials: env}\ngroups:\n"
                  "  - {name: parent, orgs: [org_ivr_1], vars: {FLOW: v2}}\n"
                  "  - {name: region, depends_on: [parent], orgs: [org_ivr_2, org_ivr_3], "
                  "vars: {FLOW: v2}}\n%s%s",
                  d->e.sim.url, d->e.sim.url, change, policy);
    assert_int_equal(rg_test_write_file(d->e.manifest, rg_buf_cstr(&text)), 0);
    rg_buf_dispose(&text);
    if (start && rg_e2e_start(&d->e, 200) < 0)
        fail_msg("start: %s", rg_error_last());
}

static void end(vt *d)
{
    json_decref(d->seed);
    rg_e2e_end(&d->e);
}

static void run_to_end(rg_e2e *e)
{
    if (rg_e2e_run_to_end(e) < 0)
        fail_msg("rollout did not finish: %s", rg_error_last());
}

/* The org's IVR config entry in /sim/state ({id, version, body, writes, ...}; new ref). */
static json_t *sim_ivr(rg_e2e *e, const char *org)
{
    json_t *o = rg_e2e_sim_org(&e->sim, org), *v, *out = NULL;
    size_t k;

    assert_non_null(o);
    json_array_foreach(json_object_get(o, "ivrs"), k,
                       v) if (strcmp(json_string_value(json_object_get(v, "id")), IVR) == 0) out =
        json_incref(v);
    json_decref(o);
    assert_non_null(out);
    return out;
}

/* The org's answered requests on the IVR, as "METHOD STATUS" joined by spaces. */
static char *ivr_sequence(const json_t *log, const char *org)
{
    rg_buf seq = RG_BUF_INIT;
    size_t i;
    json_t *r;

    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        const char *o = json_string_value(json_object_get(r, "org"));
        const char *p = json_string_value(json_object_get(r, "path"));
        if (o && p && strcmp(o, org) == 0 && strcmp(p, IVR_PATH) == 0)
            rg_buf_printf(&seq, "%s%s %lld", seq.len ? " " : "",
                          json_string_value(json_object_get(r, "method")),
                          (long long)json_integer_value(json_object_get(r, "status")));
    }
    return rg_buf_detach(&seq);
}

static int count_puts(const json_t *log, const char *org, long status)
{
    return rg_e2e_count_requests(log, org, "PUT", IVR_PATH, status);
}

static void assert_no_strategy_requests(const json_t *log)
{
    if (rg_e2e_no_strategy_requests(log) < 0)
        fail_msg("%s", rg_error_last());
}

static const char *flow_id(const json_t *body)
{
    return json_string_value(json_object_get(json_object_get(body, "openHoursFlow"), "id"));
}

/* Every writable field of the seed but those the change sets is as it was. */
static void assert_others_kept(const json_t *body, const json_t *seed, const char *org)
{
    static const char *const fields[] = {"name", "dnis", "closedHoursFlow", NULL};
    for (size_t i = 0; fields[i]; i++)
        if (!json_equal(json_object_get(body, fields[i]), json_object_get(seed, fields[i])))
            fail_msg("%s: field %s changed", org, fields[i]);
}

/* 1. A healthy change completes: every org's IVR holds the template's fields (rendered), its
 * other fields as they were, one accepted PUT each (version 3 -> 4); no strategy is asked. */
static void test_healthy_sets_fields(void **state)
{
    vt d;
    json_t *log;
    (void)state;
    begin(&d, change_text, rg_e2e_fast_policy, NULL, NULL, 1);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_COMPLETED);
    log = rg_e2e_requests(&d.e.sim);
    assert_non_null(log);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        json_t *ivr, *body;
        snprintf(org, sizeof(org), "org_ivr_%d", i);
        ivr = sim_ivr(&d.e, org);
        body = json_object_get(ivr, "body");
        assert_string_equal(flow_id(body), "flow-open-v2");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(body, "openHoursFlow"), "name")),
            "Open v2");
        assert_string_equal(json_string_value(json_object_get(body, "description")), "canary flow");
        assert_others_kept(body, d.seed, org);
        assert_int_equal(json_integer_value(json_object_get(ivr, "version")), 4);
        assert_int_equal(json_integer_value(json_object_get(ivr, "writes")), 1);
        assert_int_equal(count_puts(log, org, 200), 1);
        json_decref(ivr);
    }
    assert_no_strategy_requests(log);
    json_decref(log);
    end(&d);
}

/* 2. A bad change trips. The sim does not route calls by IVR config, so the new flow's harm is
 * an event on the first stage's org from right after the start (before it, the pre-window is
 * clean; the post-window lies inside it): the breaker trips and the touched org's IVR is back
 * at its snapshot's fields (one PUT to apply, one to restore, version 5); the others were
 * never written. */
static void test_trip_restores_snapshot_fields(void **state)
{
    vt d;
    json_t *log, *ivr, *body;
    (void)state;
    begin(&d, change_text, rg_e2e_policy,
          "[{\"orgs\": [\"org_ivr_1\"], \"from_s\": 0.5, \"to_s\": 100000, "
          "\"abandon_mult\": 4.0, \"asa_add_s\": 30}]",
          NULL, 1);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_ROLLED_BACK);
    log = rg_e2e_requests(&d.e.sim);
    assert_non_null(log);
    ivr = sim_ivr(&d.e, "org_ivr_1");
    body = json_object_get(ivr, "body");
    assert_true(json_equal(json_object_get(body, "openHoursFlow"),
                           json_object_get(d.seed, "openHoursFlow")));
    assert_true(
        json_equal(json_object_get(body, "description"), json_object_get(d.seed, "description")));
    assert_others_kept(body, d.seed, "org_ivr_1");
    assert_int_equal(json_integer_value(json_object_get(ivr, "version")), 5);
    assert_int_equal(count_puts(log, "org_ivr_1", 200), 2);
    json_decref(ivr);
    for (int i = 2; i <= NORGS; i++) {
        char org[32];
        snprintf(org, sizeof(org), "org_ivr_%d", i);
        ivr = sim_ivr(&d.e, org);
        assert_string_equal(flow_id(json_object_get(ivr, "body")), "flow-open-v1");
        assert_int_equal(json_integer_value(json_object_get(ivr, "writes")), 0);
        json_decref(ivr);
    }
    assert_no_strategy_requests(log);
    json_decref(log);
    end(&d);
}

/* 3. A person renames the IVR right after rollgate's read (its snapshot): the PUT carrying
 * that read's version is refused (409, then with the platform's 400 wording), rollgate reads
 * again and PUTs the merge: the person's name survives, the change is set, one PUT was
 * accepted. */
static void stale_version_is_reread(const char *faults, const char *refused)
{
    vt d;
    json_t *log, *ivr, *body;
    char *seq, want[256];

    begin(&d, change_text, rg_e2e_fast_policy, NULL,
          "{\"org\":\"org_ivr_1\",\"on\":\"get\",\"ivr\":\"" IVR "\","
          "\"fields\":{\"name\":\"Main line (renamed by a person)\"}}",
          0);
    if (faults != NULL)
        sim_post(&d, "/sim/faults", faults);
    if (rg_e2e_start(&d.e, 200) < 0)
        fail_msg("start: %s", rg_error_last());
    if (rg_e2e_drive(&d.e, rg_e2e_stage_one_applied, 100) < 0)
        fail_msg("stage 1 not applied: %s", rg_error_last());
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_RUNNING);
    log = rg_e2e_requests(&d.e.sim);
    assert_non_null(log);
    seq = ivr_sequence(log, "org_ivr_1");
    /* snapshot read, the stale PUT refused, the re-read, the merged PUT, the read-back */
    snprintf(want, sizeof(want), "GET 200 PUT %s GET 200 PUT 200 GET 200", refused);
    assert_non_null(seq);
    if (strncmp(seq, want, strlen(want)) != 0)
        fail_msg("org_ivr_1 requests: '%s', want '%s'", seq, want);
    free(seq);
    ivr = sim_ivr(&d.e, "org_ivr_1");
    body = json_object_get(ivr, "body");
    assert_string_equal(json_string_value(json_object_get(body, "name")),
                        "Main line (renamed by a person)");
    assert_string_equal(flow_id(body), "flow-open-v2");
    assert_int_equal(json_integer_value(json_object_get(ivr, "hook_edits")), 1);
    assert_int_equal(json_integer_value(json_object_get(ivr, "writes")), 1);
    assert_int_equal(json_integer_value(json_object_get(ivr, "version")), 5);
    json_decref(ivr);
    assert_no_strategy_requests(log);
    json_decref(log);
    end(&d);
}

static void test_stale_version_409_is_reread(void **state)
{
    (void)state;
    stale_version_is_reread(NULL, "409");
}

static void test_stale_version_400_is_reread(void **state)
{
    (void)state;
    stale_version_is_reread("{\"version_conflict_status\": 400}", "400");
}

typedef struct {
    rg_engine *engine;
    const char *tenant, *id;
    int rc;
} driver;

static void *drive_once(void *arg)
{
    driver *a = arg;
    int64_t next = 0;
    a->rc = rg_engine_tick_rollout(a->engine, a->tenant, a->id, &next);
    return NULL;
}

/* 3b. As 3, but while the stale PUT is on its way (writes answered in 1.5 s) another host
 * takes the rollout over (issue 21: this host was paused past its lease): after the 409 the
 * re-read must not lead to a second PUT, since the rollout is no longer this host's. */
static void test_stale_version_after_a_takeover_is_not_written(void **state)
{
    vt d;
    driver a = {0};
    rg_store *a_store = NULL;
    rg_engine_options opts;
    pthread_t thread;
    json_t *log, *ivr;
    int held = 0, edits = 0;
    (void)state;

    begin(&d, change_text, rg_e2e_fast_policy, NULL,
          "{\"org\":\"org_ivr_1\",\"on\":\"get\",\"ivr\":\"" IVR "\","
          "\"fields\":{\"name\":\"Main line (renamed by a person)\"}}",
          1);
    assert_int_equal(rg_store_open(&a_store, d.e.db), 0);
    rg_engine_options_init(&opts);
    opts.tick_ms = 200;
    opts.owner = "elsewhere:1:1"; /* another machine: only the lease tells it is gone */
    assert_int_equal(rg_engine_new(&a.engine, a_store, &opts), 0);
    a.tenant = d.e.tenant;
    a.id = d.e.id;
    sim_post(&d, "/sim/faults", "{\"latency_ms\":1500,\"latency_on\":\"writes\"}");
    assert_int_equal(pthread_create(&thread, NULL, drive_once, &a), 0);
    /* the snapshot read was answered (the person's edit followed it): the PUT is stale */
    for (int i = 0; i < 250 && edits == 0; i++) {
        rg_e2e_sleep_ms(20);
        ivr = sim_ivr(&d.e, "org_ivr_1");
        edits = (int)json_integer_value(json_object_get(ivr, "hook_edits"));
        json_decref(ivr);
    }
    if (edits == 0) {
        pthread_join(thread, NULL);
        fail_msg("org_ivr_1 was never read");
    }
    assert_int_equal(rg_store_lease_take_over(&held, d.e.store, d.e.tenant, d.e.id, "b-host:2:2",
                                              "elsewhere:1:1", 0, 60000),
                     0);
    assert_int_equal(held, 1);
    pthread_join(thread, NULL);
    assert_int_equal(a.rc, 0); /* a lost lease is not an error of the tick */
    log = rg_e2e_requests(&d.e.sim);
    assert_non_null(log);
    if (count_puts(log, "org_ivr_1", 200) != 0)
        fail_msg("org_ivr_1: %d accepted PUTs after the takeover, want 0",
                 count_puts(log, "org_ivr_1", 200));
    ivr = sim_ivr(&d.e, "org_ivr_1");
    assert_int_equal(json_integer_value(json_object_get(ivr, "writes")), 0);
    json_decref(ivr);
    json_decref(log);
    rg_engine_free(a.engine);
    rg_store_free(a_store);
    end(&d);
}

/* 4. A person changes the open-hours flow (a field the change sets) right after rollgate's
 * read: the stale PUT is refused, the re-read shows the person's flow, and the rollout holds
 * naming the org and the field; the person's flow stays, no PUT was accepted. */
static void test_edit_of_changed_field_holds(void **state)
{
    vt d;
    json_t *log, *ivr;
    char *why;
    (void)state;
    begin(&d, change_text, rg_e2e_fast_policy, NULL,
          "{\"org\":\"org_ivr_1\",\"on\":\"get\",\"ivr\":\"" IVR "\","
          "\"fields\":{\"openHoursFlow\":{\"id\":\"flow-person\"}}}",
          1);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_HELD);
    why = rg_e2e_hold_reason(&d.e);
    assert_non_null(why);
    assert_non_null(strstr(why, "org_ivr_1"));
    assert_non_null(strstr(why, "openHoursFlow"));
    free(why);
    ivr = sim_ivr(&d.e, "org_ivr_1");
    assert_string_equal(flow_id(json_object_get(ivr, "body")), "flow-person");
    assert_int_equal(json_integer_value(json_object_get(ivr, "writes")), 0);
    json_decref(ivr);
    log = rg_e2e_requests(&d.e.sim);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        snprintf(org, sizeof(org), "org_ivr_%d", i);
        assert_int_equal(count_puts(log, org, 200), 0);
    }
    assert_int_equal(count_puts(log, "org_ivr_1", 409), 1);
    json_decref(log);
    end(&d);
}

static json_t *plan_of(vt *d, const char *change)
{
    json_t *plan = NULL;
    rg_buf text = RG_BUF_INIT;

    rg_buf_printf(&text,
                  "name: e2e-versioned\ntenant: e2e\nstages: [10, 50, 100]\n"
                  "approval: none\nplatform: {driver: genesys, api_url: \"%s\", "
                  "login_url: \"%s\", credentials: env}\ngroups:\n"
                  "  - {name: all, orgs: [org_ivr_1, org_ivr_2, org_ivr_3], vars: {FLOW: v2}}\n"
                  "%s%s",
                  d->e.sim.url, d->e.sim.url, change, rg_e2e_fast_policy);
    assert_int_equal(rg_test_write_file(d->e.manifest, rg_buf_cstr(&text)), 0);
    rg_buf_dispose(&text);
    if (rg_e2e_plan(&plan, &d->e) < 0)
        fail_msg("plan: %s", rg_error_last());
    return plan;
}

/* 5. plan passes the change with the live diff and blocks a missing IVR, a field the IVR does
 * not have and a value of another type, naming the org; it writes nothing. */
static void test_plan_findings(void **state)
{
    vt d;
    json_t *plan, *diff, *log;
    (void)state;
    begin(&d, change_text, rg_e2e_fast_policy, NULL, NULL, 0);
    plan = plan_of(&d, change_text);
    assert_false(json_is_true(json_object_get(plan, "blocked")));
    assert_int_equal(json_array_size(json_object_get(plan, "findings")), 0);
    diff = json_object_get(json_array_get(json_object_get(plan, "targets"), 0), "diff");
    assert_int_equal(json_array_size(diff), 2);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(plan, "targets"), 0), "live_version")),
                     3);
    json_decref(plan);
    plan = plan_of(&d, "change:\n  resource: {kind: versioned, path: /api/v2/architect/ivrs/nope}\n"
                       "  watch_queues: [q-main]\n  template: {description: x}\n");
    assert_true(json_is_true(json_object_get(plan, "blocked")));
    assert_int_equal(
        rg_e2e_findings_with(plan, "does not exist", "Unable to find an IVR config", "org_ivr_"),
        NORGS);
    json_decref(plan);
    plan = plan_of(&d, "change:\n  resource: {kind: versioned, path: " IVR_PATH "}\n"
                       "  watch_queues: [q-main]\n"
                       "  template: {holidayHoursFlow: {id: f}, description: [x]}\n");
    assert_true(json_is_true(json_object_get(plan, "blocked")));
    assert_int_equal(rg_e2e_findings_with(plan, "no field 'holidayHoursFlow'", NULL, "org_ivr_"),
                     NORGS);
    assert_int_equal(
        rg_e2e_findings_with(plan, "field 'description' holds a string", "array", "org_ivr_"),
        NORGS);
    json_decref(plan);
    log = rg_e2e_requests(&d.e.sim);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        snprintf(org, sizeof(org), "org_ivr_%d", i);
        assert_int_equal(count_puts(log, org, 200), 0);
    }
    assert_no_strategy_requests(log);
    json_decref(log);
    end(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy_sets_fields),
        cmocka_unit_test(test_trip_restores_snapshot_fields),
        cmocka_unit_test(test_stale_version_409_is_reread),
        cmocka_unit_test(test_stale_version_400_is_reread),
        cmocka_unit_test(test_stale_version_after_a_takeover_is_not_written),
        cmocka_unit_test(test_edit_of_changed_field_holds),
        cmocka_unit_test(test_plan_findings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
