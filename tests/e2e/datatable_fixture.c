/* datatable_fixture.c - the data-table e2e programs' fixture: rollgate-sim in data-table mode
 * with NORGS orgs, the changes and policies, the rollout's set-up, and reads of the rows as the
 * sim holds them and of the requests it answered */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e/datatable_fixture.h"
#include "rollgate/util.h"
#include "support/testutil.h"

const char healthy_change[] =
    "change:\n"
    "  resource: {kind: datatable_row, datatable: " TABLE ", row: " ROW "}\n"
    "  watch_queues: [q-main, q-v2]\n"
    "  template: {queue_a: q-main, weight_a: 0, queue_b: \"{{NEW_QUEUE}}\", weight_b: 100}\n"
    "  weights: {weight_a: queue_a, weight_b: queue_b}\n";

const char bad_change[] =
    "change:\n"
    "  resource: {kind: datatable_row, datatable: " TABLE ", row: " ROW "}\n"
    "  watch_queues: [q-main, q-bad]\n"
    "  template: {queue_a: q-main, weight_a: 0, queue_b: q-bad, weight_b: 100}\n"
    "  weights: {weight_a: queue_a, weight_b: queue_b}\n";

/* test_healthy_completes and the bad change set the e2e policy instead. */
const char *policy_text = rg_e2e_fast_policy;

/* Agents on q-v2 in every org, and the scenario's events (the capacity tests set them). */
int v2_agents = 200;
const char *scenario_events = NULL;

const char create_change[] =
    "change:\n"
    "  resource: {kind: datatable_row, datatable: " TABLE ", row: canary, create: true}\n"
    "  watch_queues: [q-main, q-v2]\n"
    "  template: {queue_a: q-main, weight_a: 0, queue_b: \"{{NEW_QUEUE}}\", weight_b: 100,"
    " note: created}\n";

static void set_v2_agents(json_t *org)
{
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(org, "queues"), i,
                       q) if (strcmp(json_string_value(json_object_get(q, "id")), "q-v2") == 0)
        json_object_set_new(q, "agents", json_integer(v2_agents));
}

void write_manifest(const char *path, const char *url, const char *change)
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

/* The sim (sim/scenarios/datatable.json's first org NORGS times), credentials and manifest;
 * the rollout starts unless `start` is 0. */
void begin(dt *d, const char *change, const char *hook, int start)
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

void end(dt *d)
{
    json_decref(d->seed);
    rg_e2e_end(&d->e);
}

void run_to_end(rg_e2e *e)
{
    if (rg_e2e_run_to_end(e) < 0)
        fail_msg("rollout did not finish: %s", rg_error_last());
}

void assert_no_strategy_requests(const json_t *log)
{
    if (rg_e2e_no_strategy_requests(log) < 0)
        fail_msg("%s", rg_error_last());
}

/* The org's row `key` (NULL: the routing row) as the sim holds it (new reference), or NULL
 * when there is none. */
json_t *sim_row_by_key(rg_e2e *e, const char *org, const char *key)
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
json_t *sim_row(rg_e2e *e, const char *org)
{
    json_t *out = sim_row_by_key(e, org, NULL);
    assert_non_null(out);
    return out;
}

/* Answered requests of `method` on the org's row in the sim's log. */
int row_requests(const json_t *log, const char *org, const char *method)
{
    return rg_e2e_count_requests(log, org, method,
                                 "/api/v2/flows/datatables/" TABLE "/rows/" ROW "*", 200);
}

void assert_rows_equal(const json_t *live, const json_t *want, const char *org)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)want, k, v) if (!json_equal(v, json_object_get(live, k)))
        fail_msg("%s: field %s differs", org, k);
    json_object_foreach((json_t *)live, k, v) if (json_object_get(want, k) == NULL)
        fail_msg("%s: field %s is extra", org, k);
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

void assert_each_row_written_once(rg_e2e *e, json_int_t unanswered)
{
    for (int i = 1; i <= NORGS; i++) {
        char org[32];
        json_int_t applied = 0, lost = 0;
        json_t *live;
        snprintf(org, sizeof(org), "org_dt_%d", i);
        row_writes(e, org, &applied, &lost);
        if (applied != 1)
            fail_msg("%s: %lld PUTs committed", org, (long long)applied);
        if (unanswered >= 0 && lost != unanswered)
            fail_msg("%s: %lld PUTs unanswered, want %lld", org, (long long)lost,
                     (long long)unanswered);
        live = sim_row(e, org);
        assert_int_equal(json_integer_value(json_object_get(live, "weight_b")), 100);
        json_decref(live);
    }
}
