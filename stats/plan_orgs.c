/* plan_orgs.c - the planner's Monte Carlo with organizations as units: per-org contrasts and
 * the verdict's own estimation at every look (docs/internals/stats.md "Planner") */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "stats/plan_internal.h"

#define MIN_DF 2
#define DF_STEP 0.25 /* the t quantile is interpolated in df on this grid */

/* One metric's arrays: per look k and org i (row-major [k * n + i]). */
typedef struct {
    size_t n, nc; /* orgs; the first nc are canary */
    int narms;
    double *u;   /* the verdict's within variance */
    double *inc; /* sd of d(k) - d(k+1); at K-1 the sd of d(K-1) */
    double *tq;  /* t quantile of Q(bn[k]) on the df grid [k * ngrid + g] */
    size_t ngrid;
} org_metric;

static void org_metric_free(org_metric *o)
{
    free(o->u);
    free(o->inc);
    free(o->tq);
    o->u = o->inc = o->tq = NULL;
}

static int org_metric_init(org_metric *o, const rg_stats_plan_metric *m,
                           const rg_stats_plan_design *d, const plan_looks *l)
{
    int K = d->planned_polls;
    double var_unit = rg_stats__plan_unit_variance(m), df0;

    memset(o, 0, sizeof(*o));
    /* Analyzer false positive: the arrays of the previous org_metric are owned by the
     * caller's om[] and freed in its cleanup loop (om[0..built)). */
    // NOLINTNEXTLINE(clang-analyzer-unix.Malloc)
    o->nc = m->n_canary;
    o->n = m->n_canary + m->n_control;
    o->narms = m->n_control > 0 ? 2 : 1;
    df0 = (double)o->n - o->narms;
    o->ngrid = df0 >= MIN_DF ? (size_t)((df0 - MIN_DF) / DF_STEP) + 2 : 1;
    o->u = malloc((size_t)K * o->n * sizeof(double));
    o->inc = malloc((size_t)K * o->n * sizeof(double));
    o->tq = malloc((size_t)K * o->ngrid * sizeof(double));
    if (!o->u || !o->inc || !o->tq) {
        org_metric_free(o);
        return rg_error_set(RG_ENOMEM, "plan: out of memory");
    }
    for (int k = 0; k < K; k++) {
        double post = rg_stats__plan_post(d, k);
        for (size_t i = 0; i < o->n; i++) {
            double r = i < o->nc ? m->canary_rate[i] : m->control_rate[i - o->nc];
            o->u[k * o->n + i] = var_unit / (r * d->pre_minutes) + var_unit / (r * post);
        }
        for (size_t g = 0; g < o->ngrid; g++) {
            double df = MIN_DF + DF_STEP * (double)g;
            o->tq[k * o->ngrid + g] =
                df0 >= MIN_DF ? gsl_cdf_tdist_Qinv(gsl_cdf_ugaussian_Q(l->bn[k]), df) : l->bn[k];
        }
    }
    /* total variance u + tau2 is non-increasing in k (tau2_k is made so in design_looks):
     * independent increments backwards from the last look */
    for (size_t i = 0; i < o->n; i++)
        for (int k = K - 1; k >= 0; k--) {
            double tot = o->u[k * o->n + i] + l->tau2[k];
            double next = k + 1 < K ? o->u[(k + 1) * o->n + i] + l->tau2[k + 1] : 0;
            o->inc[k * o->n + i] = sqrt(tot > next ? tot - next : 0);
        }
    return 0;
}

static double t_quantile(const org_metric *o, int k, double df)
{
    double x = (df - MIN_DF) / DF_STEP;
    size_t g;
    if (o->ngrid == 1 || x <= 0)
        return o->tq[(size_t)k * o->ngrid];
    g = (size_t)x;
    if (g + 1 >= o->ngrid)
        return o->tq[(size_t)k * o->ngrid + o->ngrid - 1];
    x -= (double)g;
    return (1 - x) * o->tq[(size_t)k * o->ngrid + g] + x * o->tq[(size_t)k * o->ngrid + g + 1];
}

/* The verdict's estimate at one look (cluster.c random_effects with tau2 and q estimated). */
static void re_estimate(double *theta, double *sd, double *bound, const org_metric *o,
                        const double *dk, int k)
{
    const double *u = o->u + (size_t)k * o->n;
    double ws[2] = {0, 0}, w2[2] = {0, 0}, wd[2] = {0, 0}, mean[2] = {0, 0};
    double df0 = (double)o->n - o->narms, tau2 = 0, qs = 0, c = 0, v0 = 0, eff = 0;

    if (df0 >= MIN_DF) {
        for (size_t i = 0; i < o->n; i++) {
            int a = i < o->nc ? 0 : 1;
            ws[a] += 1 / u[i];
            w2[a] += 1 / (u[i] * u[i]);
            wd[a] += dk[i] / u[i];
        }
        for (int a = 0; a < o->narms && a < 2; a++) {
            mean[a] = wd[a] / ws[a];
            c += ws[a] - w2[a] / ws[a];
        }
        for (size_t i = 0; i < o->n; i++) {
            double e = dk[i] - mean[i < o->nc ? 0 : 1];
            qs += e * e / u[i];
        }
        tau2 = c > 0 && qs > df0 ? (qs - df0) / c : 0;
    }
    memset(ws, 0, sizeof(ws));
    memset(w2, 0, sizeof(w2));
    memset(wd, 0, sizeof(wd));
    for (size_t i = 0; i < o->n; i++) {
        int a = i < o->nc ? 0 : 1;
        double w = 1 / (u[i] + tau2);
        ws[a] += w;
        w2[a] += w * w;
        wd[a] += w * dk[i];
    }
    for (int a = 0; a < o->narms && a < 2; a++) {
        mean[a] = wd[a] / ws[a];
        v0 += 1 / ws[a];
        eff += ws[a] * ws[a] / w2[a];
    }
    *theta = o->narms == 2 ? mean[0] - mean[1] : mean[0];
    if (df0 < MIN_DF) { /* the verdict's fallback: within variance, normal */
        *sd = sqrt(v0);
        *bound = t_quantile(o, k, 0);
        return;
    }
    qs = 0;
    for (size_t i = 0; i < o->n; i++) {
        double e = dk[i] - mean[i < o->nc ? 0 : 1];
        qs += e * e / (u[i] + tau2);
    }
    qs /= df0;
    *sd = sqrt((qs > 1 ? qs : 1) * v0);
    eff -= o->narms;
    *bound = t_quantile(o, k, eff < df0 ? (eff < MIN_DF ? MIN_DF : eff) : df0);
}

int rg_stats__plan_simulate_orgs(plan_tally *out, const rg_stats_plan_metric *m, size_t n,
                                 const rg_stats_plan_design *d, const plan_looks *looks,
                                 const double *theta, uint64_t seed)
{
    org_metric om[PLAN_MAX_METRICS];
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);
    int K = d->planned_polls, rc = 0;
    size_t built = 0, most = 0;
    double *dpath = NULL;

    memset(out, 0, sizeof(*out));
    if (!rng)
        return rg_error_set(RG_ENOMEM, "plan: out of memory");
    for (; built < n; built++) {
        if ((rc = org_metric_init(&om[built], &m[built], d, &looks[built])) < 0)
            goto cleanup;
        most = om[built].n > most ? om[built].n : most;
    }
    if ((dpath = malloc(((size_t)K * most * n + 1) * sizeof(double))) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "plan: out of memory");
        goto cleanup;
    }
    gsl_rng_set(rng, (unsigned long)seed);
    for (int p = 0; p < d->paths; p++) {
        int streak[PLAN_MAX_METRICS] = {0}, done = 0;
        for (size_t j = 0; j < n; j++) { /* every org's contrast at every look */
            const org_metric *o = &om[j];
            double *dj = dpath + (size_t)K * most * j;
            for (size_t i = 0; i < o->n; i++) {
                double x = i < o->nc ? theta[j] : 0;
                for (int k = K - 1; k >= 0; k--) {
                    x += o->inc[(size_t)k * o->n + i] * gsl_ran_ugaussian(rng);
                    dj[(size_t)k * o->n + i] = x;
                }
            }
        }
        for (int k = 0; k < K && !done; k++) {
            int all_pass = 1, tripped = -1;
            for (size_t j = 0; j < n; j++) {
                const org_metric *o = &om[j];
                double est, sd, b, upper;
                re_estimate(&est, &sd, &b, o, dpath + (size_t)K * most * j + (size_t)k * o->n, k);
                upper = est + b * sd;
                if (est / sd >= b && (d->fail_rule == RG_FAIL_INTERVAL ? upper >= m[j].tolerance
                                                                       : est >= m[j].tolerance)) {
                    streak[j]++;
                    if (tripped < 0 && (m[j].critical || streak[j] >= d->breaker_consecutive))
                        tripped = (int)j;
                } else {
                    streak[j] = 0;
                }
                all_pass &=
                    (k + 1) * d->poll_minutes >= d->stabilization_minutes && upper < m[j].tolerance;
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
cleanup:
    for (size_t j = 0; j < built; j++)
        org_metric_free(&om[j]);
    free(dpath);
    gsl_rng_free(rng);
    return rc;
}
