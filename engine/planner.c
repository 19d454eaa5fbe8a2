/* planner.c - the planner over a manifest's stages: each stage's forecast from the orgs'
 * traffic and the recommended soak (docs/internals/stats.md "Planner"); writes nothing */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "engine/planner.h"
#include "engine/verdict_inputs.h"
#include "rollgate/engine.h"
#include "rollgate/util.h"

#define PLANNER_PATHS 10000
#define PLANNER_SEED 20261202u

/* ---- the stages ---- */

typedef struct {
    double *canary, *control; /* rates of orgs with traffic */
    size_t ncanary, ncontrol;
} plan_arms;

/* Level (p, or the mean in s) and per-measurement sd (s) of a metric over every org. */
static int metric_level(double *level, double *sd, const rg_policy_metric *pm,
                        const rg_org_traffic *traffic, size_t n)
{
    double e = 0, tr = 0, ss = 0, df = 0;

    for (size_t i = 0; i < n; i++) {
        const rg_org_traffic *t = &traffic[i];
        if (pm->kind == RG_METRIC_PROPORTION) {
            e += rg_engine__traffic_total(t, pm->events, 0);
            tr += rg_engine__traffic_total(t, pm->trials, 0);
        } else {
            int answered = strcmp(pm->source, "tAnswered") == 0;
            e += rg_engine__traffic_total(t, pm->source, 1);
            tr += rg_engine__traffic_total(t, pm->source, 0);
            ss += answered ? t->ss_answered : t->ss_handled;
            df += answered ? t->df_answered : t->df_handled;
        }
    }
    if (!(tr > 0))
        return rg_error_set(RG_EINVALID, "%s: no traffic in the analytics read", pm->name);
    if (pm->kind == RG_METRIC_PROPORTION) {
        *level = e > 0 ? e / tr : 0.5 / (tr + 0.5); /* the verdict's 1/2 rule */
        *sd = 0;
        if (!(*level < 1))
            return rg_error_set(RG_EINVALID, "%s: every trial is an event", pm->name);
        return 0;
    }
    *level = e / tr / 1000.0;
    if (!(df > 0) || !(ss > 0) || !(*level > 0))
        return rg_error_set(RG_EINVALID,
                            "%s: too few buckets with data to estimate its "
                            "spread",
                            pm->name);
    *sd = sqrt(ss / df) / 1000.0;
    return 0;
}

static double tolerance_display(const rg_policy_metric *pm)
{
    if (pm->scale == RG_TOLERANCE_RELATIVE || pm->kind == RG_METRIC_PROPORTION)
        return pm->tolerance;
    return pm->tolerance / 1000.0;
}

static const char *unit_name(const rg_policy_metric *pm)
{
    if (pm->scale == RG_TOLERANCE_RELATIVE)
        return "relative";
    return pm->kind == RG_METRIC_PROPORTION ? "proportion" : "seconds";
}

static json_t *org_list(const rg_resolution *r, size_t stage, int role)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->count; i++) {
        size_t s = r->targets[i].stage;
        if ((role == 0 && s == stage) || (role == 1 && s > stage) || (role == 2 && s < stage))
            json_array_append_new(a, json_string(r->targets[i].org));
    }
    return a;
}

/* Units a minute of an org; for a proportion on the log scale with cluster variance, scaled
 * by the pooled unit variance over the org's own ((1 - p_i) / p_i), so that the planner's
 * within-org variance is the verdict's per-org one. */
static double org_rate(const rg_org_traffic *t, const rg_policy_metric *q, double minutes,
                       double level, const rg_policy *p)
{
    double rate = rg_engine__traffic_rate(t, q, minutes), e, n, own;

    if (q->kind != RG_METRIC_PROPORTION || q->scale != RG_TOLERANCE_RELATIVE ||
        p->variance != RG_VARIANCE_CLUSTER)
        return rate;
    e = rg_engine__traffic_total(t, q->events, 0);
    n = rg_engine__traffic_total(t, q->trials, 0);
    if (e == 0) { /* the verdict's 1/2 rule */
        e = 0.5;
        n += 0.5;
    }
    own = (1 - e / n) / (e / n);
    return own > 0 ? rate * ((1 - level) / level) / own : rate;
}

#define PLANNER_GOAL 0.9

/* The fewest polls within the soak limit reaching P(promote | healthy) and power at every
 * tolerance PLANNER_GOAL, or null with a warning (docs/internals/stats.md). */
static json_t *recommend(const rg_stats_plan_metric *pm, size_t n, const rg_stats_plan_design *d,
                         const rg_stats_plan_stage *at_limit, const rg_stats_plan_result *res,
                         size_t k, json_t *warnings)
{
    rg_stats_plan_result out[RG_POLICY_MAX_METRICS];
    rg_stats_plan_stage st;
    rg_stats_plan_design q = *d;
    rg_stats_plan_goal goal = {1, d->planned_polls, PLANNER_GOAL, PLANNER_GOAL};
    double power = 1;
    char buf[512];
    int polls = 0;

    goal.min_polls = (int)ceil(d->stabilization_minutes / d->poll_minutes - 1e-9);
    goal.min_polls = goal.min_polls < 1 ? 1 : goal.min_polls;
    goal.min_polls = goal.min_polls > goal.max_polls ? goal.max_polls : goal.min_polls;
    q.no_mde = 1;
    if (rg_stats_plan_soak(&polls, out, &st, pm, n, &q, &goal) < 0) {
        rg_error_clear();
        return json_null();
    }
    if (polls > 0) {
        json_t *pw = json_array();
        for (size_t j = 0; j < n; j++)
            json_array_append_new(pw, json_real(out[j].p_trip_1_0));
        return json_pack("{s:i, s:f, s:f, s:o}", "polls", polls, "soak_minutes",
                         polls * d->poll_minutes, "p_promote", st.p_promote, "power", pw);
    }
    for (size_t j = 0; j < n; j++)
        power = res[j].p_trip_1_0 < power ? res[j].p_trip_1_0 : power;
    snprintf(buf, sizeof(buf),
             "stage %zu cannot decide within its soak limit: at %d polls P(promote | healthy) "
             "is %.2f and the power at a tolerance %.2f, below %.1f; plan more canary orgs (a "
             "larger stage or min_offered), a longer soak_limit or pre_window",
             k + 1, d->planned_polls, at_limit->p_promote, power, PLANNER_GOAL);
    json_array_append_new(warnings, json_string(buf));
    return json_null();
}

/* One stage: its orgs, and the planner's numbers or why there are none. */
static json_t *plan_stage(const rg_manifest *m, const rg_resolution *r, size_t k,
                          const rg_org_traffic *traffic, double minutes, json_t *warnings)
{
    const rg_policy *p = m->policy;
    rg_stats_plan_metric pm[RG_POLICY_MAX_METRICS];
    rg_stats_plan_result res[RG_POLICY_MAX_METRICS];
    rg_stats_plan_stage st;
    rg_stats_plan_design d = {0};
    double *rates = calloc((r->count + 1) * (p->metrics_count + 1), sizeof(double));
    double tau2[RG_POLICY_MAX_METRICS][RG_STATS_MAX_LOOKS];
    int *role = calloc(r->count + 1, sizeof(int));
    double offered = 0, soak_min = p->soak_limit_ms / 60000.0;
    int later = 0, earlier = 0, any_warning = 0;
    size_t nc = 0;
    json_t *doc, *metrics = json_array();
    const char *err = NULL;
    char buf[512];

    for (size_t i = 0; i < r->count; i++) {
        later |= r->targets[i].stage > k;
        earlier |= r->targets[i].stage < k;
        if (r->targets[i].stage == k) {
            offered += traffic[i].offered / minutes;
            nc++;
        }
    }
    doc = json_pack("{s:I, s:i, s:o, s:o, s:s, s:f, s:f}", "stage", (json_int_t)k + 1, "percent",
                    m->stages[k].min_offered && r->count
                        ? (int)((100 * r->stage_end[k] + r->count / 2) / r->count)
                        : m->stages[k].percent,
                    "canary", org_list(r, k, 0), "control", org_list(r, k, later ? 1 : 2),
                    "control_kind",
                    later     ? "later"
                    : earlier ? "earlier"
                              : "none",
                    "offered_per_minute", offered, "expected_offered", offered * soak_min);
    if (doc == NULL || metrics == NULL || rates == NULL || role == NULL) {
        free(rates);
        free(role);
        json_decref(doc);
        json_decref(metrics);
        return NULL;
    }
    if (nc == 0)
        err = "no canary organization (this stage adds none)";
    for (size_t i = 0; i < r->count; i++) {
        size_t s = r->targets[i].stage;
        role[i] = s == k ? RG_SOAK_CANARY : ((later ? s > k : s < k) ? RG_SOAK_CONTROL : 0);
    }
    d.planned_polls = p->poll_interval_ms > 0 ? (int)(p->soak_limit_ms / p->poll_interval_ms) : 1;
    d.planned_polls = d.planned_polls < 1 ? 1 : d.planned_polls;
    d.planned_polls = d.planned_polls > RG_STATS_MAX_LOOKS ? RG_STATS_MAX_LOOKS : d.planned_polls;
    for (size_t j = 0; err == NULL && j < p->metrics_count; j++) {
        const rg_policy_metric *q = &p->metrics[j];
        double *canary = rates + j * (r->count + 1), *control;
        memset(&pm[j], 0, sizeof(pm[j]));
        pm[j].kind = q->kind;
        pm[j].log_scale = q->scale == RG_TOLERANCE_RELATIVE;
        pm[j].tolerance = pm[j].log_scale ? log1p(q->tolerance) : tolerance_display(q);
        pm[j].critical = q->critical;
        if (metric_level(&pm[j].level, &pm[j].unit_sd, q, traffic, r->count) < 0) {
            snprintf(buf, sizeof(buf), "%s", rg_error_last());
            err = buf;
            break;
        }
        for (size_t i = 0; i < r->count; i++) /* orgs without traffic weigh nothing */
            if (role[i] == RG_SOAK_CANARY && rg_engine__traffic_rate(&traffic[i], q, minutes) > 0)
                canary[pm[j].n_canary++] = org_rate(&traffic[i], q, minutes, pm[j].level, p);
        control = canary + pm[j].n_canary;
        for (size_t i = 0; i < r->count; i++)
            if (role[i] == RG_SOAK_CONTROL && rg_engine__traffic_rate(&traffic[i], q, minutes) > 0)
                control[pm[j].n_control++] = org_rate(&traffic[i], q, minutes, pm[j].level, p);
        if (p->variance == RG_VARIANCE_CLUSTER) { /* the between-org variance from history */
            double disp = 0;
            if (rg_engine__plan_placebo(tau2[j], &disp, p, q, traffic, role, r->count, (int)k,
                                        (int)m->stages_count, d.planned_polls) < 0) {
                snprintf(buf, sizeof(buf), "%s", rg_error_last());
                err = buf;
                break;
            }
            pm[j].tau2_looks = tau2[j];
            if (q->kind == RG_METRIC_PROPORTION)
                pm[j].dispersion = disp;
            else if (disp > 0) /* the verdict's block variance: ms^2, or relative (log) */
                pm[j].unit_sd = q->scale == RG_TOLERANCE_RELATIVE ? pm[j].level * sqrt(disp)
                                                                  : sqrt(disp) / 1000;
        }
        pm[j].canary_rate = canary;
        pm[j].control_rate = pm[j].n_control ? control : NULL;
        if (pm[j].n_canary == 0) {
            snprintf(buf, sizeof(buf), "%s: no traffic in the canary organizations", q->name);
            err = buf;
        }
    }
    d.poll_minutes = p->poll_interval_ms / 60000.0;
    d.pre_minutes = p->pre_window_ms / 60000.0;
    d.settle_minutes = p->settle_ms / 60000.0;
    d.stabilization_minutes = p->stabilization_window_ms / 60000.0;
    d.alpha = rg_engine__stage_alpha(p, (int)m->stages_count);
    d.n_metrics = (int)p->metrics_count;
    d.breaker_consecutive = p->breaker_consecutive;
    /* msprt is not planned: its pass and fail come close to the group design's */
    d.sequential = p->sequential == RG_SEQUENTIAL_NONE ? RG_SEQUENTIAL_NONE : RG_SEQUENTIAL_GROUP;
    d.variance = p->variance;
    d.information = p->information;
    d.spending = p->spending;
    d.fail_rule = p->fail_rule;
    d.paths = PLANNER_PATHS;
    d.seed = PLANNER_SEED + k;
    if (err == NULL && rg_stats_plan(res, &st, pm, p->metrics_count, &d) < 0) {
        snprintf(buf, sizeof(buf), "%s", rg_error_last());
        err = buf;
    }
    if (m->stages[k].min_offered)
        json_object_set_new(doc, "min_offered", json_integer(m->stages[k].min_offered));
    json_object_set_new(doc, "planned_polls", json_integer(d.planned_polls));
    json_object_set_new(doc, "alpha", json_real(d.alpha));
    if (err) {
        json_object_set_new(doc, "error", json_string(err));
        json_object_set_new(doc, "cannot_decide", json_true());
        char line[640];
        snprintf(line, sizeof(line), "stage %zu cannot be planned: %s", k + 1, err);
        json_array_append_new(warnings, json_string(line));
        json_object_set_new(doc, "metrics", metrics);
        free(rates);
        free(role);
        return doc;
    }
    for (size_t j = 0; j < p->metrics_count; j++) {
        const rg_policy_metric *q = &p->metrics[j];
        json_t *mj =
            json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:b, s:I, s:I}", "name", q->name, "unit",
                      unit_name(q), "tolerance", tolerance_display(q), "level", pm[j].level,
                      "half_width", res[j].half_width, "p_trip_1_5", res[j].p_trip_1_5, "power",
                      res[j].p_trip_1_0, "cannot_decide", res[j].cannot_decide, "canary_orgs",
                      (json_int_t)pm[j].n_canary, "control_orgs", (json_int_t)pm[j].n_control);
        if (mj == NULL)
            continue;
        json_object_set_new(mj, "mde", isfinite(res[j].mde) ? json_real(res[j].mde) : json_null());
        if (q->kind == RG_METRIC_MEAN)
            json_object_set_new(mj, "unit_sd", json_real(pm[j].unit_sd));
        json_array_append_new(metrics, mj);
        if (res[j].cannot_decide) {
            any_warning = 1;
            snprintf(buf, sizeof(buf),
                     "stage %zu cannot decide within its soak limit: %s's "
                     "interval at the end is ±%.4g %s, not below its tolerance %.4g",
                     k + 1, q->name, res[j].half_width, unit_name(q), tolerance_display(q));
            json_array_append_new(warnings, json_string(buf));
        }
    }
    json_object_set_new(doc, "metrics", metrics);
    json_object_set_new(doc, "p_promote", json_real(st.p_promote));
    json_object_set_new(doc, "p_hold", json_real(st.p_hold));
    json_object_set_new(doc, "p_trip", json_real(st.p_trip));
    json_object_set_new(doc, "cannot_decide", json_boolean(any_warning));
    json_object_set_new(doc, "recommended",
                        recommend(pm, p->metrics_count, &d, &st, res, k, warnings));
    free(rates);
    free(role);
    return doc;
}

int rg_engine__plan_stages(json_t **out, const rg_manifest *m, const rg_resolution *r,
                           const rg_org_traffic *traffic, double minutes)
{
    json_t *stages = json_array(), *warnings = json_array();
    int any = 0;

    if (stages == NULL || warnings == NULL || !(minutes > 0)) {
        json_decref(stages);
        json_decref(warnings);
        return rg_error_set(RG_EINVALID, "planner: no analytics window");
    }
    for (size_t k = 0; k < r->stages_count && k < m->stages_count; k++) {
        json_t *s = plan_stage(m, r, k, traffic, minutes, warnings);
        if (s == NULL || json_array_append_new(stages, s) < 0) {
            json_decref(stages);
            json_decref(warnings);
            return rg_error_set(RG_ENOMEM, "out of memory");
        }
        any |= json_is_true(json_object_get(s, "cannot_decide"));
    }
    *out = json_pack("{s:f, s:i, s:o, s:b, s:o}", "analytics_minutes", minutes, "paths",
                     PLANNER_PATHS, "stages", stages, "cannot_decide", any, "warnings", warnings);
    return *out ? 0 : rg_error_set(RG_ENOMEM, "out of memory");
}
