/* soak.c - the soak after a stage: polls, measurements and verdicts, handed to the breaker */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "engine/planner.h"
#include "engine/telemetry.h"
#include "engine/verdict_inputs.h"
#include "rollgate/util.h"

/* Org ids of the targets that play `role` at the current stage (borrowed from ctx->targets).
 * A manifest changes one strategy, so each org is one target and appears once. */
static size_t orgs_of(const char **out, const rg_rollout_ctx *ctx, rg_soak_role role,
                      const rg_soak_bounds *b)
{
    size_t n = 0;
    int any_later = 0;
    for (size_t i = 0; i < ctx->targets.count; i++)
        any_later |= ctx->targets.items[i].stage_index > ctx->row.stage_index;
    for (size_t i = 0; i < ctx->targets.count; i++) {
        const rg_store_target *t = &ctx->targets.items[i];
        if (rg_engine__soak_role(ctx->manifest->policy, t->stage_index,
                                 t->state != RG_TARGET_UNCHANGED, t->applied_at_ms,
                                 ctx->row.stage_index, any_later, b) == role)
            out[n++] = t->org_id;
    }
    return n;
}

typedef struct {
    const char **canary, **control;
    size_t ncanary, ncontrol;
    int64_t pre_from, pre_to, post_from, post_to;
    double post_share;
} soak_windows;

static int record_verdict(rg_rollout_ctx *ctx, int poll, const rg_policy_metric *m,
                          const rg_stats_verdict *v, const char *test)
{
    rg_store_verdict_in row = {0};
    row.rollout_id = ctx->row.id;
    row.tenant_id = ctx->row.tenant_id;
    row.stage = ctx->row.stage_index;
    row.poll = poll;
    row.metric = m->name;
    row.test = test;
    row.estimate = v->has_estimate ? v->effect : NAN;
    row.ci_lo = v->has_estimate ? v->effect_lo : NAN;
    row.ci_hi = v->has_estimate ? v->effect_hi : NAN;
    row.z = v->has_estimate ? v->z : NAN;
    row.boundary = v->boundary;
    row.p_value = v->has_estimate ? v->p_value : NAN;
    row.decision = rg_decision_name(v->decision);
    row.reason = v->reason;
    row.at_ms = ctx->now_ms;
    return rg_store_verdict_insert(NULL, ctx->engine->store, &row);
}

/* The pooled level of a window for people: a rate, or a mean in seconds; null when empty. */
static json_t *level(const rg_cells *c, const rg_policy_metric *m)
{
    double count = 0, value = 0;
    for (size_t i = 0; i < c->n; i++) {
        count += c->cells[i].count;
        value += c->cells[i].value;
    }
    if (count <= 0)
        return json_null();
    return json_real(m->kind == RG_METRIC_MEAN ? value / count / 1000.0 : value / count);
}

/* Judges one metric over the windows; `levels` gets the four pooled levels for charts. */
static int judge(rg_stats_verdict *out, rg_rollout_ctx *ctx, const rg_policy_metric *m,
                 const soak_windows *w, int poll, int planned, json_t *levels)
{
    const rg_policy *p = ctx->manifest->policy;
    rg_cells cpre = {0}, cpost = {0}, kpre = {0}, kpost = {0};
    const json_t *prev = json_object_get(json_object_get(ctx->book, "msprt_p"), m->name);
    double fractions[RG_STATS_MAX_LOOKS];
    int rc;

    if ((rc = rg_engine__window(&cpre, ctx, m, w->canary, w->ncanary, w->pre_from, w->pre_to)) <
            0 ||
        (rc = rg_engine__window(&cpost, ctx, m, w->canary, w->ncanary, w->post_from, w->post_to)) <
            0 ||
        (rc = rg_engine__window(&kpre, ctx, m, w->control, w->ncontrol, w->pre_from, w->pre_to)) <
            0 ||
        (rc = rg_engine__window(&kpost, ctx, m, w->control, w->ncontrol, w->post_from,
                                w->post_to)) < 0)
        goto cleanup;
    {
        const json_t *f = json_object_get(json_object_get(ctx->book, "fractions"), m->name);
        rg_verdict_windows vw = {{cpre.cells, cpre.n},
                                 {cpost.cells, cpost.n},
                                 {kpre.cells, kpre.n},
                                 {kpost.cells, kpost.n},
                                 {cpre.orgs, cpost.orgs, kpre.orgs, kpost.orgs},
                                 w->ncontrol > 0};
        rg_verdict_state st = {ctx->row.stage_index,
                               ctx->row.stage_count,
                               poll,
                               planned,
                               w->post_share,
                               fractions,
                               json_is_number(prev) ? json_number_value(prev) : 1.0,
                               ctx->engine->cache,
                               0};
        /* the fractions of this stage's earlier polls (observed information); polls the
         * driver slept through, or a book without them, get the calendar's */
        for (int i = 0; i + 1 < poll && i < RG_STATS_MAX_LOOKS; i++) {
            const json_t *x = json_array_get(f, (size_t)i);
            double prev_t = i ? fractions[i - 1] : 0.0;
            rg_stats_verdict none = {0};
            fractions[i] =
                json_is_number(x) && json_number_value(x) > prev_t && json_number_value(x) < 1.0
                    ? json_number_value(x)
                    : rg_engine__next_fraction(&none, prev_t, i + 1, planned);
        }
        rc = rg_engine__verdict(out, p, m, &vw, &st);
    }
    if (rc == 0)
        json_object_set_new(levels, m->name,
                            json_pack("{s:o, s:o, s:o, s:o}", "canary_pre", level(&cpre, m),
                                      "canary_post", level(&cpost, m), "control_pre",
                                      level(&kpre, m), "control_post", level(&kpost, m)));
    if (rc == 0 &&
        (p->sequential == RG_SEQUENTIAL_MSPRT || p->sequential == RG_SEQUENTIAL_COUNTS) &&
        out->has_estimate) {
        json_t *obj = json_object_get(ctx->book, "msprt_p");
        if (obj == NULL)
            json_object_set_new(ctx->book, "msprt_p", obj = json_object());
        json_object_set_new(obj, m->name, json_real(out->p_value));
    }
    if (rc == 0 && p->sequential == RG_SEQUENTIAL_GROUP &&
        p->information == RG_INFORMATION_OBSERVED) {
        json_t *obj = json_object_get(ctx->book, "fractions"), *list = json_array();
        if (obj == NULL)
            json_object_set_new(ctx->book, "fractions", obj = json_object());
        for (int i = 0; i + 1 < poll; i++)
            json_array_append_new(list, json_real(fractions[i]));
        json_array_append_new(list, json_real(rg_engine__next_fraction(
                                        out, poll > 1 ? fractions[poll - 2] : 0.0, poll, planned)));
        json_object_set_new(obj, m->name, list);
    }
cleanup:
    rg_cells_dispose(&cpre);
    rg_cells_dispose(&cpost);
    rg_cells_dispose(&kpre);
    rg_cells_dispose(&kpost);
    return rc;
}

/* A failed analytics poll is an error, not data, and not a look: the poll number is not
 * advanced, so the next tick retries the same look (its "error" rows give way to the
 * retry's verdicts). errors.limit failures in a row hold the rollout, at the last poll as
 * at any other. The error rows, the count and the hold commit together. */
static int poll_error(rg_rollout_ctx *ctx, int poll, int code)
{
    const rg_policy *p = ctx->manifest->policy;
    int64_t errors = rg_engine__book_int(ctx, "errors") + 1;
    char reason[768], cause[512];
    int rc, own = 0;

    snprintf(cause, sizeof(cause), "%s", rg_error_last());
    snprintf(reason, sizeof(reason), "analytics query failed: %s", cause);
    rg_engine__book_set_int(ctx, "errors", errors);
    if ((rc = rg_engine__tx_begin(ctx, &own)) < 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < p->metrics_count; i++) {
        rg_stats_verdict v = {0};
        v.decision = RG_DECISION_INCONCLUSIVE;
        v.boundary = NAN;
        snprintf(v.reason, sizeof(v.reason), "%.200s", reason);
        rc = record_verdict(ctx, poll, &p->metrics[i], &v, "error");
    }
    if (rc == 0)
        rg_engine__narrate(ctx, "poll", "poll %d: %s (%lld of %d in a row)", poll, reason,
                           (long long)errors, p->errors_limit);
    if (rc == 0 && errors >= p->errors_limit) {
        /* An outage is an infrastructure error a pipeline must tell from a finding. */
        snprintf(reason, sizeof(reason), "%s%d analytics errors in a row; last: %s",
                 code == RG_EUNREACHABLE ? "platform unreachable: " : "", p->errors_limit, cause);
        rc = rg_engine__set_state(ctx, RG_ROLLOUT_HELD, reason);
    } else if (rc == 0) {
        ctx->next_ms = ctx->now_ms + ctx->engine->opts.tick_ms;
        rc = rg_engine__save(ctx);
    }
    return rg_engine__tx_end(ctx, own, rc);
}

static int fetch_windows(rg_rollout_ctx *ctx, const soak_windows *w)
{
    const char **all = calloc(w->ncanary + w->ncontrol + 1, sizeof(*all));
    int64_t began = rg_time_mono_ms();
    int rc = 0;

    if (all == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    memcpy(all, w->canary, w->ncanary * sizeof(*all));
    if (w->ncontrol)
        memcpy(all + w->ncanary, w->control, w->ncontrol * sizeof(*all));
    /* The pre window is history: fetched once per stage. */
    if (rg_engine__book_int(ctx, "pre_fetched") != ctx->row.stage_index + 1) {
        rc = rg_engine__fetch_telemetry(ctx, all, w->ncanary + w->ncontrol, w->pre_from, w->pre_to);
        if (rc == 0)
            rc = rg_engine__book_set_int(ctx, "pre_fetched", ctx->row.stage_index + 1);
    }
    if (rc == 0)
        rc = rg_engine__fetch_telemetry(ctx, all, w->ncanary + w->ncontrol, w->post_from,
                                        w->post_to);
    if (rc < 0) /* fetched again with the retry, which does not count as its own look */
        json_object_del(ctx->book, "pre_fetched");
    rg_engine__count_poll(ctx->engine, rg_time_mono_ms() - began);
    free(all);
    return rc;
}

int rg_engine__soak(rg_rollout_ctx *ctx)
{
    const rg_policy *p = ctx->manifest->policy;
    int planned = (int)(p->soak_limit_ms / p->poll_interval_ms);
    int64_t elapsed = ctx->now_ms - ctx->row.stage_applied_at_ms;
    int last = (int)rg_engine__book_int(ctx, "poll"), poll;
    const char **canary = NULL, **control = NULL;
    rg_stats_verdict *v = NULL;
    json_t *levels = NULL;
    soak_windows w = {0};
    rg_soak_bounds b;
    int rc = 0;

    if (rg_engine__full_promotion(ctx))
        return rg_engine__full_promotion_step(ctx);
    if (planned < 1)
        planned = 1;
    /* Polls are looks at the elapsed share of the planned soak: a driver that was away
     * resumes at the look the clock says, not one behind. */
    poll = (int)(elapsed / p->poll_interval_ms);
    if (poll > planned)
        poll = planned;
    if (poll <= last) {
        ctx->next_ms = ctx->row.stage_applied_at_ms + (int64_t)(last + 1) * p->poll_interval_ms;
        return 0;
    }
    canary = calloc(ctx->targets.count + 1, sizeof(*canary));
    control = calloc(ctx->targets.count + 1, sizeof(*control));
    v = calloc(p->metrics_count + 1, sizeof(*v));
    if (canary == NULL || control == NULL || v == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    w.canary = canary;
    w.control = control;
    rg_engine__soak_bounds(&b, p, ctx->row.stage_started_at_ms, ctx->row.stage_applied_at_ms,
                           ctx->now_ms);
    {
        int64_t latest = 0;
        int any_later = 0;
        for (size_t i = 0; i < ctx->targets.count; i++) {
            const rg_store_target *t = &ctx->targets.items[i];
            any_later |= t->stage_index > ctx->row.stage_index;
            if (t->stage_index < ctx->row.stage_index && t->state != RG_TARGET_UNCHANGED &&
                t->applied_at_ms > latest)
                latest = t->applied_at_ms;
        }
        if (!any_later)
            rg_engine__last_stage_bounds(&b, p, latest);
    }
    w.pre_from = b.pre_from;
    w.pre_to = b.pre_to;
    w.post_from = b.post_from;
    w.post_to = b.post_to;
    w.post_share = b.post_share;
    w.ncanary = orgs_of(canary, ctx, RG_SOAK_CANARY, &b);
    w.ncontrol = orgs_of(control, ctx, RG_SOAK_CONTROL, &b);
    if ((rc = fetch_windows(ctx, &w)) < 0) {
        /* A lost lease or a failed database is not the analytics' fault: nothing to count. */
        if (rc != RG_ELEASE && rc != RG_EDB)
            rc = poll_error(ctx, poll, rc);
        goto cleanup;
    }
    rg_engine__crash_point("mid_poll");
    /* The look's verdicts, its levels, the poll number and what they decide commit in one
     * transaction: a crash before the commit redoes the whole look, never half of it. */
    rg_engine__book_set_int(ctx, "poll", poll);
    rg_engine__book_set_int(ctx, "errors", 0);
    if ((rc = rg_store_begin(ctx->engine->store)) < 0)
        goto cleanup;
    levels = json_object();
    for (size_t i = 0; rc == 0 && i < p->metrics_count; i++) {
        if ((rc = judge(&v[i], ctx, &p->metrics[i], &w, poll, planned, levels)) < 0)
            break;
        rc = record_verdict(ctx, poll, &p->metrics[i], &v[i],
                            rg_sequential_kind_name(p->sequential));
        rg_engine__narrate(ctx, "verdict", "stage %d poll %d/%d %s: %s — %s",
                           ctx->row.stage_index + 1, poll, planned, p->metrics[i].name,
                           rg_decision_name(v[i].decision), v[i].reason);
    }
    /* The pooled levels behind this poll's verdicts, for the dashboard's charts. */
    if (rc == 0)
        rc = rg_engine__event(ctx, "levels",
                              json_pack("{s:i, s:i, s:O}", "stage", ctx->row.stage_index, "poll",
                                        poll, "metrics", levels),
                              "stage %d poll %d levels", ctx->row.stage_index + 1, poll);
    if (rc == 0)
        rg_engine__crash_point("verdicts_stored");
    if (rc == 0)
        rc = rg_engine__breaker(ctx, v, poll, planned);
    rc = rg_engine__tx_end(ctx, 1, rc);
cleanup:
    json_decref(levels);
    free(canary);
    free(control);
    free(v);
    return rc;
}
