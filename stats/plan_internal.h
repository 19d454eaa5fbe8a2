/* plan_internal.h - shared by the planner's files (plan.c, plan_orgs.c) */
#ifndef RG_STATS_PLAN_INTERNAL_H
#define RG_STATS_PLAN_INTERNAL_H

#include <stdint.h>

#include "stats/stats_internal.h"

#define PLAN_MAX_METRICS 32

/* Per metric: the expected variance and boundary at each look (b on the verdict's reference
 * distribution, bn the normal boundary it comes from) and the between-org variance used. */
typedef struct {
    double v[RG_STATS_MAX_LOOKS], b[RG_STATS_MAX_LOOKS], bn[RG_STATS_MAX_LOOKS];
    double tau2[RG_STATS_MAX_LOOKS];
} plan_looks;

typedef struct {
    long trips[PLAN_MAX_METRICS + 1]; /* by the metric that tripped; [n] unused */
    long trip, promote, hold;
} plan_tally;

/* Minutes of post window at look k (0-based), never below 1e-9. */
double rg_stats__plan_post(const rg_stats_plan_design *d, int k);

/* Within-org variance of one unit on the test scale, times the dispersion. */
double rg_stats__plan_unit_variance(const rg_stats_plan_metric *m);

/* The cluster path: each org's contrast drawn with variance u_i(k) + tau2_k (nested in k, as
 * post windows over a fixed pre are), then the verdict's random-effects estimate, Kish df and
 * t boundary at every look, and the engine's rule. RG_ENOMEM or 0. */
int rg_stats__plan_simulate_orgs(plan_tally *out, const rg_stats_plan_metric *m, size_t n,
                                 const rg_stats_plan_design *d, const plan_looks *looks,
                                 const double *theta, uint64_t seed);

#endif
