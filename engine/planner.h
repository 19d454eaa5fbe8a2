/* planner.h - recent traffic of each organization from analytics, for the planner and for
 * traffic-sized stages (docs/internals/stats.md "Planner") */
#ifndef RG_ENGINE_PLANNER_H
#define RG_ENGINE_PLANNER_H

#include <stdint.h>

#include <jansson.h>

#include "rollgate/manifest.h"
#include "rollgate/platform.h"
#include "rollgate/policy.h"

/* One org's analytics over [from, to), summed over its watched queues. The ss_* fields are
 * the bucket-to-bucket spread of a mean, sum_b c_b (xbar_b - xbar)^2 in ms^2, with df the
 * number of buckets with data minus one (the verdict's pooled per-measurement variance). */
typedef struct {
    double offered, abandoned, answered, answered_ms, handled, handle_ms;
    double ss_answered, df_answered, ss_handled, df_handled;
    /* The buckets in time order, RG_TRAFFIC_FIELDS values each (offered, abandoned, answered,
     * answered_ms, handled, handle_ms), for the placebo contrasts of the planner; NULL when
     * not kept. Freed by rg_engine__traffic_free. */
    double *series;
    size_t nbuckets;
} rg_org_traffic;

#define RG_TRAFFIC_FIELDS 6
/* The planner keeps the bucket series of at most this many orgs (in resolution order). */
#define RG_TRAFFIC_SERIES_ORGS 400

/* Frees every org's series and the array. */
void rg_engine__traffic_free(rg_org_traffic *traffic, size_t n);

/* The window of recent analytics the planner reads for policy `p` at `now_ms`: the policy's
 * pre window plus its soak limit, ending at the last whole bucket. */
void rg_engine__traffic_window(int64_t *from_ms, int64_t *to_ms, const rg_policy *p,
                               int64_t now_ms);

/* The queues watched for an org: the manifest's watch_queues, else the queues the new body
 * names. @param[out] out a new array of strings. */
int rg_engine__plan_queues(json_t **out, const rg_manifest *m, const json_t *body);

/* Queues one aggregates op per org (ops[i] NULL when it watches no queue); `queues[i]` are
 * the org's queue lists (kept alive by the caller until the ops completed). */
int rg_engine__traffic_queue(rg_platform_op **ops, rg_platform *pf, const char *const *orgs,
                             json_t *const *queues, size_t n, int64_t from_ms, int64_t to_ms,
                             int64_t granularity_ms);

/* The traffic of a completed op (zeros for NULL), with its bucket series when keep_series.
 * An op that failed returns its error; RG_ENOMEM. */
int rg_engine__traffic_collect(rg_org_traffic *out, const rg_platform_op *op, int keep_series);

/* The traffic's total of an analytics metric (nOffered, tAbandon, tAnswered, tHandle): its
 * count, or (use_sum) its sum in ms; 0 for other names. */
double rg_engine__traffic_total(const rg_org_traffic *t, const char *name, int use_sum);

/* Expected units per minute of `metric` (trials for a proportion, measurements for a mean)
 * from an org's traffic over `minutes`. */
double rg_engine__traffic_rate(const rg_org_traffic *t, const rg_policy_metric *metric,
                               double minutes);

/* The between-org variance of placebo contrasts of metric q at looks 1..looks (tau2[]) and the
 * verdict's block dispersion (*dispersion: phi, or a mean's per-measurement variance), from
 * the series of the orgs with role[i] RG_SOAK_CANARY or RG_SOAK_CONTROL: the read's first
 * pre_window is the pre window, look k's post window runs from settle to k polls after it,
 * and the engine's cluster verdict estimates tau^2 as at a poll (planner_placebo.c). Looks
 * the read does not reach, or without an estimate, get 0. 0 or RG_ENOMEM / RG_EINVALID. */
int rg_engine__plan_placebo(double *tau2, double *dispersion, const rg_policy *p,
                            const rg_policy_metric *q, const rg_org_traffic *traffic,
                            const int *role, size_t n, int stage_index, int stage_count, int looks);

/* Plans every stage of a resolved manifest from the orgs' traffic (in resolution order,
 * `minutes` long). @param[out] out the "planner" object of `rollgate plan --json`
 * (docs/cli.md). */
int rg_engine__plan_stages(json_t **out, const rg_manifest *m, const rg_resolution *r,
                           const rg_org_traffic *traffic, double minutes);

/* Sizes the traffic-sized stages of `res` (resolved from `m`) at start from each target's
 * analytics, through the engine's platform options and credentials. `out` gets
 * [{"stage","min_offered","expected_offered","orgs"}] for the start's audit, NULL when no
 * stage is traffic-sized. `out_planner` (may be NULL) gets, from the same read, what
 * rg_engine__plan_at_start gives (untouched when no stage is traffic-sized). */
struct rg_engine;
int rg_engine__size_stages(json_t **out, json_t **out_planner, struct rg_engine *engine,
                           rg_resolution *res, const rg_manifest *m, const char *base_dir,
                           const char *tenant, int64_t now_ms);

/* The planner at start (start.c): as rg_engine_plan_stats through the engine's platform
 * options and orgs, with a bounded analytics read (one retry, short timeouts). Never fails
 * for the platform: `out` gets the "planner" object with "planned_at_ms", or
 * {"error":"cannot read analytics: …","planned_at_ms"}. RG_ENOMEM only. */
int rg_engine__plan_at_start(json_t **out, struct rg_engine *engine, const rg_manifest *m,
                             const char *base_dir, const char *tenant, int64_t now_ms);

/* The percentage of targets stage k covers, for messages: the manifest's, or for a
 * traffic-sized stage what was resolved at start (from the stored targets). */
struct rg_rollout_ctx;
int rg_engine__stage_percent(const struct rg_rollout_ctx *ctx, int k);

#endif
