/* planner_traffic.c - each org's recent traffic from analytics (the planner's history), and
 * the online planner: read, size traffic-sized stages, plan (docs/internals/stats.md
 * "Planner"); writes nothing anywhere */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "engine/planner.h"
#include "engine/verdict_inputs.h"
#include "rollgate/engine.h"
#include "rollgate/util.h"

static int64_t floor_to(int64_t t, int64_t g)
{
    return t - ((t % g) + g) % g;
}

void rg_engine__traffic_window(int64_t *from_ms, int64_t *to_ms, const rg_policy *p, int64_t now_ms)
{
    int64_t g = p->granularity_ms > 0 ? p->granularity_ms : 60000;
    int64_t span = p->pre_window_ms + p->soak_limit_ms;

    span = floor_to(span + g - 1, g);
    *to_ms = floor_to(now_ms, g);
    *from_ms = *to_ms - (span > 0 ? span : g);
}

static int add_unique(json_t *list, const char *id)
{
    size_t i;
    json_t *v;
    if (id == NULL)
        return 0;
    json_array_foreach(list, i, v) if (strcmp(json_string_value(v), id) == 0) return 0;
    return json_array_append_new(list, json_string(id));
}

int rg_engine__plan_queues(json_t **out, const rg_manifest *m, const json_t *body)
{
    json_t *list = json_array(), *t;
    size_t i;

    if (list == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (i = 0; i < m->watch_queues_count; i++)
        add_unique(list, m->watch_queues[i]);
    if (m->watch_queues_count == 0)
        json_array_foreach(json_object_get(body, "targets"), i, t)
            add_unique(list, json_string_value(json_object_get(t, "id")));
    *out = list;
    return 0;
}

int rg_engine__traffic_queue(rg_platform_op **ops, rg_platform *pf, const char *const *orgs,
                             json_t *const *queues, size_t n, int64_t from_ms, int64_t to_ms,
                             int64_t granularity_ms)
{
    for (size_t i = 0; i < n; i++) {
        const char *ids[RG_MANIFEST_MAX_TARGETS * 2];
        rg_platform_aggregates_query q = {from_ms, to_ms, granularity_ms, ids, 0};
        size_t j;
        json_t *v;
        int rc;
        ops[i] = NULL;
        json_array_foreach(queues[i], j, v) if (q.nqueues < sizeof(ids) / sizeof(ids[0]))
            ids[q.nqueues++] = json_string_value(v);
        if (q.nqueues == 0)
            continue;
        if ((rc = rg_platform_queue_aggregates(&ops[i], pf, orgs[i], &q, NULL, NULL)) < 0)
            return rc;
    }
    return 0;
}

/* Sums of one bucket over every queue of the series. */
static void bucket_sum(rg_platform_bucket *out, const rg_platform_aggregates *agg, size_t b)
{
    memset(out, 0, sizeof(*out));
    for (size_t q = 0; q < agg->nqueues; q++) {
        const rg_platform_queue_series *s = &agg->queues[q];
        if (b >= s->nbuckets)
            continue;
        out->offered += s->buckets[b].offered;
        out->abandoned += s->buckets[b].abandoned;
        out->answered += s->buckets[b].answered;
        out->answered_sum_ms += s->buckets[b].answered_sum_ms;
        out->handled += s->buckets[b].handled;
        out->handle_sum_ms += s->buckets[b].handle_sum_ms;
    }
}

void rg_engine__traffic_free(rg_org_traffic *traffic, size_t n)
{
    for (size_t i = 0; traffic && i < n; i++)
        free(traffic[i].series);
    free(traffic);
}

int rg_engine__traffic_collect(rg_org_traffic *out, const rg_platform_op *op, int keep_series)
{
    const rg_platform_aggregates *agg;
    size_t nb = 0, b, banswered = 0, bhandled = 0;
    double ma, mh;

    memset(out, 0, sizeof(*out));
    if (op == NULL)
        return 0;
    if (rg_platform_op_status(op) < 0)
        return rg_error_set(rg_platform_op_status(op), "%s", rg_platform_op_error(op));
    if ((agg = rg_platform_op_aggregates(op)) == NULL)
        return 0;
    for (size_t q = 0; q < agg->nqueues; q++)
        nb = agg->queues[q].nbuckets > nb ? agg->queues[q].nbuckets : nb;
    if (keep_series && nb > 0) {
        if ((out->series = calloc(nb * RG_TRAFFIC_FIELDS, sizeof(double))) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        out->nbuckets = nb;
    }
    for (b = 0; b < nb; b++) {
        rg_platform_bucket k;
        bucket_sum(&k, agg, b);
        if (out->series) {
            double *row = out->series + b * RG_TRAFFIC_FIELDS;
            row[0] = (double)k.offered;
            row[1] = (double)k.abandoned;
            row[2] = (double)k.answered;
            row[3] = k.answered_sum_ms;
            row[4] = (double)k.handled;
            row[5] = k.handle_sum_ms;
        }
        out->offered += (double)k.offered;
        out->abandoned += (double)k.abandoned;
        out->answered += (double)k.answered;
        out->answered_ms += k.answered_sum_ms;
        out->handled += (double)k.handled;
        out->handle_ms += k.handle_sum_ms;
    }
    ma = out->answered > 0 ? out->answered_ms / out->answered : 0;
    mh = out->handled > 0 ? out->handle_ms / out->handled : 0;
    for (b = 0; b < nb; b++) {
        rg_platform_bucket k;
        bucket_sum(&k, agg, b);
        if (k.answered > 0) {
            double d = k.answered_sum_ms / (double)k.answered - ma;
            out->ss_answered += (double)k.answered * d * d;
            banswered++;
        }
        if (k.handled > 0) {
            double d = k.handle_sum_ms / (double)k.handled - mh;
            out->ss_handled += (double)k.handled * d * d;
            bhandled++;
        }
    }
    out->df_answered = banswered > 0 ? (double)(banswered - 1) : 0;
    out->df_handled = bhandled > 0 ? (double)(bhandled - 1) : 0;
    return 0;
}

double rg_engine__traffic_total(const rg_org_traffic *t, const char *name, int use_sum)
{
    if (name == NULL)
        return 0;
    if (strcmp(name, "nOffered") == 0)
        return use_sum ? 0 : t->offered;
    if (strcmp(name, "tAbandon") == 0)
        return use_sum ? 0 : t->abandoned;
    if (strcmp(name, "tAnswered") == 0)
        return use_sum ? t->answered_ms : t->answered;
    if (strcmp(name, "tHandle") == 0)
        return use_sum ? t->handle_ms : t->handled;
    return 0;
}

double rg_engine__traffic_rate(const rg_org_traffic *t, const rg_policy_metric *metric,
                               double minutes)
{
    const char *units = metric->kind == RG_METRIC_PROPORTION ? metric->trials : metric->source;
    return minutes > 0 ? rg_engine__traffic_total(t, units, 0) / minutes : 0;
}

/* ---- online: read the analytics, size stages, plan ---- */

/* Every target's traffic over the planner's window; `pf` has every target's org. */
static int read_traffic(rg_org_traffic *traffic, double *minutes, rg_platform *pf,
                        const rg_manifest *m, const rg_resolution *res, int64_t now_ms)
{
    rg_platform_op **ops = calloc(res->count + 1, sizeof(rg_platform_op *));
    json_t **queues = calloc(res->count + 1, sizeof(json_t *));
    const char **orgs = calloc(res->count + 1, sizeof(*orgs));
    int64_t from, to;
    int rc = 0;

    if (ops == NULL || queues == NULL || orgs == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; rc == 0 && i < res->count; i++) {
        orgs[i] = res->targets[i].org;
        rc = rg_engine__plan_queues(&queues[i], m, res->targets[i].body);
    }
    rg_engine__traffic_window(&from, &to, m->policy, now_ms);
    *minutes = (double)(to - from) / 60000.0;
    if (rc < 0 ||
        (rc = rg_engine__traffic_queue(ops, pf, orgs, queues, res->count, from, to,
                                       m->policy->granularity_ms)) < 0 ||
        (rc = rg_platform_run(pf)) < 0)
        goto cleanup;
    for (size_t i = 0; i < res->count; i++)
        if ((rc = rg_engine__traffic_collect(&traffic[i], ops[i], i < RG_TRAFFIC_SERIES_ORGS)) <
            0) {
            rc = rg_error_set(rc, "org %s: analytics: %s", orgs[i], rg_error_last());
            break;
        }
cleanup:
    for (size_t i = 0; i < res->count; i++) {
        if (ops)
            rg_platform_op_free(ops[i]);
        if (queues)
            json_decref(queues[i]);
    }
    free(ops);
    free(queues);
    free(orgs);
    return rc;
}

/* Sizes the traffic-sized stages of `res` from the targets' traffic. */
static int size_stages(rg_resolution *res, const rg_manifest *m, const rg_org_traffic *traffic,
                       double minutes)
{
    double *offered;
    int rc;

    if (!rg_manifest_traffic_sized(m))
        return 0;
    if ((offered = calloc(res->count + 1, sizeof(*offered))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < res->count; i++)
        offered[i] = traffic[i].offered / minutes * ((double)m->policy->soak_limit_ms / 60000.0);
    rc = rg_resolution_size_stages(res, m, offered);
    free(offered);
    return rc;
}

static int credentials_ref(rg_buf *cred, const rg_manifest *m, const char *base_dir)
{
    if (m->platform.credentials == RG_CREDENTIALS_FILE)
        return rg_buf_printf(cred, "file:%s%s%s",
                             base_dir && m->platform.credentials_path[0] != '/' ? base_dir : "",
                             base_dir && m->platform.credentials_path[0] != '/' ? "/" : "",
                             m->platform.credentials_path);
    return rg_buf_puts(cred, "env");
}

int rg_engine_plan_stats(json_t **out, const rg_manifest *manifest, const char *base_dir,
                         const rg_platform_options *popts, int64_t now_ms)
{
    rg_resolution *res = NULL;
    rg_platform *pf = NULL;
    rg_platform_options opts;
    rg_org_traffic *traffic = NULL;
    json_t *doc = NULL;
    rg_buf cred = RG_BUF_INIT;
    double minutes = 0;
    int rc;

    if (popts)
        opts = *popts;
    else
        rg_platform_options_init(&opts);
    opts.insecure = manifest->platform.insecure;
    rg_engine__analytics_options(&opts, manifest);
    if ((rc = rg_manifest_resolve(&res, manifest)) < 0 || (rc = rg_platform_new(&pf, &opts)) < 0)
        goto cleanup;
    if ((traffic = calloc(res->count + 1, sizeof(*traffic))) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = credentials_ref(&cred, manifest, base_dir)) < 0)
        goto cleanup;
    rg_platform_credentials_begin(pf);
    for (size_t i = 0; rc == 0 && i < res->count; i++) {
        rg_platform_org org = {res->targets[i].org, res->targets[i].api_url,
                               res->targets[i].login_url, rg_buf_cstr(&cred)};
        if (!rg_platform_has_org(pf, org.id))
            rc = rg_platform_add_org(pf, &org);
    }
    rg_platform_credentials_end(pf);
    if (rc < 0)
        goto cleanup;
    if ((rc = read_traffic(traffic, &minutes, pf, manifest, res, now_ms)) < 0 ||
        (rc = size_stages(res, manifest, traffic, minutes)) < 0 ||
        (rc = rg_engine__plan_stages(&doc, manifest, res, traffic, minutes)) < 0)
        goto cleanup;
    {
        int64_t from, to;
        rg_engine__traffic_window(&from, &to, manifest->policy, now_ms);
        json_object_set_new(doc, "from_ms", json_integer(from));
        json_object_set_new(doc, "to_ms", json_integer(to));
    }
    *out = doc;
cleanup:
    rg_engine__traffic_free(traffic, res ? res->count : 0);
    rg_buf_dispose(&cred);
    rg_platform_free(pf);
    rg_resolution_free(res);
    return rc;
}

/* The planner's object from traffic already read, with its window. */
static int planned(json_t **out, const rg_manifest *m, const rg_resolution *res,
                   const rg_org_traffic *traffic, double minutes, int64_t now_ms)
{
    int64_t from, to;
    int rc = rg_engine__plan_stages(out, m, res, traffic, minutes);

    if (rc < 0)
        return rc;
    rg_engine__traffic_window(&from, &to, m->policy, now_ms);
    json_object_set_new(*out, "from_ms", json_integer(from));
    json_object_set_new(*out, "to_ms", json_integer(to));
    return 0;
}

/* What the start records: the planner's object, or why there is none (rc < 0), stamped. */
static int planner_doc(json_t **out, int rc, json_t *doc, int64_t now_ms)
{
    if (rc < 0) {
        const char *why = rg_error_last();
        json_decref(doc);
        doc = json_pack("{s:s+, s:I}", "error",
                        "cannot read analytics: ", why && *why ? why : "unknown error",
                        "planned_at_ms", (json_int_t)now_ms);
        rg_error_clear();
    } else if (doc) {
        json_object_set_new(doc, "planned_at_ms", json_integer(now_ms));
    }
    if (doc == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    *out = doc;
    return 0;
}

int rg_engine__size_stages(json_t **out, json_t **out_planner, rg_engine *engine,
                           rg_resolution *res, const rg_manifest *m, const char *base_dir,
                           const char *tenant, int64_t now_ms)
{
    rg_platform *pf = NULL;
    rg_platform_options opts = engine->opts.platform;
    rg_org_traffic *traffic = NULL;
    rg_buf cred = RG_BUF_INIT;
    json_t *stages = NULL, *doc = NULL;
    double minutes = 0;
    int rc;

    *out = NULL;
    if (!rg_manifest_traffic_sized(m))
        return 0;
    opts.insecure = engine->opts.add_org ? 0 : m->platform.insecure;
    rg_engine__analytics_options(&opts, m);
    if ((rc = rg_platform_new(&pf, &opts)) < 0 || (rc = credentials_ref(&cred, m, base_dir)) < 0)
        goto cleanup;
    if ((traffic = calloc(res->count + 1, sizeof(*traffic))) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    rg_platform_credentials_begin(pf);
    for (size_t i = 0; rc == 0 && i < res->count; i++) {
        rg_platform_org org = {res->targets[i].org, res->targets[i].api_url,
                               res->targets[i].login_url, rg_buf_cstr(&cred)};
        if (rg_platform_has_org(pf, org.id))
            continue;
        rc = engine->opts.add_org
                 ? engine->opts.add_org(pf, tenant, org.id, engine->opts.add_org_payload)
                 : rg_platform_add_org(pf, &org);
    }
    rg_platform_credentials_end(pf);
    if (rc < 0)
        goto cleanup;
    if ((rc = read_traffic(traffic, &minutes, pf, m, res, now_ms)) < 0 ||
        (rc = size_stages(res, m, traffic, minutes)) < 0)
        goto cleanup;
    if ((stages = json_array()) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t k = 0; k < m->stages_count; k++) {
        double offered = 0;
        json_t *orgs;
        if (!m->stages[k].min_offered)
            continue;
        orgs = json_array();
        for (size_t i = 0; i < res->count; i++)
            if (res->targets[i].stage == k) {
                offered += traffic[i].offered / minutes * (m->policy->soak_limit_ms / 60000.0);
                json_array_append_new(orgs, json_string(res->targets[i].org));
            }
        json_array_append_new(stages, json_pack("{s:I, s:I, s:f, s:o}", "stage", (json_int_t)k + 1,
                                                "min_offered", (json_int_t)m->stages[k].min_offered,
                                                "expected_offered", offered, "orgs", orgs));
    }
    *out = stages;
    if (out_planner) { /* the same read plans the stages: the start reads analytics once */
        rc = planned(&doc, m, res, traffic, minutes, now_ms);
        rc = planner_doc(out_planner, rc, doc, now_ms);
    }
cleanup:
    if (rc < 0)
        rg_error_prefix("sizing stages by traffic (min_offered)");
    rg_engine__traffic_free(traffic, res ? res->count : 0);
    rg_buf_dispose(&cred);
    rg_platform_free(pf);
    return rc;
}

int rg_engine__stage_percent(const struct rg_rollout_ctx *ctx, int k)
{
    size_t covered = 0;

    if (k < 0 || (size_t)k >= ctx->manifest->stages_count)
        return 0;
    if (!ctx->manifest->stages[k].min_offered || ctx->targets.count == 0)
        return ctx->manifest->stages[k].percent;
    for (size_t i = 0; i < ctx->targets.count; i++)
        covered += ctx->targets.items[i].stage_index <= k;
    return (int)((100 * covered + ctx->targets.count / 2) / ctx->targets.count);
}

/* The start's analytics read is bounded: one retry, short timeouts, a short Retry-After. */
static void bounded_options(rg_platform_options *o)
{
    if (o->connect_timeout_ms <= 0 || o->connect_timeout_ms > 5000)
        o->connect_timeout_ms = 5000;
    if (o->request_timeout_ms <= 0 || o->request_timeout_ms > 10000)
        o->request_timeout_ms = 10000;
    o->max_retries = o->max_retries > 1 ? 1 : o->max_retries;
    o->max_429_retries = o->max_429_retries > 1 ? 1 : o->max_429_retries;
    if (o->retry_after_cap_ms > 2000)
        o->retry_after_cap_ms = 2000;
    if (o->backoff_cap_ms > 1000)
        o->backoff_cap_ms = 1000;
}

static int plan_now(json_t **out, rg_engine *engine, const rg_manifest *m, const char *base_dir,
                    const char *tenant, int64_t now_ms)
{
    rg_resolution *res = NULL;
    rg_platform *pf = NULL;
    rg_platform_options opts = engine->opts.platform;
    rg_org_traffic *traffic = NULL;
    rg_buf cred = RG_BUF_INIT;
    double minutes = 0;
    int rc;

    bounded_options(&opts);
    opts.insecure = engine->opts.add_org ? 0 : m->platform.insecure;
    rg_engine__analytics_options(&opts, m);
    if ((rc = rg_manifest_resolve(&res, m)) < 0 || (rc = rg_platform_new(&pf, &opts)) < 0 ||
        (rc = credentials_ref(&cred, m, base_dir)) < 0)
        goto cleanup;
    if ((traffic = calloc(res->count + 1, sizeof(*traffic))) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    rg_platform_credentials_begin(pf);
    for (size_t i = 0; rc == 0 && i < res->count; i++) {
        rg_platform_org org = {res->targets[i].org, res->targets[i].api_url,
                               res->targets[i].login_url, rg_buf_cstr(&cred)};
        if (rg_platform_has_org(pf, org.id))
            continue;
        rc = engine->opts.add_org
                 ? engine->opts.add_org(pf, tenant, org.id, engine->opts.add_org_payload)
                 : rg_platform_add_org(pf, &org);
    }
    rg_platform_credentials_end(pf);
    if (rc < 0)
        goto cleanup;
    if ((rc = read_traffic(traffic, &minutes, pf, m, res, now_ms)) < 0 ||
        (rc = size_stages(res, m, traffic, minutes)) < 0)
        goto cleanup;
    rc = planned(out, m, res, traffic, minutes, now_ms);
cleanup:
    rg_engine__traffic_free(traffic, res ? res->count : 0);
    rg_buf_dispose(&cred);
    rg_platform_free(pf);
    rg_resolution_free(res);
    return rc;
}

int rg_engine__plan_at_start(json_t **out, rg_engine *engine, const rg_manifest *m,
                             const char *base_dir, const char *tenant, int64_t now_ms)
{
    json_t *doc = NULL;
    int rc = plan_now(&doc, engine, m, base_dir, tenant, now_ms);

    return planner_doc(out, rc, doc, now_ms);
}
