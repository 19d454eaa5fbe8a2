/* common.c - shared pieces of the stats module: names, input checks, ranks, Student's t tail */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_math.h>
#include <gsl/gsl_sf_gamma.h>

#include "stats/stats_internal.h"

int rg_stats_alternative_parse(rg_stats_alternative *out, const char *s)
{
    if (s && strcmp(s, "two-sided") == 0)
        *out = RG_ALT_TWO_SIDED;
    else if (s && strcmp(s, "greater") == 0)
        *out = RG_ALT_GREATER;
    else if (s && strcmp(s, "less") == 0)
        *out = RG_ALT_LESS;
    else
        return rg_error_set(RG_EINVALID, "alternative: expected two-sided, greater or less");
    return 0;
}

const char *rg_stats_alternative_name(rg_stats_alternative alt)
{
    switch (alt) {
    case RG_ALT_GREATER: return "greater";
    case RG_ALT_LESS: return "less";
    default: return "two-sided";
    }
}

int rg_stats_mwu_method_parse(rg_stats_mwu_method *out, const char *s)
{
    if (s && strcmp(s, "auto") == 0)
        *out = RG_MWU_AUTO;
    else if (s && strcmp(s, "exact") == 0)
        *out = RG_MWU_EXACT;
    else if (s && strcmp(s, "asymptotic") == 0)
        *out = RG_MWU_ASYMPTOTIC;
    else
        return rg_error_set(RG_EINVALID, "method: expected auto, exact or asymptotic");
    return 0;
}

const char *rg_stats_mwu_method_name(rg_stats_mwu_method method)
{
    switch (method) {
    case RG_MWU_EXACT: return "exact";
    case RG_MWU_ASYMPTOTIC: return "asymptotic";
    default: return "auto";
    }
}

int rg_stats__check_sample(const double *v, size_t n, const char *field)
{
    if (n == 0 || !v)
        return rg_error_set(RG_EINVALID, "%s: empty sample", field);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return rg_error_set(RG_EINVALID, "%s[%zu]: not a finite number", field, i);
    return 0;
}

typedef struct {
    double value;
    size_t index;
} ranked_value;

static int compare_ranked(const void *a, const void *b)
{
    const ranked_value *ra = a, *rb = b;
    if (ra->value < rb->value)
        return -1;
    if (ra->value > rb->value)
        return 1;
    return ra->index < rb->index ? -1 : ra->index > rb->index;
}

int rg_stats__pooled_ranks(double *ranks, double *tie_term, const double *x, size_t nx,
                           const double *y, size_t ny)
{
    size_t n = nx + ny, i = 0;
    ranked_value *sorted = malloc(n * sizeof(*sorted));
    double ties = 0.0;

    if (!sorted)
        return rg_error_set(RG_ENOMEM, "stats: out of memory ranking %zu values", n);
    for (size_t k = 0; k < n; k++) {
        sorted[k].value = k < nx ? x[k] : y[k - nx];
        sorted[k].index = k;
    }
    qsort(sorted, n, sizeof(*sorted), compare_ranked);
    while (i < n) {
        size_t j = i + 1;
        while (j < n && sorted[j].value == sorted[i].value)
            j++;
        /* positions i..j-1 (0-based) share the average rank (i+1 + j) / 2 */
        double avg = ((double)(i + 1) + (double)j) / 2.0, t = (double)(j - i);
        for (size_t k = i; k < j; k++)
            ranks[sorted[k].index] = avg;
        ties += t * t * t - t;
        i = j;
    }
    free(sorted);
    *tie_term = ties;
    return 0;
}

double rg_stats__tdist_sf(double t, double nu)
{
    double t2 = t * t, half;

    if (t == 0.0)
        return 0.5;
    /* Small |t|: the tail is near 1/2 and 1 - I loses nothing; large |t|: the tail itself. */
    if (t2 <= 1.0)
        half = 0.5 * (1.0 - gsl_sf_beta_inc(0.5, nu / 2.0, t2 / (nu + t2)));
    else
        half = 0.5 * gsl_sf_beta_inc(nu / 2.0, 0.5, nu / (nu + t2));
    return t > 0 ? half : 1.0 - half;
}

double rg_stats_spent(rg_spending_kind kind, double alpha, double t)
{
    if (!(t > 0.0))
        return 0.0;
    if (t > 1.0)
        t = 1.0;
    switch (kind) {
    case RG_SPENDING_QUADRATIC: return alpha * t * t;
    case RG_SPENDING_POCOCK: return alpha * log1p((M_E - 1.0) * t);
    case RG_SPENDING_OBRIEN_FLEMING:
    default: return 2.0 * gsl_cdf_ugaussian_Q(gsl_cdf_ugaussian_Qinv(alpha / 2.0) / sqrt(t));
    }
}

static const char *const spending_names[] = {"obrien-fleming", "quadratic", "pocock"};

int rg_spending_kind_parse(rg_spending_kind *out, const char *s)
{
    for (size_t i = 0; s && i < sizeof(spending_names) / sizeof(spending_names[0]); i++)
        if (strcmp(s, spending_names[i]) == 0) {
            *out = (rg_spending_kind)i;
            return 0;
        }
    return rg_error_set(RG_EINVALID, "spending: expected obrien-fleming, quadratic or pocock");
}

const char *rg_spending_kind_name(rg_spending_kind kind)
{
    return (unsigned)kind < sizeof(spending_names) / sizeof(spending_names[0])
               ? spending_names[kind]
               : "?";
}
