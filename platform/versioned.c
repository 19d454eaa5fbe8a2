/* versioned.c - resources with a `version` field (IVR configs, schedule groups, emergency
 * groups): GET, merge the intended fields, full-replace PUT carrying the version read; a
 * stale version (409, or 400 "does not match the current version") re-reads and merges
 * again; then the change is read back and compared */
#include <stdlib.h>
#include <string.h>

#include "platform/client.h"

#define PATH_IVRS "/api/v2/architect/ivrs/"
#define MAX_PATH 512
#define MAX_UNKNOWN 3 /* PUTs of unknown outcome one write may absorb */

/* The platform's wording when the version of a PUT is stale and it does not answer 409. */
#define STALE_WORDING "does not match the current version"

int rg_platform_ivr_path(char *out, size_t outlen, const char *ivr_id)
{
    char *escaped;
    int n;

    if (ivr_id == NULL || ivr_id[0] == '\0' || strlen(ivr_id) > 256 || strcmp(ivr_id, ".") == 0 ||
        strcmp(ivr_id, "..") == 0)
        return rg_error_set(RG_EINVALID, "IVR id empty, too long or not an id");
    if ((escaped = curl_easy_escape(NULL, ivr_id, 0)) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    n = snprintf(out, outlen, PATH_IVRS "%s", escaped);
    curl_free(escaped);
    if (n < 0 || (size_t)n >= outlen)
        return rg_error_set(RG_ELIMIT, "IVR path longer than %zu bytes", outlen);
    return 0;
}

/* An API path: /api/v2/..., path characters only (ids escaped), no query, no dot segments
 * (curl would resolve them to another resource). */
static int path_check(const char *org_id, const char *path)
{
    size_t n = path ? strlen(path) : 0;

    if (n < 9 || n > MAX_PATH || strncmp(path, "/api/v2/", 8) != 0 || path[n - 1] == '/')
        return rg_error_set(RG_EINVALID,
                            "org %s: versioned resource path must be /api/v2/... "
                            "(at most %d characters, no trailing '/')",
                            org_id, MAX_PATH);
    for (size_t i = 0; i < n; i++) {
        char c = path[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '/' || c == '-' || c == '_' || c == '.' || c == '~' || c == '%';
        if (!ok)
            return rg_error_set(RG_EINVALID,
                                "org %s: versioned resource path: character "
                                "0x%02x at %zu is not allowed (escape ids)",
                                org_id, (unsigned char)c, i);
    }
    if (strstr(path, "//") || strstr(path, "/./") || strstr(path, "/../") ||
        (n >= 2 && strcmp(path + n - 2, "/.") == 0) || (n >= 3 && strcmp(path + n - 3, "/..") == 0))
        return rg_error_set(RG_EINVALID,
                            "org %s: versioned resource path has an empty or dot "
                            "segment",
                            org_id);
    return 0;
}

static int queue_versioned(rg_platform_op **out, rg_platform *p, rg_op_kind kind,
                           const char *org_id, const char *path, json_t *body)
{
    rg_platform_op *op = NULL;
    rg_buf call = RG_BUF_INIT;
    char *text = NULL;
    int put = kind == RG_OP_VERSIONED_PUT, error;

    if (p != NULL && rg_platform__org(p, org_id) != NULL && rg_platform__org(p, org_id)->cxone)
        return rg_platform__cxone_queue(out, p, kind, org_id, path, body,
                                        put ? "PUT skill" : "GET skill");
    if ((error = path_check(org_id ? org_id : "(null)", path)) < 0)
        return error;
    if (rg_buf_printf(&call, "%s %s", put ? "PUT" : "GET", path) < 0 ||
        (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)) {
        error = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((error = rg_platform__op_new(&op, p, kind, org_id, NULL, rg_buf_cstr(&call))) < 0)
        goto cleanup;
    if ((error = rg_platform__op_set_request(op, put ? "PUT" : "GET", op->org->api_url, path,
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
    rg_buf_dispose(&call);
    return error;
}

static int status_code(long status)
{
    switch (status) {
    case 400:
    case 422: return RG_EINVALID;
    case 401:
    case 403: return RG_EAUTH;
    case 404: return RG_ENOTFOUND;
    case 409:
    case 412: return RG_ECONFLICT;
    case 429: return RG_ELIMIT;
    default: return RG_EPLATFORM;
    }
}

void rg_platform__versioned_handle(rg_platform_op *op, long status, json_t *body)
{
    const char *message = json_string_value(json_object_get(body, "message"));
    rg_buf why = RG_BUF_INIT;

    if (status >= 200 && status <= 299) {
        if (!json_is_object(body) || !json_is_integer(json_object_get(body, "version"))) {
            rg_platform__op_fail(op, RG_EPLATFORM,
                                 "org %s: %s: response has no integer "
                                 "version",
                                 op->org_id, op->call);
            return;
        }
        json_decref(op->body);
        op->body = json_incref(body);
        rg_platform__op_complete(op);
        return;
    }
    /* Stale: 409, or a 400 worded so (the Terraform provider treats both as a re-read). */
    if (op->kind == RG_OP_VERSIONED_PUT &&
        (status == 409 || (status == 400 && message && strstr(message, STALE_WORDING))))
        op->version_conflict = 1;
    /* 408 client.timeout: the platform gave up on the PUT, which may still have landed */
    if (op->kind == RG_OP_VERSIONED_PUT && status == 408)
        op->outcome_unknown = 1;
    rg_platform__error_body(&why, status, body);
    rg_platform__op_fail(op, op->version_conflict ? RG_ECONFLICT : status_code(status),
                         "org %s: %s: %s", op->org_id, op->call, rg_buf_cstr(&why));
    rg_buf_dispose(&why);
}

/* Runs one op; on success *out the body (new reference). *flags: bit 0 a stale version,
 * bit 1 an outcome unknown. */
static int run_one(json_t **out, int *flags, rg_platform *p, rg_platform_op *op)
{
    int error = rg_platform_run(p);

    if (error == 0 && (error = rg_platform_op_status(op)) < 0)
        error = rg_error_set(error, "%s", rg_platform_op_error(op));
    if (flags != NULL)
        *flags = (op->version_conflict ? 1 : 0) | (op->outcome_unknown ? 2 : 0);
    if (error == 0 && out != NULL)
        *out = json_incref(rg_platform_op_body(op));
    rg_platform_op_free(op);
    return error;
}

int rg_platform_versioned_get(json_t **out, rg_platform *p, const char *org_id, const char *path)
{
    rg_platform_op *op = NULL;
    int error;

    if (out == NULL)
        return rg_error_set(RG_EINVALID, "platform: out is NULL");
    if ((error = queue_versioned(&op, p, RG_OP_VERSIONED_GET, org_id, path, NULL)) < 0)
        return error;
    return run_one(out, NULL, p, op);
}

static int versioned_put(int *flags, rg_platform *p, const char *org_id, const char *path,
                         json_t *body)
{
    rg_platform_op *op = NULL;
    int error;

    *flags = 0;
    if ((error = queue_versioned(&op, p, RG_OP_VERSIONED_PUT, org_id, path, body)) < 0)
        return error;
    return run_one(NULL, flags, p, op);
}

/* The first field of `fields` whose value `live` does not hold, or NULL. */
static const char *first_missing(json_t *live, json_t *fields)
{
    const char *key;
    json_t *v;

    json_object_foreach(fields, key, v) if (!json_equal(v, json_object_get(live, key))) return key;
    return NULL;
}

/* A field rollgate changes that someone else changed too: live differs from both the value
 * it was read as (`base`) and the intended one. NULL when none. */
static const char *concurrent_edit(json_t *live, json_t *fields, json_t *base)
{
    const char *key;
    json_t *v;

    json_object_foreach(fields, key, v)
    {
        json_t *now = json_object_get(live, key), *was = json_object_get(base, key);
        int same_as_base = (now == NULL && was == NULL) || (now && was && json_equal(now, was));
        if (!same_as_base && !(now && json_equal(now, v)))
            return key;
    }
    return NULL;
}

static int fields_check(const char *org_id, const char *path, json_t *fields)
{
    if (!json_is_object(fields) || json_object_size(fields) == 0)
        return rg_error_set(RG_EINVALID,
                            "org %s: %s: the intended fields must be a non-empty "
                            "object",
                            org_id, path);
    if (json_object_get(fields, "version") != NULL || json_object_get(fields, "id") != NULL)
        return rg_error_set(RG_EINVALID,
                            "org %s: %s: 'version' and 'id' are the platform's, "
                            "not fields to write",
                            org_id, path);
    return 0;
}

/* `first`: a body the caller just read (its version is PUT), or NULL to GET first. */
static int versioned_write(json_t **out_live, int *out_in_place, rg_platform *p, const char *org_id,
                           const char *path, json_t *fields, json_t *base, json_t *first)
{
    json_t *live = NULL, *back = NULL, *body = NULL, *own_base = NULL;
    json_int_t version = 0, pinned = -1;
    const char *field, *key;
    json_t *v;
    int error, flags = 0, stale = 0, unknown = 0;

    if (out_live != NULL)
        *out_live = NULL;
    if (out_in_place != NULL)
        *out_in_place = 0;
    if (p == NULL)
        return rg_error_set(RG_EINVALID, "platform: client is NULL");
    if ((error = fields_check(org_id ? org_id : "(null)", path ? path : "(null)", fields)) < 0)
        return error;
    for (;;) {
        json_decref(live);
        live = NULL;
        if (first != NULL) {
            live = json_incref(first);
            first = NULL;
        } else if ((error = rg_platform_versioned_get(&live, p, org_id, path)) < 0) {
            goto done;
        }
        version = json_integer_value(json_object_get(live, "version"));
        if (base == NULL) {
            /* the fields as first read: a later change to them is someone else's */
            if ((own_base = json_object()) == NULL) {
                error = rg_error_set(RG_ENOMEM, "out of memory");
                goto done;
            }
            json_object_foreach(fields, key, v) if (json_object_get(live, key) != NULL)
                json_object_set(own_base, key, json_object_get(live, key));
            base = own_base;
        }
        if (first_missing(live, fields) == NULL) {
            /* already there (nothing to do, or a PUT whose reply was lost landed) */
            if (out_in_place != NULL)
                *out_in_place = 1;
            goto done;
        }
        if (pinned >= 0 && version != pinned) {
            error = rg_error_set(RG_ECONFLICT,
                                 "org %s: %s: changed (version %lld, was %lld) "
                                 "after a PUT whose outcome is unknown, and field '%s' does not "
                                 "hold rollgate's value; not written again",
                                 org_id, path, (long long)version, (long long)pinned,
                                 first_missing(live, fields));
            goto done;
        }
        if ((field = concurrent_edit(live, fields, base)) != NULL) {
            error = rg_error_set(RG_ECONFLICT,
                                 "org %s: %s: field '%s' was changed by someone "
                                 "else (now version %lld); not overwritten",
                                 org_id, path, field, (long long)version);
            goto done;
        }
        /* a write after a re-read: only while the caller may still write (a host that lost
         * its rollout while paused must not put a change back) */
        if ((stale > 0 || unknown > 0) && p->opts.may_write != NULL &&
            (error = p->opts.may_write(p->opts.may_write_payload)) < 0)
            goto done;
        /* merge: the live body (everyone's other edits kept) with the intended fields */
        json_decref(body);
        if ((body = json_deep_copy(live)) == NULL || json_object_update(body, fields) < 0) {
            error = rg_error_set(RG_ENOMEM, "out of memory");
            goto done;
        }
        if ((error = versioned_put(&flags, p, org_id, path, body)) == 0)
            break;
        if (flags & 1) {
            if (++stale >= p->opts.max_412_attempts) {
                error = rg_error_set(RG_ECONFLICT,
                                     "org %s: %s: the version was stale %d times: "
                                     "the resource keeps changing",
                                     org_id, path, stale);
                goto done;
            }
            rg_log(RG_LOG_DEBUG, RG_PLATFORM_COMPONENT,
                   "org %s: %s: version %lld stale, "
                   "re-reading",
                   org_id, path, (long long)version);
            continue;
        }
        if (!(flags & 2) || ++unknown > MAX_UNKNOWN)
            goto done;
        /* outcome unknown: re-read first; PUT again only while the version is unchanged */
        pinned = version;
    }
    /* read back and compare */
    if ((error = rg_platform_versioned_get(&back, p, org_id, path)) < 0)
        goto done;
    json_decref(live);
    live = back;
    back = NULL;
    if ((field = first_missing(live, fields)) != NULL)
        error = rg_error_set(RG_ECONFLICT,
                             "org %s: %s was written by someone else right after "
                             "rollgate's PUT (field '%s' differs on read-back)",
                             org_id, path, field);
done:
    json_decref(back);
    json_decref(body);
    json_decref(own_base);
    if (out_live != NULL)
        *out_live = live;
    else
        json_decref(live);
    return error;
}

int rg_platform_versioned_write(json_t **out_live, int *out_in_place, rg_platform *p,
                                const char *org_id, const char *path, json_t *fields, json_t *base)
{
    return versioned_write(out_live, out_in_place, p, org_id, path, fields, base, NULL);
}

int rg_platform_versioned_write_from(json_t **out_live, int *out_in_place, rg_platform *p,
                                     const char *org_id, const char *path, json_t *fields,
                                     json_t *base, json_t *read)
{
    if (!json_is_object(read) || !json_is_integer(json_object_get(read, "version")))
        return rg_error_set(RG_EINVALID, "org %s: %s: the body read has no integer version",
                            org_id ? org_id : "(null)", path ? path : "(null)");
    return versioned_write(out_live, out_in_place, p, org_id, path, fields, base, read);
}
