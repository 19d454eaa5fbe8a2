/* engine.c - the engine object, the scheduler tick over every active rollout, and run modes */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine_private.h"
#include "rollgate/util.h"

void rg_engine_options_init(rg_engine_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->tick_ms = 1000;
    opts->lease_ticks = 3;
    opts->apply_attempts = 3;
    opts->restore_attempts = 3;
    rg_platform_options_init(&opts->platform);
}

int rg_engine_new(rg_engine **out, rg_store *store, const rg_engine_options *opts)
{
    rg_engine *e = calloc(1, sizeof(*e));
    int rc;

    if (e == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if (opts)
        e->opts = *opts;
    else
        rg_engine_options_init(&e->opts);
    if (e->opts.tick_ms <= 0 || e->opts.lease_ticks < 1 || e->opts.apply_attempts < 1 ||
        e->opts.restore_attempts < 1 || e->opts.lease_ms < 0) {
        free(e);
        return rg_error_set(RG_EINVALID, "engine options: tick, lease ticks and attempts must "
                                         "be positive");
    }
    if (e->opts.owner)
        snprintf(e->owner, sizeof(e->owner), "%s", e->opts.owner);
    else
        rg_engine__owner_self(e->owner, sizeof(e->owner));
    e->opts.owner = NULL;
    e->store = store;
    e->batch_last_ms = -1;
    pthread_mutex_init(&e->metrics_lock, NULL);
    if ((rc = rg_stats_cache_new(&e->cache)) < 0) {
        free(e);
        return rc;
    }
    /* Every tick makes its own platform client; the tokens outlive it, so a rollout's
     * steps share one token per org until 80% of its lifetime (not one per tick). */
    if (e->opts.platform.tokens == NULL) {
        if ((rc = rg_platform_tokens_new(&e->tokens)) < 0) {
            rg_stats_cache_free(e->cache);
            free(e);
            return rc;
        }
        e->opts.platform.tokens = e->tokens;
    }
    *out = e;
    return 0;
}

void rg_engine_free(rg_engine *engine)
{
    if (engine == NULL)
        return;
    if (engine->parsed != NULL) {
        engine->parsed->stale = 1;
        if (engine->parsed->holders == 0)
            rg_engine__parsed_release(engine->parsed);
    }
    rg_stats_cache_free(engine->cache);
    rg_platform_tokens_free(engine->tokens);
    pthread_mutex_destroy(&engine->metrics_lock);
    if (engine->own_store)
        rg_store_free(engine->store);
    free(engine);
}

const double rg_engine_latency_bounds_ms[RG_ENGINE_LATENCY_BUCKETS] = {50,   100,  250,   500,
                                                                       1000, 2500, 10000, INFINITY};

void rg_engine_get_metrics(rg_engine_metrics *out, rg_engine *engine)
{
    pthread_mutex_lock(&engine->metrics_lock);
    *out = engine->metrics;
    pthread_mutex_unlock(&engine->metrics_lock);
}

void rg_engine__count_platform(rg_engine *engine, const rg_platform *platform)
{
    rg_platform_stats st;
    rg_engine_metrics *m = &engine->metrics;

    rg_platform_get_stats(&st, platform);
    pthread_mutex_lock(&engine->metrics_lock);
    m->platform_requests += st.requests;
    m->platform_2xx += st.status_2xx;
    m->platform_4xx += st.status_4xx;
    m->platform_5xx += st.status_5xx;
    m->platform_429 += st.status_429;
    m->platform_transport += st.transport_errors;
    pthread_mutex_unlock(&engine->metrics_lock);
}

void rg_engine__count_poll(rg_engine *engine, int64_t elapsed_ms)
{
    rg_engine_metrics *m = &engine->metrics;

    pthread_mutex_lock(&engine->metrics_lock);
    m->polls++;
    m->poll_latency_sum_ms += (double)elapsed_ms;
    for (size_t i = 0; i < RG_ENGINE_LATENCY_BUCKETS; i++)
        if ((double)elapsed_ms <= rg_engine_latency_bounds_ms[i])
            m->poll_latency_le[i]++;
    pthread_mutex_unlock(&engine->metrics_lock);
}

void rg_engine__count(rg_engine *engine, int trips, int rollbacks)
{
    pthread_mutex_lock(&engine->metrics_lock);
    engine->metrics.breaker_trips += (uint64_t)trips;
    engine->metrics.rollbacks_done += (uint64_t)rollbacks;
    pthread_mutex_unlock(&engine->metrics_lock);
}

const char *rg_engine_owner(const rg_engine *engine)
{
    return engine->owner;
}

int rg_engine_rollout_tenant(char **out, rg_engine *engine, const char *rollout_id)
{
    return rg_store_rollout_tenant_all_tenants(out, engine->store, rollout_id);
}

const char *rg_engine_outcome(rg_rollout_state state)
{
    switch (state) {
    case RG_ROLLOUT_COMPLETED: return "completed";
    case RG_ROLLOUT_ROLLED_BACK: return "rolled_back";
    case RG_ROLLOUT_ROLLBACK_INCOMPLETE: return "rollback_incomplete";
    case RG_ROLLOUT_HELD: return "held";
    default: return "running";
    }
}

/* One step of a leased rollout, by state. */
static int step(rg_rollout_ctx *ctx)
{
    int rc;

    if ((rc = rg_engine__run_commands(ctx)) < 0)
        return rc;
    if (rg_engine__gate_pending(ctx))
        return rg_engine__gate_continue(ctx);
    switch (ctx->row.state) {
    case RG_ROLLOUT_RUNNING:
        if (ctx->row.stage_applied_at_ms == 0)
            return rg_engine__apply(ctx);
        return rg_engine__soak(ctx);
    case RG_ROLLOUT_ROLLING_BACK: return rg_engine__rollback(ctx);
    default:
        /* awaiting approval, paused, held: a person acts next; nothing is changed or
         * polled until then. */
        ctx->next_ms = ctx->now_ms + ctx->engine->opts.tick_ms;
        return 0;
    }
}

/* Most ticks find nothing to do: a soak between polls, a rollout waiting for a person. They
 * are answered from the row alone, without loading the manifest and every target (which
 * for 10,000 targets costs far more than the tick). 1 when the tick is done. */
static int idle_tick(rg_engine *engine, const char *tenant_id, const char *rollout_id,
                     int64_t *out_next_ms)
{
    rg_store_rollout row = {0};
    rg_store_commands pending = {0};
    json_t *policy = NULL, *book = NULL;
    int64_t poll_ms = 0, limit_ms = 0, now = rg_time_now_ms(), last, due;
    int idle = 0;

    if (rg_store_command_list_pending(&pending, engine->store, tenant_id, rollout_id) < 0 ||
        pending.count > 0 || rg_store_rollout_get(&row, engine->store, tenant_id, rollout_id) < 0)
        goto done;
    if (row.state == RG_ROLLOUT_AWAITING_APPROVAL || row.state == RG_ROLLOUT_PAUSED ||
        row.state == RG_ROLLOUT_HELD) {
        *out_next_ms = now + engine->opts.tick_ms;
        idle = 1;
        goto done;
    }
    if (row.state != RG_ROLLOUT_RUNNING)
        goto done;
    book = row.baseline ? json_loads(row.baseline, 0, NULL) : NULL;
    if (row.stage_applied_at_ms == 0) {
        /* the last stage waiting for its control (apply.c) */
        due = json_integer_value(json_object_get(book, "control_wait"));
        if (now < due && json_object_get(book, "gate_pending") == NULL &&
            json_object_get(book, "promote_full") == NULL) {
            *out_next_ms = due;
            idle = 1;
        }
        goto done;
    }
    policy = json_loads(row.policy, 0, NULL);
    if (rg_parse_duration_ms(&poll_ms,
                             json_string_value(json_object_get(policy, "poll_interval"))) < 0 ||
        rg_parse_duration_ms(&limit_ms, json_string_value(json_object_get(policy, "soak_limit"))) <
            0 ||
        poll_ms <= 0)
        goto done;
    if (json_object_get(book, "gate_pending") != NULL)
        goto done; /* a gate is asked on its own schedule */
    last = json_integer_value(json_object_get(book, "poll"));
    due = row.stage_applied_at_ms + (last + 1) * poll_ms;
    /* a full promotion (controls.c) does not wait for polls */
    if (now < due && last < limit_ms / poll_ms && json_object_get(book, "promote_full") == NULL) {
        *out_next_ms = due;
        idle = 1;
    }
done:
    rg_error_clear();
    json_decref(policy);
    json_decref(book);
    rg_store_rollout_dispose(&row);
    rg_store_commands_dispose(&pending);
    return idle;
}

/* One rollout's tick; *out_held says whether this driver held its lease for it. */
static int tick_rollout(rg_engine *engine, const char *tenant_id, const char *rollout_id,
                        int64_t *out_next_ms, int *out_held)
{
    rg_rollout_ctx ctx;
    int64_t next = 0;
    int held = 0, rc;

    if ((rc = rg_engine__lease(&held, engine, tenant_id, rollout_id)) < 0)
        return rc;
    *out_held = held;
    if (!held) {
        if (out_next_ms)
            *out_next_ms = rg_time_now_ms() + engine->opts.tick_ms;
        return 0; /* another live driver has it */
    }
    if (idle_tick(engine, tenant_id, rollout_id, &next)) {
        rg_engine__lease_end(engine);
        if (out_next_ms)
            *out_next_ms = next;
        return 0;
    }
    if ((rc = rg_engine__ctx_load(&ctx, engine, tenant_id, rollout_id)) < 0) {
        rg_engine__lease_end(engine);
        return rc;
    }
    {
        /* A step's platform time sizes the lease (rg_engine__lease_ttl): whatever batches it
         * made, the next lease outlasts twice as long. */
        int64_t began = rg_time_mono_ms(), took;
        rc = step(&ctx);
        took = rg_time_mono_ms() - began;
        if (took > engine->batch_max_ms)
            engine->batch_max_ms = took;
    }
    if (rc == RG_ELEASE) {
        /* Another driver took the rollout (its epoch moved): this one wrote nothing after
         * that and sends nothing more; the new holder redoes whatever was not recorded. */
        rg_log(RG_LOG_WARN, "engine",
               "%s: lease lost to another driver; leaving the rollout "
               "to it (%s)",
               rollout_id, rg_error_last());
        rg_error_clear();
        rc = 0;
    } else if (rc < 0) {
        rg_log(RG_LOG_ERROR, "engine", "%s: %s", rollout_id, rg_error_last());
    }
    if (out_next_ms)
        *out_next_ms = ctx.next_ms;
    rg_engine__lease_end(engine);
    if (rg_rollout_state_is_terminal(ctx.row.state))
        rg_store_lease_release(NULL, engine->store, tenant_id, rollout_id, engine->owner);
    rg_engine__ctx_dispose(&ctx);
    return rc;
}

int rg_engine_tick_rollout(rg_engine *engine, const char *tenant_id, const char *rollout_id,
                           int64_t *out_next_ms)
{
    int held = 0;
    return tick_rollout(engine, tenant_id, rollout_id, out_next_ms, &held);
}

/* Several hosts on one database share the active rollouts (docs/scale-out.md): this tick
 * may take at most `*out_take` rollouts that nobody leases, so that a host leaves its peers
 * their share: ceil(active / drivers) minus what it holds, and half of that per tick (at
 * least one while it is short), so that a host that restarts does not take every expired
 * lease at once. A host alone (no other live holder) takes everything. `claimable` gets the
 * ids nobody leases (a set). Without a census (an error) nothing is capped. */
static void claim_allowance(size_t *out_take, json_t **claimable, rg_engine *engine, size_t active)
{
    rg_store_lease_census c = {0};
    size_t others, share, allowance;

    *out_take = SIZE_MAX;
    *claimable = NULL;
    if (rg_store_lease_census_all_tenants(&c, engine->store, engine->owner) < 0) {
        rg_log(RG_LOG_DEBUG, "engine", "lease census: %s", rg_error_last());
        rg_error_clear();
        return;
    }
    others = c.holders - (c.held_by_owner > 0 ? 1 : 0);
    if (others == 0) { /* alone (as far as the leases tell): everything is this host's */
        rg_store_lease_census_dispose(&c);
        return;
    }
    share = (active + others) / (others + 1); /* ceil(active / drivers) */
    allowance = share > c.held_by_owner ? share - c.held_by_owner : 0;
    *out_take = (allowance + 1) / 2;
    if ((*claimable = json_object()) != NULL)
        for (size_t i = 0; i < c.claimable_count; i++)
            json_object_set_new(*claimable, c.claimable[i].rollout_id, json_true());
    if (*claimable == NULL)
        *out_take = SIZE_MAX;
    rg_store_lease_census_dispose(&c);
}

int rg_engine_tick(rg_engine *engine, int64_t *out_next_ms)
{
    rg_store_rollouts active = {0};
    int64_t next = rg_time_now_ms() + engine->opts.tick_ms;
    int rc, first_rc = 0;
    json_t *claimable = NULL;
    size_t take = SIZE_MAX, taken = 0;

    if ((rc = rg_store_rollout_list_active_all_tenants(&active, engine->store)) < 0)
        return rc;
    if (active.count > 0)
        claim_allowance(&take, &claimable, engine, active.count);
    for (size_t i = 0; i < active.count; i++) {
        int64_t n = 0;
        int held = 0,
            unleased = claimable != NULL && json_object_get(claimable, active.items[i].id) != NULL;
        if (unleased && taken >= take)
            continue; /* a peer's share; looked at again next tick */
        rc = tick_rollout(engine, active.items[i].tenant_id, active.items[i].id, &n, &held);
        if (rc < 0 && first_rc == 0)
            first_rc = rc; /* one rollout's failure does not stop the others */
        if (unleased && held)
            taken++;
        if (n > 0 && n < next)
            next = n;
    }
    json_decref(claimable);
    rg_store_rollouts_dispose(&active);
    if (out_next_ms)
        *out_next_ms = next;
    return first_rc;
}

/* 1 when some rollout can still move without a person. */
static int any_progressing(rg_engine *engine, int *out)
{
    rg_store_rollouts active = {0};
    int rc;

    *out = 0;
    if ((rc = rg_store_rollout_list_active_all_tenants(&active, engine->store)) < 0)
        return rc;
    for (size_t i = 0; i < active.count; i++) {
        rg_rollout_state s = active.items[i].state;
        if (s == RG_ROLLOUT_RUNNING || s == RG_ROLLOUT_ROLLING_BACK)
            *out = 1;
    }
    rg_store_rollouts_dispose(&active);
    return 0;
}

static void sleep_until(int64_t when_ms, volatile int *stop)
{
    for (;;) {
        int64_t left = when_ms - rg_time_now_ms();
        struct timespec ts;
        if (left <= 0 || (stop && *stop))
            return;
        if (left > 200)
            left = 200; /* wake often enough to notice a stop request */
        ts.tv_sec = left / 1000;
        ts.tv_nsec = (left % 1000) * 1000000L;
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !(stop && *stop))
            ;
    }
}

/* A driver that stops on purpose hands its leases back, so the next `run` or CLI command
 * starts at once and a takeover is logged only when a driver really died holding one. */
static void release_leases(rg_engine *engine)
{
    rg_store_rollouts active = {0};

    if (rg_store_rollout_list_active_all_tenants(&active, engine->store) < 0)
        return;
    for (size_t i = 0; i < active.count; i++)
        rg_store_lease_release(NULL, engine->store, active.items[i].tenant_id, active.items[i].id,
                               engine->owner);
    rg_store_rollouts_dispose(&active);
}

static int run_loop(rg_engine *engine, rg_run_mode mode, volatile int *stop);

int rg_engine_run(rg_engine *engine, rg_run_mode mode, volatile int *stop)
{
    int rc = run_loop(engine, mode, stop);
    if (rc != RG_EDB)
        release_leases(engine);
    return rc;
}

static int run_loop(rg_engine *engine, rg_run_mode mode, volatile int *stop)
{
    int64_t next = 0;
    int rc, progressing;

    for (;;) {
        rc = rg_engine_tick(engine, &next);
        if (rc == RG_EDB)
            return rc; /* the store is gone: nothing can be driven safely */
        if (mode == RG_RUN_ONCE)
            return rc;
        if (mode == RG_RUN_UNTIL_DONE) {
            int prc = any_progressing(engine, &progressing);
            if (prc < 0)
                return prc;
            if (!progressing)
                return 0;
        }
        if (stop && *stop)
            return 0;
        if (next - rg_time_now_ms() > engine->opts.tick_ms)
            next = rg_time_now_ms() + engine->opts.tick_ms;
        sleep_until(next, stop);
    }
}
