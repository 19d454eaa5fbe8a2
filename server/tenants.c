/* tenants.c - the server among hostile tenants: the owner's registry (reloaded when it
 * changes), the only source of an org's URLs and credentials and of a tenant's webhook
 * secret; a served manifest is checked against it and rewritten from it */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/registry.h"
#include "server/server_private.h"

#define HOW_TO_REGISTER                                                                            \
    "the server's owner registers each organization with `rollgate org add --tenant %s "           \
    "--org ORG --region REGION --credentials env:PREFIX|file:PATH`, and the server takes its "     \
    "URLs and credentials from there"

/* Reloads the registry when the file changed (mtime, size, inode); a bad new file keeps the
 * previous one. Under registry_lock. */
static void registry_refresh(rg_server *s)
{
    struct stat st;
    rg_registry *fresh = NULL;

    if (stat(s->registry_path, &st) != 0)
        return;
    if (st.st_mtim.tv_sec == s->registry_stat.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == s->registry_stat.st_mtim.tv_nsec &&
        st.st_size == s->registry_stat.st_size && st.st_ino == s->registry_stat.st_ino)
        return;
    s->registry_stat = st;
    if (rg_registry_load(&fresh, s->registry_path) < 0) {
        rg_log(RG_LOG_ERROR, "serve", "keeping the previous registry: %s", rg_error_last());
        return;
    }
    rg_registry_free(s->registry);
    s->registry = fresh;
    rg_log(RG_LOG_INFO, "serve", "registry reloaded");
}

int rg_server__registry_open(rg_server *s)
{
    int rc;

    if ((rc = rg_registry_load(&s->registry, s->registry_path)) < 0)
        return rc;
    if (stat(s->registry_path, &s->registry_stat) != 0)
        return rg_error_set(RG_EIO, "registry %s: %s", s->registry_path, strerror(errno));
    return 0;
}

int rg_server__add_org(rg_platform *platform, const char *tenant, const char *org_id, void *payload)
{
    rg_server *s = payload;
    rg_registry_org e;
    int rc;

    pthread_mutex_lock(&s->registry_lock);
    registry_refresh(s);
    rc = rg_registry_find(&e, s->registry, tenant, org_id, s->opts.allow_loopback_platform);
    if (rc == 0)
        rc = rg_engine_platform_add_org(platform, e.org, e.api_url, e.login_url, e.credentials);
    pthread_mutex_unlock(&s->registry_lock);
    return rc;
}

int rg_server__webhook_secret(char **out, rg_server *s, const char *tenant)
{
    int rc;

    pthread_mutex_lock(&s->registry_lock);
    registry_refresh(s);
    rc = rg_registry_webhook_secret(out, s->registry, tenant);
    pthread_mutex_unlock(&s->registry_lock);
    return rc;
}

/* ---- a served manifest ---- */

static json_t *scalar_json(const rg_doc_node *node)
{
    const char *s = rg_doc_scalar(node);
    int64_t i;
    double d;

    if (rg_doc_scalar_quoted(node))
        return json_string(s);
    if (strcmp(s, "true") == 0)
        return json_true();
    if (strcmp(s, "false") == 0)
        return json_false();
    if (rg_doc_is_null(node))
        return json_null();
    if (rg_parse_int64(&i, s, INT64_MIN, INT64_MAX) == 0)
        return json_integer((json_int_t)i);
    if (rg_parse_double(&d, s) == 0)
        return json_real(d);
    rg_error_clear();
    return json_string(s);
}

static json_t *doc_json(const rg_doc_node *node)
{
    json_t *v;

    if (rg_doc_node_kind(node) == RG_DOC_SCALAR)
        return scalar_json(node);
    v = rg_doc_node_kind(node) == RG_DOC_SEQUENCE ? json_array() : json_object();
    for (size_t i = 0; v && i < rg_doc_count(node); i++) {
        json_t *child = doc_json(rg_doc_item(node, i));
        int bad =
            child == NULL ||
            (json_is_array(v) ? json_array_append_new(v, child)
                              : json_object_set_new(v, rg_doc_scalar(rg_doc_key(node, i)), child));
        if (bad) {
            json_decref(v);
            return NULL;
        }
    }
    return v;
}

typedef struct {
    rg_server *server;
    const char *tenant;
    const rg_doc *doc;
    const char *region; /* the manifest's platform.region, or NULL */
    json_t *first;      /* the first org's entry: {"api_url","login_url"} */
} served;

static int refuse_key(served *sv, const rg_doc_node *map, const char *path, const char *key)
{
    const rg_doc_node *node = rg_doc_get(map, key);
    char field[256];

    if (node == NULL)
        return 0;
    snprintf(field, sizeof(field), "%s%s%s", path, *path ? "." : "", key);
    for (size_t i = 0; i < rg_doc_count(map); i++)
        if (rg_doc_item(map, i) == node)
            node = rg_doc_key(map, i);
    return rg_doc_error(RG_EINVALID, sv->doc, node, field,
                        "a served manifest may not name "
                        "platform URLs, credentials or TLS settings: " HOW_TO_REGISTER,
                        sv->tenant);
}

/* One org of a group: registered to this tenant (and in the manifest's region, if any);
 * becomes {"id","api_url","login_url"} from the registry. */
static int served_org(served *sv, json_t **out, const rg_doc_node *node, const char *path)
{
    const rg_doc_node *idn = node;
    rg_registry_org e;
    const char *id;
    int rc;

    if (rg_doc_node_kind(node) == RG_DOC_MAPPING) {
        if ((rc = refuse_key(sv, node, path, "api_url")) < 0 ||
            (rc = refuse_key(sv, node, path, "login_url")) < 0)
            return rc;
        if ((idn = rg_doc_get(node, "id")) == NULL)
            return 0; /* the manifest's own check names what is missing */
    }
    if (rg_doc_node_kind(idn) != RG_DOC_SCALAR)
        return 0;
    id = rg_doc_scalar(idn);
    pthread_mutex_lock(&sv->server->registry_lock);
    registry_refresh(sv->server);
    rc = rg_registry_find(&e, sv->server->registry, sv->tenant, id,
                          sv->server->opts.allow_loopback_platform);
    if (rc == RG_ENOTFOUND)
        rc = rg_doc_error(RG_EINVALID, sv->doc, idn, path,
                          "org %.128s is not registered to "
                          "tenant %s: " HOW_TO_REGISTER,
                          id, sv->tenant, sv->tenant);
    else if (rc < 0)
        rc = rg_doc_error(RG_EINVALID, sv->doc, idn, path, "%s", rg_error_last());
    else if (sv->region && strcmp(sv->region, e.region) != 0)
        rc = rg_doc_error(RG_EINVALID, sv->doc, idn, path,
                          "org %.128s is registered in "
                          "region %s, not %s",
                          id, e.region, sv->region);
    else if ((*out = json_pack("{s:s, s:s, s:s}", "id", id, "api_url", e.api_url, "login_url",
                               e.login_url)) == NULL)
        rc = rg_error_set(RG_ENOMEM, "out of memory");
    else if (sv->first == NULL)
        sv->first = json_incref(*out);
    pthread_mutex_unlock(&sv->server->registry_lock);
    return rc;
}

/* `groups` of the document (at `prefix`) and its JSON copy `jgroups`: every org's URLs from
 * the registry. */
static int served_group_list(served *sv, json_t *jgroups, const rg_doc_node *groups,
                             const char *prefix)
{
    char path[256];
    int rc;

    if (groups == NULL || rg_doc_node_kind(groups) != RG_DOC_SEQUENCE)
        return 0;
    for (size_t g = 0; g < rg_doc_count(groups); g++) {
        const rg_doc_node *orgs = rg_doc_get(rg_doc_item(groups, g), "orgs");
        json_t *jorgs = json_object_get(json_array_get(jgroups, g), "orgs");
        if (orgs == NULL || rg_doc_node_kind(orgs) != RG_DOC_SEQUENCE)
            continue;
        for (size_t i = 0; i < rg_doc_count(orgs); i++) {
            json_t *entry = NULL;
            snprintf(path, sizeof(path), "%sgroups[%zu].orgs[%zu]", prefix, g, i);
            if ((rc = served_org(sv, &entry, rg_doc_item(orgs, i), path)) < 0)
                return rc;
            if (entry)
                json_array_set_new(jorgs, i, entry);
        }
    }
    return 0;
}

/* The top-level groups, or every environment's (docs/environments.md). */
static int served_groups(served *sv, json_t *mj, const rg_doc_node *root)
{
    const rg_doc_node *envs = rg_doc_get(root, "environments");
    char prefix[200];
    int rc;

    if (envs == NULL || rg_doc_node_kind(envs) != RG_DOC_MAPPING)
        return served_group_list(sv, json_object_get(mj, "groups"), rg_doc_get(root, "groups"), "");
    for (size_t e = 0; e < rg_doc_count(envs); e++) {
        const char *name = rg_doc_scalar(rg_doc_key(envs, e));
        json_t *jenv = json_object_get(json_object_get(mj, "environments"), name);
        snprintf(prefix, sizeof(prefix), "environments.%.128s.", name);
        if ((rc = served_group_list(sv, json_object_get(jenv, "groups"),
                                    rg_doc_get(rg_doc_item(envs, e), "groups"), prefix)) < 0)
            return rc;
    }
    return 0;
}

/* A policy name of the server's policy directory, embedded; never a path. Every failure
 * reads the same, so a name cannot tell a missing file from an unreadable or broken one. */
static int served_policy(served *sv, json_t *mj, const rg_doc_node *root)
{
    const rg_doc_node *node = rg_doc_get(root, "policy");
    const char *name = node && rg_doc_node_kind(node) == RG_DOC_SCALAR ? rg_doc_scalar(node) : NULL;
    rg_policy *policy = NULL;
    json_t *pj = NULL;
    size_t n = 0;

    if (node != NULL && rg_doc_node_kind(node) == RG_DOC_MAPPING)
        return 0; /* embedded: read as the CLI reads it */
    if (node == NULL)
        name = "contact-center";
    if (name != NULL)
        for (; name[n]; n++)
            if (!((name[n] >= 'a' && name[n] <= 'z') || (name[n] >= '0' && name[n] <= '9') ||
                  name[n] == '-' || name[n] == '_'))
                break;
    if (name == NULL || name[n] != '\0' || n == 0 || n > 64)
        return rg_doc_error(RG_EINVALID, sv->doc, node, "policy",
                            "a served manifest names a "
                            "policy of the server's policy directory ([a-z0-9_-]{1,64}) or "
                            "embeds one; paths are not read");
    if (rg_policy_load(&policy, name, NULL) < 0 || rg_policy_to_json(&pj, policy) < 0) {
        rg_policy_free(policy);
        return rg_doc_error(RG_EINVALID, sv->doc, node ? node : rg_doc_root(sv->doc), "policy",
                            "'%s' is not a policy the server offers (ask its owner for the "
                            "names in its policy directory)",
                            name);
    }
    rg_policy_free(policy);
    json_object_set_new(mj, "policy", pj);
    return 0;
}

static int served_platform(served *sv, json_t *mj, const rg_doc_node *root)
{
    static const char *const refused[] = {"api_url", "login_url", "credentials", "insecure", NULL};
    const rg_doc_node *map = rg_doc_get(root, "platform"), *node;
    const char *a, *l;
    int rc;

    if (map == NULL)
        return 0;
    if (rg_doc_node_kind(map) != RG_DOC_MAPPING)
        return rg_doc_error(RG_EINVALID, sv->doc, map, "platform",
                            "expected a mapping "
                            "{driver, region}");
    for (size_t i = 0; refused[i]; i++)
        if ((rc = refuse_key(sv, map, "platform", refused[i])) < 0)
            return rc;
    if ((node = rg_doc_get(map, "region")) != NULL) {
        sv->region = rg_doc_scalar(node);
        if (sv->region == NULL || (strcmp(sv->region, RG_REGISTRY_LOOPBACK) != 0 &&
                                   rg_registry_region_urls(&a, &l, sv->region) < 0))
            return rg_doc_error(RG_EINVALID, sv->doc, node, "platform.region", "%s",
                                sv->region ? rg_error_last() : "expected a region name");
    }
    json_object_del(json_object_get(mj, "platform"), "region");
    return 0;
}

static int served_notify(served *sv, json_t *mj, const rg_doc_node *root)
{
    const rg_doc_node *list = rg_doc_get(root, "notify");
    char path[64], *secret = NULL;
    size_t i;
    json_t *n;
    int rc;

    if (list == NULL || rg_doc_node_kind(list) != RG_DOC_SEQUENCE || rg_doc_count(list) == 0)
        return 0;
    for (i = 0; i < rg_doc_count(list); i++) {
        const rg_doc_node *item = rg_doc_item(list, i), *key = NULL;
        for (size_t k = 0; rg_doc_node_kind(item) == RG_DOC_MAPPING && k < rg_doc_count(item); k++)
            if (strcmp(rg_doc_scalar(rg_doc_key(item, k)), "secret") == 0)
                key = rg_doc_key(item, k);
        snprintf(path, sizeof(path), "notify[%zu].secret", i);
        if (key)
            return rg_doc_error(RG_EINVALID, sv->doc, key, path,
                                "a served manifest may not "
                                "name a webhook secret: deliveries are signed with the "
                                "tenant's secret, which the server's owner sets with "
                                "`rollgate org webhook --tenant %s --secret env:NAME`",
                                sv->tenant);
    }
    if ((rc = rg_server__webhook_secret(&secret, sv->server, sv->tenant)) < 0)
        return rg_doc_error(RG_EINVALID, sv->doc, list, "notify",
                            "tenant %s has no usable "
                            "webhook secret in the server's registry; its owner sets it with "
                            "`rollgate org webhook --tenant %s --secret env:NAME`",
                            sv->tenant, sv->tenant);
    explicit_bzero(secret, strlen(secret));
    free(secret);
    /* The stored manifest names no secret of the server's environment: the delivery thread
     * reads the tenant's from the registry. The manifest format needs a name here. */
    json_array_foreach(json_object_get(mj, "notify"), i, n) if (json_is_object(n))
        json_object_set_new(n, "secret", json_string("env:" RG_SERVER__REGISTRY_SECRET));
    return 0;
}

/* "request.json:L:C: path: what" about the rewritten text -> the position of `path` in the
 * tenant's own document, so errors point into what the tenant sent. */
static void repoint_error(const rg_doc *doc, const char *name)
{
    const char *msg = rg_error_last(), *p = msg + strlen(name), *field;
    const rg_doc_node *node = rg_doc_root(doc);
    char copy[1024], seg[160];
    int code = rg_error_code();

    if (strncmp(msg, name, strlen(name)) != 0 || *p != ':')
        return;
    p += 1 + strspn(p + 1, "0123456789");
    if (*p != ':')
        return;
    p += 1 + strspn(p + 1, "0123456789");
    if (strncmp(p, ": ", 2) != 0)
        return;
    field = p + 2;
    snprintf(copy, sizeof(copy), "%s", field);
    /* Walk "a.b[2].c" as far as the tenant's document goes. */
    for (const char *f = field; node && *f && *f != ':' && *f != ' ';) {
        size_t n = strcspn(f, ".[: ");
        if (n > 0) {
            snprintf(seg, sizeof(seg), "%.*s", (int)n, f);
            if (rg_doc_node_kind(node) != RG_DOC_MAPPING || rg_doc_get(node, seg) == NULL)
                break;
            node = rg_doc_get(node, seg);
            f += n;
        } else if (*f == '[') {
            char *end;
            unsigned long idx = strtoul(f + 1, &end, 10);
            if (*end != ']' || rg_doc_node_kind(node) != RG_DOC_SEQUENCE ||
                idx >= rg_doc_count(node))
                break;
            node = rg_doc_item(node, idx);
            f = end + 1;
        } else {
            f++;
        }
    }
    rg_error_set(code, "%s:%u:%u: %s", rg_doc_name(doc), rg_doc_node_line(node),
                 rg_doc_node_col(node), copy);
}

/* Equal but for trailing slashes (the manifest reader drops them). */
static int same_url(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    while (na > 0 && a[na - 1] == '/')
        na--;
    while (nb > 0 && b[nb - 1] == '/')
        nb--;
    return na == nb && strncmp(a, b, na) == 0;
}

/* What the engine will store, checked once more as loaded: every org registered to the
 * tenant with the registry's URLs, no notify secret but the registry's, no insecure. */
static int check_loaded(rg_server *s, const rg_manifest *m, const char *tenant)
{
    int rc = 0;

    if (strcmp(m->tenant, tenant) != 0)
        return rg_error_set(RG_EAUTH, "the manifest's tenant is not this token's tenant");
    if (m->platform.insecure || m->platform.credentials != RG_CREDENTIALS_ENV)
        return rg_error_set(RG_EINVALID, "platform: refused (" HOW_TO_REGISTER ")", tenant);
    for (size_t i = 0; i < m->notify_count; i++)
        if (strcmp(m->notify[i].secret_env, RG_SERVER__REGISTRY_SECRET) != 0)
            return rg_error_set(RG_EINVALID, "notify[%zu].secret: refused", i);
    /* A gate's secret would be read from the server's environment, which a tenant must not
     * choose from (docs/gates.md). */
    if (m->gates_count > 0)
        return rg_error_set(RG_EINVALID, "gates: refused: served rollouts cannot use gates; "
                                         "start the rollout with `rollgate start`");
    pthread_mutex_lock(&s->registry_lock);
    for (size_t g = 0; rc == 0 && g < m->groups_count; g++)
        for (size_t j = 0; rc == 0 && j < m->groups[g].orgs_count; j++) {
            const rg_manifest_org *o = &m->groups[g].orgs[j];
            const char *api = o->api_url ? o->api_url : m->platform.api_url;
            const char *login = o->login_url ? o->login_url : m->platform.login_url;
            rg_registry_org e;
            if ((rc = rg_registry_find(&e, s->registry, tenant, o->id,
                                       s->opts.allow_loopback_platform)) == 0 &&
                (!same_url(api, e.api_url) || !same_url(login, e.login_url)))
                rc = rg_error_set(RG_EINVALID,
                                  "groups[%zu].orgs[%zu]: org %s: URLs are not "
                                  "the registry's",
                                  g, j, o->id);
        }
    pthread_mutex_unlock(&s->registry_lock);
    return rc == RG_ENOTFOUND ? RG_EINVALID : rc;
}

int rg_server__served_manifest(rg_manifest **out, rg_server *s, const char *tenant,
                               const char *name, const char *text, size_t len)
{
    return rg_server__served_manifest_env(out, s, tenant, name, text, len, NULL);
}

int rg_server__served_manifest_env(rg_manifest **out, rg_server *s, const char *tenant,
                                   const char *name, const char *text, size_t len,
                                   const char *environment)
{
    rg_manifest_options opts = {NULL, 0, environment};
    rg_doc *doc = NULL;
    const rg_doc_node *root, *tn;
    json_t *mj = NULL, *platform;
    served sv = {s, tenant, NULL, NULL, NULL};
    char *rewritten = NULL;
    int rc;

    if ((rc = rg_doc_parse(&doc, name, text, len, RG_DOC_AUTO)) < 0)
        return rc;
    sv.doc = doc;
    root = rg_doc_root(doc);
    if (rg_doc_node_kind(root) != RG_DOC_MAPPING) {
        rc = rg_doc_error(RG_EINVALID, doc, root, NULL, "a manifest is a mapping");
        goto cleanup;
    }
    tn = rg_doc_get(root, "tenant");
    if (tn && rg_doc_node_kind(tn) == RG_DOC_SCALAR && strcmp(rg_doc_scalar(tn), tenant) != 0) {
        rc = rg_error_set(RG_EAUTH, "the manifest's tenant is not this token's tenant");
        goto cleanup;
    }
    if ((mj = doc_json(root)) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = served_platform(&sv, mj, root)) < 0 || (rc = served_groups(&sv, mj, root)) < 0 ||
        (rc = served_policy(&sv, mj, root)) < 0 || (rc = served_notify(&sv, mj, root)) < 0)
        goto cleanup;
    /* The platform section the manifest format needs; the engine takes every org's URLs and
     * credentials from the registry at each tick, not from here. */
    platform = json_object_get(mj, "platform");
    if (!json_is_object(platform))
        json_object_set_new(mj, "platform", platform = json_pack("{s:s}", "driver", "genesys"));
    if (sv.first) {
        json_object_set(platform, "api_url", json_object_get(sv.first, "api_url"));
        json_object_set(platform, "login_url", json_object_get(sv.first, "login_url"));
    } else { /* no org at all: the manifest's own check says so */
        const char *a = NULL, *l = NULL;
        rg_registry_region_urls(&a, &l, "us-east-1");
        json_object_set_new(platform, "api_url", json_string(a));
        json_object_set_new(platform, "login_url", json_string(l));
    }
    json_object_set_new(platform, "credentials", json_string("env"));
    if ((rewritten = json_dumps(mj, JSON_COMPACT)) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = rg_manifest_load_buffer(out, name, rewritten, strlen(rewritten), NULL, &opts)) < 0)
        repoint_error(doc, name);
    else if ((rc = check_loaded(s, *out, tenant)) < 0) {
        rg_manifest_free(*out);
        *out = NULL;
    }
cleanup:
    free(rewritten);
    json_decref(sv.first);
    json_decref(mj);
    rg_doc_free(doc);
    return rc;
}
