/* parametric.c - normal-theory two-sample tests: Welch's t and the pooled two-proportion z */
#include <math.h>

#include <gsl/gsl_cdf.h>

#include "stats/stats_internal.h"

static void mean_and_variance(double *mean, double *var, const double *v, size_t n)
{
    double sum = 0.0, ss = 0.0, m;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    m = sum / (double)n;
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - m) * (v[i] - m);
    *mean = m;
    *var = ss / ((double)n - 1.0);
}

/* p for an approximately normal or t statistic, given its upper tail function. */
static double tail_p(double stat, rg_stats_alternative alt, double (*sf)(double, double), double nu)
{
    double p;
    switch (alt) {
    case RG_ALT_GREATER: return sf(stat, nu);
    case RG_ALT_LESS: return sf(-stat, nu);
    default: p = 2.0 * sf(fabs(stat), nu); return p > 1.0 ? 1.0 : p;
    }
}

static double normal_sf(double z, double unused)
{
    (void)unused;
    return gsl_cdf_ugaussian_Q(z);
}

int rg_stats_welch(rg_stats_welch_result *out, const double *x, size_t nx, const double *y,
                   size_t ny, rg_stats_alternative alt)
{
    double mx, my, vx, vy, ax, ay, se2, df;
    int rc;

    if ((rc = rg_stats__check_sample(x, nx, "x")) < 0 ||
        (rc = rg_stats__check_sample(y, ny, "y")) < 0)
        return rc;
    if (nx < 2 || ny < 2)
        return rg_error_set(RG_EINVALID,
                            "%s: Welch's t is undefined with n = 1 (no variance estimate)",
                            nx < 2 ? "x" : "y");
    mean_and_variance(&mx, &vx, x, nx);
    mean_and_variance(&my, &vy, y, ny);
    ax = vx / (double)nx;
    ay = vy / (double)ny;
    se2 = ax + ay;
    if (!(se2 > 0.0)) {
        if (mx != my)
            return rg_error_set(RG_EINVALID, "x, y: both samples are constant and differ; "
                                             "Welch's t is infinite, use mann-whitney");
        /* Both constant and equal: no evidence of a difference. */
        out->statistic = 0.0;
        out->df = (double)nx + (double)ny - 2.0;
        out->p_value = 1.0;
        return 0;
    }
    df = se2 * se2 / (ax * ax / ((double)nx - 1.0) + ay * ay / ((double)ny - 1.0));
    out->statistic = (mx - my) / sqrt(se2);
    out->df = df;
    out->p_value = tail_p(out->statistic, alt, rg_stats__tdist_sf, df);
    return 0;
}

static int check_count(int64_t x, int64_t n, const char *xname, const char *nname)
{
    if (n < 1)
        return rg_error_set(RG_EINVALID, "%s: must be at least 1, got %lld", nname, (long long)n);
    if (x < 0)
        return rg_error_set(RG_EINVALID, "%s: must not be negative, got %lld", xname, (long long)x);
    if (x > n)
        return rg_error_set(RG_EINVALID, "%s: count %lld is above its total %s = %lld", xname,
                            (long long)x, nname, (long long)n);
    return 0;
}

int rg_stats_two_proportion(rg_stats_z_result *out, int64_t x1, int64_t n1, int64_t x2, int64_t n2,
                            rg_stats_alternative alt)
{
    double p1, p2, pooled, se;
    int rc;

    if ((rc = check_count(x1, n1, "x1", "n1")) < 0 || (rc = check_count(x2, n2, "x2", "n2")) < 0)
        return rc;
    p1 = (double)x1 / (double)n1;
    p2 = (double)x2 / (double)n2;
    pooled = ((double)x1 + (double)x2) / ((double)n1 + (double)n2);
    se = sqrt(pooled * (1.0 - pooled) * (1.0 / (double)n1 + 1.0 / (double)n2));
    if (!(se > 0.0)) {
        /* No events or all events in both arms: nothing distinguishes them. */
        out->statistic = 0.0;
        out->p_value = 1.0;
        return 0;
    }
    out->statistic = (p1 - p2) / se;
    out->p_value = tail_p(out->statistic, alt, normal_sf, 0.0);
    return 0;
}
