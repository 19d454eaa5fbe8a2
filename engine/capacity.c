/* capacity.c - before a stage expands: agents on queue against the rollout's start, and the
 * projected load per agent (docs/statistics.md, seed 002 edge case 3) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "rollgate/util.h"

/* The queues a target's new body routes calls to (weight > 0 or `capacity`); for a
 * data-table row (`weights` {weight column: queue column}) the queue columns' queues. */
static size_t routed_queues(const char **out, size_t max, const json_t *body, const json_t *weights)
{
    size_t n = 0, i;
    const char *wcol;
    json_t *t;
    json_object_foreach((json_t *)weights, wcol, t)
    {
        json_t *w = json_object_get(body, wcol);
        const char *id = json_string_value(json_object_get(body, json_string_value(t)));
        if (id && n < max && (!json_is_integer(w) || json_integer_value(w) > 0))
            out[n++] = id;
    }
    json_array_foreach(json_object_get(body, "targets"), i, t)
    {
        json_t *w = json_object_get(t, "weight");
        const char *id = json_string_value(json_object_get(t, "id"));
        if (id && n < max && (!json_is_integer(w) || json_integer_value(w) > 0))
            out[n++] = id;
    }
    return n;
}

typedef struct {
    rg_store_target *target;
    const char *queues[RG_MANIFEST_MAX_TARGETS];
    size_t nqueues;
    rg_platform_op *op;
} capacity_item;

/* Agents on queue for the given targets' routed queues, one query per org. */
static int observe(rg_rollout_ctx *ctx, capacity_item *items, size_t n)
{
    rg_platform *pf = NULL;
    int rc;

    if ((rc = rg_engine__platform(&pf, ctx)) < 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (rg_engine__org_error(ctx, items[i].target->org_id))
            return rg_error_set(RG_EAUTH, "%s", rg_engine__org_error(ctx, items[i].target->org_id));
        items[i].nqueues = routed_queues(items[i].queues, RG_MANIFEST_MAX_TARGETS,
                                         rg_engine__target_body(ctx, items[i].target),
                                         ctx->manifest->resource.weights);
        if (items[i].nqueues)
            rc = rg_platform_queue_observations(&items[i].op, pf, items[i].target->org_id,
                                                items[i].queues, items[i].nqueues, NULL, NULL);
    }
    if (rc == 0)
        rc = rg_platform_run(pf);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (items[i].op && rg_platform_op_status(items[i].op) < 0)
            rc = rg_error_set(rg_platform_op_status(items[i].op), "%s",
                              rg_platform_op_error(items[i].op));
    return rc;
}

/* Calls per minute offered to an org over the last stored minute of telemetry (0: none). */
static double offered_per_minute(rg_rollout_ctx *ctx, const char *org)
{
    rg_store_measurements l = {0};
    int64_t to = ctx->now_ms, from = to - 60000, first = INT64_MAX, last = 0;
    double calls = 0;

    if (rg_store_measurement_list(&l, ctx->engine->store, ctx->row.tenant_id, ctx->row.id,
                                  "nOffered", from, to) < 0)
        return 0;
    for (size_t i = 0; i < l.count; i++) {
        if (strcmp(l.items[i].org_id, org) != 0)
            continue;
        calls += (double)l.items[i].count;
        if (l.items[i].bucket_start_ms < first)
            first = l.items[i].bucket_start_ms;
        if (l.items[i].bucket_start_ms + l.items[i].bucket_len_ms > last)
            last = l.items[i].bucket_start_ms + l.items[i].bucket_len_ms;
    }
    rg_store_measurements_dispose(&l);
    return last > first ? calls * 60000.0 / (double)(last - first) : 0;
}

/* Share of the org's calls the new body sends to `queue` (capacity weights: equal split). */
static double weight_share(const json_t *body, const char *queue, const json_t *weights)
{
    double total = 0, mine = 0;
    const char *wcol;
    size_t i;
    json_t *t;
    json_object_foreach((json_t *)weights, wcol, t)
    {
        json_t *w = json_object_get(body, wcol);
        const char *id = json_string_value(json_object_get(body, json_string_value(t)));
        double v = json_is_integer(w) ? (double)json_integer_value(w) : 1;
        total += v;
        if (id && strcmp(id, queue) == 0)
            mine += v;
    }
    json_array_foreach(json_object_get(body, "targets"), i, t)
    {
        json_t *w = json_object_get(t, "weight");
        double v = json_is_integer(w) ? (double)json_integer_value(w) : 1;
        total += v;
        if (strcmp(json_string_value(json_object_get(t, "id")), queue) == 0)
            mine = v;
    }
    return total > 0 ? mine / total : 0;
}

static int judge_item(rg_rollout_ctx *ctx, const capacity_item *it, json_t *agents, char *why,
                      size_t whylen)
{
    const rg_policy *p = ctx->manifest->policy;
    const char *org = it->target->org_id;
    json_t *base = json_object_get(agents, org);
    size_t nobs = 0;
    const rg_platform_observation *obs = it->op ? rg_platform_op_observations(it->op, &nobs) : NULL;

    for (size_t k = 0; k < nobs; k++) {
        double was = (double)json_integer_value(json_object_get(base, obs[k].queue_id));
        double now = (double)obs[k].on_queue, load;
        if (was > 0 && now < p->capacity_min_ratio * was) {
            snprintf(why, whylen,
                     "capacity: %s queue %s has %.0f agents on queue, %.2f of the %.0f at the "
                     "start (floor %.2f)",
                     org, obs[k].queue_id, now, now / was, was, p->capacity_min_ratio);
            return 1;
        }
        if (!p->has_capacity_max_load)
            continue;
        load = offered_per_minute(ctx, org) * weight_share(rg_engine__target_body(ctx, it->target),
                                                           obs[k].queue_id,
                                                           ctx->manifest->resource.weights);
        load = now > 0 ? load / now : INFINITY;
        if (load > p->capacity_max_load) {
            snprintf(why, whylen,
                     "capacity: %s queue %s would take %.2f calls per minute per agent on "
                     "queue (%.0f agents), above max_load %.2f",
                     org, obs[k].queue_id, load, now, p->capacity_max_load);
            return 1;
        }
    }
    return 0;
}

int rg_engine__capacity_check(rg_rollout_ctx *ctx, int *out_paused)
{
    json_t *agents = json_object_get(ctx->book, "agents");
    capacity_item *items = calloc(ctx->targets.count + 1, sizeof(*items));
    size_t n = 0;
    int rc, baseline = agents == NULL;
    char why[768] = "";

    *out_paused = 0;
    if (items == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    /* The first look records every target's agents as the rollout's baseline; later looks
     * read only the targets the coming stage will change. */
    for (size_t i = 0; i < ctx->targets.count; i++) {
        rg_store_target *t = &ctx->targets.items[i];
        if (baseline || (t->stage_index == ctx->row.stage_index && t->state == RG_TARGET_PENDING))
            items[n++].target = t;
    }
    if ((rc = observe(ctx, items, n)) < 0)
        goto cleanup;
    if (baseline) {
        agents = json_object();
        for (size_t i = 0; i < n; i++) {
            size_t nobs = 0;
            const rg_platform_observation *obs =
                items[i].op ? rg_platform_op_observations(items[i].op, &nobs) : NULL;
            json_t *org = json_object_get(agents, items[i].target->org_id);
            if (org == NULL)
                json_object_set_new(agents, items[i].target->org_id, org = json_object());
            for (size_t k = 0; k < nobs; k++)
                json_object_set_new(org, obs[k].queue_id, json_integer(obs[k].on_queue));
        }
        json_object_set_new(ctx->book, "agents", agents);
    }
    for (size_t i = 0; i < n && why[0] == '\0'; i++)
        if (items[i].target->stage_index == ctx->row.stage_index)
            judge_item(ctx, &items[i], agents, why, sizeof(why));
    if (why[0]) {
        rg_engine__event(ctx, "capacity", json_pack("{s:s}", "reason", why), "%s", why);
        rc = rg_engine__set_state(ctx, RG_ROLLOUT_PAUSED, why);
        *out_paused = 1;
    } else if (baseline) {
        rc = rg_engine__save(ctx);
    }
cleanup:
    for (size_t i = 0; i < n; i++)
        rg_platform_op_free(items[i].op);
    free(items);
    return rc;
}
