/* api_controls.c - POST /api/v1/rollouts/{id}/retry and /undo: the controls that start a new
 * rollout or reopen a finished one (docs/serve.md) */
#include <stdlib.h>
#include <string.h>

#include "server/server_private.h"

#define REASON_MAX 1000
#define ACTOR_MAX 128

/* {"actor","reason","approve","force"} as `allowed` names them; nothing else. */
static int control_body(json_t **out, rg_request *req, int with_reason)
{
    json_error_t jerr;
    json_t *doc, *v;
    const char *key;

    if (req->body.len == 0) {
        *out = json_object();
        return *out ? 0 : rg_error_set(RG_ENOMEM, "out of memory");
    }
    if ((doc = json_loadb(req->body.ptr, req->body.len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
        return rg_error_set(RG_EINVALID, "body:%d:%d: %s", jerr.line, jerr.column, jerr.text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return rg_error_set(RG_EINVALID, "body: expected a JSON object");
    }
    json_object_foreach(doc, key, v)
    {
        int ok = (strcmp(key, "actor") == 0 && json_is_string(v) && json_string_length(v) > 0 &&
                  json_string_length(v) <= ACTOR_MAX) ||
                 (with_reason && strcmp(key, "reason") == 0 && json_is_string(v) &&
                  json_string_length(v) <= REASON_MAX) ||
                 (with_reason && strcmp(key, "force") == 0 && json_is_boolean(v)) ||
                 (!with_reason && strcmp(key, "approve") == 0 && json_is_boolean(v));
        if (!ok) {
            /* the message first: `key` belongs to `doc` */
            int rc = rg_error_set(RG_EINVALID, "body.%s: expected %s, actor (1-%d bytes)", key,
                                  with_reason ? "reason (text up to 1000 bytes), force (boolean)"
                                              : "approve (boolean)",
                                  ACTOR_MAX);
            json_decref(doc);
            return rc;
        }
    }
    *out = doc;
    return 0;
}

enum MHD_Result rg_server__api_retry(rg_request *req, const char *id)
{
    rg_engine *engine = NULL;
    json_t *body = NULL, *st = NULL;
    const char *actor;
    char new_id[RG_STORE_ROLLOUT_ID_LEN];
    enum MHD_Result ret;
    int rc;

    if ((rc = control_body(&body, req, 0)) < 0)
        return rg_server__reply_rc(req, rc);
    actor = json_string_value(json_object_get(body, "actor"));
    if ((rc = rg_server__engine(&engine, req)) < 0 ||
        (rc = rg_engine_retry(new_id, engine, req->token->tenant, id,
                              actor ? actor : req->token->name,
                              json_is_true(json_object_get(body, "approve")))) < 0 ||
        (rc = rg_engine_status_json(&st, engine, req->token->tenant, new_id)) < 0) {
        ret = rg_server__reply_rc(req, rc);
        goto cleanup;
    }
    rg_server__hooks_track(req->server, req->token->tenant, new_id);
    rg_server__notify(req->server, NULL, 1);
    ret = rg_server__reply_json(req, MHD_HTTP_CREATED,
                                json_pack("{s:s, s:s, s:s, s:O}", "id", new_id, "command", "retry",
                                          "retry_of", id, "state", json_object_get(st, "state")));
cleanup:
    json_decref(body);
    json_decref(st);
    return ret;
}

/* The restore runs in this request (under the drive lock, as a command does); the
 * scheduler verifies afterwards. */
enum MHD_Result rg_server__api_undo(rg_request *req, const char *id)
{
    rg_engine *engine = NULL;
    json_t *body = NULL, *st = NULL;
    const char *actor, *reason;
    enum MHD_Result ret;
    int rc;

    if ((rc = control_body(&body, req, 1)) < 0)
        return rg_server__reply_rc(req, rc);
    actor = json_string_value(json_object_get(body, "actor"));
    reason = json_string_value(json_object_get(body, "reason"));
    if (reason == NULL || *reason == '\0') {
        ret = rg_server__reply_error(req, 400, "invalid", "body.reason: an undo needs a reason");
        goto cleanup;
    }
    if ((rc = rg_server__engine(&engine, req)) < 0) {
        ret = rg_server__reply_rc(req, rc);
        goto cleanup;
    }
    pthread_mutex_lock(&req->server->drive_lock);
    rc = rg_engine_undo(engine, req->token->tenant, id, actor ? actor : req->token->name, reason,
                        json_is_true(json_object_get(body, "force")));
    pthread_mutex_unlock(&req->server->drive_lock);
    rg_server__notify(req->server, NULL, 1);
    if (rc < 0 || (rc = rg_engine_status_json(&st, engine, req->token->tenant, id)) < 0) {
        ret = rg_server__reply_rc(req, rc);
        goto cleanup;
    }
    ret =
        rg_server__reply_json(req, MHD_HTTP_OK,
                              json_pack("{s:s, s:s, s:s, s:O}", "id", id, "command", "undo",
                                        "outcome", "done", "state", json_object_get(st, "state")));
cleanup:
    json_decref(body);
    json_decref(st);
    return ret;
}
