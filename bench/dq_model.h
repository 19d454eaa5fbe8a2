/* dq_model.h - decision-quality study: telemetry described by a model file, judged by the engine */
#ifndef RG_BENCH_DQ_MODEL_H
#define RG_BENCH_DQ_MODEL_H

#include <gsl/gsl_rng.h>
#include <jansson.h>

#include "rollgate/policy.h"
#include "rollgate/stats.h"
#include "engine/verdict_inputs.h"

#define DQ_MAX_ORGS 200
#define DQ_MAX_MINUTES 1000

/* A model file (docs/benchmarks.md "Decision-quality models" lists every key and default). */
typedef struct {
    char name[128];
    int orgs, canary, polls, poll_minutes, pre_minutes;
    int stages;          /* the rollout's number of stages (alpha split) */
    int earlier_minutes; /* last stage: the other orgs were changed this long before */
    double calls_per_min, calls_sd;
    double abandon_p, abandon_sd;
    double asa_s, asa_sd;
    double drift_sd, drift_rho; /* per-org AR(1) on ln abandonment and ln ASA, per minute */
    double overdispersion;      /* per-bucket log-normal noise on abandonment and ASA */
    int spike_from, spike_to;   /* minutes from the change */
    double spike_calls, spike_sd, spike_abandon;
    double trend_per_hour; /* common abandonment trend, relative per hour */
    double effect_abandon, effect_asa_s;
    int stage; /* 0 first, 1 middle, 2 last */
    /* nonzero: every replication's org sizes and levels come from this seed (the same
     * deployment each time; only drift, noise and calls vary), as --soak planner runs */
    uint64_t orgs_seed;
    char policy[256];
} dq_model;

/* Reads a model from a JSON object; unknown keys and out-of-range values are RG_EINVALID
 * naming the key. `file` prefixes messages. */
int dq_model_parse(dq_model *out, const json_t *doc, const char *file);
int dq_model_load(dq_model *out, const char *path);

/* One replication's telemetry: per org and 1-minute bucket from the pre window's start. */
typedef struct {
    int orgs, minutes;
    double *offered, *abandoned, *answered, *wait_ms; /* [org * minutes + minute] */
} dq_telemetry;

int dq_telemetry_new(dq_telemetry *t, const dq_model *m);
void dq_telemetry_dispose(dq_telemetry *t);
void dq_simulate(dq_telemetry *t, const dq_model *m, gsl_rng *rng);

typedef enum {
    DQ_GROUP = 0, /* the policy as shipped: cluster variance, observed information, group */
    DQ_MSPRT,     /* the same with sequential: msprt */
    DQ_COUNTS,    /* the same with sequential: counts (abandonment; ASA as msprt) */
    DQ_POOLED,    /* the engine before issue 17: pooled variance, t = k/K, full alpha */
    DQ_NAIVE,     /* pooled variance tested at the full level at every poll */
    DQ_KAYENTA,   /* Kayenta's MannWhitneyClassifier on per-minute series, engine's rule */
    DQ_JUDGES
} dq_judge_kind;

const char *dq_judge_name(dq_judge_kind j);

typedef struct {
    int trip_poll;    /* 0: no trip */
    int promote_poll; /* 0: no promotion */
    int hold;         /* inconclusive at the soak limit */
    int trip_metric;  /* the policy metric whose fail tripped (-1: none, or the soak limit) */
} dq_outcome;

/* The policies of the judges, derived from the model's policy. */
typedef struct {
    rg_policy *policy[DQ_JUDGES];
} dq_policies;

int dq_policies_load(dq_policies *out, const dq_model *m);
void dq_policies_free(dq_policies *p);

/* How many orgs the engine's role rule makes canary and control for the model's stage. */
int dq_arm_counts(int *canary, int *control, const dq_model *m);

/* The stage's arms by the engine's role rule. */
typedef struct {
    int canary[DQ_MAX_ORGS], control[DQ_MAX_ORGS];
    int ncanary, ncontrol;
    int stage_index;
    int64_t started_ms, pre_from_ms;
} dq_arms;

void dq_arms_of(dq_arms *a, const dq_model *m, const rg_policy *p);
int dq_minute_of(int64_t ms);

/* The engine's verdict of one metric (0 abandonment, 1 ASA) on telemetry t. */
int dq_engine_verdict(rg_stats_verdict *v, const dq_telemetry *t, const dq_model *m,
                      const rg_policy *p, const dq_arms *a, int metric, const rg_soak_bounds *b,
                      rg_verdict_state *st);

/* The planner's forecast for the model's stage under the group judge's policy, from the
 * per-org traffic of one simulated history (the model without the change or the spike: what
 * `rollgate plan` would read) and, with_tau2, the between-org variance the engine's verdict
 * estimates on that history; otherwise none. (dq_plan.c) */
typedef struct {
    rg_stats_plan_stage stage;
    rg_stats_plan_result metric[2];
} dq_plan;

int dq_plan_model(dq_plan *out, const dq_model *m, int with_tau2);

/* --soak planner (dq_plan.c): fixes the model's orgs (orgs_seed), estimates from histories
 * of them what `rollgate plan` estimates (rates, level, dispersion, the between-org variance
 * of placebo contrasts at each look), and asks rg_stats_plan_soak for the fewest polls up to
 * max_polls, from the model's canary count up to half the orgs, that reach P(promote) and
 * power 0.9. *polls = 0 when none does (m is then the largest design tried). `m` is updated
 * to the recommended design; `out` has its forecast. */
int dq_plan_soak(dq_plan *out, int *polls, dq_model *m, int max_polls);

/* Runs one judge over the soak of one replication through the engine's decision path. */
int dq_judge(dq_outcome *out, const dq_telemetry *t, const dq_model *m, const dq_policies *p,
             dq_judge_kind j, rg_stats_cache *cache);

#endif
