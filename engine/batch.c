/* batch.c - one tier of verified resource writes: the loop over its targets with the kind's
 * steps as callbacks (apply_row.c, apply_versioned.c), and the per-target records they share:
 * a failed attempt, the snapshot committed with the target, the applied version, a retried
 * target's snapshot, the lease renewed before each write */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/batch.h"
#include "rollgate/util.h"

#define ITEM(items, size, i) ((rg_engine_batch_item *)((char *)(items) + (i) * (size)))

int rg_engine__apply_batch(rg_rollout_ctx *ctx, rg_store_target **tier, size_t n,
                           const rg_engine_batch_kind *kind)
{
    size_t size = kind->item_size;
    void *items = NULL;
    rg_platform *pf = NULL;
    int rc = 0;

    if (n == 0)
        return 0;
    if (size < sizeof(rg_engine_batch_item) || (items = calloc(n, size)) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        rg_engine_batch_item *it = ITEM(items, size, i);
        it->ctx = ctx;
        it->target = tier[i];
        it->write = kind->read == NULL;
        if ((it->fields = json_deep_copy(rg_engine__target_body(ctx, tier[i]))) == NULL) {
            rc = rg_error_set(RG_EDB, "target %s has no rendered %s", tier[i]->org_id,
                              kind->rendered);
            goto cleanup;
        }
    }
    if ((rc = rg_engine__platform(&pf, ctx)) < 0)
        goto cleanup;
    if (kind->queue != NULL &&
        ((rc = kind->queue(items, n, pf)) < 0 || (rc = rg_engine__platform_run(ctx, pf)) < 0))
        goto cleanup;
    if (kind->read != NULL) {
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = kind->read(ITEM(items, size, i));
        if (rc == 0)
            rg_engine__crash_point("after_snapshot");
    }
    /* one verified write at a time: each is read, written and read back on its own */
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (ITEM(items, size, i)->write)
            rc = kind->write(ITEM(items, size, i));
cleanup:
    for (size_t i = 0; i < n; i++) {
        rg_engine_batch_item *it = ITEM(items, size, i);
        if (kind->dispose != NULL)
            kind->dispose(it);
        json_decref(it->fields);
    }
    free(items);
    return rc;
}

int rg_engine__target_failed(rg_rollout_ctx *ctx, rg_store_target *t, const char *what,
                             const char *why, int permanent)
{
    char msg[768];

    snprintf(msg, sizeof(msg), "%s: %s", what, why ? why : "unknown");
    t->attempts++;
    free(t->last_error);
    t->last_error = rg_strdup(msg);
    if (permanent || t->attempts >= ctx->engine->opts.apply_attempts)
        t->state = RG_TARGET_APPLY_FAILED;
    rg_engine__narrate(ctx, "target", "%s %s (attempt %d): %s", t->org_id,
                       t->state == RG_TARGET_APPLY_FAILED ? "apply failed" : "apply retry",
                       t->attempts, msg);
    return rg_store_target_update(ctx->engine->store, t);
}

int rg_engine__target_snapshot(rg_rollout_ctx *ctx, rg_store_target *t, const char *version,
                               const json_t *live, const json_t *intended)
{
    rg_store *store = ctx->engine->store;
    rg_store_snapshot_in snap = {0};
    char *live_text = json_dumps(live, JSON_COMPACT | JSON_SORT_KEYS);
    int rc;

    free(t->applied_body);
    t->applied_body = json_dumps(intended, JSON_COMPACT | JSON_SORT_KEYS);
    if (live_text == NULL || t->applied_body == NULL) {
        free(live_text);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    snap.rollout_id = t->rollout_id;
    snap.tenant_id = t->tenant_id;
    snap.org_id = t->org_id;
    snap.strategy_id = t->strategy_id;
    snap.etag = version;
    snap.body = live_text;
    snap.taken_at_ms = ctx->now_ms;
    t->state = RG_TARGET_SNAPSHOTTED;
    rg_engine__crash_point("before_snapshot");
    if ((rc = rg_store_begin_durable(store)) == 0) {
        rc = rg_store_snapshot_insert(store, &snap);
        if (rc == RG_ECONFLICT)
            rc = 0; /* taken by an earlier run: the first snapshot is the true pre-change body */
        if (rc == 0)
            rc = rg_store_target_update(store, t);
        if (rc == 0)
            rc = rg_store_commit(store);
        if (rc < 0)
            rg_store_rollback(store);
    }
    free(live_text);
    return rc;
}

int rg_engine__target_applied(rg_rollout_ctx *ctx, rg_store_target *t, const json_t *applied,
                              const char *version, const char *what, int how)
{
    free(t->applied_body);
    t->applied_body = json_dumps(applied, JSON_COMPACT | JSON_SORT_KEYS);
    free(t->applied_etag);
    t->applied_etag = rg_strdup(version);
    t->applied_at_ms = rg_time_now_ms();
    t->state = RG_TARGET_APPLIED;
    free(t->last_error);
    t->last_error = NULL;
    rg_engine__narrate(ctx, "target", "%s %s (%s)", t->org_id, what,
                       how > 0    ? "PUT written and read back"
                       : how == 0 ? "already in place, no PUT sent"
                                  : "a re-read found it in place, no second PUT sent");
    return rg_store_target_update(ctx->engine->store, t);
}

json_t *rg_engine__target_stored_snapshot(rg_rollout_ctx *ctx, const rg_store_target *t)
{
    rg_store_snapshot snap = {0};
    json_t *body = NULL;

    if (rg_store_snapshot_get(&snap, ctx->engine->store, t->tenant_id, t->rollout_id, t->org_id,
                              t->strategy_id) == 0)
        body = json_loads(snap.body, 0, NULL);
    rg_store_snapshot_dispose(&snap);
    return body;
}

int rg_engine__lease_renew(rg_rollout_ctx *ctx)
{
    rg_engine *e = ctx->engine;

    if (e->epoch <= 0)
        return 0;
    return rg_store_lease_extend(e->store, ctx->row.tenant_id, ctx->row.id, e->owner, e->epoch,
                                 rg_engine__lease_ttl(e), e->batch_last_ms);
}
