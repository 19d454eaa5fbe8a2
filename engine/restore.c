/* restore.c - the breaker's work: restore every touched target from its snapshot
 * (dependents first, a person's later edits kept), then verify.c judges by telemetry */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "engine/telemetry.h"
#include "rollgate/body.h"
#include "rollgate/util.h"

typedef struct {
    rg_rollout_ctx *ctx;
    rg_store_target *target;
    json_t *snapshot; /* the pre-change body */
    json_t *applied;  /* what the engine applied (or meant to) */
    json_t *patch;
    json_t *kept;
    rg_platform_op *get;
    rg_platform_op *update;
    struct restore_run *run;
} restore_item;

typedef struct restore_run restore_run;

static int touched(const rg_store_target *t)
{
    return t->state == RG_TARGET_SNAPSHOTTED || t->state == RG_TARGET_APPLIED ||
           t->state == RG_TARGET_APPLY_FAILED || t->state == RG_TARGET_RESTORE_FAILED;
}

static int merge_restore(json_t **out, const json_t *live, const char *etag, void *payload)
{
    restore_item *it = payload;
    json_t *kept = NULL;
    int rc;
    (void)etag;
    rc = rg_body_restore_patch(out, &kept, it->snapshot, it->applied, live);
    /* a write after a re-read: only while this driver still holds the rollout */
    if (rc == 0 && json_object_size(*out) > 0 && (rc = rg_engine__lease_confirm(it->ctx)) < 0) {
        json_decref(*out);
        *out = NULL;
        json_decref(kept);
        return rc;
    }
    if (rc == 0) {
        json_decref(it->kept);
        it->kept = kept;
    }
    return rc;
}

static int restore_failed(restore_item *it, const char *why)
{
    rg_rollout_ctx *ctx = it->ctx;
    rg_store_target *t = it->target;
    json_t *tries = json_object_get(ctx->book, "restore_tries");
    json_int_t n;

    if (tries == NULL)
        json_object_set_new(ctx->book, "restore_tries", tries = json_object());
    n = json_integer_value(json_object_get(tries, t->org_id)) + 1;
    json_object_set_new(tries, t->org_id, json_integer(n));
    free(t->last_error);
    t->last_error = rg_strdup(why);
    if (n >= ctx->engine->opts.restore_attempts)
        t->state = RG_TARGET_RESTORE_FAILED;
    rg_engine__narrate(ctx, "target", "%s restore %s: %s", t->org_id,
                       t->state == RG_TARGET_RESTORE_FAILED ? "failed" : "will retry", why);
    return rg_store_target_update(ctx->engine->store, t);
}

/* patched: 1 = the PATCH's reply confirmed it, 0 = at the snapshot before any PATCH, -1 = a
 * re-read after a lost reply or a 412 found it restored (no second PATCH). */
static int restored(restore_item *it, const char *etag, int patched)
{
    rg_rollout_ctx *ctx = it->ctx;
    rg_store_target *t = it->target;
    int rc;

    t->state = RG_TARGET_RESTORED;
    free(t->restored_etag);
    t->restored_etag = etag ? rg_strdup(etag) : NULL;
    t->restored_at_ms = rg_time_now_ms();
    free(t->kept_fields);
    t->kept_fields = it->kept ? json_dumps(it->kept, JSON_COMPACT) : NULL;
    free(t->last_error);
    t->last_error = NULL;
    if ((rc = rg_store_target_update(ctx->engine->store, t)) < 0)
        return rc;
    if (json_array_size(it->kept) > 0) {
        char *kept = json_dumps(it->kept, JSON_COMPACT);
        rc = rg_engine__audit(ctx->engine, t->tenant_id, t->rollout_id, "engine", "restore",
                              "fields a person edited after the apply were kept", "kept",
                              json_pack("{s:s, s:O}", "org", t->org_id, "kept", it->kept));
        rg_engine__narrate(ctx, "target",
                           "%s restored from snapshot; kept a person's edits "
                           "to %s",
                           t->org_id, kept ? kept : "?");
        free(kept);
        return rc;
    }
    rg_engine__narrate(ctx, "target", "%s restored from snapshot%s", t->org_id,
                       patched > 0    ? ""
                       : patched == 0 ? " (already at its snapshot, no PATCH sent)"
                                      : " (a re-read found it at its snapshot, no second "
                                        "PATCH sent)");
    return 0;
}

static int load_bodies(restore_item *it)
{
    rg_rollout_ctx *ctx = it->ctx;
    rg_store_target *t = it->target;
    rg_store_snapshot snap = {0};
    int rc;

    rc = rg_store_snapshot_get(&snap, ctx->engine->store, t->tenant_id, t->rollout_id, t->org_id,
                               t->strategy_id);
    if (rc < 0)
        return rc;
    it->snapshot = json_loads(snap.body, 0, NULL);
    rg_store_snapshot_dispose(&snap);
    it->applied = t->applied_body ? json_loads(t->applied_body, 0, NULL) : NULL;
    if (it->snapshot == NULL)
        return rg_error_set(RG_EDB, "snapshot of %s is not JSON", t->org_id);
    if (it->applied == NULL)
        it->applied = json_deep_copy(it->snapshot);
    return 0;
}

/* One tier's restore, pipelined: each org's bodies are read and its PATCH queued the moment
 * its GET answers, and the PATCH is recorded the moment it is answered, while the platform
 * client runs the rest. The records commit in batches (RECORD_BATCH, or RECORD_BATCH_MS
 * old, closed before the client waits longer than that): a commit per record cost 10,000
 * orgs 160 ms. A crash loses at most one batch's records; the next tick re-reads those orgs,
 * finds them at their snapshot and records them without a second PATCH. */
#define RECORD_BATCH 64
#define RECORD_BATCH_MS 10

struct restore_run {
    rg_rollout_ctx *ctx;
    rg_platform *pf;
    int rc;              /* the first failure: nothing more is queued or recorded after it */
    int answered;        /* a PATCH has been answered (its crash point comes once a tier) */
    int own;             /* a batch of records is open (a transaction this run began) */
    int batched;         /* records in it */
    int64_t batch_ms;    /* when it began (monotonic) */
    int64_t extended_ms; /* when the lease was last extended (monotonic) */
};

static int batch_close(restore_run *run, int rc)
{
    if (!run->own)
        return rc;
    run->own = 0;
    return rg_engine__tx_end(run->ctx, 1, rc);
}

/* One record (restored or failed) into the open batch, opened if need be. */
static void record(restore_run *run, restore_item *it, int failed, const char *why,
                   const char *etag, int patched)
{
    int rc = 0;

    if (run->rc < 0)
        return;
    if (!run->own && (rc = rg_engine__tx_begin(run->ctx, &run->own)) == 0 && run->own) {
        run->batched = 0;
        run->batch_ms = rg_time_mono_ms();
    }
    if (rc == 0)
        rc = failed ? restore_failed(it, why) : restored(it, etag, patched);
    if (rc < 0 || (run->own && ++run->batched >= RECORD_BATCH))
        rc = batch_close(run, rc);
    if (rc < 0)
        run->rc = rc;
}

/* rg_platform_idle_fn: a batch open for RECORD_BATCH_MS commits before the client waits. */
static int64_t record_idle(void *payload)
{
    restore_run *run = payload;
    int64_t age;
    int rc;

    if (!run->own)
        return -1;
    if ((age = rg_time_mono_ms() - run->batch_ms) < RECORD_BATCH_MS)
        return RECORD_BATCH_MS - age;
    if ((rc = batch_close(run, 0)) < 0 && run->rc == 0)
        run->rc = rc;
    return -1;
}

static void update_done(rg_platform_op *op, void *payload)
{
    restore_item *it = payload;
    restore_run *run = it->run;

    if (!run->answered) {
        run->answered = 1;
        rg_engine__crash_point("after_restore_patch");
    }
    if (rg_platform_op_status(op) < 0)
        record(run, it, 1, rg_platform_op_error(op), NULL, 0);
    else
        /* in place: a re-read (412, or a PATCH whose reply was lost) found the restore
         * target already live, and no second PATCH was sent */
        record(run, it, 0, NULL, rg_platform_op_etag(op), rg_platform_op_in_place(op) ? -1 : 1);
}

/* A restore that outlasts a third of the lease (a 429 storm, 100,000 orgs) extends it
 * before its next PATCH, so no second driver can take the rollout over mid-tier. */
static int lease_keep(restore_run *run)
{
    int64_t now = rg_time_mono_ms();
    int rc;

    if (now - run->extended_ms < rg_engine__lease_ttl(run->ctx->engine) / 3)
        return 0;
    if ((rc = rg_engine__lease_confirm(run->ctx)) == 0)
        run->extended_ms = now;
    return rc;
}

static void get_done(rg_platform_op *op, void *payload)
{
    restore_item *it = payload;
    restore_run *run = it->run;
    int rc;

    if (run->rc < 0)
        return;
    if (rg_platform_op_status(op) < 0) {
        record(run, it, 1, rg_platform_op_error(op), NULL, 0);
        return;
    }
    if ((rc = load_bodies(it)) == 0 &&
        (rc = rg_body_restore_patch(&it->patch, &it->kept, it->snapshot, it->applied,
                                    rg_platform_op_body(op))) == 0 &&
        json_object_size(it->patch) == 0) {
        record(run, it, 0, NULL, rg_platform_op_etag(op), 0);
        return;
    }
    if (rc == 0 && (rc = lease_keep(run)) == 0)
        rc = rg_platform_queue_strategy_update(&it->update, run->pf, it->target->org_id,
                                               it->target->strategy_id, rg_platform_op_etag(op),
                                               it->patch, merge_restore, it, update_done, it);
    if (rc < 0)
        run->rc = rc;
}

/* Restores the touched targets of the highest tier that still has any. */
static int restore_tier(rg_rollout_ctx *ctx, rg_store_target **tier, size_t n)
{
    restore_item *items = calloc(n, sizeof(*items));
    restore_run run = {0};
    int rc = 0;

    if (items == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    run.ctx = ctx;
    if ((rc = rg_engine__platform(&run.pf, ctx)) < 0)
        goto cleanup;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        items[i].ctx = ctx;
        items[i].run = &run;
        items[i].target = tier[i];
        if (rg_engine__org_error(ctx, tier[i]->org_id))
            rc = restore_failed(&items[i], rg_engine__org_error(ctx, tier[i]->org_id));
        else
            rc = rg_platform_queue_strategy_get(&items[i].get, run.pf, tier[i]->org_id,
                                                tier[i]->strategy_id, get_done, &items[i]);
    }
    run.extended_ms = rg_time_mono_ms(); /* rg_engine__platform_run extends it first */
    rg_platform_set_idle(run.pf, record_idle, &run);
    if (rc == 0)
        rc = rg_engine__platform_run(ctx, run.pf);
    rg_platform_set_idle(run.pf, NULL, NULL);
    if (rc == 0)
        rc = run.rc;
    rc = batch_close(&run, rc);
cleanup:
    for (size_t i = 0; i < n; i++) {
        json_decref(items[i].snapshot);
        json_decref(items[i].applied);
        json_decref(items[i].patch);
        json_decref(items[i].kept);
        rg_platform_op_free(items[i].get);
        rg_platform_op_free(items[i].update);
    }
    free(items);
    return rc;
}

/* A row's restore target: the snapshot, but for a field outside the change that a person
 * edited after the apply (kept, as for a strategy). */
static int row_restore_target(json_t **out, restore_item *it, json_t *live)
{
    const json_t *change = rg_engine__target_body(it->ctx, it->target);
    json_t *row = json_deep_copy(it->snapshot), *v;
    const char *name;

    json_decref(it->kept);
    it->kept = json_array();
    if (row == NULL || it->kept == NULL) {
        json_decref(row);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    json_object_foreach(live, name, v)
    {
        if (strcmp(name, "key") == 0 || json_object_get(change, name) != NULL)
            continue;
        if (!json_equal(v, json_object_get(it->applied, name)) &&
            !json_equal(v, json_object_get(it->snapshot, name))) {
            json_object_set(row, name, v);
            json_array_append_new(it->kept, json_string(name));
        }
    }
    *out = row;
    return 0;
}

/* A row the apply created (its snapshot {}: absent) is deleted, unless a person changed it
 * since rollgate wrote it (then the restore fails naming the org: never a silent loss). */
static int restore_created_row(restore_item *it)
{
    rg_rollout_ctx *ctx = it->ctx;
    rg_engine *e = ctx->engine;
    rg_store_target *t = it->target;
    const rg_manifest_resource *r = &ctx->manifest->resource;
    json_t *live = NULL;
    char why[768];
    int rc;

    rc = rg_platform_row_get(&live, ctx->platform, t->org_id, r->datatable, r->row);
    if (rc == RG_ENOTFOUND)
        return restored(it, "absent", 0);
    if (rc < 0)
        return rc == RG_EDB ? rc : restore_failed(it, rg_error_last());
    if (rg_platform_row_diff(live, it->applied) != NULL) {
        const char *field = rg_platform_row_diff(live, it->applied);
        snprintf(why, sizeof(why),
                 "org %s: row %s/%s, which rollgate created, was changed by someone else "
                 "(field '%s'); not deleted",
                 t->org_id, r->datatable, r->row, field ? field : "?");
        json_decref(live);
        return restore_failed(it, why);
    }
    json_decref(live);
    if (e->epoch > 0 &&
        (rc = rg_store_lease_extend(e->store, ctx->row.tenant_id, ctx->row.id, e->owner, e->epoch,
                                    rg_engine__lease_ttl(e), e->batch_last_ms)) < 0)
        return rc;
    if ((rc = rg_platform_row_delete(ctx->platform, t->org_id, r->datatable, r->row)) < 0)
        return rc == RG_EDB ? rc : restore_failed(it, rg_error_last());
    rg_engine__crash_point("after_restore_patch");
    return restored(it, "absent", 1);
}

/* The snapshot row written back through the verified write (re-read, compare, PUT, read
 * back), merging again when the row changes between the read and the PUT. */
static int restore_row(restore_item *it)
{
    rg_rollout_ctx *ctx = it->ctx;
    rg_engine *e = ctx->engine;
    rg_store_target *t = it->target;
    const rg_manifest_resource *r = &ctx->manifest->resource;
    json_t *live = NULL, *intended = NULL, *after = NULL;
    char version[65];
    int rc, in_place = 0;

    if (rg_engine__org_error(ctx, t->org_id))
        return restore_failed(it, rg_engine__org_error(ctx, t->org_id));
    if (json_object_get(it->snapshot, "key") == NULL)
        return restore_created_row(it);
    if ((rc = rg_platform_row_get(&live, ctx->platform, t->org_id, r->datatable, r->row)) < 0)
        return rc == RG_EDB ? rc : restore_failed(it, rg_error_last());
    for (int attempt = 0; attempt < 3; attempt++) {
        if ((rc = row_restore_target(&intended, it, live)) < 0 ||
            (rc = rg_platform_row_version(version, live)) < 0)
            goto done;
        if (rg_platform_row_diff(live, intended) == NULL) {
            rc = restored(it, version, 0);
            goto done;
        }
        if (e->epoch > 0 &&
            (rc = rg_store_lease_extend(e->store, ctx->row.tenant_id, ctx->row.id, e->owner,
                                        e->epoch, rg_engine__lease_ttl(e), e->batch_last_ms)) < 0)
            goto done;
        rc = rg_platform_row_write(&after, &in_place, ctx->platform, t->org_id, r->datatable,
                                   r->row, version, intended);
        if (rc == 0) {
            rg_engine__crash_point("after_restore_patch");
            if ((rc = rg_platform_row_version(version, after)) == 0)
                rc = restored(it, version, in_place ? -1 : 1);
            goto done;
        }
        if (rc != RG_ECONFLICT || after == NULL ||
            strstr(rg_error_last(), "right after rollgate's PUT") != NULL) {
            rc = restore_failed(it, rg_error_last());
            goto done;
        }
        json_decref(live);
        live = after;
        after = NULL;
        json_decref(intended);
        intended = NULL;
    }
    rc = restore_failed(it, "the row kept changing between rollgate's reads and its writes");
done:
    json_decref(live);
    json_decref(intended);
    json_decref(after);
    return rc;
}

/* A versioned resource's restore: the snapshot's values of the changed fields written back
 * through the versioned write (base: the values the rollout wrote; a stale version is re-read
 * and merged), but for a changed field a person set since to a value that is neither the
 * snapshot's nor the rollout's (kept, as for a strategy). The version itself is the
 * platform's and is never restored. */
static int restore_versioned(restore_item *it)
{
    rg_rollout_ctx *ctx = it->ctx;
    rg_engine *e = ctx->engine;
    rg_store_target *t = it->target;
    const char *path = ctx->manifest->resource.path, *name;
    const json_t *change = rg_engine__target_body(ctx, t);
    json_t *live = NULL, *fields = json_object(), *after = NULL, *v;
    char version[32];
    int rc, in_place = 0;

    json_decref(it->kept);
    it->kept = json_array();
    if (fields == NULL || it->kept == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto done;
    }
    if (rg_engine__org_error(ctx, t->org_id)) {
        rc = restore_failed(it, rg_engine__org_error(ctx, t->org_id));
        goto done;
    }
    if ((rc = rg_platform_versioned_get(&live, ctx->platform, t->org_id, path)) < 0) {
        rc = rc == RG_EDB ? rc : restore_failed(it, rg_error_last());
        goto done;
    }
    json_object_foreach((json_t *)change, name, v)
    {
        json_t *now = json_object_get(live, name), *was = json_object_get(it->snapshot, name);
        if (was == NULL)
            continue; /* not a field of the resource: the apply refused it */
        if (!json_equal(now, was) && !json_equal(now, json_object_get(it->applied, name))) {
            json_array_append_new(it->kept, json_string(name));
            continue;
        }
        json_object_set(fields, name, was);
    }
    snprintf(version, sizeof(version), "%lld",
             (long long)json_integer_value(json_object_get(live, "version")));
    if (json_object_size(fields) == 0) {
        rc = restored(it, version, 0);
        goto done;
    }
    if (e->epoch > 0 &&
        (rc = rg_store_lease_extend(e->store, ctx->row.tenant_id, ctx->row.id, e->owner, e->epoch,
                                    rg_engine__lease_ttl(e), e->batch_last_ms)) < 0)
        goto done;
    rc = rg_platform_versioned_write_from(&after, &in_place, ctx->platform, t->org_id, path, fields,
                                          it->applied, live);
    if (rc == 0) {
        rg_engine__crash_point("after_restore_patch");
        snprintf(version, sizeof(version), "%lld",
                 (long long)json_integer_value(json_object_get(after, "version")));
        rc = restored(it, version, in_place ? 0 : 1);
    } else if (rc != RG_EDB && rc != RG_ELEASE) {
        rc = restore_failed(it, rg_error_last());
    }
done:
    json_decref(live);
    json_decref(fields);
    json_decref(after);
    return rc;
}

static int restore_rows_tier(rg_rollout_ctx *ctx, rg_store_target **tier, size_t n)
{
    rg_platform *pf = NULL;
    int rc;

    if ((rc = rg_engine__platform(&pf, ctx)) < 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        restore_item it = {0};
        it.ctx = ctx;
        it.target = tier[i];
        if ((rc = load_bodies(&it)) == 0)
            rc = ctx->manifest->resource.kind == RG_RESOURCE_VERSIONED ? restore_versioned(&it)
                                                                       : restore_row(&it);
        json_decref(it.snapshot);
        json_decref(it.applied);
        json_decref(it.kept);
    }
    return rc;
}

static int restore_step(rg_rollout_ctx *ctx, int *out_done)
{
    rg_store_target **tier = NULL;
    json_t *tries = json_object_get(ctx->book, "restore_tries");
    size_t n = 0;
    int high = -1, rc;

    *out_done = 0;
    for (size_t i = 0; i < ctx->targets.count; i++) {
        rg_store_target *t = &ctx->targets.items[i];
        int retry = t->state != RG_TARGET_RESTORE_FAILED ||
                    json_integer_value(json_object_get(tries, t->org_id)) <
                        ctx->engine->opts.restore_attempts;
        if (touched(t) && t->state != RG_TARGET_RESTORE_FAILED && retry && t->tier > high)
            high = t->tier;
    }
    if (high < 0) {
        *out_done = 1;
        return 0;
    }
    if ((tier = calloc(ctx->targets.count, sizeof(rg_store_target *))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < ctx->targets.count; i++) {
        rg_store_target *t = &ctx->targets.items[i];
        if (touched(t) && t->state != RG_TARGET_RESTORE_FAILED && t->tier == high)
            tier[n++] = t;
    }
    rc = ctx->manifest->resource.kind != RG_RESOURCE_ROUTING_STRATEGY
             ? restore_rows_tier(ctx, tier, n) /* rows and versioned resources, one by one */
             : restore_tier(ctx, tier, n);
    free(tier);
    if (rc == 0)
        rc = rg_engine__save(ctx);
    if (rc == 0)
        rg_engine__crash_point("between_restore_tiers");
    ctx->next_ms = rg_time_now_ms();
    return rc;
}

int rg_engine__rollback(rg_rollout_ctx *ctx)
{
    rg_buf failed = RG_BUF_INIT;
    int done = 0, rc, own = 0;

    if (rg_engine__book_int(ctx, "restored_at") != 0)
        return rg_engine__verify(ctx);
    if ((rc = restore_step(ctx, &done)) < 0 || !done)
        return rc;
    for (size_t i = 0; i < ctx->targets.count; i++) {
        rg_store_target *t = &ctx->targets.items[i];
        if (t->state == RG_TARGET_RESTORE_FAILED)
            rg_buf_printf(&failed, "%s%s (%s)", failed.len ? "; " : "", t->org_id,
                          t->last_error ? t->last_error : "unknown");
    }
    rg_engine__book_set_int(ctx, "restored_at", rg_time_now_ms());
    /* The restore's end, its event and state commit together. */
    if ((rc = rg_engine__tx_begin(ctx, &own)) < 0) {
        rg_buf_dispose(&failed);
        return rc;
    }
    if (failed.len) {
        rc = rg_engine__event(ctx, "rollback_incomplete", NULL, "rollback incomplete: %s",
                              failed.ptr);
        if (rc == 0)
            rc = rg_engine__gate_finish_rollback(ctx, RG_ROLLOUT_ROLLBACK_INCOMPLETE, failed.ptr);
        free(ctx->row.hold_reason);
        ctx->row.hold_reason = rg_strdup(failed.ptr);
        if (rc == 0)
            rc = rg_engine__save(ctx);
        rg_buf_dispose(&failed);
        return rg_engine__tx_end(ctx, own, rc);
    }
    rg_buf_dispose(&failed);
    rc = rg_engine__event(ctx, "restored", NULL,
                          "every touched organization restored from its "
                          "snapshot; verifying");
    ctx->next_ms = ctx->now_ms;
    if (rc == 0)
        rc = rg_engine__save(ctx);
    return rg_engine__tx_end(ctx, own, rc);
}