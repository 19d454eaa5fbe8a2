/* registry.c - the tenants' platform connections kept by the server's owner: a strictly
 * validated 0600 JSON file {"tenants":{T:{"webhook_secret":S,"orgs":{O:{"region",
 * "credentials"[,"api_url","login_url"]}}}}}, rewritten atomically */
#include <stdlib.h>
#include <string.h>

#include "rollgate/registry.h"
#include "rollgate/util.h"

#define REGISTRY_MAX_BYTES (4 * 1024 * 1024)
#define ID_MAX 128

struct rg_registry {
    json_t *doc;
};

/* Genesys Cloud regions: API host api.<domain>, login host login.<domain>. */
static const struct {
    const char *region, *api, *login;
} regions[] = {
    {"us-east-1", "https://api.mypurecloud.com", "https://login.mypurecloud.com"},
    {"us-east-2", "https://api.use2.us-gov-pure.cloud", "https://login.use2.us-gov-pure.cloud"},
    {"us-west-2", "https://api.usw2.pure.cloud", "https://login.usw2.pure.cloud"},
    {"ca-central-1", "https://api.cac1.pure.cloud", "https://login.cac1.pure.cloud"},
    {"sa-east-1", "https://api.sae1.pure.cloud", "https://login.sae1.pure.cloud"},
    {"eu-west-1", "https://api.mypurecloud.ie", "https://login.mypurecloud.ie"},
    {"eu-west-2", "https://api.euw2.pure.cloud", "https://login.euw2.pure.cloud"},
    {"eu-central-1", "https://api.mypurecloud.de", "https://login.mypurecloud.de"},
    {"eu-central-2", "https://api.euc2.pure.cloud", "https://login.euc2.pure.cloud"},
    {"me-central-1", "https://api.mec1.pure.cloud", "https://login.mec1.pure.cloud"},
    {"ap-south-1", "https://api.aps1.pure.cloud", "https://login.aps1.pure.cloud"},
    {"ap-northeast-1", "https://api.mypurecloud.jp", "https://login.mypurecloud.jp"},
    {"ap-northeast-2", "https://api.apne2.pure.cloud", "https://login.apne2.pure.cloud"},
    {"ap-northeast-3", "https://api.apne3.pure.cloud", "https://login.apne3.pure.cloud"},
    {"ap-southeast-2", "https://api.mypurecloud.com.au", "https://login.mypurecloud.com.au"},
};

int rg_registry_region_urls(const char **api_url, const char **login_url, const char *region)
{
    rg_buf list = RG_BUF_INIT;
    int rc;

    for (size_t i = 0; region && i < sizeof(regions) / sizeof(regions[0]); i++)
        if (strcmp(region, regions[i].region) == 0) {
            *api_url = regions[i].api;
            *login_url = regions[i].login;
            return 0;
        }
    for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
        rg_buf_printf(&list, "%s%s", i ? ", " : "", regions[i].region);
    rc = rg_error_set(RG_EINVALID,
                      "region '%.64s': expected a Genesys Cloud region (%s) or "
                      "loopback (tests)",
                      region ? region : "", rg_buf_cstr(&list));
    rg_buf_dispose(&list);
    return rc;
}

static int valid_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c == '_' || c == '.' || c == ':' || c == '-' || (c >= '0' && c <= '9') ||
              (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return 0;
    }
    return 1;
}

/* An environment variable name: [A-Z_][A-Z0-9_]{0,127}. */
static int valid_env_name(const char *s)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' || (i > 0 && s[i] >= '0' && s[i] <= '9')))
            return 0;
    return i > 0 && i <= 128;
}

/* "file:/ABSOLUTE/PATH" without NULs, control characters or "..": the owner's own path. */
static int valid_file_source(const char *s)
{
    const char *p = s + 5;
    if (strncmp(s, "file:", 5) != 0 || p[0] != '/' || strlen(p) > 4000 || strstr(p, "/../"))
        return 0;
    for (; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

static int valid_credentials(const char *s)
{
    return strcmp(s, "env") == 0 || (strncmp(s, "env:", 4) == 0 && valid_env_name(s + 4)) ||
           valid_file_source(s);
}

static int valid_webhook_source(const char *s)
{
    return (strncmp(s, "env:", 4) == 0 && valid_env_name(s + 4)) || valid_file_source(s);
}

/* http(s)://127.x.x.x[:port][/path], localhost or [::1]: loopback test platforms only. */
static int loopback_url(const char *url)
{
    const char *host = NULL, *end;
    if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    if (host == NULL || strchr(url, '?') || strchr(url, '#') || strchr(url, '@'))
        return 0;
    if (strncmp(host, "[::1]", 5) == 0)
        end = host + 5;
    else if (strncmp(host, "localhost", 9) == 0)
        end = host + 9;
    else if (strncmp(host, "127.", 4) == 0)
        end = host + strspn(host, "0123456789.");
    else
        return 0;
    if (*end == ':')
        end += 1 + strspn(end + 1, "0123456789");
    return *end == '\0' || *end == '/';
}

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static int only_keys(const json_t *obj, const char *const *keys, const char *path,
                     const char *where)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v)
    {
        size_t k = 0;
        while (keys[k] && strcmp(keys[k], key) != 0)
            k++;
        if (keys[k] == NULL)
            return rg_error_set(RG_EINVALID, "registry %s: %s: unknown key \"%.64s\"", path, where,
                                key);
        if (!json_is_string(v) && !json_is_object(v))
            return rg_error_set(RG_EINVALID, "registry %s: %s.%s: wrong type", path, where, key);
    }
    return 0;
}

static int check_org(const char *path, const char *tenant, const char *org, const json_t *e)
{
    static const char *const keys[] = {"region", "credentials", "api_url", "login_url", NULL};
    char where[300];
    const char *region = str(e, "region"), *cred = str(e, "credentials"), *a, *l;
    int rc;

    snprintf(where, sizeof(where), "tenants.%s.orgs.%s", tenant, org);
    if (!json_is_object(e))
        return rg_error_set(RG_EINVALID, "registry %s: %s: expected an object", path, where);
    if ((rc = only_keys(e, keys, path, where)) < 0)
        return rc;
    if (!valid_id(org))
        return rg_error_set(RG_EINVALID,
                            "registry %s: %s: the org id must match "
                            "[A-Za-z0-9_.:-]{1,128}",
                            path, where);
    if (cred == NULL || !valid_credentials(cred))
        return rg_error_set(RG_EINVALID,
                            "registry %s: %s.credentials: expected env, "
                            "env:PREFIX or file:/ABSOLUTE/PATH",
                            path, where);
    a = str(e, "api_url");
    l = str(e, "login_url");
    if (region && strcmp(region, RG_REGISTRY_LOOPBACK) == 0) {
        if (a == NULL || l == NULL || !loopback_url(a) || !loopback_url(l))
            return rg_error_set(RG_EINVALID,
                                "registry %s: %s: a loopback entry needs "
                                "api_url and login_url on a loopback host",
                                path, where);
        return 0;
    }
    if (a || l)
        return rg_error_set(RG_EINVALID,
                            "registry %s: %s: api_url and login_url come from "
                            "the region; only a loopback entry names its own",
                            path, where);
    if ((rc = rg_registry_region_urls(&a, &l, region)) < 0)
        return rg_error_prefix("registry %s: %s", path, where);
    return 0;
}

static int check_doc(const json_t *doc, const char *path)
{
    static const char *const tkeys[] = {"orgs", "webhook_secret", NULL};
    json_t *tenants = json_object_get(doc, "tenants"), *t, *orgs, *e, *seen = json_object();
    const char *tenant, *org, *key;
    json_t *v;
    int rc = 0;

    if (!json_is_object(doc) || !json_is_object(tenants)) {
        rc = rg_error_set(RG_EINVALID, "registry %s: expected {\"tenants\":{...}}", path);
        goto done;
    }
    json_object_foreach((json_t *)doc, key, v)
    {
        if (strcmp(key, "tenants") != 0) {
            rc = rg_error_set(RG_EINVALID, "registry %s: unknown key \"%.64s\"", path, key);
            goto done;
        }
    }
    json_object_foreach(tenants, tenant, t)
    {
        const char *hook = str(t, "webhook_secret");
        char where[200];
        snprintf(where, sizeof(where), "tenants.%.128s", tenant);
        if (!valid_id(tenant) || !json_is_object(t)) {
            rc = rg_error_set(RG_EINVALID,
                              "registry %s: %s: expected a tenant id mapping to "
                              "an object",
                              path, where);
            goto done;
        }
        if ((rc = only_keys(t, tkeys, path, where)) < 0)
            goto done;
        if (json_object_get(t, "webhook_secret") && (hook == NULL || !valid_webhook_source(hook))) {
            rc = rg_error_set(RG_EINVALID,
                              "registry %s: %s.webhook_secret: expected env:NAME "
                              "or file:/ABSOLUTE/PATH",
                              path, where);
            goto done;
        }
        orgs = json_object_get(t, "orgs");
        if (orgs != NULL && !json_is_object(orgs)) {
            rc = rg_error_set(RG_EINVALID, "registry %s: %s.orgs: expected an object", path, where);
            goto done;
        }
        json_object_foreach(orgs, org, e)
        {
            if ((rc = check_org(path, tenant, org, e)) < 0)
                goto done;
            if (json_object_get(seen, org)) {
                rc = rg_error_set(RG_EINVALID,
                                  "registry %s: org %s is registered to two "
                                  "tenants",
                                  path, org);
                goto done;
            }
            json_object_set_new(seen, org, json_true());
        }
    }
done:
    json_decref(seen);
    return rc;
}

static int load_doc(json_t **out, const char *path)
{
    json_error_t jerr;
    char *text = NULL;
    size_t len = 0;
    int rc;

    if ((rc = rg_file_read_private(&text, &len, path, (size_t)REGISTRY_MAX_BYTES, "registry")) <
        0) {
        if (rc == RG_ENOTFOUND)
            rg_error_set(RG_ENOTFOUND,
                         "registry %s does not exist (register an org with "
                         "`rollgate org add --registry %s --tenant T --org O --region R "
                         "--credentials env:NAME`)",
                         path, path);
        return rc;
    }
    *out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (*out == NULL)
        return rg_error_set(RG_EINVALID, "registry %s: not valid JSON (line %d, column %d)", path,
                            jerr.line, jerr.column);
    if ((rc = check_doc(*out, path)) < 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int rg_registry_load(rg_registry **out, const char *path)
{
    rg_registry *r;
    json_t *doc = NULL;
    int rc;

    if (out == NULL || path == NULL)
        return rg_error_set(RG_EINVALID, "rg_registry_load: invalid arguments");
    if ((rc = load_doc(&doc, path)) < 0)
        return rc;
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        json_decref(doc);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    r->doc = doc;
    *out = r;
    return 0;
}

void rg_registry_free(rg_registry *registry)
{
    if (registry == NULL)
        return;
    json_decref(registry->doc);
    free(registry);
}

static void fill(rg_registry_org *out, const char *tenant, const char *org, const json_t *e)
{
    out->tenant = tenant;
    out->org = org;
    out->region = str(e, "region");
    out->credentials = str(e, "credentials");
    if (strcmp(out->region, RG_REGISTRY_LOOPBACK) == 0) {
        out->api_url = str(e, "api_url");
        out->login_url = str(e, "login_url");
    } else if (rg_registry_region_urls(&out->api_url, &out->login_url, out->region) < 0) {
        out->api_url = out->login_url = NULL; /* validated at load: not reached */
    }
}

int rg_registry_find(rg_registry_org *out, const rg_registry *registry, const char *tenant,
                     const char *org_id, int allow_loopback)
{
    json_t *t, *e;
    const char *tkey = NULL, *okey = NULL;

    if (registry == NULL || tenant == NULL || org_id == NULL)
        return rg_error_set(RG_EINVALID, "rg_registry_find: invalid arguments");
    t = json_object_get(json_object_get(registry->doc, "tenants"), tenant);
    e = json_object_get(json_object_get(t, "orgs"), org_id);
    if (e == NULL)
        return rg_error_set(RG_ENOTFOUND, "org %.128s is not registered to tenant %.128s", org_id,
                            tenant);
    /* The keys live in the document, so the entry's strings do too. */
    json_object_foreach(json_object_get(registry->doc, "tenants"), tkey,
                        t) if (strcmp(tkey, tenant) == 0) break;
    json_object_foreach(json_object_get(t, "orgs"), okey, e) if (strcmp(okey, org_id) == 0) break;
    fill(out, tkey, okey, e);
    if (!allow_loopback && strcmp(out->region, RG_REGISTRY_LOOPBACK) == 0)
        return rg_error_set(RG_EAUTH,
                            "org %s of tenant %s is registered on a loopback test "
                            "platform, which is used only when the server runs with "
                            "--allow-loopback-platform",
                            org_id, tenant);
    return 0;
}

const char *rg_registry_webhook_source(const rg_registry *registry, const char *tenant)
{
    if (registry == NULL || tenant == NULL)
        return NULL;
    return str(json_object_get(json_object_get(registry->doc, "tenants"), tenant),
               "webhook_secret");
}

int rg_registry_webhook_secret(char **out, const rg_registry *registry, const char *tenant)
{
    const char *src = rg_registry_webhook_source(registry, tenant), *v;
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (src == NULL)
        return rg_error_set(RG_ENOTFOUND,
                            "tenant %s has no webhook secret in the registry "
                            "(`rollgate org webhook --tenant %s --secret env:NAME`)",
                            tenant ? tenant : "", tenant ? tenant : "");
    if (strncmp(src, "env:", 4) == 0) {
        if ((v = getenv(src + 4)) == NULL || *v == '\0')
            return rg_error_set(RG_EAUTH,
                                "tenant %s: the webhook secret's environment "
                                "variable %s is not set",
                                tenant, src + 4);
        return (*out = rg_strdup(v)) ? 0 : RG_ENOMEM;
    }
    if ((rc = rg_file_read_private(&text, &len, src + 5, 4096, "webhook secret file")) < 0)
        return rc;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    if (len == 0) {
        free(text);
        return rg_error_set(RG_EAUTH, "tenant %s: the webhook secret file %s is empty", tenant,
                            src + 5);
    }
    *out = text;
    return 0;
}

json_t *rg_registry_list_json(const rg_registry *registry, const char *tenant)
{
    json_t *arr = json_array(), *t, *e;
    const char *tkey, *okey;

    if (registry == NULL || arr == NULL)
        return arr;
    json_object_foreach(json_object_get(registry->doc, "tenants"), tkey, t)
    {
        if (tenant && strcmp(tenant, tkey) != 0)
            continue;
        json_object_foreach(json_object_get(t, "orgs"), okey, e)
        {
            rg_registry_org o;
            fill(&o, tkey, okey, e);
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s}", "tenant", tkey,
                                                 "org", okey, "region", o.region, "api_url",
                                                 o.api_url, "login_url", o.login_url, "credentials",
                                                 o.credentials));
        }
    }
    return arr;
}

/* ---- editing ---- */

static int edit_begin(json_t **out, const char *path)
{
    int rc = load_doc(out, path);
    if (rc == RG_ENOTFOUND) {
        *out = json_pack("{s:{}}", "tenants");
        return *out ? 0 : rg_error_set(RG_ENOMEM, "out of memory");
    }
    return rc;
}

static int edit_commit(json_t *doc, const char *path)
{
    char *text = NULL;
    int rc;

    if ((rc = check_doc(doc, path)) < 0)
        return rc;
    if ((text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS)) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    rc = rg_file_write_private(path, text, strlen(text), "registry");
    free(text);
    return rc;
}

static json_t *tenant_obj(json_t *doc, const char *tenant)
{
    json_t *tenants = json_object_get(doc, "tenants"), *t = json_object_get(tenants, tenant);
    if (t == NULL) {
        t = json_object();
        json_object_set_new(tenants, tenant, t);
    }
    if (json_object_get(t, "orgs") == NULL)
        json_object_set_new(t, "orgs", json_object());
    return t;
}

int rg_registry_add(const char *path, const rg_registry_org *org)
{
    json_t *doc = NULL, *t, *entry;
    const char *tkey;
    int rc;

    if (path == NULL || org == NULL)
        return rg_error_set(RG_EINVALID, "rg_registry_add: invalid arguments");
    if (!valid_id(org->tenant))
        return rg_error_set(RG_EINVALID, "--tenant: expected 1-128 of A-Z a-z 0-9 _ . : -");
    if (!valid_id(org->org))
        return rg_error_set(RG_EINVALID, "--org: expected 1-128 of A-Z a-z 0-9 _ . : -");
    if (org->credentials == NULL || !valid_credentials(org->credentials))
        return rg_error_set(RG_EINVALID,
                            "--credentials: expected env, env:PREFIX (reads "
                            "PREFIX_CLIENT_ID and PREFIX_CLIENT_SECRET) or file:/ABSOLUTE/PATH");
    if (strncmp(org->credentials, "file:", 5) == 0) {
        char *text = NULL;
        if ((rc = rg_file_read_private(&text, NULL, org->credentials + 5, (size_t)1024 * 1024,
                                       "credentials file")) < 0)
            return rc;
        explicit_bzero(text, strlen(text));
        free(text);
    }
    if (org->region == NULL || *org->region == '\0')
        return rg_error_set(RG_EINVALID, "--region is required");
    if ((rc = edit_begin(&doc, path)) < 0)
        return rc;
    json_object_foreach(json_object_get(doc, "tenants"), tkey,
                        t) if (strcmp(tkey, org->tenant) != 0 &&
                               json_object_get(json_object_get(t, "orgs"), org->org))
    {
        rc = rg_error_set(RG_ECONFLICT,
                          "org %s is already registered to tenant %s; "
                          "remove it there first",
                          org->org, tkey);
        goto cleanup;
    }
    entry = json_pack("{s:s, s:s}", "region", org->region, "credentials", org->credentials);
    if (entry && org->api_url)
        json_object_set_new(entry, "api_url", json_string(org->api_url));
    if (entry && org->login_url)
        json_object_set_new(entry, "login_url", json_string(org->login_url));
    t = tenant_obj(doc, org->tenant);
    if (entry == NULL || json_object_set_new(json_object_get(t, "orgs"), org->org, entry) < 0) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = edit_commit(doc, path);
cleanup:
    json_decref(doc);
    return rc;
}

int rg_registry_remove(const char *path, const char *tenant, const char *org_id)
{
    json_t *doc = NULL, *orgs;
    int rc;

    if ((rc = load_doc(&doc, path)) < 0)
        return rc;
    orgs = json_object_get(json_object_get(json_object_get(doc, "tenants"), tenant ? tenant : ""),
                           "orgs");
    if (org_id == NULL || json_object_del(orgs, org_id) != 0)
        rc = rg_error_set(RG_ENOTFOUND, "org %s is not registered to tenant %s",
                          org_id ? org_id : "", tenant ? tenant : "");
    else
        rc = edit_commit(doc, path);
    json_decref(doc);
    return rc;
}

int rg_registry_set_webhook(const char *path, const char *tenant, const char *source)
{
    json_t *doc = NULL, *t;
    int rc;

    if (!valid_id(tenant))
        return rg_error_set(RG_EINVALID, "--tenant: expected 1-128 of A-Z a-z 0-9 _ . : -");
    if (source && !valid_webhook_source(source))
        return rg_error_set(RG_EINVALID, "--secret: expected env:NAME or file:/ABSOLUTE/PATH "
                                         "(the secret itself never goes into the registry)");
    if ((rc = edit_begin(&doc, path)) < 0)
        return rc;
    t = tenant_obj(doc, tenant);
    if (source)
        json_object_set_new(t, "webhook_secret", json_string(source));
    else
        json_object_del(t, "webhook_secret");
    rc = edit_commit(doc, path);
    json_decref(doc);
    return rc;
}
