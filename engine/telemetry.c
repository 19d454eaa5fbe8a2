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
    json_array_foreach(list, i, v) if (strcmp(json_string_value(v), id) == 0) return 0;
    return json_array_append_new(list, json_string(id));
}

static void add_body_queues(json_t *list, const json_t *body)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(body, "targets"), i, t)
        add_queue(list, json_string_value(json_object_get(t, "id")));
}

/* A data-table row: the queues its weight columns' queue columns name. */
static void add_row_queues(json_t *list, const json_t *row, const json_t *weights)
{
    const char *wcol;
    json_t *q;
    json_object_foreach((json_t *)weights, wcol, q)
        add_queue(list, json_string_value(json_object_get(row, json_string_value(q))));
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
            add_row_queues(list, rg_engine__target_body(ctx, t), m->resource.weights);
            if (rg_store_snapshot_get(&snap, ctx->engine->store, t->tenant_id, t->rollout_id,
                                      t->org_id, t->strategy_id) == 0) {
                json_t *body = json_loads(snap.body, 0, NULL);
                add_body_queues(list, body);
                add_row_queues(list, body, m->resource.weights);
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
    rg_store_measurement_in *rows;
    size_t n = 0, cap = 0;
    int rc;

    for (size_t q = 0; q < agg->nqueues; q++)
        cap += agg->queues[q].nbuckets * 4;
    if (cap == 0)
        return 0;
    if ((rows = calloc(cap, sizeof(*rows))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t q = 0; q < agg->nqueues; q++) {
        const rg_platform_queue_series *s = &agg->queues[q];
        for (size_t b = 0; b < s->nbuckets; b++) {
            const rg_platform_bucket *k = &s->buckets[b];
            struct {
                const char *metric;
                int64_t count;
                double sum;
            } metrics[] = {
                {"nOffered", k->offered, 0},
                {"tAbandon", k->abandoned, 0},
                {"tAnswered", k->answered, k->answered_sum_ms},
                {"tHandle", k->handled, k->handle_sum_ms},
            };
            for (size_t r = 0; r < sizeof(metrics) / sizeof(metrics[0]); r++) {
                rg_store_measurement_in *m = &rows[n++];
                m->rollout_id = ctx->row.id;
                m->tenant_id = ctx->row.tenant_id;
                m->org_id = org;
                m->queue_id = s->queue_id;
                m->metric = metrics[r].metric;
                m->bucket_start_ms = k->start_ms;
                m->bucket_len_ms = k->end_ms - k->start_ms;
                m->count = metrics[r].count;
                m->sum = metrics[r].sum;
            }
        }
    }
    rc = rg_store_measurement_put_many(ctx->engine->store, rows, n);
    free(rows); /* the rows borrow every string */
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
    ops = calloc(norgs, sizeof(rg_platform_op *));
    queues = calloc(norgs, sizeof(json_t *));
    if (ops == NULL || queues == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = rg_engine__platform(&pf, ctx)) < 0)
        goto cleanup;
    for (size_t i = 0; rc == 0 && i < norgs; i++) {
        const char *ids[RG_MANIFEST_MAX_TARGETS * 2];
        rg_platform_aggregates_query q = {from_ms, to_ms, ctx->manifest->policy->granularity_ms,
                                          ids, 0};
        size_t j;
        json_t *v;
        if (rg_engine__org_error(ctx, orgs[i])) {
            rc = rg_error_set(RG_EAUTH, "%s", rg_engine__org_error(ctx, orgs[i]));
            break;
        }
        if ((rc = rg_engine__watch_queues(&queues[i], ctx, orgs[i])) < 0)
            break;
        json_array_foreach(queues[i], j, v) if (q.nqueues < sizeof(ids) / sizeof(ids[0]))
            ids[q.nqueues++] = json_string_value(v);
        if (q.nqueues == 0)
            continue;
        rc = rg_platform_queue_aggregates(&ops[i], pf, orgs[i], &q, NULL, NULL);
    }
    if (rc == 0)
        rc = rg_engine__platform_run(ctx, pf);
    for (size_t i = 0; rc == 0 && i < norgs; i++)
        if (ops[i] && rg_platform_op_status(ops[i]) < 0)
            rc = rg_error_set(rg_platform_op_status(ops[i]), "%s", rg_platform_op_error(ops[i]));
    rg_engine__window_cache_free(ctx); /* the cells are about to change */
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

/* ---- cells: one (org, bucket) of one arm, summed over the watched queues ----
 *
 * A poll asks for four windows per metric (canary and control, before and after). Each is a
 * slice of the same table, so the rollout's cells of a metric are summed once by the
 * database (rg_store_measurement_sums: one row per org and bucket, no row copied per queue
 * and metric) and kept for the tick; every window is then a binary search per org. Storing
 * new measurements drops the cache. */

typedef struct {
    char *count_metric, *value_metric;
    int value_use_sum;
    char **orgs;   /* distinct org ids, in the database's (bytewise) order */
    size_t *first; /* first cell of orgs[i]; first[norgs] == ncells */
    size_t norgs, org_cap, first_cap;
    struct cell {
        int64_t bucket; /* ascending within an org */
        double count, value;
    } * cells;
    size_t ncells, cell_cap;
} metric_cells;

struct rg_window_cache {
    metric_cells *items;
    size_t count;
};

static void metric_cells_dispose(metric_cells *m)
{
    for (size_t i = 0; i < m->norgs; i++)
        free(m->orgs[i]);
    free(m->orgs);
    free(m->first);
    free(m->cells);
    free(m->count_metric);
    free(m->value_metric);
    memset(m, 0, sizeof(*m));
}

void rg_engine__window_cache_free(rg_rollout_ctx *ctx)
{
    rg_window_cache *c = ctx->window_cache;
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++)
        metric_cells_dispose(&c->items[i]);
    free(c->items);
    free(c);
    ctx->window_cache = NULL;
}

/* Grows the array whose pointer is at `slot` to hold `need` elements of `elem` bytes. The
 * pointer is read and written through memcpy, so any element type is fine. */
static int grow_impl(void *slot, size_t *cap, size_t need, size_t elem)
{
    void *p, *q;
    size_t nc;

    if (need <= *cap)
        return 0;
    nc = *cap ? *cap * 2 : 256;
    while (nc < need)
        nc *= 2;
    memcpy(&p, slot, sizeof(p));
    if ((q = realloc(p, nc * elem)) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    memcpy(slot, &q, sizeof(q));
    *cap = nc;
    return 0;
}
#define GROW(arr, cap, need) grow_impl(&(arr), &(cap), (need), sizeof(*(arr)))

static int add_cell(const char *org, int64_t bucket, double count, double value, void *payload)
{
    metric_cells *m = payload;
    int rc;

    if (m->norgs == 0 || strcmp(m->orgs[m->norgs - 1], org) != 0) {
        if ((rc = GROW(m->orgs, m->org_cap, m->norgs + 1)) < 0 ||
            (rc = GROW(m->first, m->first_cap, m->norgs + 2)) < 0)
            return rc;
        if ((m->orgs[m->norgs] = rg_strdup(org)) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        m->first[m->norgs++] = m->ncells;
    }
    if ((rc = GROW(m->cells, m->cell_cap, m->ncells + 1)) < 0)
        return rc;
    m->cells[m->ncells++] = (struct cell){bucket, count, value};
    return 0;
}

/* The rollout's cells of one metric, summed by the database on first use in this tick. */
static int metric_cells_get(const metric_cells **out, rg_rollout_ctx *ctx, const char *count_metric,
                            const char *value_metric, int use_sum)
{
    rg_window_cache *c = ctx->window_cache;
    metric_cells *m, *grown;
    int rc;

    if (c == NULL) {
        if ((c = calloc(1, sizeof(*c))) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        ctx->window_cache = c;
    }
    for (size_t i = 0; i < c->count; i++)
        if (strcmp(c->items[i].count_metric, count_metric) == 0 &&
            strcmp(c->items[i].value_metric, value_metric) == 0 &&
            c->items[i].value_use_sum == use_sum) {
            *out = &c->items[i];
            return 0;
        }
    if ((grown = realloc(c->items, (c->count + 1) * sizeof(*grown))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    c->items = grown;
    m = &c->items[c->count];
    memset(m, 0, sizeof(*m));
    m->value_use_sum = use_sum;
    if ((m->count_metric = rg_strdup(count_metric)) == NULL ||
        (m->value_metric = rg_strdup(value_metric)) == NULL ||
        GROW(m->first, m->first_cap, 1) < 0) {
        metric_cells_dispose(m);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    rc = rg_store_measurement_sums(ctx->engine->store, ctx->row.tenant_id, ctx->row.id,
                                   count_metric, 0, value_metric, use_sum, add_cell, m);
    if (rc < 0) {
        metric_cells_dispose(m);
        return rc;
    }
    m->first[m->norgs] = m->ncells;
    c->count++;
    *out = m;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The index of `org` among m's orgs, or -1. */
static long find_org(const metric_cells *m, const char *org)
{
    size_t lo = 0, hi = m->norgs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->orgs[mid], org);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* The first cell in [lo, hi) whose bucket starts at or after t. */
static size_t first_at(const metric_cells *m, size_t lo, size_t hi, int64_t t)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->cells[mid].bucket < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int rg_engine__window(rg_cells *out, rg_rollout_ctx *ctx, const rg_policy_metric *metric,
                      const char *const *orgs, size_t norgs, int64_t from_ms, int64_t to_ms)
{
    const char *count_metric, *value_metric;
    const char **sorted = NULL;
    const metric_cells *m = NULL;
    size_t n = 0;
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
    if ((rc = metric_cells_get(&m, ctx, count_metric, value_metric,
                               metric->kind == RG_METRIC_MEAN)) < 0)
        return rc;
    if ((sorted = malloc(norgs * sizeof(*sorted))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    memcpy(sorted, orgs, norgs * sizeof(*sorted));
    qsort(sorted, norgs, sizeof(*sorted), cmp_str);
    /* Two passes over the orgs: count, then copy, so the cells are one allocation. */
    for (int pass = 0; pass < 2; pass++) {
        size_t w = 0;
        for (size_t i = 0; i < norgs; i++) {
            long k;
            size_t lo, hi;
            if ((i > 0 && strcmp(sorted[i], sorted[i - 1]) == 0) ||
                (k = find_org(m, sorted[i])) < 0)
                continue; /* a duplicate, or an org without data */
            lo = first_at(m, m->first[k], m->first[k + 1], from_ms);
            hi = first_at(m, lo, m->first[k + 1], to_ms);
            for (size_t j = lo; pass == 1 && j < hi; j++) {
                out->cells[w].count = m->cells[j].count;
                out->cells[w].value = m->cells[j].value;
                out->orgs[w] = (uint32_t)i; /* the org's place among the sorted orgs */
                w++;
            }
            if (pass == 0)
                n += hi - lo;
        }
        if (pass == 0) {
            if (n == 0)
                break;
            if ((out->cells = calloc(n, sizeof(*out->cells))) == NULL ||
                (out->orgs = calloc(n, sizeof(*out->orgs))) == NULL) {
                free(out->cells);
                out->cells = NULL;
                free(sorted);
                return rg_error_set(RG_ENOMEM, "out of memory");
            }
        }
    }
    out->n = n;
    free(sorted);
    return 0;
}

void rg_cells_dispose(rg_cells *cells)
{
    free(cells->cells);
    free(cells->orgs);
    memset(cells, 0, sizeof(*cells));
}
