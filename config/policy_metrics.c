/* policy_metrics.c - the gated metrics of a policy: kind, sources, tolerance, criticality */
#include <stdlib.h>
#include <string.h>

#include "config/policy_internal.h"
#include "config/schema.h"
#include "rollgate/util.h"

static const char *const metric_keys[] = {
    "name", "kind", "events", "trials", "source", "increase_is_bad", "tolerance", "critical", NULL};
static const char *const kind_names[] = {"proportion", "mean", NULL};

/* tolerance: {relative: x} or {absolute: duration-or-number}; exactly one, > 0. */
static int read_tolerance(rg_policy_metric *m, const rg_doc *doc, const rg_doc_node *node,
                          const char *path)
{
    static const char *const keys[] = {"relative", "absolute", NULL};
    const rg_doc_node *rel, *abs, *v;
    char field[RG_SCHEMA_PATH];
    int rc;

    if ((rc = rg_schema__mapping(doc, node, path, keys)) < 0)
        return rc;
    rel = rg_schema__optional(node, "relative");
    abs = rg_schema__optional(node, "absolute");
    if ((rel == NULL) == (abs == NULL))
        return rg_doc_error(RG_EINVALID, doc, node, path,
                            "expected exactly one of relative or absolute");
    v = rel ? rel : abs;
    rg_schema__join(field, sizeof(field), path, rel ? "relative" : "absolute");
    m->scale = rel ? RG_TOLERANCE_RELATIVE : RG_TOLERANCE_ABSOLUTE;
    if (abs && rg_doc_node_kind(v) == RG_DOC_SCALAR && !rg_doc_scalar_quoted(v) &&
        rg_parse_double(&m->tolerance, rg_doc_scalar(v)) == 0) {
        m->tolerance_is_duration = 0;
    } else if (abs) {
        int64_t ms;
        rg_error_clear();
        if ((rc = rg_schema__duration(&ms, doc, v, field)) < 0)
            return rg_doc_error(RG_EINVALID, doc, v, field,
                                "expected a positive number or a duration such as 10s, got "
                                "'%.64s'",
                                rg_doc_scalar(v) ? rg_doc_scalar(v) : "");
        m->tolerance = (double)ms;
        m->tolerance_is_duration = 1;
    } else if ((rc = rg_schema__number(&m->tolerance, doc, v, field)) < 0) {
        return rc;
    }
    if (!(m->tolerance > 0))
        return rg_doc_error(RG_EINVALID, doc, v, field, "a tolerance must be greater than 0");
    return 0;
}

/* The analytics metrics the platform client reads (docs/platform-api.md), so that `plan`
 * refuses a misspelt one with its position instead of `start` refusing it without. */
static int analytics_metric_known(const char *name)
{
    static const char *const known[] = {"nOffered", "tAbandon", "tAnswered", "tHandle", NULL};
    for (size_t i = 0; name && known[i]; i++)
        if (strcmp(name, known[i]) == 0)
            return 1;
    return 0;
}

/* events/trials belong to proportions, source to means; the other kind's keys are errors. */
static int read_sources(rg_policy_metric *m, const rg_doc *doc, const rg_doc_node *node,
                        const char *path)
{
    const char *need[2], *forbid[2];
    char **slot[2];
    char field[RG_SCHEMA_PATH];
    const rg_doc_node *v;
    size_t nneed;
    int rc;

    if (m->kind == RG_METRIC_PROPORTION) {
        need[0] = "events", need[1] = "trials", slot[0] = &m->events, slot[1] = &m->trials;
        forbid[0] = "source", forbid[1] = NULL, nneed = 2;
    } else {
        need[0] = "source", slot[0] = &m->source, forbid[0] = "events", forbid[1] = "trials";
        nneed = 1;
    }
    for (size_t i = 0; i < 2; i++) {
        if (forbid[i] && (v = rg_doc_get(node, forbid[i])) != NULL) {
            rg_schema__join(field, sizeof(field), path, forbid[i]);
            return rg_doc_error(RG_EINVALID, doc, v, field, "not allowed for a %s metric",
                                kind_names[m->kind]);
        }
    }
    for (size_t i = 0; i < nneed; i++) {
        rg_schema__join(field, sizeof(field), path, need[i]);
        if ((rc = rg_schema__require(&v, doc, node, path, need[i])) < 0 ||
            (rc = rg_schema__id(slot[i], doc, v, field)) < 0)
            return rc;
        if (!analytics_metric_known(*slot[i]))
            return rg_doc_error(RG_EINVALID, doc, v, field,
                                "unknown analytics metric '%.64s': the platform's are nOffered, "
                                "tAbandon, tAnswered and tHandle",
                                *slot[i]);
    }
    return 0;
}

static int read_metric(rg_policy_metric *m, const rg_doc *doc, const rg_doc_node *node,
                       const char *path)
{
    const rg_doc_node *v;
    char field[RG_SCHEMA_PATH];
    int kind, rc;

    m->increase_is_bad = 1;
    if ((rc = rg_schema__mapping(doc, node, path, metric_keys)) < 0)
        return rc;
    rg_schema__join(field, sizeof(field), path, "name");
    if ((rc = rg_schema__require(&v, doc, node, path, "name")) < 0 ||
        (rc = rg_schema__id(&m->name, doc, v, field)) < 0)
        return rc;
    rg_schema__join(field, sizeof(field), path, "kind");
    if ((rc = rg_schema__require(&v, doc, node, path, "kind")) < 0 ||
        (rc = rg_schema__enum(&kind, doc, v, field, kind_names)) < 0)
        return rc;
    m->kind = (rg_metric_kind)kind;
    if ((rc = read_sources(m, doc, node, path)) < 0)
        return rc;
    if ((v = rg_schema__optional(node, "increase_is_bad")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "increase_is_bad");
        if ((rc = rg_schema__bool(&m->increase_is_bad, doc, v, field)) < 0)
            return rc;
    }
    if ((v = rg_schema__optional(node, "critical")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "critical");
        if ((rc = rg_schema__bool(&m->critical, doc, v, field)) < 0)
            return rc;
    }
    rg_schema__join(field, sizeof(field), path, "tolerance");
    if ((rc = rg_schema__require(&v, doc, node, path, "tolerance")) < 0)
        return rc;
    return read_tolerance(m, doc, v, field);
}

int rg_policy__read_metrics(rg_policy *p, const rg_doc *doc, const rg_doc_node *map,
                            const char *path)
{
    const rg_doc_node *list;
    char field[RG_SCHEMA_PATH], item[RG_SCHEMA_PATH];
    size_t n;
    int rc;

    rg_schema__join(field, sizeof(field), path, "metrics");
    if ((rc = rg_schema__require(&list, doc, map, path, "metrics")) < 0 ||
        (rc = rg_schema__sequence(doc, list, field, 1, RG_POLICY_MAX_METRICS)) < 0)
        return rc;
    n = rg_doc_count(list);
    if ((p->metrics = calloc(n, sizeof(*p->metrics))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        rg_schema__index(item, sizeof(item), field, i);
        p->metrics_count = i + 1;
        if ((rc = read_metric(&p->metrics[i], doc, rg_doc_item(list, i), item)) < 0)
            return rc;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(p->metrics[j].name, p->metrics[i].name) == 0) {
                char name[RG_SCHEMA_PATH];
                rg_schema__join(name, sizeof(name), item, "name");
                return rg_doc_error(RG_EINVALID, doc, rg_doc_get(rg_doc_item(list, i), "name"),
                                    name, "duplicate metric '%s' (also %s[%zu])",
                                    p->metrics[i].name, field, j);
            }
        }
    }
    return 0;
}
