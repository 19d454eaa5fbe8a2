/* api.c - /api/v1/rollouts: list, start from a manifest, status, verdicts, people's commands */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_private.h"

#define REASON_MAX 1000
#define ACTOR_MAX 128

enum MHD_Result rg_server__api_list(rg_request *req)
{
    rg_engine *engine = NULL;
    json_t *list = NULL;
    int rc;

    if ((rc = rg_server__engine(&engine, req)) < 0 ||
        (rc = rg_engine_list_json(&list, engine, req->token->tenant)) < 0)
        return rg_server__reply_rc(req, rc);
    return rg_server__reply_json(
        req, MHD_HTTP_OK, json_pack("{s:s, s:o}", "tenant", req->token->tenant, "rollouts", list));
}

/* "application/yaml; charset=utf-8" -> 1 for YAML, 0 for JSON, -1 for anything else. */
static int body_format(const char *content_type)
{
    char base[64];
    size_t n;

    if (content_type == NULL)
        return 0;
    n = strcspn(content_type, ";");
    while (n > 0 && isspace((unsigned char)content_type[n - 1]))
        n--;
    if (n >= sizeof(base))
        return -1;
    for (size_t i = 0; i < n; i++)
        base[i] = (char)tolower((unsigned char)content_type[i]);
    base[n] = '\0';
    if (strcmp(base, "application/json") == 0)
        return 0;
    if (strcmp(base, "application/yaml") == 0 || strcmp(base, "application/x-yaml") == 0 ||
        strcmp(base, "text/yaml") == 0)
        return 1;
    return -1;
}

static int parse_flag(int *out, const char *v)
{
    if (v == NULL)
        return 0;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = 1;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

enum MHD_Result rg_server__api_start(rg_request *req)
{
    const char *ct = rg_server__header(req, "Content-Type"), *text = rg_buf_cstr(&req->body);
    const char *env = NULL, *force_reason = NULL;
    int format = body_format(ct), approve = 0, rc;
    rg_manifest *manifest = NULL;
    rg_engine *engine = NULL;
    json_t *st = NULL;
    char id[RG_STORE_ROLLOUT_ID_LEN];
    enum MHD_Result ret;

    if (format < 0)
        return rg_server__reply_error(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media",
                                      "Content-Type '%s': send application/json or "
                                      "application/yaml",
                                      ct);
    if (parse_flag(&approve, rg_server__query(req, "approve")) < 0)
        return rg_server__reply_error(req, 400, "invalid", "approve: expected true or false");
    if (rg_server__env_query(req, &env, &force_reason, &ret) < 0)
        return ret;
    if (req->body.len == 0)
        return rg_server__reply_error(req, 400, "invalid", "the body must be a manifest");
    if (strlen(text) != req->body.len)
        return rg_server__reply_error(req, 400, "invalid", "the body holds a NUL byte");
    if (format == 0 && text[strspn(text, " \t\r\n")] != '{')
        return rg_server__reply_error(req, 400, "invalid",
                                      "request.json:1:1: the body is not a "
                                      "JSON object (send YAML with Content-Type: "
                                      "application/yaml)");
    rc = rg_server__served_manifest_env(&manifest, req->server, req->token->tenant,
                                        format ? "request.yaml" : "request.json", text,
                                        req->body.len, env);
    if (rc == RG_EAUTH)
        return rg_server__reply_error(req, MHD_HTTP_FORBIDDEN, "forbidden", "%s", rg_error_last());
    if (rc < 0)
        return rg_server__reply_rc(req, rc == RG_ENOTFOUND ? RG_EINVALID : rc);
    if (strcmp(manifest->tenant, req->token->tenant) != 0) {
        ret = rg_server__reply_error(req, MHD_HTTP_FORBIDDEN, "forbidden",
                                     "the manifest's tenant is not this token's tenant");
        goto cleanup;
    }
    if ((rc = rg_server__engine(&engine, req)) < 0 ||
        (rc = rg_engine_start_forced(id, engine, manifest, NULL, req->token->name, approve,
                                     force_reason)) < 0 ||
        (rc = rg_engine_status_json(&st, engine, manifest->tenant, id)) < 0) {
        ret = rg_server__reply_rc(req, rc);
        goto cleanup;
    }
    rg_server__hooks_track(req->server, manifest->tenant, id);
    rg_server__notify(req->server, NULL, 1);
    ret = rg_server__reply_json(req, MHD_HTTP_CREATED,
                                json_pack("{s:s, s:O, s:O, s:O, s:O}", "id", id, "state",
                                          json_object_get(st, "state"), "digest",
                                          json_object_get(st, "digest"), "environment",
                                          json_object_get(st, "environment"), "forced_reason",
                                          json_object_get(st, "forced_reason")));
cleanup:
    json_decref(st);
    rg_manifest_free(manifest);
    return ret;
}

enum MHD_Result rg_server__api_status(rg_request *req, const char *id)
{
    rg_engine *engine = NULL;
    json_t *doc = NULL;
    int rc;

    if ((rc = rg_server__engine(&engine, req)) < 0 ||
        (rc = rg_engine_status_json(&doc, engine, req->token->tenant, id)) < 0)
        return rg_server__reply_rc(req, rc);
    return rg_server__reply_json(req, MHD_HTTP_OK, doc);
}

/* The policy's metrics (name, kind, tolerance, direction) so a chart can draw tolerances. */
static json_t *policy_metrics(rg_request *req, const char *id)
{
    rg_store_rollout row = {0};
    json_t *policy = NULL, *metrics = NULL;

    if (rg_engine_rollout_get(&row, req->engine, req->token->tenant, id) == 0 && row.policy)
        policy = json_loads(row.policy, 0, NULL);
    metrics = json_object_get(policy, "metrics");
    metrics = json_is_array(metrics) ? json_incref(metrics) : json_array();
    json_decref(policy);
    rg_engine_rollout_dispose(&row);
    return metrics;
}

enum MHD_Result rg_server__api_verdicts(rg_request *req, const char *id)
{
    rg_engine *engine = NULL;
    json_t *doc = NULL;
    int rc;

    if ((rc = rg_server__engine(&engine, req)) < 0 ||
        (rc = rg_engine_explain_json(&doc, engine, req->token->tenant, id)) < 0)
        return rg_server__reply_rc(req, rc);
    json_object_set_new(doc, "metrics", policy_metrics(req, id));
    return rg_server__reply_json(req, MHD_HTTP_OK, doc);
}

enum MHD_Result rg_server__api_whoami(rg_request *req)
{
    return rg_server__reply_json(req, MHD_HTTP_OK,
                                 json_pack("{s:s, s:s, s:s}", "tenant", req->token->tenant, "role",
                                           rg_role_name(req->token->role), "name",
                                           req->token->name));
}

enum MHD_Result rg_server__api_audit(rg_request *req, const char *id)
{
    rg_store_rollout row = {0};
    rg_engine *engine = NULL;
    json_t *doc = NULL;
    int rc;

    /* Another tenant's rollout is 404, like one that does not exist. */
    if ((rc = rg_server__engine(&engine, req)) == 0)
        rc = rg_engine_rollout_get(&row, engine, req->token->tenant, id);
    rg_engine_rollout_dispose(&row);
    if (rc < 0 || (rc = rg_engine_audit_json(&doc, engine, req->token->tenant, id)) < 0)
        return rg_server__reply_rc(req, rc);
    return rg_server__reply_json(req, MHD_HTTP_OK, json_pack("{s:s, s:o}", "id", id, "audit", doc));
}

/* {"reason","actor","force"}: every key optional, nothing else allowed. */
static int command_body(json_t **out, rg_request *req, rg_command_kind kind)
{
    json_error_t jerr;
    json_t *doc, *v;
    const char *key;

    if (req->body.len == 0) {
        *out = json_object();
        return 0;
    }
    if ((doc = json_loadb(req->body.ptr, req->body.len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
        return rg_error_set(RG_EINVALID, "body:%d:%d: %s", jerr.line, jerr.column, jerr.text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return rg_error_set(RG_EINVALID, "body: expected a JSON object {\"reason\",\"actor\"}");
    }
    json_object_foreach(doc, key, v)
    {
        int ok = (strcmp(key, "reason") == 0 && json_is_string(v) &&
                  strlen(json_string_value(v)) <= REASON_MAX) ||
                 (strcmp(key, "actor") == 0 && json_is_string(v) && json_string_length(v) > 0 &&
                  strlen(json_string_value(v)) <= ACTOR_MAX) ||
                 ((strcmp(key, "force") == 0 || strcmp(key, "full") == 0) && json_is_boolean(v) &&
                  kind == RG_COMMAND_PROMOTE);
        if (!ok) {
            int rc = rg_error_set(RG_EINVALID,
                                  "body.%s: expected reason (text up to %d bytes), "
                                  "actor (1-%d bytes)%s",
                                  key, REASON_MAX, ACTOR_MAX,
                                  kind == RG_COMMAND_PROMOTE ? " or force, full (booleans)" : "");
            json_decref(doc);
            return rc;
        }
    }
    *out = doc;
    return 0;
}

enum MHD_Result rg_server__api_command(rg_request *req, const char *id, rg_command_kind kind)
{
    rg_engine *engine = NULL;
    json_t *body = NULL, *st = NULL;
    const char *reason, *actor;
    char *outcome = NULL;
    enum MHD_Result ret;
    int rc;

    if ((rc = command_body(&body, req, kind)) < 0)
        return rg_server__reply_rc(req, rc);
    reason = json_string_value(json_object_get(body, "reason"));
    actor = json_string_value(json_object_get(body, "actor"));
    if (reason && *reason == '\0')
        reason = NULL;
    if (kind == RG_COMMAND_ROLLBACK && reason == NULL) {
        ret = rg_server__reply_error(req, 400, "invalid",
                                     "body.reason: a rollback needs a "
                                     "reason");
        goto cleanup;
    }
    if ((rc = rg_server__engine(&engine, req)) < 0) {
        ret = rg_server__reply_rc(req, rc);
        goto cleanup;
    }
    /* Under the drive lock: this process's scheduler is not in a tick, so a command taken
     * under our shared lease owner id runs now instead of racing it. */
    pthread_mutex_lock(&req->server->drive_lock);
    rc = rg_engine_command(&outcome, engine, req->token->tenant, id, kind,
                           actor ? actor : req->token->name, reason,
                           (json_is_true(json_object_get(body, "force")) ? RG_ENGINE_FORCE : 0) |
                               (json_is_true(json_object_get(body, "full")) ? RG_ENGINE_FULL : 0));
    pthread_mutex_unlock(&req->server->drive_lock);
    rg_server__notify(req->server, NULL, 1);
    if (rc < 0 || (rc = rg_engine_status_json(&st, engine, req->token->tenant, id)) < 0) {
        ret = rg_server__reply_rc(req, rc);
        goto cleanup;
    }
    ret = rg_server__reply_json(req, MHD_HTTP_OK,
                                json_pack("{s:s, s:s, s:s, s:O}", "id", id, "command",
                                          rg_command_kind_to_str(kind), "outcome", outcome, "state",
                                          json_object_get(st, "state")));
cleanup:
    free(outcome);
    json_decref(body);
    json_decref(st);
    return ret;
}
