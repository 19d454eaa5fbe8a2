/* hodges_lehmann.c - Hodges-Lehmann shift and its asymptotic Wilcoxon interval (R wilcox.test) */
#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_roots.h>

#include "stats/stats_internal.h"

#define RG_HL_MAX_PAIRS 4000000.0
#define RG_HL_MAX_ITER 200

/* The standardized, continuity-corrected rank-sum statistic of (x - d, y), minus zq. */
typedef struct {
    const double *x, *y;
    size_t nx, ny;
    double *shifted; /* nx + ny scratch values */
    double *ranks;   /* nx + ny scratch ranks */
    double zq;
    rg_stats_alternative alt;
    int failed; /* set when every observation ties (sigma 0) or memory ran out */
} wdiff_ctx;

static double wdiff(double d, void *payload)
{
    wdiff_ctx *w = payload;
    double tie_term = 0.0, rank_sum = 0.0, nx = (double)w->nx, ny = (double)w->ny, n = nx + ny;
    double dz, correction, sigma;

    for (size_t i = 0; i < w->nx; i++)
        w->shifted[i] = w->x[i] - d;
    if (rg_stats__pooled_ranks(w->ranks, &tie_term, w->shifted, w->nx, w->y, w->ny) < 0) {
        w->failed = 1;
        return 0.0;
    }
    for (size_t i = 0; i < w->nx; i++)
        rank_sum += w->ranks[i];
    dz = rank_sum - nx * (nx + 1.0) / 2.0 - nx * ny / 2.0;
    if (w->alt == RG_ALT_GREATER)
        correction = 0.5;
    else if (w->alt == RG_ALT_LESS)
        correction = -0.5;
    else
        correction = dz > 0 ? 0.5 : (dz < 0 ? -0.5 : 0.0);
    sigma = sqrt(nx * ny / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0))));
    if (!(sigma > 0.0)) {
        w->failed = 1;
        return 0.0;
    }
    return (dz - correction) / sigma - w->zq;
}

/* The shift where the statistic crosses zq, or an end of [lo, hi] when it does not. */
static int find_root(double *out, wdiff_ctx *w, double zq, double lo, double hi)
{
    gsl_root_fsolver *solver = NULL;
    gsl_function fn = {wdiff, w};
    double f_lo, f_hi;
    int rc = 0, status = GSL_CONTINUE;

    w->zq = zq;
    f_lo = wdiff(lo, w);
    f_hi = wdiff(hi, w);
    if (w->failed)
        return rg_error_set(RG_EINVALID, "x, y: every observation is tied at the shift; "
                                         "the interval is undefined");
    if (f_lo <= 0.0 || f_hi >= 0.0) {
        *out = f_lo <= 0.0 ? lo : hi;
        return 0;
    }
    if (!(solver = gsl_root_fsolver_alloc(gsl_root_fsolver_brent)))
        return rg_error_set(RG_ENOMEM, "hodges-lehmann: out of memory");
    gsl_root_fsolver_set(solver, &fn, lo, hi);
    for (int i = 0; i < RG_HL_MAX_ITER && status == GSL_CONTINUE && !w->failed; i++) {
        gsl_root_fsolver_iterate(solver);
        status = gsl_root_test_interval(gsl_root_fsolver_x_lower(solver),
                                        gsl_root_fsolver_x_upper(solver),
                                        1e-12 * fmax(1.0, hi - lo), 0.0);
    }
    if (w->failed)
        rc = rg_error_set(RG_EINVALID, "x, y: the rank statistic could not be evaluated");
    else
        *out = gsl_root_fsolver_root(solver);
    gsl_root_fsolver_free(solver);
    return rc;
}

static int compare_double(const void *a, const void *b)
{
    double da = *(const double *)a, db = *(const double *)b;
    return da < db ? -1 : da > db;
}

static int median_pairwise(double *out, const double *x, size_t nx, const double *y, size_t ny)
{
    size_t n = nx * ny, k = 0;
    double *diffs = malloc(n * sizeof(double));

    if (!diffs)
        return rg_error_set(RG_ENOMEM, "hodges-lehmann: out of memory for %zu differences", n);
    for (size_t i = 0; i < nx; i++)
        for (size_t j = 0; j < ny; j++)
            diffs[k++] = x[i] - y[j];
    qsort(diffs, n, sizeof(double), compare_double);
    *out = n % 2 ? diffs[n / 2] : (diffs[n / 2 - 1] + diffs[n / 2]) / 2.0;
    free(diffs);
    return 0;
}

static void extremes(double *lo, double *hi, const double *v, size_t n)
{
    *lo = *hi = v[0];
    for (size_t i = 1; i < n; i++) {
        *lo = fmin(*lo, v[i]);
        *hi = fmax(*hi, v[i]);
    }
}

int rg_stats_hodges_lehmann(rg_stats_hl_result *out, const double *x, size_t nx, const double *y,
                            size_t ny, double confidence, rg_stats_alternative alt)
{
    wdiff_ctx w = {x, y, nx, ny, NULL, NULL, 0.0, alt, 0};
    double xmin, xmax, ymin, ymax, alpha, lo = -INFINITY, hi = INFINITY, estimate = 0.0;
    int rc;

    if ((rc = rg_stats__check_sample(x, nx, "x")) < 0 ||
        (rc = rg_stats__check_sample(y, ny, "y")) < 0)
        return rc;
    if (!(confidence > 0.0 && confidence < 1.0))
        return rg_error_set(RG_EINVALID, "confidence: must be strictly between 0 and 1");
    if ((double)nx * (double)ny > RG_HL_MAX_PAIRS)
        return rg_error_set(RG_ELIMIT, "x, y: at most %.0f pairs, got %zu*%zu", RG_HL_MAX_PAIRS, nx,
                            ny);
    alpha = 1.0 - confidence;
    extremes(&xmin, &xmax, x, nx);
    extremes(&ymin, &ymax, y, ny);
    w.shifted = malloc((nx + ny) * sizeof(double));
    w.ranks = malloc((nx + ny) * sizeof(double));
    if (!w.shifted || !w.ranks) {
        rc = rg_error_set(RG_ENOMEM, "hodges-lehmann: out of memory");
        goto cleanup;
    }
    if (alt == RG_ALT_TWO_SIDED) {
        double zq = gsl_cdf_ugaussian_Qinv(alpha / 2.0);
        if ((rc = find_root(&lo, &w, zq, xmin - ymax, xmax - ymin)) < 0 ||
            (rc = find_root(&hi, &w, -zq, xmin - ymax, xmax - ymin)) < 0)
            goto cleanup;
    } else if (alt == RG_ALT_GREATER) {
        if ((rc = find_root(&lo, &w, gsl_cdf_ugaussian_Qinv(alpha), xmin - ymax, xmax - ymin)) < 0)
            goto cleanup;
    } else if ((rc = find_root(&hi, &w, -gsl_cdf_ugaussian_Qinv(alpha), xmin - ymax, xmax - ymin)) <
               0) {
        goto cleanup;
    }
    if ((rc = median_pairwise(&estimate, x, nx, y, ny)) < 0)
        goto cleanup;
    out->estimate = estimate;
    out->ci_lo = lo;
    out->ci_hi = hi;
cleanup:
    free(w.shifted);
    free(w.ranks);
    return rc;
}
