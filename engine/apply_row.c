/* apply_row.c - applying a stage to Architect data-table rows: per target GET the full row
 * -> snapshot committed -> the verified write (re-read, compare, PUT, read back) -> applied
 * content version recorded. Rows have no ETag: a person's edit between the read and the write
 * is merged like a 412 (other fields kept, the changed fields held), a writer right after the
 * PUT holds the rollout (docs/genesys.md) */
#include <stdlib.h>
#include <string.h>

#include "engine/batch.h"
#include "engine/engine_private.h"
#include "rollgate/body.h"
#include "rollgate/util.h"

/* The platform's read-back failure ("written by someone else right after rollgate's PUT"),
 * as opposed to a row that changed before the PUT (which is merged and written again). */
#define WRITTEN_AFTER_MARK "right after rollgate's PUT"
#define MERGE_ATTEMPTS 3

typedef struct {
    rg_engine_batch_item b; /* fields: the rendered template with capacity weights computed */
    json_t *base;           /* the row the change was planned on: the snapshot */
    json_t *live;           /* the row read, to write over (borrowed from get) */
    rg_platform_op *get;
    rg_platform_op *obs;
} row_item;

static int row_failed(row_item *it, const char *what, const char *why, int permanent)
{
    return rg_engine__target_failed(it->b.ctx, it->b.target, what, why, permanent);
}

/* The weight columns with `capacity` as a share of what fixed weights leave of 100, in
 * proportion to agents on the queue each one's queue column names. */
static int fill_capacity(row_item *it)
{
    json_t *weights = it->b.ctx->manifest->resource.weights, *q;
    const rg_platform_observation *obs = NULL;
    double agents[RG_MANIFEST_MAX_ROW_FIELDS];
    int shares[RG_MANIFEST_MAX_ROW_FIELDS], fixed = 0, rc;
    const char *wcol;
    size_t nobs = 0, ncap = 0;

    if (it->obs)
        obs = rg_platform_op_observations(it->obs, &nobs);
    json_object_foreach(weights, wcol, q)
    {
        json_t *w = json_object_get(it->b.fields, wcol);
        const char *queue = json_string_value(json_object_get(it->b.fields, json_string_value(q)));
        if (json_is_integer(w)) {
            fixed += (int)json_integer_value(w);
            continue;
        }
        if (ncap >= RG_MANIFEST_MAX_ROW_FIELDS)
            break;
        agents[ncap] = 0;
        for (size_t k = 0; k < nobs; k++)
            if (queue && strcmp(obs[k].queue_id, queue) == 0)
                agents[ncap] = (double)obs[k].on_queue;
        ncap++;
    }
    if (ncap == 0)
        return 0;
    if (fixed > 100)
        return rg_error_set(RG_EINVALID,
                            "fixed weights sum to %d, leaving nothing for "
                            "capacity weights",
                            fixed);
    if ((rc = rg_body_capacity_weights(shares, agents, ncap, 100 - fixed)) < 0)
        return rc;
    ncap = 0;
    json_object_foreach(weights, wcol, q) if (!json_is_integer(json_object_get(it->b.fields, wcol)))
        json_object_set_new(it->b.fields, wcol, json_integer(shares[ncap++]));
    return 0;
}

/* A retried target keeps the capacity weights it computed when it was snapshotted (recorded
 * in applied_body), so agents that moved since do not make its own earlier PUT look like a
 * person's edit, and a PUT that went through is found in place. */
static void keep_planned_capacity(row_item *it)
{
    const json_t *rendered = rg_engine__target_body(it->b.ctx, it->b.target);
    json_t *planned = NULL, *q;
    const char *wcol;

    if (it->b.target->applied_body != NULL)
        planned = json_loads(it->b.target->applied_body, 0, NULL);

    json_object_foreach(it->b.ctx->manifest->resource.weights, wcol, q)
    {
        json_t *w = json_object_get(planned, wcol);
        if (json_is_string(json_object_get(rendered, wcol)) && json_is_integer(w))
            json_object_set(it->b.fields, wcol, w);
    }
    json_decref(planned);
}

/* The row to write: the live row (a person's edits to other fields kept) with the change's
 * fields and the key. A changed field a person set since the snapshot to a value that is
 * neither the snapshot's nor the change's is a conflict: *out_field names it, nothing is
 * merged. */
static int merge_row(json_t **out, const char **out_field, const row_item *it, json_t *live)
{
    const char *name;
    json_t *v, *row;

    *out_field = NULL;
    json_object_foreach(it->b.fields, name, v)
    {
        json_t *now = json_object_get(live, name), *was = json_object_get(it->base, name);
        if (!json_equal(now, was) && !json_equal(now, v)) {
            *out_field = name;
            return 0;
        }
    }
    if ((row = json_deep_copy(live)) == NULL || json_object_update(row, it->b.fields) < 0 ||
        json_object_set_new(row, "key", json_string(it->b.ctx->manifest->resource.row)) < 0) {
        json_decref(row);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    *out = row;
    return 0;
}

/* A row that did not exist (create: true) is snapshotted as {} with version "absent": a row
 * always has its key, so a snapshot without one means "absent", and the rollback deletes it. */
#define ABSENT_VERSION "absent"

/* Snapshot (the full row, or {} for an absent one) and target state in one synchronous=FULL
 * transaction. */
static int record_snapshot(row_item *it, json_t *live)
{
    rg_store_target *t = it->b.target;
    json_t *intended = NULL;
    const char *field = NULL;
    char version[65];
    int rc;

    if (json_object_get(live, "key") == NULL)
        snprintf(version, sizeof(version), "%s", ABSENT_VERSION);
    else if ((rc = rg_platform_row_version(version, live)) < 0)
        return rc;
    if (json_object_get(live, "key") == NULL) {
        /* absent: the row to create is the change's fields and the key */
        if ((intended = json_deep_copy(it->b.fields)) == NULL ||
            json_object_set_new(intended, "key", json_string(it->b.ctx->manifest->resource.row)) <
                0) {
            json_decref(intended);
            return rg_error_set(RG_ENOMEM, "out of memory");
        }
    } else if ((rc = merge_row(&intended, &field, it, live)) < 0) {
        return rc;
    }
    if (intended == NULL)
        return rg_error_set(RG_EINVALID, "org %s: the snapshot conflicts with itself", t->org_id);
    /* the content version where an ETag would be: rows have none */
    rc = rg_engine__target_snapshot(it->b.ctx, t, version, live, intended);
    json_decref(intended);
    return rc;
}

/* how: 1 = the PUT was read back as written, 0 = in place before any PUT, -1 = a re-read
 * after a PUT whose reply was lost found it in place (no second PUT). */
static int record_applied(row_item *it, json_t *row, int how)
{
    char version[65], what[600];
    int rc;

    if ((rc = rg_platform_row_version(version, row)) < 0)
        return rc;
    snprintf(what, sizeof(what), "row %s applied", it->b.target->strategy_id);
    return rg_engine__target_applied(it->b.ctx, it->b.target, row, version, what, how);
}

/* A missing row under create: true: snapshot "absent" (once), then POST the template plus the
 * key and read it back. A row found in its place by a retried target is no longer missing:
 * after_get merges it like any row (the snapshot {} makes every field someone else's unless it
 * holds the change's value). */
static int create_row(row_item *it)
{
    rg_rollout_ctx *ctx = it->b.ctx;
    rg_store_target *t = it->b.target;
    const rg_manifest_resource *r = &ctx->manifest->resource;
    json_t *absent = json_object(), *row = NULL, *after = NULL;
    int rc;

    if (absent == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if ((rc = fill_capacity(it)) < 0) {
        rc = row_failed(it, "capacity weights", rg_error_last(), 1);
        goto done;
    }
    if (t->state == RG_TARGET_SNAPSHOTTED) {
        json_t *snap = rg_engine__target_stored_snapshot(it->b.ctx, it->b.target);
        int was_absent = snap != NULL && json_object_get(snap, "key") == NULL;
        json_decref(snap);
        if (!was_absent) {
            rc = row_failed(it, "read row",
                            "the row was deleted by someone else after rollgate's snapshot", 1);
            goto done;
        }
        keep_planned_capacity(it);
    } else if ((rc = record_snapshot(it, absent)) < 0) {
        goto done;
    }
    rg_engine__crash_point("after_snapshot");
    if ((row = json_deep_copy(it->b.fields)) == NULL ||
        json_object_set_new(row, "key", json_string(r->row)) < 0) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = rg_engine__lease_renew(ctx)) < 0)
        goto done;
    rc = rg_platform_row_create(&after, ctx->platform, t->org_id, r->datatable, r->row, row);
    if (rc == 0) {
        rg_engine__crash_point("after_patch");
        rc = record_applied(it, after, 1);
    } else if (rc != RG_EDB && rc != RG_ELEASE) {
        rc = row_failed(it, "create row", rg_error_last(), rc == RG_ECONFLICT || rc == RG_EINVALID);
    }
done:
    json_decref(absent);
    json_decref(row);
    json_decref(after);
    return rc;
}

/* After the GETs: snapshot pending targets; it->live the row to write over (borrowed), when
 * there is a write to make. */
static int after_get(void *item)
{
    row_item *it = item;
    rg_store_target *t = it->b.target;
    const rg_manifest_resource *r = &it->b.ctx->manifest->resource;
    json_t *live, *intended = NULL;
    const char *field = NULL;
    int rc, in_place;

    if (it->get == NULL)
        return row_failed(it, "credentials", rg_engine__org_error(it->b.ctx, t->org_id), 0);
    if ((rc = rg_platform_op_status(it->get)) == RG_ENOTFOUND && r->create)
        return create_row(it);
    if (rc == RG_ENOTFOUND)
        return row_failed(it, "read row", rg_platform_op_error(it->get), 1);
    if (rc < 0)
        return row_failed(it, "read row", rg_platform_op_error(it->get), 0);
    if (it->obs && rg_platform_op_status(it->obs) < 0)
        return row_failed(it, "read agents on queue", rg_platform_op_error(it->obs), 0);
    if ((rc = fill_capacity(it)) < 0)
        return row_failed(it, "capacity weights", rg_error_last(), 1);
    if (t->state == RG_TARGET_SNAPSHOTTED)
        keep_planned_capacity(it);
    live = rg_platform_op_body(it->get);
    if (t->state == RG_TARGET_PENDING) {
        it->base = json_incref(live);
        if ((rc = record_snapshot(it, live)) < 0)
            return rc;
    } else if ((it->base = rg_engine__target_stored_snapshot(it->b.ctx, it->b.target)) == NULL) {
        return rg_error_set(RG_EDB, "target %s is snapshotted but its snapshot is unreadable",
                            t->org_id);
    }
    if ((rc = merge_row(&intended, &field, it, live)) < 0)
        return rc;
    in_place = intended != NULL && rg_platform_row_diff(live, intended) == NULL;
    json_decref(intended);
    if (in_place) /* nothing to write, or the PUT of a crashed run went through */
        return record_applied(it, live, 0);
    it->live = live;
    it->b.write = 1;
    return 0;
}

/* The verified write, merging again (at most MERGE_ATTEMPTS times) when the row changed
 * between the read and the PUT. */
static int write_row(void *item)
{
    row_item *it = item;
    json_t *live = it->live;
    rg_rollout_ctx *ctx = it->b.ctx;
    rg_store_target *t = it->b.target;
    const rg_manifest_resource *r = &ctx->manifest->resource;
    json_t *seen = json_incref(live), *intended = NULL, *after = NULL;
    char version[65], why[768];
    const char *field = NULL;
    int rc = 0, in_place = 0;

    for (int attempt = 0; attempt < MERGE_ATTEMPTS; attempt++) {
        if ((rc = merge_row(&intended, &field, it, seen)) < 0)
            goto done;
        if (field != NULL) {
            snprintf(why, sizeof(why),
                     "org %s: field '%s' of row %s/%s was changed by someone "
                     "else since rollgate read it; rollgate will not overwrite it",
                     t->org_id, field, r->datatable, r->row);
            rc = row_failed(it, "row conflict", why, 1);
            goto done;
        }
        if ((rc = rg_platform_row_version(version, seen)) < 0)
            goto done;
        /* the write is a platform batch of its own: the lease is renewed first */
        if ((rc = rg_engine__lease_renew(ctx)) < 0)
            goto done;
        rc = rg_platform_row_write(&after, &in_place, ctx->platform, t->org_id, r->datatable,
                                   r->row, version, intended);
        if (rc == 0) {
            rg_engine__crash_point("after_patch");
            rc = record_applied(it, after, in_place ? -1 : 1);
            goto done;
        }
        if (rc == RG_ECONFLICT && strstr(rg_error_last(), WRITTEN_AFTER_MARK) != NULL) {
            rc = row_failed(it, "row written by someone else", rg_error_last(), 1);
            goto done;
        }
        if (rc != RG_ECONFLICT || after == NULL) {
            rc = row_failed(it, "PUT row", rg_error_last(), rc == RG_EINVALID);
            goto done;
        }
        /* changed between the read and the PUT: merge on what is there now */
        rg_engine__narrate(ctx, "target", "%s row %s changed since it was read; merging", t->org_id,
                           t->strategy_id);
        json_decref(seen);
        seen = after;
        after = NULL;
        json_decref(intended);
        intended = NULL;
    }
    rc = row_failed(it, "row conflict",
                    "the row kept changing between rollgate's reads and "
                    "its writes",
                    0);
done:
    json_decref(seen);
    json_decref(intended);
    json_decref(after);
    return rc;
}

static int queue_reads(void *item, size_t n, rg_platform *pf)
{
    row_item *items = item;
    const rg_manifest_resource *r = &items[0].b.ctx->manifest->resource;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < n; i++) {
        row_item *it = &items[i];
        const char *ids[RG_MANIFEST_MAX_ROW_FIELDS];
        const char *wcol;
        json_t *q;
        size_t k = 0;
        if (rg_engine__org_error(it->b.ctx, it->b.target->org_id))
            continue; /* no credentials: after_get records why */
        rc = rg_platform_queue_row_get(&it->get, pf, it->b.target->org_id, r->datatable, r->row);
        json_object_foreach(r->weights, wcol, q)
        {
            const char *id = json_string_value(json_object_get(it->b.fields, json_string_value(q)));
            if (!json_is_integer(json_object_get(it->b.fields, wcol)) && id != NULL &&
                k < RG_MANIFEST_MAX_ROW_FIELDS)
                ids[k++] = id;
        }
        if (rc == 0 && k > 0)
            rc = rg_platform_queue_observations(&it->obs, pf, it->b.target->org_id, ids, k, NULL,
                                                NULL);
    }
    return rc;
}

static void row_dispose(void *item)
{
    row_item *it = item;
    json_decref(it->base);
    rg_platform_op_free(it->get);
    rg_platform_op_free(it->obs);
}

/* Every row (and agents on its weight columns' queues) read in one batch, then one verified
 * write at a time: each is read, PUT and read back on its own. */
static const rg_engine_batch_kind row_kind = {
    sizeof(row_item), "row", queue_reads, after_get, write_row, row_dispose,
};

int rg_engine__apply_rows(rg_rollout_ctx *ctx, rg_store_target **tier, size_t n)
{
    return rg_engine__apply_batch(ctx, tier, n, &row_kind);
}
