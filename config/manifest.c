/* manifest.c - loading and validating rollout manifests (top-level fields, platform, notify) */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "config/manifest_internal.h"
#include "config/schema.h"
#include "rollgate/util.h"

static const char *const manifest_keys[] = {
    "name",   "tenant", "policy",  "stages",       "approval",    "platform", "groups",
    "change", "notify", "holdout", "environments", "environment", "gates",    NULL};
static const char *const approval_names[] = {"required", "none", NULL};
static const char *const event_names[] = {"started",       "approved",
                                          "stage_applied", "promoted",
                                          "tripped",       "rolling_back",
                                          "rolled_back",   "rollback_incomplete",
                                          "held",          "paused",
                                          "resumed",       "completed",
                                          "failed",        NULL};

const char *rg_approval_name(rg_approval a)
{
    return a <= RG_APPROVAL_NONE ? approval_names[a] : "?";
}

static void free_strings(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

void rg_manifest_free(rg_manifest *m)
{
    if (m == NULL)
        return;
    free(m->name);
    free(m->tenant);
    free(m->policy_ref);
    rg_policy_free(m->policy);
    free(m->stages);
    free(m->platform.driver);
    free(m->platform.api_url);
    free(m->platform.login_url);
    free(m->platform.credentials_path);
    free(m->platform.api_version);
    free(m->platform.weight_field);
    free(m->platform.cxone_descriptor);
    free(m->platform.cxone_url);
    free(m->platform.cxone_login_url);
    free(m->platform.weight_store);
    for (size_t i = 0; i < m->groups_count; i++) {
        rg_manifest_group *g = &m->groups[i];
        free(g->name);
        free_strings(g->depends_on, g->depends_on_count);
        for (size_t j = 0; j < g->orgs_count; j++) {
            free(g->orgs[j].id);
            free(g->orgs[j].api_url);
            free(g->orgs[j].login_url);
        }
        free(g->orgs);
        for (size_t j = 0; j < g->vars_count; j++) {
            free(g->vars[j].name);
            free(g->vars[j].value);
        }
        free(g->vars);
    }
    free(m->groups);
    free(m->strategy);
    rg_manifest__free_resource(m);
    free_strings(m->watch_queues, m->watch_queues_count);
    json_decref(m->template_json);
    for (size_t i = 0; i < m->targets_count; i++) {
        free(m->targets[i].type);
        free(m->targets[i].id);
    }
    free(m->targets);
    for (size_t i = 0; i < m->notify_count; i++) {
        free(m->notify[i].url);
        free_strings(m->notify[i].events, m->notify[i].events_count);
        free(m->notify[i].secret_env);
    }
    free(m->notify);
    rg_manifest__free_gates(m);
    rg_manifest__free_environments(m);
    free(m);
}

/* One entry of `stages`: a percent, or {percent, approval: required|none, pause: bool,
 * min_offered: N} (percent optional with min_offered, where it is the stage's cap). */
static int read_stage(rg_manifest_stage *out, const rg_doc *doc, const rg_doc_node *node,
                      const char *path)
{
    static const char *const keys[] = {"percent", "approval", "pause", "min_offered", NULL};
    const rg_doc_node *field;
    char sub[RG_SCHEMA_PATH];
    int64_t v;
    int approval, rc;

    memset(out, 0, sizeof(*out));
    if (rg_doc_node_kind(node) != RG_DOC_MAPPING) {
        if ((rc = rg_schema__int(&v, doc, node, path, 1, 100)) < 0)
            return rc;
        out->percent = (int)v;
        return 0;
    }
    if ((rc = rg_schema__mapping(doc, node, path, keys)) < 0)
        return rc;
    if ((field = rg_schema__optional(node, "min_offered")) != NULL) {
        rg_schema__join(sub, sizeof(sub), path, "min_offered");
        if ((rc = rg_schema__int(&out->min_offered, doc, field, sub, 1, 1000000000)) < 0)
            return rc;
    }
    rg_schema__join(sub, sizeof(sub), path, "percent");
    if (out->min_offered && rg_schema__optional(node, "percent") == NULL) {
        field = NULL; /* traffic-sized, capped by the next stage */
    } else if ((rc = rg_schema__require(&field, doc, node, path, "percent")) < 0 ||
               (rc = rg_schema__int(&v, doc, field, sub, 1, 100)) < 0) {
        return rc;
    } else {
        out->percent = (int)v;
    }
    if ((field = rg_schema__optional(node, "approval")) != NULL) {
        rg_schema__join(sub, sizeof(sub), path, "approval");
        if ((rc = rg_schema__enum(&approval, doc, field, sub, approval_names)) < 0)
            return rc;
        out->approval_required = approval == RG_APPROVAL_REQUIRED;
    }
    if ((field = rg_schema__optional(node, "pause")) != NULL) {
        rg_schema__join(sub, sizeof(sub), path, "pause");
        if ((rc = rg_schema__bool(&out->pause, doc, field, sub)) < 0)
            return rc;
    }
    return 0;
}

static int read_stages(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root)
{
    const rg_doc_node *list = rg_schema__optional(root, "stages");
    char item[RG_SCHEMA_PATH];
    int rc;

    if (list == NULL) {
        static const int defaults[] = {10, 50, 100};
        if ((m->stages = calloc(3, sizeof(*m->stages))) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        for (size_t i = 0; i < 3; i++)
            m->stages[i].percent = defaults[i];
        m->stages_count = 3;
        return 0;
    }
    if ((rc = rg_schema__sequence(doc, list, "stages", 1, RG_MANIFEST_MAX_STAGES)) < 0)
        return rc;
    if ((m->stages = calloc(rg_doc_count(list), sizeof(*m->stages))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0, last = 0; i < rg_doc_count(list); i++) {
        rg_manifest_stage *st = &m->stages[i];
        rg_schema__index(item, sizeof(item), "stages", i);
        if ((rc = read_stage(st, doc, rg_doc_item(list, i), item)) < 0)
            return rc;
        /* a traffic-sized stage without a percent is between its neighbours' */
        if (st->percent && last > 0 && st->percent <= m->stages[last - 1].percent)
            return rg_doc_error(RG_EINVALID, doc, rg_doc_item(list, i), item,
                                "stages must increase strictly: %d after %d", st->percent,
                                m->stages[last - 1].percent);
        if (st->percent)
            last = i + 1;
        m->stages_count++;
    }
    if (m->stages[m->stages_count - 1].min_offered)
        return rg_doc_error(RG_EINVALID, doc, rg_doc_item(list, m->stages_count - 1), item,
                            "min_offered on the last stage: it covers every organization");
    if (m->stages[m->stages_count - 1].percent != 100)
        return rg_doc_error(RG_EINVALID, doc, list, "stages", "the last stage must be 100, not %d",
                            m->stages[m->stages_count - 1].percent);
    if (m->stages[m->stages_count - 1].pause)
        return rg_doc_error(RG_EINVALID, doc, rg_doc_item(list, m->stages_count - 1), item,
                            "pause: true on the last stage has nothing to wait before (the "
                            "rollout completes when it passes)");
    return 0;
}

/* A stage as stored: a plain percent unless it has approval or pause (so a manifest of plain
 * percents keeps its JSON and its digest). */
json_t *rg_manifest__stage_json(const rg_manifest_stage *st)
{
    json_t *o;

    if (!st->approval_required && !st->pause && !st->min_offered)
        return json_integer(st->percent);
    o = st->percent ? json_pack("{s:i}", "percent", st->percent) : json_object();
    if (o && st->min_offered)
        json_object_set_new(o, "min_offered", json_integer(st->min_offered));
    if (o && st->approval_required)
        json_object_set_new(o, "approval", json_string("required"));
    if (o && st->pause)
        json_object_set_new(o, "pause", json_true());
    return o;
}

static int read_policy(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root,
                       const char *base_dir)
{
    const rg_doc_node *node = rg_schema__optional(root, "policy");
    int rc;

    if (node != NULL && rg_doc_node_kind(node) == RG_DOC_MAPPING)
        return rg_policy_from_doc(&m->policy, doc, node, "policy");
    if (node == NULL)
        m->policy_ref = rg_strdup("contact-center");
    else if ((rc = rg_schema__string(&m->policy_ref, doc, node, "policy", 1024)) < 0)
        return rc;
    if (m->policy_ref == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if ((rc = rg_policy_load(&m->policy, m->policy_ref, base_dir)) < 0)
        return rg_doc_error(rc, doc, node ? node : root, "policy", "%s", rg_error_last());
    return 0;
}

static int read_credentials(rg_manifest_platform *p, const rg_doc *doc, const rg_doc_node *map)
{
    const rg_doc_node *node;
    char *text = NULL;
    int rc;

    if ((rc = rg_schema__require(&node, doc, map, "platform", "credentials")) < 0 ||
        (rc = rg_schema__string(&text, doc, node, "platform.credentials", 4096)) < 0)
        return rc;
    if (strcmp(text, "env") == 0) {
        p->credentials = RG_CREDENTIALS_ENV;
    } else if (strncmp(text, "file:", 5) == 0 && text[5] != '\0') {
        p->credentials = RG_CREDENTIALS_FILE;
        if ((p->credentials_path = rg_strdup(text + 5)) == NULL)
            rc = rg_error_set(RG_ENOMEM, "out of memory");
    } else {
        rc = rg_doc_error(RG_EINVALID, doc, node, "platform.credentials",
                          "expected env or file:PATH, got '%.64s'", text);
    }
    free(text);
    return rc;
}

/* insecure (no TLS verification) and plain http are for loopback test platforms only. */
static int check_transport(const rg_manifest *m, const rg_doc *doc, const rg_doc_node *map,
                           int loopback_api, int loopback_login)
{
    const rg_doc_node *node = rg_doc_get(map, "insecure");
    const char *bad = !loopback_api     ? "platform.api_url"
                      : !loopback_login ? "platform.login_url"
                                        : NULL;
    if (m->platform.insecure && bad)
        return rg_doc_error(RG_EINVALID, doc, node, "platform.insecure",
                            "insecure: true is refused unless the host is loopback (%s is not)",
                            bad);
    if (!loopback_api && strncmp(m->platform.api_url, "http:", 5) == 0)
        return rg_doc_error(RG_EINVALID, doc, rg_doc_get(map, "api_url"), "platform.api_url",
                            "plain http is only allowed for a loopback host; use https");
    if (!loopback_login && strncmp(m->platform.login_url, "http:", 5) == 0)
        return rg_doc_error(RG_EINVALID, doc, rg_doc_get(map, "login_url"), "platform.login_url",
                            "plain http is only allowed for a loopback host; use https");
    return 0;
}

/* A CXone host: the key's URL, else the real host. `prefix` names the map in errors. */
static int cxone_url(char **out, int *loopback, const rg_doc *doc, const rg_doc_node *map,
                     const char *prefix, const char *key)
{
    const rg_doc_node *node = rg_schema__optional(map, key);
    char path[48];

    snprintf(path, sizeof(path), "%s.%s", prefix, key);
    *loopback = 0;
    if (node != NULL)
        return rg_schema__url(out, loopback, doc, node, path);
    *out = rg_strdup("https://cxone.niceincontact.com");
    return *out ? 0 : rg_error_set(RG_ENOMEM, "out of memory");
}

/* A short name of `allowed` bytes at `prefix.key`, or the default. */
static int cxone_name(char **out, const rg_doc *doc, const rg_doc_node *map, const char *prefix,
                      const char *key, const char *allowed, const char *dflt, const char *expect)
{
    const rg_doc_node *node = rg_schema__optional(map, key);
    char path[48];
    size_t n;
    int rc;

    snprintf(path, sizeof(path), "%s.%s", prefix, key);
    if (node == NULL) {
        if (dflt != NULL && (*out = rg_strdup(dflt)) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        return 0;
    }
    if ((rc = rg_schema__string(out, doc, node, path, 64)) < 0)
        return rc;
    n = strlen(*out);
    if (n == 0 || strspn(*out, allowed) != n)
        return rg_doc_error(RG_EINVALID, doc, node, path, "expected %s", expect);
    return 0;
}

/* The CXone settings of `map` (the platform map for driver cxone; platform.cxone for the
 * CXone brands of a genesys manifest): hosts (discovery and auth; default the real host),
 * api_version, rate_budget, weight_field, weight_store; the descriptor the platform layer gets
 * as each brand's api_url. */
static int read_cxone_settings(rg_manifest *m, const rg_doc *doc, const rg_doc_node *map,
                               const char *prefix)
{
    static const char *const digits = "0123456789";
    static const char *const word =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
    rg_manifest_platform *p = &m->platform;
    const rg_doc_node *node;
    rg_buf d = RG_BUF_INIT;
    char path[48];
    int lb_api = 0, lb_login = 0, rc;
    size_t n;

    if ((rc = cxone_url(&p->cxone_url, &lb_api, doc, map, prefix, "api_url")) < 0 ||
        (rc = cxone_url(&p->cxone_login_url, &lb_login, doc, map, prefix, "login_url")) < 0 ||
        (rc = cxone_name(&p->api_version, doc, map, prefix, "api_version", "v0123456789.", "v31.0",
                         "a version like v31.0")) < 0 ||
        (rc = cxone_name(&p->weight_field, doc, map, prefix, "weight_field", word, "notes",
                         "a field name (letters, digits, '_')")) < 0 ||
        (rc = cxone_name(&p->weight_store, doc, map, prefix, "weight_store", digits, NULL,
                         "a skill id (digits)")) < 0)
        return rc;
    n = strlen(p->api_version);
    snprintf(path, sizeof(path), "%s.api_version", prefix);
    if (n < 2 || p->api_version[0] != 'v' || strspn(p->api_version + 1, "0123456789.") != n - 1)
        return rg_doc_error(RG_EINVALID, doc, rg_schema__optional(map, "api_version"), path,
                            "expected a version like v31.0");
    p->rate_budget = 600;
    snprintf(path, sizeof(path), "%s.rate_budget", prefix);
    if ((node = rg_schema__optional(map, "rate_budget")) != NULL &&
        (rc = rg_schema__int(&p->rate_budget, doc, node, path, 1, 100000)) < 0)
        return rc;
    if (p->insecure && !(lb_api && lb_login))
        return rg_doc_error(RG_EINVALID, doc, map, prefix,
                            "insecure: true is refused unless the CXone hosts are loopback");
    if ((!lb_api && strncmp(p->cxone_url, "http:", 5) == 0) ||
        (!lb_login && strncmp(p->cxone_login_url, "http:", 5) == 0))
        return rg_doc_error(RG_EINVALID, doc, map, prefix,
                            "plain http is only allowed for a loopback host; use https");
    if (rg_buf_printf(&d, "cxone:%s:%lld:%s:%s:%s", p->api_version, (long long)p->rate_budget,
                      p->weight_field, p->weight_store ? p->weight_store : "", p->cxone_url) < 0)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if ((p->cxone_descriptor = rg_buf_detach(&d)) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    return 0;
}

/* driver: cxone. api_url (discovery) and login_url (auth) default to the real host. */
static int read_cxone(rg_manifest *m, const rg_doc *doc, const rg_doc_node *map)
{
    const rg_doc_node *node;
    int rc;

    if ((node = rg_schema__optional(map, "cxone")) != NULL)
        return rg_doc_error(RG_EINVALID, doc, node, "platform.cxone",
                            "with driver: cxone the CXone settings are the platform's own keys");
    if ((rc = read_credentials(&m->platform, doc, map)) < 0)
        return rc;
    if ((node = rg_schema__optional(map, "insecure")) != NULL &&
        (rc = rg_schema__bool(&m->platform.insecure, doc, node, "platform.insecure")) < 0)
        return rc;
    if ((rc = read_cxone_settings(m, doc, map, "platform")) < 0)
        return rc;
    if ((m->platform.api_url = rg_strdup(m->platform.cxone_url)) == NULL ||
        (m->platform.login_url = rg_strdup(m->platform.cxone_login_url)) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    return 0;
}

/* platform.cxone of a genesys manifest: the settings of its `driver: cxone` brands. */
static int read_cxone_brands(rg_manifest *m, const rg_doc *doc, const rg_doc_node *map)
{
    static const char *const keys[] = {"api_url",      "login_url",    "api_version", "rate_budget",
                                       "weight_field", "weight_store", NULL};
    const rg_doc_node *node = rg_schema__optional(map, "cxone");
    int rc;

    if (node == NULL)
        return 0;
    if ((rc = rg_schema__mapping(doc, node, "platform.cxone", keys)) < 0)
        return rc;
    return read_cxone_settings(m, doc, node, "platform.cxone");
}

static int read_platform(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root)
{
    static const char *const keys[] = {"driver",       "api_url",     "login_url",   "credentials",
                                       "insecure",     "api_version", "rate_budget", "weight_field",
                                       "weight_store", "cxone",       NULL};
    static const char *const drivers[] = {"genesys", "cxone", NULL};
    const rg_doc_node *map, *node;
    int driver, lb_api = 0, lb_login = 0, rc;

    if ((rc = rg_schema__require(&map, doc, root, NULL, "platform")) < 0 ||
        (rc = rg_schema__mapping(doc, map, "platform", keys)) < 0 ||
        (rc = rg_schema__require(&node, doc, map, "platform", "driver")) < 0 ||
        (rc = rg_schema__enum(&driver, doc, node, "platform.driver", drivers)) < 0)
        return rc;
    if ((m->platform.driver = rg_strdup(drivers[driver])) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if (driver == 1)
        return read_cxone(m, doc, map);
    if ((node = rg_schema__optional(map, "api_version")) != NULL ||
        (node = rg_schema__optional(map, "rate_budget")) != NULL ||
        (node = rg_schema__optional(map, "weight_field")) != NULL ||
        (node = rg_schema__optional(map, "weight_store")) != NULL)
        return rg_doc_error(RG_EINVALID, doc, node, "platform",
                            "api_version, rate_budget, weight_field and weight_store are for "
                            "driver: cxone (or platform.cxone)");
    if ((rc = rg_schema__require(&node, doc, map, "platform", "api_url")) < 0 ||
        (rc = rg_schema__url(&m->platform.api_url, &lb_api, doc, node, "platform.api_url")) < 0 ||
        (rc = rg_schema__require(&node, doc, map, "platform", "login_url")) < 0 ||
        (rc = rg_schema__url(&m->platform.login_url, &lb_login, doc, node, "platform.login_url")) <
            0 ||
        (rc = read_credentials(&m->platform, doc, map)) < 0)
        return rc;
    if ((node = rg_schema__optional(map, "insecure")) != NULL &&
        (rc = rg_schema__bool(&m->platform.insecure, doc, node, "platform.insecure")) < 0)
        return rc;
    if ((rc = check_transport(m, doc, map, lb_api, lb_login)) < 0)
        return rc;
    return read_cxone_brands(m, doc, map);
}

static int read_secret(char **out, const rg_doc *doc, const rg_doc_node *node, const char *path)
{
    const char *text = rg_doc_scalar(node), *name;
    size_t i = 0;

    if (text == NULL || rg_doc_is_null(node) || strncmp(text, "env:", 4) != 0)
        goto bad;
    name = text + 4;
    for (; name[i]; i++)
        if (!((name[i] >= 'A' && name[i] <= 'Z') || name[i] == '_' ||
              (i > 0 && name[i] >= '0' && name[i] <= '9')))
            goto bad;
    if (i == 0 || i > 128)
        goto bad;
    if ((*out = rg_strdup(name)) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    return 0;
bad:
    /* The value may be a pasted secret: never echo it. */
    return rg_doc_error(RG_EINVALID, doc, node, path,
                        "expected env:NAME naming an environment variable ([A-Z_][A-Z0-9_]*)");
}

int rg_manifest__read_secret(char **out, const rg_doc *doc, const rg_doc_node *node,
                             const char *path)
{
    return read_secret(out, doc, node, path);
}

static int read_events(rg_manifest_notify *n, const rg_doc *doc, const rg_doc_node *list,
                       const char *path)
{
    char item[RG_SCHEMA_PATH];
    int e, rc;

    if ((rc = rg_schema__sequence(doc, list, path, 1, 16)) < 0)
        return rc;
    if ((n->events = calloc(rg_doc_count(list), sizeof(char *))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < rg_doc_count(list); i++) {
        rg_schema__index(item, sizeof(item), path, i);
        if ((rc = rg_schema__enum(&e, doc, rg_doc_item(list, i), item, event_names)) < 0)
            return rc;
        for (size_t j = 0; j < n->events_count; j++)
            /* Analyzer false positive: the array is allocated with the count's entries and filled
             * before the count grows. */
            // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker)
            if (strcmp(n->events[j], event_names[e]) == 0)
                return rg_doc_error(RG_EINVALID, doc, rg_doc_item(list, i), item,
                                    "duplicate event '%s'", event_names[e]);
        if ((n->events[n->events_count++] = rg_strdup(event_names[e])) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
    }
    return 0;
}

static int read_notify_one(rg_manifest_notify *n, const rg_doc *doc, const rg_doc_node *map,
                           const char *path)
{
    static const char *const keys[] = {"url", "events", "secret", NULL};
    const rg_doc_node *node;
    char field[RG_SCHEMA_PATH];
    int loopback, rc;

    if ((rc = rg_schema__mapping(doc, map, path, keys)) < 0)
        return rc;
    rg_schema__join(field, sizeof(field), path, "url");
    if ((rc = rg_schema__require(&node, doc, map, path, "url")) < 0 ||
        (rc = rg_schema__url(&n->url, &loopback, doc, node, field)) < 0)
        return rc;
    rg_schema__join(field, sizeof(field), path, "events");
    if ((rc = rg_schema__require(&node, doc, map, path, "events")) < 0 ||
        (rc = read_events(n, doc, node, field)) < 0)
        return rc;
    rg_schema__join(field, sizeof(field), path, "secret");
    if ((rc = rg_schema__require(&node, doc, map, path, "secret")) < 0)
        return rc;
    return read_secret(&n->secret_env, doc, node, field);
}

static int read_notify(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root)
{
    const rg_doc_node *list = rg_schema__optional(root, "notify");
    char item[RG_SCHEMA_PATH];
    int rc;

    if (list == NULL)
        return 0;
    if ((rc = rg_schema__sequence(doc, list, "notify", 0, RG_MANIFEST_MAX_NOTIFY)) < 0)
        return rc;
    if (rg_doc_count(list) == 0)
        return 0;
    if ((m->notify = calloc(rg_doc_count(list), sizeof(*m->notify))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < rg_doc_count(list); i++) {
        rg_schema__index(item, sizeof(item), "notify", i);
        m->notify_count = i + 1;
        if ((rc = read_notify_one(&m->notify[i], doc, rg_doc_item(list, i), item)) < 0)
            return rc;
    }
    return 0;
}

static int read_id_list(char ***out, size_t *count, const rg_doc *doc, const rg_doc_node *list,
                        const char *path, size_t max)
{
    char item[RG_SCHEMA_PATH];
    int rc;

    if ((rc = rg_schema__sequence(doc, list, path, 0, max)) < 0)
        return rc;
    if (rg_doc_count(list) == 0)
        return 0;
    if ((*out = calloc(rg_doc_count(list), sizeof(char *))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < rg_doc_count(list); i++) {
        rg_schema__index(item, sizeof(item), path, i);
        if ((rc = rg_schema__id(&(*out)[i], doc, rg_doc_item(list, i), item)) < 0)
            return rc;
        *count = i + 1;
    }
    return 0;
}

static int read_change(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root)
{
    static const char *const keys[] = {"strategy", "resource", "watch_queues",
                                       "template", "weights",  NULL};
    const rg_doc_node *map, *node;
    int rc;

    if ((rc = rg_schema__require(&map, doc, root, NULL, "change")) < 0 ||
        (rc = rg_schema__mapping(doc, map, "change", keys)) < 0)
        return rc;
    if ((node = rg_schema__optional(map, "watch_queues")) != NULL &&
        (rc = read_id_list(&m->watch_queues, &m->watch_queues_count, doc, node,
                           "change.watch_queues", RG_MANIFEST_MAX_TARGETS)) < 0)
        return rc;
    return rg_manifest__read_resource(m, doc, map);
}

static int read_top(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root,
                    const char *base_dir)
{
    const rg_doc_node *node;
    int approval, rc;

    if ((rc = rg_schema__mapping(doc, root, NULL, manifest_keys)) < 0 ||
        (rc = rg_schema__require(&node, doc, root, NULL, "name")) < 0 ||
        (rc = rg_schema__id(&m->name, doc, node, "name")) < 0 ||
        (rc = rg_schema__require(&node, doc, root, NULL, "tenant")) < 0 ||
        (rc = rg_schema__id(&m->tenant, doc, node, "tenant")) < 0 ||
        (rc = read_policy(m, doc, root, base_dir)) < 0 || (rc = read_stages(m, doc, root)) < 0)
        return rc;
    if ((node = rg_schema__optional(root, "approval")) != NULL) {
        if ((rc = rg_schema__enum(&approval, doc, node, "approval", approval_names)) < 0)
            return rc;
        m->approval = (rg_approval)approval;
    }
    if ((node = rg_schema__optional(root, "holdout")) != NULL) {
        if ((rc = rg_schema__number(&m->holdout, doc, node, "holdout")) < 0)
            return rc;
        if (!(m->holdout > 0 && m->holdout <= 0.5))
            return rg_doc_error(RG_EINVALID, doc, node, "holdout",
                                "%g is out of range: expected a share in (0, 0.5]", m->holdout);
        m->has_holdout = 1;
    }
    return 0;
}

static int manifest_from_doc(rg_manifest **out, const rg_doc *doc, const char *base_dir,
                             const rg_manifest_options *opts)
{
    const rg_doc_node *root = rg_doc_root(doc);
    rg_manifest *m = calloc(1, sizeof(*m));
    int rc;

    if (m == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if ((rc = read_top(m, doc, root, base_dir)) < 0 || (rc = read_platform(m, doc, root)) < 0 ||
        (rc = rg_manifest__read_environments(m, doc, root, opts)) < 0 ||
        (rc = read_change(m, doc, root)) < 0 || (rc = read_notify(m, doc, root)) < 0 ||
        (rc = rg_manifest__read_gates(m, doc, root)) < 0 ||
        (rc = rg_manifest__finish_environments(m, doc, root)) < 0)
        goto cleanup;
    *out = m;
    m = NULL;
cleanup:
    rg_manifest_free(m);
    return rc;
}

int rg_manifest_load_buffer(rg_manifest **out, const char *name, const char *data, size_t len,
                            const char *base_dir, const rg_manifest_options *opts)
{
    rg_doc *doc = NULL;
    int rc;

    if (out == NULL || name == NULL)
        return rg_error_set(RG_EINVALID, "rg_manifest_load_buffer: invalid arguments");
    if ((rc = rg_doc_parse(&doc, name, data, len, RG_DOC_AUTO)) < 0)
        return rc;
    rc = manifest_from_doc(out, doc, base_dir, opts);
    rg_doc_free(doc);
    return rc;
}

int rg_manifest_load_file(rg_manifest **out, const char *path, const rg_manifest_options *opts)
{
    rg_doc *doc = NULL;
    char *copy = NULL;
    int rc;

    if (out == NULL || path == NULL)
        return rg_error_set(RG_EINVALID, "rg_manifest_load_file: invalid arguments");
    if ((rc = rg_doc_load_file(&doc, path)) < 0)
        return rc;
    if ((copy = rg_strdup(path)) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = manifest_from_doc(out, doc, dirname(copy), opts);
cleanup:
    free(copy);
    rg_doc_free(doc);
    return rc;
}

int rg_manifest_credentials_env(char **out, const char *org_id, const char *which)
{
    rg_buf name = RG_BUF_INIT;
    int rc;

    if (out == NULL || org_id == NULL || which == NULL)
        return rg_error_set(RG_EINVALID, "rg_manifest_credentials_env: invalid arguments");
    if ((rc = rg_buf_puts(&name, "ROLLGATE_")) < 0)
        goto cleanup;
    for (const char *p = org_id; *p; p++) {
        char c = *p;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            c = '_';
        if ((rc = rg_buf_put(&name, &c, 1)) < 0)
            goto cleanup;
    }
    if ((rc = rg_buf_printf(&name, "_%s", which)) < 0)
        goto cleanup;
    *out = rg_buf_detach(&name);
cleanup:
    rg_buf_dispose(&name);
    return rc;
}
