/* policy.h - gate policies: the statistics and actions a rollout is judged by */
#ifndef RG_POLICY_H
#define RG_POLICY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/doc.h"
#include "rollgate/error.h"
#include "rollgate/stats.h"

/* Bounds checked at load time. */
#define RG_POLICY_MAX_METRICS 32

/* The metric kinds, tolerance scales and sequential designs are the statistics module's
 * (stats.h): a policy only names which one applies. */
typedef rg_sequential_kind rg_sequential;
typedef rg_tolerance_kind rg_tolerance_scale;

typedef enum {
    RG_ON_INCONCLUSIVE_HOLD = 0,
    RG_ON_INCONCLUSIVE_PROMOTE = 1,
    RG_ON_INCONCLUSIVE_ROLLBACK = 2,
} rg_on_inconclusive;

/* How the rollout's alpha is shared by its stages (docs/internals/stats.md). */
typedef enum {
    RG_ALPHA_SPLIT_STAGES = 0, /* each stage tests at alpha / number of stages */
    RG_ALPHA_SPLIT_NONE = 1,   /* each stage spends the whole alpha */
} rg_alpha_split;

/* One gated metric. Strings are owned by the policy. */
typedef struct rg_policy_metric {
    char *name;
    rg_metric_kind kind;
    char *events; /* proportion: numerator metric, e.g. "tAbandon"; NULL for mean */
    char *trials; /* proportion: denominator metric, e.g. "nOffered"; NULL for mean */
    char *source; /* mean: the analytics metric, e.g. "tAnswered"; NULL for proportion */
    int increase_is_bad;
    rg_tolerance_scale scale;
    /* > 0. Relative: a ratio. Absolute: in the metric's raw unit; a duration
     * ("10s") is converted to milliseconds, the unit of platform mean metrics. */
    double tolerance;
    int tolerance_is_duration; /* the absolute tolerance was written as a duration */
    int critical;              /* one failing poll trips the breaker */
} rg_policy_metric;

/* A whole policy: read-only once loaded; free with rg_policy_free. Every field except
 * `metrics` defaults to the docs/statistics.md value when absent. */
typedef struct rg_policy {
    char *name;   /* the name or path it was loaded by, or what the document's `name:` says;
                     NULL for an anonymous embedded policy */
    double alpha; /* (0, 0.5) */
    rg_sequential sequential;
    int64_t stabilization_window_ms;
    int64_t soak_limit_ms;
    int64_t poll_interval_ms;
    int64_t granularity_ms;
    int64_t settle_ms;
    int64_t pre_window_ms;
    int breaker_consecutive; /* >= 1 */
    rg_on_inconclusive on_inconclusive;
    int errors_limit; /* >= 1 */
    int64_t verify_window_ms;
    double capacity_min_ratio; /* [0, 1] */
    int has_capacity_max_load;
    double capacity_max_load; /* calls per agent; only when has_capacity_max_load */
    int has_tau2;
    double tau2; /* mSPRT mixing variance; only when has_tau2 (default: tolerance^2) */
    /* Absent: pooled, calendar, none (the verdict before issue 17); contact-center.yaml sets
     * cluster, observed, stages. */
    rg_variance_kind variance;
    rg_information_kind information;
    rg_alpha_split alpha_split;
    rg_fail_rule fail_rule;    /* absent: estimate; contact-center.yaml: interval */
    rg_spending_kind spending; /* absent: obrien-fleming; contact-center.yaml: quadratic */
    /* `analytics`: the aggregates' mediaType filter ("voice" by default, "chat", "email",
     * "callback", "message", or "" for none) and the most queueId predicates per query
     * (100; more queues take several queries). The query granularity is `granularity_ms`. */
    char media_type[16];
    int predicate_batch;
    rg_policy_metric *metrics;
    size_t metrics_count;
} rg_policy;

/* Loads a policy by name ([a-z0-9_-]+, looked up as <dir>/<name>.yaml, where dir is
 * $ROLLGATE_POLICY_DIR, else the source tree's policies/, else the installed datadir)
 * or by path (anything with a '/' or ending in .yaml/.yml/.json; a relative path is
 * taken relative to `base_dir` when not NULL).
 * @param[out] out the policy; free with rg_policy_free. */
int rg_policy_load(rg_policy **out, const char *name_or_path, const char *base_dir);
/* Loads a policy from a file path. */
int rg_policy_load_file(rg_policy **out, const char *path);
/* Loads a policy from YAML or JSON bytes; `name` prefixes error messages. */
int rg_policy_load_buffer(rg_policy **out, const char *name, const char *data, size_t len);
/* Builds a policy from a mapping node of a parsed document; errors name `path`
 * (e.g. "policy"), or the root when path is NULL. */
int rg_policy_from_doc(rg_policy **out, const rg_doc *doc, const rg_doc_node *node,
                       const char *path);
/* The directory named policies are looked up in (see rg_policy_load). */
const char *rg_policy_dir(void);

/* Normalised JSON (every field present, durations as "15m"-style strings); loading it
 * back with rg_policy_load_buffer gives an equal policy.
 * @param[out] out a new reference owned by the caller. */
int rg_policy_to_json(json_t **out, const rg_policy *policy);
/* 1 when every field, `name` included, is equal, else 0. */
int rg_policy_equal(const rg_policy *a, const rg_policy *b);
/* A deep copy. */
int rg_policy_dup(rg_policy **out, const rg_policy *policy);
void rg_policy_free(rg_policy *policy);

const char *rg_sequential_name(rg_sequential s);
const char *rg_on_inconclusive_name(rg_on_inconclusive a);
const char *rg_metric_kind_name(rg_metric_kind k);

#endif
