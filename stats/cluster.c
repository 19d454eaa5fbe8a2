/* cluster.c - organizations as units: per-org contrasts, random effects and a t reference */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/stats_internal.h"

#define DEFAULT_BLOCK 5
#define MIN_DF 2 /* below this, no between-org variance: the documented fallback */

/* One org of one arm: totals per window (0 pre, 1 post). */
typedef struct {
    uint32_t key;
    double count[2], value[2];
    double est[2], u[2];
} org_acc;

typedef struct {
    org_acc *orgs;
    size_t n;
    size_t *idx[2]; /* per window: the org of each cell */
} arm_acc;

static int cmp_key(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = ((const org_acc *)b)->key;
    return (x > y) - (x < y);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void arm_dispose(arm_acc *a)
{
    free(a->orgs);
    free(a->idx[0]);
    free(a->idx[1]);
    memset(a, 0, sizeof(*a));
}

/* The distinct org keys of the two windows, their totals, and each cell's org. */
static int arm_collect(arm_acc *a, const rg_stats_window *pre, const rg_stats_window *post,
                       const uint32_t *pre_orgs, const uint32_t *post_orgs)
{
    const rg_stats_window *w[2] = {pre, post};
    const uint32_t *ko[2] = {pre_orgs, post_orgs};
    size_t total = pre->n + post->n, n = 0;
    uint32_t *keys = malloc((total ? total : 1) * sizeof(*keys));

    memset(a, 0, sizeof(*a));
    a->orgs = calloc(total ? total : 1, sizeof(*a->orgs));
    a->idx[0] = malloc((pre->n ? pre->n : 1) * sizeof(size_t));
    a->idx[1] = malloc((post->n ? post->n : 1) * sizeof(size_t));
    if (!keys || !a->orgs || !a->idx[0] || !a->idx[1]) {
        free(keys);
        arm_dispose(a);
        return rg_error_set(RG_ENOMEM, "cluster variance: out of memory");
    }
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < w[k]->n; i++)
            keys[n++] = ko[k] ? ko[k][i] : 0;
    qsort(keys, n, sizeof(*keys), cmp_u32);
    for (size_t i = 0; i < n; i++)
        if (a->n == 0 || a->orgs[a->n - 1].key != keys[i])
            a->orgs[a->n++].key = keys[i];
    free(keys);
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < w[k]->n; i++) {
            const rg_stats_cell *c = &w[k]->cells[i];
            uint32_t key = ko[k] ? ko[k][i] : 0;
            org_acc *o = bsearch(&key, a->orgs, a->n, sizeof(*a->orgs), cmp_key);
            a->idx[k][i] = (size_t)(o - a->orgs);
            o->count[k] += c->count;
            o->value[k] += c->value;
        }
    return 0;
}

/* Block dispersion of one window of one arm: adds to *ss and *df. A block is a run of at most
 * `block` consecutive cells of one org. Proportions add Pearson's (e - p n)^2 / (n p (1 - p));
 * means add c (xbar_b / xbar - 1)^2 on the log scale, c (xbar_b - xbar)^2 otherwise. */
static void window_dispersion(double *ss, double *df, const arm_acc *a, int k,
                              const rg_stats_window *w, rg_metric_kind kind, int log_scale,
                              int block)
{
    size_t *blocks = calloc(a->n ? a->n : 1, sizeof(*blocks));
    size_t i = 0;

    while (i < w->n) {
        size_t o = a->idx[k][i], j = i;
        double n = 0, e = 0;
        while (j < w->n && a->idx[k][j] == o && (int)(j - i) < block) {
            n += w->cells[j].count;
            e += w->cells[j].value;
            j++;
        }
        i = j;
        if (n > 0) {
            const org_acc *g = &a->orgs[o];
            double level = g->value[k] / g->count[k];
            if (blocks)
                blocks[o]++;
            if (kind == RG_METRIC_PROPORTION) {
                if (level > 0 && level < 1)
                    *ss += (e - level * n) * (e - level * n) / (n * level * (1 - level));
            } else if (log_scale) {
                if (level > 0)
                    *ss += n * (e / n / level - 1) * (e / n / level - 1);
            } else {
                *ss += n * (e / n - level) * (e / n - level);
            }
        }
    }
    for (size_t o = 0; blocks && o < a->n; o++)
        if (blocks[o] > 1)
            *df += (double)(blocks[o] - 1);
    free(blocks);
}

/* An org's estimate and within-org variance in window k; 0 when it has no usable data. */
static int org_estimate(org_acc *g, int k, rg_metric_kind kind, int log_scale, double disp)
{
    double c = g->count[k], s = g->value[k];
    if (!(c > 0))
        return 0;
    if (kind == RG_METRIC_PROPORTION) {
        double p;
        if (s == 0.0) {
            s = 0.5;
            c += 0.5;
        }
        p = s / c;
        g->est[k] = log_scale ? log(p) : p;
        g->u[k] = disp * (log_scale ? (1 - p) / s : p * (1 - p) / c);
        return 1;
    }
    if (log_scale && !(s > 0))
        return 0;
    g->est[k] = log_scale ? log(s / c) : s / c / 1000.0;
    g->u[k] = log_scale ? disp / c : disp / c / 1e6;
    return 1;
}

/* Random-effects combination (DerSimonian-Laird tau^2, Hartung-Knapp variance with the
 * max(1, q) floor) of per-org contrasts d with within variances u, in arms 0 (canary) and 1
 * (control). tau2 < 0 estimates it; otherwise it and q are taken as given (the V_K
 * prediction). */
typedef struct {
    double theta, v, df, tau2, q;
    double tau2_moment; /* (Q - df) / c before truncation at 0 (0 when not estimated) */
} re_fit;

static void random_effects(re_fit *f, const double *d, const double *u, const int *arm, size_t n,
                           int narms, double tau2, double q)
{
    double w_sum[2] = {0, 0}, w2_sum[2] = {0, 0}, wd[2] = {0, 0}, mean[2], qstat = 0, c = 0;
    double v0 = 0;

    f->df = (double)n - narms;
    f->tau2_moment = 0;
    if (tau2 < 0) {
        for (size_t i = 0; i < n; i++) {
            w_sum[arm[i]] += 1 / u[i];
            w2_sum[arm[i]] += 1 / (u[i] * u[i]);
            wd[arm[i]] += d[i] / u[i];
        }
        for (int a = 0; a < narms; a++) {
            mean[a] = wd[a] / w_sum[a];
            c += w_sum[a] - w2_sum[a] / w_sum[a];
        }
        for (size_t i = 0; i < n; i++)
            qstat += (d[i] - mean[arm[i]]) * (d[i] - mean[arm[i]]) / u[i];
        f->tau2_moment = f->df >= MIN_DF && c > 0 ? (qstat - f->df) / c : 0;
        tau2 = f->tau2_moment > 0 ? f->tau2_moment : 0;
    }
    f->tau2 = tau2;
    memset(w_sum, 0, sizeof(w_sum));
    memset(w2_sum, 0, sizeof(w2_sum));
    memset(wd, 0, sizeof(wd));
    for (size_t i = 0; i < n; i++) {
        w_sum[arm[i]] += 1 / (u[i] + tau2);
        w2_sum[arm[i]] += 1 / ((u[i] + tau2) * (u[i] + tau2));
        wd[arm[i]] += d[i] / (u[i] + tau2);
    }
    /* Unequal weights leave fewer effective orgs than orgs: df from Kish's effective number
     * (sum w)^2 / sum w^2 per arm, never above n - A. */
    if (f->df >= MIN_DF) {
        double eff = 0;
        for (int a = 0; a < narms; a++)
            eff += w_sum[a] * w_sum[a] / w2_sum[a];
        if (eff - narms < f->df)
            f->df = eff - narms < MIN_DF ? MIN_DF : eff - narms;
    }
    for (int a = 0; a < narms; a++) {
        mean[a] = wd[a] / w_sum[a];
        v0 += 1 / w_sum[a];
    }
    f->theta = narms == 2 ? mean[0] - mean[1] : mean[0];
    if (q < 0) {
        double ss = 0;
        for (size_t i = 0; i < n; i++)
            ss += (d[i] - mean[arm[i]]) * (d[i] - mean[arm[i]]) / (u[i] + tau2);
        q = (double)n - narms >= MIN_DF ? ss / ((double)n - narms) : 1;
    }
    f->q = q;
    f->v = (q > 1 ? q : 1) * v0;
}

typedef struct {
    double *d, *u, *u_final;
    int *arm;
} contrasts;

static int contrasts_new(contrasts *c, size_t n)
{
    n = n ? n : 1;
    c->d = malloc(n * sizeof(double));
    c->u = malloc(n * sizeof(double));
    c->u_final = malloc(n * sizeof(double));
    c->arm = malloc(n * sizeof(int));
    if (!c->d || !c->u || !c->u_final || !c->arm)
        return rg_error_set(RG_ENOMEM, "cluster variance: out of memory");
    return 0;
}

static void contrasts_dispose(contrasts *c)
{
    free(c->d);
    free(c->u);
    free(c->u_final);
    free(c->arm);
}

/* Per-org contrasts of both arms into c; the counts per arm into n[2]. */
static size_t collect_contrasts(contrasts *c, int n_arm[2], arm_acc arms[2], int narms,
                                rg_metric_kind kind, int log_scale, double disp, double post_share)
{
    size_t n = 0;
    double umin = INFINITY;

    for (int a = 0; a < narms; a++) {
        n_arm[a] = 0;
        for (size_t i = 0; i < arms[a].n; i++) {
            org_acc *g = &arms[a].orgs[i];
            if (!org_estimate(g, 0, kind, log_scale, disp) ||
                !org_estimate(g, 1, kind, log_scale, disp))
                continue;
            c->d[n] = g->est[1] - g->est[0];
            c->u[n] = g->u[0] + g->u[1];
            c->u_final[n] = g->u[0] + g->u[1] * post_share;
            c->arm[n] = a;
            if (c->u[n] > 0 && c->u[n] < umin)
                umin = c->u[n];
            n_arm[a]++;
            n++;
        }
    }
    /* An org with zero within-org variance (every call abandoned, or one wait value) would
     * take all the weight: it gets the smallest variance seen instead. */
    for (size_t i = 0; i < n; i++) {
        if (!(c->u[i] > 0))
            c->u[i] = umin;
        if (!(c->u_final[i] > 0))
            c->u_final[i] = umin * post_share;
    }
    return isfinite(umin) ? n : 0;
}

int rg_stats__cluster_effect(rg_stats__cluster *out, const rg_stats_metric_input *m, int log_scale,
                             int block, double post_share, char *why, size_t whylen)
{
    arm_acc arms[2] = {{0}};
    contrasts c = {0};
    int narms = m->has_control ? 2 : 1, n_arm[2] = {0, 0}, rc = 0;
    double ss = 0, df = 0, disp;
    size_t n;
    re_fit fit, fin;

    block = block > 0 ? block : DEFAULT_BLOCK;
    if (!(post_share > 0 && post_share <= 1))
        post_share = 1;
    if ((rc = arm_collect(&arms[0], &m->canary_pre, &m->canary_post, m->orgs.canary_pre,
                          m->orgs.canary_post)) < 0 ||
        (narms == 2 && (rc = arm_collect(&arms[1], &m->control_pre, &m->control_post,
                                         m->orgs.control_pre, m->orgs.control_post)) < 0))
        goto cleanup;
    for (int a = 0; a < narms; a++) {
        window_dispersion(&ss, &df, &arms[a], 0, a ? &m->control_pre : &m->canary_pre, m->kind,
                          log_scale, block);
        window_dispersion(&ss, &df, &arms[a], 1, a ? &m->control_post : &m->canary_post, m->kind,
                          log_scale, block);
    }
    if (m->kind == RG_METRIC_PROPORTION) {
        disp = df > 0 && ss / df > 1 ? ss / df : 1;
    } else {
        if (!(df > 0)) {
            snprintf(why, whylen, "variance undefined: fewer than 2 blocks with data in an org");
            rc = 1;
            goto cleanup;
        }
        disp = ss / df;
    }
    if ((rc = contrasts_new(&c, arms[0].n + arms[1].n)) < 0)
        goto cleanup;
    n = collect_contrasts(&c, n_arm, arms, narms, m->kind, log_scale, disp, post_share);
    if (n_arm[0] == 0 || (narms == 2 && n_arm[1] == 0) || n == 0) {
        snprintf(why, whylen, "no %s org with data before and after the change",
                 n_arm[0] == 0 ? "canary" : "control");
        rc = 1;
        goto cleanup;
    }
    random_effects(&fit, c.d, c.u, c.arm, n, narms, -1, -1);
    out->fallback = fit.df < MIN_DF;
    if (out->fallback) /* too few orgs: within-org (block) variance and the normal */
        fit.tau2 = 0, fit.q = 1;
    /* V_K: V scaled by how much the within-org (sampling) variance will shrink. The
     * between-org part is not held fixed: drift and spikes average out over a longer window
     * too, and holding tau^2 would put t near 1 early and spend the error at once. */
    {
        re_fit now0, fin0;
        random_effects(&now0, c.d, c.u, c.arm, n, narms, 0, 1);
        random_effects(&fin0, c.d, c.u_final, c.arm, n, narms, 0, 1);
        fin = fit;
        fin.v = fit.v * fin0.v / now0.v;
    }
    out->theta = fit.theta;
    out->v = fit.v;
    out->v_final = fin.v;
    out->df = out->fallback ? INFINITY : fit.df;
    out->tau2 = fit.tau2;
    out->tau2_moment = out->fallback ? 0 : fit.tau2_moment;
    out->dispersion = disp;
    out->n_canary = n_arm[0];
    out->n_control = narms == 2 ? n_arm[1] : 0;
    if (!(out->v > 0)) {
        snprintf(why, whylen, "variance undefined (every org has zero spread)");
        rc = 1;
    }
cleanup:
    arm_dispose(&arms[0]);
    arm_dispose(&arms[1]);
    contrasts_dispose(&c);
    return rc;
}
