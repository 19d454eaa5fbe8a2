/* apply.c - applying a stage: per target GET -> snapshot committed -> PATCH with If-Match ->
 * applied ETag recorded, tier by tier so parents go before their sub-organizations */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "engine/planner.h"
#include "engine/verdict_inputs.h"
#include "rollgate/body.h"
#include "rollgate/util.h"

/* What the platform client's RG_EUNREACHABLE messages say; a target failed that way holds
 * the rollout as "platform unreachable: ...". */
#define UNREACHABLE_MARK "platform unreachable"

typedef struct {
    rg_rollout_ctx *ctx;
    rg_store_target *target;
    json_t *body;  /* the rendered template with capacity weights computed */
    json_t *patch; /* what the PATCH sends */
    rg_platform_op *get;
    rg_platform_op *obs;
    rg_platform_op *update;
} apply_item;

static void item_dispose(apply_item *it)
{
    json_decref(it->body);
    json_decref(it->patch);
    rg_platform_op_free(it->get);
    rg_platform_op_free(it->obs);
    rg_platform_op_free(it->update);
}

static int body_has_capacity(const json_t *body)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(body, "targets"), i,
                       t) if (json_is_string(json_object_get(t, "weight"))) return 1;
    return 0;
}

/* Replaces every `capacity` weight with a share of what fixed weights leave of 100, in
 * proportion to agents on queue (largest remainder, so the weights sum exactly). */
static int fill_capacity(apply_item *it)
{
    const json_t *targets = json_object_get(it->body, "targets");
    size_t n = json_array_size(targets), nobs = 0, ncap = 0, i;
    const rg_platform_observation *obs = rg_platform_op_observations(it->obs, &nobs);
    double agents[RG_MANIFEST_MAX_TARGETS];
    int weights[RG_MANIFEST_MAX_TARGETS], fixed = 0, rc;
    json_t *t;

    json_array_foreach(targets, i, t)
    {
        json_t *w = json_object_get(t, "weight");
        const char *q = json_string_value(json_object_get(t, "id"));
        if (json_is_integer(w)) {
            fixed += (int)json_integer_value(w);
            continue;
        }
        agents[ncap] = 0;
        for (size_t k = 0; k < nobs; k++)
            if (q && strcmp(obs[k].queue_id, q) == 0)
                agents[ncap] = (double)obs[k].on_queue;
        ncap++;
    }
    if (ncap == 0 || n > RG_MANIFEST_MAX_TARGETS)
        return 0;
    if (fixed > 100)
        return rg_error_set(RG_EINVALID,
                            "org %s: fixed weights sum to %d, leaving nothing for "
                            "capacity weights",
                            it->target->org_id, fixed);
    if ((rc = rg_body_capacity_weights(weights, agents, ncap, 100 - fixed)) < 0)
        return rc;
    ncap = 0;
    json_array_foreach(targets, i, t) if (!json_is_integer(json_object_get(t, "weight")))
        json_object_set_new(t, "weight", json_integer(weights[ncap++]));
    return 0;
}

/* On a re-read (412, or a PATCH whose reply never came): the desired patch on the fresh
 * body, or {} when every field of it already holds, so the platform op completes "in place"
 * and no second PATCH is sent. */
static int merge_on_fresh(json_t **out_patch, const json_t *live, const char *etag, void *payload)
{
    apply_item *it = payload;
    json_t *patch = NULL;
    int rc;
    (void)etag;
    if ((rc = rg_body_desired_patch(&patch, live, it->body)) < 0)
        return rc;
    if (rg_body_patch_applied(live, patch)) {
        json_decref(patch);
        if ((patch = json_object()) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
    } else if ((rc = rg_engine__lease_confirm(it->ctx)) < 0) {
        /* another host took the rollout while this batch ran: it may have restored the
         * org since, and this PATCH would put the change back */
        json_decref(patch);
        return rc;
    }
    *out_patch = patch;
    return 0;
}

static int target_failed(apply_item *it, const char *what, const char *why, int permanent)
{
    rg_store_target *t = it->target;
    rg_rollout_ctx *ctx = it->ctx;
    char msg[768];

    snprintf(msg, sizeof(msg), "%s: %s", what, why);
    t->attempts++;
    free(t->last_error);
    t->last_error = rg_strdup(msg);
    if (permanent || t->attempts >= ctx->engine->opts.apply_attempts)
        t->state = RG_TARGET_APPLY_FAILED;
    rg_engine__narrate(ctx, "target", "%s %s (attempt %d)", t->org_id,
                       t->state == RG_TARGET_APPLY_FAILED ? "apply failed" : "apply retry",
                       t->attempts);
    return rg_store_target_update(ctx->engine->store, t);
}

/* Snapshot and target state in one synchronous=FULL transaction: once SNAPSHOTTED is
 * visible, the snapshot is on disk. */
static int record_snapshot(apply_item *it, const json_t *live, const char *etag)
{
    rg_rollout_ctx *ctx = it->ctx;
    rg_store *store = ctx->engine->store;
    rg_store_target *t = it->target;
    rg_store_snapshot_in snap = {0};
    json_t *intended = json_deep_copy(live);
    char *live_text = json_dumps(live, JSON_COMPACT), *intended_text = NULL;
    int rc;

    if (intended)
        json_object_update(intended, it->patch);
    intended_text = intended ? json_dumps(intended, JSON_COMPACT) : NULL;
    json_decref(intended);
    if (live_text == NULL || intended_text == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    snap.rollout_id = t->rollout_id;
    snap.tenant_id = t->tenant_id;
    snap.org_id = t->org_id;
    snap.strategy_id = t->strategy_id;
    snap.etag = etag;
    snap.body = live_text;
    snap.taken_at_ms = ctx->now_ms;
    free(t->applied_body);
    t->applied_body = intended_text;
    intended_text = NULL;
    t->state = RG_TARGET_SNAPSHOTTED;
    rg_engine__crash_point("before_snapshot");
    if ((rc = rg_store_begin_durable(store)) < 0)
        goto cleanup;
    rc = rg_store_snapshot_insert(store, &snap);
    if (rc == RG_ECONFLICT)
        rc = 0; /* taken by an earlier run: the first snapshot is the true pre-change copy */
    if (rc == 0)
        rc = rg_store_target_update(store, t);
    if (rc == 0)
        rc = rg_store_commit(store);
    if (rc < 0)
        rg_store_rollback(store);
cleanup:
    free(live_text);
    free(intended_text);
    return rc;
}

/* patched: 1 = the PATCH's reply confirmed it, 0 = in place before any PATCH, -1 = a
 * re-read after a lost reply or a 412 found it in place (no second PATCH). */
static int record_applied(apply_item *it, const json_t *body, const char *etag, int patched)
{
    rg_store_target *t = it->target;
    rg_rollout_ctx *ctx = it->ctx;

    free(t->applied_body);
    t->applied_body = json_dumps(body, JSON_COMPACT);
    free(t->applied_etag);
    t->applied_etag = etag ? rg_strdup(etag) : NULL;
    t->applied_at_ms = rg_time_now_ms();
    t->state = RG_TARGET_APPLIED;
    free(t->last_error);
    t->last_error = NULL;
    rg_engine__narrate(ctx, "target", "%s applied (%s)", t->org_id,
                       patched > 0    ? "PATCH committed"
                       : patched == 0 ? "already in place, no PATCH sent"
                                      : "a re-read found it in place, no second PATCH sent");
    return rg_store_target_update(ctx->engine->store, t);
}

/* After the GETs: snapshot pending targets, settle ones a crash left in between. */
static int after_get(apply_item *it, int *out_needs_patch)
{
    rg_store_target *t = it->target;
    const json_t *live;
    const char *etag;
    int rc;

    *out_needs_patch = 0;
    if (it->get == NULL)
        return target_failed(it, "credentials", rg_engine__org_error(it->ctx, t->org_id), 0);
    if ((rc = rg_platform_op_status(it->get)) < 0)
        return target_failed(it, "read strategy", rg_platform_op_error(it->get),
                             rc == RG_ENOTFOUND);
    if (it->obs && (rc = rg_platform_op_status(it->obs)) < 0)
        return target_failed(it, "read agents on queue", rg_platform_op_error(it->obs), 0);
    if (it->obs && (rc = fill_capacity(it)) < 0)
        return target_failed(it, "capacity weights", rg_error_last(), 1);
    live = rg_platform_op_body(it->get);
    etag = rg_platform_op_etag(it->get);
    if ((rc = rg_body_desired_patch(&it->patch, live, it->body)) < 0)
        return rc;
    if (rg_body_patch_applied(live, it->patch) && t->state == RG_TARGET_SNAPSHOTTED)
        return record_applied(it, live, etag, 0); /* the PATCH of a crashed run went through */
    if (t->state == RG_TARGET_PENDING && (rc = record_snapshot(it, live, etag)) < 0)
        return rc;
    if (rg_body_patch_applied(live, it->patch))
        return record_applied(it, live, etag, 0);
    *out_needs_patch = 1;
    return 0;
}

static int after_patch(apply_item *it)
{
    int rc = rg_platform_op_status(it->update);
    if (rc < 0)
        return target_failed(it, "PATCH strategy", rg_platform_op_error(it->update),
                             rc == RG_EINVALID || rc == RG_ENOTFOUND);
    return record_applied(it, rg_platform_op_body(it->update), rg_platform_op_etag(it->update),
                          rg_platform_op_in_place(it->update) ? -1 : 1);
}

/* Queues the reads of one tier's unfinished targets. */
static int queue_reads(apply_item *items, size_t n, rg_platform *pf)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        apply_item *it = &items[i];
        const json_t *q = json_object_get(it->body, "targets");
        if (rg_engine__org_error(it->ctx, it->target->org_id))
            continue; /* no credentials: after_get records why */
        rc = rg_platform_queue_strategy_get(&it->get, pf, it->target->org_id,
                                            it->target->strategy_id, NULL, NULL);
        if (rc == 0 && body_has_capacity(it->body)) {
            const char *ids[RG_MANIFEST_MAX_TARGETS];
            size_t k = 0, j;
            json_t *t;
            json_array_foreach(q, j, t) if (!json_is_integer(json_object_get(t, "weight")) &&
                                            k < RG_MANIFEST_MAX_TARGETS) ids[k++] =
                json_string_value(json_object_get(t, "id"));
            rc = rg_platform_queue_observations(&it->obs, pf, it->target->org_id, ids, k, NULL,
                                                NULL);
        }
    }
    return rc;
}

/* Applies the unfinished targets of one tier: reads, snapshots, PATCHes, records. */
static int apply_tier(rg_rollout_ctx *ctx, rg_store_target **tier, size_t n)
{
    apply_item *items = calloc(n + 1, sizeof(*items)); /* + 1: never calloc(0) */
    rg_platform *pf = NULL;
    int *needs = calloc(n + 1, sizeof(int));
    int rc;

    if (items == NULL || needs == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        items[i].ctx = ctx;
        items[i].target = tier[i];
        items[i].body = json_deep_copy(rg_engine__target_body(ctx, tier[i]));
        if (items[i].body == NULL) {
            rc = rg_error_set(RG_EDB, "target %s has no rendered body", tier[i]->org_id);
            goto cleanup;
        }
    }
    if ((rc = rg_engine__platform(&pf, ctx)) < 0 || (rc = queue_reads(items, n, pf)) < 0 ||
        (rc = rg_engine__platform_run(ctx, pf)) < 0)
        goto cleanup;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = after_get(&items[i], &needs[i]);
    if (rc == 0)
        rg_engine__crash_point("after_snapshot");
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (needs[i])
            rc = rg_platform_queue_strategy_update(
                &items[i].update, pf, tier[i]->org_id, tier[i]->strategy_id,
                rg_platform_op_etag(items[i].get), items[i].patch, merge_on_fresh, &items[i], NULL,
                NULL);
    if (rc == 0)
        rc = rg_engine__platform_run(ctx, pf);
    if (rc == 0)
        rg_engine__crash_point("after_patch");
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (needs[i])
            rc = after_patch(&items[i]);
cleanup:
    for (size_t i = 0; items && i < n; i++)
        item_dispose(&items[i]);
    free(items);
    free(needs);
    return rc;
}

/* The stage's close and its event commit together. */
static int stage_applied(rg_rollout_ctx *ctx)
{
    size_t n = 0;
    int rc, own = 0;

    for (size_t i = 0; i < ctx->targets.count; i++)
        n += ctx->targets.items[i].stage_index == ctx->row.stage_index;
    ctx->row.stage_applied_at_ms = rg_time_now_ms();
    if ((rc = rg_engine__tx_begin(ctx, &own)) < 0)
        return rc;
    if ((rc = rg_engine__save(ctx)) < 0)
        return rg_engine__tx_end(ctx, own, rc);
    ctx->next_ms = ctx->row.stage_applied_at_ms + ctx->manifest->policy->poll_interval_ms;
    rc = rg_engine__event(ctx, "stage_applied",
                          json_pack("{s:i, s:i}", "stage", ctx->row.stage_index, "targets", (int)n),
                          "stage %d/%d (%d%%) applied to %zu organizations; soaking",
                          ctx->row.stage_index + 1, ctx->row.stage_count,
                          rg_engine__stage_percent(ctx, ctx->row.stage_index), n);
    return rg_engine__tx_end(ctx, own, rc);
}

/* The last stage's control is the orgs of the earlier stages (verdict_inputs.c), which
 * needs them on the new configuration through the stage's pre window, or half of it at
 * least. A stage promoted sooner than that (every metric passed early) would be judged
 * pre/post alone, a trend or a spike counted as its effect; so its first apply waits for
 * that moment (nothing is written meanwhile, and commands still act), and the stage starts
 * then, its pre window ending there. A full promotion a person asked for does not wait. */
static int control_wait(rg_rollout_ctx *ctx, int *out_waiting)
{
    int64_t latest = 0, ready;

    *out_waiting = 0;
    if (rg_engine__full_promotion(ctx))
        return 0;
    for (size_t i = 0; i < ctx->targets.count; i++) {
        const rg_store_target *t = &ctx->targets.items[i];
        if (t->stage_index > ctx->row.stage_index)
            return 0; /* not the last stage: later orgs are the control */
        if (t->stage_index < ctx->row.stage_index && t->state != RG_TARGET_UNCHANGED &&
            t->applied_at_ms > latest)
            latest = t->applied_at_ms;
    }
    if ((ready = rg_engine__last_stage_ready_ms(ctx->manifest->policy, latest)) == 0)
        return 0;
    if (ctx->now_ms >= ready) {
        if (ctx->row.stage_started_at_ms >= ready)
            return 0;
        json_object_del(ctx->book, "control_wait");
        ctx->row.stage_started_at_ms = ctx->now_ms;
        return rg_engine__save(ctx);
    }
    *out_waiting = 1;
    ctx->next_ms = ready;
    if (rg_engine__book_int(ctx, "control_wait") == ready)
        return 0;
    rg_engine__book_set_int(ctx, "control_wait", ready);
    {
        int own = 0, rc;
        if ((rc = rg_engine__tx_begin(ctx, &own)) < 0)
            return rc;
        rc = rg_engine__event(
            ctx, "control_wait",
            json_pack("{s:i, s:I, s:I}", "stage", ctx->row.stage_index, "until", (json_int_t)ready,
                      "latest_earlier_apply", (json_int_t)latest),
            "stage %d/%d waits %lld s before its apply: the earlier stages' organizations, its "
            "control, need settle plus half a pre window on the new configuration",
            ctx->row.stage_index + 1, ctx->row.stage_count,
            (long long)((ready - ctx->now_ms + 999) / 1000));
        if (rc == 0)
            rc = rg_engine__save(ctx);
        return rg_engine__tx_end(ctx, own, rc);
    }
}

int rg_engine__apply(rg_rollout_ctx *ctx)
{
    rg_store_target **tier = NULL;
    size_t n = 0;
    int low = -1, rc = 0, gated = 0;

    if ((rc = rg_engine__stage_gate(ctx, &gated)) < 0 || gated)
        return rc;
    if (ctx->row.stage_started_at_ms == 0 || rg_engine__book_int(ctx, "first_started_at") == 0) {
        if (ctx->row.stage_started_at_ms == 0)
            ctx->row.stage_started_at_ms = ctx->now_ms;
        if (rg_engine__book_int(ctx, "first_started_at") == 0)
            rg_engine__book_set_int(ctx, "first_started_at", ctx->row.stage_started_at_ms);
        if ((rc = rg_engine__save(ctx)) < 0)
            return rc;
    }
    {
        int pass = 1;
        if ((rc = rg_engine__gate_before_stage(ctx, &pass)) < 0 || !pass)
            return rc;
    }
    /* The lowest tier with unfinished work in the stages so far goes first, alone. */
    for (size_t i = 0; i < ctx->targets.count; i++) {
        rg_store_target *t = &ctx->targets.items[i];
        if (t->stage_index > ctx->row.stage_index)
            continue;
        if (t->state == RG_TARGET_APPLY_FAILED) {
            char why[768];
            int outage = t->last_error && strstr(t->last_error, UNREACHABLE_MARK) != NULL;
            snprintf(why, sizeof(why), "%sapply failed for %s: %s",
                     outage ? "platform unreachable: " : "", t->org_id,
                     t->last_error ? t->last_error : "unknown");
            return rg_engine__set_state(ctx, RG_ROLLOUT_HELD, why);
        }
        if ((t->state == RG_TARGET_PENDING || t->state == RG_TARGET_SNAPSHOTTED) &&
            (low < 0 || t->tier < low))
            low = t->tier;
    }
    if (low < 0)
        return stage_applied(ctx);
    /* Nothing of this stage changed yet: check capacity before expanding. */
    {
        int untouched = 1, paused = 0;
        for (size_t i = 0; i < ctx->targets.count; i++)
            if (ctx->targets.items[i].stage_index == ctx->row.stage_index &&
                ctx->targets.items[i].state != RG_TARGET_PENDING)
                untouched = 0;
        if (untouched) {
            int waiting = 0;
            if ((rc = control_wait(ctx, &waiting)) < 0 || waiting)
                return rc;
        }
        if (untouched && (rc = rg_engine__capacity_check(ctx, &paused)) < 0) {
            /* Unreadable agents are an error, not a reason to expand blind: retried each
             * tick, held after errors.limit in a row. */
            int64_t errors = rg_engine__book_int(ctx, "capacity_errors") + 1;
            char why[768];
            if (rc == RG_EDB || rc == RG_ELEASE)
                return rc;
            if (rc == RG_EUNREACHABLE) /* an outage, not a capacity finding */
                snprintf(why, sizeof(why),
                         "platform unreachable: agents on queue could not "
                         "be read %lld time(s): %s",
                         (long long)errors, rg_error_last());
            else
                snprintf(why, sizeof(why), "capacity check failed %lld time(s): %s",
                         (long long)errors, rg_error_last());
            rg_engine__book_set_int(ctx, "capacity_errors", errors);
            if (errors >= ctx->manifest->policy->errors_limit)
                return rg_engine__set_state(ctx, RG_ROLLOUT_HELD, why);
            rg_engine__narrate(ctx, "capacity", "%s", why);
            return rg_engine__save(ctx);
        }
        if (untouched)
            json_object_del(ctx->book, "capacity_errors");
        if (paused)
            return 0;
    }
    if ((tier = calloc(ctx->targets.count, sizeof(rg_store_target *))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < ctx->targets.count; i++) {
        rg_store_target *t = &ctx->targets.items[i];
        if (t->stage_index <= ctx->row.stage_index && t->tier == low &&
            (t->state == RG_TARGET_PENDING || t->state == RG_TARGET_SNAPSHOTTED))
            tier[n++] = t;
    }
    rc = ctx->manifest->resource.kind == RG_RESOURCE_DATATABLE_ROW
             ? rg_engine__apply_rows(ctx, tier, n)
         : ctx->manifest->resource.kind == RG_RESOURCE_VERSIONED
             ? rg_engine__apply_versioned(ctx, tier, n)
             : apply_tier(ctx, tier, n);
    free(tier);
    ctx->next_ms = rg_time_now_ms(); /* the next tier, or the stage's close, right away */
    return rc;
}
