/* apply_versioned.c - applying a stage to resources with a `version` field (IVR configs,
 * schedule groups, emergency groups): per target GET the full body -> snapshot committed ->
 * the versioned write carrying the version of that very read (a stale version is re-read and
 * merged, never overwritten; a person's edit to a changed field holds) -> applied version
 * recorded. docs/manifest.md, docs/platform-api.md */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/batch.h"
#include "engine/engine_private.h"
#include "rollgate/util.h"

typedef rg_engine_batch_item versioned_item; /* fields: the top-level fields to set */

static int versioned_failed(versioned_item *it, const char *what, const char *why, int permanent)
{
    return rg_engine__target_failed(it->ctx, it->target, what, why, permanent);
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

/* Snapshot (the full body, its version in place of an ETag: it has none) and target state in
 * one synchronous=FULL transaction. */
static int record_snapshot(versioned_item *it, json_t *live)
{
    char version[32];

    version_text(version, sizeof(version), live);
    return rg_engine__target_snapshot(it->ctx, it->target, version, live, it->fields);
}

/* how: 1 = PUT and read back, 0 = in place before any PUT, -1 = a re-read after a PUT whose
 * outcome was unknown found it in place (no second PUT). */
static int record_applied(versioned_item *it, const json_t *live, int how)
{
    char version[32], what[600];

    version_text(version, sizeof(version), live);
    snprintf(what, sizeof(what), "%s applied at version %s", it->target->strategy_id, version);
    return rg_engine__target_applied(it->ctx, it->target, it->fields, version, what, how);
}

/* One target: read, snapshot when pending, then the versioned write from that read. */
static int apply_one(void *item)
{
    versioned_item *it = item;
    rg_rollout_ctx *ctx = it->ctx;
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
    } else if ((base = rg_engine__target_stored_snapshot(ctx, t)) == NULL) {
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
    if ((rc = rg_engine__lease_renew(ctx)) < 0)
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

/* One write at a time: each is read, snapshotted, PUT and read back on its own. */
static const rg_engine_batch_kind versioned_kind = {
    sizeof(versioned_item), "fields", NULL, NULL, apply_one, NULL,
};

int rg_engine__apply_versioned(rg_rollout_ctx *ctx, rg_store_target **tier, size_t n)
{
    return rg_engine__apply_batch(ctx, tier, n, &versioned_kind);
}
