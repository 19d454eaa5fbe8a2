/* boundaries.c - Lan-DeMets group-sequential boundaries by recursive integration */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_math.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_roots.h>

#include "stats/stats_internal.h"

/*
 * Work on the score scale B_k = Z_k sqrt(t_k), a Brownian motion in information time: the
 * increments B_k - B_{k-1} are independent N(0, t_k - t_{k-1}). f_k is the sub-density of B_k
 * over paths that have not crossed b_1..b_k, kept on a Simpson grid from -RG_GRID_SDS*sqrt(t_k)
 * (below which the mass is < 1e-15) up to b_k.
 */
#define RG_GRID_SDS 8.5
#define RG_GRID_PER_SD 24.0
#define RG_GRID_MAX 4001
#define RG_CACHE_MAX 256
#define RG_KERNEL_SDS 9.0

typedef struct {
    double *x, *w, *f; /* points, Simpson weights, sub-density */
    size_t n;
} grid;

static void grid_free(grid *g)
{
    free(g->x);
    free(g->w);
    free(g->f);
    g->x = g->w = g->f = NULL;
}

static int grid_make(grid *g, double lo, double hi, double step)
{
    size_t intervals = (size_t)ceil((hi - lo) / step);
    double h;

    if (intervals < 2)
        intervals = 2;
    if (intervals % 2)
        intervals++;
    if (intervals + 1 > RG_GRID_MAX)
        intervals = RG_GRID_MAX - 1;
    g->n = intervals + 1;
    g->x = malloc(g->n * sizeof(double));
    g->w = malloc(g->n * sizeof(double));
    g->f = malloc(g->n * sizeof(double));
    if (!g->x || !g->w || !g->f) {
        grid_free(g);
        return rg_error_set(RG_ENOMEM, "boundaries: out of memory for the integration grid");
    }
    h = (hi - lo) / (double)intervals;
    for (size_t i = 0; i < g->n; i++) {
        g->x[i] = lo + h * (double)i;
        g->w[i] = h / 3.0 * ((i == 0 || i == g->n - 1) ? 1.0 : (i % 2 ? 4.0 : 2.0));
    }
    return 0;
}

/* P(continue to look k-1, then B_k >= b) given the previous sub-density. */
typedef struct {
    const grid *prev;
    double sd;     /* sqrt(t_k - t_{k-1}) */
    double scale;  /* sqrt(t_k): b = c * scale */
    double target; /* the error to spend at this look */
} crossing;

static double crossing_gap(double c, void *payload)
{
    const crossing *cr = payload;
    double b = c * cr->scale, p = 0.0;
    for (size_t i = 0; i < cr->prev->n; i++)
        p += cr->prev->w[i] * cr->prev->f[i] * gsl_cdf_ugaussian_Q((b - cr->prev->x[i]) / cr->sd);
    return p - cr->target;
}

static int solve_boundary(double *out, crossing *cr)
{
    gsl_root_fsolver *solver = gsl_root_fsolver_alloc(gsl_root_fsolver_brent);
    gsl_function fn = {crossing_gap, cr};
    double lo = -5.0, hi = 40.0;
    int status = GSL_CONTINUE;

    if (!solver)
        return rg_error_set(RG_ENOMEM, "boundaries: out of memory");
    if (crossing_gap(lo, cr) <= 0.0 || crossing_gap(hi, cr) >= 0.0) {
        gsl_root_fsolver_free(solver);
        return rg_error_set(RG_EINVALID, "alpha: the error to spend cannot be bracketed");
    }
    gsl_root_fsolver_set(solver, &fn, lo, hi);
    for (int i = 0; i < 200 && status == GSL_CONTINUE; i++) {
        gsl_root_fsolver_iterate(solver);
        status = gsl_root_test_interval(gsl_root_fsolver_x_lower(solver),
                                        gsl_root_fsolver_x_upper(solver), 1e-11, 0.0);
    }
    *out = gsl_root_fsolver_root(solver);
    gsl_root_fsolver_free(solver);
    return 0;
}

/* Sub-density at look k on a new grid, from look k-1's, for paths below b at look k. */
static int advance(grid *next, const grid *prev, double t, double sd, double b)
{
    double step = fmin(sd, sqrt(t)) / RG_GRID_PER_SD, h;
    int rc;

    if ((rc = grid_make(next, -RG_GRID_SDS * sqrt(t), b, step)) < 0)
        return rc;
    /* prev's grid is uniform: only points within RG_KERNEL_SDS increments contribute more
     * than exp(-40.5) (~3e-18) of the kernel's peak; the rest are skipped */
    h = prev->n > 1 ? prev->x[1] - prev->x[0] : 1.0;
    for (size_t j = 0; j < next->n; j++) {
        /* Analyzer false positive: grid_make allocates x for n > 0 points when it returns 0. */
        // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
        double f = 0.0, ia = (next->x[j] - RG_KERNEL_SDS * sd - prev->x[0]) / h;
        double ib = (next->x[j] + RG_KERNEL_SDS * sd - prev->x[0]) / h;
        size_t lo = ia <= 0 ? 0 : (size_t)ceil(ia);
        size_t hi = ib >= (double)(prev->n - 1) ? prev->n - 1 : (ib < 0 ? 0 : (size_t)floor(ib));
        for (size_t i = lo; i <= hi && ib >= 0; i++) {
            double u = (next->x[j] - prev->x[i]) / sd;
            f += prev->w[i] * prev->f[i] * exp(-0.5 * u * u);
        }
        next->f[j] = f / (sd * sqrt(2.0 * M_PI));
    }
    return 0;
}

static int check_fractions(const double *fractions, size_t k, double alpha,
                           rg_spending_kind spending)
{
    if ((unsigned)spending > RG_SPENDING_POCOCK)
        return rg_error_set(RG_EINVALID, "spending: unknown kind %d", (int)spending);
    if (!(alpha > 0.0 && alpha < 0.5))
        return rg_error_set(RG_EINVALID, "alpha: must be in (0, 0.5), got %g", alpha);
    if (k < 1 || k > RG_STATS_MAX_LOOKS)
        return rg_error_set(RG_EINVALID, "fractions: need 1 to %d looks, got %zu",
                            RG_STATS_MAX_LOOKS, k);
    for (size_t i = 0; i < k; i++) {
        if (!isfinite(fractions[i]) || fractions[i] <= 0.0 || fractions[i] > 1.0)
            return rg_error_set(RG_EINVALID, "fractions[%zu]: must be in (0, 1]", i);
        if (i > 0 && fractions[i] <= fractions[i - 1])
            return rg_error_set(RG_EINVALID, "fractions[%zu]: must increase", i);
        if (!(rg_stats_spent(spending, alpha, fractions[i]) > 0.0))
            return rg_error_set(RG_EINVALID, "fractions[%zu]: too early to spend any error", i);
    }
    return 0;
}

int rg_stats_obf_boundaries(double *out, const double *fractions, size_t k, double alpha)
{
    return rg_stats_boundaries(out, fractions, k, alpha, RG_SPENDING_OBRIEN_FLEMING);
}

int rg_stats_boundaries(double *out, const double *fractions, size_t k, double alpha,
                        rg_spending_kind spending)
{
    grid prev = {0}, next = {0};
    double *result = NULL, spent, t, sd;
    int rc;

    if ((rc = check_fractions(fractions, k, alpha, spending)) < 0)
        return rc;
    if (!(result = malloc(k * sizeof(double))))
        return rg_error_set(RG_ENOMEM, "boundaries: out of memory");
    t = fractions[0];
    spent = rg_stats_spent(spending, alpha, t);
    result[0] = gsl_cdf_ugaussian_Qinv(spent);
    if ((rc = grid_make(&prev, -RG_GRID_SDS * sqrt(t), result[0] * sqrt(t),
                        sqrt(t) / RG_GRID_PER_SD)) < 0)
        goto cleanup;
    for (size_t i = 0; i < prev.n; i++)
        prev.f[i] = gsl_ran_gaussian_pdf(prev.x[i], sqrt(t));
    for (size_t look = 1; look < k; look++) {
        double now = rg_stats_spent(spending, alpha, fractions[look]);
        crossing cr;
        t = fractions[look];
        sd = sqrt(t - fractions[look - 1]);
        cr = (crossing){&prev, sd, sqrt(t), now - spent};
        spent = now;
        if ((rc = solve_boundary(&result[look], &cr)) < 0)
            goto cleanup;
        if (look + 1 < k) {
            if ((rc = advance(&next, &prev, t, sd, result[look] * sqrt(t))) < 0)
                goto cleanup;
            grid_free(&prev);
            prev = next;
            next = (grid){0};
        }
    }
    for (size_t i = 0; i < k; i++)
        out[i] = result[i];
cleanup:
    grid_free(&prev);
    grid_free(&next);
    free(result);
    return rc;
}

typedef struct {
    double alpha;
    size_t looks;
    rg_spending_kind spending;
    double *boundaries;
} cache_entry;

/* A design with unequally spaced looks (observed information), kept with the integration
 * state after its last look so that the next look costs one step. */
#define RG_MEMO_MAX 64
typedef struct {
    double alpha, spent;
    rg_spending_kind spending;
    size_t looks;
    double fractions[RG_STATS_MAX_LOOKS], boundaries[RG_STATS_MAX_LOOKS];
    grid state; /* sub-density at the last look below its boundary */
    uint64_t used;
} memo_entry;

struct rg_stats_cache {
    pthread_mutex_t lock;
    cache_entry entries[RG_CACHE_MAX];
    size_t n;
    memo_entry memo[RG_MEMO_MAX];
    size_t nmemo;
    uint64_t clock;
};

int rg_stats_cache_new(rg_stats_cache **out)
{
    rg_stats_cache *cache = calloc(1, sizeof(*cache));
    if (!cache)
        return rg_error_set(RG_ENOMEM, "boundaries: out of memory for the cache");
    if (pthread_mutex_init(&cache->lock, NULL) != 0) {
        free(cache);
        return rg_error_set(RG_ERROR, "boundaries: cannot initialise the cache lock");
    }
    *out = cache;
    return 0;
}

void rg_stats_cache_free(rg_stats_cache *cache)
{
    if (!cache)
        return;
    for (size_t i = 0; i < cache->n; i++)
        free(cache->entries[i].boundaries);
    for (size_t i = 0; i < cache->nmemo; i++)
        grid_free(&cache->memo[i].state);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

static int compute_equally_spaced(double **out, double alpha, size_t looks,
                                  rg_spending_kind spending)
{
    double fractions[RG_STATS_MAX_LOOKS], *b = NULL;
    int rc;

    if (looks < 1 || looks > RG_STATS_MAX_LOOKS)
        return rg_error_set(RG_EINVALID, "planned polls: need 1 to %d, got %zu", RG_STATS_MAX_LOOKS,
                            looks);
    for (size_t i = 0; i < looks; i++)
        fractions[i] = (double)(i + 1) / (double)looks;
    if (!(b = malloc(looks * sizeof(double))))
        return rg_error_set(RG_ENOMEM, "boundaries: out of memory");
    if ((rc = rg_stats_boundaries(b, fractions, looks, alpha, spending)) < 0) {
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}

int rg_stats_cache_boundaries(const double **out, rg_stats_cache *cache, double alpha,
                              size_t planned_looks, rg_spending_kind spending)
{
    double *b = NULL;
    int rc = 0;

    if (!cache)
        return rg_error_set(RG_EINVALID, "boundaries: no cache");
    pthread_mutex_lock(&cache->lock);
    for (size_t i = 0; i < cache->n; i++)
        if (cache->entries[i].alpha == alpha && cache->entries[i].looks == planned_looks &&
            cache->entries[i].spending == spending) {
            *out = cache->entries[i].boundaries;
            goto cleanup;
        }
    if (cache->n == RG_CACHE_MAX) {
        rc = rg_error_set(RG_ELIMIT, "boundaries: cache holds %d designs already", RG_CACHE_MAX);
        goto cleanup;
    }
    if ((rc = compute_equally_spaced(&b, alpha, planned_looks, spending)) < 0)
        goto cleanup;
    cache->entries[cache->n++] = (cache_entry){alpha, planned_looks, spending, b};
    *out = b;
cleanup:
    pthread_mutex_unlock(&cache->lock);
    return rc;
}

static int grid_copy(grid *out, const grid *g)
{
    out->n = g->n;
    out->x = malloc(g->n * sizeof(double));
    out->w = malloc(g->n * sizeof(double));
    out->f = malloc(g->n * sizeof(double));
    if (!out->x || !out->w || !out->f) {
        grid_free(out);
        return rg_error_set(RG_ENOMEM, "boundaries: out of memory for the integration grid");
    }
    memcpy(out->x, g->x, g->n * sizeof(double));
    memcpy(out->w, g->w, g->n * sizeof(double));
    memcpy(out->f, g->f, g->n * sizeof(double));
    return 0;
}

/* The first look of a design: c_1 and the sub-density below it. */
static int first_look(memo_entry *e, double t, double alpha)
{
    int rc;
    e->spent = rg_stats_spent(e->spending, alpha, t);
    e->boundaries[0] = gsl_cdf_ugaussian_Qinv(e->spent);
    if ((rc = grid_make(&e->state, -RG_GRID_SDS * sqrt(t), e->boundaries[0] * sqrt(t),
                        sqrt(t) / RG_GRID_PER_SD)) < 0)
        return rc;
    for (size_t i = 0; i < e->state.n; i++)
        /* Analyzer false positive: grid_make allocates x for n > 0 points when it returns 0. */
        // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
        e->state.f[i] = gsl_ran_gaussian_pdf(e->state.x[i], sqrt(t));
    return 0;
}

/* One more look at fraction t: the same steps rg_stats_boundaries takes. */
static int next_look(memo_entry *e, double t, double alpha)
{
    double now = rg_stats_spent(e->spending, alpha, t), prev_t = e->fractions[e->looks - 1];
    double sd = sqrt(t - prev_t);
    crossing cr = {&e->state, sd, sqrt(t), now - e->spent};
    grid next = {0};
    int rc;

    if ((rc = solve_boundary(&e->boundaries[e->looks], &cr)) < 0)
        return rc;
    e->spent = now;
    if ((rc = advance(&next, &e->state, t, sd, e->boundaries[e->looks] * sqrt(t))) < 0)
        return rc;
    grid_free(&e->state);
    e->state = next;
    return 0;
}

static memo_entry *memo_find(rg_stats_cache *cache, const double *fractions, size_t looks,
                             double alpha, rg_spending_kind spending)
{
    for (size_t i = 0; i < cache->nmemo; i++) {
        memo_entry *e = &cache->memo[i];
        if (e->alpha == alpha && e->looks == looks && e->spending == spending &&
            memcmp(e->fractions, fractions, looks * sizeof(double)) == 0)
            return e;
    }
    return NULL;
}

int rg_stats_cache_boundary_at(double *out, rg_stats_cache *cache, const double *fractions,
                               size_t k, double alpha, rg_spending_kind spending)
{
    memo_entry work, *hit, *slot;
    int rc;

    if ((rc = check_fractions(fractions, k, alpha, spending)) < 0)
        return rc;
    if (!cache)
        return rg_error_set(RG_EINVALID, "boundaries: no cache");
    memset(&work, 0, sizeof(work));
    pthread_mutex_lock(&cache->lock);
    if ((hit = memo_find(cache, fractions, k, alpha, spending)) != NULL) {
        *out = hit->boundaries[k - 1];
        hit->used = ++cache->clock;
        pthread_mutex_unlock(&cache->lock);
        return 0;
    }
    hit = k > 1 ? memo_find(cache, fractions, k - 1, alpha, spending) : NULL;
    if (hit) {
        work = *hit;
        work.state = (grid){0};
        rc = grid_copy(&work.state, &hit->state);
    }
    pthread_mutex_unlock(&cache->lock);
    if (rc < 0)
        return rc;
    if (!hit) { /* from the first look */
        work.alpha = alpha;
        work.spending = spending;
        rc = first_look(&work, fractions[0], alpha);
        work.fractions[0] = fractions[0];
        work.looks = 1;
    }
    while (rc == 0 && work.looks < k) {
        if ((rc = next_look(&work, fractions[work.looks], alpha)) == 0)
            work.fractions[work.looks] = fractions[work.looks];
        work.looks++;
    }
    if (rc < 0) {
        grid_free(&work.state);
        return rc;
    }
    *out = work.boundaries[k - 1];
    pthread_mutex_lock(&cache->lock);
    if (cache->nmemo < RG_MEMO_MAX) {
        slot = &cache->memo[cache->nmemo++];
    } else { /* the least recently used */
        slot = &cache->memo[0];
        for (size_t i = 1; i < cache->nmemo; i++)
            if (cache->memo[i].used < slot->used)
                slot = &cache->memo[i];
        grid_free(&slot->state);
    }
    work.used = ++cache->clock;
    *slot = work;
    pthread_mutex_unlock(&cache->lock);
    return 0;
}
