/* mannwhitney.c - Mann-Whitney U: exact null distribution and tie-corrected normal approximation */
#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sf_gamma.h>

#include "stats/stats_internal.h"

/* The exact distribution costs O(nx*ny * nx*ny/2) additions. */
#define RG_MWU_EXACT_MAX_CELLS 40000.0

/* P(U <= upto) for U the Mann-Whitney statistic of samples of sizes m and n without ties,
 * counting arrangements: f(i, j, k) = f(i-1, j, k-j) + f(i, j-1, k) (the largest value is
 * either an x above all j y's, or a y). Only the lower tail up to `upto` is built. */
static int exact_cdf(double *out, size_t m, size_t n, size_t upto)
{
    size_t small = m < n ? m : n, large = m < n ? n : m, width = upto + 1;
    double *g = calloc((small + 1) * width, sizeof(double)), total = 0.0;

    if (!g)
        return rg_error_set(RG_ENOMEM, "mann-whitney: out of memory for the exact distribution");
    for (size_t i = 0; i <= small; i++)
        g[i * width] = 1.0;
    for (size_t j = 1; j <= large; j++)
        for (size_t i = 1; i <= small; i++) {
            double *row = g + i * width;
            const double *prev = g + (i - 1) * width;
            for (size_t k = j; k < width; k++)
                row[k] += prev[k - j];
        }
    for (size_t k = 0; k < width; k++)
        total += g[small * width + k];
    free(g);
    *out = total / gsl_sf_choose((unsigned int)(m + n), (unsigned int)small);
    return 0;
}

/* P(U >= u) under the exact null distribution (SciPy's sf on the truncated statistic). */
static int exact_sf(double *out, double u, size_t m, size_t n)
{
    double mn = (double)m * (double)n, k = floor(u), cdf = 0.0;
    int rc;

    if (k <= 0) {
        *out = 1.0;
        return 0;
    }
    if (k > mn) {
        *out = 0.0;
        return 0;
    }
    /* By symmetry P(U >= k) = P(U <= mn - k); sum whichever tail is shorter. */
    if (mn - k <= k - 1) {
        if ((rc = exact_cdf(&cdf, m, n, (size_t)(mn - k))) < 0)
            return rc;
        *out = cdf;
    } else {
        if ((rc = exact_cdf(&cdf, m, n, (size_t)(k - 1))) < 0)
            return rc;
        *out = 1.0 - cdf;
    }
    return 0;
}

static double asymptotic_sf(double u, size_t m, size_t n, double tie_term, int continuity)
{
    double dm = (double)m, dn = (double)n, total = dm + dn;
    double var = dm * dn / 12.0 * ((total + 1.0) - tie_term / (total * (total - 1.0)));
    double numerator = u - dm * dn / 2.0 - (continuity ? 0.5 : 0.0);

    /* Every value equal: no evidence of a difference. */
    if (!(var > 0.0))
        return 1.0;
    return gsl_cdf_ugaussian_Q(numerator / sqrt(var));
}

static rg_stats_mwu_method choose_method(rg_stats_mwu_method asked, size_t nx, size_t ny,
                                         double tie_term)
{
    if (asked != RG_MWU_AUTO)
        return asked;
    if (nx > 8 && ny > 8)
        return RG_MWU_ASYMPTOTIC;
    if (tie_term > 0.0)
        return RG_MWU_ASYMPTOTIC;
    /* SciPy would go exact here too; past the work limit the normal approximation is used. */
    if ((double)nx * (double)ny > RG_MWU_EXACT_MAX_CELLS)
        return RG_MWU_ASYMPTOTIC;
    return RG_MWU_EXACT;
}

int rg_stats_mann_whitney(rg_stats_mwu_result *out, const double *x, size_t nx, const double *y,
                          size_t ny, rg_stats_alternative alt, rg_stats_mwu_method method,
                          int continuity)
{
    double *ranks = NULL, tie_term = 0.0, rank_sum = 0.0, u1, u2, u, p, factor = 1.0;
    rg_stats_mwu_method used;
    int rc;

    if ((rc = rg_stats__check_sample(x, nx, "x")) < 0 ||
        (rc = rg_stats__check_sample(y, ny, "y")) < 0)
        return rc;
    if (!(ranks = malloc((nx + ny) * sizeof(double))))
        return rg_error_set(RG_ENOMEM, "mann-whitney: out of memory");
    if ((rc = rg_stats__pooled_ranks(ranks, &tie_term, x, nx, y, ny)) < 0)
        goto cleanup;
    for (size_t i = 0; i < nx; i++)
        rank_sum += ranks[i];
    u1 = rank_sum - (double)nx * ((double)nx + 1.0) / 2.0;
    u2 = (double)nx * (double)ny - u1;
    used = choose_method(method, nx, ny, tie_term);
    if (used == RG_MWU_EXACT && (double)nx * (double)ny > RG_MWU_EXACT_MAX_CELLS) {
        rc = rg_error_set(RG_ELIMIT, "method: exact needs nx*ny <= %.0f, got %zu*%zu",
                          RG_MWU_EXACT_MAX_CELLS, nx, ny);
        goto cleanup;
    }
    if (alt == RG_ALT_GREATER)
        u = u1;
    else if (alt == RG_ALT_LESS)
        u = u2;
    else {
        u = u1 > u2 ? u1 : u2;
        factor = 2.0;
    }
    if (used == RG_MWU_EXACT) {
        if ((rc = exact_sf(&p, u, nx, ny)) < 0)
            goto cleanup;
    } else {
        p = asymptotic_sf(u, nx, ny, tie_term, continuity);
    }
    p *= factor;
    out->statistic = u1;
    out->p_value = p > 1.0 ? 1.0 : (p < 0.0 ? 0.0 : p);
    out->method = used;
    rc = 0;
cleanup:
    free(ranks);
    return rc;
}
