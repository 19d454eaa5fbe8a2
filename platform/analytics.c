/* analytics.c - conversation aggregates and queue observations: request bodies, and strict
 * parsing of the answers (absent metric, bucket or group = zero; malformed = error) */
#include <math.h>
#include <string.h>

#include "platform/client.h"

#define MAX_EXACT_INT 9007199254740992.0 /* 2^53 */

static json_t *queue_filter(char *const *ids, size_t n)
{
    json_t *preds = json_array();

    for (size_t i = 0; preds != NULL && i < n; i++) {
        if (json_array_append_new(preds, json_pack("{s:s, s:s, s:s, s:s}", "type", "dimension",
                                                   "dimension", "queueId", "operator", "matches",
                                                   "value", ids[i])) < 0) {
            json_decref(preds);
            return NULL;
        }
    }
    return preds != NULL ? json_pack("{s:s, s:o}", "type", "or", "predicates", preds) : NULL;
}

static int dump_body(char **out, json_t *doc)
{
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;

    json_decref(doc);
    if (text == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory building a query");
    *out = text;
    return 0;
}

int rg_platform__aggregates_body(char **out, const rg_platform_aggregates_query *q,
                                 const char *media_type)
{
    char interval[2 * RG_TIME_ISO_LEN + 2];
    rg_buf gran = RG_BUF_INIT;
    json_t *filter, *doc = NULL;
    int error;

    rg_interval_format(interval, sizeof(interval), q->start_ms, q->end_ms);
    if ((error = rg_format_iso_duration(&gran, q->granularity_ms)) < 0)
        return error;
    filter = queue_filter((char *const *)q->queue_ids, q->nqueues);
    /* voice by default: chat and email on the same queues stay out of the numbers */
    if (filter != NULL && media_type != NULL && media_type[0] != '\0')
        filter = json_pack("{s:s, s:[{s:s, s:s, s:s, s:s}], s:[o]}", "type", "and", "predicates",
                           "type", "dimension", "dimension", "mediaType", "operator", "matches",
                           "value", media_type, "clauses", filter);
    if (filter != NULL)
        doc = json_pack("{s:s, s:s, s:[s], s:o, s:[s,s,s,s]}", "interval", interval, "granularity",
                        rg_buf_cstr(&gran), "groupBy", "queueId", "filter", filter, "metrics",
                        "nOffered", "tAbandon", "tAnswered", "tHandle");
    rg_buf_dispose(&gran);
    return dump_body(out, doc);
}

int rg_platform__observations_body(char **out, char *const *queue_ids, size_t n)
{
    json_t *filter = queue_filter(queue_ids, n);
    json_t *doc = NULL;

    if (filter != NULL)
        doc = json_pack("{s:o, s:[s,s,s]}", "filter", filter, "metrics", "oOnQueueUsers",
                        "oActiveUsers", "oWaiting");
    return dump_body(out, doc);
}

void rg_platform__aggregates_dispose(rg_platform_aggregates *agg)
{
    for (size_t i = 0; agg->queues != NULL && i < agg->nqueues; i++)
        free(agg->queues[i].buckets);
    free(agg->queues);
    memset(agg, 0, sizeof(*agg));
}

/* A count: a non-negative integral number (integers only in practice). */
static int get_count(int64_t *out, const json_t *stats, const char *where)
{
    json_t *v = json_object_get(stats, "count");
    double d;

    if (v == NULL)
        return rg_error_set(RG_EINVALID, "%s.stats.count is missing", where);
    if (!json_is_number(v))
        return rg_error_set(RG_EINVALID, "%s.stats.count is not a number", where);
    d = json_number_value(v);
    if (!(d >= 0) || d > MAX_EXACT_INT || floor(d) != d)
        return rg_error_set(RG_EINVALID, "%s.stats.count %g is not a non-negative integer", where,
                            d);
    *out = (int64_t)d;
    return 0;
}

static int get_sum(double *out, const json_t *stats, int64_t count, const char *where)
{
    json_t *v = json_object_get(stats, "sum");
    double d;

    if (v == NULL) {
        if (count > 0)
            return rg_error_set(RG_EINVALID, "%s.stats.sum is missing with count %lld", where,
                                (long long)count);
        *out = 0;
        return 0;
    }
    d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!isfinite(d) || d < 0)
        return rg_error_set(RG_EINVALID, "%s.stats.sum is not a non-negative number", where);
    *out = d;
    return 0;
}

static int take_metric(rg_platform_bucket *b, unsigned *seen, const json_t *m, const char *where)
{
    json_t *name = json_object_get(m, "metric"), *stats = json_object_get(m, "stats");
    static const char *const names[] = {"nOffered", "tAbandon", "tAnswered", "tHandle"};
    unsigned which = 4;
    int64_t count = 0;
    double sum = 0;
    int error;

    if (!json_is_object(m) || !json_is_string(name))
        return rg_error_set(RG_EINVALID, "%s: not an object with a string \"metric\"", where);
    if (!json_is_object(stats))
        return rg_error_set(RG_EINVALID, "%s (%s): \"stats\" is not an object", where,
                            json_string_value(name));
    for (unsigned i = 0; i < 4; i++)
        if (strcmp(json_string_value(name), names[i]) == 0)
            which = i;
    if ((error = get_count(&count, stats, where)) < 0)
        return error;
    if (which >= 2 && (error = get_sum(&sum, stats, count, where)) < 0)
        return error;
    if (which == 4)
        return 0; /* a metric not asked for: checked, not used */
    if (*seen & (1u << which))
        return rg_error_set(RG_EINVALID, "%s: metric %s appears twice", where, names[which]);
    *seen |= 1u << which;
    switch (which) {
    case 0: b->offered = count; break;
    case 1: b->abandoned = count; break;
    case 2:
        b->answered = count;
        b->answered_sum_ms = sum;
        break;
    default:
        b->handled = count;
        b->handle_sum_ms = sum;
        break;
    }
    return 0;
}

/* The bucket a data entry's interval names: on the query's grid, inside it. */
static int bucket_index(size_t *out, const rg_platform_aggregates *agg, const json_t *interval,
                        const char *where)
{
    int64_t start, end, offset;

    if (!json_is_string(interval))
        return rg_error_set(RG_EINVALID, "%s.interval is not a string", where);
    if (rg_interval_parse(&start, &end, json_string_value(interval)) < 0)
        return rg_error_set(RG_EINVALID, "%s.interval \"%.64s\" is not start/end ISO-8601", where,
                            json_string_value(interval));
    offset = start - agg->start_ms;
    if (start < agg->start_ms || start >= agg->end_ms || offset % agg->granularity_ms != 0)
        return rg_error_set(RG_EINVALID, "%s.interval \"%.64s\" is not a bucket of the query",
                            where, json_string_value(interval));
    if (end <= start || end > start + agg->granularity_ms)
        return rg_error_set(RG_EINVALID, "%s.interval \"%.64s\" has a bad end", where,
                            json_string_value(interval));
    *out = (size_t)(offset / agg->granularity_ms);
    return 0;
}

static int take_data(rg_platform_aggregates *agg, rg_platform_queue_series *series,
                     unsigned char *filled, const json_t *data, const char *where)
{
    char at[160];
    size_t idx = 0, i;
    json_t *m, *metrics = json_object_get(data, "metrics");
    unsigned seen = 0;
    int error;

    if (!json_is_object(data))
        return rg_error_set(RG_EINVALID, "%s is not an object", where);
    if ((error = bucket_index(&idx, agg, json_object_get(data, "interval"), where)) < 0)
        return error;
    if (filled[idx])
        return rg_error_set(RG_EINVALID, "%s: bucket %zu appears twice", where, idx);
    filled[idx] = 1;
    if (metrics != NULL && !json_is_array(metrics))
        return rg_error_set(RG_EINVALID, "%s.metrics is not an array", where);
    json_array_foreach(metrics, i, m)
    {
        snprintf(at, sizeof(at), "%s.metrics[%zu]", where, i);
        if ((error = take_metric(&series->buckets[idx], &seen, m, at)) < 0)
            return error;
    }
    return 0;
}

static rg_platform_queue_series *find_series(rg_platform_aggregates *agg, const json_t *group)
{
    json_t *qid = json_object_get(group, "queueId");

    if (!json_is_object(group) || !json_is_string(qid))
        return NULL;
    for (size_t i = 0; i < agg->nqueues; i++)
        /* Analyzer false positive: the array is allocated with the count's entries and filled
         * before the count grows. */
        // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker)
        if (strcmp(agg->queues[i].queue_id, json_string_value(qid)) == 0)
            return &agg->queues[i];
    return NULL;
}

static int take_result(rg_platform_aggregates *agg, unsigned char *filled, const json_t *res,
                       const char *where)
{
    rg_platform_queue_series *series;
    json_t *data, *d;
    char at[128];
    size_t i, nb;
    int error;

    if (!json_is_object(res))
        return rg_error_set(RG_EINVALID, "%s is not an object", where);
    if ((series = find_series(agg, json_object_get(res, "group"))) == NULL)
        return rg_error_set(RG_EINVALID, "%s.group has no queueId that was queried", where);
    nb = series->nbuckets;
    filled += (size_t)(series - agg->queues) * (nb + 1);
    if (filled[nb] != 0)
        return rg_error_set(RG_EINVALID, "%s: queue %s appears twice", where, series->queue_id);
    filled[nb] = 1;
    data = json_object_get(res, "data");
    if (data != NULL && !json_is_array(data))
        return rg_error_set(RG_EINVALID, "%s.data is not an array", where);
    json_array_foreach(data, i, d)
    {
        snprintf(at, sizeof(at), "%s.data[%zu]", where, i);
        if ((error = take_data(agg, series, filled, d, at)) < 0)
            return error;
    }
    return 0;
}

static int aggregates_alloc(rg_platform_aggregates *agg, const rg_platform_aggregates_query *q)
{
    int64_t span = q->end_ms - q->start_ms;
    size_t nb = (size_t)((span + q->granularity_ms - 1) / q->granularity_ms);

    agg->start_ms = q->start_ms;
    agg->end_ms = q->end_ms;
    agg->granularity_ms = q->granularity_ms;
    if ((agg->queues = calloc(q->nqueues, sizeof(*agg->queues))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    agg->nqueues = q->nqueues;
    for (size_t i = 0; i < q->nqueues; i++) {
        rg_platform_queue_series *s = &agg->queues[i];
        s->queue_id = q->queue_ids[i];
        s->nbuckets = nb;
        if ((s->buckets = calloc(nb, sizeof(*s->buckets))) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        for (size_t b = 0; b < nb; b++) {
            s->buckets[b].start_ms = q->start_ms + (int64_t)b * q->granularity_ms;
            s->buckets[b].end_ms = s->buckets[b].start_ms + q->granularity_ms;
            if (s->buckets[b].end_ms > q->end_ms)
                s->buckets[b].end_ms = q->end_ms;
        }
    }
    return 0;
}

int rg_platform__aggregates_parse(rg_platform_aggregates *out, const rg_platform_op *op,
                                  const json_t *body)
{
    rg_platform_aggregates agg = {0};
    unsigned char *filled = NULL; /* per queue: nbuckets flags + 1 "group seen" flag */
    json_t *results = json_object_get(body, "results"), *r;
    char at[64];
    size_t i;
    int error;

    if (!json_is_object(body))
        return rg_error_set(RG_EINVALID, "the response is not a JSON object");
    if (results != NULL && !json_is_array(results))
        return rg_error_set(RG_EINVALID, "results is not an array");
    if ((error = aggregates_alloc(&agg, &op->query)) < 0)
        goto cleanup;
    if ((filled = calloc(agg.nqueues, agg.queues[0].nbuckets + 1)) == NULL) {
        error = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    json_array_foreach(results, i, r)
    {
        snprintf(at, sizeof(at), "results[%zu]", i);
        if ((error = take_result(&agg, filled, r, at)) < 0)
            goto cleanup;
    }
    rg_platform__aggregates_dispose(out);
    *out = agg;
    memset(&agg, 0, sizeof(agg));

cleanup:
    free(filled);
    rg_platform__aggregates_dispose(&agg);
    return error;
}

static int take_observation(rg_platform_observation *obs, const json_t *d, const char *where)
{
    json_t *name = json_object_get(d, "metric"), *stats = json_object_get(d, "stats");
    json_t *qual = json_object_get(d, "qualifier");
    int64_t count;
    int error;

    if (!json_is_object(d) || !json_is_string(name))
        return rg_error_set(RG_EINVALID, "%s: not an object with a string \"metric\"", where);
    if (qual != NULL && !json_is_string(qual) && !json_is_null(qual))
        return rg_error_set(RG_EINVALID, "%s.qualifier is not a string", where);
    if (!json_is_object(stats))
        return rg_error_set(RG_EINVALID, "%s.stats is not an object", where);
    int64_t *into = NULL;

    if ((error = get_count(&count, stats, where)) < 0)
        return error;
    if (strcmp(json_string_value(name), "oOnQueueUsers") == 0)
        into = &obs->on_queue;
    else if (strcmp(json_string_value(name), "oActiveUsers") == 0)
        into = &obs->active;
    else if (strcmp(json_string_value(name), "oWaiting") == 0)
        into = &obs->waiting;
    if (into == NULL)
        return 0;
    /* Counts are >= 0 (get_count); their sum must still fit. */
    if (count > INT64_MAX - *into)
        return rg_error_set(RG_EINVALID, "%s: %s counts add up beyond 2^63", where,
                            json_string_value(name));
    *into += count;
    return 0;
}

static int take_obs_result(rg_platform_observation *all, size_t n, const json_t *res,
                           const char *where)
{
    json_t *group = json_object_get(res, "group"), *qid = json_object_get(group, "queueId");
    json_t *data = json_object_get(res, "data"), *d;
    rg_platform_observation *obs = NULL;
    char at[128];
    size_t i;
    int error;

    if (!json_is_object(res) || !json_is_object(group) || !json_is_string(qid))
        return rg_error_set(RG_EINVALID, "%s: no group.queueId", where);
    for (i = 0; i < n; i++)
        if (strcmp(all[i].queue_id, json_string_value(qid)) == 0)
            obs = &all[i];
    if (obs == NULL)
        return rg_error_set(RG_EINVALID, "%s.group.queueId %.64s was not queried", where,
                            json_string_value(qid));
    if (data != NULL && !json_is_array(data))
        return rg_error_set(RG_EINVALID, "%s.data is not an array", where);
    json_array_foreach(data, i, d)
    {
        snprintf(at, sizeof(at), "%s.data[%zu]", where, i);
        if ((error = take_observation(obs, d, at)) < 0)
            return error;
    }
    return 0;
}

int rg_platform__observations_parse(rg_platform_observation **out, const rg_platform_op *op,
                                    const json_t *body)
{
    rg_platform_observation *all;
    json_t *results = json_object_get(body, "results"), *r;
    char at[64];
    size_t i;
    int error;

    if (!json_is_object(body))
        return rg_error_set(RG_EINVALID, "the response is not a JSON object");
    if (results != NULL && !json_is_array(results))
        return rg_error_set(RG_EINVALID, "results is not an array");
    if ((all = calloc(op->nqueues, sizeof(*all))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (i = 0; i < op->nqueues; i++)
        all[i].queue_id = op->queue_ids[i];
    json_array_foreach(results, i, r)
    {
        snprintf(at, sizeof(at), "results[%zu]", i);
        if ((error = take_obs_result(all, op->nqueues, r, at)) < 0) {
            free(all);
            return error;
        }
    }
    free(*out);
    *out = all;
    return 0;
}

/* ---- batches: at most opts.predicate_batch queueId predicates per query ---- */

static size_t batch_len(const rg_platform_op *op)
{
    size_t left = op->nqueues - op->batch_at, max = (size_t)op->platform->opts.predicate_batch;
    return left < max ? left : max;
}

/* The op as if it asked for its current batch only (what the parsers read). */
static void batch_view(rg_platform_op *view, const rg_platform_op *op)
{
    size_t n = batch_len(op);

    *view = *op;
    view->queue_ids = op->queue_ids + op->batch_at;
    view->nqueues = n;
    view->query.queue_ids = (const char *const *)op->queue_ids + op->batch_at;
    view->query.nqueues = n;
}

int rg_platform__analytics_body(char **out, const rg_platform_op *op)
{
    rg_platform_op view;

    batch_view(&view, op);
    if (op->kind == RG_OP_AGGREGATES)
        return rg_platform__aggregates_body(out, &view.query, op->platform->opts.media_type);
    return rg_platform__observations_body(out, view.queue_ids, view.nqueues);
}

static int take_aggregates_batch(rg_platform_op *op, const rg_platform_op *view, const json_t *body)
{
    rg_platform_aggregates part = {0};
    int error;

    if (op->aggregates.queues == NULL &&
        (error = aggregates_alloc(&op->aggregates, &op->query)) < 0)
        return error;
    if ((error = rg_platform__aggregates_parse(&part, view, body)) < 0)
        return error;
    for (size_t i = 0; i < part.nqueues; i++) {
        /* Analyzer false positive: the array is allocated with the count's entries and filled
         * before the count grows. */
        // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
        rg_platform_bucket *b = op->aggregates.queues[op->batch_at + i].buckets;
        op->aggregates.queues[op->batch_at + i].buckets = part.queues[i].buckets;
        part.queues[i].buckets = b;
    }
    rg_platform__aggregates_dispose(&part);
    return 0;
}

static int take_observations_batch(rg_platform_op *op, const rg_platform_op *view,
                                   const json_t *body)
{
    rg_platform_observation *part = NULL;
    int error;

    if (op->observations == NULL) {
        if ((op->observations = calloc(op->nqueues, sizeof(*op->observations))) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        for (size_t i = 0; i < op->nqueues; i++)
            op->observations[i].queue_id = op->queue_ids[i];
    }
    if ((error = rg_platform__observations_parse(&part, view, body)) < 0)
        return error;
    memcpy(op->observations + op->batch_at, part, view->nqueues * sizeof(*part));
    free(part);
    return 0;
}

int rg_platform__analytics_take(int *more, rg_platform_op *op, const json_t *body)
{
    rg_platform_op view;
    int error;

    *more = 0;
    batch_view(&view, op);
    error = op->kind == RG_OP_AGGREGATES ? take_aggregates_batch(op, &view, body)
                                         : take_observations_batch(op, &view, body);
    if (error < 0)
        return error;
    op->batch_at += view.nqueues;
    *more = op->batch_at < op->nqueues;
    return 0;
}
