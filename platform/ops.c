/* ops.c - typed platform operations: making, queueing, completing and reading them */
#include <stdarg.h>
#include <string.h>

#include "platform/client.h"

#define PATH_ORG_ME "/api/v2/organizations/me"
#define PATH_QUEUES "/api/v2/routing/queues/"
#define PATH_AGGREGATES "/api/v2/analytics/conversations/aggregates/query"
#define PATH_OBSERVATIONS "/api/v2/analytics/queues/observations/query"
#define MAX_BUCKETS 100000
#define MAX_QUEUES 1000

int rg_platform__op_new(rg_platform_op **out, rg_platform *p, rg_op_kind kind, const char *org_id,
                        const char *resource_id, const char *call)
{
    rg_platform_op *op;
    rg_org *org;

    if (out == NULL || p == NULL)
        return rg_error_set(RG_EINVALID, "platform: out and client are required");
    if ((org = rg_platform__org(p, org_id)) == NULL)
        return rg_error_set(RG_ENOTFOUND, "org %s: not registered with the platform client",
                            org_id != NULL ? org_id : "(null)");
    if (resource_id != NULL && *resource_id == '\0')
        return rg_error_set(RG_EINVALID, "org %s: %s: empty id", org_id, call);
    if ((op = calloc(1, sizeof(*op))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    op->platform = p;
    op->kind = kind;
    op->state = RG_OPS_NEW;
    op->org = org;
    op->needs_token = 1;
    rg_buf_init(&op->response);
    rg_platform__headers_reset(&op->hdr);
    if ((op->org_id = rg_strdup(org_id)) == NULL ||
        (resource_id != NULL && (op->resource_id = rg_strdup(resource_id)) == NULL) ||
        (op->call = rg_strdup(call)) == NULL) {
        rg_platform_op_free(op);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    *out = op;
    return 0;
}

int rg_platform__op_set_request(rg_platform_op *op, const char *method, const char *url_base,
                                const char *path, char *body)
{
    rg_buf url = RG_BUF_INIT;

    if (rg_buf_puts(&url, url_base) < 0 || rg_buf_puts(&url, path) < 0) {
        rg_buf_dispose(&url);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    free(op->url);
    free(op->req_body);
    op->url = rg_buf_detach(&url);
    op->method = method;
    op->req_body = body;
    op->transient_failures = 0;
    op->retried_401 = 0;
    return op->url != NULL ? 0 : rg_error_set(RG_ENOMEM, "out of memory");
}

static void pending_unlink(rg_platform_op *op)
{
    rg_platform *p = op->platform;

    if (op->prev != NULL)
        op->prev->next = op->next;
    else
        p->pending_head = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    else
        p->pending_tail = op->prev;
    op->next = op->prev = NULL;
    p->pending--;
}

void rg_platform__op_enqueue(rg_platform_op *op)
{
    rg_platform *p = op->platform;

    op->state = RG_OPS_QUEUED;
    op->ready_at = 0;
    if (op->internal || p->running) {
        /* Token fetches jump the queue: everything else of that org waits on them. So does
         * an op queued from a done callback: it carries on work begun (a restore's PATCH
         * right after its GET), which finishes before new work starts. */
        op->next = p->pending_head;
        if (p->pending_head != NULL)
            p->pending_head->prev = op;
        else
            p->pending_tail = op;
        p->pending_head = op;
    } else {
        op->prev = p->pending_tail;
        if (p->pending_tail != NULL)
            p->pending_tail->next = op;
        else
            p->pending_head = op;
        p->pending_tail = op;
    }
    p->pending++;
}

void rg_platform__op_requeue(rg_platform_op *op, int64_t ready_at)
{
    op->state = RG_OPS_QUEUED;
    op->ready_at = ready_at;
}

void rg_platform__transfer_release(rg_platform_op *op)
{
    struct curl_slist *h;

    if (op->easy != NULL) {
        if (op->platform != NULL) {
            curl_multi_remove_handle(op->platform->multi, op->easy);
            op->platform->in_flight--;
            op->org->in_flight--;
        }
        curl_easy_cleanup(op->easy);
        op->easy = NULL;
    }
    /* The list holds the bearer token: wipe it before it goes back to the allocator. */
    for (h = op->headers; h != NULL; h = h->next)
        explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(op->headers);
    op->headers = NULL;
    if (op->response.ptr != NULL)
        explicit_bzero(op->response.ptr, op->response.len);
    rg_buf_dispose(&op->response);
}

void rg_platform__op_complete(rg_platform_op *op)
{
    rg_platform_done_fn done = op->done;

    rg_platform__transfer_release(op);
    if (op->platform != NULL && op->state != RG_OPS_NEW)
        pending_unlink(op);
    op->state = RG_OPS_DONE;
    if (op->kind == RG_OP_TOKEN) {
        rg_platform__token_done(op);
        if (op->internal) {
            op->platform = NULL;
            rg_platform_op_free(op);
        }
        return;
    }
    if (done != NULL)
        done(op, op->done_payload);
}

int rg_platform__op_fail(rg_platform_op *op, int code, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    free(op->error);
    op->error = rg_strdup(line);
    op->status = code;
    rg_log(RG_LOG_DEBUG, RG_PLATFORM_COMPONENT, "failed: %s", line);
    rg_platform__op_complete(op);
    return code;
}

/* Escapes an id for a path segment. Caller frees with curl_free. */
static char *escape_id(const char *id)
{
    return curl_easy_escape(NULL, id, 0);
}

static int queue_simple(rg_platform_op **out, rg_platform *p, rg_op_kind kind, const char *org_id,
                        const char *id, const char *call_name, const char *path_prefix,
                        const char *path_suffix, rg_platform_done_fn done, void *payload)
{
    rg_platform_op *op = NULL;
    rg_buf call = RG_BUF_INIT, path = RG_BUF_INIT;
    char *escaped = NULL;
    int error;

    if (id != NULL && (id[0] == '\0' || strlen(id) > 256))
        return rg_error_set(RG_EINVALID, "org %s: %s: id empty or too long", org_id, call_name);
    if (p != NULL && rg_platform__org(p, org_id) != NULL && rg_platform__org(p, org_id)->cxone) {
        if ((error = rg_platform__cxone_queue(out, p, kind, org_id, id, NULL, call_name)) == 0) {
            (*out)->done = done;
            (*out)->done_payload = payload;
        }
        return error;
    }
    /* curl resolves dot segments: /strategies/.. would reach /routing/ instead. */
    if (id != NULL && (strcmp(id, ".") == 0 || strcmp(id, "..") == 0))
        return rg_error_set(RG_EINVALID, "org %s: %s: '%s' is not an id", org_id, call_name, id);
    if (rg_buf_puts(&call, call_name) < 0 || (id != NULL && rg_buf_printf(&call, " %s", id) < 0)) {
        error = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((error = rg_platform__op_new(&op, p, kind, org_id, id, rg_buf_cstr(&call))) < 0)
        goto cleanup;
    if (id != NULL && (escaped = escape_id(id)) == NULL) {
        error = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (rg_buf_puts(&path, path_prefix) < 0 ||
        (escaped != NULL && rg_buf_puts(&path, escaped) < 0) ||
        (path_suffix != NULL && rg_buf_puts(&path, path_suffix) < 0) ||
        (error = rg_platform__op_set_request(op, "GET", op->org->api_url, rg_buf_cstr(&path),
                                             NULL)) < 0) {
        error = error < 0 ? error : rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    op->done = done;
    op->done_payload = payload;
    rg_platform__op_enqueue(op);
    *out = op;
    op = NULL;

cleanup:
    rg_platform_op_free(op);
    curl_free(escaped);
    rg_buf_dispose(&call);
    rg_buf_dispose(&path);
    return error;
}

int rg_platform_queue_org_check(rg_platform_op **out, rg_platform *p, const char *org_id,
                                rg_platform_done_fn done, void *payload)
{
    return queue_simple(out, p, RG_OP_ORG_CHECK, org_id, NULL, "GET organization", PATH_ORG_ME,
                        NULL, done, payload);
}

int rg_platform_queue_queue_get(rg_platform_op **out, rg_platform *p, const char *org_id,
                                const char *queue_id, rg_platform_done_fn done, void *payload)
{
    if (queue_id == NULL)
        return rg_error_set(RG_EINVALID, "org %s: GET queue: no queue id", org_id);
    return queue_simple(out, p, RG_OP_QUEUE_GET, org_id, queue_id, "GET queue", PATH_QUEUES, NULL,
                        done, payload);
}

int rg_platform_queue_strategy_list(rg_platform_op **out, rg_platform *p, const char *org_id,
                                    rg_platform_done_fn done, void *payload)
{
    int error;

    if (p == NULL)
        return rg_error_set(RG_EINVALID, "platform: client is NULL");
    if ((error = queue_simple(out, p, RG_OP_STRATEGY_LIST, org_id, NULL, "GET strategies",
                              p->strategies_path, "?pageSize=100&pageNumber=1", done, payload)) < 0)
        return error;
    (*out)->page = 1;
    return 0;
}

int rg_platform_queue_strategy_get(rg_platform_op **out, rg_platform *p, const char *org_id,
                                   const char *strategy_id, rg_platform_done_fn done, void *payload)
{
    rg_buf prefix = RG_BUF_INIT;
    int error;

    if (p == NULL || strategy_id == NULL)
        return rg_error_set(RG_EINVALID, "org %s: GET strategy: no strategy id", org_id);
    if (rg_buf_printf(&prefix, "%s/", p->strategies_path) < 0)
        return rg_error_set(RG_ENOMEM, "out of memory");
    error = queue_simple(out, p, RG_OP_STRATEGY_GET, org_id, strategy_id, "GET strategy",
                         rg_buf_cstr(&prefix), NULL, done, payload);
    rg_buf_dispose(&prefix);
    return error;
}

int rg_platform_queue_strategy_update(rg_platform_op **out, rg_platform *p, const char *org_id,
                                      const char *strategy_id, const char *etag, json_t *patch,
                                      rg_platform_merge_fn merge, void *merge_payload,
                                      rg_platform_done_fn done, void *payload)
{
    rg_platform_op *op = NULL;
    char *body = NULL;
    int error;

    if (patch == NULL && merge == NULL)
        return rg_error_set(RG_EINVALID,
                            "org %s: PATCH strategy %s: neither a body nor a "
                            "merge function",
                            org_id, strategy_id ? strategy_id : "(null)");
    if (patch != NULL && (etag == NULL || *etag == '\0'))
        return rg_error_set(RG_EINVALID,
                            "org %s: PATCH strategy %s: a body needs the ETag "
                            "it was computed from",
                            org_id, strategy_id ? strategy_id : "");
    if (patch != NULL && !json_is_object(patch))
        return rg_error_set(RG_EINVALID, "org %s: PATCH strategy %s: body is not an object", org_id,
                            strategy_id ? strategy_id : "");
    if ((error = rg_platform_queue_strategy_get(&op, p, org_id, strategy_id, done, payload)) < 0)
        return error;
    /* Until it is queued as an update the op must not run: take it back out. */
    pending_unlink(op);
    op->state = RG_OPS_NEW;
    op->kind = RG_OP_STRATEGY_UPDATE;
    op->merge = merge;
    op->merge_payload = merge_payload;
    free(op->call);
    op->call = NULL;
    if (rg_buf_printf(&op->response, "PATCH strategy %s", strategy_id) < 0 ||
        (op->call = rg_buf_detach(&op->response)) == NULL) {
        error = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (patch != NULL) {
        if ((body = json_dumps(patch, JSON_COMPACT)) == NULL ||
            (op->etag = rg_strdup(etag)) == NULL) {
            error = rg_error_set(RG_ENOMEM, "out of memory");
            goto cleanup;
        }
        free(op->req_body);
        op->req_body = body;
        body = NULL;
        op->method = "PATCH";
        op->update_step = 1;
        op->patch = json_incref(patch);
    }
    rg_platform__op_enqueue(op);
    *out = op;
    op = NULL;

cleanup:
    free(body);
    rg_platform_op_free(op);
    return error;
}

static int aggregates_query_check(const char *org_id, const rg_platform_aggregates_query *q)
{
    if (q == NULL || q->queue_ids == NULL || q->nqueues == 0 || q->nqueues > MAX_QUEUES)
        return rg_error_set(RG_EINVALID, "org %s: aggregates query: 1..%d queue ids required",
                            org_id, MAX_QUEUES);
    if (q->granularity_ms <= 0 || q->end_ms <= q->start_ms)
        return rg_error_set(RG_EINVALID,
                            "org %s: aggregates query: needs start < end and a "
                            "positive granularity",
                            org_id);
    if ((q->end_ms - q->start_ms) / q->granularity_ms > MAX_BUCKETS)
        return rg_error_set(RG_ELIMIT, "org %s: aggregates query: more than %d buckets", org_id,
                            MAX_BUCKETS);
    for (size_t i = 0; i < q->nqueues; i++)
        if (q->queue_ids[i] == NULL || q->queue_ids[i][0] == '\0')
            return rg_error_set(RG_EINVALID, "org %s: aggregates query: queue id %zu empty", org_id,
                                i);
    return 0;
}

static int copy_queue_ids(rg_platform_op *op, const char *const *ids, size_t n)
{
    if ((op->queue_ids = calloc(n, sizeof(char *))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    op->nqueues = n;
    for (size_t i = 0; i < n; i++)
        if ((op->queue_ids[i] = rg_strdup(ids[i])) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
    return 0;
}

static int queue_analytics(rg_platform_op **out, rg_platform *p, rg_op_kind kind,
                           const char *org_id, const char *const *ids, size_t n,
                           const rg_platform_aggregates_query *q, rg_platform_done_fn done,
                           void *payload)
{
    rg_platform_op *op = NULL;
    char *body = NULL;
    int agg = kind == RG_OP_AGGREGATES, error;

    if ((error = rg_platform__op_new(&op, p, kind, org_id, NULL,
                                     agg ? "POST aggregates query" : "POST observations query")) <
            0 ||
        (error = copy_queue_ids(op, ids, n)) < 0)
        goto cleanup;
    if (agg) {
        op->query = *q;
        op->query.queue_ids = (const char *const *)op->queue_ids;
    }
    /* the first batch of queues; the others follow as each answer comes (respond.c) */
    if (op->org->cxone) {
        if ((error = rg_platform__cxone_summary_start(op)) < 0)
            goto cleanup;
    } else if ((error = rg_platform__analytics_body(&body, op)) < 0 ||
               (error = rg_platform__op_set_request(op, "POST", op->org->api_url,
                                                    agg ? PATH_AGGREGATES : PATH_OBSERVATIONS,
                                                    body)) < 0)
        goto cleanup;
    body = NULL;
    op->done = done;
    op->done_payload = payload;
    rg_platform__op_enqueue(op);
    *out = op;
    op = NULL;

cleanup:
    free(body);
    rg_platform_op_free(op);
    return error;
}

int rg_platform_queue_aggregates(rg_platform_op **out, rg_platform *p, const char *org_id,
                                 const rg_platform_aggregates_query *query,
                                 rg_platform_done_fn done, void *payload)
{
    int error;

    if ((error = aggregates_query_check(org_id, query)) < 0)
        return error;
    return queue_analytics(out, p, RG_OP_AGGREGATES, org_id, query->queue_ids, query->nqueues,
                           query, done, payload);
}

int rg_platform_queue_observations(rg_platform_op **out, rg_platform *p, const char *org_id,
                                   const char *const *queue_ids, size_t nqueues,
                                   rg_platform_done_fn done, void *payload)
{
    if (queue_ids == NULL || nqueues == 0 || nqueues > MAX_QUEUES)
        return rg_error_set(RG_EINVALID,
                            "org %s: observations query: 1..%d queue ids "
                            "required",
                            org_id, MAX_QUEUES);
    for (size_t i = 0; i < nqueues; i++)
        if (queue_ids[i] == NULL || queue_ids[i][0] == '\0')
            return rg_error_set(RG_EINVALID,
                                "org %s: observations query: queue id %zu "
                                "empty",
                                org_id, i);
    return queue_analytics(out, p, RG_OP_OBSERVATIONS, org_id, queue_ids, nqueues, NULL, done,
                           payload);
}

int rg_platform_op_done(const rg_platform_op *op)
{
    return op != NULL && op->state == RG_OPS_DONE;
}

int rg_platform_op_status(const rg_platform_op *op)
{
    if (op == NULL)
        return RG_EINVALID;
    return op->state == RG_OPS_DONE ? op->status : RG_ETIMEOUT;
}

const char *rg_platform_op_error(const rg_platform_op *op)
{
    if (op == NULL)
        return "no op";
    if (op->state != RG_OPS_DONE)
        return "not completed: rg_platform_run has not finished it";
    return op->error != NULL ? op->error : "";
}

long rg_platform_op_http_status(const rg_platform_op *op)
{
    return op != NULL ? op->http_status : 0;
}

const char *rg_platform_op_org(const rg_platform_op *op)
{
    return op != NULL ? op->org_id : NULL;
}

json_t *rg_platform_op_body(const rg_platform_op *op)
{
    return op != NULL && op->state == RG_OPS_DONE && op->status == 0 ? op->body : NULL;
}

const char *rg_platform_op_etag(const rg_platform_op *op)
{
    return op != NULL && op->state == RG_OPS_DONE && op->status == 0 ? op->result_etag : NULL;
}

int rg_platform_op_patch_attempts(const rg_platform_op *op)
{
    return op != NULL ? op->patch_attempts : 0;
}

int rg_platform_op_in_place(const rg_platform_op *op)
{
    return op != NULL && op->state == RG_OPS_DONE && op->status == 0 && op->in_place;
}

int rg_platform_op_unreachable(const rg_platform_op *op)
{
    return op != NULL && op->state == RG_OPS_DONE && op->status == RG_EUNREACHABLE;
}

const rg_platform_aggregates *rg_platform_op_aggregates(const rg_platform_op *op)
{
    if (op == NULL || op->kind != RG_OP_AGGREGATES || op->state != RG_OPS_DONE || op->status != 0)
        return NULL;
    return &op->aggregates;
}

const rg_platform_observation *rg_platform_op_observations(const rg_platform_op *op, size_t *count)
{
    if (op == NULL || op->kind != RG_OP_OBSERVATIONS || op->state != RG_OPS_DONE ||
        op->status != 0 || op->observations == NULL) {
        if (count != NULL)
            *count = 0;
        return NULL;
    }
    if (count != NULL)
        *count = op->nqueues;
    return op->observations;
}

void rg_platform_op_free(rg_platform_op *op)
{
    if (op == NULL)
        return;
    if (op->platform != NULL && op->state != RG_OPS_DONE && op->state != RG_OPS_NEW) {
        /* Freed while queued: cancel it (never while in flight inside a run). */
        op->done = NULL;
        rg_platform__op_fail(op, RG_ECONFLICT, "cancelled");
    }
    rg_platform__transfer_release(op);
    rg_platform__headers_reset(&op->hdr);
    free(op->org_id);
    free(op->resource_id);
    free(op->call);
    free(op->url);
    if (op->kind == RG_OP_TOKEN && op->req_body != NULL) /* a CXone password grant */
        explicit_bzero(op->req_body, strlen(op->req_body));
    free(op->req_body);
    free(op->rel_path);
    rg_platform__wipe_free(op->cxone_token);
    json_decref(op->cxone_doc);
    free(op->etag);
    json_decref(op->patch);
    json_decref(op->entities);
    for (size_t i = 0; i < op->nqueues && op->queue_ids != NULL; i++)
        free(op->queue_ids[i]);
    free(op->queue_ids);
    free(op->error);
    json_decref(op->body);
    free(op->result_etag);
    rg_platform__aggregates_dispose(&op->aggregates);
    free(op->observations);
    free(op);
}
