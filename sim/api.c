/* api.c - the platform API of docs/platform-api.md: tokens, auth, budgets, faults, routes */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sim/sim.h"

static int oauth_error(sim_reply *reply, const char *error, const char *description)
{
    return sim_reply_json(reply, 400,
                          json_pack("{s:s,s:s,s:s}", "error", error, "description", description,
                                    "error_description", description));
}

/* grant_type=client_credentials must be among the form fields. */
static int has_client_credentials_grant(const char *form)
{
    static const char field[] = "grant_type=client_credentials";
    const char *p = form;

    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len == sizeof(field) - 1 && strncmp(p, field, len) == 0)
            return 1;
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

int sim_token_handle(sim_reply *reply, sim_world *world, const sim_request *req,
                     const sim_faults *faults, int64_t now_ms)
{
    const char *auth = req->header(req->conn, "Authorization");
    char creds[512], token[64];
    char *colon;
    int64_t ttl = faults->token_ttl_s > 0 ? faults->token_ttl_s : world->token_ttl_s;
    int rc;

    if (strcmp(req->method, "POST") != 0)
        return oauth_error(reply, "invalid_request", "the token endpoint takes POST");
    if (!has_client_credentials_grant(req->body))
        return oauth_error(reply, "unsupported_grant_type",
                           "grant_type must be client_credentials");
    if (auth == NULL || strncasecmp(auth, "Basic ", 6) != 0 ||
        sim_base64_decode(creds, sizeof(creds), auth + 6) < 0 ||
        (colon = strchr(creds, ':')) == NULL)
        return oauth_error(reply, "invalid_client", "authentication failed");
    *colon = '\0';
    for (size_t i = 0; i < world->norgs; i++) {
        sim_org *org = &world->orgs[i];
        size_t len = strlen(org->client_secret);
        if (strcmp(org->client_id, creds) != 0)
            continue;
        if (strlen(colon + 1) != len || !rg_consttime_eq(org->client_secret, colon + 1, len))
            break;
        if ((rc = sim_token_issue(token, sizeof(token), org, i, ttl, now_ms)) < 0)
            return rc;
        reply->org_slot = i + 1;
        return sim_reply_json(reply, 200,
                              json_pack("{s:s,s:s,s:I}", "access_token", token, "token_type",
                                        "bearer", "expires_in", (json_int_t)ttl));
    }
    return oauth_error(reply, "invalid_client", "authentication failed");
}

static int parse_body(json_t **out, sim_reply *reply, const sim_request *req)
{
    if (sim__json_load(out, req->body, req->body_len, "body") < 0)
        return sim_reply_error(reply, 400, "bad.request", "%s", rg_error_last()) < 0 ? -1 : 1;
    return 0;
}

static int org_me(sim_reply *reply, const sim_org *org)
{
    return sim_reply_json(reply, 200,
                          json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:s}", "id", org->id, "name",
                                    org->name, "state", "active", "version", 1, "domain",
                                    org->domain, "defaultLanguage", "en", "productPlatform",
                                    "GenesysCloud", "selfUri", "/api/v2/organizations/me"));
}

static int get_queue(sim_reply *reply, const sim_org *org, const char *id)
{
    int q = sim_org_queue_index(org, id);
    char self[256];

    if (q < 0)
        return sim_reply_error(reply, 404, "not.found", "queue %s not found", id);
    snprintf(self, sizeof(self), "/api/v2/routing/queues/%s", id);
    return sim_reply_json(reply, 200,
                          json_pack("{s:s,s:s,s:i,s:s,s:s}", "id", id, "name", org->queues[q].name,
                                    "memberCount", org->queues[q].agents * 5 / 4, "state", "active",
                                    "selfUri", self));
}

static int page_param(int64_t *out, const sim_request *req, const char *name, int64_t dflt,
                      int64_t max)
{
    const char *v = req->query(req->conn, name);
    *out = dflt;
    return v == NULL ? 0 : rg_parse_int64(out, v, 1, max);
}

static int list_strategies(sim_reply *reply, sim_org *org, const sim_request *req)
{
    int64_t size, number;
    json_t *entities;

    if (page_param(&size, req, "pageSize", 25, 500) < 0 ||
        page_param(&number, req, "pageNumber", 1, 1000000) < 0)
        return sim_reply_error(reply, 400, "invalid.value", "pageSize (1..500) or pageNumber: %s",
                               rg_error_last());
    if ((entities = json_array()) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    pthread_mutex_lock(&org->lock);
    for (int64_t i = (number - 1) * size; i < number * size && i < (int64_t)org->nstrategies; i++)
        json_array_append_new(entities, json_deep_copy(org->strategies[i].body));
    pthread_mutex_unlock(&org->lock);
    return sim_reply_json(
        reply, 200,
        json_pack("{s:o,s:I,s:I,s:I,s:I}", "entities", entities, "pageSize", (json_int_t)size,
                  "pageNumber", (json_int_t)number, "total", (json_int_t)org->nstrategies,
                  "pageCount", (json_int_t)((org->nstrategies + (size_t)size - 1) / (size_t)size)));
}

/* Compares two entity tags, ignoring a weak prefix and the quotes. */
static int etag_matches(const char *given, const char *etag)
{
    size_t gl, el = strlen(etag) - 2;

    if (strncmp(given, "W/", 2) == 0)
        given += 2;
    gl = strlen(given);
    if (gl >= 2 && given[0] == '"' && given[gl - 1] == '"') {
        given++;
        gl -= 2;
    }
    return gl == el && strncmp(given, etag + 1, el) == 0;
}

static int patch_strategy(sim_reply *reply, sim_org *org, sim_strategy *s, const sim_request *req,
                          int64_t now_ms)
{
    const char *if_match = req->header(req->conn, "If-Match");
    json_t *patch = NULL;
    int rc;

    if (if_match == NULL)
        return sim_reply_error(reply, 428, "precondition.required",
                               "If-Match is required to change strategy %s", s->id);
    if ((rc = parse_body(&patch, reply, req)) != 0)
        return rc < 0 ? rc : 0;
    pthread_mutex_lock(&org->lock);
    if (!etag_matches(if_match, s->etag)) {
        rc = sim_reply_error(reply, 412, "precondition.failed", "strategy %s has changed (ETag %s)",
                             s->id, s->etag);
    } else if (sim_strategy_patch(org, s, patch, "api", now_ms) < 0) {
        rc = sim_reply_error(reply, 400, "invalid.value", "%s", rg_error_last());
    } else {
        snprintf(reply->etag, sizeof(reply->etag), "%s", s->etag);
        reply->written = s; /* counted by dispatch, with whether the reply was dropped */
        rc = sim_reply_json(reply, 200, json_deep_copy(s->body));
    }
    pthread_mutex_unlock(&org->lock);
    json_decref(patch);
    return rc;
}

static int strategy(sim_reply *reply, sim_org *org, const char *id, const sim_request *req,
                    int64_t now_ms)
{
    sim_strategy *s = sim_org_strategy(org, id);
    int rc;

    if (s == NULL)
        return sim_reply_error(reply, 404, "not.found", "strategy %s not found", id);
    if (strcmp(req->method, "PATCH") == 0)
        return patch_strategy(reply, org, s, req, now_ms);
    if (strcmp(req->method, "GET") != 0)
        return sim_reply_error(reply, 405, "method.not.allowed", "%s is not allowed here",
                               req->method);
    pthread_mutex_lock(&org->lock);
    snprintf(reply->etag, sizeof(reply->etag), "%s", s->etag);
    rc = sim_reply_json(reply, 200, json_deep_copy(s->body));
    pthread_mutex_unlock(&org->lock);
    return rc;
}

static int query(sim_reply *reply, sim_world *world, size_t org_index, const sim_request *req,
                 int64_t now_ms, int aggregates)
{
    json_t *body = NULL;
    int rc;

    if (strcmp(req->method, "POST") != 0)
        return sim_reply_error(reply, 405, "method.not.allowed", "queries take POST");
    if ((rc = parse_body(&body, reply, req)) != 0)
        return rc < 0 ? rc : 0;
    rc = aggregates ? sim_query_aggregates(reply, world, org_index, body, now_ms)
                    : sim_query_observations(reply, world, org_index, body, now_ms);
    json_decref(body);
    return rc;
}

static int route(sim_reply *reply, sim_world *world, size_t org_index, const sim_request *req,
                 const sim_faults *f, int64_t now_ms)
{
    static const char queues[] = "/api/v2/routing/queues/";
    static const char ivrs[] = "/api/v2/architect/ivrs/";
    static const char strategies[] = "/api/v2/routing/strategies";
    static const char datatables[] = "/api/v2/flows/datatables/";
    sim_org *org = &world->orgs[org_index];
    const char *p = req->path;
    int get = strcmp(req->method, "GET") == 0;

    if (strncmp(p, "/incontactapi/services/v", 24) == 0 && strchr(p + 24, '/') != NULL) {
        if (!org->cxone)
            return sim_reply_error(reply, 404, "not.found", "no such resource: %s", p);
        return sim_cxone_route(reply, world, org_index, strchr(p + 24, '/'), req, now_ms);
    }
    if (org->cxone)
        return sim_reply_error(reply, 404, "not.found", "a CXone brand has no %s", p);
    if (strcmp(p, "/api/v2/organizations/me") == 0 && get)
        return org_me(reply, org);
    if (strcmp(p, "/api/v2/analytics/conversations/aggregates/query") == 0)
        return query(reply, world, org_index, req, now_ms, 1);
    if (strcmp(p, "/api/v2/analytics/queues/observations/query") == 0)
        return query(reply, world, org_index, req, now_ms, 0);
    if (strncmp(p, queues, sizeof(queues) - 1) == 0 && p[sizeof(queues) - 1] && get &&
        !strchr(p + sizeof(queues) - 1, '/'))
        return get_queue(reply, org, p + sizeof(queues) - 1);
    if (strncmp(p, datatables, sizeof(datatables) - 1) == 0)
        return sim_datatable_route(reply, org, p + sizeof(datatables) - 1, req, now_ms);
    if (strncmp(p, ivrs, sizeof(ivrs) - 1) == 0)
        return sim_ivr_route(reply, org, p + sizeof(ivrs) - 1, req, f, now_ms);
    /* The seed article's model, kept as a simulator mode; the real API has no strategies. */
    if (strcmp(p, strategies) == 0 && get)
        return list_strategies(reply, org, req);
    if (strncmp(p, strategies, sizeof(strategies) - 1) == 0 && p[sizeof(strategies) - 1] == '/' &&
        p[sizeof(strategies)] && !strchr(p + sizeof(strategies), '/'))
        return strategy(reply, org, p + sizeof(strategies), req, now_ms);
    return sim_reply_error(reply, 404, "not.found", "no such resource: %s %s", req->method, p);
}

static const char *error_code(int status)
{
    switch (status) {
    case 400: return "bad.request";
    case 401: return "bad.credentials";
    case 403: return "missing.permissions";
    case 404: return "not.found";
    case 408: return "request.timeout";
    case 429: return "too.many.requests.retry.after";
    case 502: return "bad.gateway";
    case 503: return "service.unavailable";
    case 504: return "gateway.timeout";
    default: return status >= 500 ? "internal.server.error" : "bad.request";
    }
}

/* Faults apply after authentication and budget, so every reply still has the rate headers.
 * Each is drawn per request, for the requests its `*_on` scope names. */
static int apply_faults(sim_reply *reply, sim_server *server, const sim_faults *f,
                        const sim_request *req)
{
    if (f->reset_rate > 0 && sim_fault_applies(f->reset_on, req->method, req->path) &&
        sim_fault_draw(server) < f->reset_rate) {
        reply->close = 1;
        reply->status = 0;
        return 1;
    }
    if (f->latency_ms > 0 && sim_fault_applies(f->latency_on, req->method, req->path))
        usleep((useconds_t)(f->latency_ms * 1000));
    if (f->error_rate > 0 && sim_fault_applies(f->error_on, req->method, req->path) &&
        sim_fault_draw(server) < f->error_rate) {
        int status = f->error_status ? f->error_status : 503;
        sim_reply_error(reply, status, error_code(status), "injected fault: status %d", status);
        return 1;
    }
    return 0;
}

int sim_api_handle(sim_reply *reply, sim_server *server, sim_world *world, const sim_request *req,
                   int64_t now_ms)
{
    const char *auth = req->header(req->conn, "Authorization");
    const char *token = auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
    size_t org_index = 0;
    sim_faults f;
    int64_t allowed, window;
    int rc;

    pthread_mutex_lock(&server->faults_lock);
    f = server->faults;
    pthread_mutex_unlock(&server->faults_lock);
    allowed = f.rate_limit > 0 ? f.rate_limit : world->rate_allowed;
    window = f.rate_window_s > 0 ? f.rate_window_s : world->rate_window_s;
    if (token == NULL || sim_token_find(&org_index, world, token, now_ms) < 0) {
        reply->rate_headers = 1;
        reply->rate_allowed = allowed;
        reply->rate_reset = window;
        return sim_reply_error(reply, 401, "bad.credentials",
                               "Invalid login credentials: the token is missing, unknown or "
                               "expired");
    }
    reply->org_slot = org_index + 1;
    if (!sim_token_charge(reply, &world->orgs[org_index], token, allowed, window, now_ms)) {
        reply->retry_after = (int)reply->rate_reset;
        return sim_reply_error(reply, 429, "too.many.requests.retry.after",
                               "Rate limit exceeded the maximum. Retry the request in [%d] "
                               "seconds",
                               reply->retry_after);
    }
    if (apply_faults(reply, server, &f, req))
        return 0;
    if (strncmp(req->path, "/api/v2/analytics/", 18) == 0)
        sim_querylog_add(&server->queries, world->orgs[org_index].id, req->path, req->body,
                         req->body_len, now_ms);
    if (sim_query_over_limit(reply, &f, req))
        return 0;
    if ((rc = route(reply, world, org_index, req, &f, now_ms)) < 0 ||
        (reply->written == NULL && reply->written_row == NULL))
        return rc;
    /* After the commit: the write stands, the client does not learn it (no reply, a reset,
     * or a gateway error instead of the 200). */
    if (f.apply_drop_rate > 0 && sim_fault_draw(server) < f.apply_drop_rate)
        reply->close = 1;
    else if (f.apply_reset_rate > 0 && sim_fault_draw(server) < f.apply_reset_rate)
        reply->close = 2;
    else if (f.apply_error_rate > 0 && sim_fault_draw(server) < f.apply_error_rate) {
        int status = f.error_status >= 500 ? f.error_status : 504;
        reply->etag[0] = '\0';
        rc = sim_reply_error(reply, status, error_code(status),
                             "injected fault after the commit: status %d", status);
    }
    reply->write_hidden = reply->close != 0 || reply->status != 200;
    return rc;
}
