/* e2e.c - end-to-end helpers: rollouts against rollgate-sim through the engine */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/pg.h"
#include "support/testutil.h"

/* Both policies keep a 20 s pre window: the last stage's apply waits settle plus half a pre
 * window after the earlier stage's (its control, engine/apply.c), and a 60 s window made
 * every rollout of the suite wait 30 s there. */
const char rg_e2e_policy[] =
    "policy:\n"
    "  alpha: 0.05\n  sequential: group\n  stabilization_window: 6s\n  soak_limit: 24s\n"
    "  poll_interval: 3s\n  granularity: PT1S\n  settle: 1s\n  pre_window: 20s\n"
    "  breaker: {consecutive: 2}\n  on_inconclusive: hold\n  errors: {limit: 3}\n"
    "  verify_window: 4s\n  capacity: {min_ratio: 0.8}\n  metrics:\n"
    "    - {name: abandonment_rate, kind: proportion, events: tAbandon, trials: nOffered,\n"
    "       increase_is_bad: true, tolerance: {relative: 0.15}, critical: true}\n"
    "    - {name: speed_of_answer, kind: mean, source: tAnswered, increase_is_bad: true,\n"
    "       tolerance: {absolute: 10s}}\n";

const char rg_e2e_fast_policy[] =
    "policy:\n"
    "  alpha: 0.05\n  sequential: group\n  stabilization_window: 2s\n  soak_limit: 4s\n"
    "  poll_interval: 1s\n  granularity: PT1S\n  settle: 1s\n  pre_window: 20s\n"
    "  breaker: {consecutive: 2}\n  on_inconclusive: promote\n  errors: {limit: 3}\n"
    "  verify_window: 2s\n  capacity: {min_ratio: 0.8}\n  metrics:\n"
    "    - {name: abandonment_rate, kind: proportion, events: tAbandon, trials: nOffered,\n"
    "       increase_is_bad: true, tolerance: {relative: 5.0}}\n";

int rg_e2e_credentials(json_t **orgs, const char *scenario)
{
    char path[1024];
    json_t *doc, *org;
    size_t i;

    if (scenario[0] == '/')
        snprintf(path, sizeof(path), "%s", scenario);
    else
        rg_test_path(path, sizeof(path), scenario);
    if ((doc = json_load_file(path, 0, NULL)) == NULL)
        return rg_error_set(RG_EINVALID, "cannot load %s", path);
    *orgs = json_array();
    json_array_foreach(json_object_get(doc, "orgs"), i, org)
    {
        const char *id = json_string_value(json_object_get(org, "id"));
        char name[256];
        json_array_append_new(*orgs, json_string(id));
        rg_platform_env_name(name, sizeof(name), id, "CLIENT_ID");
        setenv(name, json_string_value(json_object_get(org, "client_id")), 1);
        rg_platform_env_name(name, sizeof(name), id, "CLIENT_SECRET");
        setenv(name, json_string_value(json_object_get(org, "client_secret")), 1);
    }
    json_decref(doc);
    return 0;
}

int rg_e2e_write_manifest(const char *path, const char *url, const json_t *orgs, const char *policy)
{
    rg_buf m = RG_BUF_INIT;
    size_t n = json_array_size(orgs), half = 1 + (n - 1) / 2;
    int rc;

    rg_buf_printf(&m,
                  "name: e2e-routing\ntenant: e2e\nstages: [10, 50, 100]\napproval: none\n"
                  "platform: {driver: genesys, api_url: \"%s\", login_url: \"%s\", "
                  "credentials: env}\ngroups:\n  - {name: parent, orgs: [%s]}\n"
                  "  - {name: region_a, depends_on: [parent], orgs: [",
                  url, url, json_string_value(json_array_get(orgs, 0)));
    for (size_t i = 1; i < half; i++)
        rg_buf_printf(&m, "%s%s", i > 1 ? ", " : "", json_string_value(json_array_get(orgs, i)));
    rg_buf_puts(&m, "]}\n  - {name: region_b, depends_on: [parent], orgs: [");
    for (size_t i = half; i < n; i++)
        rg_buf_printf(&m, "%s%s", i > half ? ", " : "", json_string_value(json_array_get(orgs, i)));
    rg_buf_puts(&m, "]}\nchange:\n  strategy: strat_main\n"
                    "  watch_queues: [queue_global_001, queue_v2]\n  template:\n"
                    "    name: Production_Routing_v2\n    targets:\n"
                    "      - {type: Queue, id: queue_global_001, weight: 0, priority: 1}\n"
                    "      - {type: Queue, id: queue_v2, weight: 100, priority: 1}\n");
    rg_buf_puts(&m, policy ? policy : rg_e2e_policy);
    rc = rg_test_write_file(path, rg_buf_cstr(&m));
    rg_buf_dispose(&m);
    return rc < 0 ? rg_error_set(RG_EIO, "cannot write %s", path) : 0;
}

int rg_e2e_dir(rg_e2e *e)
{
    if (rg_test_mkdtemp(e->dir, sizeof(e->dir)) < 0)
        return rg_error_set(RG_EIO, "mkdtemp failed");
    snprintf(e->db, sizeof(e->db), "%s/e2e.db", e->dir);
    /* The *_pg run of a test: a fresh PostgreSQL database instead (tests/support/pg.h). */
    if (rg_test_pg_backend() && (rg_test_pg_start(e->db, sizeof(e->db)) != 0 ||
                                 rg_test_pg_new_db(e->db, sizeof(e->db)) != 0))
        return rg_error_set(RG_EDB, "no PostgreSQL database for the test: %s", e->db);
    snprintf(e->manifest, sizeof(e->manifest), "%s/manifest.yaml", e->dir);
    snprintf(e->tenant, sizeof(e->tenant), "e2e");
    return 0;
}

int rg_e2e_sim(rg_e2e *e, const char *scenario, const char *hook)
{
    int rc;

    if ((rc = rg_simproc_start(&e->sim, scenario)) < 0 ||
        (rc = rg_e2e_credentials(&e->orgs, scenario)) < 0)
        return rc;
    return hook != NULL ? rg_simproc_json(&e->sim, "POST", "/sim/hook", hook, NULL) : 0;
}

int rg_e2e_start(rg_e2e *e, int64_t tick_ms)
{
    rg_engine_options opts;
    rg_manifest *m = NULL;
    int rc;

    if ((rc = rg_manifest_load_file(&m, e->manifest, NULL)) < 0)
        return rc;
    rg_engine_options_init(&opts);
    opts.tick_ms = tick_ms;
    if ((rc = rg_store_open(&e->store, e->db)) == 0 &&
        (rc = rg_engine_new(&e->engine, e->store, &opts)) == 0)
        rc = rg_engine_start(e->id, e->engine, m, e->dir, "e2e", 1);
    rg_manifest_free(m);
    return rc;
}

int rg_e2e_begin(rg_e2e *e, const char *scenario, const char *policy, int64_t tick_ms)
{
    int rc;

    if (scenario) {
        memset(e, 0, sizeof(*e));
        if ((rc = rg_e2e_sim(e, scenario, NULL)) < 0)
            return rc;
    }
    if ((rc = rg_e2e_dir(e)) < 0 ||
        (rc = rg_e2e_write_manifest(e->manifest, e->sim.url, e->orgs, policy)) < 0)
        return rc;
    return rg_e2e_start(e, tick_ms);
}

int rg_e2e_write_scenario(json_t **out_first, const char *path, const rg_e2e_scenario *s)
{
    char src[1024];
    json_t *doc, *orgs, *first;
    int rc = 0;

    rg_test_path(src, sizeof(src), s->src);
    if ((doc = json_load_file(src, 0, NULL)) == NULL)
        return rg_error_set(RG_EINVALID, "cannot load %s", src);
    json_object_set_new(doc, "time_scale", json_real(1200));
    json_object_set_new(doc, "token_ttl_s", json_integer(86400));
    if (s->events != NULL)
        json_object_set_new(doc, "events", json_loads(s->events, 0, NULL));
    orgs = json_object_get(doc, "orgs");
    first = json_deep_copy(json_array_get(orgs, 0));
    json_array_clear(orgs);
    if (s->prepare != NULL)
        s->prepare(first);
    for (int i = 1; i <= s->norgs; i++) {
        json_t *o = json_deep_copy(first);
        char id[64], cid[64], sec[64];
        snprintf(id, sizeof(id), "org_%s_%d", s->tag, i);
        snprintf(cid, sizeof(cid), "cid-%s-%d", s->tag, i);
        snprintf(sec, sizeof(sec), "secret-%s-%d", s->tag, i);
        json_object_set_new(o, "id", json_string(id));
        json_object_set_new(o, "client_id", json_string(cid));
        json_object_set_new(o, "client_secret", json_string(sec));
        json_array_append_new(orgs, o);
    }
    if (json_dump_file(doc, path, JSON_INDENT(1)) < 0)
        rc = rg_error_set(RG_EIO, "cannot write %s", path);
    if (rc == 0 && out_first != NULL)
        *out_first = json_incref(first);
    json_decref(first);
    json_decref(doc);
    return rc;
}

void rg_e2e_end(rg_e2e *e)
{
    rg_engine_free(e->engine);
    rg_store_free(e->store);
    rg_simproc_stop(&e->sim);
    json_decref(e->orgs);
    if (e->dir[0])
        rg_test_rmtree(e->dir);
    memset(e, 0, sizeof(*e));
}

rg_rollout_state rg_e2e_state(rg_e2e *e)
{
    rg_store_rollout row = {0};
    rg_rollout_state s = RG_ROLLOUT_RUNNING;
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0)
        s = row.state;
    rg_store_rollout_dispose(&row);
    return s;
}

int rg_e2e_drive(rg_e2e *e, int (*pred)(rg_e2e *), int max_ticks)
{
    for (int i = 0; i < max_ticks; i++) {
        int64_t next = 0, wait;
        int rc;
        if (pred(e))
            return 0;
        if ((rc = rg_engine_tick_rollout(e->engine, e->tenant, e->id, &next)) < 0)
            return rc;
        wait = next - rg_time_now_ms();
        if (wait > 0) {
            struct timespec ts = {wait / 1000, (wait % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return pred(e) ? 0 : rg_error_set(RG_ETIMEOUT, "condition not reached in %d ticks", max_ticks);
}

json_t *rg_e2e_requests(const rg_simproc *sim)
{
    rg_buf body = RG_BUF_INIT;
    long status = 0;
    json_t *doc = NULL;

    if (rg_simproc_request(sim, "GET", "/sim/requests?since=0&limit=100000", NULL, NULL, &status,
                           &body, NULL) == 0 &&
        status == 200)
        doc = json_loads(rg_buf_cstr(&body), 0, NULL);
    rg_buf_dispose(&body);
    return doc;
}

static int is_patch(const json_t *r, const char *org)
{
    return strcmp(json_string_value(json_object_get(r, "method")), "PATCH") == 0 &&
           strcmp(json_string_value(json_object_get(r, "org"))
                      ? json_string_value(json_object_get(r, "org"))
                      : "",
                  org) == 0 &&
           json_integer_value(json_object_get(r, "status")) == 200;
}

int rg_e2e_count_requests(const json_t *log, const char *org, const char *method, const char *path,
                          long status)
{
    size_t i, plen = strlen(path);
    int prefix = plen > 0 && path[plen - 1] == '*';
    json_t *r;
    int n = 0;

    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        const char *o = json_string_value(json_object_get(r, "org"));
        const char *p = json_string_value(json_object_get(r, "path"));
        const char *m = json_string_value(json_object_get(r, "method"));
        n += o && p && m && strcmp(o, org) == 0 &&
             (prefix ? strncmp(p, path, plen - 1) == 0 : strcmp(p, path) == 0) &&
             strcmp(m, method) == 0 && json_integer_value(json_object_get(r, "status")) == status;
    }
    return n;
}

int rg_e2e_no_strategy_requests(const json_t *log)
{
    size_t i;
    json_t *r;

    if (json_array_size(json_object_get(log, "requests")) == 0)
        return rg_error_set(RG_EINVALID, "the sim's request log is empty");
    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        const char *p = json_string_value(json_object_get(r, "path"));
        if (p && strstr(p, "/routing/strategies") != NULL)
            return rg_error_set(RG_EINVALID, "request %s %s for a routing strategy",
                                json_string_value(json_object_get(r, "method")), p);
    }
    return 0;
}

json_t *rg_e2e_sim_org(const rg_simproc *sim, const char *org)
{
    json_t *st = NULL, *o, *out = NULL;
    size_t i;

    if (rg_simproc_state(sim, &st) < 0)
        return NULL;
    json_array_foreach(json_object_get(st, "orgs"), i, o)
    {
        const char *id = json_string_value(json_object_get(o, "id"));
        if (out == NULL && id != NULL && strcmp(id, org) == 0)
            out = json_incref(o);
    }
    json_decref(st);
    return out;
}

int rg_e2e_plan(json_t **out, rg_e2e *e)
{
    rg_manifest *m = NULL;
    int rc;

    if ((rc = rg_manifest_load_file(&m, e->manifest, NULL)) < 0)
        return rc;
    rc = rg_engine_plan(out, m, e->dir, NULL);
    rg_manifest_free(m);
    return rc;
}

int rg_e2e_findings_with(const json_t *plan, const char *a, const char *b, const char *org_prefix)
{
    size_t i;
    json_t *f;
    int n = 0;

    json_array_foreach(json_object_get(plan, "findings"), i, f)
    {
        const char *what = json_string_value(json_object_get(f, "what"));
        const char *org = json_string_value(json_object_get(f, "org"));
        n += what && strstr(what, a) && (b == NULL || strstr(what, b)) &&
             (org_prefix == NULL || (org && strncmp(org, org_prefix, strlen(org_prefix)) == 0));
    }
    return n;
}

int rg_e2e_patches(const json_t *log, const char *org)
{
    size_t i;
    json_t *r;
    int n = 0;
    json_array_foreach(json_object_get(log, "requests"), i, r) n += is_patch(r, org);
    return n;
}

long rg_e2e_first_patch(const json_t *log, const char *org)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(log, "requests"), i, r) if (is_patch(r, org)) return (
        long)json_integer_value(json_object_get(r, "seq"));
    return 0;
}

json_t *rg_e2e_live(const rg_simproc *sim, const char *org)
{
    json_t *o = rg_e2e_sim_org(sim, org), *result;

    result =
        json_incref(json_object_get(json_array_get(json_object_get(o, "strategies"), 0), "body"));
    json_decref(o);
    return result;
}

json_t *rg_e2e_snapshot(rg_e2e *e, const char *org)
{
    rg_store_snapshot snap = {0};
    json_t *body = NULL;
    if (rg_store_snapshot_get(&snap, e->store, e->tenant, e->id, org, "strat_main") == 0)
        body = json_loads(snap.body, 0, NULL);
    rg_store_snapshot_dispose(&snap);
    return body;
}

int rg_e2e_finished(rg_e2e *e)
{
    rg_rollout_state s = rg_e2e_state(e);
    return rg_rollout_state_is_terminal(s) || s == RG_ROLLOUT_HELD;
}

int rg_e2e_stage_one_applied(rg_e2e *e)
{
    rg_store_rollout row = {0};
    int yes = 0;
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0)
        yes = row.stage_applied_at_ms != 0 || row.state != RG_ROLLOUT_RUNNING;
    rg_store_rollout_dispose(&row);
    return yes;
}

void rg_e2e_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int rg_e2e_settled(rg_e2e *e)
{
    rg_rollout_state s = rg_e2e_state(e);
    return rg_rollout_state_is_terminal(s) || s == RG_ROLLOUT_HELD || s == RG_ROLLOUT_PAUSED;
}

char *rg_e2e_hold_reason(rg_e2e *e)
{
    rg_store_rollout row = {0};
    char *why = NULL;
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0 && row.hold_reason)
        why = rg_strdup(row.hold_reason);
    rg_store_rollout_dispose(&row);
    return why;
}

int rg_e2e_run_to_end(rg_e2e *e)
{
    char *why;
    int rc = rg_e2e_drive(e, rg_e2e_settled, 400);

    if (rc == 0 && (why = rg_e2e_hold_reason(e)) != NULL) {
        fprintf(stderr, "rollout %s: %s: %s\n", e->id, rg_rollout_state_to_str(rg_e2e_state(e)),
                why);
        free(why);
    }
    return rc;
}
