/* metrics.c - GET /metrics: Prometheus text format 0.0.4 from the store (rollouts by state,
 * stage per active rollout, organizations) and the engines' counters */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_private.h"

static void label_value(rg_buf *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            rg_buf_printf(out, "\\%c", *v);
        else if (*v == '\n')
            rg_buf_puts(out, "\\n");
        else
            rg_buf_put(out, v, 1);
    }
}

static void header(rg_buf *out, const char *name, const char *type, const char *help)
{
    rg_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Moves the rows of `part` not yet in `seen` into `acc`; disposes `part`. */
static int merge(rg_store_rollouts *acc, json_t *seen, rg_store_rollouts *part)
{
    int rc = 0;

    for (size_t k = 0; k < part->count && rc == 0; k++) {
        if (json_object_get(seen, part->items[k].id))
            continue;
        if (acc->count == acc->cap) {
            size_t cap = acc->cap ? acc->cap * 2 : 16;
            rg_store_rollout *grown = realloc(acc->items, cap * sizeof(*grown));
            if (grown == NULL) {
                rc = rg_error_set(RG_ENOMEM, "out of memory");
                break;
            }
            acc->items = grown;
            acc->cap = cap;
        }
        json_object_set_new(seen, part->items[k].id, json_true());
        acc->items[acc->count++] = part->items[k];
        memset(&part->items[k], 0, sizeof(part->items[k]));
    }
    rg_engine_rollouts_dispose(part);
    return rc;
}

/* Every rollout of the tenants in the tokens file, and every active one of any tenant. */
static int all_rollouts(rg_store_rollouts *out, rg_server *s, rg_engine *engine)
{
    json_t *tenants = rg_server__tenants(s), *seen = json_object(), *t;
    rg_store_rollouts acc = {0}, part = {0};
    size_t i;
    int rc = 0;

    json_array_foreach(tenants, i, t)
    {
        if ((rc = rg_engine_rollout_list(&part, engine, json_string_value(t))) < 0 ||
            (rc = merge(&acc, seen, &part)) < 0)
            break;
    }
    if (rc == 0 && (rc = rg_engine_rollout_list_active_all_tenants(&part, engine)) == 0)
        rc = merge(&acc, seen, &part);
    json_decref(tenants);
    json_decref(seen);
    if (rc < 0) {
        rg_engine_rollouts_dispose(&acc);
        return rc;
    }
    *out = acc;
    return 0;
}

static void gauge_states(rg_buf *out, const rg_store_rollouts *list)
{
    header(out, "rollgate_rollouts", "gauge", "Rollouts in the store by state.");
    for (int st = RG_ROLLOUT_AWAITING_APPROVAL; st <= RG_ROLLOUT_COMPLETED; st++) {
        size_t n = 0;
        for (size_t i = 0; i < list->count; i++)
            n += list->items[i].state == (rg_rollout_state)st;
        rg_buf_printf(out, "rollgate_rollouts{state=\"%s\"} %zu\n",
                      rg_rollout_state_to_str((rg_rollout_state)st), n);
    }
}

/* The organizations targeted by rollouts still in progress, and with `per_rollout` the
 * current stage of each: labelled with tenant and rollout ids, which anyone who reaches
 * /metrics then reads, so it is the operator's choice (--metrics-per-rollout). */
static int gauge_stages(rg_buf *out, const rg_store_rollouts *list, rg_engine *engine,
                        int per_rollout)
{
    json_t *orgs = json_object();
    int rc = 0;

    if (per_rollout)
        header(out, "rollgate_rollout_stage", "gauge",
               "Current stage (1-based) of each rollout not yet finished.");
    for (size_t i = 0; i < list->count; i++) {
        const rg_store_rollout *r = &list->items[i];
        rg_store_targets targets = {0};
        if (rg_rollout_state_is_terminal(r->state))
            continue;
        if ((rc = rg_engine_target_list(&targets, engine, r->tenant_id, r->id)) < 0)
            break;
        for (size_t k = 0; k < targets.count; k++)
            json_object_set_new(orgs, targets.items[k].org_id, json_true());
        rg_engine_targets_dispose(&targets);
        if (!per_rollout)
            continue;
        rg_buf_puts(out, "rollgate_rollout_stage{tenant=\"");
        label_value(out, r->tenant_id);
        rg_buf_puts(out, "\",rollout=\"");
        label_value(out, r->id);
        rg_buf_printf(out, "\",state=\"%s\"} %d\n", rg_rollout_state_to_str(r->state),
                      r->stage_index + 1);
    }
    header(out, "rollgate_organizations", "gauge",
           "Distinct organizations targeted by rollouts not yet finished.");
    rg_buf_printf(out, "rollgate_organizations %zu\n", json_object_size(orgs));
    json_decref(orgs);
    return rc;
}

static void counters(rg_buf *out, const rg_engine_metrics *m)
{
    header(out, "rollgate_breaker_trips_total", "counter",
           "Rollouts tripped (breaker or forced rollback) since the server started.");
    rg_buf_printf(out, "rollgate_breaker_trips_total %llu\n", (unsigned long long)m->breaker_trips);
    header(out, "rollgate_rollbacks_total", "counter",
           "Rollouts that reached rolled_back or rollback_incomplete since the server started.");
    rg_buf_printf(out, "rollgate_rollbacks_total %llu\n", (unsigned long long)m->rollbacks_done);
    header(out, "rollgate_platform_requests_total", "counter",
           "Platform HTTP attempts by status class (transport = no HTTP status).");
    rg_buf_printf(out,
                  "rollgate_platform_requests_total{class=\"2xx\"} %llu\n"
                  "rollgate_platform_requests_total{class=\"4xx\"} %llu\n"
                  "rollgate_platform_requests_total{class=\"5xx\"} %llu\n"
                  "rollgate_platform_requests_total{class=\"transport\"} %llu\n",
                  (unsigned long long)m->platform_2xx, (unsigned long long)m->platform_4xx,
                  (unsigned long long)m->platform_5xx, (unsigned long long)m->platform_transport);
    header(out, "rollgate_platform_rate_limited_total", "counter",
           "Platform answers with status 429 (also counted in class 4xx).");
    rg_buf_printf(out, "rollgate_platform_rate_limited_total %llu\n",
                  (unsigned long long)m->platform_429);
    header(out, "rollgate_polls_total", "counter", "Analytics polls.");
    rg_buf_printf(out, "rollgate_polls_total %llu\n", (unsigned long long)m->polls);
    header(out, "rollgate_poll_latency_seconds", "histogram",
           "Time to fetch every organization's telemetry for one poll.");
    for (size_t i = 0; i < RG_ENGINE_LATENCY_BUCKETS; i++) {
        if (isinf(rg_engine_latency_bounds_ms[i]))
            rg_buf_puts(out, "rollgate_poll_latency_seconds_bucket{le=\"+Inf\"}");
        else
            rg_buf_printf(out, "rollgate_poll_latency_seconds_bucket{le=\"%g\"}",
                          rg_engine_latency_bounds_ms[i] / 1000.0);
        rg_buf_printf(out, " %llu\n", (unsigned long long)m->poll_latency_le[i]);
    }
    rg_buf_printf(out, "rollgate_poll_latency_seconds_sum %.6f\n", m->poll_latency_sum_ms / 1000.0);
    rg_buf_printf(out, "rollgate_poll_latency_seconds_count %llu\n",
                  (unsigned long long)m->poll_latency_le[RG_ENGINE_LATENCY_BUCKETS - 1]);
}

int rg_server__metrics_text(rg_buf *out, rg_server *s, rg_engine *engine)
{
    rg_store_rollouts list = {0};
    rg_engine_metrics m;
    long held;
    int rc;

    memset(&m, 0, sizeof(m));
    pthread_mutex_lock(&s->metrics_lock);
    m = s->retired;
    if (s->sched_engine) {
        rg_engine_metrics live;
        rg_engine_get_metrics(&live, s->sched_engine);
        rg_server__metrics_add(&m, &live);
    }
    pthread_mutex_unlock(&s->metrics_lock);
    if ((rc = all_rollouts(&list, s, engine)) < 0)
        return rc;
    gauge_states(out, &list);
    rc = gauge_stages(out, &list, engine, s->opts.metrics_per_rollout);
    rg_engine_rollouts_dispose(&list);
    if (rc < 0)
        return rc;
    counters(out, &m);
    pthread_mutex_lock(&s->streams_lock);
    held = s->held;
    pthread_mutex_unlock(&s->streams_lock);
    header(out, "rollgate_held_requests", "gauge", "Gate long-polls and event streams open now.");
    rg_buf_printf(out, "rollgate_held_requests %ld\n", held);
    return 0;
}

enum MHD_Result rg_server__metrics(rg_request *req)
{
    rg_buf text = RG_BUF_INIT;
    rg_engine *engine = NULL;
    enum MHD_Result ret;
    int rc;

    if ((rc = rg_server__engine(&engine, req)) < 0 ||
        (rc = rg_server__metrics_text(&text, req->server, engine)) < 0) {
        rg_buf_dispose(&text);
        return rg_server__reply_rc(req, rc);
    }
    ret = rg_server__reply(req, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                           rg_buf_cstr(&text), text.len);
    rg_buf_dispose(&text);
    return ret;
}
