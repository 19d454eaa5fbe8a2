/* cxone.c - NICE CXone brands beside Genesys Cloud organizations: the brand's descriptor,
 * its four secrets, the password-grant token, discovery of the API base, and a per-brand
 * request budget (docs/cxone.md says which of this rests on verified facts) */
#include <stdlib.h>
#include <string.h>

#include "platform/client.h"

#define TOKEN_PATH "/auth/token"
#define DISCOVERY_PATH "/.well-known/cxone-configuration?tenantId="
#define API_PATH "/incontactapi/services/"
#define MAX_TOKEN 8192

/* "cxone:<version>:<budget per minute>:<weight-store field>:<weight-store skill or
 * empty>:<discovery URL>", as config/ makes it from the manifest's CXone settings. */
int rg_platform__cxone_org(rg_org *org, const rg_platform_org *desc, int insecure)
{
    const char *s = desc->api_url + 6, *c1, *c2, *c3, *c4;
    char budget[24];
    int64_t n;
    size_t vlen;
    int error;

    if ((c1 = strchr(s, ':')) == NULL || (c2 = strchr(c1 + 1, ':')) == NULL ||
        (c3 = strchr(c2 + 1, ':')) == NULL || (c4 = strchr(c3 + 1, ':')) == NULL)
        return rg_error_set(RG_EINVALID,
                            "brand %s: CXone descriptor must be "
                            "cxone:VERSION:BUDGET:FIELD:STORE:DISCOVERY_URL",
                            desc->id);
    if ((size_t)(c4 - c3 - 1) > 64 || strspn(c3 + 1, "0123456789") != (size_t)(c4 - c3 - 1))
        return rg_error_set(RG_EINVALID, "brand %s: CXone weight-store skill must be digits",
                            desc->id);
    vlen = (size_t)(c1 - s);
    if (vlen < 2 || vlen > 16 || s[0] != 'v' || strspn(s + 1, "0123456789.") != vlen - 1)
        return rg_error_set(RG_EINVALID, "brand %s: CXone API version must look like v31.0",
                            desc->id);
    if ((size_t)(c2 - c1 - 1) >= sizeof(budget))
        return rg_error_set(RG_EINVALID, "brand %s: CXone rate budget is not a number", desc->id);
    memcpy(budget, c1 + 1, (size_t)(c2 - c1 - 1));
    budget[c2 - c1 - 1] = '\0';
    if (rg_parse_int64(&n, budget, 1, 100000) < 0)
        return rg_error_set(RG_EINVALID,
                            "brand %s: CXone rate budget must be 1..100000 requests a minute",
                            desc->id);
    if (c3 == c2 + 1 || (size_t)(c3 - c2 - 1) > 64)
        return rg_error_set(RG_EINVALID, "brand %s: CXone weight-store field empty or too long",
                            desc->id);
    org->cxone = 1;
    org->cxone_budget = n;
    if ((org->cxone_version = rg_strndup(s, vlen)) == NULL ||
        (org->cxone_field = rg_strndup(c2 + 1, (size_t)(c3 - c2 - 1))) == NULL ||
        (c4 > c3 + 1 && (org->cxone_store = rg_strndup(c3 + 1, (size_t)(c4 - c3 - 1))) == NULL))
        return rg_error_set(RG_ENOMEM, "out of memory");
    if ((error = rg_platform__url_check(&org->discovery_url, c4 + 1, "discovery URL", desc->id,
                                        insecure)) < 0)
        return error;
    return 0;
}

void rg_platform__cxone_org_free(rg_org *org)
{
    free(org->cxone_version);
    free(org->cxone_field);
    free(org->cxone_store);
    free(org->discovery_url);
    rg_platform__wipe_free(org->access_key_id);
    rg_platform__wipe_free(org->access_key_secret);
}

int rg_platform__cxone_credentials(rg_platform *p, rg_org *org, const char *source)
{
    int error;

    if ((error = rg_platform__load_credentials(p, &org->client_id, &org->client_secret, org->id,
                                               source)) < 0)
        return error;
    return rg_platform__load_access_key(p, &org->access_key_id, &org->access_key_secret, org->id,
                                        source);
}

/* Form-encodes `s` into `out` (RFC 3986 unreserved kept); out is wiped by the caller. */
static int form_escape(rg_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~';
        if (plain ? rg_buf_put(out, (const char *)&c, 1) < 0
                  : rg_buf_printf(out, "%%%c%c", hex[c >> 4], hex[c & 15]) < 0)
            return rg_error_set(RG_ENOMEM, "out of memory");
    }
    return 0;
}

int rg_platform__cxone_token_request(rg_platform_op *op)
{
    rg_org *org = op->org;
    rg_buf body = RG_BUF_INIT;
    char *copy;
    int error;

    free(op->call);
    if ((op->call = rg_strdup("POST auth token")) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    op->cxone_step = 0;
    if (rg_buf_puts(&body, "grant_type=password&username=") < 0 ||
        form_escape(&body, org->access_key_id) < 0 || rg_buf_puts(&body, "&password=") < 0 ||
        form_escape(&body, org->access_key_secret) < 0 || (copy = rg_strdup(body.ptr)) == NULL) {
        if (body.ptr != NULL)
            explicit_bzero(body.ptr, body.len);
        rg_buf_dispose(&body);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    explicit_bzero(body.ptr, body.len);
    rg_buf_dispose(&body);
    if ((error = rg_platform__op_set_request(op, "POST", org->login_url, TOKEN_PATH, copy)) < 0) {
        explicit_bzero(copy, strlen(copy));
        free(copy);
    }
    return error;
}

/* The OAuth "error" code of a refusal, quoted only when it is [a-z_]{1,64} and no part of
 * the brand's secrets (the endpoint's text may echo the request). */
static const char *refusal_code(const json_t *body, const rg_org *org)
{
    const json_t *err = json_object_get(body, "error");
    const char *e = json_is_string(err) ? json_string_value(err) : NULL;
    const char *secrets[] = {org->client_id, org->client_secret, org->access_key_id,
                             org->access_key_secret};
    size_t n;

    if (e == NULL)
        return "no error code";
    n = strlen(e);
    if (n == 0 || n > 64 || strspn(e, "abcdefghijklmnopqrstuvwxyz_") != n)
        return "an error that is not an OAuth error code, not shown";
    for (size_t i = 0; i < 4; i++)
        if (secrets[i] != NULL && (strstr(secrets[i], e) != NULL || strstr(e, secrets[i]) != NULL))
            return "an error that is not an OAuth error code, not shown";
    return e;
}

static void wipe_string_field(json_t *body, const char *name)
{
    json_t *v = json_object_get(body, name);
    if (json_is_string(v))
        explicit_bzero((char *)json_string_value(v), json_string_length(v));
}

int rg_platform__cxone_auth_parse(char *tenant, size_t tenant_len, const json_t *body)
{
    json_t *tok = json_object_get(body, "access_token"), *exp = json_object_get(body, "expires_in");
    json_t *idt = json_object_get(body, "id_token");

    if (!json_is_object(body))
        return rg_error_set(RG_EINVALID, "reply is not a JSON object");
    if (!json_is_string(tok) || json_string_length(tok) == 0 || json_string_length(tok) > MAX_TOKEN)
        return rg_error_set(RG_EINVALID,
                            "reply field access_token missing, empty, too long or not a string");
    if (!json_is_integer(exp) || json_integer_value(exp) <= 0 ||
        json_integer_value(exp) > 10LL * 365 * 86400)
        return rg_error_set(RG_EINVALID,
                            "reply field expires_in missing or not a positive integer of seconds");
    if (!json_is_string(idt))
        return rg_error_set(RG_EINVALID, "reply field id_token missing or not a string");
    if (rg_platform__cxone_tenant(tenant, tenant_len, json_string_value(idt)) < 0)
        return rg_error_prefix("reply field id_token");
    return 0;
}

static void auth_reply(rg_platform_op *op, long status, json_t *body)
{
    rg_org *org = op->org;
    json_t *tok = json_object_get(body, "access_token"), *exp = json_object_get(body, "expires_in");
    char tenant[129];
    rg_buf path = RG_BUF_INIT;
    char *escaped = NULL;

    if (status == 400 || status == 401 || status == 403) {
        rg_platform__op_fail(op, RG_EAUTH, "brand %s: %s: credentials refused (HTTP %ld, %.64s)",
                             op->org_id, op->call, status, refusal_code(body, org));
        return;
    }
    if (status != 200) {
        rg_platform__op_fail(op, RG_EPLATFORM, "brand %s: %s: HTTP %ld (%.64s)", op->org_id,
                             op->call, status, refusal_code(body, org));
        return;
    }
    if (rg_platform__cxone_auth_parse(tenant, sizeof(tenant), body) < 0) {
        rg_platform__op_fail(op, RG_EPLATFORM, "brand %s: %s: %s", op->org_id, op->call,
                             rg_error_last());
        return;
    }
    if (strcmp(tenant, org->id) != 0) {
        rg_platform__op_fail(op, RG_ECONFLICT,
                             "brand %s: %s: the credentials reach tenant %.128s, not this brand",
                             op->org_id, op->call, tenant);
        return;
    }
    if (org->api_url != NULL) { /* discovered earlier in this client */
        rg_platform__token_accept(op, json_string_value(tok), (int64_t)json_integer_value(exp));
        return;
    }
    /* Keep the token until discovery gives the API base it is for. */
    rg_platform__wipe_free(op->cxone_token);
    op->cxone_expires_in = (int64_t)json_integer_value(exp);
    if ((op->cxone_token = rg_strdup(json_string_value(tok))) == NULL ||
        (escaped = curl_easy_escape(NULL, org->id, 0)) == NULL ||
        rg_buf_printf(&path, DISCOVERY_PATH "%s", escaped) < 0) {
        curl_free(escaped);
        rg_buf_dispose(&path);
        rg_platform__op_fail(op, RG_ENOMEM, "brand %s: %s: out of memory", op->org_id, op->call);
        return;
    }
    curl_free(escaped);
    explicit_bzero(op->req_body, strlen(op->req_body));
    if (rg_platform__op_set_request(op, "GET", org->discovery_url, path.ptr, NULL) < 0) {
        rg_buf_dispose(&path);
        rg_platform__op_fail(op, RG_ENOMEM, "brand %s: %s: out of memory", op->org_id, op->call);
        return;
    }
    rg_buf_dispose(&path);
    free(op->call);
    op->call = rg_strdup("GET cxone-configuration");
    op->cxone_step = 1;
    rg_platform__op_requeue(op, 0);
}

/* area: a short host label ([a-z0-9-]{1,32}); api_endpoint: an http(s) URL the client's
 * TLS and loopback rules accept. */
int rg_platform__cxone_discovery_parse(rg_buf *out, const json_t *body, const char *brand,
                                       const char *version, int insecure)
{
    json_t *ep = json_object_get(body, "api_endpoint"), *area = json_object_get(body, "area");
    char *base = NULL;
    size_t n;
    int error;

    if (!json_is_object(body))
        return rg_error_set(RG_EINVALID, "reply is not a JSON object");
    n = json_is_string(area) ? json_string_length(area) : 0;
    if (n == 0 || n > 32 ||
        strspn(json_string_value(area), "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
        return rg_error_set(RG_EINVALID, "reply field area missing or not a short lower-case name");
    if (!json_is_string(ep) || json_string_length(ep) > 512)
        return rg_error_set(RG_EINVALID,
                            "reply field api_endpoint missing, too long or not a string");
    if ((error = rg_platform__url_check(&base, json_string_value(ep), "api_endpoint", brand,
                                        insecure)) < 0)
        return rg_error_prefix("reply field api_endpoint");
    error = rg_buf_printf(out, "%s" API_PATH "%s", base, version) < 0
                ? rg_error_set(RG_ENOMEM, "out of memory")
                : 0;
    free(base);
    return error;
}

static void discovery_reply(rg_platform_op *op, long status, json_t *body)
{
    rg_org *org = op->org;
    json_t *area = json_object_get(body, "area");
    rg_buf url = RG_BUF_INIT;

    if (status != 200) {
        rg_platform__op_fail(op, RG_EPLATFORM, "brand %s: %s: HTTP %ld", op->org_id, op->call,
                             status);
        return;
    }
    if (rg_platform__cxone_discovery_parse(&url, body, org->id, org->cxone_version,
                                           op->platform != NULL && op->platform->opts.insecure) <
        0) {
        rg_buf_dispose(&url);
        rg_platform__op_fail(op, RG_EPLATFORM, "brand %s: %s: %s", op->org_id, op->call,
                             rg_error_last());
        return;
    }
    free(org->api_url);
    org->api_url = rg_buf_detach(&url);
    rg_log(RG_LOG_DEBUG, RG_PLATFORM_COMPONENT, "brand %s: area %s, API base %s", org->id,
           json_string_value(area), org->api_url ? org->api_url : "?");
    rg_platform__token_accept(op, op->cxone_token, op->cxone_expires_in);
}

void rg_platform__cxone_token_handle(rg_platform_op *op, long status, json_t *body)
{
    if (op->cxone_step == 0) {
        auth_reply(op, status, body);
        wipe_string_field(body, "access_token");
        wipe_string_field(body, "id_token");
        wipe_string_field(body, "refresh_token");
    } else {
        discovery_reply(op, status, body);
    }
}

int rg_platform__cxone_request(rg_platform_op *op, const char *method, const char *rel_path,
                               char *body)
{
    char *copy = rg_strdup(rel_path);

    if (copy == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    free(op->rel_path);
    free(op->url);
    free(op->req_body);
    op->rel_path = copy;
    op->url = NULL;
    op->method = method;
    op->req_body = body;
    op->transient_failures = 0;
    op->retried_401 = 0;
    return 0;
}

int rg_platform__cxone_url(rg_platform_op *op)
{
    rg_buf url = RG_BUF_INIT;

    if (op->org->api_url == NULL)
        return rg_error_set(RG_EPLATFORM, "brand %s: the API base is not discovered yet",
                            op->org_id);
    if (rg_buf_printf(&url, "%s%s", op->org->api_url, op->rel_path) < 0)
        return rg_error_set(RG_ENOMEM, "out of memory");
    op->url = rg_buf_detach(&url);
    return op->url != NULL ? 0 : rg_error_set(RG_ENOMEM, "out of memory");
}

int rg_platform__cxone_admit(rg_org *org, int64_t now, int64_t *wake)
{
    if (org->cxone_window_at == 0 || now >= org->cxone_window_at + 60000) {
        org->cxone_window_at = now;
        org->cxone_window_sent = 0;
    }
    if (org->cxone_window_sent >= org->cxone_budget) {
        if (org->cxone_window_at + 60000 < *wake)
            *wake = org->cxone_window_at + 60000;
        return 0;
    }
    org->cxone_window_sent++;
    return 1;
}
