/* router.c - which handler answers a request: paths, methods (405), tokens (401), roles (403) */
#include <string.h>

#include "server/server_private.h"

#define API_PREFIX "/api/v1/rollouts"
#define ARTIFACT_PREFIX "/api/v1/artifacts/"

typedef enum { NEED_READ, NEED_OPERATOR, NEED_RELEASE } need;

static const struct {
    const char *name;
    rg_command_kind kind;
    need role;
} commands[] = {
    {"approve", RG_COMMAND_APPROVE, NEED_RELEASE},    {"promote", RG_COMMAND_PROMOTE, NEED_RELEASE},
    {"pause", RG_COMMAND_PAUSE, NEED_OPERATOR},       {"resume", RG_COMMAND_RESUME, NEED_OPERATOR},
    {"rollback", RG_COMMAND_ROLLBACK, NEED_OPERATOR},
};

static int is_get(const rg_request *req)
{
    return strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
}

static enum MHD_Result not_allowed(rg_request *req, const char *allow)
{
    req->allow = allow;
    return rg_server__reply_error(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                                  "%s %s: allowed methods are %s", req->method, req->url, allow);
}

static enum MHD_Result not_found(rg_request *req)
{
    return rg_server__reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", "no such resource: %s",
                                  req->url);
}

/* 0 when the token's role may do `n`; otherwise the 403 is queued in *ret. The roles are
 * ordered: release may do what operator may (who can start a rollout can stop it), operator
 * what viewer may. */
static int allowed(rg_request *req, need n, const char *what, enum MHD_Result *ret)
{
    rg_role r = req->token->role;
    if (n == NEED_READ || (n == NEED_OPERATOR && r >= RG_ROLE_OPERATOR) ||
        (n == NEED_RELEASE && r == RG_ROLE_RELEASE))
        return 0;
    *ret = rg_server__reply_error(req, MHD_HTTP_FORBIDDEN, "forbidden",
                                  "the %s role may not %s (it needs the %s role)", rg_role_name(r),
                                  what, n == NEED_OPERATOR ? "operator" : "release");
    return -1;
}

/* Rollout ids are short tokens; anything else cannot name a rollout. */
static int valid_id(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

static enum MHD_Result route_rollout(rg_request *req, const char *id, const char *sub)
{
    enum MHD_Result ret = MHD_NO;

    if (*sub == '\0') {
        if (!is_get(req))
            return not_allowed(req, "GET");
        return rg_server__api_status(req, id);
    }
    if (strcmp(sub, "audit") == 0) {
        if (!is_get(req))
            return not_allowed(req, "GET");
        return rg_server__api_audit(req, id);
    }
    if (strcmp(sub, "gate") == 0 || strcmp(sub, "verdicts") == 0 || strcmp(sub, "events") == 0) {
        if (!is_get(req))
            return not_allowed(req, "GET");
        if (sub[0] == 'g')
            return rg_server__api_gate(req, id);
        return sub[0] == 'v' ? rg_server__api_verdicts(req, id) : rg_server__api_events(req, id);
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(sub, commands[i].name) != 0)
            continue;
        if (strcmp(req->method, "POST") != 0)
            return not_allowed(req, "POST");
        if (allowed(req, commands[i].role, commands[i].name, &ret) < 0)
            return ret;
        return rg_server__api_command(req, id, commands[i].kind);
    }
    if (strcmp(sub, "retry") == 0 || strcmp(sub, "undo") == 0) {
        int retry = sub[0] == 'r';
        if (strcmp(req->method, "POST") != 0)
            return not_allowed(req, "POST");
        if (allowed(req, retry ? NEED_RELEASE : NEED_OPERATOR, sub, &ret) < 0)
            return ret;
        return retry ? rg_server__api_retry(req, id) : rg_server__api_undo(req, id);
    }
    if (strcmp(sub, "promote-env") == 0) {
        if (strcmp(req->method, "POST") != 0)
            return not_allowed(req, "POST");
        if (allowed(req, NEED_RELEASE, "start an environment", &ret) < 0)
            return ret;
        return rg_server__api_promote_env(req, id);
    }
    return not_found(req);
}

/* /api/v1/artifacts/sha256:<64 hex>[/may-promote] (docs/environments.md). */
static enum MHD_Result route_artifact(rg_request *req, const char *rest)
{
    char digest[RG_MANIFEST_DIGEST_LEN];
    size_t n = strlen("sha256:") + 64;

    if (strncmp(rest, "sha256:", 7) != 0 || strlen(rest) < n ||
        (rest[n] != '\0' && strcmp(rest + n, "/may-promote") != 0))
        return not_found(req);
    for (size_t i = 7; i < n; i++)
        if (!((rest[i] >= '0' && rest[i] <= '9') || (rest[i] >= 'a' && rest[i] <= 'f')))
            return not_found(req);
    if (!is_get(req))
        return not_allowed(req, "GET");
    memcpy(digest, rest, n);
    digest[n] = '\0';
    return rg_server__api_artifact(req, digest, rest[n] ? "may-promote" : "");
}

static enum MHD_Result route_api(rg_request *req)
{
    const char *rest = req->url + strlen(API_PREFIX), *slash;
    char id[65];
    enum MHD_Result ret = MHD_NO;
    int rc;

    if (req->token == NULL && (rc = rg_server__authenticate(req)) < 0)
        return rg_server__reply_rc(req, rc);
    if (strncmp(req->url, ARTIFACT_PREFIX, strlen(ARTIFACT_PREFIX)) == 0)
        return route_artifact(req, req->url + strlen(ARTIFACT_PREFIX));
    if (strcmp(req->url, "/api/v1/whoami") == 0) {
        if (!is_get(req))
            return not_allowed(req, "GET");
        return rg_server__api_whoami(req);
    }
    if (strncmp(req->url, API_PREFIX, strlen(API_PREFIX)) != 0 || (*rest != '\0' && *rest != '/'))
        return not_found(req);
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (is_get(req))
            return rg_server__api_list(req);
        if (strcmp(req->method, "POST") != 0)
            return not_allowed(req, "GET, POST");
        if (allowed(req, NEED_RELEASE, "start a rollout", &ret) < 0)
            return ret;
        return rg_server__api_start(req);
    }
    rest++;
    slash = strchr(rest, '/');
    if (!valid_id(rest, slash ? (size_t)(slash - rest) : strlen(rest)))
        return not_found(req);
    memcpy(id, rest, slash ? (size_t)(slash - rest) : strlen(rest));
    id[slash ? (size_t)(slash - rest) : strlen(rest)] = '\0';
    return route_rollout(req, id, slash ? slash + 1 : "");
}

enum MHD_Result rg_server__route(rg_request *req)
{
    const char *url = req->url;

    if (strncmp(url, "/api/", 5) == 0)
        return route_api(req);
    if (strcmp(url, "/healthz") == 0) {
        if (!is_get(req))
            return not_allowed(req, "GET");
        return rg_server__reply(req, MHD_HTTP_OK, "application/json", "{\"status\":\"ok\"}", 15);
    }
    if (strcmp(url, "/metrics") == 0) {
        if (!is_get(req))
            return not_allowed(req, "GET");
        return rg_server__metrics(req);
    }
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
        if (!is_get(req))
            return not_allowed(req, "GET");
        return rg_server__dashboard(req);
    }
    if (strcmp(url, "/app.js") == 0 || strcmp(url, "/app.css") == 0) {
        if (!is_get(req))
            return not_allowed(req, "GET");
        return rg_server__dashboard_asset(req, url + 1);
    }
    return not_found(req);
}
