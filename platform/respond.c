/* respond.c - what each typed operation does with a final HTTP answer: validate, store the
 * result, or take its next step (next page, re-read after 412, PATCH after the merge) */
#include <string.h>

#include "platform/client.h"

#define MAX_PAGES 1000

/* "HTTP 400 invalid.value: weight outside 0..100" from an ErrorBody (or just the status). */
int rg_platform__error_body(rg_buf *out, long status, const json_t *body)
{
    json_t *code = json_object_get(body, "code");
    json_t *message = json_object_get(body, "message");

    if (rg_buf_printf(out, "HTTP %ld", status) < 0)
        return RG_ENOMEM;
    if (json_is_string(code) && rg_buf_printf(out, " %.80s", json_string_value(code)) < 0)
        return RG_ENOMEM;
    if (json_is_string(message) &&
        rg_buf_printf(out, ": %.200s", json_string_value(message)) < 0)
        return RG_ENOMEM;
    return 0;
}

static int status_code(long status)
{
    switch (status) {
    case 400: case 422: case 428: return RG_EINVALID;
    case 401: case 403: return RG_EAUTH;
    case 404: return RG_ENOTFOUND;
    case 409: case 412: return RG_ECONFLICT;
    case 429: return RG_ELIMIT;
    default: return RG_EPLATFORM;
    }
}

static void fail_status(rg_platform_op *op, long status, const json_t *body)
{
    rg_buf why = RG_BUF_INIT;

    rg_platform__error_body(&why, status, body);
    rg_platform__op_fail(op, status_code(status), "org %s: %s: %s", op->org_id, op->call,
                         rg_buf_cstr(&why));
    rg_buf_dispose(&why);
}

static void succeed(rg_platform_op *op, json_t *body)
{
    json_decref(op->body);
    op->body = json_incref(body);
    rg_platform__op_complete(op);
}

static void handle_org_check(rg_platform_op *op, json_t *body)
{
    json_t *id = json_object_get(body, "id");

    if (!json_is_object(body) || !json_is_string(id)) {
        rg_platform__op_fail(op, RG_EPLATFORM, "org %s: %s: response has no organization id",
                             op->org_id, op->call);
        return;
    }
    if (strcmp(json_string_value(id), op->org_id) != 0) {
        rg_platform__op_fail(op, RG_ECONFLICT, "org %s: %s: the credentials reach "
                             "organization %.128s, not %s", op->org_id, op->call,
                             json_string_value(id), op->org_id);
        return;
    }
    succeed(op, body);
}

static void handle_list(rg_platform_op *op, json_t *body)
{
    json_t *entities = json_object_get(body, "entities");
    json_t *total = json_object_get(body, "total");
    rg_buf path = RG_BUF_INIT;
    size_t have;

    if (!json_is_array(entities) || (total != NULL && !json_is_integer(total))) {
        rg_platform__op_fail(op, RG_EPLATFORM, "org %s: %s: page %d has no entities array",
                             op->org_id, op->call, op->page);
        return;
    }
    if (op->entities == NULL && (op->entities = json_array()) == NULL) {
        rg_platform__op_fail(op, RG_ENOMEM, "org %s: %s: out of memory", op->org_id, op->call);
        return;
    }
    json_array_extend(op->entities, entities);
    have = json_array_size(op->entities);
    if (json_array_size(entities) > 0 && total != NULL &&
        (json_int_t)have < json_integer_value(total) && op->page < MAX_PAGES) {
        op->page++;
        if (rg_buf_printf(&path, "%s?pageSize=100&pageNumber=%d",
                          op->platform->strategies_path, op->page) < 0 ||
            rg_platform__op_set_request(op, "GET", op->org->api_url, rg_buf_cstr(&path),
                                        NULL) < 0)
            rg_platform__op_fail(op, RG_ENOMEM, "org %s: %s: out of memory", op->org_id,
                                 op->call);
        else
            rg_platform__op_requeue(op, 0);
        rg_buf_dispose(&path);
        return;
    }
    json_decref(op->body);
    op->body = json_pack("{s:O, s:I}", "entities", op->entities, "total", (json_int_t)have);
    rg_platform__op_complete(op);
}

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

static void handle_strategy_get(rg_platform_op *op, json_t *body)
{
    if (!json_is_object(body) || !json_is_string(json_object_get(body, "id"))) {
        rg_platform__op_fail(op, RG_EPLATFORM, "org %s: %s: response is not a strategy",
                             op->org_id, op->call);
        return;
    }
    if (take_etag(op, &op->result_etag) < 0)
        return;
    succeed(op, body);
}

/* 1 when every field of `patch` already holds that value in `live` ({} holds trivially). */
static int patch_holds(const json_t *live, const json_t *patch)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)patch, key, value)
        if (!rg_body_same(json_object_get(live, key), value))
            return 0;
    return 1;
}

/* The live body already is what the update wants: done, with no PATCH (again). */
static void update_in_place(rg_platform_op *op, json_t *live)
{
    rg_log(RG_LOG_DEBUG, RG_PLATFORM_COMPONENT, "org %s: %s: the live strategy already holds "
           "the change; nothing to write", op->org_id, op->call);
    free(op->result_etag);
    op->result_etag = rg_strdup(op->etag);
    op->in_place = 1;
    succeed(op, live);
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
            rg_platform__op_fail(op, RG_ECONFLICT, "org %s: %s: the strategy changed under "
                                 "the update (ETag now %s) and no merge was given", op->org_id,
                                 op->call, op->etag);
        }
        return;
    }
    rg_error_clear();
    error = op->merge(&patch, live, op->etag, op->merge_payload);
    if (error < 0 || !json_is_object(patch)) {
        rg_platform__op_fail(op, error < 0 ? error : RG_EINVALID,
                             "org %s: %s: merge on the live body failed: %s", op->org_id,
                             op->call, error < 0 ? rg_error_last() : "no object returned");
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

void rg_platform__update_unknown(rg_platform_op *op, const char *why, int transport,
                                 int64_t now)
{
    rg_platform *p = op->platform;

    op->unknown_outcomes++;
    if (op->unknown_outcomes > p->opts.max_retries) {
        rg_platform__op_fail(op, transport ? RG_EUNREACHABLE : RG_EPLATFORM,
                             "org %s: %s: %s%s (outcome unknown, gave up after %d attempts)",
                             op->org_id, op->call, transport ? "platform unreachable: " : "",
                             why, op->unknown_outcomes);
        return;
    }
    p->stats.retries++;
    rg_log(RG_LOG_DEBUG, RG_PLATFORM_COMPONENT, "org %s: %s: %s: outcome unknown, re-reading "
           "before any retry", op->org_id, op->call, why);
    op->reread_unknown = 1;
    update_reread(op, now + rg_platform__backoff(p, op->unknown_outcomes));
}

static void handle_update(rg_platform_op *op, long status, json_t *body)
{
    if (op->update_step == 0) {
        if (status != 200)
            fail_status(op, status, body);
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
            succeed(op, body);
        return;
    }
    if (status != 412) {
        fail_status(op, status, body);
        return;
    }
    if (op->patch_attempts >= op->platform->opts.max_412_attempts) {
        rg_platform__op_fail(op, RG_ECONFLICT, "org %s: %s: still 412 after %d attempts: the "
                             "strategy keeps changing", op->org_id, op->call,
                             op->patch_attempts);
        return;
    }
    /* Every 412 re-reads: the change may already be in place (an earlier PATCH of ours whose
     * reply was lost), and only then is it known whether anything is left to write. */
    rg_log(RG_LOG_DEBUG, RG_PLATFORM_COMPONENT, "org %s: %s: 412, re-reading", op->org_id,
           op->call);
    update_reread(op, 0);
}

static void handle_analytics(rg_platform_op *op, json_t *body)
{
    int error;

    if (op->kind == RG_OP_AGGREGATES)
        error = rg_platform__aggregates_parse(&op->aggregates, op, body);
    else
        error = rg_platform__observations_parse(&op->observations, op, body);
    if (error < 0) {
        rg_platform__op_fail(op, error, "org %s: %s: malformed response: %s", op->org_id,
                             op->call, rg_error_last());
        return;
    }
    /* The parsed series is all a caller reads; the JSON tree (~300 KB per org for an hour
     * of one-minute buckets) is not kept, or a poll of 10,000 orgs would hold gigabytes. */
    rg_platform__op_complete(op);
}

void rg_platform__op_handle(rg_platform_op *op, long status, json_t *body)
{
    if (op->kind == RG_OP_TOKEN) {
        rg_platform__token_handle(op, status, body);
        return;
    }
    if (op->kind == RG_OP_STRATEGY_UPDATE) {
        handle_update(op, status, body);
        return;
    }
    if (status < 200 || status > 299) {
        fail_status(op, status, body);
        return;
    }
    switch (op->kind) {
    case RG_OP_ORG_CHECK: handle_org_check(op, body); break;
    case RG_OP_QUEUE_GET:
        if (!json_is_object(body) || !json_is_string(json_object_get(body, "id")))
            rg_platform__op_fail(op, RG_EPLATFORM, "org %s: %s: response is not a queue",
                                 op->org_id, op->call);
        else
            succeed(op, body);
        break;
    case RG_OP_STRATEGY_LIST: handle_list(op, body); break;
    case RG_OP_STRATEGY_GET: handle_strategy_get(op, body); break;
    case RG_OP_AGGREGATES:
    case RG_OP_OBSERVATIONS: handle_analytics(op, body); break;
    case RG_OP_DATATABLE_GET:
    case RG_OP_ROW_GET:
    case RG_OP_ROW_PUT: rg_platform__datatable_handle(op, body); break;
    default:
        rg_platform__op_fail(op, RG_EINVALID, "org %s: %s: unknown operation", op->org_id,
                             op->call);
    }
}
