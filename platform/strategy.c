/* strategy.c - a routing strategy's GET and its update: the ETag, the If-Match PATCH, the
 * 412 re-read, the caller's merge on the live body, and a PATCH of unknown outcome re-read
 * before any retry (so a change is never applied twice) */
#include <string.h>

#include "platform/client.h"

static int take_etag(rg_platform_op *op, char **slot)
{
    if (op->hdr.etag == NULL || op->hdr.etag[0] == '\0')
        return rg_platform__op_fail(op, RG_EPLATFORM, "org %s: %s: response has no ETag",
                                    op->org_id, op->call);
    free(*slot);
    *slot = op->hdr.etag;
    op->hdr.etag = NULL;
    return 0;
}

void rg_platform__strategy_got(rg_platform_op *op, json_t *body)
{
    if (!json_is_object(body) || !json_is_string(json_object_get(body, "id"))) {
        rg_platform__op_fail(op, RG_EPLATFORM, "org %s: %s: response is not a strategy", op->org_id,
                             op->call);
        return;
    }
    if (take_etag(op, &op->result_etag) < 0)
        return;
    rg_platform__succeed(op, body);
}

/* 1 when every field of `patch` already holds that value in `live` ({} holds trivially). */
static int patch_holds(const json_t *live, const json_t *patch)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)patch, key,
                        value) if (!rg_body_same(json_object_get(live, key), value)) return 0;
    return 1;
}

/* The live body already is what the update wants: done, with no PATCH (again). */
static void update_in_place(rg_platform_op *op, json_t *live)
{
    rg_log(RG_LOG_DEBUG, RG_PLATFORM_COMPONENT,
           "org %s: %s: the live strategy already holds "
           "the change; nothing to write",
           op->org_id, op->call);
    free(op->result_etag);
    op->result_etag = rg_strdup(op->etag);
    op->in_place = 1;
    rg_platform__succeed(op, live);
}

/* After a GET (first step, 412 re-read, or re-read after a PATCH of unknown outcome): the
 * body to write, from the caller's merge or the op's own patch. When the live body already
 * holds every field of it the op completes without writing; so a PATCH whose reply was lost
 * is never applied twice. */
static void update_merge(rg_platform_op *op, json_t *live)
{
    json_t *patch = NULL;
    char *text = NULL;
    int error, unchanged;

    if (!json_is_object(live)) {
        rg_platform__op_fail(op, RG_EPLATFORM, "org %s: %s: re-read returned no strategy",
                             op->org_id, op->call);
        return;
    }
    /* Without a merge the patch stands as given; it may be resent only when the strategy
     * is still at the ETag it was computed from (the lost PATCH did not land). */
    unchanged = op->etag != NULL && op->hdr.etag != NULL && strcmp(op->etag, op->hdr.etag) == 0;
    if (take_etag(op, &op->etag) < 0)
        return;
    if (op->merge == NULL) {
        if (patch_holds(live, op->patch)) {
            update_in_place(op, live);
        } else if (op->reread_unknown && unchanged) {
            op->reread_unknown = 0;
            op->method = "PATCH";
            op->update_step = 1;
            op->transient_failures = 0;
            op->retried_401 = 0;
            rg_platform__op_requeue(op, 0);
        } else {
            rg_platform__op_fail(op, RG_ECONFLICT,
                                 "org %s: %s: the strategy changed under "
                                 "the update (ETag now %s) and no merge was given",
                                 op->org_id, op->call, op->etag);
        }
        return;
    }
    rg_error_clear();
    error = op->merge(&patch, live, op->etag, op->merge_payload);
    if (error < 0 || !json_is_object(patch)) {
        rg_platform__op_fail(op, error < 0 ? error : RG_EINVALID,
                             "org %s: %s: merge on the live body failed: %s", op->org_id, op->call,
                             error < 0 ? rg_error_last() : "no object returned");
        json_decref(patch);
        return;
    }
    if (patch_holds(live, patch)) {
        json_decref(patch);
        update_in_place(op, live);
        return;
    }
    if ((text = json_dumps(patch, JSON_COMPACT)) == NULL) {
        json_decref(patch);
        rg_platform__op_fail(op, RG_ENOMEM, "org %s: %s: out of memory", op->org_id, op->call);
        return;
    }
    json_decref(op->patch);
    op->patch = patch;
    free(op->req_body);
    op->req_body = text;
    op->method = "PATCH";
    op->update_step = 1;
    op->reread_unknown = 0;
    op->transient_failures = 0;
    op->retried_401 = 0;
    rg_platform__op_requeue(op, 0);
}

/* Back to a GET of the strategy; update_merge decides what follows. */
static void update_reread(rg_platform_op *op, int64_t ready_at)
{
    op->method = "GET";
    op->update_step = 0;
    op->transient_failures = 0;
    op->retried_401 = 0;
    rg_platform__op_requeue(op, ready_at);
}

void rg_platform__update_unknown(rg_platform_op *op, const char *why, int transport, int64_t now)
{
    rg_platform *p = op->platform;

    op->unknown_outcomes++;
    if (op->unknown_outcomes > p->opts.max_retries) {
        rg_platform__op_fail(op, transport ? RG_EUNREACHABLE : RG_EPLATFORM,
                             "org %s: %s: %s%s (outcome unknown, gave up after %d attempts)",
                             op->org_id, op->call, transport ? "platform unreachable: " : "", why,
                             op->unknown_outcomes);
        return;
    }
    p->stats.retries++;
    rg_log(RG_LOG_DEBUG, RG_PLATFORM_COMPONENT,
           "org %s: %s: %s: outcome unknown, re-reading "
           "before any retry",
           op->org_id, op->call, why);
    op->reread_unknown = 1;
    update_reread(op, now + rg_platform__backoff(p, op->unknown_outcomes));
}

void rg_platform__update_handle(rg_platform_op *op, long status, json_t *body)
{
    if (op->update_step == 0) {
        if (status != 200)
            rg_platform__fail_status(op, status, body);
        else
            update_merge(op, body);
        return;
    }
    if (status == 200) {
        if (!json_is_object(body)) {
            rg_platform__op_fail(op, RG_EPLATFORM, "org %s: %s: response is not a strategy",
                                 op->org_id, op->call);
            return;
        }
        if (take_etag(op, &op->result_etag) == 0)
            rg_platform__succeed(op, body);
        return;
    }
    if (status != 412) {
        rg_platform__fail_status(op, status, body);
        return;
    }
    if (op->patch_attempts >= op->platform->opts.max_412_attempts) {
        rg_platform__op_fail(op, RG_ECONFLICT,
                             "org %s: %s: still 412 after %d attempts: the "
                             "strategy keeps changing",
                             op->org_id, op->call, op->patch_attempts);
        return;
    }
    /* Every 412 re-reads: the change may already be in place (an earlier PATCH of ours whose
     * reply was lost), and only then is it known whether anything is left to write. */
    rg_log(RG_LOG_DEBUG, RG_PLATFORM_COMPONENT, "org %s: %s: 412, re-reading", op->org_id,
           op->call);
    update_reread(op, 0);
}
