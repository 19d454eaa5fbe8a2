/* policy.c - loading and validating gate policies (YAML or JSON) with their defaults */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/policy_internal.h"
#include "config/schema.h"
#include "rollgate/util.h"

#ifndef RG_POLICY_INSTALL_DIR
#define RG_POLICY_INSTALL_DIR "/usr/local/share/rollgate/policies"
#endif

static const char *const policy_keys[] = {"name",
                                          "alpha",
                                          "sequential",
                                          "stabilization_window",
                                          "soak_limit",
                                          "poll_interval",
                                          "granularity",
                                          "settle",
                                          "pre_window",
                                          "breaker",
                                          "on_inconclusive",
                                          "errors",
                                          "verify_window",
                                          "capacity",
                                          "metrics",
                                          "tau2",
                                          "variance",
                                          "information",
                                          "alpha_split",
                                          "spending",
                                          "fail_rule",
                                          "analytics",
                                          NULL};
static const char *const variance_names[] = {"pooled", "cluster", NULL};
static const char *const information_names[] = {"calendar", "observed", NULL};
static const char *const alpha_split_names[] = {"stages", "none", NULL};
static const char *const fail_rule_names[] = {"estimate", "interval", NULL};
/* in rg_spending_kind order */
static const char *const spending_names[] = {"obrien-fleming", "quadratic", "pocock", NULL};
static const char *const sequential_names[] = {"group", "msprt", "none", "counts", NULL};
static const char *const inconclusive_names[] = {"hold", "promote", "rollback", NULL};
static const char *const kind_names[] = {"proportion", "mean", NULL};

const char *rg_sequential_name(rg_sequential s)
{
    return s <= RG_SEQUENTIAL_COUNTS ? sequential_names[s] : "?";
}

const char *rg_on_inconclusive_name(rg_on_inconclusive a)
{
    return a <= RG_ON_INCONCLUSIVE_ROLLBACK ? inconclusive_names[a] : "?";
}

const char *rg_metric_kind_name(rg_metric_kind k)
{
    return k <= RG_METRIC_MEAN ? kind_names[k] : "?";
}

void rg_policy__defaults(rg_policy *p)
{
    p->alpha = 0.05;
    p->sequential = RG_SEQUENTIAL_GROUP;
    p->stabilization_window_ms = 15 * (int64_t)60000;
    p->soak_limit_ms = 30 * (int64_t)60000;
    p->poll_interval_ms = 5 * (int64_t)60000;
    p->granularity_ms = 60000;
    p->settle_ms = 60000;
    p->pre_window_ms = 30 * (int64_t)60000;
    p->breaker_consecutive = 2;
    p->on_inconclusive = RG_ON_INCONCLUSIVE_HOLD;
    p->errors_limit = 3;
    p->verify_window_ms = 5 * (int64_t)60000;
    p->capacity_min_ratio = 0.8;
    /* the verdict as before issue 17 unless the policy asks (contact-center.yaml does) */
    p->variance = RG_VARIANCE_POOLED;
    p->information = RG_INFORMATION_CALENDAR;
    p->alpha_split = RG_ALPHA_SPLIT_NONE;
    p->spending = RG_SPENDING_OBRIEN_FLEMING;
    rg_policy__analytics_defaults(p);
}

void rg_policy_free(rg_policy *policy)
{
    if (policy == NULL)
        return;
    for (size_t i = 0; i < policy->metrics_count; i++) {
        free(policy->metrics[i].name);
        free(policy->metrics[i].events);
        free(policy->metrics[i].trials);
        free(policy->metrics[i].source);
    }
    free(policy->metrics);
    free(policy->name);
    free(policy);
}

/* The duration fields, in the order of policy_keys, with their slots. */
typedef struct {
    const char *key;
    int64_t *slot;
    const rg_doc_node *node; /* where it was written; NULL when defaulted */
} duration_field;

enum { D_STAB, D_SOAK, D_POLL, D_GRAN, D_SETTLE, D_PRE, D_VERIFY, D_COUNT };

static int relation(const rg_doc *doc, const rg_doc_node *map, const char *path,
                    const duration_field *a, const duration_field *b, int strict)
{
    char field[RG_SCHEMA_PATH];
    rg_buf va = RG_BUF_INIT, vb = RG_BUF_INIT;
    int bad = strict ? *a->slot >= *b->slot : *a->slot > *b->slot, rc;

    if (!bad)
        return 0;
    rg_schema__join(field, sizeof(field), path, a->key);
    rg_format_duration(&va, *a->slot);
    rg_format_duration(&vb, *b->slot);
    rc = rg_doc_error(RG_EINVALID, doc, a->node ? a->node : (b->node ? b->node : map), field,
                      "%s must be %s %s (%s)", rg_buf_cstr(&va), strict ? "less than" : "at most",
                      b->key, rg_buf_cstr(&vb));
    rg_buf_dispose(&va);
    rg_buf_dispose(&vb);
    return rc;
}

static int read_durations(rg_policy *p, const rg_doc *doc, const rg_doc_node *map, const char *path)
{
    duration_field f[D_COUNT] = {
        {"stabilization_window", &p->stabilization_window_ms, NULL},
        {"soak_limit", &p->soak_limit_ms, NULL},
        {"poll_interval", &p->poll_interval_ms, NULL},
        {"granularity", &p->granularity_ms, NULL},
        {"settle", &p->settle_ms, NULL},
        {"pre_window", &p->pre_window_ms, NULL},
        {"verify_window", &p->verify_window_ms, NULL},
    };
    char field[RG_SCHEMA_PATH];
    int rc;

    for (int i = 0; i < D_COUNT; i++) {
        if ((f[i].node = rg_schema__optional(map, f[i].key)) == NULL)
            continue;
        rg_schema__join(field, sizeof(field), path, f[i].key);
        if ((rc = rg_schema__duration(f[i].slot, doc, f[i].node, field)) < 0)
            return rc;
    }
    if ((rc = relation(doc, map, path, &f[D_POLL], &f[D_STAB], 0)) < 0 ||
        (rc = relation(doc, map, path, &f[D_STAB], &f[D_SOAK], 0)) < 0 ||
        (rc = relation(doc, map, path, &f[D_GRAN], &f[D_POLL], 0)) < 0 ||
        (rc = relation(doc, map, path, &f[D_SETTLE], &f[D_STAB], 1)) < 0)
        return rc;
    return 0;
}

/* A mapping with one integer key, like breaker: {consecutive: 2}. */
static int read_small_section(int *slot, const rg_doc *doc, const rg_doc_node *map,
                              const char *path, const char *section, const char *key, int64_t max)
{
    const rg_doc_node *node = rg_schema__optional(map, section), *value;
    const char *const keys[] = {key, NULL};
    char spath[RG_SCHEMA_PATH], field[RG_SCHEMA_PATH];
    int64_t v;
    int rc;

    if (node == NULL)
        return 0;
    rg_schema__join(spath, sizeof(spath), path, section);
    if ((rc = rg_schema__mapping(doc, node, spath, keys)) < 0)
        return rc;
    if ((value = rg_schema__optional(node, key)) == NULL)
        return 0;
    rg_schema__join(field, sizeof(field), spath, key);
    if ((rc = rg_schema__int(&v, doc, value, field, 1, max)) < 0)
        return rc;
    *slot = (int)v;
    return 0;
}

static int read_positive(double *out, const rg_doc *doc, const rg_doc_node *node, const char *path,
                         double max, int max_inclusive)
{
    double v;
    int rc = rg_schema__number(&v, doc, node, path);

    if (rc < 0)
        return rc;
    if (!(v > 0) || v > max || (!max_inclusive && v >= max))
        return rg_doc_error(RG_EINVALID, doc, node, path, "%g is out of range: expected (0, %g%c",
                            v, max, max_inclusive ? ']' : ')');
    *out = v;
    return 0;
}

static int read_capacity(rg_policy *p, const rg_doc *doc, const rg_doc_node *map, const char *path)
{
    static const char *const keys[] = {"min_ratio", "max_load", NULL};
    const rg_doc_node *node = rg_schema__optional(map, "capacity"), *v;
    char spath[RG_SCHEMA_PATH], field[RG_SCHEMA_PATH];
    int rc;

    if (node == NULL)
        return 0;
    rg_schema__join(spath, sizeof(spath), path, "capacity");
    if ((rc = rg_schema__mapping(doc, node, spath, keys)) < 0)
        return rc;
    if ((v = rg_schema__optional(node, "min_ratio")) != NULL) {
        rg_schema__join(field, sizeof(field), spath, "min_ratio");
        if ((rc = rg_schema__number(&p->capacity_min_ratio, doc, v, field)) < 0)
            return rc;
        if (p->capacity_min_ratio < 0 || p->capacity_min_ratio > 1)
            return rg_doc_error(RG_EINVALID, doc, v, field, "%g is out of range: expected [0, 1]",
                                p->capacity_min_ratio);
    }
    if ((v = rg_schema__optional(node, "max_load")) != NULL) {
        rg_schema__join(field, sizeof(field), spath, "max_load");
        if ((rc = read_positive(&p->capacity_max_load, doc, v, field, 1e9, 1)) < 0)
            return rc;
        p->has_capacity_max_load = 1;
    }
    return 0;
}

static int read_scalars(rg_policy *p, const rg_doc *doc, const rg_doc_node *map, const char *path)
{
    const rg_doc_node *v;
    char field[RG_SCHEMA_PATH];
    int e, rc;

    if ((v = rg_schema__optional(map, "name")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "name");
        if ((rc = rg_schema__string(&p->name, doc, v, field, 1024)) < 0)
            return rc;
    }
    if ((v = rg_schema__optional(map, "alpha")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "alpha");
        if ((rc = read_positive(&p->alpha, doc, v, field, 0.5, 0)) < 0)
            return rc;
    }
    if ((v = rg_schema__optional(map, "sequential")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "sequential");
        if ((rc = rg_schema__enum(&e, doc, v, field, sequential_names)) < 0)
            return rc;
        p->sequential = (rg_sequential)e;
    }
    if ((v = rg_schema__optional(map, "on_inconclusive")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "on_inconclusive");
        if ((rc = rg_schema__enum(&e, doc, v, field, inconclusive_names)) < 0)
            return rc;
        p->on_inconclusive = (rg_on_inconclusive)e;
    }
    if ((v = rg_schema__optional(map, "tau2")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "tau2");
        if ((rc = read_positive(&p->tau2, doc, v, field, 1e12, 1)) < 0)
            return rc;
        p->has_tau2 = 1;
    }
    if ((v = rg_schema__optional(map, "variance")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "variance");
        if ((rc = rg_schema__enum(&e, doc, v, field, variance_names)) < 0)
            return rc;
        p->variance = (rg_variance_kind)e;
    }
    if ((v = rg_schema__optional(map, "information")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "information");
        if ((rc = rg_schema__enum(&e, doc, v, field, information_names)) < 0)
            return rc;
        p->information = (rg_information_kind)e;
    }
    if ((v = rg_schema__optional(map, "alpha_split")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "alpha_split");
        if ((rc = rg_schema__enum(&e, doc, v, field, alpha_split_names)) < 0)
            return rc;
        p->alpha_split = (rg_alpha_split)e;
    }
    if ((v = rg_schema__optional(map, "spending")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "spending");
        if ((rc = rg_schema__enum(&e, doc, v, field, spending_names)) < 0)
            return rc;
        p->spending = (rg_spending_kind)e;
    }
    if ((v = rg_schema__optional(map, "fail_rule")) != NULL) {
        rg_schema__join(field, sizeof(field), path, "fail_rule");
        if ((rc = rg_schema__enum(&e, doc, v, field, fail_rule_names)) < 0)
            return rc;
        p->fail_rule = (rg_fail_rule)e;
    }
    return 0;
}

int rg_policy_from_doc(rg_policy **out, const rg_doc *doc, const rg_doc_node *node,
                       const char *path)
{
    rg_policy *p = NULL;
    int rc;

    if (out == NULL || doc == NULL || node == NULL)
        return rg_error_set(RG_EINVALID, "rg_policy_from_doc: invalid arguments");
    if ((rc = rg_schema__mapping(doc, node, path, policy_keys)) < 0)
        return rc;
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    rg_policy__defaults(p);
    if ((rc = read_scalars(p, doc, node, path)) < 0 ||
        (rc = read_durations(p, doc, node, path)) < 0 ||
        (rc = read_small_section(&p->breaker_consecutive, doc, node, path, "breaker", "consecutive",
                                 100)) < 0 ||
        (rc = read_small_section(&p->errors_limit, doc, node, path, "errors", "limit", 1000)) < 0 ||
        (rc = read_capacity(p, doc, node, path)) < 0 ||
        (rc = rg_policy__read_analytics(p, doc, node, path)) < 0 ||
        (rc = rg_policy__read_metrics(p, doc, node, path)) < 0)
        goto cleanup;
    *out = p;
    p = NULL;
cleanup:
    rg_policy_free(p);
    return rc;
}

int rg_policy_load_buffer(rg_policy **out, const char *name, const char *data, size_t len)
{
    rg_doc *doc = NULL;
    int rc;

    if ((rc = rg_doc_parse(&doc, name, data, len, RG_DOC_AUTO)) < 0)
        return rc;
    rc = rg_policy_from_doc(out, doc, rg_doc_root(doc), NULL);
    rg_doc_free(doc);
    return rc;
}

/* 1 when the document's root is a mapping none of whose keys is a policy field: a file
 * that is not a policy at all (say /etc/shadow, whose first line YAML reads as a key). */
static int not_a_policy(const rg_doc_node *root)
{
    if (rg_doc_node_kind(root) != RG_DOC_MAPPING || rg_doc_count(root) == 0)
        return 0;
    for (size_t i = 0; i < rg_doc_count(root); i++)
        for (size_t k = 0; policy_keys[k]; k++)
            if (strcmp(rg_doc_scalar(rg_doc_key(root, i)), policy_keys[k]) == 0)
                return 0;
    return 1;
}

int rg_policy_load_file(rg_policy **out, const char *path)
{
    rg_doc *doc = NULL;
    int rc;

    if ((rc = rg_doc_load_file(&doc, path)) < 0) {
        /* A JSON syntax error quotes the bytes near the fault: cut them, the position is
         * enough and the file may not be a policy at all. */
        char msg[1024], *near;
        snprintf(msg, sizeof(msg), "%s", rg_error_last());
        if ((near = strstr(msg, " near '")) != NULL) {
            *near = '\0';
            rg_error_set(rc, "%s", msg);
        }
        return rc;
    }
    if (not_a_policy(rg_doc_root(doc)))
        rc = rg_doc_error(RG_EINVALID, doc, rg_doc_root(doc), NULL,
                          "not a policy: none of its keys is a policy field (%s, ...)",
                          "alpha, metrics, soak_limit");
    else
        rc = rg_policy_from_doc(out, doc, rg_doc_root(doc), NULL);
    rg_doc_free(doc);
    return rc;
}

const char *rg_policy_dir(void)
{
    const char *env = getenv("ROLLGATE_POLICY_DIR");
    struct stat st;

    if (env && *env)
        return env;
    if (stat(RG_SOURCE_DIR "/policies", &st) == 0 && S_ISDIR(st.st_mode))
        return RG_SOURCE_DIR "/policies";
    return RG_POLICY_INSTALL_DIR;
}

static int is_path_ref(const char *ref)
{
    size_t n = strlen(ref);
    return strchr(ref, '/') != NULL || (n > 5 && strcmp(ref + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(ref + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp(ref + n - 5, ".json") == 0);
}

static int is_policy_name(const char *ref)
{
    size_t n = 0;
    for (; ref[n]; n++)
        if (!((ref[n] >= 'a' && ref[n] <= 'z') || (ref[n] >= '0' && ref[n] <= '9') ||
              ref[n] == '-' || ref[n] == '_'))
            return 0;
    return n > 0 && n <= 64;
}

int rg_policy_load(rg_policy **out, const char *name_or_path, const char *base_dir)
{
    rg_buf path = RG_BUF_INIT;
    rg_policy *p = NULL;
    int rc;

    if (out == NULL || name_or_path == NULL)
        return rg_error_set(RG_EINVALID, "rg_policy_load: invalid arguments");
    if (is_path_ref(name_or_path)) {
        /* "." adds nothing but a "./" to every message naming the file. */
        if (name_or_path[0] != '/' && base_dir && *base_dir && strcmp(base_dir, ".") != 0)
            rc = rg_buf_printf(&path, "%s/%s", base_dir, name_or_path);
        else
            rc = rg_buf_puts(&path, name_or_path);
    } else if (is_policy_name(name_or_path)) {
        rc = rg_buf_printf(&path, "%s/%s.yaml", rg_policy_dir(), name_or_path);
    } else {
        return rg_error_set(RG_EINVALID,
                            "policy '%.64s': a name must match [a-z0-9_-]{1,64}, or give a path",
                            name_or_path);
    }
    if (rc < 0)
        goto cleanup;
    if ((rc = rg_policy_load_file(&p, rg_buf_cstr(&path))) < 0)
        goto cleanup;
    /* Analyzer false positive: rg_policy_load_file sets *out whenever it returns >= 0; its
     * not-a-policy path returns rg_doc_error's negative code, which the analyzer does not see. */
    // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
    if (p->name == NULL && (p->name = rg_strdup(name_or_path)) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    *out = p;
    p = NULL;
cleanup:
    rg_policy_free(p);
    rg_buf_dispose(&path);
    return rc;
}
