/* respond.c - what each typed operation does with a final HTTP answer: validate, store the
 * result, or take its next step (next page); a strategy's GET and update: strategy.c */
#include <string.h>

#include "platform/client.h"

#define MAX_PAGES 1000

/* "HTTP 400 invalid.value: weight outside 0..100" from an ErrorBody (or just the status). */
int rg_platform__error_body(rg_buf *out, long status, const json_t *body)
{
    json_t *code = json_object_get(body, "code");
    json_t *message = json_object_get(body, "message");

    if (rg_buf_printf(out, "HTTP %ld", status) < 0)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if (json_is_string(code) && rg_buf_printf(out, " %.80s", json_string_value(code)) < 0)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if (json_is_string(message) && rg_buf_printf(out, ": %.200s", json_string_value(message)) < 0)
        return rg_error_set(RG_ENOMEM, "out of memory");
    return 0;
}

static int status_code(long status)
{
    switch (status) {
    case 400:
    case 422:
    case 428: return RG_EINVALID;
    case 401:
    case 403: return RG_EAUTH;
    case 404: return RG_ENOTFOUND;
    case 409:
    case 412: return RG_ECONFLICT;
    case 429: return RG_ELIMIT;
    default: return RG_EPLATFORM;
    }
}

void rg_platform__fail_status(rg_platform_op *op, long status, const json_t *body)
{
    rg_buf why = RG_BUF_INIT;

    rg_platform__error_body(&why, status, body);
    rg_platform__op_fail(op, status_code(status), "org %s: %s: %s", op->org_id, op->call,
                         rg_buf_cstr(&why));
    rg_buf_dispose(&why);
}

void rg_platform__succeed(rg_platform_op *op, json_t *body)
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
        rg_platform__op_fail(op, RG_ECONFLICT,
                             "org %s: %s: the credentials reach "
                             "organization %.128s, not %s",
                             op->org_id, op->call, json_string_value(id), op->org_id);
        return;
    }
    rg_platform__succeed(op, body);
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
        if (rg_buf_printf(&path, "%s?pageSize=100&pageNumber=%d", op->platform->strategies_path,
                          op->page) < 0 ||
            rg_platform__op_set_request(op, "GET", op->org->api_url, rg_buf_cstr(&path), NULL) < 0)
            rg_platform__op_fail(op, RG_ENOMEM, "org %s: %s: out of memory", op->org_id, op->call);
        else
            rg_platform__op_requeue(op, 0);
        rg_buf_dispose(&path);
        return;
    }
    json_decref(op->body);
    op->body = json_pack("{s:O, s:I}", "entities", op->entities, "total", (json_int_t)have);
    rg_platform__op_complete(op);
}

static void handle_analytics(rg_platform_op *op, json_t *body)
{
    char *next = NULL;
    int error, more = 0;

    if ((error = rg_platform__analytics_take(&more, op, body)) < 0) {
        rg_platform__op_fail(op, error, "org %s: %s: malformed response: %s", op->org_id, op->call,
                             rg_error_last());
        return;
    }
    if (more) {
        /* the next batch of queues: same call, its own attempt budget */
        if (rg_platform__analytics_body(&next, op) < 0 ||
            rg_platform__op_set_request(op, "POST", op->org->api_url,
                                        op->kind == RG_OP_AGGREGATES
                                            ? "/api/v2/analytics/conversations/aggregates/query"
                                            : "/api/v2/analytics/queues/observations/query",
                                        next) < 0) {
            free(next);
            rg_platform__op_fail(op, RG_ENOMEM, "org %s: %s: out of memory", op->org_id, op->call);
            return;
        }
        rg_platform__op_requeue(op, 0);
        return;
    }
    /* The parsed series is all a caller reads; the JSON tree (~300 KB per org for an hour
     * of one-minute buckets) is not kept, or a poll of 10,000 orgs would hold gigabytes. */
    rg_platform__op_complete(op);
}

void rg_platform__op_handle(rg_platform_op *op, long status, json_t *body)
{
    if (op->org->cxone && op->kind != RG_OP_TOKEN) {
        rg_platform__cxone_handle(op, status, body);
        return;
    }
    if (op->kind == RG_OP_TOKEN) {
        rg_platform__token_handle(op, status, body);
        return;
    }
    if (op->kind == RG_OP_STRATEGY_UPDATE) {
        rg_platform__update_handle(op, status, body);
        return;
    }
    if (op->kind == RG_OP_VERSIONED_GET || op->kind == RG_OP_VERSIONED_PUT) {
        rg_platform__versioned_handle(op, status, body);
        return;
    }
    if (status < 200 || status > 299) {
        rg_platform__fail_status(op, status, body);
        return;
    }
    switch (op->kind) {
    case RG_OP_ORG_CHECK: handle_org_check(op, body); break;
    case RG_OP_QUEUE_GET:
        if (!json_is_object(body) || !json_is_string(json_object_get(body, "id")))
            rg_platform__op_fail(op, RG_EPLATFORM, "org %s: %s: response is not a queue",
                                 op->org_id, op->call);
        else
            rg_platform__succeed(op, body);
        break;
    case RG_OP_STRATEGY_LIST: handle_list(op, body); break;
    case RG_OP_STRATEGY_GET: rg_platform__strategy_got(op, body); break;
    case RG_OP_AGGREGATES:
    case RG_OP_OBSERVATIONS: handle_analytics(op, body); break;
    case RG_OP_DATATABLE_GET:
    case RG_OP_ROW_GET:
    case RG_OP_ROW_PUT:
    case RG_OP_ROW_CREATE: rg_platform__datatable_handle(op, body); break;
    case RG_OP_ROW_DELETE: rg_platform__succeed(op, NULL); break;
    default:
        rg_platform__op_fail(op, RG_EINVALID, "org %s: %s: unknown operation", op->org_id,
                             op->call);
    }
}
