/* cxone.c - the simulator speaking NICE CXone for orgs marked "driver": "cxone": the
 * password-grant token with an id_token naming the tenant, discovery, skills (the org's
 * queues), the weight store (the routing data table served as a JSON document in one field
 * of a skill whose id is the table's), and skill summaries from the same telemetry model */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim/sim.h"

static int oauth_error(sim_reply *reply, int status, const char *error)
{
    return sim_reply_json(reply, status, json_pack("{s:s}", "error", error));
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The form field `name`, percent- and '+'-decoded into out; 0 when absent or too long. */
static int form_field(char *out, size_t outlen, const char *form, const char *name)
{
    size_t nlen = strlen(name);

    for (const char *p = form; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p), o = 0;
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            for (size_t i = nlen + 1; i < len; i++) {
                char c = p[i];
                if (c == '%' && i + 2 < len + 1 && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
                    c = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
                    i += 2;
                } else if (c == '+') {
                    c = ' ';
                }
                if (o + 1 >= outlen)
                    return 0;
                out[o++] = c;
            }
            out[o] = '\0';
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

static void b64url(rg_buf *out, const char *in, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        size_t k = n - i;
        if (k > 1)
            v |= (uint32_t)(unsigned char)in[i + 1] << 8;
        if (k > 2)
            v |= (uint32_t)(unsigned char)in[i + 2];
        rg_buf_printf(out, "%c%c", a[(v >> 18) & 63], a[(v >> 12) & 63]);
        if (k > 1)
            rg_buf_printf(out, "%c", a[(v >> 6) & 63]);
        if (k > 2)
            rg_buf_printf(out, "%c", a[v & 63]);
    }
}

static int secret_eq(const char *a, const char *b)
{
    size_t n = strlen(a);
    return strlen(b) == n && rg_consttime_eq(a, b, n);
}

int sim_cxone_token(sim_reply *reply, sim_world *world, const sim_request *req,
                    const sim_faults *faults, int64_t now_ms)
{
    const char *auth = req->header(req->conn, "Authorization");
    char creds[512], grant[32], user[256], pass[256], token[64];
    int64_t ttl = faults->token_ttl_s > 0 ? faults->token_ttl_s : world->token_ttl_s;
    char *colon;
    int rc;

    if (strcmp(req->method, "POST") != 0)
        return oauth_error(reply, 400, "invalid_request");
    if (!form_field(grant, sizeof(grant), req->body, "grant_type") ||
        strcmp(grant, "password") != 0)
        return oauth_error(reply, 400, "unsupported_grant_type");
    if (!form_field(user, sizeof(user), req->body, "username") ||
        !form_field(pass, sizeof(pass), req->body, "password"))
        return oauth_error(reply, 400, "invalid_request");
    if (auth == NULL || strncasecmp(auth, "Basic ", 6) != 0 ||
        sim_base64_decode(creds, sizeof(creds), auth + 6) < 0 ||
        (colon = strchr(creds, ':')) == NULL)
        return oauth_error(reply, 401, "invalid_client");
    *colon = '\0';
    for (size_t i = 0; i < world->norgs; i++) {
        sim_org *org = &world->orgs[i];
        rg_buf idt = RG_BUF_INIT;
        char *payload;
        if (!org->cxone || strcmp(org->access_key_id, user) != 0)
            continue;
        if (!secret_eq(org->access_key_secret, pass))
            break;
        if (strcmp(org->client_id, creds) != 0 || !secret_eq(org->client_secret, colon + 1))
            return oauth_error(reply, 401, "invalid_client");
        if ((rc = sim_token_issue(token, sizeof(token), org, i, ttl, now_ms)) < 0)
            return rc;
        reply->org_slot = i + 1;
        if ((payload = json_dumps(json_pack("{s:s,s:s}", "tenantId", org->id, "iss", "sim"),
                                  JSON_COMPACT)) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        rg_buf_puts(&idt, "eyJhbGciOiJub25lIn0.");
        b64url(&idt, payload, strlen(payload));
        rg_buf_puts(&idt, ".c2lt");
        free(payload);
        rc = sim_reply_json(reply, 200,
                            json_pack("{s:s,s:s,s:I,s:s,s:s}", "access_token", token, "token_type",
                                      "bearer", "expires_in", (json_int_t)ttl, "id_token",
                                      rg_buf_cstr(&idt), "refresh_token", "sim-refresh"));
        rg_buf_dispose(&idt);
        return rc;
    }
    return oauth_error(reply, 400, "invalid_grant");
}

int sim_cxone_discovery(sim_reply *reply, sim_world *world, const sim_request *req)
{
    const char *tenant = req->query(req->conn, "tenantId");
    const char *host = req->header(req->conn, "Host");
    char ep[300];

    if (strcmp(req->method, "GET") != 0)
        return sim_reply_error(reply, 405, "method.not.allowed", "discovery takes GET");
    for (size_t i = 0; tenant && host && i < world->norgs; i++) {
        if (!world->orgs[i].cxone || strcmp(world->orgs[i].id, tenant) != 0)
            continue;
        reply->org_slot = i + 1;
        snprintf(ep, sizeof(ep), "http://%s", host);
        return sim_reply_json(
            reply, 200,
            json_pack("{s:s,s:s,s:s}", "area", "sim", "api_endpoint", ep, "ui_endpoint", ep));
    }
    return sim_reply_error(reply, 404, "not.found", "no such tenant");
}

/* An id of digits goes out as a number, as the API's skillId is. */
static json_t *skill_id_json(const char *id)
{
    int64_t n;
    if (rg_parse_int64(&n, id, 0, INT64_MAX) == 0)
        return json_integer((json_int_t)n);
    return json_string(id);
}

/* The store document: {row key: fields without "key"}. Caller holds org->lock. */
static json_t *store_json(const sim_datatable *t)
{
    json_t *doc = json_object();
    for (size_t i = 0; doc && i < t->nrows; i++) {
        json_t *f = json_deep_copy(t->rows[i].fields);
        const char *key = json_string_value(json_object_get(t->rows[i].fields, "key"));
        json_object_del(f, "key");
        json_object_set_new(doc, key ? key : "", f);
    }
    return doc;
}

static json_t *skill_json(const sim_org *org, const char *id)
{
    int q = sim_org_queue_index(org, id);
    json_t *s = json_pack("{s:o,s:s,s:i,s:s,s:b}", "skillId", skill_id_json(id), "skillName",
                          q >= 0 ? org->queues[q].name : id, "mediaTypeId", 4, "mediaTypeName",
                          "Phone Call", "isActive", 1);
    const sim_datatable *t = org->route.table;

    if (s != NULL && q >= 0 && org->queues[q].skill != NULL)
        json_object_update(s, org->queues[q].skill);
    if (s != NULL && t != NULL && strcmp(t->id, id) == 0) {
        json_t *doc = store_json(t);
        char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
        json_object_set_new(s, org->weight_field, json_string(text ? text : "{}"));
        free(text);
        json_decref(doc);
    }
    return s;
}

static int is_skill(const sim_org *org, const char *id)
{
    return sim_org_queue_index(org, id) >= 0 ||
           (org->route.table != NULL && strcmp(org->route.table->id, id) == 0);
}

/* PUT of the store skill: the rows of the document replace the table's rows of the same
 * keys (every row checked first; an unknown key is refused: the store creates nothing). */
static int put_store(sim_reply *reply, sim_org *org, json_t *body, int64_t now_ms)
{
    sim_datatable *t = org->route.table;
    json_t *text = json_object_get(body, org->weight_field), *doc, *fields;
    const char *key;
    int rc = 0;

    if (!json_is_string(text))
        return sim_reply_error(reply, 400, "bad.request", "%s must be a string", org->weight_field);
    doc = json_loads(json_string_value(text), JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return sim_reply_error(reply, 400, "bad.request", "%s is not a JSON object",
                               org->weight_field);
    }
    json_object_foreach(doc, key, fields)
    {
        json_t *row = json_deep_copy(fields);
        if (!json_is_object(fields) || sim_datatable_row(t, key) == NULL ||
            json_object_set_new(row, "key", json_string(key)) < 0 ||
            sim_datatable_check(t, row, key, 0) < 0) {
            json_decref(row);
            json_decref(doc);
            return sim_reply_error(reply, 400, "bad.request", "row '%s': %s", key,
                                   sim_datatable_row(t, key) ? rg_error_last() : "no such row");
        }
        json_decref(row);
    }
    json_object_foreach(doc, key, fields)
    {
        sim_row *r = sim_datatable_row(t, key);
        json_t *row = json_deep_copy(fields);
        json_object_set_new(row, "key", json_string(key));
        if (!json_equal(row, r->fields)) {
            rc = sim_row_write(org, t, r, row, 0, "api", now_ms);
            if (r == org->route.row)
                reply->written_row = r;
        }
        json_decref(row);
        if (rc < 0)
            break;
    }
    json_decref(doc);
    if (rc < 0)
        return sim_reply_error(reply, 400, "bad.request", "%s", rg_error_last());
    return sim_reply_json(reply, 200, json_pack("{s:b}", "success", 1));
}

/* PUT of a skill's settings: every field but skillId is kept (skillId must match). The
 * simulator's telemetry does not depend on them. Caller holds org->lock. */
static int put_skill(sim_reply *reply, sim_org *org, int q, json_t *body)
{
    json_t *id = json_object_get(body, "skillId"), *want = skill_id_json(org->queues[q].id), *next;
    int same = id == NULL || json_equal(id, want);

    json_decref(want);
    if (!same)
        return sim_reply_error(reply, 400, "bad.request", "skillId does not match the path");
    if ((next = org->queues[q].skill ? json_deep_copy(org->queues[q].skill) : json_object()) ==
            NULL ||
        json_object_update(next, body) < 0) {
        json_decref(next);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    json_object_del(next, "skillId");
    json_decref(org->queues[q].skill);
    org->queues[q].skill = next;
    return sim_reply_json(reply, 200, json_pack("{s:b}", "success", 1));
}

static int skills_summary(sim_reply *reply, sim_world *world, size_t org_index,
                          const sim_request *req)
{
    const char *from = req->query(req->conn, "startDate"), *to = req->query(req->conn, "endDate");
    sim_org *org = &world->orgs[org_index];
    int64_t start, end;
    sim_tele_ctx ctx;
    json_t *list;

    if (from == NULL || to == NULL || rg_time_parse(&start, from) < 0 ||
        rg_time_parse(&end, to) < 0 || end <= start)
        return sim_reply_error(reply, 400, "bad.request",
                               "startDate and endDate must be ISO-8601 times, start < end");
    if (sim_tele_snapshot(&ctx, world, org_index) < 0) {
        sim_tele_dispose(&ctx);
        return -1;
    }
    list = json_array();
    for (size_t q = 0; list && q < org->nqueues; q++) {
        sim_stat st[SIM_M_COUNT];
        int64_t agents, busy, waiting;
        char asa[32], aht[32];
        double asa_s, aht_s;
        sim_tele_bucket(st, &ctx, q, start, end);
        sim_tele_observe(&agents, &busy, &waiting, &ctx, q, end);
        asa_s = st[SIM_M_ANSWERED].count
                    ? (double)st[SIM_M_ANSWERED].sum / (double)st[SIM_M_ANSWERED].count / 1000.0
                    : 0;
        aht_s = st[SIM_M_HANDLE].count
                    ? (double)st[SIM_M_HANDLE].sum / (double)st[SIM_M_HANDLE].count / 1000.0
                    : 0;
        snprintf(asa, sizeof(asa), "%.3f", asa_s);
        snprintf(aht, sizeof(aht), "%02d:%02d:%02d", (int)(aht_s / 3600), (int)(aht_s / 60) % 60,
                 (int)aht_s % 60);
        json_array_append_new(
            list,
            json_pack("{s:o,s:s,s:I,s:I,s:I,s:s,s:s,s:I,s:I,s:I}", "skillId",
                      skill_id_json(org->queues[q].id), "skillName", org->queues[q].name,
                      "contactsOffered", (json_int_t)st[SIM_M_OFFERED].count, "abandonCount",
                      (json_int_t)st[SIM_M_ABANDON].count, "contactsHandled",
                      (json_int_t)st[SIM_M_ANSWERED].count, "averageSpeedToAnswer", asa,
                      "averageHandleTime", aht, "agentsLoggedIn", (json_int_t)agents,
                      "agentsWorking", (json_int_t)busy, "contactsQueued", (json_int_t)waiting));
    }
    sim_tele_dispose(&ctx);
    if (list == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    return sim_reply_json(reply, 200, json_pack("{s:o}", "skillSummaries", list));
}

int sim_cxone_route(sim_reply *reply, sim_world *world, size_t org_index, const char *rest,
                    const sim_request *req, int64_t now_ms)
{
    sim_org *org = &world->orgs[org_index];
    int get = strcmp(req->method, "GET") == 0, put = strcmp(req->method, "PUT") == 0;
    const char *id;
    json_t *body = NULL;
    int rc;

    if (strcmp(rest, "/skills/summary") == 0 && get)
        return skills_summary(reply, world, org_index, req);
    if (strcmp(rest, "/skills") == 0 && get) {
        json_t *list = json_array();
        pthread_mutex_lock(&org->lock);
        for (size_t q = 0; list && q < org->nqueues; q++)
            json_array_append_new(list, skill_json(org, org->queues[q].id));
        pthread_mutex_unlock(&org->lock);
        return sim_reply_json(reply, 200, json_pack("{s:o}", "skills", list));
    }
    if (strncmp(rest, "/skills/", 8) != 0 || strchr(rest + 8, '/') != NULL || rest[8] == '\0')
        return sim_reply_error(reply, 404, "not.found", "no such resource: %s %s", req->method,
                               rest);
    id = rest + 8;
    if (!is_skill(org, id))
        return sim_reply_error(reply, 404, "not.found", "skill %s not found", id);
    if (!get && !put)
        return sim_reply_error(reply, 405, "method.not.allowed", "%s is not allowed here",
                               req->method);
    if (put) {
        int q = sim_org_queue_index(org, id);
        if (sim__json_load(&body, req->body, req->body_len, "body") < 0 || !json_is_object(body)) {
            json_decref(body);
            return sim_reply_error(reply, 400, "bad.request", "the body is not a JSON object");
        }
        pthread_mutex_lock(&org->lock);
        rc = q >= 0 ? put_skill(reply, org, q, body) : put_store(reply, org, body, now_ms);
        pthread_mutex_unlock(&org->lock);
        json_decref(body);
        return rc;
    }
    pthread_mutex_lock(&org->lock);
    rc = sim_reply_json(reply, 200, json_pack("{s:[o]}", "skills", skill_json(org, id)));
    pthread_mutex_unlock(&org->lock);
    return rc;
}
