/* verdict_inputs.c - the soak's windows, control choice, and verdict inputs from a policy */
#include <stdio.h>
#include <string.h>

#include "engine/verdict_inputs.h"

static int64_t align_down(int64_t t, int64_t g)
{
    return t - ((t % g) + g) % g;
}

static int64_t align_up(int64_t t, int64_t g)
{
    int64_t d = align_down(t, g);
    return d == t ? t : d + g;
}

void rg_engine__soak_bounds(rg_soak_bounds *out, const rg_policy *p, int64_t stage_started_ms,
                            int64_t stage_applied_ms, int64_t now_ms)
{
    int64_t g = p->granularity_ms > 0 ? p->granularity_ms : 60000, planned_to, full;
    int64_t planned = p->poll_interval_ms > 0 ? p->soak_limit_ms / p->poll_interval_ms : 1;

    out->pre_to = align_down(stage_started_ms, g);
    out->pre_from = out->pre_to - align_up(p->pre_window_ms, g);
    out->post_from = align_up(stage_applied_ms + p->settle_ms, g);
    out->post_to = align_down(now_ms, g);
    planned_to =
        align_down(stage_applied_ms + (planned < 1 ? 1 : planned) * p->poll_interval_ms, g);
    full = planned_to - out->post_from;
    out->post_share = 1.0;
    if (full > 0 && out->post_to > out->post_from && out->post_to - out->post_from < full)
        out->post_share = (double)(out->post_to - out->post_from) / (double)full;
}

void rg_engine__last_stage_bounds(rg_soak_bounds *b, const rg_policy *p, int64_t latest_applied_ms)
{
    int64_t g = p->granularity_ms > 0 ? p->granularity_ms : 60000;
    int64_t from = align_up(latest_applied_ms + p->settle_ms, g);

    if (latest_applied_ms > 0 && from > b->pre_from && b->pre_to - from >= p->pre_window_ms / 2)
        b->pre_from = from;
}

int64_t rg_engine__last_stage_ready_ms(const rg_policy *p, int64_t latest_applied_ms)
{
    int64_t g = p->granularity_ms > 0 ? p->granularity_ms : 60000;

    if (latest_applied_ms <= 0)
        return 0;
    return align_up(latest_applied_ms + p->settle_ms, g) + align_up(p->pre_window_ms / 2, g);
}

rg_soak_role rg_engine__soak_role(const rg_policy *p, int target_stage, int changed,
                                  int64_t applied_at_ms, int stage_index, int any_later,
                                  const rg_soak_bounds *b)
{
    if (!changed && target_stage <= stage_index)
        return RG_SOAK_NONE; /* a target left unchanged after a refused apply is no canary */
    if (target_stage == stage_index)
        return RG_SOAK_CANARY;
    if (target_stage > stage_index)
        return RG_SOAK_CONTROL;
    if (!any_later && applied_at_ms > 0 && applied_at_ms + p->settle_ms <= b->pre_from)
        return RG_SOAK_CONTROL;
    return RG_SOAK_NONE;
}

double rg_engine__stage_alpha(const rg_policy *p, int stage_count)
{
    if (p->alpha_split == RG_ALPHA_SPLIT_STAGES && stage_count > 1)
        return p->alpha / (double)stage_count;
    return p->alpha;
}

void rg_engine__metric_input(rg_stats_metric_input *out, const rg_policy_metric *m,
                             const rg_verdict_windows *w, const rg_verdict_state *s)
{
    rg_stats_metric_input in = {0};

    in.name = m->name;
    in.kind = m->kind;
    in.increase_is_bad = m->increase_is_bad;
    in.tolerance_kind = m->scale;
    in.tolerance = m->tolerance;
    in.critical = m->critical;
    in.canary_pre = w->canary_pre;
    in.canary_post = w->canary_post;
    in.has_control = w->has_control;
    in.control_pre = w->control_pre;
    in.control_post = w->control_post;
    in.orgs.canary_pre = w->orgs[0];
    in.orgs.canary_post = w->orgs[1];
    in.orgs.control_pre = w->orgs[2];
    in.orgs.control_post = w->orgs[3];
    in.msprt_prev_p = s->msprt_prev_p;
    *out = in;
}

void rg_engine__verdict_params(rg_stats_verdict_params *out, const rg_policy *p,
                               const rg_verdict_state *s)
{
    rg_stats_verdict_params params = {0};

    params.n_metrics = (int)p->metrics_count;
    params.cache = s->cache;
    if (s->verification) {
        params.poll = 1;
        params.planned_polls = 1;
        params.alpha = p->alpha;
        params.sequential = RG_SEQUENTIAL_GROUP;
        params.min_soak_reached = 1;
        params.variance = RG_VARIANCE_POOLED;
        params.information = RG_INFORMATION_CALENDAR;
        *out = params;
        return;
    }
    params.poll = s->poll;
    params.planned_polls = s->planned;
    params.alpha = rg_engine__stage_alpha(p, s->stage_count);
    params.sequential = p->sequential;
    params.tau2 = p->has_tau2 ? p->tau2 : 0;
    params.min_soak_reached = (int64_t)s->poll * p->poll_interval_ms >= p->stabilization_window_ms;
    params.variance = p->variance;
    params.information = p->information;
    params.spending = p->spending;
    params.post_share = s->post_share;
    params.fractions = s->fractions;
    params.fail_rule = p->fail_rule;
    *out = params;
}

int rg_engine__verdict(rg_stats_verdict *out, const rg_policy *p, const rg_policy_metric *m,
                       const rg_verdict_windows *w, const rg_verdict_state *s)
{
    rg_stats_metric_input in;
    rg_stats_verdict_params params;

    rg_engine__metric_input(&in, m, w, s);
    rg_engine__verdict_params(&params, p, s);
    return rg_stats_verdict_compute(out, &in, &params);
}

double rg_engine__next_fraction(const rg_stats_verdict *v, double prev, int poll, int planned)
{
    double t = v->has_estimate && v->fraction > 0 ? v->fraction : (double)poll / (double)planned;
    if (poll >= planned)
        return 1.0;
    if (!(t > prev))
        t = prev + (1.0 - prev) / (double)(planned - poll + 1);
    return t;
}
