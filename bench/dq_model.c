/* dq_model.c - decision-quality study: model files, simulated telemetry, the engine as judge */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#include "bench/dq_model.h"
#include "engine/verdict_inputs.h"

/* The simulator's load model (rollgate-sim, demo scenario): 0.75 utilization at base volume,
 * abandonment x(1 + 3 over) and ASA x(1 + 4 over) above the 0.85 knee. */
#define DQ_BASE_UTIL 0.75
#define DQ_UTIL_KNEE 0.85
#define DQ_WAIT_SIGMA 0.9
/* Kayenta's NetflixACAJudge: MannWhitneyClassifier(tolerance = 0.25, confLevel = 0.98) with
 * the mean-ratio effect size checked against allowedIncrease = 1.0. */
#define DQ_KAYENTA_CONFIDENCE 0.98
#define DQ_KAYENTA_TOLERANCE 0.25
#define DQ_KAYENTA_ALLOWED_INCREASE 1.0
#define DQ_BASE_MS (int64_t)(24 * 3600 * 1000)

const char *dq_judge_name(dq_judge_kind j)
{
    static const char *const names[DQ_JUDGES] = {"group",           "msprt", "counts",
                                                 "pooled (before)", "naive", "kayenta"};
    return j < DQ_JUDGES ? names[j] : "?";
}

/* ---- model files ---- */

static void defaults(dq_model *m)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "default");
    m->orgs = 20;
    m->canary = 4;
    m->polls = 12;
    m->poll_minutes = 5;
    m->pre_minutes = 30;
    m->stages = 3;
    m->earlier_minutes = 90;
    m->calls_per_min = 120;
    m->abandon_p = 0.08;
    m->asa_s = 20;
    m->drift_rho = 0.9;
    m->spike_from = 10;
    m->spike_to = 30;
    m->spike_calls = 1;
    m->spike_abandon = 1;
    m->effect_abandon = 1;
    snprintf(m->policy, sizeof(m->policy), "contact-center");
}

static int get_num(double *out, const json_t *obj, const char *key, const char *path, double lo,
                   double hi, const char *file)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) <= hi))
        return rg_error_set(RG_EINVALID, "%s: %s%s: expected a number in [%g, %g]", file, path, key,
                            lo, hi);
    *out = json_number_value(v);
    return 0;
}

static int get_int(int *out, const json_t *obj, const char *key, const char *path, int lo, int hi,
                   const char *file)
{
    double d = *out;
    int rc = get_num(&d, obj, key, path, lo, hi, file);
    if (rc == 0 && d != floor(d))
        return rg_error_set(RG_EINVALID, "%s: %s%s: expected an integer", file, path, key);
    *out = (int)d;
    return rc;
}

static int only_keys(const json_t *obj, const char *const *keys, const char *path, const char *file)
{
    const char *k;
    json_t *v;
    if (!json_is_object(obj))
        return rg_error_set(RG_EINVALID, "%s: %s: expected an object", file, path);
    json_object_foreach((json_t *)obj, k, v)
    {
        int known = 0;
        for (size_t i = 0; keys[i]; i++)
            known |= strcmp(keys[i], k) == 0;
        if (!known)
            return rg_error_set(RG_EINVALID, "%s: %s%s: unknown key", file, path, k);
    }
    return 0;
}

static int parse_sections(dq_model *m, const json_t *doc, const char *f)
{
    static const char *const vol[] = {"calls_per_min", "sd", NULL};
    static const char *const ab[] = {"p", "sd", NULL};
    static const char *const asa[] = {"seconds", "sd", NULL};
    static const char *const drift[] = {"sd", "rho", NULL};
    static const char *const spike[] = {"start_minute", "end_minute",   "calls_mult",
                                        "sd",           "abandon_mult", NULL};
    static const char *const eff[] = {"abandonment_mult", "asa_add_s", NULL};
    const json_t *v;
    int rc = 0;

    if ((v = json_object_get(doc, "volume")) &&
        ((rc = only_keys(v, vol, "volume", f)) < 0 ||
         (rc = get_num(&m->calls_per_min, v, "calls_per_min", "volume.", 0.1, 1e5, f)) < 0 ||
         (rc = get_num(&m->calls_sd, v, "sd", "volume.", 0, 3, f)) < 0))
        return rc;
    if ((v = json_object_get(doc, "abandonment")) &&
        ((rc = only_keys(v, ab, "abandonment", f)) < 0 ||
         (rc = get_num(&m->abandon_p, v, "p", "abandonment.", 1e-4, 0.5, f)) < 0 ||
         (rc = get_num(&m->abandon_sd, v, "sd", "abandonment.", 0, 3, f)) < 0))
        return rc;
    if ((v = json_object_get(doc, "asa")) &&
        ((rc = only_keys(v, asa, "asa", f)) < 0 ||
         (rc = get_num(&m->asa_s, v, "seconds", "asa.", 0.1, 3600, f)) < 0 ||
         (rc = get_num(&m->asa_sd, v, "sd", "asa.", 0, 3, f)) < 0))
        return rc;
    if ((v = json_object_get(doc, "drift")) &&
        ((rc = only_keys(v, drift, "drift", f)) < 0 ||
         (rc = get_num(&m->drift_sd, v, "sd", "drift.", 0, 3, f)) < 0 ||
         (rc = get_num(&m->drift_rho, v, "rho", "drift.", 0, 0.999, f)) < 0))
        return rc;
    if ((v = json_object_get(doc, "spike")) &&
        ((rc = only_keys(v, spike, "spike", f)) < 0 ||
         (rc = get_int(&m->spike_from, v, "start_minute", "spike.", 0, 10000, f)) < 0 ||
         (rc = get_int(&m->spike_to, v, "end_minute", "spike.", 0, 10000, f)) < 0 ||
         (rc = get_num(&m->spike_calls, v, "calls_mult", "spike.", 0.1, 20, f)) < 0 ||
         (rc = get_num(&m->spike_sd, v, "sd", "spike.", 0, 3, f)) < 0 ||
         (rc = get_num(&m->spike_abandon, v, "abandon_mult", "spike.", 0.1, 20, f)) < 0))
        return rc;
    if ((v = json_object_get(doc, "effect")) &&
        ((rc = only_keys(v, eff, "effect", f)) < 0 ||
         (rc = get_num(&m->effect_abandon, v, "abandonment_mult", "effect.", 0.1, 10, f)) < 0 ||
         (rc = get_num(&m->effect_asa_s, v, "asa_add_s", "effect.", -3600, 3600, f)) < 0))
        return rc;
    return 0;
}

int dq_model_parse(dq_model *m, const json_t *doc, const char *f)
{
    static const char *const keys[] = {
        "name",        "orgs",           "canary",  "polls",           "poll_minutes",
        "pre_minutes", "stages",         "volume",  "abandonment",     "asa",
        "drift",       "overdispersion", "spike",   "trend_per_hour",  "effect",
        "stage",       "policy",         "comment", "earlier_minutes", NULL};
    const json_t *v;
    int rc;

    defaults(m);
    if ((rc = only_keys(doc, keys, "model", f)) < 0)
        return rc;
    if ((v = json_object_get(doc, "name")) && json_is_string(v))
        snprintf(m->name, sizeof(m->name), "%s", json_string_value(v));
    if ((v = json_object_get(doc, "policy")) && json_is_string(v))
        snprintf(m->policy, sizeof(m->policy), "%s", json_string_value(v));
    if ((rc = get_int(&m->orgs, doc, "orgs", "", 2, DQ_MAX_ORGS, f)) < 0 ||
        (rc = get_int(&m->canary, doc, "canary", "", 1, DQ_MAX_ORGS - 1, f)) < 0 ||
        (rc = get_int(&m->polls, doc, "polls", "", 1, RG_STATS_MAX_LOOKS, f)) < 0 ||
        (rc = get_int(&m->poll_minutes, doc, "poll_minutes", "", 1, 60, f)) < 0 ||
        (rc = get_int(&m->pre_minutes, doc, "pre_minutes", "", 2, 240, f)) < 0 ||
        (rc = get_int(&m->stages, doc, "stages", "", 1, 20, f)) < 0 ||
        (rc = get_int(&m->earlier_minutes, doc, "earlier_minutes", "", 1, 10000, f)) < 0 ||
        (rc = get_num(&m->overdispersion, doc, "overdispersion", "", 0, 3, f)) < 0 ||
        (rc = get_num(&m->trend_per_hour, doc, "trend_per_hour", "", -0.9, 10, f)) < 0 ||
        (rc = parse_sections(m, doc, f)) < 0)
        return rc;
    if ((v = json_object_get(doc, "stage")) != NULL) {
        const char *s = json_string_value(v);
        if (s && strcmp(s, "first") == 0)
            m->stage = 0;
        else if (s && strcmp(s, "middle") == 0)
            m->stage = 1;
        else if (s && strcmp(s, "last") == 0)
            m->stage = 2;
        else
            return rg_error_set(RG_EINVALID, "%s: stage: expected first, middle or last", f);
    }
    if (m->canary >= m->orgs)
        return rg_error_set(RG_EINVALID, "%s: canary: must be below orgs (%d)", f, m->orgs);
    if (m->stage == 1 && m->stages < 3)
        return rg_error_set(RG_EINVALID, "%s: stage middle needs stages >= 3", f);
    if (m->stage != 0 && m->stages < 2)
        return rg_error_set(RG_EINVALID, "%s: stage last needs stages >= 2", f);
    if (m->pre_minutes + m->polls * m->poll_minutes > DQ_MAX_MINUTES)
        return rg_error_set(RG_EINVALID, "%s: pre_minutes + polls x poll_minutes above %d", f,
                            DQ_MAX_MINUTES);
    return 0;
}

int dq_model_load(dq_model *out, const char *path)
{
    json_error_t err;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    int rc;

    if (doc == NULL)
        return rg_error_set(RG_EINVALID, "%s:%d: %s", path, err.line, err.text);
    rc = dq_model_parse(out, doc, path);
    json_decref(doc);
    return rc;
}

/* ---- telemetry ---- */

int dq_telemetry_new(dq_telemetry *t, const dq_model *m)
{
    size_t n = (size_t)m->orgs * (size_t)(m->pre_minutes + m->polls * m->poll_minutes);
    memset(t, 0, sizeof(*t));
    t->orgs = m->orgs;
    t->minutes = m->pre_minutes + m->polls * m->poll_minutes;
    t->offered = calloc(n, sizeof(double));
    t->abandoned = calloc(n, sizeof(double));
    t->answered = calloc(n, sizeof(double));
    t->wait_ms = calloc(n, sizeof(double));
    if (!t->offered || !t->abandoned || !t->answered || !t->wait_ms) {
        dq_telemetry_dispose(t);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    return 0;
}

void dq_telemetry_dispose(dq_telemetry *t)
{
    free(t->offered);
    free(t->abandoned);
    free(t->answered);
    free(t->wait_ms);
    memset(t, 0, sizeof(*t));
}

/* Mean-one log-normal factor with log-sd `sd`. */
static double spread(gsl_rng *rng, double sd)
{
    return sd > 0 ? exp(gsl_ran_gaussian(rng, sd) - sd * sd / 2) : 1.0;
}

/* Sum of the waits (ms) of `k` answered calls, log-normal with mean `asa` seconds: exact
 * draws for few calls, the normal limit of the sum beyond 30. */
static double wait_sum(gsl_rng *rng, unsigned int k, double asa)
{
    double zeta = log(asa) - DQ_WAIT_SIGMA * DQ_WAIT_SIGMA / 2, sum = 0;
    if (k > 30) {
        double var = asa * asa * expm1(DQ_WAIT_SIGMA * DQ_WAIT_SIGMA);
        sum = k * asa + gsl_ran_gaussian(rng, sqrt(k * var));
        return sum > 0 ? llround(sum * 1000.0) : (double)k;
    }
    for (unsigned int i = 0; i < k; i++) {
        double w = llround(gsl_ran_lognormal(rng, zeta, DQ_WAIT_SIGMA) * 1000.0);
        sum += w < 1 ? 1 : w;
    }
    return sum;
}

/* Whether org i carries the change at minute `minute`. */
static int changed_at(const dq_model *m, int org, int minute)
{
    if (org < m->canary)
        return minute >= m->pre_minutes;
    /* the last stage's other orgs were changed earlier_minutes before the stage started */
    return m->stage == 2 && minute >= m->pre_minutes - m->earlier_minutes;
}

void dq_simulate(dq_telemetry *t, const dq_model *m, gsl_rng *rng)
{
    double innov = m->drift_sd * sqrt(1 - m->drift_rho * m->drift_rho);
    gsl_rng *fixed = m->orgs_seed ? gsl_rng_alloc(gsl_rng_taus2) : NULL;
    gsl_rng *orng = fixed ? fixed : rng;

    if (fixed)
        gsl_rng_set(fixed, (unsigned long)m->orgs_seed);
    for (int org = 0; org < m->orgs; org++) {
        double vol = m->calls_per_min * spread(orng, m->calls_sd);
        double p0 = m->abandon_p * spread(orng, m->abandon_sd);
        double asa0 = m->asa_s * spread(orng, m->asa_sd);
        double strength = spread(rng, m->spike_sd);
        double xa = m->drift_sd > 0 ? gsl_ran_gaussian(rng, m->drift_sd) : 0;
        double xs = m->drift_sd > 0 ? gsl_ran_gaussian(rng, m->drift_sd) : 0;
        for (int min = 0; min < t->minutes; min++) {
            int pm = min - m->pre_minutes, i = org * t->minutes + min;
            double calls = 1, ab_mult = 1, util, over, p, asa;
            unsigned int n, ab;
            if (m->drift_sd > 0 && min > 0) {
                xa = m->drift_rho * xa + gsl_ran_gaussian(rng, innov);
                xs = m->drift_rho * xs + gsl_ran_gaussian(rng, innov);
            }
            if (pm >= m->spike_from && pm < m->spike_to) {
                calls = 1 + (m->spike_calls - 1) * strength;
                ab_mult = 1 + (m->spike_abandon - 1) * strength;
            }
            calls = calls < 0.05 ? 0.05 : calls;
            ab_mult = ab_mult < 0.05 ? 0.05 : ab_mult;
            util = DQ_BASE_UTIL * calls;
            over = util - DQ_UTIL_KNEE;
            over = over < 0 ? 0 : (over > 10 ? 10 : over);
            p = p0 * exp(xa) * ab_mult * (1 + 3 * over) * (1 + m->trend_per_hour * min / 60.0) *
                spread(rng, m->overdispersion);
            asa = asa0 * exp(xs) * spread(rng, m->overdispersion);
            if (changed_at(m, org, min)) {
                p *= m->effect_abandon;
                asa += m->effect_asa_s;
            }
            asa *= 1 + 4 * over;
            p = p > 0.95 ? 0.95 : (p < 0 ? 0 : p);
            asa = asa < 0.5 ? 0.5 : asa;
            n = gsl_ran_poisson(rng, vol * calls);
            ab = gsl_ran_binomial(rng, p, n);
            t->offered[i] = n;
            t->abandoned[i] = ab;
            t->answered[i] = n - ab;
            t->wait_ms[i] = wait_sum(rng, n - ab, asa);
        }
    }
    gsl_rng_free(fixed);
}

/* ---- the judges ---- */

int dq_policies_load(dq_policies *out, const dq_model *m)
{
    rg_policy *base = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = rg_policy_load(&base, m->policy, NULL)) < 0)
        return rc;
    base->poll_interval_ms = (int64_t)m->poll_minutes * 60000;
    base->soak_limit_ms = (int64_t)m->polls * base->poll_interval_ms;
    base->pre_window_ms = (int64_t)m->pre_minutes * 60000;
    base->granularity_ms = 60000;
    for (int j = 0; j < DQ_JUDGES && rc == 0; j++)
        rc = rg_policy_dup(&out->policy[j], base);
    rg_policy_free(base);
    if (rc < 0) {
        dq_policies_free(out);
        return rc;
    }
    /* Analyzer false positive: rg_policy_dup sets each policy when it returns 0, and rc is checked.
     */
    // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
    out->policy[DQ_MSPRT]->sequential = RG_SEQUENTIAL_MSPRT;
    out->policy[DQ_COUNTS]->sequential = RG_SEQUENTIAL_COUNTS;
    out->policy[DQ_POOLED]->variance = RG_VARIANCE_POOLED;
    out->policy[DQ_POOLED]->information = RG_INFORMATION_CALENDAR;
    out->policy[DQ_POOLED]->spending = RG_SPENDING_OBRIEN_FLEMING;
    out->policy[DQ_POOLED]->alpha_split = RG_ALPHA_SPLIT_NONE;
    out->policy[DQ_NAIVE]->variance = RG_VARIANCE_POOLED;
    out->policy[DQ_NAIVE]->sequential = RG_SEQUENTIAL_NONE;
    out->policy[DQ_NAIVE]->alpha_split = RG_ALPHA_SPLIT_NONE;
    return 0;
}

void dq_policies_free(dq_policies *p)
{
    for (int j = 0; j < DQ_JUDGES; j++)
        rg_policy_free(p->policy[j]);
    memset(p, 0, sizeof(*p));
}

void dq_arms_of(dq_arms *a, const dq_model *m, const rg_policy *p)
{
    rg_soak_bounds b;
    int any_later = m->stage != 2;

    a->stage_index = m->stage == 0 ? 0 : (m->stage == 1 ? 1 : m->stages - 1);
    a->started_ms = DQ_BASE_MS + (int64_t)m->pre_minutes * 60000;
    a->ncanary = a->ncontrol = 0;
    rg_engine__soak_bounds(&b, p, a->started_ms, a->started_ms, a->started_ms);
    if (!any_later)
        rg_engine__last_stage_bounds(&b, p, a->started_ms - (int64_t)m->earlier_minutes * 60000);
    a->pre_from_ms = b.pre_from;
    for (int org = 0; org < m->orgs; org++) {
        int later = org >= m->canary && m->stage != 2;
        int target_stage =
            org < m->canary ? a->stage_index : (later ? a->stage_index + 1 : a->stage_index - 1);
        int64_t applied =
            later ? 0
                  : (org < m->canary ? a->started_ms
                                     : a->started_ms - (int64_t)m->earlier_minutes * 60000);
        rg_soak_role role =
            rg_engine__soak_role(p, target_stage, !later, applied, a->stage_index, any_later, &b);
        if (role == RG_SOAK_CANARY)
            a->canary[a->ncanary++] = org;
        else if (role == RG_SOAK_CONTROL)
            a->control[a->ncontrol++] = org;
    }
}

int dq_arm_counts(int *canary, int *control, const dq_model *m)
{
    dq_policies ps;
    dq_arms a;
    int rc;

    if ((rc = dq_policies_load(&ps, m)) < 0)
        return rc;
    dq_arms_of(&a, m, ps.policy[DQ_GROUP]);
    *canary = a.ncanary;
    *control = a.ncontrol;
    dq_policies_free(&ps);
    return 0;
}

/* Cells of `orgs` over minutes [from, to) of metric 0 (abandonment) or 1 (ASA). */
static size_t window(rg_stats_cell *cells, uint32_t *keys, const dq_telemetry *t, const int *orgs,
                     int norgs, int metric, int from, int to)
{
    size_t n = 0;
    from = from < 0 ? 0 : from;
    to = to > t->minutes ? t->minutes : to;
    for (int o = 0; o < norgs; o++)
        for (int min = from; min < to; min++) {
            int i = orgs[o] * t->minutes + min;
            cells[n].count = metric == 0 ? t->offered[i] : t->answered[i];
            cells[n].value = metric == 0 ? t->abandoned[i] : t->wait_ms[i];
            keys[n] = (uint32_t)o;
            n++;
        }
    return n;
}

int dq_minute_of(int64_t ms)
{
    return (int)((ms - DQ_BASE_MS) / 60000);
}

/* Kayenta on the per-minute pooled series of the post window: High (fail) when the 98%
 * Hodges-Lehmann interval's lower end is above 0.25 x |estimate| and the mean ratio is at
 * least allowedIncrease. It has no pass. */
static void kayenta(rg_stats_verdict *v, const dq_telemetry *t, const dq_arms *a, int metric,
                    const rg_soak_bounds *b)
{
    double x[DQ_MAX_MINUTES], y[DQ_MAX_MINUTES], mx = 0, my = 0;
    size_t nx = 0, ny = 0;
    rg_stats_hl_result hl;

    memset(v, 0, sizeof(*v));
    v->decision = RG_DECISION_INCONCLUSIVE;
    snprintf(v->reason, sizeof(v->reason), "kayenta");
    for (int min = dq_minute_of(b->post_from); min < dq_minute_of(b->post_to); min++) {
        double num[2] = {0, 0}, den[2] = {0, 0};
        for (int arm = 0; arm < 2; arm++) {
            const int *orgs = arm ? a->control : a->canary;
            for (int o = 0; o < (arm ? a->ncontrol : a->ncanary); o++) {
                int i = orgs[o] * t->minutes + min;
                num[arm] += metric == 0 ? t->abandoned[i] : t->wait_ms[i] / 1000.0;
                den[arm] += metric == 0 ? t->offered[i] : t->answered[i];
            }
        }
        if (den[0] > 0)
            mx += x[nx++] = num[0] / den[0];
        if (den[1] > 0)
            my += y[ny++] = num[1] / den[1];
    }
    if (nx < 2 || ny < 2)
        return;
    if (rg_stats_hodges_lehmann(&hl, x, nx, y, ny, DQ_KAYENTA_CONFIDENCE, RG_ALT_TWO_SIDED) < 0)
        return; /* every value tied: Kayenta passes */
    mx /= (double)nx;
    my /= (double)ny;
    if (hl.ci_lo > DQ_KAYENTA_TOLERANCE * fabs(hl.estimate) &&
        (!(my > 0) || mx / my >= DQ_KAYENTA_ALLOWED_INCREASE))
        v->decision = RG_DECISION_FAIL;
}

typedef struct {
    rg_stats_cell cells[4][DQ_MAX_ORGS * 240];
    uint32_t keys[4][DQ_MAX_ORGS * 240];
} dq_cells;

int dq_engine_verdict(rg_stats_verdict *v, const dq_telemetry *t, const dq_model *m,
                      const rg_policy *p, const dq_arms *a, int metric, const rg_soak_bounds *b,
                      rg_verdict_state *st)
{
    static _Thread_local dq_cells c;
    rg_verdict_windows w;

    memset(&w, 0, sizeof(w));
    int pre_from = dq_minute_of(b->pre_from), pre_to = dq_minute_of(b->pre_to);
    int post_from = dq_minute_of(b->post_from), post_to = dq_minute_of(b->post_to);

    (void)m;
    w.canary_pre.cells = c.cells[0];
    w.canary_pre.n =
        window(c.cells[0], c.keys[0], t, a->canary, a->ncanary, metric, pre_from, pre_to);
    w.canary_post.cells = c.cells[1];
    w.canary_post.n =
        window(c.cells[1], c.keys[1], t, a->canary, a->ncanary, metric, post_from, post_to);
    w.control_pre.cells = c.cells[2];
    w.control_pre.n =
        window(c.cells[2], c.keys[2], t, a->control, a->ncontrol, metric, pre_from, pre_to);
    w.control_post.cells = c.cells[3];
    w.control_post.n =
        window(c.cells[3], c.keys[3], t, a->control, a->ncontrol, metric, post_from, post_to);
    for (int i = 0; i < 4; i++)
        w.orgs[i] = c.keys[i];
    w.has_control = a->ncontrol > 0;
    return rg_engine__verdict(v, p, &p->metrics[metric], &w, st);
}

int dq_judge(dq_outcome *out, const dq_telemetry *t, const dq_model *m, const dq_policies *ps,
             dq_judge_kind j, rg_stats_cache *cache)
{
    const rg_policy *p = ps->policy[j];
    double fractions[RG_POLICY_MAX_METRICS][RG_STATS_MAX_LOOKS], prev_p[RG_POLICY_MAX_METRICS];
    int64_t streaks[RG_POLICY_MAX_METRICS] = {0};
    rg_stats_verdict v[RG_POLICY_MAX_METRICS];
    int planned = (int)(p->soak_limit_ms / p->poll_interval_ms);
    dq_arms a;
    char why[512];
    int rc;

    if (p->metrics_count != 2 || p->metrics[0].kind != RG_METRIC_PROPORTION ||
        p->metrics[1].kind != RG_METRIC_MEAN)
        return rg_error_set(RG_EINVALID,
                            "%s: the study needs the policy's two metrics "
                            "abandonment (proportion) then speed of answer (mean)",
                            m->policy);
    memset(out, 0, sizeof(*out));
    out->trip_metric = -1;
    dq_arms_of(&a, m, p);
    if (j == DQ_POOLED && m->stage == 2)
        a.ncontrol = 0; /* before issue 17 the last stage was judged pre/post alone */
    for (size_t i = 0; i < p->metrics_count; i++)
        prev_p[i] = 1.0;
    for (int k = 1; k <= planned; k++) {
        rg_soak_bounds b;
        rg_poll_action action;
        rg_engine__soak_bounds(&b, p, a.started_ms, a.started_ms,
                               a.started_ms + (int64_t)k * p->poll_interval_ms);
        if (j != DQ_POOLED) /* before issue 17 the pre window was never shortened */
            b.pre_from = a.pre_from_ms;
        for (size_t i = 0; i < p->metrics_count; i++) {
            rg_verdict_state st = {a.stage_index, m->stages, k,     planned, b.post_share,
                                   fractions[i],  prev_p[i], cache, 0};
            if (j == DQ_KAYENTA) {
                kayenta(&v[i], t, &a, (int)i, &b);
                continue;
            }
            if ((rc = dq_engine_verdict(&v[i], t, m, p, &a, (int)i, &b, &st)) < 0)
                return rc;
            if ((p->sequential == RG_SEQUENTIAL_MSPRT || p->sequential == RG_SEQUENTIAL_COUNTS) &&
                v[i].has_estimate)
                prev_p[i] = v[i].p_value;
            fractions[i][k - 1] =
                rg_engine__next_fraction(&v[i], k > 1 ? fractions[i][k - 2] : 0, k, planned);
        }
        action = rg_engine__poll_rule(why, sizeof(why), p, v, streaks, k, planned, a.stage_index);
        if (action == RG_POLL_TRIP && out->trip_poll == 0) {
            out->trip_poll = k;
            for (size_t i = 0; i < p->metrics_count; i++)
                if (strncmp(why, p->metrics[i].name, strlen(p->metrics[i].name)) == 0)
                    out->trip_metric = (int)i;
            return 0;
        }
        if (action == RG_POLL_PROMOTE) {
            out->promote_poll = k;
            return 0;
        }
        if (action == RG_POLL_HOLD) {
            out->hold = 1;
            return 0;
        }
    }
    return 0;
}
