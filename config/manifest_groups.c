/* manifest_groups.c - deployment groups: orgs, variables, dependencies, cycles and tiers */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/manifest_internal.h"
#include "config/schema.h"
#include "rollgate/util.h"

int rg_manifest__is_var_name(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
              (n > 0 && c >= '0' && c <= '9')))
            return 0;
    }
    return n >= 1 && n <= 64;
}

static int org_url(char **out, const rg_manifest *m, const rg_doc *doc, const rg_doc_node *map,
                   const char *path, const char *key)
{
    const rg_doc_node *node = rg_schema__optional(map, key);
    char field[RG_SCHEMA_PATH];
    int loopback = 0, rc;

    if (node == NULL)
        return 0;
    rg_schema__join(field, sizeof(field), path, key);
    if (m->platform.driver != NULL && strcmp(m->platform.driver, "cxone") == 0)
        return rg_doc_error(RG_EINVALID, doc, node, field,
                            "a CXone brand takes the platform's discovery and auth hosts");
    if ((rc = rg_schema__url(out, &loopback, doc, node, field)) < 0)
        return rc;
    if (!loopback && m->platform.insecure)
        return rg_doc_error(RG_EINVALID, doc, node, field,
                            "platform.insecure is true but this host is not loopback");
    if (!loopback && strncmp(*out, "http:", 5) == 0)
        return rg_doc_error(RG_EINVALID, doc, node, field,
                            "plain http is only allowed for a loopback host; use https");
    return 0;
}

static int read_org(rg_manifest_org *org, const rg_manifest *m, const rg_doc *doc,
                    const rg_doc_node *node, const char *path)
{
    static const char *const keys[] = {"id", "api_url", "login_url", "driver", NULL};
    static const char *const drivers[] = {"genesys", "cxone", NULL};
    const rg_doc_node *id, *drv;
    char field[RG_SCHEMA_PATH];
    int rc, driver = 0;

    if (rg_doc_node_kind(node) == RG_DOC_SCALAR)
        return rg_schema__id(&org->id, doc, node, path);
    if ((rc = rg_schema__mapping(doc, node, path, keys)) < 0)
        return rc;
    rg_schema__join(field, sizeof(field), path, "id");
    if ((rc = rg_schema__require(&id, doc, node, path, "id")) < 0 ||
        (rc = rg_schema__id(&org->id, doc, id, field)) < 0 ||
        (rc = org_url(&org->api_url, m, doc, node, path, "api_url")) < 0 ||
        (rc = org_url(&org->login_url, m, doc, node, path, "login_url")) < 0)
        return rc;
    if ((drv = rg_schema__optional(node, "driver")) == NULL)
        return 0;
    rg_schema__join(field, sizeof(field), path, "driver");
    if ((rc = rg_schema__enum(&driver, doc, drv, field, drivers)) < 0)
        return rc;
    if (strcmp(drivers[driver], m->platform.driver) == 0)
        return 0; /* the platform's own driver, written out */
    if (driver == 0)
        return rg_doc_error(RG_EINVALID, doc, drv, field,
                            "a driver: cxone manifest has CXone brands only; Genesys orgs "
                            "take driver: genesys with platform.cxone for the brands");
    if (m->platform.cxone_descriptor == NULL)
        return rg_doc_error(RG_EINVALID, doc, drv, field,
                            "a CXone brand in a genesys manifest needs platform.cxone");
    if (org->api_url != NULL || org->login_url != NULL)
        return rg_doc_error(RG_EINVALID, doc, node, path,
                            "a CXone brand takes platform.cxone's discovery and auth hosts");
    org->cxone = 1;
    return 0;
}

/* Every org id appears once over all groups; seen[] holds the ids read so far. */
/* Every org id seen so far and its group, so a duplicate is found in O(1), not by scanning
 * every earlier group (10,000 orgs made that the bulk of loading a manifest). */
typedef struct {
    const char *id;
    const char *group;
} org_slot;

typedef struct {
    size_t total;
    org_slot *slots; /* open addressing, power-of-two size > 2 x RG_MANIFEST_MAX_ORGS */
    size_t cap;
} org_index;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The group already holding `id`, or NULL after recording it for `group`. */
static const char *org_seen(org_index *ix, const char *id, const char *group)
{
    size_t i = (size_t)fnv1a(id) & (ix->cap - 1);
    while (ix->slots[i].id) {
        if (strcmp(ix->slots[i].id, id) == 0)
            return ix->slots[i].group;
        i = (i + 1) & (ix->cap - 1);
    }
    ix->slots[i].id = id;
    ix->slots[i].group = group;
    return NULL;
}

static int read_orgs(rg_manifest_group *g, const rg_manifest *m, const rg_doc *doc,
                     const rg_doc_node *list, const char *path, org_index *seen)
{
    char item[RG_SCHEMA_PATH];
    int rc;

    if ((rc = rg_schema__sequence(doc, list, path, 1, RG_DOC_MAX_ITEMS)) < 0)
        return rc;
    if (seen->total + rg_doc_count(list) > RG_MANIFEST_MAX_ORGS)
        return rg_doc_error(RG_ELIMIT, doc, list, path,
                            "more than %d organizations in the manifest", RG_MANIFEST_MAX_ORGS);
    if ((g->orgs = calloc(rg_doc_count(list), sizeof(*g->orgs))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < rg_doc_count(list); i++) {
        const rg_doc_node *node = rg_doc_item(list, i);
        rg_schema__index(item, sizeof(item), path, i);
        g->orgs_count = i + 1;
        const char *other;
        if ((rc = read_org(&g->orgs[i], m, doc, node, item)) < 0)
            return rc;
        if ((other = org_seen(seen, g->orgs[i].id, g->name)) != NULL)
            return rg_doc_error(RG_EINVALID, doc, node, item,
                                "org '%s' is already listed in group '%s'", g->orgs[i].id, other);
    }
    seen->total += rg_doc_count(list);
    return 0;
}

static int read_vars(rg_manifest_group *g, const rg_doc *doc, const rg_doc_node *map,
                     const char *path)
{
    char field[RG_SCHEMA_PATH];
    size_t n;

    if (rg_doc_node_kind(map) != RG_DOC_MAPPING)
        return rg_doc_error(RG_EINVALID, doc, map, path, "expected a mapping of NAME: value");
    if ((n = rg_doc_count(map)) > RG_MANIFEST_MAX_VARS)
        return rg_doc_error(RG_ELIMIT, doc, map, path, "more than %d variables",
                            RG_MANIFEST_MAX_VARS);
    if (n > 0 && (g->vars = calloc(n, sizeof(*g->vars))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const rg_doc_node *key = rg_doc_key(map, i), *value = rg_doc_item(map, i);
        rg_schema__join(field, sizeof(field), path, rg_doc_scalar(key));
        if (!rg_manifest__is_var_name(rg_doc_scalar(key)))
            return rg_doc_error(RG_EINVALID, doc, key, field,
                                "not a variable name: expected [A-Za-z_][A-Za-z0-9_]{0,63}");
        if (rg_doc_node_kind(value) != RG_DOC_SCALAR || rg_doc_is_null(value))
            return rg_doc_error(RG_EINVALID, doc, value, field, "expected a string value");
        g->vars_count = i + 1;
        if ((g->vars[i].name = rg_strdup(rg_doc_scalar(key))) == NULL ||
            (g->vars[i].value = rg_strdup(rg_doc_scalar(value))) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
    }
    return 0;
}

/* --var K=V: replaces a group's K or adds it. */
static int fold_option_vars(rg_manifest_group *g, const rg_manifest_options *opts)
{
    for (size_t i = 0; opts && i < opts->vars_count; i++) {
        const rg_manifest_var *v = &opts->vars[i];
        size_t j = 0;
        char *value;

        if (!rg_manifest__is_var_name(v->name))
            return rg_error_set(RG_EINVALID, "--var %.64s: not a variable name", v->name);
        while (j < g->vars_count && strcmp(g->vars[j].name, v->name) != 0)
            j++;
        if ((value = rg_strdup(v->value)) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        if (j == g->vars_count) {
            rg_manifest_var *grown = realloc(g->vars, (j + 1) * sizeof(*grown));
            if (grown == NULL || (grown[j].name = rg_strdup(v->name)) == NULL) {
                if (grown)
                    g->vars = grown;
                free(value);
                return rg_error_set(RG_ENOMEM, "out of memory");
            }
            g->vars = grown;
            g->vars_count++;
        } else {
            free(g->vars[j].value);
        }
        g->vars[j].value = value;
    }
    return 0;
}

static int read_group(rg_manifest *m, rg_manifest_group *g, const rg_doc *doc,
                      const rg_doc_node *map, const char *path, org_index *total,
                      const rg_manifest_options *opts)
{
    static const char *const keys[] = {"name", "depends_on", "orgs", "vars", NULL};
    const rg_doc_node *node;
    char field[RG_SCHEMA_PATH], item[RG_SCHEMA_PATH];
    int rc;

    if ((rc = rg_schema__mapping(doc, map, path, keys)) < 0)
        return rc;
    rg_schema__join(field, sizeof(field), path, "name");
    if ((rc = rg_schema__require(&node, doc, map, path, "name")) < 0 ||
        (rc = rg_schema__id(&g->name, doc, node, field)) < 0)
        return rc;
    for (rg_manifest_group *o = m->groups; o < g; o++)
        if (strcmp(o->name, g->name) == 0)
            return rg_doc_error(RG_EINVALID, doc, node, field, "duplicate group '%s'", g->name);
    if ((node = rg_schema__optional(map, "depends_on")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "depends_on");
        if ((rc = rg_schema__sequence(doc, node, field, 0, RG_MANIFEST_MAX_GROUPS)) < 0)
            return rc;
        if (rg_doc_count(node) > 0 &&
            (g->depends_on = calloc(rg_doc_count(node), sizeof(char *))) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        for (size_t i = 0; i < rg_doc_count(node); i++) {
            rg_schema__index(item, sizeof(item), field, i);
            if ((rc = rg_schema__id(&g->depends_on[i], doc, rg_doc_item(node, i), item)) < 0)
                return rc;
            g->depends_on_count = i + 1;
        }
    }
    rg_schema__join(field, sizeof(field), path, "orgs");
    if ((rc = rg_schema__require(&node, doc, map, path, "orgs")) < 0 ||
        (rc = read_orgs(g, m, doc, node, field, total)) < 0)
        return rc;
    rg_schema__join(field, sizeof(field), path, "vars");
    if ((node = rg_schema__optional(map, "vars")) != NULL &&
        (rc = read_vars(g, doc, node, field)) < 0)
        return rc;
    return fold_option_vars(g, opts);
}

static size_t group_index(const rg_manifest *m, const char *name)
{
    for (size_t i = 0; i < m->groups_count; i++)
        if (strcmp(m->groups[i].name, name) == 0)
            return i;
    return (size_t)-1;
}

/* Depth-first walk: state 0 new, 1 on the stack, 2 done (tier known). A dependency on a
 * group that is on the stack closes a cycle, reported from where it re-enters. */
typedef struct {
    rg_manifest *m;
    const rg_doc *doc;
    const rg_doc_node *list;
    unsigned char *state;
    size_t *stack;
    size_t depth;
} walk;

static int cycle_error(walk *w, size_t from, size_t dep_pos, size_t to)
{
    rg_buf text = RG_BUF_INIT;
    char field[RG_SCHEMA_PATH];
    const rg_doc_node *deps = rg_doc_get(rg_doc_item(w->list, from), "depends_on");
    size_t start = 0;
    int rc;

    while (w->stack[start] != to)
        start++;
    for (size_t i = start; i < w->depth; i++)
        rg_buf_printf(&text, "%s -> ", w->m->groups[w->stack[i]].name);
    rg_buf_puts(&text, w->m->groups[to].name);
    snprintf(field, sizeof(field), "groups[%zu].depends_on[%zu]", from, dep_pos);
    rc = rg_doc_error(RG_EINVALID, w->doc, rg_doc_item(deps, dep_pos), field, "cycle: %s",
                      rg_buf_cstr(&text));
    rg_buf_dispose(&text);
    return rc;
}

static int visit(walk *w, size_t g)
{
    rg_manifest_group *group = &w->m->groups[g];
    int rc;

    w->state[g] = 1;
    w->stack[w->depth++] = g;
    group->tier = 0;
    for (size_t i = 0; i < group->depends_on_count; i++) {
        size_t d = group_index(w->m, group->depends_on[i]);
        if (w->state[d] == 1)
            return cycle_error(w, g, i, d);
        if (w->state[d] == 0 && (rc = visit(w, d)) < 0)
            return rc;
        if (w->m->groups[d].tier + 1 > group->tier)
            group->tier = w->m->groups[d].tier + 1;
    }
    w->depth--;
    w->state[g] = 2;
    return 0;
}

static int check_dependencies(rg_manifest *m, const rg_doc *doc, const rg_doc_node *list)
{
    walk w = {m, doc, list, NULL, NULL, 0};
    char item[RG_SCHEMA_PATH];
    int rc = 0;

    for (size_t g = 0; g < m->groups_count; g++) {
        const rg_doc_node *deps = rg_doc_get(rg_doc_item(list, g), "depends_on");
        for (size_t i = 0; i < m->groups[g].depends_on_count; i++) {
            if (group_index(m, m->groups[g].depends_on[i]) != (size_t)-1)
                continue;
            snprintf(item, sizeof(item), "groups[%zu].depends_on[%zu]", g, i);
            return rg_doc_error(RG_EINVALID, doc, rg_doc_item(deps, i), item, "unknown group '%s'",
                                m->groups[g].depends_on[i]);
        }
    }
    w.state = calloc(m->groups_count + 1, 1); /* + 1: never calloc(0) */
    w.stack = calloc(m->groups_count + 1, sizeof(size_t));
    if (w.state == NULL || w.stack == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t g = 0; g < m->groups_count && rc == 0; g++)
        if (w.state[g] == 0)
            rc = visit(&w, g);
cleanup:
    free(w.state);
    free(w.stack);
    return rc;
}

int rg_manifest__read_groups(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root,
                             const rg_manifest_options *opts)
{
    const rg_doc_node *list;
    char item[RG_SCHEMA_PATH];
    org_index seen = {0, NULL, 1};
    int rc;

    if ((rc = rg_schema__require(&list, doc, root, NULL, "groups")) < 0 ||
        (rc = rg_schema__sequence(doc, list, "groups", 1, RG_MANIFEST_MAX_GROUPS)) < 0)
        return rc;
    if ((m->groups = calloc(rg_doc_count(list), sizeof(*m->groups))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    while (seen.cap <= (size_t)2 * RG_MANIFEST_MAX_ORGS)
        seen.cap *= 2;
    if ((seen.slots = calloc(seen.cap, sizeof(*seen.slots))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < rg_doc_count(list); i++) {
        rg_schema__index(item, sizeof(item), "groups", i);
        m->groups_count = i + 1;
        if ((rc = read_group(m, &m->groups[i], doc, rg_doc_item(list, i), item, &seen, opts)) < 0)
            break;
    }
    free(seen.slots);
    return rc < 0 ? rc : check_dependencies(m, doc, list);
}
