/* apply_versioned.c - applying a stage to resources with a `version` field (IVR configs,
 * schedule groups, emergency groups): per target GET the full body -> snapshot committed ->
 * the versioned write carrying the version of that very read (a stale version is re-read and
 * merged, never overwritten; a person's edit to a changed field holds) -> applied version
 * recorded. docs/manifest.md, docs/platform-api.md */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "rollgate/util.h"

typedef struct {
    rg_rollout_ctx *ctx;
    rg_store_target *target;
    json_t *fields; /* the rendered template: the top-level fields to set */
} versioned_item;

static int versioned_failed(versioned_item *it, const char *what, const char *why, int permanent)
{
    rg_store_target *t = it->target;
    rg_rollout_ctx *ctx = it->ctx;
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

/* The body's version as text (what the snapshot and the target record in place of an ETag). */
static void version_text(char *out, size_t outlen, const json_t *body)
{
    snprintf(out, outlen, "%lld", (long long)json_integer_value(json_object_get(body, "version")));
}

/* A template field the resource does not have cannot be restored to its absence (the merge
 * never removes a field): refused before anything is written. NULL when every field is there. */
static const char *absent_field(const json_t *live, const json_t *fields)
{
    const char *name;
    json_t *v;

    json_object_foreach((json_t *)fields, name,
                        v) if (json_object_get(live, name) == NULL) return name;
    return NULL;
}

/* Snapshot (the full body) and target state in one synchronous=FULL transaction. */
static int record_snapshot(versioned_item *it, json_t *live)
{
    rg_rollout_ctx *ctx = it->ctx;
    rg_store *store = ctx->engine->store;
    rg_store_target *t = it->target;
    rg_store_snapshot_in snap = {0};
    char version[32], *live_text = NULL;
    int rc;

    version_text(version, sizeof(version), live);
    live_text = json_dumps(live, JSON_COMPACT | JSON_SORT_KEYS);
    free(t->applied_body);
    t->applied_body = json_dumps(it->fields, JSON_COMPACT | JSON_SORT_KEYS);
    if (live_text == NULL || t->applied_body == NULL) {
        free(live_text);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    snap.rollout_id = t->rollout_id;
    snap.tenant_id = t->tenant_id;
    snap.org_id = t->org_id;
    snap.strategy_id = t->strategy_id;
    snap.etag = version; /* the resource's version: it has no ETag */
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

/* how: 1 = PUT and read back, 0 = in place before any PUT, -1 = a re-read after a PUT whose
 * outcome was unknown found it in place (no second PUT). */
static int record_applied(versioned_item *it, const json_t *live, int how)
{
    rg_store_target *t = it->target;
    rg_rollout_ctx *ctx = it->ctx;
    char version[32];

    version_text(version, sizeof(version), live);
    free(t->applied_body);
    t->applied_body = json_dumps(it->fields, JSON_COMPACT | JSON_SORT_KEYS);
    free(t->applied_etag);
    t->applied_etag = rg_strdup(version);
    t->applied_at_ms = rg_time_now_ms();
    t->state = RG_TARGET_APPLIED;
    free(t->last_error);
    t->last_error = NULL;
    rg_engine__narrate(ctx, "target", "%s %s applied at version %s (%s)", t->org_id, t->strategy_id,
                       version,
                       how > 0    ? "PUT written and read back"
                       : how == 0 ? "already in place, no PUT sent"
                                  : "a re-read found it in place, no second PUT sent");
    return rg_store_target_update(ctx->engine->store, t);
}

/* The snapshot a crashed or retried run took (new reference), or NULL. */
static json_t *stored_snapshot(versioned_item *it)
{
    rg_store_target *t = it->target;
    rg_store_snapshot snap = {0};
    json_t *body = NULL;

    if (rg_store_snapshot_get(&snap, it->ctx->engine->store, t->tenant_id, t->rollout_id, t->org_id,
                              t->strategy_id) == 0)
        body = json_loads(snap.body, 0, NULL);
    rg_store_snapshot_dispose(&snap);
    return body;
}

/* One target: read, snapshot when pending, then the versioned write from that read. */
static int apply_one(versioned_item *it)
{
    rg_rollout_ctx *ctx = it->ctx;
    rg_engine *e = ctx->engine;
    rg_store_target *t = it->target;
    const char *path = ctx->manifest->resource.path, *field;
    json_t *live = NULL, *base = NULL, *after = NULL;
    int rc, in_place = 0, retried = t->state == RG_TARGET_SNAPSHOTTED;

    if (rg_engine__org_error(ctx, t->org_id))
        return versioned_failed(it, "credentials", rg_engine__org_error(ctx, t->org_id), 0);
    if ((rc = rg_platform_versioned_get(&live, ctx->platform, t->org_id, path)) < 0)
        return rc == RG_EDB ? rc
                            : versioned_failed(it, "read", rg_error_last(),
                                               rc == RG_ENOTFOUND || rc == RG_EINVALID);
    if (t->state == RG_TARGET_PENDING) {
        base = json_incref(live);
        if ((rc = record_snapshot(it, live)) < 0)
            goto done;
    } else if ((base = stored_snapshot(it)) == NULL) {
        rc = rg_error_set(RG_EDB, "target %s is snapshotted but its snapshot is unreadable",
                          t->org_id);
        goto done;
    }
    if ((field = absent_field(live, it->fields)) != NULL) {
        char why[600];
        snprintf(why, sizeof(why),
                 "org %s: %s has no field '%s'; rollgate sets existing fields only (it could "
                 "not restore the field's absence)",
                 t->org_id, path, field);
        rc = versioned_failed(it, "read", why, 1);
        goto done;
    }
    rg_engine__crash_point("after_snapshot");
    /* the write is a platform batch of its own: the lease is renewed first */
    if (e->epoch > 0 &&
        (rc = rg_store_lease_extend(e->store, ctx->row.tenant_id, ctx->row.id, e->owner, e->epoch,
                                    rg_engine__lease_ttl(e), e->batch_last_ms)) < 0)
        goto done;
    /* base: the snapshot, so a person's edit to a changed field since it holds the rollout;
     * the first PUT carries the version of the read the snapshot was taken from */
    rc = rg_platform_versioned_write_from(&after, &in_place, ctx->platform, t->org_id, path,
                                          it->fields, base, live);
    if (rc == 0) {
        rg_engine__crash_point("after_patch");
        rc = record_applied(it, after, in_place ? (retried ? -1 : 0) : 1);
    } else if (rc == RG_ECONFLICT) {
        rc = versioned_failed(it, "conflict", rg_error_last(), 1);
    } else if (rc != RG_EDB && rc != RG_ELEASE) {
        rc = versioned_failed(it, "PUT", rg_error_last(),
                              rc == RG_EINVALID || rc == RG_ENOTFOUND || rc == RG_EAUTH);
    }
done:
    json_decref(live);
    json_decref(base);
    json_decref(after);
    return rc;
}

int rg_engine__apply_versioned(rg_rollout_ctx *ctx, rg_store_target **tier, size_t n)
{
    rg_platform *pf = NULL;
    int rc;

    if (n == 0 || (rc = rg_engine__platform(&pf, ctx)) < 0)
        return n == 0 ? 0 : rc;
    /* one write at a time: each is read, snapshotted, PUT and read back on its own */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        versioned_item it = {ctx, tier[i], NULL};
        const json_t *rendered = rg_engine__target_body(ctx, tier[i]);
        if (rendered == NULL || (it.fields = json_deep_copy(rendered)) == NULL)
            return rg_error_set(RG_EDB, "target %s has no rendered fields", tier[i]->org_id);
        rc = apply_one(&it);
        json_decref(it.fields);
    }
    return rc;
}
