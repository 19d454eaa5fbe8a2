/* telemetry.c - deterministic per-bucket call telemetry from weights, effects and events */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "sim/sim.h"

/* Above this utilization of agents on queue, abandonment and waits worsen. */
#define SIM_UTIL_KNEE 0.85

/* Traffic sources: the strategies, then the routing row when the org has one (the flow's
 * weighted random choice sends each call to a queue with probability w_q / sum w). */
static size_t nsources(const sim_org *org)
{
    return org->nstrategies + (org->route.row != NULL);
}

static const sim_strategy *source_at(const sim_org *org, size_t s)
{
    return s < org->nstrategies ? &org->strategies[s] : &org->route.history;
}

int sim_tele_snapshot(sim_tele_ctx *ctx, sim_world *world, size_t org_index)
{
    sim_org *org = &world->orgs[org_index];
    int rc = 0;

    memset(ctx, 0, sizeof(*ctx));
    ctx->world = world;
    ctx->org = org;
    ctx->org_index = org_index;
    ctx->histories = calloc(org->nstrategies + 1, sizeof(sim_weights *));
    ctx->nhistories = calloc(org->nstrategies + 1, sizeof(*ctx->nhistories));
    if (ctx->histories == NULL || ctx->nhistories == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    pthread_mutex_lock(&org->lock);
    for (size_t s = 0; s < nsources(org) && rc == 0; s++) {
        const sim_strategy *st = source_at(org, s);
        ctx->histories[s] = calloc(st->nhistory, sizeof(sim_weights));
        if (ctx->histories[s] == NULL) {
            rc = rg_error_set(RG_ENOMEM, "out of memory");
            break;
        }
        ctx->nhistories[s] = st->nhistory;
        for (size_t h = 0; h < st->nhistory; h++) {
            sim_weights *w = &ctx->histories[s][h];
            *w = st->history[h];
            w->weight = malloc((org->nqueues + 1) * sizeof(int));
            if (w->weight == NULL) {
                rc = rg_error_set(RG_ENOMEM, "out of memory");
                break;
            }
            memcpy(w->weight, st->history[h].weight, org->nqueues * sizeof(int));
        }
    }
    pthread_mutex_unlock(&org->lock);
    return rc;
}

void sim_tele_dispose(sim_tele_ctx *ctx)
{
    if (ctx->histories != NULL) {
        for (size_t s = 0; s < nsources(ctx->org); s++) {
            for (size_t h = 0; ctx->histories[s] && h < ctx->nhistories[s]; h++)
                free(ctx->histories[s][h].weight);
            free(ctx->histories[s]);
        }
    }
    free(ctx->histories);
    free(ctx->nhistories);
    memset(ctx, 0, sizeof(*ctx));
}

/* Time-weighted share of strategy s's traffic that goes to queue q over [start, end). */
static double routed_share(const sim_tele_ctx *ctx, size_t s, size_t q, int64_t start, int64_t end)
{
    const sim_weights *h = ctx->histories[s];
    size_t n = ctx->nhistories[s];
    double share = 0;

    for (size_t i = 0; i < n; i++) {
        int64_t from = i == 0 ? INT64_MIN : h[i].at_ms;
        int64_t to = i + 1 < n ? h[i + 1].at_ms : INT64_MAX;
        int64_t a = from > start ? from : start, b = to < end ? to : end;
        double sum = 0;

        if (b <= a)
            continue;
        for (size_t k = 0; k < ctx->org->nqueues; k++)
            sum += h[i].weight[k];
        if (sum > 0)
            share += (double)h[i].weight[q] / sum * (double)(b - a) / (double)(end - start);
    }
    return share;
}

typedef struct {
    double calls_mult, abandon_mult, asa_add_s, agents_mult, handle_mult;
} factors;

static int event_applies(const sim_event *e, const char *org_id)
{
    if (e->all)
        return 1;
    for (size_t i = 0; i < e->norgs; i++)
        if (strcmp(e->orgs[i], org_id) == 0)
            return 1;
    return 0;
}

/* Events weigh in by the fraction of the bucket they overlap; effects always apply. */
static void compute_factors(factors *f, const sim_tele_ctx *ctx, size_t q, int64_t start,
                            int64_t end)
{
    const sim_world *w = ctx->world;

    f->calls_mult = f->abandon_mult = f->agents_mult = f->handle_mult = 1;
    f->asa_add_s = 0;
    for (size_t i = 0; i < w->nevents; i++) {
        const sim_event *e = &w->events[i];
        int64_t from = w->loaded_at_ms + (int64_t)(e->from_s * 1000);
        int64_t to = w->loaded_at_ms + (int64_t)(e->to_s * 1000);
        int64_t a = from > start ? from : start, b = to < end ? to : end;
        double frac;

        if (b <= a || !event_applies(e, ctx->org->id))
            continue;
        frac = (double)(b - a) / (double)(end - start);
        f->calls_mult *= 1 + (e->calls_mult - 1) * frac;
        f->abandon_mult *= 1 + (e->abandon_mult - 1) * frac;
        f->agents_mult *= 1 + (e->agents_mult - 1) * frac;
        f->asa_add_s += e->asa_add_s * frac;
    }
    for (size_t i = 0; i < w->neffects; i++) {
        const sim_effect *e = &w->effects[i];
        if (strcmp(e->queue, ctx->org->queues[q].id) != 0)
            continue;
        f->abandon_mult *= e->abandon_mult;
        f->asa_add_s += e->asa_add_s;
        f->handle_mult *= e->handle_mult;
    }
}

/* Expected calls offered to queue q in [start, end), in simulated time. */
static double expected_calls(const sim_tele_ctx *ctx, size_t q, int64_t start, int64_t end,
                             const factors *f)
{
    double sim_s = (double)(end - start) / 1000.0 * ctx->world->time_scale, calls = 0;

    for (size_t s = 0; s < nsources(ctx->org); s++)
        calls += source_at(ctx->org, s)->calls_per_min / 60.0 * sim_s *
                 routed_share(ctx, s, q, start, end);
    return calls * f->calls_mult;
}

static uint64_t mix64(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint64_t bucket_seed(const sim_tele_ctx *ctx, size_t q, int64_t start, int64_t end)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    int64_t len = end - start;

    h = mix64(h, &ctx->world->seed, sizeof(ctx->world->seed));
    h = mix64(h, ctx->org->id, strlen(ctx->org->id) + 1);
    h = mix64(h, ctx->org->queues[q].id, strlen(ctx->org->queues[q].id) + 1);
    h = mix64(h, &start, sizeof(start));
    h = mix64(h, &len, sizeof(len));
    return h ? h : 1;
}

static void stat_add(sim_stat *st, int64_t v)
{
    if (st->count == 0 || v < st->min)
        st->min = v;
    if (st->count == 0 || v > st->max)
        st->max = v;
    st->count++;
    st->sum += v;
}

static int64_t draw_ms(gsl_rng *rng, double mean_s, double sigma)
{
    double zeta = log(mean_s) - sigma * sigma / 2;
    double v = gsl_ran_lognormal(rng, zeta, sigma) * 1000.0;
    return v < 1 ? 1 : (int64_t)llround(v);
}

void sim_tele_bucket(sim_stat out[SIM_M_COUNT], const sim_tele_ctx *ctx, size_t q, int64_t start_ms,
                     int64_t end_ms)
{
    const sim_queue *queue = &ctx->org->queues[q];
    double sim_s = (double)(end_ms - start_ms) / 1000.0 * ctx->world->time_scale;
    double lambda, rate, capacity, over, p, asa, handle;
    unsigned int n;
    gsl_rng *rng;
    factors f;

    memset(out, 0, SIM_M_COUNT * sizeof(sim_stat));
    compute_factors(&f, ctx, q, start_ms, end_ms);
    lambda = expected_calls(ctx, q, start_ms, end_ms, &f);
    if (lambda <= 0 || sim_s <= 0 || (rng = gsl_rng_alloc(gsl_rng_taus2)) == NULL)
        return;
    gsl_rng_set(rng, (unsigned long)bucket_seed(ctx, q, start_ms, end_ms));
    handle = queue->handle_s * f.handle_mult;
    rate = lambda / sim_s;
    capacity = queue->agents * f.agents_mult / handle;
    over = capacity > 0 ? rate / capacity - SIM_UTIL_KNEE : 10;
    over = over < 0 ? 0 : (over > 10 ? 10 : over);
    p = queue->abandon_p * f.abandon_mult * (1 + 3 * over);
    p = p > 0.95 ? 0.95 : p;
    asa = (queue->asa_s + f.asa_add_s) * (1 + 4 * over);
    asa = asa < 0.5 ? 0.5 : asa;
    n = gsl_ran_poisson(rng, lambda);
    for (unsigned int i = 0; i < n; i++) {
        stat_add(&out[SIM_M_OFFERED], 1);
        if (gsl_rng_uniform(rng) < p) {
            int64_t waited = draw_ms(rng, asa * 0.8, 0.9);
            stat_add(&out[SIM_M_ABANDON], waited);
            stat_add(&out[SIM_M_WAIT], waited);
        } else {
            int64_t waited = draw_ms(rng, asa, 0.9);
            stat_add(&out[SIM_M_ANSWERED], waited);
            stat_add(&out[SIM_M_WAIT], waited);
            stat_add(&out[SIM_M_HANDLE], draw_ms(rng, handle, 0.5));
        }
    }
    out[SIM_M_OFFERED].sum = out[SIM_M_OFFERED].min = out[SIM_M_OFFERED].max = 0;
    gsl_rng_free(rng);
}

void sim_tele_observe(int64_t *agents, int64_t *busy, int64_t *waiting, const sim_tele_ctx *ctx,
                      size_t q, int64_t now_ms)
{
    const sim_queue *queue = &ctx->org->queues[q];
    int64_t start = now_ms - 1000, end = now_ms;
    double on_queue, load, rate;
    factors f;

    compute_factors(&f, ctx, q, start, end);
    rate = expected_calls(ctx, q, start, end, &f) / (ctx->world->time_scale);
    on_queue = floor(queue->agents * f.agents_mult + 0.5);
    load = rate * queue->handle_s * f.handle_mult; /* Little's law: calls in service */
    *agents = (int64_t)on_queue;
    *busy = (int64_t)(load < on_queue ? floor(load + 0.5) : on_queue);
    *waiting = load > on_queue ? (int64_t)floor(load - on_queue + 0.5) : 0;
}
