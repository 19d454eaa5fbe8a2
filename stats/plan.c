/* plan.c - what a soak can decide: expected half-width, MDE, P(promote), P(trip) per metric */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "stats/plan_internal.h"

double rg_stats__plan_post(const rg_stats_plan_design *d, int k)
{
    double post = (k + 1) * d->poll_minutes - d->settle_minutes;
    /* a poll before settle has passed sees (almost) nothing: no floor in minutes, which
     * would credit a soak measured in seconds with a whole minute of traffic */
    return post > 1e-9 ? post : 1e-9;
}

/* Within-org variance of one unit (trial or measurement) on the test scale. */
double rg_stats__plan_unit_variance(const rg_stats_plan_metric *m)
{
    double phi = m->kind == RG_METRIC_PROPORTION && m->dispersion > 1 ? m->dispersion : 1;
    if (m->kind == RG_METRIC_PROPORTION)
        return phi * (m->log_scale ? (1 - m->level) / m->level : m->level * (1 - m->level));
    return m->log_scale ? (m->unit_sd / m->level) * (m->unit_sd / m->level)
                        : m->unit_sd * m->unit_sd;
}

/* V of the random-effects difference, with its Kish df, for windows of pre and post minutes. */
static double arm_variance(double *w_sum, double *w2_sum, const double *rate, size_t n,
                           double var_unit, double pre, double post, double tau2)
{
    *w_sum = *w2_sum = 0;
    for (size_t i = 0; i < n; i++) {
        double u = var_unit / (rate[i] * pre) + var_unit / (rate[i] * post) + tau2;
        *w_sum += 1 / u;
        *w2_sum += 1 / (u * u);
    }
    return 1 / *w_sum;
}

static double look_variance(double *df, const rg_stats_plan_metric *m,
                            const rg_stats_plan_design *d, double post, double tau2)
{
    double var_unit = rg_stats__plan_unit_variance(m), ws, w2, v, eff;
    int arms = m->n_control > 0 ? 2 : 1;

    v = arm_variance(&ws, &w2, m->canary_rate, m->n_canary, var_unit, d->pre_minutes, post, tau2);
    eff = ws * ws / w2;
    if (arms == 2) {
        v += arm_variance(&ws, &w2, m->control_rate, m->n_control, var_unit, d->pre_minutes, post,
                          tau2);
        eff += ws * ws / w2;
    }
    *df = INFINITY;
    if (d->variance == RG_VARIANCE_CLUSTER) {
        double n = (double)(m->n_canary + m->n_control) - arms;
        *df = n < 2 ? INFINITY : fmin(n, fmax(2, eff - arms));
    }
    return v;
}

static int design_looks(plan_looks *out, const rg_stats_plan_metric *m,
                        const rg_stats_plan_design *d, double alpha_m)
{
    int K = d->planned_polls;
    double t[RG_STATS_MAX_LOOKS], v0[RG_STATS_MAX_LOOKS], df[RG_STATS_MAX_LOOKS], z[1], post;
    int rc;

    /* the between-org variance of a contrast at each look, made non-increasing in k (a
     * longer post window averages more of the drift), so that nested looks have
     * cov(d_j, d_k) = var(d_max(j,k)) */
    for (int k = K - 1; k >= 0; k--) {
        double t2 = m->tau2_looks ? m->tau2_looks[k] : m->tau2;
        t2 = isfinite(t2) && t2 > 0 ? t2 : 0;
        out->tau2[k] = k + 1 < K && out->tau2[k + 1] > t2 ? out->tau2[k + 1] : t2;
    }
    for (int k = 0; k < K; k++) {
        post = rg_stats__plan_post(d, k);
        out->v[k] = look_variance(&df[k], m, d, post, out->tau2[k]);
        v0[k] = look_variance(&z[0], m, d, post, 0);
    }
    for (int k = 0; k < K; k++) {
        if (d->information == RG_INFORMATION_OBSERVED)
            t[k] = k + 1 == K ? 1.0 : v0[K - 1] / v0[k];
        else
            t[k] = (double)(k + 1) / K;
        if (k > 0 && !(t[k] > t[k - 1]))
            t[k] = t[k - 1] + (1 - t[k - 1]) / (K - k);
    }
    if (d->sequential == RG_SEQUENTIAL_GROUP) {
        if ((rc = rg_stats_boundaries(out->bn, t, (size_t)K, alpha_m, d->spending)) < 0)
            return rc;
    } else {
        for (int k = 0; k < K; k++)
            out->bn[k] = gsl_cdf_ugaussian_Qinv(alpha_m);
    }
    for (int k = 0; k < K; k++)
        out->b[k] = isfinite(df[k]) ? gsl_cdf_tdist_Qinv(gsl_cdf_ugaussian_Q(out->bn[k]), df[k])
                                    : out->bn[k];
    return 0;
}

/* Simulates `paths` soaks with effects theta[] (test scale, worse direction positive): each
 * metric's estimate is a Brownian motion in information I_k = 1/V_k with drift theta, which is
 * the covariance cov(theta_j, theta_k) = V_max(j,k) of nested post windows over a fixed pre. */
static void simulate(plan_tally *out, const rg_stats_plan_metric *m, size_t n,
                     const rg_stats_plan_design *d, const plan_looks *looks, const double *theta,
                     uint64_t seed)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);
    int K = d->planned_polls;

    memset(out, 0, sizeof(*out));
    if (!rng)
        return;
    gsl_rng_set(rng, (unsigned long)seed);
    for (int p = 0; p < d->paths; p++) {
        double s[PLAN_MAX_METRICS] = {0}, prev_i[PLAN_MAX_METRICS] = {0};
        int streak[PLAN_MAX_METRICS] = {0}, done = 0;
        for (int k = 0; k < K && !done; k++) {
            int all_pass = 1, tripped = -1;
            for (size_t j = 0; j < n; j++) {
                double i = 1 / looks[j].v[k], est, sd = sqrt(looks[j].v[k]);
                s[j] += theta[j] * (i - prev_i[j]) + gsl_ran_gaussian(rng, sqrt(i - prev_i[j]));
                prev_i[j] = i;
                est = s[j] / i;
                double upper = est + looks[j].b[k] * sd;
                if (est / sd >= looks[j].b[k] &&
                    (d->fail_rule == RG_FAIL_INTERVAL ? upper >= m[j].tolerance
                                                      : est >= m[j].tolerance)) {
                    streak[j]++;
                    if (tripped < 0 && (m[j].critical || streak[j] >= d->breaker_consecutive))
                        tripped = (int)j;
                } else {
                    streak[j] = 0;
                }
                all_pass &= (k + 1) * d->poll_minutes >= d->stabilization_minutes &&
                            est + looks[j].b[k] * sd < m[j].tolerance;
            }
            if (tripped >= 0) {
                out->trip++;
                out->trips[tripped]++;
                done = 1;
            } else if (all_pass) {
                out->promote++;
                done = 1;
            }
        }
        out->hold += !done;
    }
    gsl_rng_free(rng);
}

static double display(const rg_stats_plan_metric *m, double theta)
{
    return m->log_scale ? expm1(theta) : theta;
}

static int check(const rg_stats_plan_metric *m, size_t n, const rg_stats_plan_design *d)
{
    if (n < 1 || n > PLAN_MAX_METRICS)
        return rg_error_set(RG_EINVALID, "plan: need 1 to %d metrics", PLAN_MAX_METRICS);
    if (d->planned_polls < 1 || d->planned_polls > RG_STATS_MAX_LOOKS)
        return rg_error_set(RG_EINVALID, "plan: planned polls must be 1 to %d", RG_STATS_MAX_LOOKS);
    if (!(d->poll_minutes > 0 && d->pre_minutes > 0 && d->settle_minutes >= 0 && d->alpha > 0 &&
          d->alpha < 0.5 && d->n_metrics >= 1 && d->paths >= 100 && d->breaker_consecutive >= 1))
        return rg_error_set(RG_EINVALID, "plan: invalid design");
    for (size_t j = 0; j < n; j++) {
        if (m[j].n_canary < 1 || !m[j].canary_rate || (m[j].n_control && !m[j].control_rate))
            return rg_error_set(RG_EINVALID, "plan: metric %zu: no canary orgs", j);
        if (!(m[j].tolerance > 0) || !(m[j].level > 0) ||
            (m[j].kind == RG_METRIC_PROPORTION && !(m[j].level < 1)) ||
            (m[j].kind == RG_METRIC_MEAN && !(m[j].unit_sd > 0)) || !(m[j].tau2 >= 0) ||
            !(m[j].dispersion >= 0))
            return rg_error_set(RG_EINVALID,
                                "plan: metric %zu: invalid level, spread or "
                                "tolerance",
                                j);
        for (size_t i = 0; i < m[j].n_canary + m[j].n_control; i++) {
            double r =
                i < m[j].n_canary ? m[j].canary_rate[i] : m[j].control_rate[i - m[j].n_canary];
            if (!(r > 0) || !isfinite(r))
                return rg_error_set(RG_EINVALID, "plan: metric %zu: org %zu has no traffic", j, i);
        }
    }
    return 0;
}

/* One Monte Carlo run: the cluster path draws orgs, the pooled one the Brownian motion. */
static int run(plan_tally *t, const rg_stats_plan_metric *m, size_t n,
               const rg_stats_plan_design *d, const plan_looks *looks, const double *theta,
               uint64_t seed)
{
    if (d->variance == RG_VARIANCE_CLUSTER)
        return rg_stats__plan_simulate_orgs(t, m, n, d, looks, theta, seed);
    simulate(t, m, n, d, looks, theta, seed);
    return 0;
}

int rg_stats_plan(rg_stats_plan_result *out, rg_stats_plan_stage *stage,
                  const rg_stats_plan_metric *m, size_t n, const rg_stats_plan_design *d)
{
    plan_looks looks[PLAN_MAX_METRICS];
    double theta[PLAN_MAX_METRICS] = {0};
    plan_tally t;
    int K = d->planned_polls, rc;

    if ((rc = check(m, n, d)) < 0)
        return rc;
    for (size_t j = 0; j < n; j++)
        if ((rc = design_looks(&looks[j], &m[j], d, d->alpha / d->n_metrics)) < 0)
            return rc;
    if ((rc = run(&t, m, n, d, looks, theta, d->seed)) < 0)
        return rc;
    stage->p_promote = (double)t.promote / d->paths;
    stage->p_hold = (double)t.hold / d->paths;
    stage->p_trip = (double)t.trip / d->paths;
    for (size_t j = 0; j < n; j++) {
        rg_stats_plan_result *r = &out[j];
        double lo = 0, hi = 4 * m[j].tolerance;
        r->half_width = display(&m[j], looks[j].b[K - 1] * sqrt(looks[j].v[K - 1]));
        r->cannot_decide = !(looks[j].b[K - 1] * sqrt(looks[j].v[K - 1]) < m[j].tolerance);
        theta[j] = 1.5 * m[j].tolerance;
        if ((rc = run(&t, m, n, d, looks, theta, d->seed + 1)) < 0)
            return rc;
        r->p_trip_1_5 = (double)t.trip / d->paths;
        theta[j] = m[j].tolerance;
        if ((rc = run(&t, m, n, d, looks, theta, d->seed + 3)) < 0)
            return rc;
        r->p_trip_1_0 = (double)t.trip / d->paths;
        r->mde = NAN;
        theta[j] = hi;
        if (d->no_mde) {
            theta[j] = 0;
            continue;
        }
        if ((rc = run(&t, m, n, d, looks, theta, d->seed + 2)) < 0)
            return rc;
        if ((double)t.trip / d->paths < 0.8) {
            r->mde = INFINITY;
        } else {
            for (int it = 0; it < 14; it++) { /* bisection, common random numbers */
                theta[j] = (lo + hi) / 2;
                if ((rc = run(&t, m, n, d, looks, theta, d->seed + 2)) < 0)
                    return rc;
                if ((double)t.trip / d->paths >= 0.8)
                    hi = theta[j];
                else
                    lo = theta[j];
            }
            r->mde = display(&m[j], hi);
        }
        theta[j] = 0;
    }
    return 0;
}

static int meets(const rg_stats_plan_result *r, const rg_stats_plan_stage *st, size_t n,
                 const rg_stats_plan_goal *g)
{
    if (st->p_promote < g->promote)
        return 0;
    for (size_t j = 0; j < n; j++)
        if (r[j].p_trip_1_0 < g->power)
            return 0;
    return 1;
}

int rg_stats_plan_soak(int *polls, rg_stats_plan_result *out, rg_stats_plan_stage *stage,
                       const rg_stats_plan_metric *m, size_t n, const rg_stats_plan_design *d,
                       const rg_stats_plan_goal *goal)
{
    rg_stats_plan_design q = *d;
    int lo = goal->min_polls, hi = goal->max_polls, found = 0, rc;

    if (!(lo >= 1 && lo <= hi && hi <= RG_STATS_MAX_LOOKS) || !(goal->promote <= 1) ||
        !(goal->power <= 1))
        return rg_error_set(RG_EINVALID, "plan: invalid soak goal");
    if (n < 1 || n > PLAN_MAX_METRICS)
        return rg_error_set(RG_EINVALID, "plan: need 1 to %d metrics", PLAN_MAX_METRICS);
    q.paths = d->paths / 4 > 500 ? d->paths / 4 : 500;
    q.no_mde = 1;
    *polls = 0;
    /* more polls, more information: the first that meets the goal, by bisection */
    q.planned_polls = hi;
    if ((rc = rg_stats_plan(out, stage, m, n, &q)) < 0)
        return rc;
    if (meets(out, stage, n, goal)) {
        found = hi;
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            q.planned_polls = mid;
            if ((rc = rg_stats_plan(out, stage, m, n, &q)) < 0)
                return rc;
            if (meets(out, stage, n, goal))
                hi = found = mid;
            else
                lo = mid + 1;
        }
    }
    q = *d;
    q.planned_polls = found ? found : goal->max_polls;
    if ((rc = rg_stats_plan(out, stage, m, n, &q)) < 0)
        return rc;
    *polls = found;
    return 0;
}
