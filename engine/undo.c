/* undo.c - `undo`: a completed rollout restored from its snapshots and verified by telemetry,
 * as a trip would restore it (docs/operations.md, "Undo") */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "rollgate/body.h"
#include "rollgate/util.h"

typedef struct {
    rg_store_target *target;
    json_t *snapshot;
    json_t *applied;
    rg_platform_op *get;
} undo_item;

static int changed(const rg_store_target *t)
{
    return t->state == RG_TARGET_SNAPSHOTTED || t->state == RG_TARGET_APPLIED;
}

/* Every changed target has its snapshot. */
static int load_snapshots(undo_item *items, size_t *out_n, rg_rollout_ctx *ctx)
{
    size_t n = 0;

    for (size_t i = 0; i < ctx->targets.count; i++) {
        rg_store_target *t = &ctx->targets.items[i];
        rg_store_snapshot snap = {0};
        int rc;
        if (!changed(t))
            continue;
        items[n].target = t;
        rc = rg_store_snapshot_get(&snap, ctx->engine->store, t->tenant_id, t->rollout_id,
                                   t->org_id, t->strategy_id);
        if (rc == RG_ENOTFOUND) {
            *out_n = n;
            return rg_error_set(RG_ECONFLICT,
                                "cannot undo rollout %s: there is no snapshot of "
                                "%s strategy %s to restore",
                                ctx->row.id, t->org_id, t->strategy_id);
        }
        if (rc < 0) {
            *out_n = n;
            return rc;
        }
        items[n].snapshot = json_loads(snap.body, 0, NULL);
        rg_store_snapshot_dispose(&snap);
        items[n].applied = t->applied_body ? json_loads(t->applied_body, 0, NULL) : NULL;
        n++;
        if (items[n - 1].snapshot == NULL || items[n - 1].applied == NULL) {
            *out_n = n;
            return rg_error_set(RG_EDB,
                                "rollout %s: the snapshot or applied body of %s is not "
                                "JSON",
                                ctx->row.id, t->org_id);
        }
    }
    *out_n = n;
    return 0;
}

/* The value at a dotted path ("settings.longRunning") of a body, or NULL. */
static const json_t *at_path(const json_t *body, const char *path)
{
    char key[256];

    while (body && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof(key))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        body = json_object_get(body, key);
        path += n + (dot != NULL);
    }
    return body;
}

/* The kept paths (a person's edits since the apply) that the rollout itself changed: the
 * restore would keep the person's value there, so the undo could not restore them. An edit
 * of a field the rollout did not change is kept by the restore, as after a trip. */
static void conflicts(rg_buf *out, const undo_item *it, const json_t *kept)
{
    size_t i;
    json_t *p;

    json_array_foreach(kept, i, p)
    {
        const char *path = json_string_value(p);
        if (path == NULL || rg_body_same(at_path(it->snapshot, path), at_path(it->applied, path)))
            continue;
        rg_buf_printf(out, "%s%s %s", out->len ? "; " : "", it->target->org_id, path);
    }
}

/* Reads every changed target live. A field the rollout changed that a person edited since
 * the apply (the three-way restore would keep their value, rg_body_restore_patch) means the
 * undo cannot restore it: refused, naming the orgs and fields, unless forced. */
static int check_drift(rg_rollout_ctx *ctx, undo_item *items, size_t n, int force)
{
    rg_platform *pf = NULL;
    rg_buf drift = RG_BUF_INIT;
    int rc = 0;

    if ((rc = rg_engine__platform(&pf, ctx)) < 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *why = rg_engine__org_error(ctx, items[i].target->org_id);
        if (why)
            rc = rg_error_set(RG_EAUTH, "cannot undo rollout %s: %s: %s", ctx->row.id,
                              items[i].target->org_id, why);
        else
            rc = rg_platform_queue_strategy_get(&items[i].get, pf, items[i].target->org_id,
                                                items[i].target->strategy_id, NULL, NULL);
    }
    if (rc == 0)
        rc = rg_engine__platform_run(ctx, pf);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *patch = NULL, *kept = NULL;
        if ((rc = rg_platform_op_status(items[i].get)) < 0) {
            rg_error_set(rc, "cannot undo rollout %s: reading %s: %s", ctx->row.id,
                         items[i].target->org_id, rg_platform_op_error(items[i].get));
            break;
        }
        rc = rg_body_restore_patch(&patch, &kept, items[i].snapshot, items[i].applied,
                                   rg_platform_op_body(items[i].get));
        if (rc == 0)
            conflicts(&drift, &items[i], kept);
        json_decref(patch);
        json_decref(kept);
    }
    if (rc == 0 && drift.len && !force)
        rc = rg_error_set(RG_ECONFLICT,
                          "cannot undo rollout %s: a person edited, since it "
                          "applied them, fields it changed (%s); the undo would keep their "
                          "values there instead of the snapshot's (--force restores the rest "
                          "and keeps their edits, as a trip does)",
                          ctx->row.id, drift.ptr);
    else if (rc == 0 && drift.len)
        rg_engine__narrate(ctx, "target", "undo forced: edits since the apply are kept: %s",
                           drift.ptr);
    rg_buf_dispose(&drift);
    return rc;
}

/* The orgs are claimed again (an active rollout that took one since refuses the undo), the
 * book's restore marks cleared, and the rollout goes back to rolling_back, in one
 * transaction with its event and audit. */
static int begin_undo(rg_rollout_ctx *ctx, const char *actor, const char *reason, int forced)
{
    json_t *undo = json_pack("{s:s, s:s, s:I, s:b}", "actor", actor, "reason", reason, "at",
                             (json_int_t)ctx->now_ms, "forced", forced);
    char resource[512], why[768];
    int rc;

    if (undo == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if ((rc = rg_store_begin(ctx->engine->store)) < 0) {
        json_decref(undo);
        return rc;
    }
    for (size_t i = 0; rc == 0 && i < ctx->targets.count; i++) {
        const rg_store_target *t = &ctx->targets.items[i];
        if (!changed(t))
            continue;
        snprintf(resource, sizeof(resource), "strategy:%s", t->strategy_id);
        if ((rc = rg_store_claim(ctx->engine->store, t->tenant_id, t->rollout_id, t->org_id,
                                 resource)) == RG_ECLAIMED)
            rg_error_prefix("cannot undo rollout %s", ctx->row.id);
    }
    json_object_del(ctx->book, "restored_at");
    json_object_del(ctx->book, "restore_tries");
    json_object_set_new(ctx->book, "undo", undo);
    json_object_set_new(ctx->book, "tripped_at", json_integer(ctx->now_ms));
    free(ctx->row.verification);
    ctx->row.verification = NULL;
    snprintf(why, sizeof(why), "undo by %s: %s", actor, reason);
    ctx->next_ms = ctx->now_ms;
    if (rc == 0)
        rc =
            rg_engine__event(ctx, "undo", json_pack("{s:s, s:s}", "actor", actor, "reason", reason),
                             "undo: restoring every changed organization from its snapshot");
    if (rc == 0)
        rc = rg_engine__set_state(ctx, RG_ROLLOUT_ROLLING_BACK, why);
    if (rc == 0)
        rc = rg_engine__audit(ctx->engine, ctx->row.tenant_id, ctx->row.id, actor, "undo", reason,
                              forced ? "done (forced past edits)" : "done", NULL);
    return rg_engine__tx_end(ctx, 1, rc);
}

static int undo_leased(rg_engine *engine, const char *tenant_id, const char *rollout_id,
                       const char *actor, const char *reason, int force)
{
    rg_rollout_ctx ctx;
    undo_item *items = NULL;
    size_t n = 0;
    int rc;

    if ((rc = rg_engine__ctx_load(&ctx, engine, tenant_id, rollout_id)) < 0)
        return rc;
    if (ctx.row.state != RG_ROLLOUT_COMPLETED) {
        rc = rg_error_set(RG_ECONFLICT,
                          "cannot undo rollout %s: it is %s (undo is for a "
                          "completed rollout; an active one is rolled back)",
                          rollout_id, rg_rollout_state_to_str(ctx.row.state));
        goto cleanup;
    }
    if ((items = calloc(ctx.targets.count + 1, sizeof(*items))) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = load_snapshots(items, &n, &ctx)) < 0)
        goto cleanup;
    if (n == 0) {
        rc = rg_error_set(RG_ECONFLICT, "cannot undo rollout %s: it changed no organization",
                          rollout_id);
        goto cleanup;
    }
    if ((rc = check_drift(&ctx, items, n, force)) < 0)
        goto cleanup;
    rc = begin_undo(&ctx, actor, reason, force);
cleanup:
    for (size_t i = 0; items && i < n; i++) {
        json_decref(items[i].snapshot);
        json_decref(items[i].applied);
        rg_platform_op_free(items[i].get);
    }
    free(items);
    rg_engine__ctx_dispose(&ctx);
    return rc;
}

int rg_engine_undo(rg_engine *engine, const char *tenant_id, const char *rollout_id,
                   const char *actor, const char *reason, int force)
{
    int held = 0, rc;

    if (engine == NULL || tenant_id == NULL || rollout_id == NULL || actor == NULL)
        return rg_error_set(RG_EINVALID, "rg_engine_undo: invalid arguments");
    if (reason == NULL || *reason == '\0')
        return rg_error_set(RG_EINVALID, "undo needs --reason TEXT");
    {
        rg_store_rollout row = {0};
        if ((rc = rg_store_rollout_get(&row, engine->store, tenant_id, rollout_id)) < 0)
            return rc;
        rg_store_rollout_dispose(&row);
    }
    if ((rc = rg_engine__lease(&held, engine, tenant_id, rollout_id)) < 0)
        return rc;
    if (!held)
        return rg_error_set(RG_ECONFLICT,
                            "cannot undo rollout %s now: another process holds "
                            "its lease",
                            rollout_id);
    rc = undo_leased(engine, tenant_id, rollout_id, actor, reason, force);
    if (rc == 0)
        rc = rg_engine__drive_restore(engine, tenant_id, rollout_id);
    rg_engine__lease_end(engine);
    rg_store_lease_release(NULL, engine->store, tenant_id, rollout_id, engine->owner);
    return rc;
}
