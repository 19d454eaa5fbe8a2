/* telemetry.c - fetching queue analytics into measurements, and windows of cells for stats */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "engine/telemetry.h"
#include "rollgate/util.h"

static int add_queue(json_t *list, const char *id)
{
    size_t i;
    json_t *v;
    if (id == NULL)
        return 0;
    json_array_foreach(list, i, v)
        if (strcmp(json_string_value(v), id) == 0)
            return 0;
    return json_array_append_new(list, json_string(id));
}

static void add_body_queues(json_t *list, const json_t *body)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(body, "targets"), i, t)
        add_queue(list, json_string_value(json_object_get(t, "id")));
}

int rg_engine__watch_queues(json_t **out, rg_rollout_ctx *ctx, const char *org_id)
{
    const rg_manifest *m = ctx->manifest;
    json_t *list = json_array();

    if (list == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->watch_queues_count; i++)
        add_queue(list, m->watch_queues[i]);
    if (m->watch_queues_count == 0) {
        for (size_t i = 0; i < ctx->targets.count; i++) {
            rg_store_target *t = &ctx->targets.items[i];
            rg_store_snapshot snap = {0};
            if (strcmp(t->org_id, org_id) != 0)
                continue;
            add_body_queues(list, rg_engine__target_body(ctx, t));
            if (rg_store_snapshot_get(&snap, ctx->engine->store, t->tenant_id, t->rollout_id,
                                      t->org_id, t->strategy_id) == 0) {
                json_t *body = json_loads(snap.body, 0, NULL);
                add_body_queues(list, body);
                json_decref(body);
                rg_store_snapshot_dispose(&snap);
            }
        }
    }
    *out = list;
    return 0;
}

static int store_series(rg_rollout_ctx *ctx, const char *org, const rg_platform_aggregates *agg)
{
    int rc = 0;
    for (size_t q = 0; rc == 0 && q < agg->nqueues; q++) {
        const rg_platform_queue_series *s = &agg->queues[q];
        for (size_t b = 0; rc == 0 && b < s->nbuckets; b++) {
            const rg_platform_bucket *k = &s->buckets[b];
            struct { const char *metric; int64_t count; double sum; } rows[] = {
                {"nOffered", k->offered, 0},
                {"tAbandon", k->abandoned, 0},
                {"tAnswered", k->answered, k->answered_sum_ms},
                {"tHandle", k->handled, k->handle_sum_ms},
            };
            for (size_t r = 0; rc == 0 && r < sizeof(rows) / sizeof(rows[0]); r++) {
                rg_store_measurement m = {0};
                m.rollout_id = ctx->row.id;
                m.tenant_id = ctx->row.tenant_id;
                m.org_id = (char *)org;
                m.queue_id = (char *)s->queue_id;
                m.metric = (char *)rows[r].metric;
                m.bucket_start_ms = k->start_ms;
                m.bucket_len_ms = k->end_ms - k->start_ms;
                m.count = rows[r].count;
                m.sum = rows[r].sum;
                rc = rg_store_measurement_put(ctx->engine->store, &m);
            }
        }
    }
    return rc;
}

int rg_engine__fetch_telemetry(rg_rollout_ctx *ctx, const char *const *orgs, size_t norgs,
                               int64_t from_ms, int64_t to_ms)
{
    rg_platform_op **ops = NULL;
    json_t **queues = NULL;
    rg_platform *pf = NULL;
    int rc = 0;

    if (norgs == 0 || to_ms <= from_ms)
        return 0;
    ops = calloc(norgs, sizeof(*ops));
    queues = calloc(norgs, sizeof(*queues));
    if (ops == NULL || queues == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = rg_engine__platform(&pf, ctx)) < 0)
        goto cleanup;
    for (size_t i = 0; rc == 0 && i < norgs; i++) {
        const char *ids[RG_MANIFEST_MAX_TARGETS * 2];
        rg_platform_aggregates_query q = {from_ms, to_ms,
                                          ctx->manifest->policy->granularity_ms, ids, 0};
        size_t j;
        json_t *v;
        if (rg_engine__org_error(ctx, orgs[i])) {
            rc = rg_error_set(RG_EAUTH, "%s", rg_engine__org_error(ctx, orgs[i]));
            break;
        }
        if ((rc = rg_engine__watch_queues(&queues[i], ctx, orgs[i])) < 0)
            break;
        json_array_foreach(queues[i], j, v)
            if (q.nqueues < sizeof(ids) / sizeof(ids[0]))
                ids[q.nqueues++] = json_string_value(v);
        if (q.nqueues == 0)
            continue;
        rc = rg_platform_queue_aggregates(&ops[i], pf, orgs[i], &q, NULL, NULL);
    }
    if (rc == 0)
        rc = rg_platform_run(pf);
    for (size_t i = 0; rc == 0 && i < norgs; i++)
        if (ops[i] && rg_platform_op_status(ops[i]) < 0)
            rc = rg_error_set(rg_platform_op_status(ops[i]), "%s",
                              rg_platform_op_error(ops[i]));
    if (rc == 0 && (rc = rg_store_begin(ctx->engine->store)) == 0) {
        for (size_t i = 0; rc == 0 && i < norgs; i++)
            if (ops[i])
                rc = store_series(ctx, orgs[i], rg_platform_op_aggregates(ops[i]));
        rc = rc == 0 ? rg_store_commit(ctx->engine->store) : rc;
        if (rc < 0)
            rg_store_rollback(ctx->engine->store);
    }
cleanup:
    for (size_t i = 0; i < norgs && ops; i++) {
        rg_platform_op_free(ops[i]);
        json_decref(queues ? queues[i] : NULL);
    }
    free(ops);
    free(queues);
    return rc;
}

/* ---- cells: one (org, bucket) of one arm, summed over the watched queues ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* `orgs` sorted (see rg_engine__window): a binary search per measurement row. */
static int org_in(const char *org, const char *const *orgs, size_t n)
{
    return bsearch(&org, orgs, n, sizeof(*orgs), cmp_str) != NULL;
}

typedef struct {
    const char *org; /* borrowed from the measurement lists */
    int64_t bucket;
    double count;
    double value;
} cell_acc;

static int cmp_acc(const void *a, const void *b)
{
    const cell_acc *x = a, *y = b;
    int c = strcmp(x->org, y->org);
    if (c)
        return c;
    return (x->bucket > y->bucket) - (x->bucket < y->bucket);
}

/* Adds one list into the accumulator: its counts into `count` (as_count) or `value`. */
static int accumulate(cell_acc **acc, size_t *n, size_t *cap, const rg_store_measurements *l,
                      const char *const *orgs, size_t norgs, int into_count, int use_sum)
{
    for (size_t i = 0; i < l->count; i++) {
        const rg_store_measurement *m = &l->items[i];
        double v = use_sum ? m->sum : (double)m->count;
        if (!org_in(m->org_id, orgs, norgs))
            continue;
        if (v != v)
            v = 0; /* NaN: the platform gave no sum */
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 256;
            cell_acc *p = realloc(*acc, nc * sizeof(**acc));
            if (p == NULL)
                return rg_error_set(RG_ENOMEM, "out of memory");
            *acc = p;
            *cap = nc;
        }
        (*acc)[*n] = (cell_acc){m->org_id, m->bucket_start_ms, into_count ? v : 0,
                                into_count ? 0 : v};
        (*n)++;
    }
    return 0;
}

int rg_engine__window(rg_cells *out, rg_rollout_ctx *ctx, const rg_policy_metric *metric,
                      const char *const *orgs, size_t norgs, int64_t from_ms, int64_t to_ms)
{
    rg_store_measurements a = {0}, b = {0};
    const char *count_metric, *value_metric;
    const char **sorted = NULL;
    cell_acc *acc = NULL;
    size_t n = 0, cap = 0, w = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (metric->kind == RG_METRIC_PROPORTION) {
        count_metric = metric->trials;
        value_metric = metric->events;
    } else {
        count_metric = metric->source;
        value_metric = metric->source;
    }
    if (norgs == 0 || to_ms <= from_ms)
        return 0;
    if ((rc = rg_store_measurement_list(&a, ctx->engine->store, ctx->row.tenant_id, ctx->row.id,
                                        count_metric, from_ms, to_ms)) < 0 ||
        (rc = rg_store_measurement_list(&b, ctx->engine->store, ctx->row.tenant_id, ctx->row.id,
                                        value_metric, from_ms, to_ms)) < 0)
        goto cleanup;
    if ((sorted = malloc(norgs * sizeof(*sorted))) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    memcpy(sorted, orgs, norgs * sizeof(*sorted));
    qsort(sorted, norgs, sizeof(*sorted), cmp_str);
    if ((rc = accumulate(&acc, &n, &cap, &a, sorted, norgs, 1, 0)) < 0 ||
        (rc = accumulate(&acc, &n, &cap, &b, sorted, norgs, 0,
                         metric->kind == RG_METRIC_MEAN)) < 0)
        goto cleanup;
    if (n)
        qsort(acc, n, sizeof(*acc), cmp_acc);
    if (n && ((out->cells = calloc(n, sizeof(*out->cells))) == NULL ||
              (out->orgs = calloc(n, sizeof(*out->orgs))) == NULL)) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && i > 0 && cmp_acc(&acc[i], &acc[i - 1]) == 0) {
            out->cells[w - 1].count += acc[i].count;
            out->cells[w - 1].value += acc[i].value;
            continue;
        }
        out->cells[w].count = acc[i].count;
        out->cells[w].value = acc[i].value;
        out->orgs[w] = (uint32_t)((const char **)bsearch(&acc[i].org, sorted, norgs,
                                                         sizeof(*sorted), cmp_str) - sorted);
        w++;
    }
    out->n = w;
cleanup:
    free(sorted);
    free(acc);
    rg_store_measurements_dispose(&a);
    rg_store_measurements_dispose(&b);
    return rc;
}

void rg_cells_dispose(rg_cells *cells)
{
    free(cells->cells);
    free(cells->orgs);
    memset(cells, 0, sizeof(*cells));
}
