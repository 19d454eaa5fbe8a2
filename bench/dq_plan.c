/* dq_plan.c - decision-quality study: the planner's forecast and recommended soak for a model,
 * from simulated history of the model's orgs (what `rollgate plan` reads) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/dq_model.h"

#define DQ_WAIT_SIGMA 0.9 /* dq_model.c's log-normal waits */
#define DQ_HISTORIES 8    /* placebo histories per forecast */
#define DQ_GOAL 0.9

/* What the planner is given for one metric, estimated from history. */
typedef struct {
    double rate[DQ_MAX_ORGS]; /* units a minute per org (all orgs) */
    double eff[DQ_MAX_ORGS];  /* proportions: rate x the org's unit variance / the pooled one */
    double level, unit_sd, dispersion;
    double tau2[RG_STATS_MAX_LOOKS];
} dq_inputs;

static const rg_policy_metric *metric_of(const rg_policy *p, int j)
{
    return &p->metrics[j];
}

/* Rates and levels of every org over whole histories, and (looks > 0) the verdict's
 * dispersion and between-org variance of placebo contrasts at looks 1..looks. */
static int estimate(dq_inputs in[2], const dq_model *m, const rg_policy *policy, int histories,
                    int looks)
{
    rg_policy fixed = *policy, *p = &fixed; /* shallow: only the test kind differs */
    dq_model h = *m;
    dq_telemetry t = {0};
    dq_arms a;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);
    double off[DQ_MAX_ORGS] = {0}, ab[DQ_MAX_ORGS] = {0}, ans[DQ_MAX_ORGS] = {0};
    double wait = 0, minutes = 0, tab = 0, toff = 0, tans = 0;
    int rc = 0;

    memset(in, 0, 2 * sizeof(*in));
    fixed.sequential = RG_SEQUENTIAL_NONE; /* tau^2 needs no boundary */
    h.effect_abandon = 1;
    h.effect_asa_s = 0;
    h.spike_calls = h.spike_abandon = 1;
    if (looks > h.polls)
        h.polls = looks;
    if (rng == NULL || (rc = dq_telemetry_new(&t, &h)) < 0) {
        gsl_rng_free(rng);
        return rc < 0 ? rc : rg_error_set(RG_ENOMEM, "out of memory");
    }
    dq_arms_of(&a, m, p);
    for (int hi = 0; hi < histories; hi++) {
        gsl_rng_set(rng, 12345 + (unsigned long)hi);
        dq_simulate(&t, &h, rng);
        minutes += t.minutes;
        for (int org = 0; org < m->orgs; org++)
            for (int min = 0; min < t.minutes; min++) {
                int i = org * t.minutes + min;
                off[org] += t.offered[i];
                ab[org] += t.abandoned[i];
                ans[org] += t.answered[i];
                wait += t.wait_ms[i] / 1000.0;
            }
        for (int k = 1; k <= looks && rc == 0; k++)
            for (int j = 0; j < 2 && rc == 0; j++) {
                rg_soak_bounds b;
                rg_stats_verdict v;
                double fr[RG_STATS_MAX_LOOKS];
                rg_verdict_state st = {a.stage_index, m->stages, k, looks, 1.0, fr, 1.0, NULL, 0};
                for (int i = 0; i + 1 < k; i++)
                    fr[i] = (double)(i + 1) / looks;
                rg_engine__soak_bounds(&b, p, a.started_ms, a.started_ms,
                                       a.started_ms + (int64_t)k * p->poll_interval_ms);
                b.pre_from = a.pre_from_ms;
                st.post_share = b.post_share;
                if ((rc = dq_engine_verdict(&v, &t, &h, p, &a, j, &b, &st)) < 0)
                    break;
                if (v.has_estimate) {
                    in[j].tau2[k - 1] += v.tau2_moment / histories;
                    if (k == looks)
                        in[j].dispersion += v.dispersion / histories;
                }
            }
    }
    for (int org = 0; org < m->orgs; org++) {
        tab += ab[org];
        toff += off[org];
        tans += ans[org];
    }
    in[0].level = tab / toff;
    in[1].level = wait / tans;
    for (int org = 0; org < m->orgs; org++) {
        double p_org = (ab[org] > 0 ? ab[org] : 0.5) / (off[org] > 0 ? off[org] : 1);
        double pooled = (1 - in[0].level) / in[0].level, own = (1 - p_org) / p_org;
        in[0].rate[org] = (off[org] > 0 ? off[org] : 0.5) / minutes;
        in[0].eff[org] = in[0].rate[org] * pooled / own;
        in[1].rate[org] = in[1].eff[org] = (ans[org] > 0 ? ans[org] : 0.5) / minutes;
    }
    /* a mean's per-measurement sd: the verdict's block estimate (ms^2) when it ran, else the
     * simulator's log-normal spread */
    in[1].unit_sd = in[1].dispersion > 0 ? sqrt(in[1].dispersion) / 1000.0
                                         : in[1].level * sqrt(expm1(DQ_WAIT_SIGMA * DQ_WAIT_SIGMA));
    in[1].dispersion = 0;
    dq_telemetry_dispose(&t);
    gsl_rng_free(rng);
    return rc;
}

/* The planner's metrics and design for model m (its canary count and polls) from `in`. */
static void plan_inputs(rg_stats_plan_metric pm[2], rg_stats_plan_design *d,
                        double rates[2][2][DQ_MAX_ORGS], const dq_inputs in[2], const dq_model *m,
                        const rg_policy *p, const dq_arms *a, int with_tau2)
{
    for (int j = 0; j < 2; j++) {
        const rg_policy_metric *q = metric_of(p, j);
        for (int o = 0; o < a->ncanary; o++)
            rates[j][0][o] =
                j == 0 && with_tau2 ? in[j].eff[a->canary[o]] : in[j].rate[a->canary[o]];
        for (int o = 0; o < a->ncontrol; o++)
            rates[j][1][o] =
                j == 0 && with_tau2 ? in[j].eff[a->control[o]] : in[j].rate[a->control[o]];
        memset(&pm[j], 0, sizeof(pm[j]));
        pm[j].kind = q->kind;
        pm[j].log_scale = q->scale == RG_TOLERANCE_RELATIVE;
        pm[j].tolerance = pm[j].log_scale
                              ? log1p(q->tolerance)
                              : (q->kind == RG_METRIC_MEAN ? q->tolerance / 1000 : q->tolerance);
        pm[j].critical = q->critical;
        pm[j].level = in[j].level;
        pm[j].unit_sd = in[j].unit_sd;
        pm[j].canary_rate = rates[j][0];
        pm[j].n_canary = (size_t)a->ncanary;
        pm[j].control_rate = rates[j][1];
        pm[j].n_control = (size_t)a->ncontrol;
        if (with_tau2) {
            pm[j].tau2_looks = in[j].tau2;
            pm[j].dispersion = in[j].dispersion;
        }
    }
    memset(d, 0, sizeof(*d));
    d->planned_polls = m->polls;
    d->poll_minutes = p->poll_interval_ms / 60000.0;
    d->pre_minutes = p->pre_window_ms / 60000.0;
    d->settle_minutes = p->settle_ms / 60000.0;
    d->stabilization_minutes = p->stabilization_window_ms / 60000.0;
    d->alpha = rg_engine__stage_alpha(p, m->stages);
    d->n_metrics = (int)p->metrics_count;
    d->breaker_consecutive = p->breaker_consecutive;
    d->sequential = p->sequential == RG_SEQUENTIAL_MSPRT ? RG_SEQUENTIAL_GROUP : p->sequential;
    d->variance = p->variance;
    d->information = p->information;
    d->spending = p->spending;
    d->fail_rule = p->fail_rule;
    d->paths = 4000;
    d->seed = 99;
}

int dq_plan_model(dq_plan *out, const dq_model *m, int with_tau2)
{
    dq_policies ps;
    dq_inputs in[2];
    double rates[2][2][DQ_MAX_ORGS];
    rg_stats_plan_metric pm[2];
    rg_stats_plan_design d;
    dq_arms a;
    int rc;

    if ((rc = dq_policies_load(&ps, m)) < 0)
        return rc;
    dq_arms_of(&a, m, ps.policy[DQ_GROUP]);
    if ((rc = estimate(in, m, ps.policy[DQ_GROUP], with_tau2 ? DQ_HISTORIES : 1,
                       with_tau2 ? m->polls : 0)) == 0) {
        plan_inputs(pm, &d, rates, in, m, ps.policy[DQ_GROUP], &a, with_tau2);
        rc = rg_stats_plan(out->metric, &out->stage, pm, 2, &d);
    }
    dq_policies_free(&ps);
    return rc;
}

int dq_plan_soak(dq_plan *out, int *polls, dq_model *m, int max_polls)
{
    dq_policies ps;
    dq_inputs in[2];
    double rates[2][2][DQ_MAX_ORGS];
    rg_stats_plan_metric pm[2];
    rg_stats_plan_design d;
    rg_stats_plan_goal goal = {1, max_polls, DQ_GOAL, DQ_GOAL};
    dq_model try = *m;
    int rc, first = m->canary, last = m->orgs / 2 > m->canary ? m->orgs / 2 : m->canary;

    if (!m->orgs_seed)
        m->orgs_seed = 0x5eedULL;
    try = *m;
    try.polls = max_polls;
    if ((rc = dq_policies_load(&ps, &try)) < 0)
        return rc;
    /* the pass needs the stabilization window: fewer polls cannot promote */
    goal.min_polls = (int)((ps.policy[DQ_GROUP]->stabilization_window_ms +
                            ps.policy[DQ_GROUP]->poll_interval_ms - 1) /
                           ps.policy[DQ_GROUP]->poll_interval_ms);
    goal.min_polls =
        goal.min_polls < 1 ? 1 : (goal.min_polls > max_polls ? max_polls : goal.min_polls);
    if ((rc = estimate(in, &try, ps.policy[DQ_GROUP], DQ_HISTORIES, max_polls)) < 0)
        goto cleanup;
    *polls = 0;
    for (int c = first; c <= last && *polls == 0; c++) {
        dq_arms a;
        try.canary = c;
        dq_arms_of(&a, &try, ps.policy[DQ_GROUP]);
        if (a.ncanary < 1)
            continue;
        plan_inputs(pm, &d, rates, in, &try, ps.policy[DQ_GROUP], &a, 1);
        d.no_mde = 1;
        if ((rc = rg_stats_plan_soak(polls, out->metric, &out->stage, pm, 2, &d, &goal)) < 0)
            goto cleanup;
        m->canary = c;
        m->polls = *polls ? *polls : max_polls;
    }
cleanup:
    dq_policies_free(&ps);
    return rc;
}
