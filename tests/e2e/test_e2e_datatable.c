/* test_e2e_datatable.c - whole rollouts of an Architect data-table row against rollgate-sim in
 * data-table mode (no strategies at all): healthy, bad, a person's edit between rollgate's
 * read and its write, a writer right after its PUT, a lost PUT reply, capacity weight columns
 * and the capacity floor, a rollback keeping a later edit, kills between durable steps, the
 * row's claim, plan's findings, and a missing row created under create: true (deleted by
 * its rollback). Every assertion on the platform side reads the sim's state,
 * /sim/writes and request log */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/testutil.h"

#define NORGS 4
#define TABLE "dt-routing"
#define ROW "main"

static const char healthy_change[] =
    "change:\n"
    "  resource: {kind: datatable_row, datatable: " TABLE ", row: " ROW "}\n"
    "  watch_queues: [q-main, q-v2]\n"
    "  template: {queue_a: q-main, weight_a: 0, queue_b: \"{{NEW_QUEUE}}\", weight_b: 100}\n"
    "  weights: {weight_a: queue_a, weight_b: queue_b}\n";

static const char bad_change[] =
    "change:\n"
    "  resource: {kind: datatable_row, datatable: " TABLE ", row: " ROW "}\n"
    "  watch_queues: [q-main, q-bad]\n"
    "  template: {queue_a: q-main, weight_a: 0, queue_b: q-bad, weight_b: 100}\n"
    "  weights: {weight_a: queue_a, weight_b: queue_b}\n";

/* For tests about the writes rather than the gate: short soaks, a tolerance no healthy change
 * can cross (so short windows never trip by chance), and an inconclusive look promotes
 * (test_healthy_completes and the bad change keep the e2e policy). */
static const char fast_policy[] =
    "policy:\n"
    "  alpha: 0.05\n  sequential: group\n  stabilization_window: 2s\n  soak_limit: 4s\n"
    "  poll_interval: 1s\n  granularity: PT1S\n  settle: 1s\n  pre_window: 60s\n"
    "  breaker: {consecutive: 2}\n  on_inconclusive: promote\n  errors: {limit: 3}\n"
    "  verify_window: 2s\n  capacity: {min_ratio: 0.8}\n  metrics:\n"
    "    - {name: abandonment_rate, kind: proportion, events: tAbandon, trials: nOffered,\n"
    "       increase_is_bad: true, tolerance: {relative: 5.0}}\n";
static const char *policy_text = fast_policy;

/* Agents on q-v2 in every org, and the scenario's events (the capacity tests set them). */
static int v2_agents = 200;
static const char *scenario_events = NULL;

static void set_v2_agents(json_t *org)
{
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(org, "queues"), i,
                       q) if (strcmp(json_string_value(json_object_get(q, "id")), "q-v2") == 0)
        json_object_set_new(q, "agents", json_integer(v2_agents));
}

static void write_manifest(const char *path, const char *url, const char *change)
{
    rg_buf m = RG_BUF_INIT;

    rg_buf_printf(&m,
                  "name: e2e-datatable\ntenant: e2e\nstages: [10, 50, 100]\n"
                  "approval: none\nplatform: {driver: genesys, api_url: \"%s\", "
                  "login_url: \"%s\", credentials: env}\ngroups:\n"
                  "  - {name: parent, orgs: [org_dt_1], vars: {NEW_QUEUE: q-v2}}\n"
                  "  - {name: region, depends_on: [parent], orgs: [org_dt_2, org_dt_3, "
                  "org_dt_4], vars: {NEW_QUEUE: q-v2}}\n",
                  url, url);
    rg_buf_puts(&m, change);
    rg_buf_puts(&m, policy_text);
    assert_int_equal(rg_test_write_file(path, rg_buf_cstr(&m)), 0);
    rg_buf_dispose(&m);
}

typedef struct {
    rg_e2e e;
    json_t *seed; /* the scenario's row, as every org starts */
} dt;

/* The sim (sim/scenarios/datatable.json's first org NORGS times), credentials and manifest;
 * the rollout starts unless `start` is 0. */
static void begin(dt *d, const char *change, const char *hook, int start)
{
    const rg_e2e_scenario sc = {"sim/scenarios/datatable.json", "dt", NORGS, scenario_events,
                                set_v2_agents};
    char scenario[700];
    json_t *first = NULL;

    memset(d, 0, sizeof(*d));
    assert_int_equal(rg_e2e_dir(&d->e), 0);
    snprintf(scenario, sizeof(scenario), "%s/scenario.json", d->e.dir);
    assert_int_equal(rg_e2e_write_scenario(&first, scenario, &sc), 0);
    d->seed = json_incref(json_array_get(
        json_object_get(json_array_get(json_object_get(first, "datatables"), 0), "rows"), 0));
    json_decref(first);
    if (rg_e2e_sim(&d->e, scenario, hook) < 0)
        fail_msg("rollgate-sim: %s", rg_error_last());
    write_manifest(d->e.manifest, d->e.sim.url, change);
    if (start && rg_e2e_start(&d->e, 200) < 0)
        fail_msg("start: %s", rg_error_last());
}

static void end(dt *d)
{
    json_decref(d->seed);
    rg_e2e_end(&d->e);
}

static void run_to_end(rg_e2e *e)
{
    if (rg_e2e_run_to_end(e) < 0)
        fail_msg("rollout did not finish: %s", rg_error_last());
}

static void assert_no_strategy_requests(const json_t *log)
{
    if (rg_e2e_no_strategy_requests(log) < 0)
        fail_msg("%s", rg_error_last());
}

/* The org's row `key` (NULL: the routing row) as the sim holds it (new reference), or NULL
 * when there is none. */
static json_t *sim_row_by_key(rg_e2e *e, const char *org, const char *key)
{
    json_t *o = rg_e2e_sim_org(&e->sim, org), *r, *out = NULL;
    size_t k;

    assert_non_null(o);
    json_array_foreach(json_object_get(json_array_get(json_object_get(o, "datatables"), 0), "rows"),
                       k, r)
    {
        json_t *f = json_object_get(r, "fields");
        if (key == NULL ? json_is_true(json_object_get(r, "routing"))
                        : strcmp(json_string_value(json_object_get(f, "key")), key) == 0)
            out = json_incref(f);
    }
    json_decref(o);
    return out;
}

/* The org's routing row as the sim holds it (new reference). */
static json_t *sim_row(rg_e2e *e, const char *org)
{
    json_t *out = sim_row_by_key(e, org, NULL);
    assert_non_null(out);
    return out;
}

/* Answered requests of `method` on the org's row in the sim's log. */
static int row_requests(const json_t *log, const char *org, const char *method)
{
    return rg_e2e_count_requests(log, org, method,
                                 "/api/v2/flows/datatables/" TABLE "/rows/" ROW "*", 200);
}

static void assert_rows_equal(const json_t *live, const json_t *want, const char *org)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)want, k, v) if (!json_equal(v, json_object_get(live, k)))
        fail_msg("%s: field %s differs", org, k);
    json_object_foreach((json_t *)live, k, v) if (json_object_get(want, k) == NULL)
        fail_msg("%s: field %s is extra", org, k);
}

/* 1. A healthy change completes: every org's row is the template plus its key (and its other
 * fields as they were); one PUT per org; no strategy is ever asked for. */
static void test_healthy_completes(void **state)
{
    dt d;
    json_t *log, *want;
    (void)state;
    policy_text = rg_e2e_policy;
    begin(&d, healthy_change, NULL, 1);
    policy_text = fast_policy;
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_COMPLETED);
    want = json_deep_copy(d.seed);
    {
        json_t *change = json_pack("{s:s, s:i, s:s, s:i}", "queue_a", "q-main", "weight_a", 0,
                                   "queue_b", "q-v2", "weight_b", 100);
        json_object_update(want, change);
        json_decref(change);
    }
    log = rg_e2e_requests(&d.e.sim);
    assert_non_null(log);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        json_t *live;
        snprintf(org, sizeof(org), "org_dt_%d", i);
        live = sim_row(&d.e, org);
        assert_rows_equal(live, want, org);
        assert_string_equal(json_string_value(json_object_get(live, "key")), ROW);
        assert_int_equal(row_requests(log, org, "PUT"), 1);
        json_decref(live);
    }
    assert_no_strategy_requests(log);
    json_decref(log);
    json_decref(want);
    end(&d);
}

/* 2. A bad change trips: every row (touched or not) equals its pre-change row field for field;
 * touched rows saw one PUT to apply and one to restore, untouched rows none. */
static void test_bad_change_trips_and_restores(void **state)
{
    dt d;
    json_t *log;
    int touched = 0;
    (void)state;
    policy_text = rg_e2e_policy;
    begin(&d, bad_change, NULL, 1);
    policy_text = fast_policy;
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_ROLLED_BACK);
    log = rg_e2e_requests(&d.e.sim);
    assert_non_null(log);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        json_t *live;
        int puts;
        snprintf(org, sizeof(org), "org_dt_%d", i);
        live = sim_row(&d.e, org);
        assert_rows_equal(live, d.seed, org);
        puts = row_requests(log, org, "PUT");
        assert_true(puts == 0 || puts == 2);
        touched += puts == 2;
        json_decref(live);
    }
    assert_true(touched >= 1);
    assert_true(touched < NORGS); /* tripped before the last stage */
    assert_no_strategy_requests(log);
    json_decref(log);
    end(&d);
}

/* 3a. A person edits another field between rollgate's read and its write: the write merges
 * it (kept), the rollout goes on. */
static void test_edit_of_other_field_is_kept(void **state)
{
    dt d;
    json_t *live, *log;
    (void)state;
    begin(&d, healthy_change,
          "{\"org\":\"org_dt_1\",\"on\":\"get\",\"datatable\":\"" TABLE "\",\"row\":\"" ROW
          "\",\"fields\":{\"note\":\"edited by a "
          "person\"}}",
          1);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_COMPLETED);
    live = sim_row(&d.e, "org_dt_1");
    assert_string_equal(json_string_value(json_object_get(live, "note")), "edited by a person");
    assert_int_equal(json_integer_value(json_object_get(live, "weight_b")), 100);
    log = rg_e2e_requests(&d.e.sim);
    assert_int_equal(row_requests(log, "org_dt_1", "PUT"), 1); /* no blind first PUT */
    json_decref(log);
    json_decref(live);
    end(&d);
}

/* 3b. A person edits a field the change sets: the rollout holds naming the org and the
 * field; the person's value stays, nothing is PUT. */
static void test_edit_of_changed_field_holds(void **state)
{
    dt d;
    json_t *live, *log;
    char *why;
    (void)state;
    begin(&d, healthy_change,
          "{\"org\":\"org_dt_1\",\"on\":\"get\",\"datatable\":\"" TABLE "\",\"row\":\"" ROW
          "\",\"fields\":{\"weight_b\":30,"
          "\"weight_a\":70}}",
          1);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_HELD);
    why = rg_e2e_hold_reason(&d.e);
    assert_non_null(why);
    assert_non_null(strstr(why, "org_dt_1"));
    assert_true(strstr(why, "weight_a") != NULL || strstr(why, "weight_b") != NULL);
    free(why);
    live = sim_row(&d.e, "org_dt_1");
    assert_int_equal(json_integer_value(json_object_get(live, "weight_b")), 30);
    assert_int_equal(json_integer_value(json_object_get(live, "weight_a")), 70);
    log = rg_e2e_requests(&d.e.sim);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        snprintf(org, sizeof(org), "org_dt_%d", i);
        assert_int_equal(row_requests(log, org, "PUT"), 0);
    }
    json_decref(log);
    json_decref(live);
    end(&d);
}

/* 4. Someone writes the row right after rollgate's PUT: the read-back sees it, the rollout
 * holds naming the org, and that write is not overwritten. */
static void test_writer_after_put_holds(void **state)
{
    dt d;
    json_t *live, *log;
    char *why;
    (void)state;
    begin(&d, healthy_change,
          "{\"org\":\"org_dt_1\",\"on\":\"put\",\"datatable\":\"" TABLE "\",\"row\":\"" ROW
          "\",\"fields\":{\"weight_a\":100,"
          "\"weight_b\":0}}",
          1);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_HELD);
    why = rg_e2e_hold_reason(&d.e);
    assert_non_null(why);
    assert_non_null(strstr(why, "org_dt_1"));
    assert_non_null(strstr(why, "after"));
    free(why);
    live = sim_row(&d.e, "org_dt_1");
    assert_int_equal(json_integer_value(json_object_get(live, "weight_a")), 100);
    log = rg_e2e_requests(&d.e.sim);
    assert_int_equal(row_requests(log, "org_dt_1", "PUT"), 1);
    assert_int_equal(row_requests(log, "org_dt_2", "PUT"), 0);
    json_decref(log);
    json_decref(live);
    end(&d);
}

/* 5. plan refuses a template value of the wrong column type, naming org, table, field and
 * type; it writes nothing. */
static void test_plan_refuses_wrong_type(void **state)
{
    dt d;
    json_t *plan = NULL, *f, *log;
    int named = 0;
    size_t i;
    (void)state;
    begin(&d,
          "change:\n"
          "  resource: {kind: datatable_row, datatable: " TABLE ", row: " ROW "}\n"
          "  watch_queues: [q-main, q-v2]\n"
          "  template: {queue_a: q-main, weight_a: 0, queue_b: q-v2, weight_b: 100,"
          " note: 5}\n"
          "  weights: {weight_a: queue_a, weight_b: queue_b}\n",
          NULL, 0);
    assert_int_equal(rg_e2e_plan(&plan, &d.e), 0);
    assert_true(json_is_true(json_object_get(plan, "blocked")));
    json_array_foreach(json_object_get(plan, "findings"), i, f)
    {
        const char *what = json_string_value(json_object_get(f, "what"));
        if (what && strstr(what, "'note'") && strstr(what, "string") && strstr(what, TABLE) &&
            strstr(what, json_string_value(json_object_get(f, "org"))))
            named++;
    }
    assert_int_equal(named, NORGS);
    log = rg_e2e_requests(&d.e.sim);
    for (int k = 1; k <= NORGS; k++) {
        char org[32];
        snprintf(org, sizeof(org), "org_dt_%d", k);
        assert_int_equal(row_requests(log, org, "PUT"), 0);
    }
    assert_no_strategy_requests(log);
    json_decref(log);
    json_decref(plan);
    end(&d);
}

/* Committed and unanswered PUTs of the org's row, as the sim counts them (/sim/writes). */
static void row_writes(rg_e2e *e, const char *org, json_int_t *applied, json_int_t *unanswered)
{
    json_t *doc = NULL, *w;

    if (rg_simproc_json(&e->sim, "GET", "/sim/writes", NULL, &doc) < 0)
        fail_msg("%s", rg_error_last());
    w = json_object_get(json_object_get(json_object_get(doc, "orgs"), org), TABLE "/" ROW);
    *applied = json_integer_value(json_object_get(w, "applied"));
    *unanswered = json_integer_value(json_object_get(w, "unanswered"));
    json_decref(doc);
}

/* 6. Every PUT's reply is lost (committed, never answered): each is re-read before anything
 * else, found in place, and never sent twice; the rollout completes. */
static void test_lost_put_reply_is_not_resent(void **state)
{
    dt d;
    (void)state;
    begin(&d, healthy_change, NULL, 0);
    assert_int_equal(rg_simproc_faults(&d.e.sim, "{\"apply_drop_rate\":1}"), 0);
    assert_int_equal(rg_e2e_start(&d.e, 200), 0);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_COMPLETED);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        json_int_t applied = 0, unanswered = 0;
        json_t *live;
        snprintf(org, sizeof(org), "org_dt_%d", i);
        row_writes(&d.e, org, &applied, &unanswered);
        assert_int_equal(applied, 1);
        assert_int_equal(unanswered, 1);
        live = sim_row(&d.e, org);
        assert_int_equal(json_integer_value(json_object_get(live, "weight_b")), 100);
        json_decref(live);
    }
    end(&d);
}

/* 7. `capacity` weight columns are shares of 100 in proportion to agents on each column's
 * queue (200 on q-main, 600 on q-v2: 25 / 75). */
static void test_capacity_weight_columns(void **state)
{
    dt d;
    (void)state;
    v2_agents = 600;
    begin(&d,
          "change:\n"
          "  resource: {kind: datatable_row, datatable: " TABLE ", row: " ROW "}\n"
          "  watch_queues: [q-main, q-v2]\n"
          "  template: {queue_a: q-main, weight_a: capacity, queue_b: q-v2,"
          " weight_b: capacity}\n"
          "  weights: {weight_a: queue_a, weight_b: queue_b}\n",
          NULL, 1);
    v2_agents = 200;
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_COMPLETED);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        json_t *live;
        snprintf(org, sizeof(org), "org_dt_%d", i);
        live = sim_row(&d.e, org);
        assert_int_equal(json_integer_value(json_object_get(live, "weight_a")), 25);
        assert_int_equal(json_integer_value(json_object_get(live, "weight_b")), 75);
        json_decref(live);
    }
    end(&d);
}

/* 8. A rollback writes the snapshot row back: the change's fields as they were, and a field
 * outside the change that a person edited after the apply is kept. */
static void test_rollback_restores_row_and_keeps_edit(void **state)
{
    dt d;
    char *outcome = NULL;
    json_t *live, *want;
    (void)state;
    begin(&d, healthy_change, NULL, 1);
    assert_int_equal(rg_e2e_drive(&d.e, rg_e2e_stage_one_applied, 100), 0);
    assert_int_equal(rg_simproc_json(&d.e.sim, "POST", "/sim/edit",
                                     "{\"org\":\"org_dt_1\",\"datatable\":\"" TABLE
                                     "\",\"row\":\"" ROW "\",\"fields\":{\"note\":"
                                     "\"after the apply\"}}",
                                     NULL),
                     0);
    assert_int_equal(rg_engine_command(&outcome, d.e.engine, d.e.tenant, d.e.id,
                                       RG_COMMAND_ROLLBACK, "alice", "testing the row restore", 0),
                     0);
    free(outcome);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_ROLLED_BACK);
    want = json_deep_copy(d.seed);
    json_object_set_new(want, "note", json_string("after the apply"));
    live = sim_row(&d.e, "org_dt_1");
    assert_rows_equal(live, want, "org_dt_1");
    json_decref(live);
    for (int i = 2; i <= NORGS; i++) {
        char org[32];
        snprintf(org, sizeof(org), "org_dt_%d", i);
        live = sim_row(&d.e, org);
        assert_rows_equal(live, d.seed, org);
        json_decref(live);
    }
    json_decref(want);
    end(&d);
}

/* 9. Agents on a queue the row routes to drop to half in an org of the last stage: the
 * capacity check pauses the rollout naming org and queue before that org's row is written. */
static void test_capacity_drop_pauses_before_the_row(void **state)
{
    dt d;
    json_t *log;
    char *why;
    (void)state;
    scenario_events = "[{\"orgs\":[\"org_dt_3\"],\"from_s\":3,\"to_s\":600,"
                      "\"agents_mult\":0.5}]";
    begin(&d, healthy_change, NULL, 1);
    scenario_events = NULL;
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_PAUSED);
    why = rg_e2e_hold_reason(&d.e);
    assert_non_null(why);
    assert_non_null(strstr(why, "org_dt_3"));
    assert_non_null(strstr(why, "q-v2"));
    assert_non_null(strstr(why, "0.50 of the 200"));
    free(why);
    log = rg_e2e_requests(&d.e.sim);
    assert_int_equal(row_requests(log, "org_dt_1", "PUT"), 1);
    assert_int_equal(row_requests(log, "org_dt_3", "PUT"), 0);
    assert_int_equal(row_requests(log, "org_dt_4", "PUT"), 0);
    json_decref(log);
    end(&d);
}

/* The rollout driven in a child process (its own store connection and engine) that SIGKILLs
 * itself at the crash point `at` ("POINT[:N]"); the parent's engine is closed meanwhile and
 * reopened after, taking over the dead child's lease. */
static void crash_run(dt *d, const char *at)
{
    rg_engine_options opts;
    int status = 0;
    pid_t pid;

    rg_engine_free(d->e.engine);
    rg_store_free(d->e.store);
    d->e.engine = NULL;
    d->e.store = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        rg_e2e child = d->e;
        rg_engine_options_init(&opts);
        opts.tick_ms = 200;
        setenv("ROLLGATE_TEST_CRASH_AT", at, 1);
        if (rg_store_open(&child.store, child.db) < 0 ||
            rg_engine_new(&child.engine, child.store, &opts) < 0)
            _exit(2);
        rg_e2e_drive(&child, rg_e2e_settled, 400);
        _exit(3); /* never reached the point */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("the run did not die at %s (status %d)", at, status);
    rg_engine_options_init(&opts);
    opts.tick_ms = 200;
    assert_int_equal(rg_store_open(&d->e.store, d->e.db), 0);
    assert_int_equal(rg_engine_new(&d->e.engine, d->e.store, &opts), 0);
}

/* 10. Killed right after a PUT landed (before it was recorded) and right after a snapshot
 * was committed (before the PUT): the restarted engine re-reads, finds the first in place and
 * writes the second once; every org's row is PUT exactly once. */
static void test_crash_between_steps_writes_each_row_once(void **state)
{
    dt d;
    (void)state;
    begin(&d, healthy_change, NULL, 1);
    crash_run(&d, "after_patch");
    crash_run(&d, "after_snapshot:2");
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_COMPLETED);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        json_int_t applied = 0, unanswered = 0;
        json_t *live;
        snprintf(org, sizeof(org), "org_dt_%d", i);
        row_writes(&d.e, org, &applied, &unanswered);
        if (applied != 1)
            fail_msg("%s: %lld PUTs committed", org, (long long)applied);
        live = sim_row(&d.e, org);
        assert_int_equal(json_integer_value(json_object_get(live, "weight_b")), 100);
        json_decref(live);
    }
    end(&d);
}

/* 11. Killed right after a restore PUT landed: the restart finds the snapshot row in place
 * and does not PUT it again; the touched rows equal their snapshot. */
static void test_crash_after_restore_put_is_not_repeated(void **state)
{
    dt d;
    json_t *log;
    (void)state;
    begin(&d, bad_change, NULL, 1);
    crash_run(&d, "after_restore_patch");
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_ROLLED_BACK);
    log = rg_e2e_requests(&d.e.sim);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        int puts;
        json_t *live;
        snprintf(org, sizeof(org), "org_dt_%d", i);
        puts = row_requests(log, org, "PUT");
        assert_true(puts == 0 || puts == 2);
        live = sim_row(&d.e, org);
        assert_rows_equal(live, d.seed, org);
        json_decref(live);
    }
    json_decref(log);
    end(&d);
}

/* 12. A second active rollout of the same row in the same org is refused by the claim
 * datatable_row:<table>/<row>; another row of the table is not. */
static const char create_change[] =
    "change:\n"
    "  resource: {kind: datatable_row, datatable: " TABLE ", row: canary, create: true}\n"
    "  watch_queues: [q-main, q-v2]\n"
    "  template: {queue_a: q-main, weight_a: 0, queue_b: \"{{NEW_QUEUE}}\", weight_b: 100,"
    " note: created}\n";

/* 14. create: true and no row: each org's row is created (one POST of the template plus the
 * key) and the rollout completes; the routing row is untouched. */
static void test_missing_row_is_created(void **state)
{
    dt d;
    json_t *log, *want;
    (void)state;
    begin(&d, create_change, NULL, 1);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_COMPLETED);
    want = json_pack("{s:s, s:s, s:i, s:s, s:i, s:s}", "key", "canary", "queue_a", "q-main",
                     "weight_a", 0, "queue_b", "q-v2", "weight_b", 100, "note", "created");
    log = rg_e2e_requests(&d.e.sim);
    assert_non_null(log);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        json_t *live;
        snprintf(org, sizeof(org), "org_dt_%d", i);
        live = sim_row_by_key(&d.e, org, "canary");
        assert_non_null(live);
        assert_rows_equal(live, want, org);
        json_decref(live);
        live = sim_row(&d.e, org);
        assert_rows_equal(live, d.seed, org);
        json_decref(live);
        assert_int_equal(
            rg_e2e_count_requests(log, org, "POST", "/api/v2/flows/datatables/" TABLE "/rows", 200),
            1);
        assert_int_equal(rg_e2e_count_requests(log, org, "PUT",
                                               "/api/v2/flows/datatables/" TABLE "/rows/canary",
                                               200),
                         0);
    }
    assert_no_strategy_requests(log);
    json_decref(log);
    json_decref(want);
    end(&d);
}

/* 15. A rollback of a created row deletes it (its snapshot says "absent"): after stage 1 and
 * a person's rollback, no org has the row; the one created saw one DELETE, the others none. */
static void test_rollback_deletes_created_row(void **state)
{
    dt d;
    char *outcome = NULL;
    json_t *log;
    (void)state;
    begin(&d, create_change, NULL, 1);
    assert_int_equal(rg_e2e_drive(&d.e, rg_e2e_stage_one_applied, 100), 0);
    {
        json_t *live = sim_row_by_key(&d.e, "org_dt_1", "canary");
        assert_non_null(live); /* created by stage 1 */
        json_decref(live);
    }
    assert_int_equal(rg_engine_command(&outcome, d.e.engine, d.e.tenant, d.e.id,
                                       RG_COMMAND_ROLLBACK, "alice", "testing the row delete", 0),
                     0);
    free(outcome);
    run_to_end(&d.e);
    assert_int_equal(rg_e2e_state(&d.e), RG_ROLLOUT_ROLLED_BACK);
    log = rg_e2e_requests(&d.e.sim);
    assert_non_null(log);
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        json_t *live;
        snprintf(org, sizeof(org), "org_dt_%d", i);
        live = sim_row_by_key(&d.e, org, "canary");
        if (live != NULL)
            fail_msg("%s still has the created row", org);
        live = sim_row(&d.e, org);
        assert_rows_equal(live, d.seed, org);
        json_decref(live);
        assert_int_equal(rg_e2e_count_requests(log, org, "DELETE",
                                               "/api/v2/flows/datatables/" TABLE "/rows/canary",
                                               204),
                         i == 1 ? 1 : 0);
    }
    assert_no_strategy_requests(log);
    json_decref(log);
    end(&d);
}

static void test_same_row_is_claimed_once(void **state)
{
    dt d;
    rg_manifest *m = NULL;
    char id[RG_STORE_ROLLOUT_ID_LEN];
    (void)state;
    begin(&d, healthy_change, NULL, 1);
    assert_int_equal(rg_manifest_load_file(&m, d.e.manifest, NULL), 0);
    assert_int_equal(rg_engine_start(id, d.e.engine, m, d.e.dir, "e2e", 1), RG_ECLAIMED);
    assert_non_null(strstr(rg_error_last(), "datatable_row:" TABLE "/" ROW));
    free(m->resource.row);
    m->resource.row = rg_strdup("other");
    free(m->strategy);
    m->strategy = rg_strdup(TABLE "/other");
    assert_int_equal(rg_engine_start(id, d.e.engine, m, d.e.dir, "e2e", 1), 0);
    rg_manifest_free(m);
    end(&d);
}

/* The live plan of `change` (new reference); the sim's log must show no row PUT. */
static json_t *plan_of(dt *d, const char *change)
{
    json_t *plan = NULL;

    write_manifest(d->e.manifest, d->e.sim.url, change);
    if (rg_e2e_plan(&plan, &d->e) < 0)
        fail_msg("plan: %s", rg_error_last());
    return plan;
}

/* 13. plan passes a good change with the live row's diff, and blocks a missing table, a
 * missing row (a warning under create: true), and a weight's queue that does not exist. */
static void test_plan_findings(void **state)
{
    dt d;
    json_t *plan, *diff, *c;
    size_t i;
    int modified = 0;
    (void)state;
    begin(&d, healthy_change, NULL, 0);
    plan = plan_of(&d, healthy_change);
    assert_false(json_is_true(json_object_get(plan, "blocked")));
    assert_int_equal(json_array_size(json_object_get(plan, "findings")), 0);
    diff = json_object_get(json_array_get(json_object_get(plan, "targets"), 0), "diff");
    json_array_foreach(diff, i, c) modified +=
        strcmp(json_string_value(json_object_get(c, "change")), "modified") == 0;
    assert_int_equal(modified, 2); /* weight_a 100 -> 0, weight_b 0 -> 100 */
    json_decref(plan);

    plan = plan_of(&d, "change:\n"
                       "  resource: {kind: datatable_row, datatable: dt-nope, row: " ROW "}\n"
                       "  template: {note: x}\n");
    assert_true(json_is_true(json_object_get(plan, "blocked")));
    assert_int_equal(rg_e2e_findings_with(plan, "dt-nope", "Unable to find a data table", NULL),
                     NORGS);
    json_decref(plan);

    plan = plan_of(&d, "change:\n"
                       "  resource: {kind: datatable_row, datatable: " TABLE ", row: nope}\n"
                       "  template: {note: x}\n");
    assert_true(json_is_true(json_object_get(plan, "blocked")));
    assert_int_equal(rg_e2e_findings_with(plan, "no row 'nope'", NULL, NULL), NORGS);
    json_decref(plan);

    plan = plan_of(&d, "change:\n"
                       "  resource: {kind: datatable_row, datatable: " TABLE ", row: nope,"
                       " create: true}\n"
                       "  template: {note: x}\n");
    assert_false(json_is_true(json_object_get(plan, "blocked")));
    assert_int_equal(rg_e2e_findings_with(plan, "no row 'nope'", "the apply creates it", NULL),
                     NORGS);
    json_decref(plan);

    plan = plan_of(&d, "change:\n"
                       "  resource: {kind: datatable_row, datatable: " TABLE ", row: " ROW "}\n"
                       "  template: {queue_a: q-main, weight_a: 50, queue_b: q-gone,"
                       " weight_b: 50}\n"
                       "  weights: {weight_a: queue_a, weight_b: queue_b}\n");
    assert_true(json_is_true(json_object_get(plan, "blocked")));
    assert_int_equal(rg_e2e_findings_with(plan, "queue q-gone", "queue_b", NULL), NORGS);
    json_decref(plan);
    {
        json_t *log = rg_e2e_requests(&d.e.sim);
        for (int k = 1; k <= NORGS; k++) {
            char org[32];
            snprintf(org, sizeof(org), "org_dt_%d", k);
            assert_int_equal(row_requests(log, org, "PUT"), 0);
        }
        assert_no_strategy_requests(log);
        json_decref(log);
    }
    end(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy_completes),
        cmocka_unit_test(test_bad_change_trips_and_restores),
        cmocka_unit_test(test_edit_of_other_field_is_kept),
        cmocka_unit_test(test_edit_of_changed_field_holds),
        cmocka_unit_test(test_writer_after_put_holds),
        cmocka_unit_test(test_plan_refuses_wrong_type),
        cmocka_unit_test(test_lost_put_reply_is_not_resent),
        cmocka_unit_test(test_capacity_weight_columns),
        cmocka_unit_test(test_rollback_restores_row_and_keeps_edit),
        cmocka_unit_test(test_capacity_drop_pauses_before_the_row),
        cmocka_unit_test(test_crash_between_steps_writes_each_row_once),
        cmocka_unit_test(test_crash_after_restore_put_is_not_repeated),
        cmocka_unit_test(test_same_row_is_claimed_once),
        cmocka_unit_test(test_plan_findings),
        cmocka_unit_test(test_missing_row_is_created),
        cmocka_unit_test(test_rollback_deletes_created_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
