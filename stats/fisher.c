/* fisher.c - Fisher's exact test on a 2x2 table, two-sided by SciPy's probability-ordering rule */
#include <math.h>

#include <gsl/gsl_randist.h>

#include "stats/stats_internal.h"

#define RG_FISHER_MAX_TOTAL 100000000LL
/* SciPy's relative tolerance when comparing table probabilities. */
#define RG_FISHER_EPSILON (1.0 - 1e-4)

/* The hypergeometric law of the top-left cell given the margins. */
typedef struct {
    unsigned int row0, row1, col0; /* successes, failures, draws */
    long long lo, hi;              /* support of the cell */
} hypergeom;

static double pmf(const hypergeom *h, long long k)
{
    if (k < h->lo || k > h->hi)
        return 0.0;
    return gsl_ran_hypergeometric_pdf((unsigned int)k, h->row0, h->row1, h->col0);
}

static double sum_range(const hypergeom *h, long long from, long long to)
{
    double s = 0.0;
    if (from < h->lo)
        from = h->lo;
    if (to > h->hi)
        to = h->hi;
    for (long long k = from; k <= to; k++)
        s += pmf(h, k);
    return s;
}

static double two_sided(const hypergeom *h, long long a)
{
    double n = h->col0, n1 = h->row0, n2 = h->row1, p_obs, p_mode, bound, tail = 0.0;
    long long mode = (long long)floor((n + 1.0) * (n1 + 1.0) / (n1 + n2 + 2.0));

    p_obs = pmf(h, a);
    p_mode = pmf(h, mode);
    if (fabs(p_obs - p_mode) / fmax(p_obs, p_mode) <= 1.0 - RG_FISHER_EPSILON)
        return 1.0;
    bound = p_obs / RG_FISHER_EPSILON;
    if (a < mode) {
        double lower = sum_range(h, h->lo, a);
        if (pmf(h, h->col0) > bound)
            return lower;
        /* the other tail: every table above the mode no more probable than the observed one */
        for (long long k = h->hi; k >= mode && pmf(h, k) <= bound; k--)
            tail += pmf(h, k);
        return lower + tail;
    }
    double upper = sum_range(h, a, h->hi);
    if (pmf(h, 0) > bound)
        return upper;
    for (long long k = h->lo; k <= mode && pmf(h, k) <= bound; k++)
        tail += pmf(h, k);
    return upper + tail;
}

int rg_stats_fisher(rg_stats_fisher_result *out, const int64_t table[2][2],
                    rg_stats_alternative alt)
{
    static const char *names[2][2] = {{"table[0][0]", "table[0][1]"},
                                      {"table[1][0]", "table[1][1]"}};
    long long total = 0, a = table[0][0], b = table[0][1], c = table[1][0], d = table[1][1];
    hypergeom h;
    double p;

    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            if (table[i][j] < 0)
                return rg_error_set(RG_EINVALID, "%s: must not be negative", names[i][j]);
            if (table[i][j] > RG_FISHER_MAX_TOTAL || (total += table[i][j]) > RG_FISHER_MAX_TOTAL)
                return rg_error_set(RG_ELIMIT, "table: counts sum above %lld", RG_FISHER_MAX_TOTAL);
        }
    out->odds_ratio =
        (c > 0 && b > 0) ? ((double)a * (double)d) / ((double)c * (double)b) : (double)INFINITY;
    if (a + b == 0 || c + d == 0 || a + c == 0 || b + d == 0) {
        out->odds_ratio = NAN;
        out->p_value = 1.0;
        return 0;
    }
    h.row0 = (unsigned int)(a + b);
    h.row1 = (unsigned int)(c + d);
    h.col0 = (unsigned int)(a + c);
    h.lo = (long long)h.col0 > (long long)h.row1 ? (long long)h.col0 - h.row1 : 0;
    h.hi = h.col0 < h.row0 ? h.col0 : h.row0;
    if (alt == RG_ALT_LESS)
        p = sum_range(&h, h.lo, a);
    else if (alt == RG_ALT_GREATER)
        p = sum_range(&h, a, h.hi);
    else
        p = two_sided(&h, a);
    out->p_value = p > 1.0 ? 1.0 : p;
    return 0;
}
