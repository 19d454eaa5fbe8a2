/* manifest_resource.c - change.resource: what a manifest changes, a tagged kind (a routing
 * strategy, an Architect data-table row, a resource with a `version`), with a row's template
 * and weight columns */
#include <stdlib.h>
#include <string.h>

#include "config/manifest_internal.h"
#include "config/schema.h"
#include "rollgate/util.h"

static const char *const kind_names[] = {"routing_strategy", "datatable_row", "versioned", NULL};

#define MAX_VERSIONED_PATH 512
#define MAX_VERSIONED_FIELDS 50

const char *rg_resource_kind_name(rg_resource_kind kind)
{
    return kind <= RG_RESOURCE_VERSIONED ? kind_names[kind] : "?";
}

void rg_manifest__free_resource(rg_manifest *m)
{
    free(m->resource.path);
    free(m->resource.datatable);
    free(m->resource.row);
    json_decref(m->resource.weights);
}

/* A row key: 1..256 characters, none of them a control character. */
static int read_row_key(char **out, const rg_doc *doc, const rg_doc_node *node, const char *path)
{
    int rc;

    if ((rc = rg_schema__string(out, doc, node, path, RG_MANIFEST_MAX_ROW_KEY)) < 0)
        return rc;
    for (const char *p = *out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return rg_doc_error(RG_EINVALID, doc, node, path,
                                "a row key must not hold control characters");
    if ((*out)[0] == '\0')
        return rg_doc_error(RG_EINVALID, doc, node, path, "a row key must not be empty");
    return 0;
}

/* Every string value renders in every group. */
static int check_renders(const rg_manifest *m, const rg_doc *doc, const rg_doc_node *node,
                         const char *path)
{
    for (size_t g = 0; g < m->groups_count; g++) {
        const rg_manifest_group *grp = &m->groups[g];
        char *text = NULL;
        if (rg_manifest__render_text(&text, rg_doc_scalar(node), grp->vars, grp->vars_count) < 0)
            return rg_doc_error(RG_EINVALID, doc, node, path, "%s in group '%s'", rg_error_last(),
                                grp->name);
        free(text);
    }
    return 0;
}

/* change.template of a row: {field: string | integer | number | boolean}, no `key`. */
static int read_row_template(rg_manifest *m, const rg_doc *doc, const rg_doc_node *node,
                             const char *path)
{
    char field[RG_SCHEMA_PATH];
    size_t n;
    int rc;

    if (rg_doc_node_kind(node) != RG_DOC_MAPPING)
        return rg_doc_error(RG_EINVALID, doc, node, path,
                            "expected a mapping of the row's fields (all but key)");
    n = rg_doc_count(node);
    if (n == 0 || n > RG_MANIFEST_MAX_ROW_FIELDS)
        return rg_doc_error(n == 0 ? RG_EINVALID : RG_ELIMIT, doc, node, path,
                            "expected 1..%d fields, got %zu", RG_MANIFEST_MAX_ROW_FIELDS, n);
    for (size_t i = 0; i < n; i++) {
        const char *name = rg_doc_scalar(rg_doc_key(node, i));
        const rg_doc_node *v = rg_doc_item(node, i);
        rg_schema__join(field, sizeof(field), path, name ? name : "?");
        if (name == NULL || name[0] == '\0' || strlen(name) > 200)
            return rg_doc_error(RG_EINVALID, doc, rg_doc_key(node, i), field,
                                "a field name must have 1..200 characters");
        if (strcmp(name, "key") == 0)
            return rg_doc_error(RG_EINVALID, doc, rg_doc_key(node, i), field,
                                "the row's key is change.resource.row, not a template field");
        if (rg_doc_node_kind(v) != RG_DOC_SCALAR || rg_doc_is_null(v))
            return rg_doc_error(RG_EINVALID, doc, v, field,
                                "expected a string, integer, number or boolean");
        if ((rc = check_renders(m, doc, v, field)) < 0)
            return rc;
    }
    return rg_schema__to_json(&m->template_json, node);
}

/* change.weights {weight column: queue column}: each weight column holds an integer 0..100
 * or `capacity`, each queue column a string (a queue id); fixed weights sum to 100, or to at
 * most 100 when some are `capacity`. */
static int read_weights(rg_manifest *m, const rg_doc *doc, const rg_doc_node *map)
{
    char field[RG_SCHEMA_PATH];
    json_t *weights = NULL;
    int64_t sum = 0;
    int capacity = 0, rc;

    if (rg_doc_node_kind(map) != RG_DOC_MAPPING || rg_doc_count(map) == 0)
        return rg_doc_error(RG_EINVALID, doc, map, "change.weights",
                            "expected a mapping {weight column: queue column}");
    if ((rc = rg_schema__to_json(&weights, map)) < 0)
        return rc;
    m->resource.weights = weights;
    for (size_t i = 0; i < rg_doc_count(map); i++) {
        const char *wcol = rg_doc_scalar(rg_doc_key(map, i));
        const rg_doc_node *qnode = rg_doc_item(map, i);
        json_t *w = json_object_get(m->template_json, wcol), *q;
        rg_schema__join(field, sizeof(field), "change.weights", wcol);
        if (rg_doc_node_kind(qnode) != RG_DOC_SCALAR || rg_doc_is_null(qnode) ||
            !json_is_string(json_object_get(weights, wcol)))
            return rg_doc_error(RG_EINVALID, doc, qnode, field,
                                "expected the name of the queue column of weight '%s'", wcol);
        q = json_object_get(m->template_json, rg_doc_scalar(qnode));
        if (json_is_integer(w) && json_integer_value(w) >= 0 && json_integer_value(w) <= 100)
            sum += json_integer_value(w);
        else if (json_is_string(w) && strcmp(json_string_value(w), "capacity") == 0)
            capacity = 1;
        else
            return rg_doc_error(RG_EINVALID, doc, rg_doc_key(map, i), field,
                                "weight column '%s' must be a template field holding an integer "
                                "0..100 or capacity",
                                wcol);
        if (!json_is_string(q))
            return rg_doc_error(RG_EINVALID, doc, qnode, field,
                                "queue column '%s' must be a template field holding a queue id "
                                "(a string)",
                                rg_doc_scalar(qnode));
    }
    if (!capacity && sum != 100)
        return rg_doc_error(RG_EINVALID, doc, map, "change.weights",
                            "the weight columns sum to %lld, not 100", (long long)sum);
    if (capacity && sum > 100)
        return rg_doc_error(RG_EINVALID, doc, map, "change.weights",
                            "the fixed weight columns sum to %lld, leaving nothing for "
                            "capacity",
                            (long long)sum);
    return 0;
}

static int read_datatable_row(rg_manifest *m, const rg_doc *doc, const rg_doc_node *res,
                              const rg_doc_node *change)
{
    static const char *const keys[] = {"kind", "datatable", "row", "create", NULL};
    const rg_doc_node *node;
    rg_buf id = RG_BUF_INIT;
    int rc;

    if ((rc = rg_schema__mapping(doc, res, "change.resource", keys)) < 0 ||
        (rc = rg_schema__require(&node, doc, res, "change.resource", "datatable")) < 0 ||
        (rc = rg_schema__id(&m->resource.datatable, doc, node, "change.resource.datatable")) < 0 ||
        (rc = rg_schema__require(&node, doc, res, "change.resource", "row")) < 0 ||
        (rc = read_row_key(&m->resource.row, doc, node, "change.resource.row")) < 0)
        return rc;
    if ((node = rg_schema__optional(res, "create")) != NULL &&
        (rc = rg_schema__bool(&m->resource.create, doc, node, "change.resource.create")) < 0)
        return rc;
    if ((node = rg_schema__optional(change, "strategy")) != NULL)
        return rg_doc_error(RG_EINVALID, doc, node, "change.strategy",
                            "a datatable_row change names no strategy");
    if ((rc = rg_buf_printf(&id, "%s/%s", m->resource.datatable, m->resource.row)) < 0) {
        rg_buf_dispose(&id);
        return rc;
    }
    m->strategy = rg_buf_detach(&id);
    rg_buf_dispose(&id);
    if (m->strategy == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if ((rc = rg_schema__require(&node, doc, change, "change", "template")) < 0 ||
        (rc = read_row_template(m, doc, node, "change.template")) < 0)
        return rc;
    if ((node = rg_schema__optional(change, "weights")) != NULL)
        return read_weights(m, doc, node);
    return 0;
}

/* A versioned resource's path: /api/v2/..., path characters only (ids escaped), no query,
 * no empty or dot segment, no trailing '/' (the platform client checks it again). */
static int read_versioned_path(char **out, const rg_doc *doc, const rg_doc_node *node, int cxone)
{
    const char *where = "change.resource.path";
    char *p = NULL;
    size_t n;
    int rc;

    if ((rc = rg_schema__string(&p, doc, node, where, MAX_VERSIONED_PATH)) < 0)
        return rc;
    *out = p;
    n = strlen(p);
    /* a CXone brand's skill settings: /skills/<skill id> (docs/cxone.md) */
    if (cxone && (n < 9 || strncmp(p, "/skills/", 8) != 0 || strchr(p + 8, '/') != NULL))
        return rg_doc_error(RG_EINVALID, doc, node, where,
                            "expected a CXone skill path /skills/<skill id>");
    if (!cxone && (n < 9 || strncmp(p, "/api/v2/", 8) != 0 || p[n - 1] == '/'))
        return rg_doc_error(RG_EINVALID, doc, node, where,
                            "expected an API path /api/v2/... without a trailing '/' (an IVR "
                            "config: /api/v2/architect/ivrs/<id>)");
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '-' || c == '_' || c == '.' || c == '~' || c == '%'))
            return rg_doc_error(RG_EINVALID, doc, node, where,
                                "character 0x%02x at %zu is not allowed (no query; escape ids)",
                                (unsigned char)c, i);
    }
    if (strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../") || strcmp(p + n - 2, "/.") == 0 ||
        strcmp(p + n - 3, "/..") == 0)
        return rg_doc_error(RG_EINVALID, doc, node, where, "the path has an empty or dot segment");
    return 0;
}

/* change.template of a versioned resource: {top-level field: any value}, neither `version`
 * (the platform's, carried from the read) nor `id`; strings render in every group. */
static int read_versioned_template(rg_manifest *m, const rg_doc *doc, const rg_doc_node *node)
{
    const char *where = "change.template";
    char field[RG_SCHEMA_PATH];
    size_t n;
    int rc;

    if (rg_doc_node_kind(node) != RG_DOC_MAPPING)
        return rg_doc_error(RG_EINVALID, doc, node, where,
                            "expected a mapping of the resource's top-level fields to set");
    n = rg_doc_count(node);
    if (n == 0 || n > MAX_VERSIONED_FIELDS)
        return rg_doc_error(n == 0 ? RG_EINVALID : RG_ELIMIT, doc, node, where,
                            "expected 1..%d fields, got %zu", MAX_VERSIONED_FIELDS, n);
    for (size_t i = 0; i < n; i++) {
        const char *name = rg_doc_scalar(rg_doc_key(node, i));
        rg_schema__join(field, sizeof(field), where, name ? name : "?");
        if (name == NULL || name[0] == '\0' || strlen(name) > 200)
            return rg_doc_error(RG_EINVALID, doc, rg_doc_key(node, i), field,
                                "a field name must have 1..200 characters");
        if (strcmp(name, "version") == 0 || strcmp(name, "id") == 0)
            return rg_doc_error(RG_EINVALID, doc, rg_doc_key(node, i), field,
                                "'%s' is the platform's (the version read is carried on each "
                                "PUT), not a field to set",
                                name);
        if (rg_doc_is_null(rg_doc_item(node, i)))
            return rg_doc_error(RG_EINVALID, doc, rg_doc_item(node, i), field,
                                "a field cannot be set to null (rollgate never clears fields)");
    }
    if ((rc = rg_schema__to_json(&m->template_json, node)) < 0)
        return rc;
    for (size_t g = 0; g < m->groups_count; g++) {
        const rg_manifest_group *grp = &m->groups[g];
        json_t *out = NULL;
        if (rg_manifest__render_json(&out, m->template_json, grp->vars, grp->vars_count) < 0)
            return rg_doc_error(RG_EINVALID, doc, node, where, "%s in group '%s'", rg_error_last(),
                                grp->name);
        json_decref(out);
    }
    return 0;
}

static int read_versioned(rg_manifest *m, const rg_doc *doc, const rg_doc_node *res,
                          const rg_doc_node *change)
{
    static const char *const keys[] = {"kind", "path", NULL};
    const rg_doc_node *node;
    int rc;

    if ((rc = rg_schema__mapping(doc, res, "change.resource", keys)) < 0 ||
        (rc = rg_schema__require(&node, doc, res, "change.resource", "path")) < 0 ||
        (rc = read_versioned_path(&m->resource.path, doc, node,
                                  strcmp(m->platform.driver, "cxone") == 0)) < 0)
        return rc;
    if ((node = rg_schema__optional(change, "strategy")) != NULL)
        return rg_doc_error(RG_EINVALID, doc, node, "change.strategy",
                            "a versioned change names no strategy");
    if ((node = rg_schema__optional(change, "weights")) != NULL)
        return rg_doc_error(RG_EINVALID, doc, node, "change.weights",
                            "weights map data-table columns: only for kind datatable_row");
    if (m->watch_queues_count == 0)
        return rg_doc_error(RG_EINVALID, doc, change, "change.watch_queues",
                            "a versioned change routes no queue rollgate can see: name the "
                            "queues to judge it by");
    if ((m->strategy = rg_strdup(m->resource.path)) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if ((rc = rg_schema__require(&node, doc, change, "change", "template")) < 0)
        return rc;
    return read_versioned_template(m, doc, node);
}

/* 1 when some org of the (selected) groups is a CXone brand in a genesys manifest. */
static int has_cxone_brands(const rg_manifest *m)
{
    for (size_t g = 0; g < m->groups_count; g++)
        for (size_t o = 0; o < m->groups[g].orgs_count; o++)
            if (m->groups[g].orgs[o].cxone)
                return 1;
    return 0;
}

int rg_manifest__read_resource(rg_manifest *m, const rg_doc *doc, const rg_doc_node *change)
{
    const rg_doc_node *res = rg_schema__optional(change, "resource"), *node;
    int kind, rc;

    /* A mixed manifest changes the one resource both drivers offer: a weight-store row. */
    if (has_cxone_brands(m) &&
        (res == NULL || rg_doc_node_kind(res) != RG_DOC_MAPPING ||
         (node = rg_schema__optional(res, "kind")) == NULL || rg_doc_scalar(node) == NULL ||
         strcmp(rg_doc_scalar(node), "datatable_row") != 0))
        return rg_doc_error(RG_EINVALID, doc, res ? res : change, "change.resource",
                            "a manifest mixing Genesys orgs and CXone brands changes a "
                            "datatable_row (the CXone brands' weight store)");

    if (res == NULL) {
        /* change.strategy: the routing_strategy shorthand */
        m->resource.kind = RG_RESOURCE_ROUTING_STRATEGY;
        if ((node = rg_schema__optional(change, "weights")) != NULL)
            return rg_doc_error(RG_EINVALID, doc, node, "change.weights",
                                "weights map data-table columns: only for kind datatable_row");
        if ((rc = rg_schema__require(&node, doc, change, "change", "strategy")) < 0 ||
            (rc = rg_schema__id(&m->strategy, doc, node, "change.strategy")) < 0 ||
            (rc = rg_schema__require(&node, doc, change, "change", "template")) < 0)
            return rc;
        return rg_manifest__read_template(m, doc, node, "change.template");
    }
    if (rg_doc_node_kind(res) != RG_DOC_MAPPING)
        return rg_doc_error(RG_EINVALID, doc, res, "change.resource",
                            "expected a mapping {kind: ..., ...}");
    if ((rc = rg_schema__require(&node, doc, res, "change.resource", "kind")) < 0 ||
        (rc = rg_schema__enum(&kind, doc, node, "change.resource.kind", kind_names)) < 0)
        return rc;
    m->resource.kind = (rg_resource_kind)kind;
    if (m->resource.kind == RG_RESOURCE_DATATABLE_ROW)
        return read_datatable_row(m, doc, res, change);
    if (m->resource.kind == RG_RESOURCE_VERSIONED)
        return read_versioned(m, doc, res, change);
    {
        static const char *const keys[] = {"kind", "id", NULL};
        const rg_doc_node *id;
        if ((rc = rg_schema__mapping(doc, res, "change.resource", keys)) < 0 ||
            (rc = rg_schema__require(&id, doc, res, "change.resource", "id")) < 0 ||
            (rc = rg_schema__id(&m->strategy, doc, id, "change.resource.id")) < 0)
            return rc;
        if ((node = rg_schema__optional(change, "strategy")) != NULL)
            return rg_doc_error(RG_EINVALID, doc, node, "change.strategy",
                                "give the strategy once: change.resource.id or change.strategy");
        if ((node = rg_schema__optional(change, "weights")) != NULL)
            return rg_doc_error(RG_EINVALID, doc, node, "change.weights",
                                "weights map data-table columns: only for kind datatable_row");
        if ((rc = rg_schema__require(&node, doc, change, "change", "template")) < 0)
            return rc;
        return rg_manifest__read_template(m, doc, node, "change.template");
    }
}

json_t *rg_manifest__change_json(const rg_manifest *m, json_t *watch_queues)
{
    const rg_manifest_resource *r = &m->resource;

    if (watch_queues == NULL)
        return NULL;
    /* routing_strategy keeps the shorthand, so stored manifests and digests stay as they were */
    if (r->kind == RG_RESOURCE_ROUTING_STRATEGY)
        return json_pack("{s:s, s:o, s:O}", "strategy", m->strategy, "watch_queues", watch_queues,
                         "template", m->template_json);
    if (r->kind == RG_RESOURCE_VERSIONED)
        return json_pack("{s:{s:s, s:s}, s:o, s:O}", "resource", "kind",
                         rg_resource_kind_name(r->kind), "path", r->path, "watch_queues",
                         watch_queues, "template", m->template_json);
    return json_pack("{s:{s:s, s:s, s:s, s:b}, s:o, s:O, s:O*}", "resource", "kind",
                     rg_resource_kind_name(r->kind), "datatable", r->datatable, "row", r->row,
                     "create", r->create, "watch_queues", watch_queues, "template",
                     m->template_json, "weights", r->weights);
}

int rg_manifest__resource_equal(const rg_manifest *a, const rg_manifest *b)
{
    const rg_manifest_resource *x = &a->resource, *y = &b->resource;

    if (x->kind != y->kind || x->create != y->create)
        return 0;
    if ((x->datatable == NULL) != (y->datatable == NULL) ||
        (x->datatable && strcmp(x->datatable, y->datatable) != 0))
        return 0;
    if ((x->row == NULL) != (y->row == NULL) || (x->row && strcmp(x->row, y->row) != 0))
        return 0;
    if ((x->path == NULL) != (y->path == NULL) || (x->path && strcmp(x->path, y->path) != 0))
        return 0;
    if ((x->weights == NULL) != (y->weights == NULL) ||
        (x->weights && !json_equal(x->weights, y->weights)))
        return 0;
    return 1;
}
