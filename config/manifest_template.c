/* manifest_template.c - the change template: targets, weights and {{VAR}} rendering */
#include <stdlib.h>
#include <string.h>

#include "config/manifest_internal.h"
#include "config/schema.h"
#include "rollgate/util.h"

static const char *lookup(const rg_manifest_var *vars, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(vars[i].name) == len && strncmp(vars[i].name, name, len) == 0)
            return vars[i].value;
    return NULL;
}

int rg_manifest__render_text(char **out, const char *text, const rg_manifest_var *vars,
                             size_t vars_count)
{
    rg_buf buf = RG_BUF_INIT;
    const char *p = text, *open;
    int rc = 0;

    while ((open = strstr(p, "{{")) != NULL) {
        const char *name = open + 2, *close = strstr(name, "}}"), *end, *value;
        char var[65];
        if ((rc = rg_buf_put(&buf, p, (size_t)(open - p))) < 0)
            goto cleanup;
        if (close == NULL) {
            rc = rg_error_set(RG_EINVALID, "unterminated '{{' (expected {{NAME}})");
            goto cleanup;
        }
        while (name < close && *name == ' ')
            name++;
        end = close;
        while (end > name && end[-1] == ' ')
            end--;
        snprintf(var, sizeof(var), "%.*s", (int)(end - name), name);
        if ((size_t)(end - name) >= sizeof(var) || !rg_manifest__is_var_name(var)) {
            rc = rg_error_set(RG_EINVALID, "'{{%.*s}}' is not a variable reference",
                              (int)(close - open - 2 > 64 ? 64 : close - open - 2), open + 2);
            goto cleanup;
        }
        if ((value = lookup(vars, vars_count, name, (size_t)(end - name))) == NULL) {
            rc = rg_error_set(RG_EINVALID, "undefined variable '%s'", var);
            goto cleanup;
        }
        if ((rc = rg_buf_puts(&buf, value)) < 0)
            goto cleanup;
        p = close + 2;
    }
    if ((rc = rg_buf_puts(&buf, p)) < 0)
        goto cleanup;
    *out = rg_buf_detach(&buf);
cleanup:
    rg_buf_dispose(&buf);
    return rc;
}

int rg_manifest__render_json(json_t **out, const json_t *value, const rg_manifest_var *vars,
                             size_t vars_count)
{
    json_t *copy = NULL, *child = NULL;
    const char *key;
    json_t *item;
    size_t i;
    char *text = NULL;
    int rc = 0;

    if (json_is_string(value)) {
        if ((rc = rg_manifest__render_text(&text, json_string_value(value), vars, vars_count)) < 0)
            return rc;
        copy = json_string(text);
        free(text);
    } else if (json_is_array(value)) {
        copy = json_array();
        json_array_foreach(value, i, item)
        {
            if (copy == NULL || (rc = rg_manifest__render_json(&child, item, vars, vars_count)) < 0)
                goto cleanup;
            if (json_array_append_new(copy, child))
                goto nomem;
        }
    } else if (json_is_object(value)) {
        copy = json_object();
        json_object_foreach((json_t *)value, key, item)
        {
            if (copy == NULL || (rc = rg_manifest__render_json(&child, item, vars, vars_count)) < 0)
                goto cleanup;
            if (json_object_set_new(copy, key, child))
                goto nomem;
        }
    } else {
        copy = json_deep_copy(value);
    }
    if (copy == NULL)
        goto nomem;
    *out = copy;
    return 0;
nomem:
    rc = rg_error_set(RG_ENOMEM, "out of memory");
cleanup:
    json_decref(copy);
    return rc;
}

int rg_manifest_render(char **out, const rg_manifest *m, size_t group_index, const char *text)
{
    if (out == NULL || m == NULL || text == NULL || group_index >= m->groups_count)
        return rg_error_set(RG_EINVALID, "rg_manifest_render: invalid arguments");
    if (rg_manifest__render_text(out, text, m->groups[group_index].vars,
                                 m->groups[group_index].vars_count) < 0)
        return rg_error_prefix("group '%s'", m->groups[group_index].name);
    return 0;
}

/* Every string of the template renders for every group; ids render to valid ids. */
static int check_strings(const rg_manifest *m, const rg_doc *doc, const rg_doc_node *node,
                         const char *path, int is_id)
{
    char field[RG_SCHEMA_PATH];
    char *text = NULL;

    if (rg_doc_node_kind(node) != RG_DOC_SCALAR) {
        for (size_t i = 0; i < rg_doc_count(node); i++) {
            const rg_doc_node *key = rg_doc_key(node, i);
            int rc;
            if (key)
                rg_schema__join(field, sizeof(field), path, rg_doc_scalar(key));
            else
                rg_schema__index(field, sizeof(field), path, i);
            if ((rc = check_strings(m, doc, rg_doc_item(node, i), field,
                                    key && strcmp(rg_doc_scalar(key), "id") == 0 && is_id)) < 0)
                return rc;
        }
        return 0;
    }
    for (size_t g = 0; g < m->groups_count; g++) {
        const rg_manifest_group *grp = &m->groups[g];
        if (rg_manifest__render_text(&text, rg_doc_scalar(node), grp->vars, grp->vars_count) < 0)
            return rg_doc_error(RG_EINVALID, doc, node, path, "%s in group '%s'", rg_error_last(),
                                grp->name);
        if (is_id && !rg_schema__is_id(text)) {
            int rc = rg_doc_error(RG_EINVALID, doc, node, path,
                                  "renders to '%.64s' in group '%s', not an id "
                                  "([A-Za-z0-9_.:-]{1,128})",
                                  text, grp->name);
            free(text);
            return rc;
        }
        free(text);
        text = NULL;
    }
    return 0;
}

static int read_weight(rg_manifest_target *t, const rg_doc *doc, const rg_doc_node *node,
                       const char *path)
{
    int64_t v;
    int rc;

    if (rg_doc_node_kind(node) == RG_DOC_SCALAR && strcmp(rg_doc_scalar(node), "capacity") == 0) {
        t->weight = RG_WEIGHT_CAPACITY;
        return 0;
    }
    if (rg_doc_node_kind(node) == RG_DOC_SCALAR && !rg_doc_scalar_quoted(node) &&
        rg_parse_int64(&v, rg_doc_scalar(node), 0, 100) == 0) {
        t->weight = (int)v;
        return 0;
    }
    rc = rg_doc_error(RG_EINVALID, doc, node, path,
                      "expected an integer weight in 0..100 or 'capacity', got %s'%.64s'",
                      rg_doc_scalar_quoted(node) ? "the string " : "",
                      rg_doc_scalar(node) ? rg_doc_scalar(node) : "a collection");
    return rc;
}

static int read_target(rg_manifest_target *t, const rg_doc *doc, const rg_doc_node *map,
                       const char *path)
{
    static const char *const keys[] = {"type", "id", "weight", "priority", NULL};
    static const char *const types[] = {"Queue", NULL};
    const rg_doc_node *node;
    char field[RG_SCHEMA_PATH];
    int64_t priority;
    int type, rc;

    if ((rc = rg_schema__mapping(doc, map, path, keys)) < 0)
        return rc;
    rg_schema__join(field, sizeof(field), path, "type");
    if ((rc = rg_schema__require(&node, doc, map, path, "type")) < 0 ||
        (rc = rg_schema__enum(&type, doc, node, field, types)) < 0)
        return rc;
    if ((t->type = rg_strdup(types[type])) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    rg_schema__join(field, sizeof(field), path, "id");
    if ((rc = rg_schema__require(&node, doc, map, path, "id")) < 0 ||
        (rc = rg_schema__string(&t->id, doc, node, field, 1024)) < 0)
        return rc;
    if (strstr(t->id, "{{") == NULL && !rg_schema__is_id(t->id))
        return rg_doc_error(RG_EINVALID, doc, node, field,
                            "'%.64s' is not an id: expected [A-Za-z0-9_.:-]{1,128}", t->id);
    rg_schema__join(field, sizeof(field), path, "weight");
    if ((rc = rg_schema__require(&node, doc, map, path, "weight")) < 0 ||
        (rc = read_weight(t, doc, node, field)) < 0)
        return rc;
    rg_schema__join(field, sizeof(field), path, "priority");
    if ((rc = rg_schema__require(&node, doc, map, path, "priority")) < 0 ||
        (rc = rg_schema__int(&priority, doc, node, field, 0, 1000000)) < 0)
        return rc;
    t->priority = (int)priority;
    return 0;
}

static int read_targets(rg_manifest *m, const rg_doc *doc, const rg_doc_node *list,
                        const char *path, int enabled)
{
    char item[RG_SCHEMA_PATH];
    int any_weight = 0, rc;

    if ((rc = rg_schema__sequence(doc, list, path, 1, RG_MANIFEST_MAX_TARGETS)) < 0)
        return rc;
    if ((m->targets = calloc(rg_doc_count(list), sizeof(*m->targets))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < rg_doc_count(list); i++) {
        rg_schema__index(item, sizeof(item), path, i);
        m->targets_count = i + 1;
        if ((rc = read_target(&m->targets[i], doc, rg_doc_item(list, i), item)) < 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            /* Analyzer false positive: entries before i were read successfully, so they are set. */
            // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker)
            if (strcmp(m->targets[j].id, m->targets[i].id) == 0) {
                rg_schema__join(item + strlen(item), sizeof(item) - strlen(item), "", "id");
                return rg_doc_error(RG_EINVALID, doc, rg_doc_get(rg_doc_item(list, i), "id"), item,
                                    "duplicate target '%s' (also %s[%zu])", m->targets[i].id, path,
                                    j);
            }
        any_weight |= m->targets[i].weight != 0;
    }
    if (enabled && !any_weight)
        return rg_doc_error(RG_EINVALID, doc, list, path,
                            "every weight is 0 in an enabled strategy (set a weight or "
                            "settings.enabled: false)");
    return 0;
}

int rg_manifest__read_template(rg_manifest *m, const rg_doc *doc, const rg_doc_node *node,
                               const char *path)
{
    static const char *const keys[] = {"name", "settings", "targets", NULL};
    const rg_doc_node *v, *enabled;
    char field[RG_SCHEMA_PATH];
    char *name = NULL;
    int rc;

    if ((rc = rg_schema__mapping(doc, node, path, keys)) < 0)
        return rc;
    if ((v = rg_schema__optional(node, "name")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "name");
        if ((rc = rg_schema__string(&name, doc, v, field, 1024)) < 0)
            return rc;
        free(name);
    }
    enabled = NULL;
    if ((v = rg_schema__optional(node, "settings")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "settings");
        if (rg_doc_node_kind(v) != RG_DOC_MAPPING)
            return rg_doc_error(RG_EINVALID, doc, v, field, "expected a mapping");
        enabled = rg_doc_get(v, "enabled");
    }
    rg_schema__join(field, sizeof(field), path, "targets");
    if ((rc = rg_schema__require(&v, doc, node, path, "targets")) < 0 ||
        (rc = read_targets(m, doc, v, field,
                           !(enabled && rg_doc_node_kind(enabled) == RG_DOC_SCALAR &&
                             !rg_doc_scalar_quoted(enabled) &&
                             strcmp(rg_doc_scalar(enabled), "false") == 0))) < 0)
        return rc;
    if ((rc = check_strings(m, doc, node, path, 0)) < 0)
        return rc;
    for (size_t i = 0; i < rg_doc_count(v); i++) {
        char item[RG_SCHEMA_PATH], id[RG_SCHEMA_PATH];
        rg_schema__index(item, sizeof(item), field, i);
        rg_schema__join(id, sizeof(id), item, "id");
        if ((rc = check_strings(m, doc, rg_doc_get(rg_doc_item(v, i), "id"), id, 1)) < 0)
            return rc;
    }
    return rg_schema__to_json(&m->template_json, node);
}
