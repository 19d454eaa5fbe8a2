/* manifest_env.c - environments: one change, per-environment groups and requirements, and
 * the artifact digest that ties a production rollout to what staging ran */
#include <stdlib.h>
#include <string.h>

#include "config/manifest_internal.h"
#include "config/schema.h"
#include "rollgate/util.h"

static const char *const env_keys[] = {"groups", "vars", "requires", "approval", NULL};
static const char *const approval_names[] = {"required", "none", NULL};

static void free_groups(rg_manifest_group *groups, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rg_manifest_group *g = &groups[i];
        free(g->name);
        for (size_t j = 0; j < g->depends_on_count; j++)
            free(g->depends_on[j]);
        free(g->depends_on);
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
    free(groups);
}

void rg_manifest__free_environments(rg_manifest *m)
{
    for (size_t i = 0; i < m->environments_count; i++) {
        rg_manifest_env *e = &m->environments[i];
        free(e->name);
        free_groups(e->groups, e->groups_count);
        for (size_t j = 0; j < e->requires_count; j++)
            free(e->requires[j]);
        free(e->requires);
    }
    free(m->environments);
    free(m->environment);
    m->environments = NULL;
    m->environments_count = 0;
    m->environment = NULL;
}

const rg_manifest_env *rg_manifest_env_find(const rg_manifest *m, const char *name)
{
    for (size_t i = 0; m && name && i < m->environments_count; i++)
        if (strcmp(m->environments[i].name, name) == 0)
            return &m->environments[i];
    return NULL;
}

const rg_manifest_group *rg_manifest_env_groups(const rg_manifest *m, const rg_manifest_env *e,
                                                size_t *out_count)
{
    if (m->environment && strcmp(e->name, m->environment) == 0) {
        *out_count = m->groups_count;
        return m->groups;
    }
    *out_count = e->groups_count;
    return e->groups;
}

static size_t env_index(const rg_manifest *m, const char *name)
{
    for (size_t i = 0; i < m->environments_count; i++)
        if (strcmp(m->environments[i].name, name) == 0)
            return i;
    return (size_t)-1;
}

/* Environment-level vars are defaults under each group's own and --var. */
static int fold_env_vars(rg_manifest *m, const rg_doc *doc, const rg_doc_node *map,
                         const char *path)
{
    char field[RG_SCHEMA_PATH];

    if (rg_doc_node_kind(map) != RG_DOC_MAPPING)
        return rg_doc_error(RG_EINVALID, doc, map, path, "expected a mapping of NAME: value");
    if (rg_doc_count(map) > RG_MANIFEST_MAX_VARS)
        return rg_doc_error(RG_ELIMIT, doc, map, path, "more than %d variables",
                            RG_MANIFEST_MAX_VARS);
    for (size_t i = 0; i < rg_doc_count(map); i++) {
        const rg_doc_node *key = rg_doc_key(map, i), *value = rg_doc_item(map, i);
        const char *name = rg_doc_scalar(key);
        rg_schema__join(field, sizeof(field), path, name);
        if (!rg_manifest__is_var_name(name))
            return rg_doc_error(RG_EINVALID, doc, key, field,
                                "not a variable name: expected [A-Za-z_][A-Za-z0-9_]{0,63}");
        if (rg_doc_node_kind(value) != RG_DOC_SCALAR || rg_doc_is_null(value))
            return rg_doc_error(RG_EINVALID, doc, value, field, "expected a string value");
        for (size_t g = 0; g < m->groups_count; g++) {
            rg_manifest_group *grp = &m->groups[g];
            rg_manifest_var *grown;
            size_t j = 0;
            while (j < grp->vars_count && strcmp(grp->vars[j].name, name) != 0)
                j++;
            if (j < grp->vars_count)
                continue;
            if ((grown = realloc(grp->vars, (j + 1) * sizeof(*grown))) == NULL)
                return rg_error_set(RG_ENOMEM, "out of memory");
            grp->vars = grown;
            grown[j].name = rg_strdup(name);
            grown[j].value = rg_strdup(rg_doc_scalar(value));
            grp->vars_count++;
            if (grown[j].name == NULL || grown[j].value == NULL)
                return rg_error_set(RG_ENOMEM, "out of memory");
        }
    }
    return 0;
}

static int read_requires(rg_manifest_env *e, const rg_doc *doc, const rg_doc_node *map,
                         const char *path)
{
    static const char *const states[] = {"completed", NULL};
    char field[RG_SCHEMA_PATH];
    int state, rc;

    if (rg_doc_node_kind(map) != RG_DOC_MAPPING)
        return rg_doc_error(RG_EINVALID, doc, map, path,
                            "expected a mapping {ENVIRONMENT: completed, max_age: DURATION}");
    if (rg_doc_count(map) > RG_MANIFEST_MAX_ENVIRONMENTS + 1)
        return rg_doc_error(RG_ELIMIT, doc, map, path, "too many entries");
    if ((e->requires = calloc(rg_doc_count(map) + 1, sizeof(char *))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < rg_doc_count(map); i++) {
        const rg_doc_node *key = rg_doc_key(map, i), *value = rg_doc_item(map, i);
        const char *name = rg_doc_scalar(key);
        rg_schema__join(field, sizeof(field), path, name);
        if (strcmp(name, "max_age") == 0) {
            if ((rc = rg_schema__duration(&e->max_age_ms, doc, value, field)) < 0)
                return rc;
            if (e->max_age_ms <= 0)
                return rg_doc_error(RG_EINVALID, doc, value, field, "expected a duration > 0");
            continue;
        }
        if (!rg_schema__is_id(name))
            return rg_doc_error(RG_EINVALID, doc, key, field,
                                "expected an environment name ([A-Za-z0-9_.:-]{1,128})");
        if ((rc = rg_schema__enum(&state, doc, value, field, states)) < 0)
            return rc;
        if ((e->requires[e->requires_count++] = rg_strdup(name)) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
    }
    return 0;
}

/* Reads one environment's groups through the manifest's own group reader, then moves them
 * into the entry. */
static int read_env(rg_manifest *m, rg_manifest_env *e, const rg_doc *doc, const rg_doc_node *map,
                    const char *path, const rg_manifest_options *opts)
{
    const rg_doc_node *node;
    char field[RG_SCHEMA_PATH];
    int approval, rc;

    if ((rc = rg_schema__mapping(doc, map, path, env_keys)) < 0)
        return rc;
    if (rg_doc_get(map, "groups") == NULL)
        return rg_doc_error(RG_EINVALID, doc, map, path, "missing required field 'groups'");
    rc = rg_manifest__read_groups(m, doc, map, opts);
    e->groups = m->groups;
    e->groups_count = m->groups_count;
    m->groups = NULL;
    m->groups_count = 0;
    if (rc < 0) {
        rg_error_prefix("%s", path);
        return rc;
    }
    if ((node = rg_schema__optional(map, "vars")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "vars");
        m->groups = e->groups;
        m->groups_count = e->groups_count;
        rc = fold_env_vars(m, doc, node, field);
        e->groups = m->groups;
        m->groups = NULL;
        m->groups_count = 0;
        if (rc < 0)
            return rc;
    }
    if ((node = rg_schema__optional(map, "requires")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "requires");
        if ((rc = read_requires(e, doc, node, field)) < 0)
            return rc;
    }
    if ((node = rg_schema__optional(map, "approval")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "approval");
        if ((rc = rg_schema__enum(&approval, doc, node, field, approval_names)) < 0)
            return rc;
        e->has_approval = 1;
        e->approval = (rg_approval)approval;
    }
    return 0;
}

/* An organization is in one environment only: a staging org never receives production's
 * rollout by accident. */
static int check_orgs(const rg_manifest *m, const rg_doc *doc, const rg_doc_node *envs)
{
    for (size_t a = 1; a < m->environments_count; a++) {
        const rg_manifest_env *ea = &m->environments[a];
        for (size_t g = 0; g < ea->groups_count; g++)
            for (size_t o = 0; o < ea->groups[g].orgs_count; o++) {
                const char *id = ea->groups[g].orgs[o].id;
                for (size_t b = 0; b < a; b++) {
                    const rg_manifest_env *eb = &m->environments[b];
                    for (size_t h = 0; h < eb->groups_count; h++)
                        for (size_t p = 0; p < eb->groups[h].orgs_count; p++) {
                            const rg_doc_node *node;
                            char path[RG_SCHEMA_PATH];
                            if (strcmp(id, eb->groups[h].orgs[p].id) != 0)
                                continue;
                            node = rg_doc_get(rg_doc_item(envs, a), "groups");
                            node = rg_doc_get(rg_doc_item(node, g), "orgs");
                            node = rg_doc_item(node, o);
                            snprintf(path, sizeof(path), "environments.%s.groups[%zu].orgs[%zu]",
                                     ea->name, g, o);
                            return rg_doc_error(RG_EINVALID, doc, node, path,
                                                "org '%s' is already listed in environment '%s'",
                                                id, eb->name);
                        }
                }
            }
    }
    return 0;
}

typedef struct {
    const rg_manifest *m;
    const rg_doc *doc;
    const rg_doc_node *envs;
    unsigned char state[RG_MANIFEST_MAX_ENVIRONMENTS];
    size_t stack[RG_MANIFEST_MAX_ENVIRONMENTS];
    size_t depth;
} req_walk;

static int visit(req_walk *w, size_t e)
{
    const rg_manifest_env *env = &w->m->environments[e];
    int rc;

    w->state[e] = 1;
    w->stack[w->depth++] = e;
    for (size_t i = 0; i < env->requires_count; i++) {
        size_t d = env_index(w->m, env->requires[i]);
        const rg_doc_node *req = rg_doc_get(rg_doc_item(w->envs, e), "requires");
        char path[RG_SCHEMA_PATH];
        snprintf(path, sizeof(path), "environments.%s.requires.%s", env->name, env->requires[i]);
        if (d == (size_t)-1)
            return rg_doc_error(RG_EINVALID, w->doc, rg_doc_get(req, env->requires[i]), path,
                                "unknown environment '%s' (a required environment must be "
                                "defined under environments)",
                                env->requires[i]);
        if (w->state[d] == 1) {
            rg_buf text = RG_BUF_INIT;
            size_t start = 0;
            while (w->stack[start] != d)
                start++;
            for (size_t k = start; k < w->depth; k++)
                rg_buf_printf(&text, "%s -> ", w->m->environments[w->stack[k]].name);
            rg_buf_puts(&text, w->m->environments[d].name);
            rc = rg_doc_error(RG_EINVALID, w->doc, rg_doc_get(req, env->requires[i]), path,
                              "cycle in requires: %s", rg_buf_cstr(&text));
            rg_buf_dispose(&text);
            return rc;
        }
        if (w->state[d] == 0 && (rc = visit(w, d)) < 0)
            return rc;
    }
    w->depth--;
    w->state[e] = 2;
    return 0;
}

static int check_requires(const rg_manifest *m, const rg_doc *doc, const rg_doc_node *envs)
{
    req_walk w;
    int rc;

    memset(&w, 0, sizeof(w));
    w.m = m;
    w.doc = doc;
    w.envs = envs;
    for (size_t e = 0; e < m->environments_count; e++)
        if (w.state[e] == 0 && (rc = visit(&w, e)) < 0)
            return rc;
    return 0;
}

static int names_list(rg_buf *out, const rg_manifest *m)
{
    for (size_t i = 0; i < m->environments_count; i++)
        rg_buf_printf(out, "%s%s", i ? ", " : "", m->environments[i].name);
    return 0;
}

static int select_env(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root,
                      const rg_doc_node *envs, const rg_manifest_options *opts)
{
    const rg_doc_node *node = rg_schema__optional(root, "environment");
    const char *want = opts ? opts->environment : NULL;
    rg_buf names = RG_BUF_INIT;
    rg_manifest_env *e;
    size_t i;
    int rc;

    if (want == NULL && node != NULL) {
        if (rg_doc_node_kind(node) != RG_DOC_SCALAR || rg_doc_is_null(node))
            return rg_doc_error(RG_EINVALID, doc, node, "environment",
                                "expected an environment name");
        want = rg_doc_scalar(node);
    }
    names_list(&names, m);
    if (want == NULL) {
        rc = rg_doc_error(RG_EINVALID, doc, envs, "environments",
                          "this manifest has environments (%s): choose one with --env NAME",
                          rg_buf_cstr(&names));
        goto cleanup;
    }
    if ((i = env_index(m, want)) == (size_t)-1) {
        rc = rg_doc_error(RG_EINVALID, doc, node && !(opts && opts->environment) ? node : envs,
                          "environments", "unknown environment '%.128s'; this manifest has %s",
                          want, rg_buf_cstr(&names));
        goto cleanup;
    }
    /* Every entry gets its approval explicitly, so the stored form selects another
     * environment with the approval that one had, not the selected one's. */
    for (size_t k = 0; k < m->environments_count; k++)
        if (!m->environments[k].has_approval) {
            m->environments[k].has_approval = 1;
            m->environments[k].approval = m->approval;
        }
    e = &m->environments[i];
    if ((m->environment = rg_strdup(e->name)) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    m->groups = e->groups;
    m->groups_count = e->groups_count;
    e->groups = NULL;
    e->groups_count = 0;
    m->approval = e->approval;
    rc = 0;
cleanup:
    rg_buf_dispose(&names);
    return rc;
}

int rg_manifest__read_environments(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root,
                                   const rg_manifest_options *opts)
{
    const rg_doc_node *envs = rg_schema__optional(root, "environments"), *node;
    char path[RG_SCHEMA_PATH];
    size_t n;
    int rc;

    if (envs == NULL) {
        if ((node = rg_schema__optional(root, "environment")) != NULL)
            return rg_doc_error(RG_EINVALID, doc, node, "environment",
                                "environment is only meaningful with environments");
        if (opts && opts->environment)
            return rg_error_set(RG_EINVALID,
                                "%s: --env %.128s: this manifest has no "
                                "environments",
                                rg_doc_name(doc), opts->environment);
        return rg_manifest__read_groups(m, doc, root, opts);
    }
    if ((node = rg_schema__optional(root, "groups")) != NULL)
        return rg_doc_error(RG_EINVALID, doc, node, "groups",
                            "a manifest with environments lists groups per environment "
                            "(environments.NAME.groups), not at the top level");
    if (rg_doc_node_kind(envs) != RG_DOC_MAPPING || (n = rg_doc_count(envs)) == 0)
        return rg_doc_error(RG_EINVALID, doc, envs, "environments",
                            "expected a mapping NAME: {groups, requires?, approval?, vars?}");
    if (n > RG_MANIFEST_MAX_ENVIRONMENTS)
        return rg_doc_error(RG_ELIMIT, doc, envs, "environments", "more than %d environments",
                            RG_MANIFEST_MAX_ENVIRONMENTS);
    if ((m->environments = calloc(n, sizeof(*m->environments))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *name = rg_doc_scalar(rg_doc_key(envs, i));
        rg_manifest_env *e = &m->environments[i];
        rg_schema__join(path, sizeof(path), "environments", name);
        m->environments_count = i + 1;
        if (!rg_schema__is_id(name) || strcmp(name, "max_age") == 0)
            return rg_doc_error(RG_EINVALID, doc, rg_doc_key(envs, i), path,
                                "expected an environment name ([A-Za-z0-9_.:-]{1,128}, not "
                                "max_age)");
        if ((e->name = rg_strdup(name)) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        if ((rc = read_env(m, e, doc, rg_doc_item(envs, i), path, opts)) < 0)
            return rc;
    }
    if ((rc = check_orgs(m, doc, envs)) < 0 || (rc = check_requires(m, doc, envs)) < 0)
        return rc;
    return select_env(m, doc, root, envs, opts);
}

/* The canonical artifact: what is the same in every environment. */
static int compute_digest(rg_manifest *m)
{
    json_t *policy = NULL, *stages = json_array(), *doc = NULL, *watch = json_array();
    char *text = NULL, hex[65];
    int rc;

    if ((rc = rg_policy_to_json(&policy, m->policy)) < 0)
        goto cleanup;
    for (size_t i = 0; stages && i < m->stages_count; i++)
        json_array_append_new(stages, rg_manifest__stage_json(&m->stages[i]));
    for (size_t i = 0; watch && i < m->watch_queues_count; i++)
        json_array_append_new(watch, json_string(m->watch_queues[i]));
    doc = json_pack("{s:s, s:s, s:O, s:O, s:o}", "name", m->name, "tenant", m->tenant, "policy",
                    policy, "stages", stages, "change",
                    rg_manifest__change_json(m, json_incref(watch)));
    if (doc && m->has_holdout)
        json_object_set_new(doc, "holdout", json_real(m->holdout));
    if (doc == NULL || (text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory computing the manifest digest");
        goto cleanup;
    }
    rg_sha256_hex(hex, text, strlen(text));
    snprintf(m->digest, sizeof(m->digest), "sha256:%s", hex);
cleanup:
    free(text);
    json_decref(doc);
    json_decref(policy);
    json_decref(stages);
    json_decref(watch);
    return rc;
}

/* Every environment must render the one template, not only the selected one. */
static int check_templates(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root)
{
    const rg_doc_node *envs = rg_doc_get(root, "environments");
    rg_manifest_group *own = m->groups;
    size_t own_count = m->groups_count;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < m->environments_count; i++) {
        rg_manifest_env *e = &m->environments[i];
        rg_resolution *res = NULL;
        char path[RG_SCHEMA_PATH];
        if (e->groups == NULL)
            continue;
        m->groups = e->groups;
        m->groups_count = e->groups_count;
        rc = rg_manifest_resolve(&res, m);
        rg_resolution_free(res);
        if (rc < 0) {
            rg_schema__join(path, sizeof(path), "environments", e->name);
            rc = rg_doc_error(rc, doc, rg_doc_item(envs, i), path, "%s", rg_error_last());
        }
    }
    m->groups = own;
    m->groups_count = own_count;
    return rc;
}

int rg_manifest__finish_environments(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root)
{
    int rc;

    if ((rc = check_templates(m, doc, root)) < 0)
        return rc;
    return compute_digest(m);
}

static json_t *env_json(const rg_manifest *m, const rg_manifest_env *e)
{
    json_t *groups = json_array(), *requires = json_object(), *obj;
    size_t n = 0;
    const rg_manifest_group *g = rg_manifest_env_groups(m, e, &n);
    rg_buf age = RG_BUF_INIT;

    for (size_t i = 0; groups && i < n; i++)
        if (json_array_append_new(groups, rg_manifest__group_json(&g[i])) < 0)
            goto fail;
    for (size_t i = 0; requires && i < e->requires_count; i++)
        json_object_set_new(requires, e->requires[i], json_string("completed"));
    if (groups == NULL || requires == NULL)
        goto fail;
    if (e->max_age_ms > 0 && rg_format_duration(&age, e->max_age_ms) == 0)
        json_object_set_new(requires, "max_age", json_string(rg_buf_cstr(&age)));
    rg_buf_dispose(&age);
    obj = json_pack("{s:o, s:o}", "groups", groups, "requires", requires);
    if (obj && e->has_approval)
        json_object_set_new(obj, "approval", json_string(rg_approval_name(e->approval)));
    return obj;
fail:
    json_decref(groups);
    json_decref(requires);
    return NULL;
}

int rg_manifest__environments_json(json_t *obj, const rg_manifest *m)
{
    json_t *envs;

    if (m->environments_count == 0)
        return 0;
    if ((envs = json_object()) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->environments_count; i++) {
        json_t *e = env_json(m, &m->environments[i]);
        if (e == NULL || json_object_set_new(envs, m->environments[i].name, e) < 0) {
            json_decref(envs);
            return rg_error_set(RG_ENOMEM, "out of memory");
        }
    }
    json_object_del(obj, "groups");
    if (json_object_set_new(obj, "environment", json_string(m->environment)) < 0 ||
        json_object_set_new(obj, "environments", envs) < 0)
        return rg_error_set(RG_ENOMEM, "out of memory");
    return 0;
}

int rg_manifest__environments_equal(const rg_manifest *a, const rg_manifest *b)
{
    if (a->environments_count != b->environments_count || strcmp(a->digest, b->digest) != 0)
        return 0;
    if (a->environments_count == 0)
        return 1;
    if (strcmp(a->environment, b->environment) != 0)
        return 0;
    for (size_t i = 0; i < a->environments_count; i++) {
        const rg_manifest_env *x = &a->environments[i], *y = &b->environments[i];
        size_t nx = 0, ny = 0;
        const rg_manifest_group *gx = rg_manifest_env_groups(a, x, &nx);
        const rg_manifest_group *gy = rg_manifest_env_groups(b, y, &ny);
        if (strcmp(x->name, y->name) != 0 || x->max_age_ms != y->max_age_ms ||
            x->has_approval != y->has_approval || (x->has_approval && x->approval != y->approval) ||
            x->requires_count != y->requires_count || nx != ny)
            return 0;
        for (size_t j = 0; j < x->requires_count; j++)
            if (strcmp(x->requires[j], y -> requires[j]) != 0)
                return 0;
        for (size_t j = 0; j < nx; j++)
            if (!rg_manifest__group_equal(&gx[j], &gy[j]))
                return 0;
    }
    return 1;
}
