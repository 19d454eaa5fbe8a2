/* counts.c - the anytime-valid counts test (Lindon & Malek 2020; Lindon et al. 2022): the
 * canary's share of events against its expected share, a Beta-binomial mixture e-process
 * and its confidence sequence (docs/internals/stats.md "sequential: counts") */
#include <math.h>

#include <gsl/gsl_sf_gamma.h>

#include "stats/stats_internal.h"

/* ln B(a, b) */
static double lbeta(double a, double b)
{
    return gsl_sf_lngamma(a) + gsl_sf_lngamma(b) - gsl_sf_lngamma(a + b);
}

/* ln M(rho) = ln B(a + x, b + y) - ln B(a, b) - x ln rho - y ln(1 - rho) */
static double log_mixture(double x, double y, double a, double b, double rho)
{
    return lbeta(a + x, b + y) - lbeta(a, b) - (x > 0 ? x * log(rho) : 0) -
           (y > 0 ? y * log1p(-rho) : 0);
}

static double logistic(double l)
{
    return 1 / (1 + exp(-l));
}

/* The logit where ln M crosses `level`, between `inside` (below it) and `outside`. */
static double crossing(double x, double y, double a, double b, double level, double inside,
                       double outside)
{
    for (int it = 0; it < 200; it++) {
        double mid = (inside + outside) / 2;
        if (log_mixture(x, y, a, b, logistic(mid)) < level)
            inside = mid;
        else
            outside = mid;
        if (fabs(outside - inside) < 1e-12)
            break;
    }
    return (inside + outside) / 2;
}

int rg_stats_counts(rg_stats_counts_result *out, double x, double y, double rho0,
                    double concentration, double alpha, double prev_p)
{
    double a, b, level, lhat, l0, lo, hi, p;

    if (!(isfinite(x) && x >= 0) || !(isfinite(y) && y >= 0))
        return rg_error_set(RG_EINVALID, "x, y: event counts must be finite and >= 0");
    if (!(rho0 > 0 && rho0 < 1))
        return rg_error_set(RG_EINVALID, "rho0: the expected share must be in (0, 1)");
    if (!(isfinite(concentration) && concentration > 0))
        return rg_error_set(RG_EINVALID, "concentration: must be a positive finite number");
    if (!(alpha > 0.0 && alpha < 1.0))
        return rg_error_set(RG_EINVALID, "alpha: must be strictly between 0 and 1");
    if (!(prev_p > 0.0 && prev_p <= 1.0))
        return rg_error_set(RG_EINVALID, "prev_p: the previous always-valid p must be in (0, 1]");
    a = concentration * rho0;
    b = concentration * (1 - rho0);
    level = log(1 / alpha);
    l0 = log(rho0) - log1p(-rho0);
    /* the estimate with 1/2 added to each count, so that it and its logit are finite */
    lhat = log(x + 0.5) - log(y + 0.5);
    out->log_e = log_mixture(x, y, a, b, rho0);
    p = exp(-out->log_e);
    out->p_value = p < prev_p ? p : prev_p;
    out->rho_hat = logistic(lhat);
    out->effect = lhat - l0;
    out->v = 1 / (x + 0.5) + 1 / (y + 0.5);
    /* M(rho) is smallest near the maximum-likelihood share: the sequence is where it stays
     * below 1/alpha (empty only if even that point is rejected: then the point itself) */
    if (x + y == 0) {
        out->ci_lo = -INFINITY;
        out->ci_hi = INFINITY;
        return 0;
    }
    {
        double lm = x > 0 && y > 0 ? log(x) - log(y) : lhat;
        if (!(log_mixture(x, y, a, b, logistic(lm)) < level)) {
            out->ci_lo = out->ci_hi = lm - l0;
            return 0;
        }
        lo = log_mixture(x, y, a, b, logistic(lm - 60)) < level
                 ? -INFINITY
                 : crossing(x, y, a, b, level, lm, lm - 60) - l0;
        hi = log_mixture(x, y, a, b, logistic(lm + 60)) < level
                 ? INFINITY
                 : crossing(x, y, a, b, level, lm, lm + 60) - l0;
    }
    out->ci_lo = lo;
    out->ci_hi = hi;
    return 0;
}
