/* msprt.c - normal-mixture SPRT: always-valid p and confidence sequence */
#include <math.h>

#include "stats/stats_internal.h"

int rg_stats_msprt(rg_stats_msprt_result *out, double theta, double v, double theta0, double tau2,
                   double alpha, double prev_p)
{
    double d, log_lambda, p, half;

    if (!isfinite(theta))
        return rg_error_set(RG_EINVALID, "theta: not a finite number");
    if (!isfinite(theta0))
        return rg_error_set(RG_EINVALID, "theta0: not a finite number");
    if (!(isfinite(v) && v > 0.0))
        return rg_error_set(RG_EINVALID, "v: the variance must be a positive finite number");
    if (!(isfinite(tau2) && tau2 > 0.0))
        return rg_error_set(RG_EINVALID, "tau2: must be a positive finite number");
    if (!(alpha > 0.0 && alpha < 1.0))
        return rg_error_set(RG_EINVALID, "alpha: must be strictly between 0 and 1");
    if (!(prev_p > 0.0 && prev_p <= 1.0))
        return rg_error_set(RG_EINVALID, "prev_p: the previous always-valid p must be in (0, 1]");
    d = theta - theta0;
    log_lambda = 0.5 * log(v / (v + tau2)) + tau2 * d * d / (2.0 * v * (v + tau2));
    p = exp(-log_lambda);
    if (p > prev_p)
        p = prev_p;
    half = sqrt(v * (v + tau2) / tau2 * (log((v + tau2) / v) + 2.0 * log(1.0 / alpha)));
    out->theta = theta;
    out->v = v;
    out->log_lambda = log_lambda;
    out->p_value = p;
    out->ci_lo = theta - half;
    out->ci_hi = theta + half;
    return 0;
}

static int check_moments(const rg_stats_moments *m, const char *arm)
{
    if (!isfinite(m->n) || !isfinite(m->sum) || !isfinite(m->sumsq))
        return rg_error_set(RG_EINVALID, "n_%s, sum_%s, sumsq_%s: not finite numbers", arm, arm,
                            arm);
    if (m->n < 2.0 || m->n != floor(m->n))
        return rg_error_set(RG_EINVALID, "n_%s: need a whole count of at least 2, got %g", arm,
                            m->n);
    if (m->sumsq < 0.0)
        return rg_error_set(RG_EINVALID, "sumsq_%s: a sum of squares cannot be negative", arm);
    return 0;
}

static double sample_variance(const rg_stats_moments *m)
{
    double mean = m->sum / m->n, s2 = (m->sumsq - m->n * mean * mean) / (m->n - 1.0);
    return s2 > 0.0 ? s2 : 0.0;
}

int rg_stats_mean_difference(double *theta, double *v, const rg_stats_moments *canary,
                             const rg_stats_moments *baseline)
{
    double var;
    int rc;

    if ((rc = check_moments(canary, "c")) < 0 || (rc = check_moments(baseline, "b")) < 0)
        return rc;
    var = sample_variance(canary) / canary->n + sample_variance(baseline) / baseline->n;
    if (!(var > 0.0))
        return rg_error_set(RG_EINVALID, "sumsq_c, sumsq_b: both arms have zero variance");
    *theta = canary->sum / canary->n - baseline->sum / baseline->n;
    *v = var;
    return 0;
}

int rg_stats_proportion_difference(double *theta, double *v, int64_t x_c, int64_t n_c, int64_t x_b,
                                   int64_t n_b)
{
    double pc, pb, var;

    if (n_c < 1 || n_b < 1)
        return rg_error_set(RG_EINVALID, "%s: must be at least 1", n_c < 1 ? "n_c" : "n_b");
    if (x_c < 0 || x_b < 0)
        return rg_error_set(RG_EINVALID, "%s: must not be negative", x_c < 0 ? "x_c" : "x_b");
    if (x_c > n_c)
        return rg_error_set(RG_EINVALID, "x_c: count %lld is above its total n_c = %lld",
                            (long long)x_c, (long long)n_c);
    if (x_b > n_b)
        return rg_error_set(RG_EINVALID, "x_b: count %lld is above its total n_b = %lld",
                            (long long)x_b, (long long)n_b);
    pc = (double)x_c / (double)n_c;
    pb = (double)x_b / (double)n_b;
    var = pc * (1.0 - pc) / (double)n_c + pb * (1.0 - pb) / (double)n_b;
    if (!(var > 0.0))
        return rg_error_set(RG_EINVALID, "x_c, x_b: no events or all events in both arms; "
                                         "the variance is zero");
    *theta = pc - pb;
    *v = var;
    return 0;
}
