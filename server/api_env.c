/* api_env.c - environments over HTTP: start --env, promote-env, an artifact's history and
 * whether it may go to an environment (docs/environments.md) */
#include <stdlib.h>
#include <string.h>

#include "server/server_private.h"

#define REASON_MAX 1000
#define ACTOR_MAX 128

static int valid_env(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
              (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '.' || s[n] == ':' ||
              s[n] == '-'))
            return 0;
    return n >= 1 && n <= 128;
}

int rg_server__env_query(rg_request *req, const char **env, const char **force_reason,
                         enum MHD_Result *ret)
{
    const char *e = rg_server__query(req, "env"), *force = rg_server__query(req, "force");
    const char *reason = rg_server__query(req, "reason");
    int forced = force && strcmp(force, "true") == 0;

    *env = NULL;
    *force_reason = NULL;
    if (e && !valid_env(e)) {
        *ret = rg_server__reply_error(req, 400, "invalid", "env: expected an environment name");
        return -1;
    }
    if ((force && !forced && strcmp(force, "false") != 0) ||
        (forced && (reason == NULL || *reason == '\0' || strlen(reason) > REASON_MAX)) ||
        (!forced && reason)) {
        *ret = rg_server__reply_error(req, 400, "invalid",
                                      "force=true goes with reason (text "
                                      "up to %d bytes)",
                                      REASON_MAX);
        return -1;
    }
    *env = e;
    *force_reason = forced ? reason : NULL;
    return 0;
}

/* {"to","approve"?,"actor"?,"force"?,"reason"?}; force needs a reason. */
static int promote_body(json_t **out, rg_request *req)
{
    json_error_t jerr;
    json_t *doc, *v;
    const char *key;

    if ((doc = json_loadb(req->body.ptr, req->body.len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
        return rg_error_set(RG_EINVALID, "body:%d:%d: %s", jerr.line, jerr.column, jerr.text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return rg_error_set(RG_EINVALID, "body: expected a JSON object {\"to\"}");
    }
    json_object_foreach(doc, key, v)
    {
        int ok = (strcmp(key, "to") == 0 && json_is_string(v) && valid_env(json_string_value(v))) ||
                 (strcmp(key, "reason") == 0 && json_is_string(v) && json_string_length(v) > 0 &&
                  json_string_length(v) <= REASON_MAX) ||
                 (strcmp(key, "actor") == 0 && json_is_string(v) && json_string_length(v) > 0 &&
                  json_string_length(v) <= ACTOR_MAX) ||
                 ((strcmp(key, "force") == 0 || strcmp(key, "approve") == 0) && json_is_boolean(v));
        if (!ok) {
            json_decref(doc);
            return rg_error_set(RG_EINVALID,
                                "body.%s: expected to (an environment), approve "
                                "and force (booleans), reason (1-%d bytes), actor (1-%d bytes)",
                                key, REASON_MAX, ACTOR_MAX);
        }
    }
    if (json_object_get(doc, "to") == NULL ||
        json_is_true(json_object_get(doc, "force")) != (json_object_get(doc, "reason") != NULL)) {
        json_decref(doc);
        return rg_error_set(RG_EINVALID, "body: needs to, and force: true goes with a reason");
    }
    *out = doc;
    return 0;
}

enum MHD_Result rg_server__api_promote_env(rg_request *req, const char *id)
{
    rg_engine *engine = NULL;
    json_t *body = NULL, *st = NULL;
    const char *actor;
    char new_id[RG_STORE_ROLLOUT_ID_LEN];
    enum MHD_Result ret;
    int rc;

    if ((rc = promote_body(&body, req)) < 0)
        return rg_server__reply_rc(req, rc);
    actor = json_string_value(json_object_get(body, "actor"));
    if ((rc = rg_server__engine(&engine, req)) < 0 ||
        (rc = rg_engine_promote_env(
             new_id, engine, req->token->tenant, id, json_string_value(json_object_get(body, "to")),
             actor ? actor : req->token->name, json_is_true(json_object_get(body, "approve")),
             json_string_value(json_object_get(body, "reason")))) < 0 ||
        (rc = rg_engine_status_json(&st, engine, req->token->tenant, new_id)) < 0) {
        ret = rg_server__reply_rc(req, rc);
        goto cleanup;
    }
    rg_server__hooks_track(req->server, req->token->tenant, new_id);
    rg_server__notify(req->server, NULL, 1);
    ret = rg_server__reply_json(req, MHD_HTTP_CREATED,
                                json_pack("{s:s, s:s, s:O, s:O, s:O, s:O}", "id", new_id, "from",
                                          id, "state", json_object_get(st, "state"), "digest",
                                          json_object_get(st, "digest"), "environment",
                                          json_object_get(st, "environment"), "forced_reason",
                                          json_object_get(st, "forced_reason")));
cleanup:
    json_decref(body);
    json_decref(st);
    return ret;
}

/* GET /api/v1/artifacts/{digest}[/may-promote?env=E]: scoped to the token's tenant; a digest
 * the tenant never ran is 404 whether or not another tenant ran it. */
enum MHD_Result rg_server__api_artifact(rg_request *req, const char *digest, const char *sub)
{
    rg_engine *engine = NULL;
    json_t *doc = NULL;
    const char *env;
    int rc;

    if ((rc = rg_server__engine(&engine, req)) < 0)
        return rg_server__reply_rc(req, rc);
    if (*sub == '\0') {
        if ((rc = rg_engine_history_json(&doc, engine, req->token->tenant, digest)) < 0)
            return rg_server__reply_rc(req, rc);
        return rg_server__reply_json(req, MHD_HTTP_OK, doc);
    }
    env = rg_server__query(req, "env");
    if (env == NULL || !valid_env(env))
        return rg_server__reply_error(req, 400, "invalid", "env: expected ?env=ENVIRONMENT");
    if ((rc = rg_engine_may_promote_json(&doc, engine, req->token->tenant, digest, env)) < 0)
        return rg_server__reply_rc(req, rc);
    return rg_server__reply_json(
        req, json_is_true(json_object_get(doc, "allowed")) ? MHD_HTTP_OK : MHD_HTTP_CONFLICT, doc);
}
