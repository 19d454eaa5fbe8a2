/* ivr.c - Architect IVR configs as the real API serves them: GET and full-replace PUT on
 * /api/v2/architect/ivrs/{id} with `version` semantics (a PUT must carry the current version;
 * a stale one is answered 409, or 400 "does not match the current version"), and the
 * control-plane edits and hooks that make a client's version stale */
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

/* What a PUT may set; everything else is the server's. */
static const char *const writable[] = {"name",
                                       "description",
                                       "division",
                                       "dnis",
                                       "openHoursFlow",
                                       "closedHoursFlow",
                                       "holidayHoursFlow",
                                       "scheduleGroup",
                                       NULL};
/* Read-only fields a client may send back as it read them (ignored, as the platform does). */
static const char *const server_side[] = {
    "id",           "version",    "state",     "dateCreated",
    "dateModified", "modifiedBy", "createdBy", "modifiedByApp",
    "createdByApp", "selfUri",    NULL};

static int in_list(const char *const *list, const char *key)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], key) == 0)
            return 1;
    return 0;
}

sim_ivr *sim_org_ivr(sim_org *org, const char *id)
{
    for (size_t i = 0; i < org->nivrs; i++)
        if (strcmp(org->ivrs[i].id, id) == 0)
            return &org->ivrs[i];
    return NULL;
}

static int is_ref(json_t *v)
{
    json_t *id = json_object_get(v, "id");
    return json_is_object(v) && json_is_string(id) && json_string_length(id) > 0;
}

/* The writable fields of `doc` checked by type; `partial` allows an edit without a name.
 * With `strict`, fields that are neither writable nor the server's are refused. */
static int check_fields(json_t *doc, int partial, int strict)
{
    const char *key;
    json_t *v;

    if (!json_is_object(doc))
        return rg_error_set(RG_EINVALID, "the IVR must be a JSON object");
    if (!partial && !json_is_string(json_object_get(doc, "name")))
        return rg_error_set(RG_EINVALID, "name is required (string)");
    json_object_foreach(doc, key, v)
    {
        int ok = 1;
        if (!in_list(writable, key)) {
            if (strict && !in_list(server_side, key))
                return rg_error_set(RG_EINVALID, "Unrecognized field '%s'", key);
            continue;
        }
        if (strcmp(key, "name") == 0 || strcmp(key, "description") == 0)
            ok = json_is_string(v) && (strcmp(key, "name") != 0 || json_string_length(v) > 0);
        else if (strcmp(key, "dnis") == 0) {
            size_t i;
            json_t *n;
            ok = json_is_array(v);
            json_array_foreach(v, i, n) ok = ok && json_is_string(n);
        } else
            ok = is_ref(v); /* division, the flows and the schedule group: {"id": ...} */
        if (!ok)
            return rg_error_set(RG_EINVALID, "field '%s' has the wrong type (%s)", key,
                                strcmp(key, "dnis") == 0 ? "an array of phone numbers"
                                : strcmp(key, "name") == 0 || strcmp(key, "description") == 0
                                    ? "a string"
                                    : "an object with an id");
    }
    return 0;
}

/* The server's fields after a change: version bumped, dateModified now. Caller holds the
 * org's lock. */
static void stamp(sim_ivr *ivr, json_t *next, const char *by, int64_t now_ms)
{
    char iso[RG_TIME_ISO_LEN], self[320];

    ivr->version++;
    rg_time_format(iso, now_ms);
    snprintf(self, sizeof(self), "/api/v2/architect/ivrs/%s", ivr->id);
    json_object_set_new(next, "id", json_string(ivr->id));
    json_object_set_new(next, "version", json_integer(ivr->version));
    json_object_set_new(next, "state", json_string("active"));
    json_object_set_new(next, "dateModified", json_string(iso));
    json_object_set_new(next, "modifiedBy", json_string(by));
    json_object_set_new(next, "selfUri", json_string(self));
    if (json_object_get(ivr->doc.fields, "dateCreated"))
        json_object_set(next, "dateCreated", json_object_get(ivr->doc.fields, "dateCreated"));
    json_decref(ivr->doc.fields);
    ivr->doc.fields = next;
}

/* A full replace by the API (`partial` 0) or an edit of some writable fields (1). */
static int ivr_write(sim_ivr *ivr, json_t *doc, int partial, const char *by, int64_t now_ms)
{
    json_t *next;
    const char *key;
    json_t *v;
    int rc;

    if ((rc = check_fields(doc, partial, !partial)) < 0)
        return rc;
    if ((next = partial ? json_deep_copy(ivr->doc.fields) : json_object()) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    json_object_foreach(doc, key, v)
    {
        if (in_list(writable, key))
            json_object_set(next, key, v);
    }
    stamp(ivr, next, by, now_ms);
    return 0;
}

/* The status a stale version is refused with: the faults' override, else the IVR's. */
static int conflict_status(const sim_ivr *ivr, const sim_faults *f)
{
    return f->version_conflict_status ? f->version_conflict_status : ivr->conflict_status;
}

static void run_hook(sim_ivr *ivr, int on_put, int64_t now_ms)
{
    if (ivr->hook_fields == NULL || ivr->hook_on_put != on_put)
        return;
    if (ivr_write(ivr, ivr->hook_fields, 1, "sim-hook", now_ms) < 0)
        rg_log(RG_LOG_WARN, "sim", "IVR hook on %s failed: %s", ivr->id, rg_error_last());
    else
        ivr->doc.hook_edits++;
    json_decref(ivr->hook_fields);
    ivr->hook_fields = NULL;
}

static int put_ivr(sim_reply *reply, sim_org *org, sim_ivr *ivr, const sim_request *req,
                   const sim_faults *f, int64_t now_ms)
{
    json_t *body = NULL, *v;
    int rc, status;

    if (sim__json_load(&body, req->body, req->body_len, "body") < 0)
        return sim_reply_error(reply, 400, "bad.request", "%s", rg_error_last());
    pthread_mutex_lock(&org->lock);
    v = json_object_get(body, "version");
    status = conflict_status(ivr, f);
    if (!json_is_object(body)) {
        rc = sim_reply_error(reply, 400, "bad.request", "the IVR must be a JSON object");
    } else if (!json_is_integer(v) || json_integer_value(v) != ivr->version) {
        /* a missing version is as stale as an old one: the write is refused either way */
        long long given = json_is_integer(v) ? (long long)json_integer_value(v) : -1LL;
        if (status == 400)
            rc = sim_reply_error(reply, 400, "bad.request",
                                 "IVR %s: the version supplied (%lld) does not match the current "
                                 "version (%lld)",
                                 ivr->id, given, (long long)ivr->version);
        else
            rc = sim_reply_error(reply, 409, "conflict",
                                 "The request conflicts with the current state of the target "
                                 "resource. (IVR %s: version %lld is not the current version "
                                 "%lld)",
                                 ivr->id, given, (long long)ivr->version);
    } else if (json_is_string(json_object_get(body, "id")) &&
               strcmp(json_string_value(json_object_get(body, "id")), ivr->id) != 0) {
        rc = sim_reply_error(reply, 400, "bad.request",
                             "the id in the body does not match the "
                             "IVR id %s",
                             ivr->id);
    } else if (ivr_write(ivr, body, 0, "api", now_ms) < 0) {
        rc = sim_reply_error(reply, 400, "bad.request", "%s", rg_error_last());
    } else {
        reply->written_row = &ivr->doc; /* counted by dispatch, answered or not */
        rc = sim_reply_json(reply, 200, json_deep_copy(ivr->doc.fields));
        run_hook(ivr, 1, now_ms);
    }
    pthread_mutex_unlock(&org->lock);
    json_decref(body);
    return rc;
}

/* /api/v2/architect/ivrs/{id}; `id` is what follows the prefix. */
int sim_ivr_route(sim_reply *reply, sim_org *org, const char *id, const sim_request *req,
                  const sim_faults *f, int64_t now_ms)
{
    sim_ivr *ivr;
    int rc;

    if (id[0] == '\0' || strchr(id, '/') != NULL)
        return sim_reply_error(reply, 404, "not.found", "no such resource: %s %s", req->method,
                               req->path);
    if ((ivr = sim_org_ivr(org, id)) == NULL)
        return sim_reply_error(reply, 404, "not.found",
                               "Unable to find an IVR config with id "
                               "%s",
                               id);
    if (strcmp(req->method, "PUT") == 0)
        return put_ivr(reply, org, ivr, req, f, now_ms);
    if (strcmp(req->method, "GET") != 0)
        return sim_reply_error(reply, 405, "method.not.allowed", "%s is not allowed here",
                               req->method);
    pthread_mutex_lock(&org->lock);
    rc = sim_reply_json(reply, 200, json_deep_copy(ivr->doc.fields));
    run_hook(ivr, 0, now_ms);
    pthread_mutex_unlock(&org->lock);
    return rc;
}

/* --- scenario loading ---------------------------------------------------------------- */

int sim_ivrs_load(sim_org *org, json_t *ivrs, const char *path)
{
    char sub[300];
    size_t i;
    json_t *v;

    if (ivrs == NULL)
        return 0;
    if (!json_is_array(ivrs) || json_array_size(ivrs) > 1000)
        return rg_error_set(RG_EINVALID,
                            "%s.ivrs: expected an array of at most 1000 IVR "
                            "configs",
                            path);
    if ((org->ivrs = calloc(json_array_size(ivrs) + 1, sizeof(*org->ivrs))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    json_array_foreach(ivrs, i, v)
    {
        sim_ivr *ivr = &org->ivrs[i];
        json_t *id = json_object_get(v, "id"), *cs = json_object_get(v, "conflict_status");
        json_t *ver = json_object_get(v, "version"), *doc;
        snprintf(sub, sizeof(sub), "%s.ivrs[%zu]", path, i);
        if (!json_is_object(v) || !json_is_string(id) || json_string_length(id) == 0 ||
            json_string_length(id) > 200 || strchr(json_string_value(id), '/'))
            return rg_error_set(RG_EINVALID, "%s.id: expected an IVR id", sub);
        if (cs != NULL && !(json_is_integer(cs) &&
                            (json_integer_value(cs) == 409 || json_integer_value(cs) == 400)))
            return rg_error_set(RG_EINVALID, "%s.conflict_status: expected 409 or 400", sub);
        if (ver != NULL && !(json_is_integer(ver) && json_integer_value(ver) >= 1 &&
                             json_integer_value(ver) < 1000000000))
            return rg_error_set(RG_EINVALID, "%s.version: expected a positive integer", sub);
        if ((doc = json_deep_copy(v)) == NULL ||
            (ivr->id = strdup(json_string_value(id))) == NULL) {
            json_decref(doc);
            return rg_error_set(RG_ENOMEM, "out of memory");
        }
        org->nivrs++;
        json_object_del(doc, "conflict_status");
        if (check_fields(doc, 0, 1) < 0) {
            json_decref(doc);
            rg_error_prefix("%s", sub);
            return RG_EINVALID;
        }
        if (sim_org_ivr(org, ivr->id) != ivr) {
            json_decref(doc);
            return rg_error_set(RG_EINVALID, "%s.id: duplicate IVR id '%s'", sub, ivr->id);
        }
        ivr->conflict_status = cs ? (int)json_integer_value(cs) : 409;
        ivr->version = ver ? (int64_t)json_integer_value(ver) - 1 : 0;
        stamp(ivr, doc, "scenario", 0);
        json_object_set_new(doc, "dateCreated", json_string("2026-01-01T00:00:00.000Z"));
        json_object_set_new(doc, "dateModified", json_string("2026-01-01T00:00:00.000Z"));
    }
    return 0;
}

void sim_ivrs_dispose(sim_org *org)
{
    for (size_t i = 0; i < org->nivrs; i++) {
        free(org->ivrs[i].id);
        json_decref(org->ivrs[i].doc.fields);
        json_decref(org->ivrs[i].hook_fields);
    }
    free(org->ivrs);
    org->ivrs = NULL;
    org->nivrs = 0;
}

/* --- control plane ------------------------------------------------------------------- */

json_t *sim_ivrs_json(const sim_org *org)
{
    json_t *list = json_array();

    for (size_t i = 0; i < org->nivrs; i++) {
        const sim_ivr *ivr = &org->ivrs[i];
        json_array_append_new(
            list, json_pack("{s:s,s:I,s:i,s:O,s:I,s:I,s:I}", "id", ivr->id, "version",
                            (json_int_t)ivr->version, "conflict_status", ivr->conflict_status,
                            "body", ivr->doc.fields, "writes", (json_int_t)ivr->doc.writes,
                            "writes_unanswered", (json_int_t)ivr->doc.writes_unanswered,
                            "hook_edits", (json_int_t)ivr->doc.hook_edits));
    }
    return list;
}

static sim_ivr *find_ivr(sim_org **out_org, sim_world *world, json_t *body)
{
    const char *org_id = json_string_value(json_object_get(body, "org"));
    const char *id = json_string_value(json_object_get(body, "ivr"));
    sim_org *org = org_id ? sim_world_org(world, org_id) : NULL;

    *out_org = org;
    return org && id ? sim_org_ivr(org, id) : NULL;
}

/* {"org","ivr","fields"}: a person's edit in the UI (not an API write): the version moves. */
int sim_ivr_edit(sim_reply *reply, sim_world *world, json_t *body, int64_t now_ms)
{
    json_t *fields = json_object_get(body, "fields");
    sim_org *org = NULL;
    sim_ivr *ivr = find_ivr(&org, world, body);
    int rc;

    if (json_object_size(body) != 3 || !json_is_object(fields) ||
        !json_is_string(json_object_get(body, "org")))
        return sim_reply_error(reply, 400, "invalid.value",
                               "edit: expected exactly {\"org\",\"ivr\",\"fields\"}");
    if (ivr == NULL)
        return sim_reply_error(reply, 404, "not.found", "no IVR config %s in organization %s",
                               json_string_value(json_object_get(body, "ivr")),
                               json_string_value(json_object_get(body, "org")));
    pthread_mutex_lock(&org->lock);
    if (ivr_write(ivr, fields, 1, "sim-edit", now_ms) < 0)
        rc = sim_reply_error(reply, 400, "invalid.value", "fields: %s", rg_error_last());
    else
        rc = sim_reply_json(reply, 200, json_pack("{s:O}", "ivr", ivr->doc.fields));
    pthread_mutex_unlock(&org->lock);
    return rc;
}

/* {"org","on":"get"|"put","ivr","fields"}: the edit is applied once, right after the next
 * GET or accepted PUT of that IVR is answered (so the version the client just read or wrote
 * is stale at once). Replaces the IVR's pending hook. */
int sim_ivr_hook(sim_reply *reply, sim_world *world, json_t *body)
{
    const char *on = json_string_value(json_object_get(body, "on"));
    json_t *fields = json_object_get(body, "fields"), *copy;
    sim_org *org = NULL;
    sim_ivr *ivr = find_ivr(&org, world, body);

    if (json_object_size(body) != 4 || !on || (strcmp(on, "get") != 0 && strcmp(on, "put") != 0) ||
        !json_is_object(fields) || !json_is_string(json_object_get(body, "org")))
        return sim_reply_error(reply, 400, "invalid.value",
                               "hook: expected exactly {\"org\",\"on\":\"get\"|\"put\",\"ivr\","
                               "\"fields\"}");
    if (ivr == NULL)
        return sim_reply_error(reply, 404, "not.found", "no IVR config %s in organization %s",
                               json_string_value(json_object_get(body, "ivr")),
                               json_string_value(json_object_get(body, "org")));
    if (check_fields(fields, 1, 1) < 0)
        return sim_reply_error(reply, 400, "invalid.value", "fields: %s", rg_error_last());
    if ((copy = json_deep_copy(fields)) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    pthread_mutex_lock(&org->lock);
    json_decref(ivr->hook_fields);
    ivr->hook_fields = copy;
    ivr->hook_on_put = strcmp(on, "put") == 0;
    pthread_mutex_unlock(&org->lock);
    return sim_reply_json(reply, 200, json_pack("{s:b}", "armed", 1));
}
