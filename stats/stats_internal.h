/* stats_internal.h - helpers shared by the files of the stats module */
#ifndef RG_STATS_INTERNAL_H
#define RG_STATS_INTERNAL_H

#include <stddef.h>

#include "rollgate/stats.h"

/* RG_EINVALID naming `field` unless the sample is non-empty and every value finite. */
int rg_stats__check_sample(const double *v, size_t n, const char *field);

/* Average ranks (1-based) of the pooled sample x ++ y into `ranks` (nx + ny values) and
 * sum(t^3 - t) over tie groups into *tie_term. Returns RG_ENOMEM on allocation failure. */
int rg_stats__pooled_ranks(double *ranks, double *tie_term, const double *x, size_t nx,
                           const double *y, size_t ny);

/* P(T > t) for Student's t with nu degrees of freedom, via the incomplete beta function. */
double rg_stats__tdist_sf(double t, double nu);

/* One arm in one window reduced to an estimate on the test scale and its variance. */
typedef struct {
    double estimate; /* ln p or p; ln mean or mean in seconds */
    double variance;
    double count; /* total trials (proportion) or measurements (mean) */
} rg_stats__window_estimate;

/* RG_EINVALID naming `label` for a cell that is negative, non-finite or (proportions) has more
 * events than trials. */
int rg_stats__check_window(const rg_stats_window *w, rg_metric_kind kind, const char *label);

/* 0 with *out set, or 1 when the estimate is undefined (no data, a single bucket, a zero mean on
 * the log scale) with the reason written to `why`. */
int rg_stats__estimate_window(rg_stats__window_estimate *out, const rg_stats_window *w,
                              rg_metric_kind kind, int log_scale, const char *label, char *why,
                              size_t whylen);

/* The effect with organizations as units (cluster.c, docs/internals/stats.md). */
typedef struct {
    double theta, v;    /* the random-effects difference of per-org contrasts; its variance */
    double v_final;     /* V predicted at poll K: post-window variances x post_share */
    double df;          /* t degrees of freedom; INFINITY in the too-few-orgs fallback */
    double tau2;        /* between-org variance of the contrasts */
    double tau2_moment; /* its moment estimate before truncation at 0 */
    double dispersion;  /* proportions: Pearson phi >= 1 over blocks; means: per-call variance */
    int n_canary, n_control, fallback;
} rg_stats__cluster;

/* 0 with *out set, 1 when undefined (reason in `why`), or RG_ENOMEM. */
int rg_stats__cluster_effect(rg_stats__cluster *out, const rg_stats_metric_input *m, int log_scale,
                             int block, double post_share, char *why, size_t whylen);

#endif
