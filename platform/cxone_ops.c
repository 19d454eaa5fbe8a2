/* cxone_ops.c - the platform's operations for a NICE CXone brand: skills as queues, the
 * weight store (a JSON document in one field of a dedicated skill) as data-table rows, skill
 * summaries per bucket as analytics. The engine calls the same functions for both drivers. */
#include <stdlib.h>
#include <string.h>

#include "platform/client.h"

#define OBSERVE_WINDOW_MS (5LL * 60 * 1000)
#define MAX_STORE_TEXT 32768 /* a Studio script reads at most 32 KB of a REST answer */

static int fail_oom(rg_platform_op *op)
{
    return rg_platform__op_fail(op, RG_ENOMEM, "brand %s: %s: out of memory", op->org_id, op->call);
}

/* "/skills/<escaped id>[suffix]" */
static int skill_path(rg_buf *out, const char *skill, const char *suffix)
{
    char *e;

    if (skill == NULL || skill[0] == '\0' || strlen(skill) > 64 || strcmp(skill, ".") == 0 ||
        strcmp(skill, "..") == 0)
        return rg_error_set(RG_EINVALID, "a skill id must be 1..64 characters");
    if ((e = curl_easy_escape(NULL, skill, 0)) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if (rg_buf_printf(out, "/skills/%s%s", e, suffix ? suffix : "") < 0) {
        curl_free(e);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    curl_free(e);
    return 0;
}

/* A skill's PUT: the body the versioned write merged, without the "version" rollgate adds
 * to every CXone read (a skill has none). */
static int skill_put(rg_platform_op *op, const char *path, json_t *body)
{
    json_t *copy = json_deep_copy(body);
    char *text;

    if (!json_is_object(copy)) {
        json_decref(copy);
        return rg_error_set(RG_EINVALID, "brand %s: PUT skill: no body", op->org_id);
    }
    json_object_del(copy, "version");
    text = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    if (text == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    return rg_platform__cxone_request(op, "PUT", path, text);
}

int rg_platform__cxone_queue(rg_platform_op **out, rg_platform *p, rg_op_kind kind,
                             const char *org_id, const char *resource, json_t *doc,
                             const char *call)
{
    rg_platform_op *op = NULL;
    rg_buf path = RG_BUF_INIT, name = RG_BUF_INIT;
    const char *skill = json_string_value(json_object_get(doc, "skill"));
    rg_org *org = rg_platform__org(p, org_id);
    int error;

    /* a brand's own weight-store skill stands for the data table a mixed manifest names */
    if (org != NULL && org->cxone_store != NULL && skill != NULL &&
        (kind == RG_OP_DATATABLE_GET || kind == RG_OP_ROW_GET || kind == RG_OP_ROW_PUT)) {
        json_object_set_new(doc, "skill", json_string(org->cxone_store));
        skill = org->cxone_store;
    }

    switch (kind) {
    case RG_OP_ORG_CHECK: error = rg_buf_puts(&path, "/skills?top=1"); break;
    case RG_OP_QUEUE_GET: error = skill_path(&path, resource, NULL); break;
    case RG_OP_DATATABLE_GET:
    case RG_OP_ROW_GET:
    case RG_OP_ROW_PUT: error = skill_path(&path, skill, NULL); break;
    case RG_OP_VERSIONED_GET:
    case RG_OP_VERSIONED_PUT:
        /* skill settings: "/skills/<id>" as the manifest's versioned path */
        error = resource != NULL && strncmp(resource, "/skills/", 8) == 0 &&
                        strchr(resource + 8, '/') == NULL
                    ? skill_path(&path, resource + 8, NULL)
                    : rg_error_set(RG_EINVALID, "expected a skill path /skills/<id>");
        break;
    default:
        return rg_error_set(RG_EINVALID, "brand %s: %s is not an operation CXone brands offer",
                            org_id, call);
    }
    if (error < 0)
        return rg_error_prefix("brand %s: %s", org_id, call);
    if (kind == RG_OP_ROW_PUT && !json_is_object(json_object_get(doc, "intended"))) {
        rg_buf_dispose(&path);
        return rg_error_set(RG_EINVALID, "brand %s: %s: no row to write", org_id, call);
    }
    if (rg_buf_printf(&name, "%s%s%s", call, resource ? " " : "", resource ? resource : "") < 0 ||
        (error = rg_platform__op_new(&op, p, kind, org_id, resource, rg_buf_cstr(&name))) < 0 ||
        (error = kind == RG_OP_VERSIONED_PUT
                     ? skill_put(op, rg_buf_cstr(&path), doc)
                     : rg_platform__cxone_request(op, "GET", rg_buf_cstr(&path), NULL)) < 0) {
        error = error < 0 ? error : rg_error_set(RG_ENOMEM, "out of memory");
        rg_platform_op_free(op);
        goto cleanup;
    }
    if (kind != RG_OP_VERSIONED_PUT)
        op->cxone_doc = json_incref(doc);
    rg_platform__op_enqueue(op);
    *out = op;
cleanup:
    rg_buf_dispose(&path);
    rg_buf_dispose(&name);
    return error;
}

/* The skill in a GET /skills/{id} answer: the object itself, or the one element of
 * "skills" (both shapes are seen in third-party code). */
static json_t *skill_of(json_t *body)
{
    json_t *list = json_object_get(body, "skills");

    if (json_is_array(list))
        return json_array_size(list) == 1 && json_is_object(json_array_get(list, 0))
                   ? json_array_get(list, 0)
                   : NULL;
    return json_is_object(body) ? body : NULL;
}

/* skillId as written (an integer in the API, a string when quoted) equals `id`. */
static int skill_id_is(const json_t *v, const char *id)
{
    char text[32];

    if (json_is_string(v))
        return strcmp(json_string_value(v), id) == 0;
    if (!json_is_integer(v))
        return 0;
    snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
    return strcmp(text, id) == 0;
}

/* The weight store: the skill's field holds a JSON object {row key: {field: value}}; an
 * absent, null or empty field is an empty store. @param[out] out new reference. */
static int store_doc(json_t **out, rg_platform_op *op, json_t *skill, const char *skill_id)
{
    json_t *text = json_object_get(skill, op->org->cxone_field), *doc;
    const char *k;
    json_t *v;

    if (text == NULL || json_is_null(text) ||
        (json_is_string(text) && json_string_length(text) == 0)) {
        *out = json_object();
        return *out ? 0 : fail_oom(op);
    }
    if (!json_is_string(text) || json_string_length(text) > MAX_STORE_TEXT)
        return rg_platform__op_fail(op, RG_EPLATFORM,
                                    "brand %s: %s: weight store skill %s: field %s is not a "
                                    "string of at most %d bytes",
                                    op->org_id, op->call, skill_id, op->org->cxone_field,
                                    MAX_STORE_TEXT);
    doc =
        json_loadb(json_string_value(text), json_string_length(text), JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return rg_platform__op_fail(op, RG_EPLATFORM,
                                    "brand %s: %s: weight store skill %s: field %s is not a JSON "
                                    "object of rows",
                                    op->org_id, op->call, skill_id, op->org->cxone_field);
    }
    json_object_foreach(doc, k, v)
    {
        if (!json_is_object(v) || json_object_get(v, "key") != NULL) {
            json_decref(doc);
            return rg_platform__op_fail(op, RG_EPLATFORM,
                                        "brand %s: %s: weight store skill %s: entry '%.64s' is "
                                        "not an object of fields (without \"key\")",
                                        op->org_id, op->call, skill_id, k);
        }
    }
    *out = doc;
    return 0;
}

static const char *type_name(const json_t *v)
{
    return json_is_string(v)    ? "string"
           : json_is_integer(v) ? "integer"
           : json_is_real(v)    ? "number"
           : json_is_boolean(v) ? "boolean"
                                : "other";
}

static void schema_of(rg_platform_op *op, json_t *doc, const char *skill_id)
{
    json_t *props = json_object(), *body;
    const char *k, *f;
    json_t *row, *v;

    if (props == NULL) {
        fail_oom(op);
        return;
    }
    json_object_foreach(doc, k, row)
    {
        json_object_foreach(row, f, v)
        {
            if (json_object_get(props, f) == NULL)
                json_object_set_new(props, f, json_pack("{s:s}", "type", type_name(v)));
        }
    }
    body = json_pack("{s:s,s:{s:o,s:[s]}}", "id", skill_id, "schema", "properties", props,
                     "required", "key");
    if (body == NULL) {
        fail_oom(op);
        return;
    }
    rg_platform__succeed(op, body);
    json_decref(body);
}

static void row_of(rg_platform_op *op, json_t *doc, const char *skill_id, const char *row)
{
    json_t *entry = json_object_get(doc, row), *body;

    if (entry == NULL) {
        rg_platform__op_fail(op, RG_ENOTFOUND,
                             "brand %s: %s: weight store skill %s has no row '%s'", op->org_id,
                             op->call, skill_id, row);
        return;
    }
    if ((body = json_deep_copy(entry)) == NULL ||
        json_object_set_new(body, "key", json_string(row)) < 0) {
        json_decref(body);
        fail_oom(op);
        return;
    }
    rg_platform__succeed(op, body);
    json_decref(body);
}

/* The PUT's first step read the store: set the row, PUT the field with the document. */
static void row_put_next(rg_platform_op *op, json_t *doc, const char *skill_id, const char *row)
{
    json_t *fields = json_deep_copy(json_object_get(op->cxone_doc, "intended")), *put;
    rg_buf path = RG_BUF_INIT;
    char *text = NULL, *body = NULL;

    if (fields == NULL) {
        fail_oom(op);
        return;
    }
    json_object_del(fields, "key");
    if (json_object_set_new(doc, row, fields) < 0 ||
        (text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
        fail_oom(op);
        return;
    }
    if (strlen(text) > MAX_STORE_TEXT) {
        rg_platform__op_fail(op, RG_ELIMIT,
                             "brand %s: %s: the weight store would exceed %d bytes, more than a "
                             "Studio script reads",
                             op->org_id, op->call, MAX_STORE_TEXT);
        free(text);
        return;
    }
    put = json_pack("{s:s}", op->org->cxone_field, text);
    free(text);
    if (put == NULL || (body = json_dumps(put, JSON_COMPACT)) == NULL ||
        skill_path(&path, skill_id, NULL) < 0 ||
        rg_platform__cxone_request(op, "PUT", path.ptr, body) < 0) {
        json_decref(put);
        free(body);
        rg_buf_dispose(&path);
        fail_oom(op);
        return;
    }
    json_decref(put);
    rg_buf_dispose(&path);
    op->cxone_step = 1;
    rg_platform__op_requeue(op, 0);
}

static void summary_take(rg_platform_op *op, json_t *body);

void rg_platform__cxone_handle(rg_platform_op *op, long status, json_t *body)
{
    const char *skill_id = json_string_value(json_object_get(op->cxone_doc, "skill"));
    const char *row = json_string_value(json_object_get(op->cxone_doc, "row"));
    json_t *skill, *doc = NULL, *result;

    if (status < 200 || status > 299) {
        rg_platform__fail_status(op, status, body);
        return;
    }
    if (op->kind == RG_OP_AGGREGATES || op->kind == RG_OP_OBSERVATIONS) {
        summary_take(op, body);
        return;
    }
    if (op->kind == RG_OP_VERSIONED_PUT) {
        rg_platform__succeed(op, NULL);
        return;
    }
    if (op->kind == RG_OP_ROW_PUT && op->cxone_step == 1) {
        rg_platform__succeed(op, json_object_get(op->cxone_doc, "intended"));
        return;
    }
    if (op->kind == RG_OP_ORG_CHECK) {
        if (!json_is_object(body) && !json_is_array(body)) {
            rg_platform__op_fail(op, RG_EPLATFORM, "brand %s: %s: reply is not JSON", op->org_id,
                                 op->call);
            return;
        }
        if ((result = json_pack("{s:s,s:s}", "id", op->org_id, "name", op->org_id)) == NULL) {
            fail_oom(op);
            return;
        }
        rg_platform__succeed(op, result);
        json_decref(result);
        return;
    }
    if (op->kind == RG_OP_VERSIONED_GET)
        skill_id = op->resource_id + 8; /* "/skills/<id>" */
    if ((skill = skill_of(body)) == NULL ||
        !skill_id_is(json_object_get(skill, "skillId"),
                     op->kind == RG_OP_QUEUE_GET ? op->resource_id : skill_id)) {
        rg_platform__op_fail(op, RG_EPLATFORM,
                             "brand %s: %s: reply is not the skill (no matching skillId)",
                             op->org_id, op->call);
        return;
    }
    if (op->kind == RG_OP_QUEUE_GET) {
        json_t *n = json_object_get(skill, "skillName");
        if ((result = json_pack("{s:s,s:s}", "id", op->resource_id, "name",
                                json_is_string(n) ? json_string_value(n) : "")) == NULL) {
            fail_oom(op);
            return;
        }
        rg_platform__succeed(op, result);
        json_decref(result);
        return;
    }
    if (op->kind == RG_OP_VERSIONED_GET) {
        /* the versioned write's shape: a skill has no version; 0 stands for "none" */
        if ((result = json_deep_copy(skill)) == NULL ||
            json_object_set_new(result, "version", json_integer(0)) < 0) {
            json_decref(result);
            fail_oom(op);
            return;
        }
        rg_platform__succeed(op, result);
        json_decref(result);
        return;
    }
    if (store_doc(&doc, op, skill, skill_id) < 0)
        return;
    if (op->kind == RG_OP_DATATABLE_GET)
        schema_of(op, doc, skill_id);
    else if (op->kind == RG_OP_ROW_GET)
        row_of(op, doc, skill_id, row);
    else
        row_put_next(op, doc, skill_id, row);
    json_decref(doc);
}

/* ---- skill summaries as analytics ---- */

static int summary_request(rg_platform_op *op)
{
    char from[RG_TIME_ISO_LEN], to[RG_TIME_ISO_LEN];
    rg_buf path = RG_BUF_INIT;
    int64_t start, end;
    int error;

    if (op->kind == RG_OP_OBSERVATIONS) {
        end = rg_time_now_ms();
        start = end - OBSERVE_WINDOW_MS;
    } else {
        start = op->query.start_ms + (int64_t)op->batch_at * op->query.granularity_ms;
        end = start + op->query.granularity_ms;
    }
    rg_time_format(from, start);
    rg_time_format(to, end);
    if (rg_buf_printf(&path, "/skills/summary?startDate=%s&endDate=%s", from, to) < 0)
        return rg_error_set(RG_ENOMEM, "out of memory");
    error = rg_platform__cxone_request(op, "GET", path.ptr, NULL);
    rg_buf_dispose(&path);
    return error;
}

int rg_platform__cxone_summary_start(rg_platform_op *op)
{
    rg_platform_aggregates *agg = &op->aggregates;
    size_t n;

    free(op->call);
    if ((op->call = rg_strdup("GET skills summary")) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    op->batch_at = 0;
    if (op->kind == RG_OP_OBSERVATIONS) {
        if ((op->observations = calloc(op->nqueues, sizeof(*op->observations))) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        for (size_t i = 0; i < op->nqueues; i++)
            op->observations[i].queue_id = op->queue_ids[i];
        return summary_request(op);
    }
    n = (size_t)((op->query.end_ms - op->query.start_ms + op->query.granularity_ms - 1) /
                 op->query.granularity_ms);
    agg->start_ms = op->query.start_ms;
    agg->end_ms = op->query.end_ms;
    agg->granularity_ms = op->query.granularity_ms;
    if ((agg->queues = calloc(op->nqueues, sizeof(*agg->queues))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    agg->nqueues = op->nqueues;
    for (size_t i = 0; i < op->nqueues; i++) {
        agg->queues[i].queue_id = op->queue_ids[i];
        agg->queues[i].nbuckets = n;
        if ((agg->queues[i].buckets = calloc(n + 1, sizeof(rg_platform_bucket))) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        for (size_t b = 0; b < n; b++) {
            agg->queues[i].buckets[b].start_ms = agg->start_ms + (int64_t)b * agg->granularity_ms;
            agg->queues[i].buckets[b].end_ms =
                agg->queues[i].buckets[b].start_ms + agg->granularity_ms;
        }
    }
    return summary_request(op);
}

/* A count field: a non-negative integer (absent: 0 when optional). */
static int count_field(int64_t *out, const json_t *s, const char *name, int required,
                       const char *where)
{
    const json_t *v = json_object_get(s, name);

    if (v == NULL && !required) {
        *out = 0;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return rg_error_set(RG_EINVALID, "%s.%s: %s", where, name,
                            v == NULL ? "missing" : "not a non-negative integer");
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int queue_index(const rg_platform_op *op, const json_t *skill_id)
{
    for (size_t i = 0; i < op->nqueues; i++)
        if (skill_id_is(skill_id, op->queue_ids[i]))
            return (int)i;
    return -1;
}

int rg_platform__cxone_bucket(rg_platform_bucket *bk, const json_t *s, const char *where)
{
    int64_t offered = 0, abandoned = 0, handled = 0;
    double asa = 0, aht = 0;

    if (count_field(&offered, s, "contactsOffered", 1, where) < 0 ||
        count_field(&abandoned, s, "abandonCount", 1, where) < 0 ||
        count_field(&handled, s, "contactsHandled", 0, where) < 0)
        return -1;
    if (abandoned > offered)
        return rg_error_set(RG_EINVALID, "%s: abandonCount %lld exceeds contactsOffered %lld",
                            where, (long long)abandoned, (long long)offered);
    if (json_object_get(s, "contactsHandled") == NULL)
        handled = offered - abandoned;
    if (json_object_get(s, "averageSpeedToAnswer") != NULL || handled > 0) {
        char what[160];
        snprintf(what, sizeof(what), "%s.averageSpeedToAnswer", where);
        if (rg_platform__cxone_seconds(&asa, json_object_get(s, "averageSpeedToAnswer"), what) < 0)
            return -1;
    }
    if (json_object_get(s, "averageHandleTime") != NULL) {
        char what[160];
        snprintf(what, sizeof(what), "%s.averageHandleTime", where);
        if (rg_platform__cxone_seconds(&aht, json_object_get(s, "averageHandleTime"), what) < 0)
            return -1;
    }
    bk->offered += offered;
    bk->abandoned += abandoned;
    bk->answered += handled;
    bk->answered_sum_ms += asa * 1000.0 * (double)handled;
    bk->handled += handled;
    bk->handle_sum_ms += aht * 1000.0 * (double)handled;
    return 0;
}

/* One summary entry into bucket `b` of its skill (or into the observations). */
static int summary_entry(rg_platform_op *op, const json_t *s, const char *where)
{
    int q = queue_index(op, json_object_get(s, "skillId"));
    int64_t on = 0, unavailable = 0;

    if (!json_is_integer(json_object_get(s, "skillId")) &&
        !json_is_string(json_object_get(s, "skillId")))
        return rg_error_set(RG_EINVALID, "%s.skillId: missing or not an id", where);
    if (q < 0)
        return 0; /* a skill not asked about */
    if (op->kind == RG_OP_OBSERVATIONS) {
        rg_platform_observation *o = &op->observations[q];
        if (count_field(&on, s, "agentsLoggedIn", 1, where) < 0 ||
            count_field(&unavailable, s, "agentsUnavailable", 0, where) < 0 ||
            count_field(&o->active, s, "agentsWorking", 0, where) < 0 ||
            count_field(&o->waiting, s, "contactsQueued", 0, where) < 0)
            return -1;
        o->on_queue = on > unavailable ? on - unavailable : 0;
        return 0;
    }
    return rg_platform__cxone_bucket(&op->aggregates.queues[q].buckets[op->batch_at], s, where);
}

static void summary_take(rg_platform_op *op, json_t *body)
{
    json_t *list = json_object_get(body, "skillSummaries"), *s;
    size_t i, nbuckets = op->kind == RG_OP_AGGREGATES && op->aggregates.nqueues > 0
                             ? op->aggregates.queues[0].nbuckets
                             : 1;

    if (!json_is_array(list)) {
        rg_platform__op_fail(op, RG_EPLATFORM, "brand %s: %s: reply has no skillSummaries array",
                             op->org_id, op->call);
        return;
    }
    json_array_foreach(list, i, s)
    {
        char where[64];
        snprintf(where, sizeof(where), "skillSummaries[%zu]", i);
        if (!json_is_object(s) || summary_entry(op, s, where) < 0) {
            rg_platform__op_fail(op, RG_EPLATFORM, "brand %s: %s: %s", op->org_id, op->call,
                                 json_is_object(s) ? rg_error_last() : "entry is not an object");
            return;
        }
    }
    if (op->kind == RG_OP_AGGREGATES && op->batch_at + 1 < nbuckets) {
        /* summaries have no granularity: one call per bucket, under the brand's budget */
        op->batch_at++;
        if (summary_request(op) < 0) {
            rg_platform__op_fail(op, rg_error_code(), "brand %s: %s: %s", op->org_id, op->call,
                                 rg_error_last());
            return;
        }
        rg_platform__op_requeue(op, 0);
        return;
    }
    rg_platform__op_complete(op);
}
