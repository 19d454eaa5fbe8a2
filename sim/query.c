/* query.c - analytics aggregate and queue observation queries (docs/platform-api.md) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

#define SIM_MAX_BUCKETS 100000
#define SIM_MAX_CALLS 5e7 /* calls one query may simulate */

static const char *const metric_names[SIM_M_COUNT] = {"nOffered", "tAbandon", "tAnswered",
                                                      "tHandle", "tWait"};

/* Evaluates a filter clause for one queue (validating it as it goes). */
static int eval_filter(int *out, json_t *f, const char *queue_id, int depth)
{
    static const char *const keys[] = {"type", "predicates", "clauses", NULL};
    const char *type, *key;
    json_t *v, *item;
    int is_and, acc, any = 0;
    size_t i;

    if (depth > 8 || !json_is_object(f))
        return rg_error_set(RG_EINVALID, "filter: expected an object (at most 8 levels deep)");
    json_object_foreach(f, key, v)
    {
        int known = 0;
        for (const char *const *k = keys; *k; k++)
            known |= strcmp(*k, key) == 0;
        if (!known)
            return rg_error_set(RG_EINVALID, "filter: unknown key '%s'", key);
    }
    type = json_string_value(json_object_get(f, "type"));
    if (type == NULL || (strcmp(type, "and") != 0 && strcmp(type, "or") != 0))
        return rg_error_set(RG_EINVALID, "filter.type: expected \"and\" or \"or\"");
    is_and = strcmp(type, "and") == 0;
    acc = is_and;
    json_array_foreach(json_object_get(f, "predicates"), i, item)
    {
        const char *dim = json_string_value(json_object_get(item, "dimension"));
        const char *op = json_string_value(json_object_get(item, "operator"));
        const char *value = json_string_value(json_object_get(item, "value"));
        int match;
        if (dim == NULL || value == NULL || (op && strcmp(op, "matches") != 0))
            return rg_error_set(RG_EINVALID,
                                "filter.predicates[%zu]: expected a dimension, "
                                "operator \"matches\" and a string value",
                                i);
        if (strcmp(dim, "queueId") == 0)
            match = strcmp(value, queue_id) == 0;
        else if (strcmp(dim, "mediaType") == 0)
            match = strcmp(value, "voice") == 0;
        else
            return rg_error_set(RG_EINVALID,
                                "filter.predicates[%zu].dimension: '%s' is not "
                                "supported (queueId, mediaType)",
                                i, dim);
        acc = is_and ? acc && match : acc || match;
        any = 1;
    }
    json_array_foreach(json_object_get(f, "clauses"), i, item)
    {
        int match = 0, rc = eval_filter(&match, item, queue_id, depth + 1);
        if (rc < 0)
            return rc;
        acc = is_and ? acc && match : acc || match;
        any = 1;
    }
    *out = any ? acc : 1;
    return 0;
}

typedef struct {
    int64_t start, end, gran;
    int metrics[SIM_M_COUNT]; /* request order: index into metric_names, -1 ends */
    size_t nmetrics;
    int by_queue, by_media;
    json_t *filter;
} agg_query;

static int parse_metrics(agg_query *q, json_t *metrics)
{
    size_t i;
    json_t *m;

    if (!json_is_array(metrics) || json_array_size(metrics) == 0)
        return rg_error_set(RG_EINVALID, "metrics: expected a non-empty array");
    json_array_foreach(metrics, i, m)
    {
        int found = -1;
        for (int k = 0; k < SIM_M_COUNT; k++)
            if (json_is_string(m) && strcmp(json_string_value(m), metric_names[k]) == 0)
                found = k;
        if (found < 0)
            return rg_error_set(RG_EINVALID,
                                "metrics[%zu]: unsupported metric (nOffered, "
                                "tAbandon, tAnswered, tHandle, tWait)",
                                i);
        for (size_t k = 0; k < q->nmetrics; k++)
            if (q->metrics[k] == found)
                found = -1;
        if (found >= 0)
            q->metrics[q->nmetrics++] = found;
    }
    return 0;
}

static int parse_aggregate(agg_query *q, json_t *req)
{
    static const char *const keys[] = {"interval",
                                       "granularity",
                                       "groupBy",
                                       "filter",
                                       "metrics",
                                       "timeZone",
                                       "flattenMultivaluedDimensions",
                                       NULL};
    const char *key, *gran;
    json_t *v;
    size_t i;
    int rc;

    memset(q, 0, sizeof(*q));
    if (!json_is_object(req))
        return rg_error_set(RG_EINVALID, "body: expected a JSON object");
    json_object_foreach(req, key, v)
    {
        int known = 0;
        for (const char *const *k = keys; *k; k++)
            known |= strcmp(*k, key) == 0;
        if (!known)
            return rg_error_set(RG_EINVALID, "unknown key '%s'", key);
    }
    if (!json_is_string(json_object_get(req, "interval")) ||
        rg_interval_parse(&q->start, &q->end, json_string_value(json_object_get(req, "interval"))) <
            0)
        return rg_error_prefix("interval");
    gran = json_string_value(json_object_get(req, "granularity"));
    q->gran = q->end - q->start;
    if (json_object_get(req, "granularity") &&
        (gran == NULL || gran[0] != 'P' || rg_parse_duration_ms(&q->gran, gran) < 0 || q->gran < 1))
        return rg_error_set(RG_EINVALID, "granularity: expected an ISO-8601 duration such as "
                                         "PT1M or PT1S");
    if ((q->end - q->start) / q->gran >= SIM_MAX_BUCKETS)
        return rg_error_set(RG_EINVALID, "granularity: more than %d buckets", SIM_MAX_BUCKETS);
    json_array_foreach(json_object_get(req, "groupBy"), i, v)
    {
        const char *g = json_string_value(v);
        if (g && strcmp(g, "queueId") == 0)
            q->by_queue = 1;
        else if (g && strcmp(g, "mediaType") == 0)
            q->by_media = 1;
        else
            return rg_error_set(RG_EINVALID, "groupBy[%zu]: supported: queueId, mediaType", i);
    }
    if ((v = json_object_get(req, "groupBy")) != NULL && !json_is_array(v))
        return rg_error_set(RG_EINVALID, "groupBy: expected an array");
    q->filter = json_object_get(req, "filter");
    if (q->filter != NULL && (rc = eval_filter(&(int){0}, q->filter, "", 0)) < 0)
        return rc;
    return parse_metrics(q, json_object_get(req, "metrics"));
}

static json_t *metric_json(int m, const sim_stat *st)
{
    if (m == SIM_M_OFFERED)
        return json_pack("{s:s,s:{s:I}}", "metric", metric_names[m], "stats", "count",
                         (json_int_t)st->count);
    return json_pack("{s:s,s:{s:I,s:I,s:I,s:I}}", "metric", metric_names[m], "stats", "count",
                     (json_int_t)st->count, "sum", (json_int_t)st->sum, "min", (json_int_t)st->min,
                     "max", (json_int_t)st->max);
}

static void stat_merge(sim_stat *into, const sim_stat *from)
{
    if (from->count == 0)
        return;
    if (into->count == 0 || from->min < into->min)
        into->min = from->min;
    if (into->count == 0 || from->max > into->max)
        into->max = from->max;
    into->count += from->count;
    into->sum += from->sum;
}

/* The data array of one group: the elapsed buckets with calls, over the given queues. */
static json_t *group_data(const agg_query *q, const sim_tele_ctx *ctx, const int *queues,
                          int64_t now_ms)
{
    json_t *data = json_array();

    for (int64_t b = q->start; data && b < q->end; b += q->gran) {
        int64_t e = b + q->gran < q->end ? b + q->gran : q->end;
        sim_stat total[SIM_M_COUNT], one[SIM_M_COUNT];
        char interval[80];
        json_t *metrics;

        if (e > now_ms)
            break;
        memset(total, 0, sizeof(total));
        for (size_t k = 0; k < ctx->org->nqueues; k++) {
            if (!queues[k])
                continue;
            sim_tele_bucket(one, ctx, k, b, e);
            for (int m = 0; m < SIM_M_COUNT; m++)
                stat_merge(&total[m], &one[m]);
        }
        if (total[SIM_M_OFFERED].count == 0)
            continue;
        metrics = json_array();
        for (size_t i = 0; i < q->nmetrics; i++)
            if (total[q->metrics[i]].count > 0)
                json_array_append_new(metrics, metric_json(q->metrics[i], &total[q->metrics[i]]));
        rg_interval_format(interval, sizeof(interval), b, e);
        json_array_append_new(data,
                              json_pack("{s:s,s:o}", "interval", interval, "metrics", metrics));
    }
    return data;
}

static int check_volume(const agg_query *q, const sim_world *world, const sim_org *org)
{
    double per_s = 0, mult = 1;

    for (size_t s = 0; s < org->nstrategies; s++)
        per_s += org->strategies[s].calls_per_min / 60.0;
    if (org->route.row != NULL)
        per_s += org->route.history.calls_per_min / 60.0;
    for (size_t i = 0; i < world->nevents; i++)
        mult *= world->events[i].calls_mult > 1 ? world->events[i].calls_mult : 1;
    if (per_s * mult * world->time_scale * (double)(q->end - q->start) / 1000.0 > SIM_MAX_CALLS)
        return rg_error_set(RG_EINVALID, "interval: too long for the simulator (over %.0f calls)",
                            SIM_MAX_CALLS);
    return 0;
}

static json_t *group_key(const agg_query *q, const char *queue_id)
{
    json_t *g = json_object();
    if (q->by_media)
        json_object_set_new(g, "mediaType", json_string("voice"));
    if (queue_id)
        json_object_set_new(g, "queueId", json_string(queue_id));
    return g;
}

int sim_query_aggregates(sim_reply *reply, sim_world *world, size_t org_index, json_t *req,
                         int64_t now_ms)
{
    const sim_org *org = &world->orgs[org_index];
    int *queues = calloc(org->nqueues + 1, sizeof(int));
    json_t *results = json_array(), *data;
    sim_tele_ctx ctx = {0};
    agg_query q;
    int rc;

    if (queues == NULL || results == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = parse_aggregate(&q, req)) < 0 || (rc = check_volume(&q, world, org)) < 0) {
        rc = sim_reply_error(reply, 400, "invalid.value", "%s", rg_error_last());
        goto cleanup;
    }
    for (size_t k = 0; k < org->nqueues; k++)
        if (q.filter == NULL || eval_filter(&queues[k], q.filter, org->queues[k].id, 0) < 0)
            queues[k] = q.filter == NULL;
    if ((rc = sim_tele_snapshot(&ctx, world, org_index)) < 0)
        goto cleanup;
    for (size_t k = 0; k < org->nqueues && q.by_queue; k++) {
        int *one = calloc(org->nqueues + 1, sizeof(int));
        if (!queues[k] || one == NULL) {
            free(one);
            continue;
        }
        one[k] = 1;
        data = group_data(&q, &ctx, one, now_ms);
        free(one);
        if (json_array_size(data) > 0)
            json_array_append_new(
                results,
                json_pack("{s:o,s:o}", "group", group_key(&q, org->queues[k].id), "data", data));
        else
            json_decref(data);
    }
    if (!q.by_queue) {
        data = group_data(&q, &ctx, queues, now_ms);
        if (json_array_size(data) > 0)
            json_array_append_new(
                results, json_pack("{s:o,s:o}", "group", group_key(&q, NULL), "data", data));
        else
            json_decref(data);
    }
    rc = sim_reply_json(reply, 200, json_pack("{s:O}", "results", results));
cleanup:
    sim_tele_dispose(&ctx);
    json_decref(results);
    free(queues);
    return rc;
}

static void observe_queue(json_t *results, const sim_tele_ctx *ctx, size_t k, int want[5],
                          int64_t now_ms)
{
    const char *id = ctx->org->queues[k].id;
    int64_t agents, busy, waiting;
    json_t *users = json_array(), *media = json_array();

    sim_tele_observe(&agents, &busy, &waiting, ctx, k, now_ms);
    if (want[0]) {
        json_array_append_new(users,
                              json_pack("{s:s,s:s,s:{s:I}}", "metric", "oOnQueueUsers", "qualifier",
                                        "IDLE", "stats", "count", (json_int_t)(agents - busy)));
        json_array_append_new(users,
                              json_pack("{s:s,s:s,s:{s:I}}", "metric", "oOnQueueUsers", "qualifier",
                                        "INTERACTING", "stats", "count", (json_int_t)busy));
    }
    if (want[1])
        json_array_append_new(users, json_pack("{s:s,s:{s:I}}", "metric", "oActiveUsers", "stats",
                                               "count", (json_int_t)agents + agents / 8));
    if (want[2])
        json_array_append_new(users,
                              json_pack("{s:s,s:{s:I}}", "metric", "oMemberUsers", "stats", "count",
                                        (json_int_t)(ctx->org->queues[k].agents * 5 / 4)));
    if (want[3])
        json_array_append_new(media, json_pack("{s:s,s:{s:I}}", "metric", "oWaiting", "stats",
                                               "count", (json_int_t)waiting));
    if (want[4])
        json_array_append_new(media, json_pack("{s:s,s:{s:I}}", "metric", "oInteracting", "stats",
                                               "count", (json_int_t)busy));
    if (json_array_size(users) > 0)
        json_array_append_new(results,
                              json_pack("{s:{s:s},s:O}", "group", "queueId", id, "data", users));
    if (json_array_size(media) > 0)
        json_array_append_new(results, json_pack("{s:{s:s,s:s},s:O}", "group", "queueId", id,
                                                 "mediaType", "voice", "data", media));
    json_decref(users);
    json_decref(media);
}

static int parse_observation_metrics(int want[5], json_t *metrics)
{
    static const char *const names[5] = {"oOnQueueUsers", "oActiveUsers", "oMemberUsers",
                                         "oWaiting", "oInteracting"};
    size_t i;
    json_t *m;

    if (!json_is_array(metrics) || json_array_size(metrics) == 0)
        return rg_error_set(RG_EINVALID, "metrics: expected a non-empty array");
    json_array_foreach(metrics, i, m)
    {
        int found = 0;
        for (int k = 0; k < 5; k++)
            if (json_is_string(m) && strcmp(json_string_value(m), names[k]) == 0)
                found = want[k] = 1;
        if (!found)
            return rg_error_set(RG_EINVALID,
                                "metrics[%zu]: unsupported metric (oOnQueueUsers, "
                                "oActiveUsers, oMemberUsers, oWaiting, oInteracting)",
                                i);
    }
    return 0;
}

int sim_query_observations(sim_reply *reply, sim_world *world, size_t org_index, json_t *req,
                           int64_t now_ms)
{
    const sim_org *org = &world->orgs[org_index];
    json_t *results = NULL, *filter = json_object_get(req, "filter");
    sim_tele_ctx ctx = {0};
    int want[5] = {0}, rc, match;
    const char *key;
    json_t *v;

    if (!json_is_object(req))
        return sim_reply_error(reply, 400, "invalid.value", "body: expected a JSON object");
    json_object_foreach(req, key, v)
    {
        if (strcmp(key, "filter") != 0 && strcmp(key, "metrics") != 0 &&
            strcmp(key, "detailMetrics") != 0)
            return sim_reply_error(reply, 400, "invalid.value", "unknown key '%s'", key);
    }
    if (filter == NULL || eval_filter(&match, filter, "", 0) < 0 ||
        parse_observation_metrics(want, json_object_get(req, "metrics")) < 0)
        return sim_reply_error(reply, 400, "invalid.value", "%s",
                               filter ? rg_error_last() : "filter: required");
    if ((rc = sim_tele_snapshot(&ctx, world, org_index)) < 0 || (results = json_array()) == NULL)
        goto cleanup;
    for (size_t k = 0; k < org->nqueues; k++)
        if (eval_filter(&match, filter, org->queues[k].id, 0) == 0 && match)
            observe_queue(results, &ctx, k, want, now_ms);
    rc = sim_reply_json(reply, 200, json_pack("{s:O}", "results", results));
cleanup:
    sim_tele_dispose(&ctx);
    json_decref(results);
    return rc;
}
