/* datatable.c - Architect data tables: schema and row reads, whole-row PUTs, and the
 * verified write (re-read -> compare -> PUT -> read back) that stands in for the ETag the
 * platform does not offer on rows */
#include <stdlib.h>
#include <string.h>

#include "platform/client.h"

#define PATH_DATATABLES "/api/v2/flows/datatables/"

static int queue_dt(rg_platform_op **out, rg_platform *p, rg_op_kind kind, const char *org_id,
                    const char *table, const char *row, const char *method, json_t *body,
                    const char *call_name)
{
    rg_platform_op *op = NULL;
    rg_buf call = RG_BUF_INIT, path = RG_BUF_INIT;
    char *et = NULL, *er = NULL, *text = NULL;
    int error;

    if (p != NULL && rg_platform__org(p, org_id) != NULL && rg_platform__org(p, org_id)->cxone) {
        json_t *doc = json_pack("{s:s?,s:s?,s:O?}", "skill", table, "row", row, "intended", body);
        if (doc == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        error = rg_platform__cxone_queue(out, p, kind, org_id, row ? row : table, doc, call_name);
        json_decref(doc);
        return error;
    }
    if (table == NULL || table[0] == '\0' || strlen(table) > 256 ||
        (kind != RG_OP_DATATABLE_GET && (row == NULL || row[0] == '\0' || strlen(row) > 256)))
        return rg_error_set(RG_EINVALID,
                            "org %s: %s: data table id or row key empty or too "
                            "long",
                            org_id, call_name);
    if (rg_buf_printf(&call, "%s %s%s%s", call_name, table, row ? "/" : "", row ? row : "") < 0 ||
        (et = curl_easy_escape(NULL, table, 0)) == NULL ||
        (row != NULL && (er = curl_easy_escape(NULL, row, 0)) == NULL) ||
        (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)) {
        error = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((error = rg_platform__op_new(&op, p, kind, org_id, row ? row : table, rg_buf_cstr(&call))) <
        0)
        goto cleanup;
    if (rg_buf_printf(&path, PATH_DATATABLES "%s", et) < 0 ||
        (kind == RG_OP_DATATABLE_GET && rg_buf_puts(&path, "?expand=schema") < 0) ||
        (kind == RG_OP_ROW_CREATE && rg_buf_puts(&path, "/rows") < 0) ||
        (kind != RG_OP_DATATABLE_GET && kind != RG_OP_ROW_CREATE &&
         rg_buf_printf(&path, "/rows/%s", er) < 0) ||
        /* showbrief defaults to true, which returns the key alone */
        (kind == RG_OP_ROW_GET && rg_buf_puts(&path, "?showbrief=false") < 0)) {
        error = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((error = rg_platform__op_set_request(op, method, op->org->api_url, rg_buf_cstr(&path),
                                             text)) < 0) {
        error = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    text = NULL;
    rg_platform__op_enqueue(op);
    *out = op;
    op = NULL;
cleanup:
    rg_platform_op_free(op);
    free(text);
    curl_free(et);
    curl_free(er);
    rg_buf_dispose(&call);
    rg_buf_dispose(&path);
    return error;
}

int rg_platform_queue_datatable_get(rg_platform_op **out, rg_platform *p, const char *org_id,
                                    const char *table)
{
    return queue_dt(out, p, RG_OP_DATATABLE_GET, org_id, table, NULL, "GET", NULL,
                    "GET data table");
}

int rg_platform_queue_row_get(rg_platform_op **out, rg_platform *p, const char *org_id,
                              const char *table, const char *row)
{
    return queue_dt(out, p, RG_OP_ROW_GET, org_id, table, row, "GET", NULL, "GET row");
}

int rg_platform_queue_row_put(rg_platform_op **out, rg_platform *p, const char *org_id,
                              const char *table, const char *row, json_t *whole_row)
{
    json_t *key = json_object_get(whole_row, "key");

    if (!json_is_object(whole_row) || !json_is_string(key) ||
        strcmp(json_string_value(key), row) != 0)
        return rg_error_set(RG_EINVALID, "org %s: PUT row %s/%s: the row must carry its key",
                            org_id, table, row);
    return queue_dt(out, p, RG_OP_ROW_PUT, org_id, table, row, "PUT", whole_row, "PUT row");
}

void rg_platform__datatable_handle(rg_platform_op *op, json_t *body)
{
    json_t *key = json_object_get(body, "key");

    if (op->kind == RG_OP_DATATABLE_GET) {
        json_t *props = json_object_get(json_object_get(body, "schema"), "properties");
        if (!json_is_object(body) || !json_is_string(json_object_get(body, "id")) ||
            !json_is_object(props)) {
            rg_platform__op_fail(op, RG_EPLATFORM,
                                 "org %s: %s: response is not a data table "
                                 "with its schema",
                                 op->org_id, op->call);
            return;
        }
    } else if (!json_is_object(body) || !json_is_string(key) ||
               strcmp(json_string_value(key), op->resource_id) != 0) {
        rg_platform__op_fail(op, RG_EPLATFORM,
                             "org %s: %s: response is not the row (no "
                             "matching key)",
                             op->org_id, op->call);
        return;
    }
    json_decref(op->body);
    op->body = json_incref(body);
    rg_platform__op_complete(op);
}

int rg_platform_row_version(char out[65], json_t *row)
{
    char *text = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);

    if (text == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    rg_sha256_hex(out, text, strlen(text));
    free(text);
    return 0;
}

/* The first field (key included) where a and b differ, or NULL when they are equal. */
const char *rg_platform_row_diff(json_t *a, json_t *b)
{
    const char *k;
    json_t *v;

    json_object_foreach(a, k, v)
    {
        if (!json_equal(v, json_object_get(b, k)))
            return k;
    }
    json_object_foreach(b, k, v)
    {
        if (json_object_get(a, k) == NULL)
            return k;
    }
    return NULL;
}

static int run_op(json_t **out, rg_platform *p, rg_platform_op *op, int *unknown)
{
    int error = rg_platform_run(p);

    if (error == 0 && (error = rg_platform_op_status(op)) < 0)
        error = rg_error_set(error, "%s", rg_platform_op_error(op));
    if (unknown != NULL)
        *unknown = op->outcome_unknown;
    if (error == 0 && out != NULL)
        *out = json_incref(rg_platform_op_body(op));
    rg_platform_op_free(op);
    return error;
}

int rg_platform_row_get(json_t **out, rg_platform *p, const char *org_id, const char *table,
                        const char *row)
{
    rg_platform_op *op = NULL;
    int error;

    if ((error = rg_platform_queue_row_get(&op, p, org_id, table, row)) < 0)
        return error;
    return run_op(out, p, op, NULL);
}

int rg_platform_datatable_schema(json_t **out, rg_platform *p, const char *org_id,
                                 const char *table)
{
    rg_platform_op *op = NULL;
    json_t *doc = NULL;
    int error;

    if ((error = rg_platform_queue_datatable_get(&op, p, org_id, table)) < 0)
        return error;
    if ((error = run_op(&doc, p, op, NULL)) < 0)
        return error;
    *out = json_incref(json_object_get(doc, "schema"));
    json_decref(doc);
    return 0;
}

int rg_platform_row_write(json_t **out_live, int *out_in_place, rg_platform *p, const char *org_id,
                          const char *table, const char *row, const char *expected_version,
                          json_t *intended)
{
    json_t *live = NULL, *back = NULL;
    char version[65], pinned[65] = "";
    const char *field;
    int error, unknown = 0, attempts = 0;

    if (out_live != NULL)
        *out_live = NULL;
    if (out_in_place != NULL)
        *out_in_place = 0;
    for (;;) {
        /* re-read -> compare */
        if ((error = rg_platform_row_get(&live, p, org_id, table, row)) < 0)
            return error;
        if ((error = rg_platform_row_version(version, live)) < 0)
            goto done;
        if (rg_platform_row_diff(live, intended) == NULL) {
            /* already there: a lost reply that landed, or nothing to do; no write */
            if (out_in_place != NULL)
                *out_in_place = 1;
            goto done;
        }
        /* after an unknown outcome, the row must still be the one we read before that PUT */
        if (pinned[0] == '\0' && expected_version != NULL)
            snprintf(pinned, sizeof(pinned), "%s", expected_version);
        if (pinned[0] != '\0' && strcmp(version, pinned) != 0) {
            error = rg_error_set(RG_ECONFLICT,
                                 "org %s: row %s/%s changed since it was read "
                                 "(content version %.12s, now %.12s)",
                                 org_id, table, row, pinned, version);
            goto done;
        }
        snprintf(pinned, sizeof(pinned), "%s", version);
        /* PUT */
        {
            rg_platform_op *op = NULL;
            if ((error = rg_platform_queue_row_put(&op, p, org_id, table, row, intended)) < 0)
                goto done;
            error = run_op(NULL, p, op, &unknown);
        }
        if (error == 0)
            break;
        if (!unknown || ++attempts > 3)
            goto done;
        /* outcome unknown: re-read before anything else; in place when it landed */
        json_decref(live);
        live = NULL;
    }
    /* read back -> compare with the intended row */
    if ((error = rg_platform_row_get(&back, p, org_id, table, row)) < 0)
        goto done;
    if ((field = rg_platform_row_diff(back, intended)) != NULL) {
        error = rg_error_set(RG_ECONFLICT,
                             "org %s: row %s/%s was written by someone else "
                             "right after rollgate's PUT (field %s differs on read-back)",
                             org_id, table, row, field);
        json_decref(live);
        live = back;
        back = NULL;
        goto done;
    }
    json_decref(live);
    live = back;
    back = NULL;
done:
    json_decref(back);
    if (out_live != NULL)
        *out_live = live;
    else
        json_decref(live);
    return error;
}

static const char *json_type_name(json_t *v)
{
    return json_is_string(v)    ? "string"
           : json_is_integer(v) ? "integer"
           : json_is_real(v)    ? "number"
           : json_is_boolean(v) ? "boolean"
                                : "other";
}

int rg_platform_row_preflight(rg_platform *p, const char *org_id, const char *table,
                              const char *row, json_t *fields, json_t *weights, int create)
{
    json_t *schema = NULL, *props, *live = NULL, *v;
    const char *name;
    json_int_t sum = 0;
    int error;

    if ((error = rg_platform_datatable_schema(&schema, p, org_id, table)) < 0)
        return rg_error_prefix("org %s: data table %s", org_id, table);
    props = json_object_get(schema, "properties");
    json_object_foreach(fields, name, v)
    {
        const char *want = json_string_value(json_object_get(json_object_get(props, name), "type"));
        const char *have = json_type_name(v);
        if (strcmp(name, "key") == 0)
            continue;
        if (want == NULL) {
            error = rg_error_set(RG_EINVALID, "org %s: data table %s has no column '%s'", org_id,
                                 table, name);
            goto done;
        }
        /* an integer value fits a number column */
        if (strcmp(want, have) != 0 && !(strcmp(want, "number") == 0 && json_is_integer(v))) {
            error = rg_error_set(RG_EINVALID,
                                 "org %s: data table %s: field '%s' is %s in the "
                                 "template, the column expects %s",
                                 org_id, table, name, have, want);
            goto done;
        }
    }
    if (json_object_size(weights) > 0) {
        json_object_foreach(weights, name, v)
        {
            json_t *w = json_object_get(fields, name);
            const char *qcol = json_string_value(v);
            json_t *q = qcol ? json_object_get(fields, qcol) : NULL;
            if (!json_is_integer(w) || json_integer_value(w) < 0 || json_integer_value(w) > 100) {
                error = rg_error_set(RG_EINVALID,
                                     "org %s: data table %s: weight field '%s' "
                                     "must be an integer 0..100",
                                     org_id, table, name);
                goto done;
            }
            if (!json_is_string(q)) {
                error = rg_error_set(RG_EINVALID,
                                     "org %s: data table %s: queue field '%s' of "
                                     "weight '%s' must be a string (a queue id)",
                                     org_id, table, qcol ? qcol : "?", name);
                goto done;
            }
            sum += json_integer_value(w);
            if ((error = rg_platform_queue_exists(p, org_id, json_string_value(q))) < 0) {
                /* the message formatted into itself would be undefined: prefix it */
                error = rg_error_prefix("queue %s (field '%s')", json_string_value(q), qcol);
                goto done;
            }
        }
        if (sum != 100) {
            error = rg_error_set(RG_EINVALID,
                                 "org %s: data table %s: the weights sum to %lld, "
                                 "not 100",
                                 org_id, table, (long long)sum);
            goto done;
        }
    }
    error = rg_platform_row_get(&live, p, org_id, table, row);
    if (error == RG_ENOTFOUND && create)
        error = 0;
    else if (error == RG_ENOTFOUND)
        error = rg_error_set(RG_ENOTFOUND,
                             "org %s: data table %s has no row '%s' (create: true "
                             "would create it)",
                             org_id, table, row);
done:
    json_decref(live);
    json_decref(schema);
    return error;
}

int rg_platform_row_create(json_t **out_row, rg_platform *p, const char *org_id, const char *table,
                           const char *row, json_t *whole_row)
{
    json_t *key = json_object_get(whole_row, "key"), *live = NULL;
    rg_platform_op *op = NULL;
    const char *field;
    int error, unknown = 0;

    *out_row = NULL;
    if (!json_is_object(whole_row) || !json_is_string(key) ||
        strcmp(json_string_value(key), row) != 0)
        return rg_error_set(RG_EINVALID, "org %s: POST row %s/%s: the row must carry its key",
                            org_id, table, row);
    if ((error = queue_dt(&op, p, RG_OP_ROW_CREATE, org_id, table, row, "POST", whole_row,
                          "POST row")) < 0)
        return error;
    error = run_op(NULL, p, op, &unknown);
    /* created (read back below), or of unknown outcome (the re-read decides), or refused:
     * a row with that key exists now (someone created it first: never overwritten) */
    if (error < 0 && !unknown)
        return error;
    if ((error = rg_platform_row_get(&live, p, org_id, table, row)) < 0)
        return error;
    if ((field = rg_platform_row_diff(live, whole_row)) != NULL) {
        error = rg_error_set(RG_ECONFLICT,
                             "org %s: row %s/%s created by someone else right after rollgate's "
                             "POST (field '%s' differs on read-back)",
                             org_id, table, row, field);
        json_decref(live);
        return error;
    }
    *out_row = live;
    return 0;
}

int rg_platform_row_delete(rg_platform *p, const char *org_id, const char *table, const char *row)
{
    rg_platform_op *op = NULL;
    json_t *live = NULL;
    int error, unknown = 0;

    if ((error = queue_dt(&op, p, RG_OP_ROW_DELETE, org_id, table, row, "DELETE", NULL,
                          "DELETE row")) < 0)
        return error;
    error = run_op(NULL, p, op, &unknown);
    if (error == RG_ENOTFOUND)
        return 0; /* already gone */
    if (error < 0 && !unknown)
        return error;
    /* read back: the row must be gone */
    error = rg_platform_row_get(&live, p, org_id, table, row);
    json_decref(live);
    if (error == RG_ENOTFOUND)
        return 0;
    if (error == 0)
        error =
            rg_error_set(RG_ECONFLICT, "org %s: row %s/%s is still there after rollgate's DELETE",
                         org_id, table, row);
    return error;
}
