/* stats.h - fixed-sample tests, group-sequential boundaries, mSPRT and the per-metric verdict */
#ifndef RG_STATS_H
#define RG_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "rollgate/error.h"

/*
 * Conventions follow SciPy 1.10 (and R 4.2 for Hodges-Lehmann): `x` is the canary sample, `y`
 * the baseline; RG_ALT_GREATER means "x larger". Every function validates its input: an empty
 * sample, a NaN or infinite value, or a count above its total is RG_EINVALID with a message that
 * names the field ("x[3]: not a finite number"). Results are written to `out` only on success.
 * No function here does I/O or keeps hidden state; the boundary cache is caller-owned.
 */

typedef enum {
    RG_ALT_TWO_SIDED = 0,
    RG_ALT_GREATER = 1, /* canary larger */
    RG_ALT_LESS = 2,
} rg_stats_alternative;

/* "two-sided" | "greater" | "less". */
int rg_stats_alternative_parse(rg_stats_alternative *out, const char *s);
const char *rg_stats_alternative_name(rg_stats_alternative alt);

/* ---- Mann-Whitney U ---- */
typedef enum {
    RG_MWU_AUTO = 0, /* exact when min(nx, ny) <= 8 and no ties, else asymptotic (SciPy 1.10) */
    RG_MWU_EXACT = 1,
    RG_MWU_ASYMPTOTIC = 2,
} rg_stats_mwu_method;

typedef struct {
    double statistic; /* U of x: R_x - nx(nx+1)/2, average ranks for ties */
    double p_value;
    rg_stats_mwu_method method; /* the method used (never AUTO) */
} rg_stats_mwu_result;

int rg_stats_mwu_method_parse(rg_stats_mwu_method *out, const char *s);
const char *rg_stats_mwu_method_name(rg_stats_mwu_method method);

/* As scipy.stats.mannwhitneyu(x, y, use_continuity=continuity, alternative, method). The
 * asymptotic p uses the tie-corrected variance; when that variance is 0 (every value equal)
 * there is no evidence of a difference: p = 1. Exact is limited to nx*ny <= 40000 (RG_ELIMIT;
 * `auto` then uses the normal approximation). */
int rg_stats_mann_whitney(rg_stats_mwu_result *out, const double *x, size_t nx, const double *y,
                          size_t ny, rg_stats_alternative alt, rg_stats_mwu_method method,
                          int continuity);

/* ---- Welch's t ---- */
typedef struct {
    double statistic; /* t = (mean_x - mean_y) / se */
    double df;        /* Welch-Satterthwaite */
    double p_value;
} rg_stats_welch_result;

/* As scipy.stats.ttest_ind(x, y, equal_var=False). Both samples constant and equal: t = 0,
 * p = 1. n = 1 in a sample (variance undefined) or both samples constant but different
 * (t infinite) is RG_EINVALID with that reason. */
int rg_stats_welch(rg_stats_welch_result *out, const double *x, size_t nx, const double *y,
                   size_t ny, rg_stats_alternative alt);

/* ---- pooled two-proportion z ---- */
typedef struct {
    double statistic; /* z = (x1/n1 - x2/n2) / sqrt(p(1-p)(1/n1 + 1/n2)), p pooled */
    double p_value;
} rg_stats_z_result;

/* Counts must satisfy 0 <= x <= n, n >= 1. Pooled variance 0 (no events or all events in both
 * arms): z = 0, p = 1. */
int rg_stats_two_proportion(rg_stats_z_result *out, int64_t x1, int64_t n1, int64_t x2, int64_t n2,
                            rg_stats_alternative alt);

/* ---- Fisher's exact test on [[a, b], [c, d]] ---- */
typedef struct {
    double odds_ratio; /* a*d / (b*c) as SciPy: INFINITY when b or c is 0, NAN when undefined */
    double p_value;
} rg_stats_fisher_result;

/* As scipy.stats.fisher_exact: two-sided sums the tables whose probability is at most the
 * observed one (relative tolerance 1e-4). A zero row or column sum gives p = 1. Cells must be
 * >= 0 and sum to at most 10^8 (RG_ELIMIT). */
int rg_stats_fisher(rg_stats_fisher_result *out, const int64_t table[2][2],
                    rg_stats_alternative alt);

/* ---- Hodges-Lehmann shift with its Wilcoxon interval ---- */
typedef struct {
    double estimate; /* median of the pairwise differences x_i - y_j */
    double ci_lo;    /* -INFINITY for RG_ALT_LESS */
    double ci_hi;    /* +INFINITY for RG_ALT_GREATER */
} rg_stats_hl_result;

/* Interval as R wilcox.test(x, y, conf.int=TRUE, conf.level=confidence, exact=FALSE,
 * correct=TRUE): the roots of the continuity-corrected normal rank statistic, found with GSL's
 * Brent solver. When every observation is tied at the shift the interval is undefined:
 * RG_EINVALID. nx*ny is limited to 4,000,000 (RG_ELIMIT). 0 < confidence < 1. */
int rg_stats_hodges_lehmann(rg_stats_hl_result *out, const double *x, size_t nx, const double *y,
                            size_t ny, double confidence, rg_stats_alternative alt);

/* ---- group-sequential boundaries (Lan-DeMets alpha spending) ---- */
#define RG_STATS_MAX_LOOKS 100

/* How a boundary spends the one-sided level alpha over the information fraction t in (0, 1]
 * (docs/internals/stats.md "Spending"). */
typedef enum {
    RG_SPENDING_OBRIEN_FLEMING = 0, /* alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)) */
    RG_SPENDING_QUADRATIC = 1,      /* alpha(t) = alpha t^2 (Kim-DeMets power family, rho 2) */
    RG_SPENDING_POCOCK = 2,         /* alpha(t) = alpha ln(1 + (e - 1) t) (Lan-DeMets Pocock) */
} rg_spending_kind;

int rg_spending_kind_parse(rg_spending_kind *out, const char *s);
const char *rg_spending_kind_name(rg_spending_kind kind);
/* alpha(t) of `kind`: the error spent by information fraction t (0 <= t <= 1). */
double rg_stats_spent(rg_spending_kind kind, double alpha, double t);

/* One-sided z boundaries c_1..c_k for overall one-sided level alpha spent by `spending` at
 * the information fractions t (strictly increasing, in (0, 1]), by recursive numerical
 * integration over the previous look's sub-density. `out` holds k values.
 * 0 < alpha < 0.5, 1 <= k <= RG_STATS_MAX_LOOKS. */
int rg_stats_boundaries(double *out, const double *fractions, size_t k, double alpha,
                        rg_spending_kind spending);

/* rg_stats_boundaries with O'Brien-Fleming spending. */
int rg_stats_obf_boundaries(double *out, const double *fractions, size_t k, double alpha);

/* A caller-owned, thread-safe cache of boundaries for equally spaced looks, keyed by
 * (alpha, K, spending). */
typedef struct rg_stats_cache rg_stats_cache;

int rg_stats_cache_new(rg_stats_cache **out);
void rg_stats_cache_free(rg_stats_cache *cache);
/* The K boundaries at t_k = k/K; the array lives as long as the cache. */
int rg_stats_cache_boundaries(const double **out, rg_stats_cache *cache, double alpha,
                              size_t planned_looks, rg_spending_kind spending);

/* c_k of the design with looks at fractions[0..k-1] (as rg_stats_boundaries(...)[k-1],
 * the same arithmetic): the cache keeps the last 64 such designs with their integration
 * state, so that extending a design by one look costs one step. */
int rg_stats_cache_boundary_at(double *out, rg_stats_cache *cache, const double *fractions,
                               size_t k, double alpha, rg_spending_kind spending);

/* ---- mSPRT (normal mixture) ---- */
typedef struct {
    double theta;        /* the estimate */
    double v;            /* its variance */
    double log_lambda;   /* ln of the mixture likelihood ratio against theta0 */
    double p_value;      /* always valid: min(prev_p, 1/Lambda) */
    double ci_lo, ci_hi; /* confidence sequence at level 1 - alpha */
} rg_stats_msprt_result;

/* Lambda = sqrt(V/(V+tau2)) exp(tau2 (theta-theta0)^2 / (2V(V+tau2))); prev_p is the previous
 * poll's always-valid p (1 at the first poll). v > 0, tau2 > 0, 0 < alpha < 1. */
int rg_stats_msprt(rg_stats_msprt_result *out, double theta, double v, double theta0, double tau2,
                   double alpha, double prev_p);

/* ---- the anytime-valid counts test (Lindon & Malek 2020) ---- */
typedef struct {
    double log_e;        /* ln of the Beta-binomial mixture e-value against rho0 */
    double p_value;      /* always valid: min(prev_p, 1/E) */
    double rho_hat;      /* the canary's share of the events, (x + 1/2) / (x + y + 1) */
    double effect;       /* logit(rho_hat) - logit(rho0): the log rate ratio */
    double v;            /* 1/(x + 1/2) + 1/(y + 1/2), its approximate variance */
    double ci_lo, ci_hi; /* confidence sequence of the log rate ratio at level 1 - alpha */
} rg_stats_counts_result;

/* x canary and y comparison events, the canary's expected share rho0 under no change, the
 * prior Beta(c rho0, c (1 - rho0)) of the share: E = B(a + x, b + y) / B(a, b) /
 * (rho0^x (1 - rho0)^y), the always-valid p min(prev_p, 1/E), and the confidence sequence
 * {rho : M(rho) < 1/alpha} mapped to logit(rho) - logit(rho0). No events: (-inf, inf). */
int rg_stats_counts(rg_stats_counts_result *out, double x, double y, double rho0,
                    double concentration, double alpha, double prev_p);

/* Running sums of one arm of a mean metric. */
typedef struct {
    double n;     /* number of observations */
    double sum;   /* sum of the values */
    double sumsq; /* sum of their squares */
} rg_stats_moments;

/* theta = mean_c - mean_b, V = s_c^2/n_c + s_b^2/n_b (sample variances, n >= 2 each). */
int rg_stats_mean_difference(double *theta, double *v, const rg_stats_moments *canary,
                             const rg_stats_moments *baseline);
/* theta = x_c/n_c - x_b/n_b, V = p_c(1-p_c)/n_c + p_b(1-p_b)/n_b (plug-in). */
int rg_stats_proportion_difference(double *theta, double *v, int64_t x_c, int64_t n_c, int64_t x_b,
                                   int64_t n_b);

/* ---- the per-metric verdict (docs/statistics.md: the comparison, the sequential rule) ---- */
typedef enum { RG_METRIC_PROPORTION = 0, RG_METRIC_MEAN = 1 } rg_metric_kind;
typedef enum { RG_TOLERANCE_RELATIVE = 0, RG_TOLERANCE_ABSOLUTE = 1 } rg_tolerance_kind;
typedef enum {
    RG_SEQUENTIAL_GROUP = 0,  /* Lan-DeMets alpha spending over the planned polls */
    RG_SEQUENTIAL_MSPRT = 1,  /* normal-mixture SPRT, open-ended */
    RG_SEQUENTIAL_NONE = 2,   /* fixed level at every poll: for the decision-quality study */
    RG_SEQUENTIAL_COUNTS = 3, /* anytime-valid counts test (proportions; means as msprt) */
} rg_sequential_kind;
typedef enum {
    RG_DECISION_INCONCLUSIVE = 0,
    RG_DECISION_PASS = 1,
    RG_DECISION_FAIL = 2,
} rg_decision;

/* How V, the variance of theta, is estimated (docs/internals/stats.md "Cluster variance"). */
typedef enum {
    RG_VARIANCE_POOLED = 0,  /* every call and bucket independent: the sum of window variances */
    RG_VARIANCE_CLUSTER = 1, /* organizations as units: per-org contrasts, random effects, t */
} rg_variance_kind;
/* The information fraction t_k a group-sequential boundary is spent at. */
typedef enum {
    RG_INFORMATION_CALENDAR = 0, /* t_k = k / K */
    RG_INFORMATION_OBSERVED = 1, /* t_k = V_K / V_k, V_K predicted from this poll's data */
} rg_information_kind;

/* When a significant worsening fails (docs/internals/stats.md "The fail rule"). */
typedef enum {
    RG_FAIL_ESTIMATE = 0, /* z >= c_k and the estimate is at least the tolerance */
    RG_FAIL_INTERVAL = 1, /* z >= c_k and the interval does not show it within the tolerance */
} rg_fail_rule;

int rg_fail_rule_parse(rg_fail_rule *out, const char *s);
const char *rg_fail_rule_name(rg_fail_rule rule);
int rg_variance_kind_parse(rg_variance_kind *out, const char *s);
const char *rg_variance_kind_name(rg_variance_kind kind);
int rg_information_kind_parse(rg_information_kind *out, const char *s);
const char *rg_information_kind_name(rg_information_kind kind);

int rg_sequential_kind_parse(rg_sequential_kind *out, const char *s);
const char *rg_sequential_kind_name(rg_sequential_kind kind);
const char *rg_decision_name(rg_decision decision);

/* One organization x one time bucket. proportion: `value` events out of `count` trials
 * (tAbandon.count of nOffered.count). mean: `count` measurements whose sum is `value`, in ms
 * (tAnswered.count, tAnswered.sum). */
typedef struct {
    double count;
    double value;
} rg_stats_cell;

/* The cells of one arm in one window (every org, every bucket). Empty: cells NULL, n 0. */
typedef struct {
    const rg_stats_cell *cells;
    size_t n;
} rg_stats_window;

typedef struct {
    const char *name; /* for the reason line */
    rg_metric_kind kind;
    int increase_is_bad; /* 1: an increase is a degradation; 0: a decrease is */
    rg_tolerance_kind tolerance_kind;
    /* relative: a fraction (0.15 = 15 %), judged on the log scale; absolute: proportion points
     * (0.02) for proportions, milliseconds for means (reported in seconds). Must be >= 0. */
    double tolerance;
    int critical; /* carried for the engine; does not change the verdict */
    rg_stats_window canary_pre, canary_post;
    /* The concurrent control; has_control 0 (the last stage) makes the effect pre/post. */
    int has_control;
    rg_stats_window control_pre, control_post;
    double msprt_prev_p; /* msprt: the previous poll's always-valid p (1 or 0 at the first) */
    /* variance: cluster: each cell's organization, a key within its arm, one array per window
     * parallel to its cells; cells of one org in time order. NULL: the window is one org. */
    struct {
        const uint32_t *canary_pre, *canary_post, *control_pre, *control_post;
    } orgs;
} rg_stats_metric_input;

typedef struct {
    int poll;          /* k, from 1 */
    int planned_polls; /* K = soak_limit / poll_interval (group: 1 <= k <= K) */
    double alpha;      /* overall level, e.g. 0.05 */
    int n_metrics;     /* Bonferroni: each metric is tested one-sided at alpha / n_metrics */
    rg_sequential_kind sequential;
    double tau2;           /* msprt mixture variance on the test scale; 0: tolerance^2 */
    int min_soak_reached;  /* 1 once the stabilization window has passed: pass allowed */
    rg_stats_cache *cache; /* optional boundary cache (group); NULL computes afresh */
    rg_variance_kind variance;
    int block_buckets;               /* cluster: consecutive cells of one org per block (0: 5) */
    rg_information_kind information; /* group only */
    rg_spending_kind spending;       /* group only; 0: O'Brien-Fleming */
    /* observed: (length of the post window now) / (its length at poll K), in (0, 1]. */
    double post_share;
    /* observed: the fractions used at polls 1..k-1 (k-1 values, from earlier verdicts). */
    const double *fractions;
    rg_fail_rule fail_rule; /* 0: estimate (as before issue 17) */
} rg_stats_verdict_params;

#define RG_STATS_REASON_LEN 256

typedef struct {
    rg_decision decision;
    int has_estimate; /* 0 when no traffic or the variance is undefined (see reason) */
    /* On the test scale: ln(ratio) for relative tolerances; a difference otherwise (proportion
     * points, or seconds for means). Signed canary minus baseline. */
    double theta;
    double v;            /* variance of theta (sum of the window variances) */
    double z;            /* degradation z: theta / sqrt(v), sign flipped when decrease is bad */
    double boundary;     /* group: c_k; none: z_{1-alpha_m}; msprt: 0 */
    double ci_lo, ci_hi; /* theta -/+ boundary*sqrt(v) (msprt: the confidence sequence) */
    double p_value;      /* msprt: always-valid p; otherwise the one-sided nominal p of z */
    double tolerance;    /* the tolerance on the test scale */
    double alpha_metric; /* alpha / n_metrics */
    /* For people: relative -> exp(theta)-1 (0.31 = +31 %); absolute -> theta (s for means). */
    double effect, effect_lo, effect_hi;
    char reason[RG_STATS_REASON_LEN]; /* "abandonment_rate +31% (+12%..+52%) vs control; ..." */
    /* Reference distribution of z: Student's t with df degrees of freedom (cluster), or the
     * normal (INFINITY: pooled, or cluster's too-few-orgs fallback). */
    double df;
    double fraction; /* group: the information fraction t_k the boundary was spent at */
    double v_final;  /* the variance predicted at poll K (observed information) */
    /* cluster: orgs with both windows, the between-org variance tau^2 and the block
     * dispersion (proportions: Pearson phi >= 1; means: per-measurement variance). */
    int orgs_canary, orgs_control;
    double tau2_between, dispersion;
    int fallback; /* cluster: too few orgs for a between-org variance */
    /* cluster: DerSimonian-Laird's (Q - df) / c before truncation at 0 (tau2_between is
     * max(0, this)); averaged over histories it is unbiased where the truncated one is not */
    double tau2_moment;
} rg_stats_verdict;

/* Judges one metric at one poll. Returns 0 with a verdict (inconclusive with its reason when
 * there is no traffic in the canary post window or the variance is undefined), or RG_EINVALID
 * for malformed input (negative counts, events above trials, non-finite values, bad params). */
int rg_stats_verdict_compute(rg_stats_verdict *out, const rg_stats_metric_input *metric,
                             const rg_stats_verdict_params *params);

/* ---- the planner: what a stage's soak can decide (docs/internals/stats.md "Planner") ---- */
typedef struct {
    rg_metric_kind kind;
    int log_scale;    /* relative tolerance */
    double tolerance; /* on the test scale: ln(1 + tol) relative; proportion points; seconds */
    int critical;
    double level;   /* proportion p, or the mean in seconds */
    double unit_sd; /* means: the per-measurement sd in seconds */
    /* expected units (trials or measurements) per minute of each canary / control org */
    const double *canary_rate, *control_rate;
    size_t n_canary, n_control;
    double tau2; /* between-org variance of a contrast on the test scale (0: none known) */
    /* The between-org variance of a contrast at each look k = 1..K (its post window k x poll
     * - settle), e.g. from placebo contrasts on history; NULL: `tau2` at every look. It must
     * cover the planned polls (and, for rg_stats_plan_soak, the most polls searched). */
    const double *tau2_looks;
    double dispersion; /* proportions: the block dispersion phi >= 1 of the within-org
                          variance (0: 1) */
} rg_stats_plan_metric;

typedef struct {
    int planned_polls;
    double poll_minutes, pre_minutes, settle_minutes, stabilization_minutes;
    double alpha;  /* the stage's level (after any split over stages) */
    int n_metrics; /* Bonferroni divisor */
    int breaker_consecutive;
    rg_sequential_kind sequential; /* group or none (msprt is not planned) */
    rg_variance_kind variance;
    rg_information_kind information;
    rg_spending_kind spending; /* group; 0: O'Brien-Fleming */
    int paths;                 /* Monte Carlo paths, >= 100 */
    uint64_t seed;
    rg_fail_rule fail_rule;
    int no_mde; /* 1: skip the MDE bisection (mde = NAN), as the soak search does */
} rg_stats_plan_design;

typedef struct {
    double half_width; /* the interval's half-width c_K sqrt(V_K) at the soak's end (display) */
    double mde;        /* smallest worsening tripping with probability 0.8 (display); INFINITY
                          when even 4 x the tolerance does not */
    double p_trip_1_5; /* P(trip) when this metric is worse by 1.5 x its tolerance */
    double p_trip_1_0; /* P(trip) when it is worse by exactly its tolerance: the power */
    int cannot_decide; /* the half-width at the soak's end is not below the tolerance */
} rg_stats_plan_result;

typedef struct {
    double p_promote, p_hold, p_trip; /* a healthy change, every metric together */
} rg_stats_plan_stage;

/* Plans one stage's soak for n metrics: `out` gets n results. 0 or RG_EINVALID. With
 * variance: cluster the Monte Carlo draws each org's contrast and repeats the verdict's
 * estimation (DerSimonian-Laird tau^2, Hartung-Knapp V, Kish df, Student's t) at each look. */
int rg_stats_plan(rg_stats_plan_result *out, rg_stats_plan_stage *stage,
                  const rg_stats_plan_metric *m, size_t n, const rg_stats_plan_design *d);

/* What a recommended soak must reach (docs/internals/stats.md "The recommended soak"). */
typedef struct {
    int min_polls, max_polls; /* the planned polls searched, 1 <= min <= max <= 100 */
    double promote;           /* P(promote | healthy) at least this (0.9) */
    double power;             /* P(trip) at each metric's tolerance at least this (0.9) */
} rg_stats_plan_goal;

/* The fewest planned polls in [min_polls, max_polls] (with d's poll length) whose plan meets
 * the goal: *polls, with that plan in out/stage (MDE included unless d->no_mde). *polls = 0
 * when none does (out/stage then hold the plan at max_polls). The search uses d->paths / 4
 * paths (at least 500) and the final plan d->paths. 0 or RG_EINVALID. */
int rg_stats_plan_soak(int *polls, rg_stats_plan_result *out, rg_stats_plan_stage *stage,
                       const rg_stats_plan_metric *m, size_t n, const rg_stats_plan_design *d,
                       const rg_stats_plan_goal *goal);

#endif
