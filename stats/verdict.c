/* verdict.c - one metric at one poll: difference-in-differences, sequential rule, reason */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#include "stats/stats_internal.h"

int rg_sequential_kind_parse(rg_sequential_kind *out, const char *s)
{
    if (s && strcmp(s, "group") == 0)
        *out = RG_SEQUENTIAL_GROUP;
    else if (s && strcmp(s, "msprt") == 0)
        *out = RG_SEQUENTIAL_MSPRT;
    else if (s && strcmp(s, "none") == 0)
        *out = RG_SEQUENTIAL_NONE;
    else if (s && strcmp(s, "counts") == 0)
        *out = RG_SEQUENTIAL_COUNTS;
    else
        return rg_error_set(RG_EINVALID, "sequential: expected group, msprt, none or counts");
    return 0;
}

const char *rg_sequential_kind_name(rg_sequential_kind kind)
{
    switch (kind) {
    case RG_SEQUENTIAL_MSPRT: return "msprt";
    case RG_SEQUENTIAL_NONE: return "none";
    case RG_SEQUENTIAL_COUNTS: return "counts";
    default: return "group";
    }
}

int rg_fail_rule_parse(rg_fail_rule *out, const char *s)
{
    if (s && strcmp(s, "estimate") == 0)
        *out = RG_FAIL_ESTIMATE;
    else if (s && strcmp(s, "interval") == 0)
        *out = RG_FAIL_INTERVAL;
    else
        return rg_error_set(RG_EINVALID, "fail_rule: expected estimate or interval");
    return 0;
}

const char *rg_fail_rule_name(rg_fail_rule rule)
{
    return rule == RG_FAIL_INTERVAL ? "interval" : "estimate";
}

int rg_variance_kind_parse(rg_variance_kind *out, const char *s)
{
    if (s && strcmp(s, "cluster") == 0)
        *out = RG_VARIANCE_CLUSTER;
    else if (s && strcmp(s, "pooled") == 0)
        *out = RG_VARIANCE_POOLED;
    else
        return rg_error_set(RG_EINVALID, "variance: expected cluster or pooled");
    return 0;
}

const char *rg_variance_kind_name(rg_variance_kind kind)
{
    return kind == RG_VARIANCE_CLUSTER ? "cluster" : "pooled";
}

int rg_information_kind_parse(rg_information_kind *out, const char *s)
{
    if (s && strcmp(s, "observed") == 0)
        *out = RG_INFORMATION_OBSERVED;
    else if (s && strcmp(s, "calendar") == 0)
        *out = RG_INFORMATION_CALENDAR;
    else
        return rg_error_set(RG_EINVALID, "information: expected observed or calendar");
    return 0;
}

const char *rg_information_kind_name(rg_information_kind kind)
{
    return kind == RG_INFORMATION_OBSERVED ? "observed" : "calendar";
}

const char *rg_decision_name(rg_decision decision)
{
    switch (decision) {
    case RG_DECISION_PASS: return "pass";
    case RG_DECISION_FAIL: return "fail";
    default: return "inconclusive";
    }
}

/* snprintf that truncates silently: reasons are for people and may be cut at their limit. */
static void put(char *buf, size_t len, const char *fmt, ...) RG_PRINTF(3, 4);
static void put(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static int check_params(const rg_stats_metric_input *m, const rg_stats_verdict_params *p)
{
    if (!m->name || !*m->name)
        return rg_error_set(RG_EINVALID, "metric name: missing");
    if (!(isfinite(m->tolerance) && m->tolerance >= 0.0))
        return rg_error_set(RG_EINVALID, "%s: tolerance must be a finite number >= 0", m->name);
    if (m->tolerance_kind == RG_TOLERANCE_RELATIVE && !m->increase_is_bad && m->tolerance >= 1.0)
        return rg_error_set(RG_EINVALID, "%s: a relative tolerance on a decrease must be < 1",
                            m->name);
    if (!(p->alpha > 0.0 && p->alpha < 1.0))
        return rg_error_set(RG_EINVALID, "alpha: must be strictly between 0 and 1");
    if (p->n_metrics < 1)
        return rg_error_set(RG_EINVALID, "n_metrics: must be at least 1");
    if (p->poll < 1)
        return rg_error_set(RG_EINVALID, "poll: must be at least 1, got %d", p->poll);
    if (p->sequential == RG_SEQUENTIAL_GROUP &&
        (p->planned_polls < 1 || p->planned_polls > RG_STATS_MAX_LOOKS ||
         p->poll > p->planned_polls))
        return rg_error_set(RG_EINVALID, "poll: %d is outside the planned 1..%d polls", p->poll,
                            p->planned_polls);
    if (!(isfinite(p->tau2) && p->tau2 >= 0.0))
        return rg_error_set(RG_EINVALID, "tau2: must be a finite number >= 0");
    if (p->variance != RG_VARIANCE_POOLED && p->variance != RG_VARIANCE_CLUSTER)
        return rg_error_set(RG_EINVALID, "variance: unknown kind %d", (int)p->variance);
    if (p->information != RG_INFORMATION_CALENDAR && p->information != RG_INFORMATION_OBSERVED)
        return rg_error_set(RG_EINVALID, "information: unknown kind %d", (int)p->information);
    if ((unsigned)p->spending > RG_SPENDING_POCOCK)
        return rg_error_set(RG_EINVALID, "spending: unknown kind %d", (int)p->spending);
    if (p->fail_rule != RG_FAIL_ESTIMATE && p->fail_rule != RG_FAIL_INTERVAL)
        return rg_error_set(RG_EINVALID, "fail_rule: unknown kind %d", (int)p->fail_rule);
    if (p->block_buckets < 0)
        return rg_error_set(RG_EINVALID, "block_buckets: must be >= 0");
    if (!(p->post_share >= 0.0 && p->post_share <= 1.0))
        return rg_error_set(RG_EINVALID, "post_share: must be in [0, 1]");
    if (p->sequential == RG_SEQUENTIAL_GROUP && p->information == RG_INFORMATION_OBSERVED) {
        if (p->poll > 1 && !p->fractions)
            return rg_error_set(RG_EINVALID, "fractions: the %d earlier fractions are missing",
                                p->poll - 1);
        for (int i = 0; i + 1 < p->poll; i++)
            if (!(p->fractions[i] > (i ? p->fractions[i - 1] : 0.0) && p->fractions[i] < 1.0))
                return rg_error_set(RG_EINVALID, "fractions[%d]: must increase within (0, 1)", i);
    }
    if (m->msprt_prev_p < 0.0 || m->msprt_prev_p > 1.0 || isnan(m->msprt_prev_p))
        return rg_error_set(RG_EINVALID, "%s: the previous always-valid p must be in [0, 1]",
                            m->name);
    return 0;
}

static int check_windows(const rg_stats_metric_input *m)
{
    int rc;
    if ((rc = rg_stats__check_window(&m->canary_pre, m->kind, "canary_pre")) < 0 ||
        (rc = rg_stats__check_window(&m->canary_post, m->kind, "canary_post")) < 0)
        return rg_error_prefix("%s", m->name);
    if (m->has_control &&
        ((rc = rg_stats__check_window(&m->control_pre, m->kind, "control_pre")) < 0 ||
         (rc = rg_stats__check_window(&m->control_post, m->kind, "control_post")) < 0))
        return rg_error_prefix("%s", m->name);
    return 0;
}

/* theta and V with organizations as units; 1 with the reason when undefined. */
static int cluster_effect(rg_stats_verdict *out, const rg_stats_metric_input *m,
                          const rg_stats_verdict_params *p, int log_scale)
{
    rg_stats__cluster c;
    char why[160] = "";
    int rc;
    double count = 0;

    for (size_t i = 0; i < m->canary_post.n; i++)
        count += m->canary_post.cells[i].count;
    if (count == 0.0) {
        put(out->reason, sizeof(out->reason), "no traffic");
        return 1;
    }
    memset(&c, 0, sizeof(c));
    rc = rg_stats__cluster_effect(&c, m, log_scale, p->block_buckets,
                                  p->post_share > 0 ? p->post_share : 1.0, why, sizeof(why));
    if (rc < 0)
        return rc;
    out->orgs_canary = c.n_canary;
    out->orgs_control = c.n_control;
    if (rc == 1) {
        put(out->reason, sizeof(out->reason), "%s: %s", m->name, why);
        return 1;
    }
    out->theta = c.theta;
    out->v = c.v;
    out->v_final = c.v_final;
    out->df = c.df;
    out->tau2_between = c.tau2;
    out->tau2_moment = c.tau2_moment;
    out->dispersion = c.dispersion;
    out->fallback = c.fallback;
    return 0;
}

/* theta and V over the four (or two) windows; 1 with the reason when undefined. */
static int effect(rg_stats_verdict *out, const rg_stats_metric_input *m,
                  const rg_stats_verdict_params *p, int log_scale)
{
    const rg_stats_window *windows[4] = {&m->canary_post, &m->canary_pre, &m->control_post,
                                         &m->control_pre};
    static const char *labels[4] = {"canary post window", "canary pre window",
                                    "control post window", "control pre window"};
    static const double signs[4] = {1.0, -1.0, -1.0, 1.0};
    char why[160] = "";
    int n = m->has_control ? 4 : 2;

    if (p->variance == RG_VARIANCE_CLUSTER)
        return cluster_effect(out, m, p, log_scale);
    out->theta = 0.0;
    out->v = 0.0;
    out->v_final = 0.0;
    out->df = INFINITY;
    for (int i = 0; i < n; i++) {
        rg_stats__window_estimate e;
        if (rg_stats__estimate_window(&e, windows[i], m->kind, log_scale, labels[i], why,
                                      sizeof(why)) != 0) {
            /* docs/statistics.md: no offered calls in the canary post window is "no traffic" */
            if (i == 0 && strncmp(why, "no data", 7) == 0)
                put(out->reason, sizeof(out->reason), "no traffic");
            else if (strncmp(why, "not enough buckets yet ", 23) == 0)
                put(out->reason, sizeof(out->reason), "not enough buckets yet for %s %s", m->name,
                    why + 23);
            else
                put(out->reason, sizeof(out->reason), "%s: %s", m->name, why);
            return 1;
        }
        out->theta += signs[i] * e.estimate;
        out->v += e.variance;
        /* the post windows (0 and 2) shrink with their length; the pre windows are fixed */
        out->v_final += e.variance * (i % 2 == 0 && p->post_share > 0 ? p->post_share : 1.0);
    }
    if (!(out->v > 0.0)) {
        put(out->reason, sizeof(out->reason),
            "%s: variance undefined (every window has zero spread)", m->name);
        return 1;
    }
    return 0;
}

/* t_k = V_K / V_k, kept strictly above t_{k-1} and 1 at the last planned poll. */
static double observed_fraction(const rg_stats_verdict *v, const rg_stats_verdict_params *p)
{
    int k = p->poll, K = p->planned_polls;
    double prev = k > 1 ? p->fractions[k - 2] : 0.0, t = v->v_final / v->v;
    double hi = 1.0 - 1e-3 * (double)(K - k); /* room for the looks still to come */

    if (k >= K)
        return 1.0;
    if (t > hi)
        t = hi;
    if (!(t > prev + 1e-4)) /* information did not grow: spend as the calendar would */
        t = prev + (hi - prev) / (double)(K - k + 1);
    return t;
}

static int group_boundary(double *out, rg_stats_verdict *v, const rg_stats_verdict_params *p,
                          double alpha_m)
{
    double fractions[RG_STATS_MAX_LOOKS], b[RG_STATS_MAX_LOOKS];
    const double *cached = NULL;
    int rc;

    if (p->information == RG_INFORMATION_OBSERVED) {
        for (int i = 0; i + 1 < p->poll; i++)
            fractions[i] = p->fractions[i];
        fractions[p->poll - 1] = v->fraction = observed_fraction(v, p);
        if (p->cache)
            return rg_stats_cache_boundary_at(out, p->cache, fractions, (size_t)p->poll, alpha_m,
                                              p->spending);
        if ((rc = rg_stats_boundaries(b, fractions, (size_t)p->poll, alpha_m, p->spending)) < 0)
            return rc;
        *out = b[p->poll - 1];
        return 0;
    }
    v->fraction = (double)p->poll / (double)p->planned_polls;
    if (p->cache) {
        if ((rc = rg_stats_cache_boundaries(&cached, p->cache, alpha_m, (size_t)p->planned_polls,
                                            p->spending)) < 0)
            return rc;
        *out = cached[p->poll - 1];
        return 0;
    }
    for (int i = 0; i < p->planned_polls; i++)
        fractions[i] = (double)(i + 1) / (double)p->planned_polls;
    if ((rc = rg_stats_boundaries(b, fractions, (size_t)p->planned_polls, alpha_m, p->spending)) <
        0)
        return rc;
    *out = b[p->poll - 1];
    return 0;
}

/* "+31%" or "+12.3 s" or "+1.20 pp" */
static void format_effect(char *buf, size_t len, const rg_stats_metric_input *m, double v)
{
    if (m->tolerance_kind == RG_TOLERANCE_RELATIVE)
        put(buf, len, "%+.0f%%", v * 100.0);
    else if (m->kind == RG_METRIC_MEAN)
        put(buf, len, "%+.1f s", v);
    else
        put(buf, len, "%+.2f pp", v * 100.0);
}

static double display(const rg_stats_metric_input *m, double theta)
{
    return m->tolerance_kind == RG_TOLERANCE_RELATIVE ? expm1(theta) : theta;
}

static double window_sum(const rg_stats_window *w, int value)
{
    double s = 0;
    for (size_t i = 0; i < w->n; i++)
        s += value ? w->cells[i].value : w->cells[i].count;
    return s;
}

/* sequential: counts applies to proportions with a relative tolerance; means (and absolute
 * tolerances) are judged as msprt (docs/internals/stats.md). */
static int counts_applies(const rg_stats_metric_input *m, const rg_stats_verdict_params *p)
{
    return p->sequential == RG_SEQUENTIAL_COUNTS && m->kind == RG_METRIC_PROPORTION &&
           m->tolerance_kind == RG_TOLERANCE_RELATIVE;
}

/* The counts test: the canary's post-window events against the control's (or its own pre
 * window's without control), expected share rho0 from the pre-window rates and the post
 * window's trials. Sets theta, v, the sequence and the p value; *bad_upper. */
static int counts_decide(rg_stats_verdict *out, const rg_stats_metric_input *m,
                         const rg_stats_verdict_params *p, double sign, double *bad_upper)
{
    double x = window_sum(&m->canary_post, 1), nx = window_sum(&m->canary_post, 0);
    double epre = window_sum(&m->canary_pre, 1), npre = window_sum(&m->canary_pre, 0);
    double y, rho0, conc, t2;
    rg_stats_counts_result r;
    int rc;

    if (m->has_control) {
        double ek = window_sum(&m->control_pre, 1), nk = window_sum(&m->control_pre, 0);
        double ny = window_sum(&m->control_post, 0);
        double mc = (epre + 0.5) / (npre + 0.5) * nx, mk = (ek + 0.5) / (nk + 0.5) * ny;
        y = window_sum(&m->control_post, 1);
        rho0 = mc / (mc + mk);
    } else {
        y = epre;
        rho0 = nx / (nx + npre);
    }
    if (!(rho0 > 0 && rho0 < 1))
        rho0 = 0.5;
    t2 = p->tau2 > 0 ? p->tau2 : out->tolerance * out->tolerance;
    if (!(t2 > 0))
        return rg_error_set(RG_EINVALID, "tau2: required when the tolerance is 0");
    /* the prior's sd of logit(rho) about the tolerance: Var(rho) = rho0 (1 - rho0) / (c + 1) */
    conc = 1 / (t2 * rho0 * (1 - rho0)) - 1;
    conc = conc > 1 ? conc : 1;
    if ((rc = rg_stats_counts(&r, x, y, rho0, conc, out->alpha_metric,
                              m->msprt_prev_p > 0.0 ? m->msprt_prev_p : 1.0)) < 0)
        return rc;
    out->theta = r.effect;
    out->v = r.v;
    out->z = sign * r.effect / sqrt(r.v);
    out->boundary = 0.0;
    out->p_value = r.p_value;
    out->ci_lo = r.ci_lo;
    out->ci_hi = r.ci_hi;
    out->df = INFINITY;
    *bad_upper = sign > 0 ? r.ci_hi : -r.ci_lo;
    return 0;
}

static void write_reason(rg_stats_verdict *out, const rg_stats_metric_input *m,
                         const rg_stats_verdict_params *p, double bad, double bad_upper)
{
    char est[32], lo[32], hi[32], tol[32], tail[128];
    double shown_tol = m->tolerance_kind == RG_TOLERANCE_RELATIVE
                           ? (m->increase_is_bad ? m->tolerance : -m->tolerance)
                           : (m->increase_is_bad ? 1.0 : -1.0) *
                                 (m->kind == RG_METRIC_MEAN ? m->tolerance / 1000.0 : m->tolerance);

    format_effect(est, sizeof(est), m, out->effect);
    format_effect(lo, sizeof(lo), m, out->effect_lo);
    format_effect(hi, sizeof(hi), m, out->effect_hi);
    format_effect(tol, sizeof(tol), m, shown_tol);
    if (p->sequential == RG_SEQUENTIAL_MSPRT || p->sequential == RG_SEQUENTIAL_COUNTS) {
        put(tail, sizeof(tail), "%salways-valid p %.3g %s %.3g at poll %d",
            counts_applies(m, p) ? "counts test, " : "", out->p_value,
            out->p_value <= out->alpha_metric ? "<=" : ">", out->alpha_metric, p->poll);
    } else if (out->decision == RG_DECISION_FAIL) {
        put(tail, sizeof(tail), "crossed %.2f at poll %d/%d", out->boundary, p->poll,
            p->planned_polls);
    } else if (out->decision == RG_DECISION_PASS) {
        put(tail, sizeof(tail), "below the %s tolerance at poll %d/%d", tol, p->poll,
            p->planned_polls);
    } else if (!p->min_soak_reached && bad_upper < out->tolerance) {
        put(tail, sizeof(tail),
            "within the %s tolerance, stabilization window not over "
            "at poll %d/%d",
            tol, p->poll, p->planned_polls);
    } else if (out->z >= out->boundary && bad < out->tolerance) {
        put(tail, sizeof(tail),
            "z %.2f crossed %.2f but the effect is within the %s "
            "tolerance at poll %d/%d",
            out->z, out->boundary, tol, p->poll, p->planned_polls);
    } else {
        put(tail, sizeof(tail), "z %.2f below %.2f at poll %d/%d", out->z, out->boundary, p->poll,
            p->planned_polls);
    }
    if (p->variance == RG_VARIANCE_CLUSTER) {
        size_t len = strlen(tail);
        if (out->fallback)
            put(tail + len, sizeof(tail) - len,
                "; %d+%d orgs, too few for a between-org "
                "variance",
                out->orgs_canary, out->orgs_control);
        else
            put(tail + len, sizeof(tail) - len, "; %d+%d orgs, t %.0f df", out->orgs_canary,
                out->orgs_control, out->df);
    }
    put(out->reason, sizeof(out->reason), "%s %s (%s..%s) vs %s; %s%s", m->name, est, lo, hi,
        m->has_control ? "control" : "pre-change (no concurrent control)", tail,
        p->sequential == RG_SEQUENTIAL_NONE ? "; sequential: none, no correction for "
                                              "repeated looks"
                                            : "");
}

static int decide(rg_stats_verdict *out, const rg_stats_metric_input *m,
                  const rg_stats_verdict_params *p)
{
    double sign = m->increase_is_bad ? 1.0 : -1.0, sd = sqrt(out->v), bad = sign * out->theta;
    double bad_upper = INFINITY;
    int rc;

    out->z = bad / sd;
    out->p_value =
        isfinite(out->df) ? rg_stats__tdist_sf(out->z, out->df) : gsl_cdf_ugaussian_Q(out->z);
    if (counts_applies(m, p)) {
        if ((rc = counts_decide(out, m, p, sign, &bad_upper)) < 0)
            return rc;
        bad = sign * out->theta;
        if (out->p_value <= out->alpha_metric && bad > 0.0 &&
            (p->fail_rule == RG_FAIL_INTERVAL ? bad_upper >= out->tolerance
                                              : bad >= out->tolerance))
            out->decision = RG_DECISION_FAIL;
    } else if (p->sequential == RG_SEQUENTIAL_MSPRT || p->sequential == RG_SEQUENTIAL_COUNTS) {
        rg_stats_msprt_result r;
        double tau2 = p->tau2 > 0.0 ? p->tau2 : out->tolerance * out->tolerance;
        if (!(tau2 > 0.0))
            return rg_error_set(RG_EINVALID, "tau2: required when the tolerance is 0");
        if ((rc = rg_stats_msprt(&r, out->theta, out->v, 0.0, tau2, out->alpha_metric,
                                 m->msprt_prev_p > 0.0 ? m->msprt_prev_p : 1.0)) < 0)
            return rc;
        out->boundary = 0.0;
        out->p_value = r.p_value;
        out->ci_lo = r.ci_lo;
        out->ci_hi = r.ci_hi;
        bad_upper = sign > 0 ? r.ci_hi : -r.ci_lo;
        if (r.p_value <= out->alpha_metric && bad > 0.0 &&
            (p->fail_rule == RG_FAIL_INTERVAL ? bad_upper >= out->tolerance
                                              : bad >= out->tolerance))
            out->decision = RG_DECISION_FAIL;
    } else {
        if (p->sequential == RG_SEQUENTIAL_GROUP) {
            if ((rc = group_boundary(&out->boundary, out, p, out->alpha_metric)) < 0)
                return rc;
        } else {
            out->boundary = gsl_cdf_ugaussian_Qinv(out->alpha_metric);
        }
        /* A t reference keeps the boundary's nominal level: c -> t_df quantile of Q(c). */
        if (isfinite(out->df))
            out->boundary = gsl_cdf_tdist_Qinv(gsl_cdf_ugaussian_Q(out->boundary), out->df);
        out->ci_lo = out->theta - out->boundary * sd;
        out->ci_hi = out->theta + out->boundary * sd;
        bad_upper = bad + out->boundary * sd;
        /* interval: significant and not shown within the tolerance (bad_upper >= tolerance);
         * at the planned soak that is implied by significance, so power at the tolerance is
         * the test's; estimate: the estimate itself at least the tolerance */
        if (out->z >= out->boundary &&
            (p->fail_rule == RG_FAIL_INTERVAL ? bad_upper >= out->tolerance
                                              : bad >= out->tolerance))
            out->decision = RG_DECISION_FAIL;
    }
    if (out->decision != RG_DECISION_FAIL && p->min_soak_reached && bad_upper < out->tolerance)
        out->decision = RG_DECISION_PASS;
    out->effect = display(m, out->theta);
    out->effect_lo = display(m, out->ci_lo);
    out->effect_hi = display(m, out->ci_hi);
    write_reason(out, m, p, bad, bad_upper);
    return 0;
}

int rg_stats_verdict_compute(rg_stats_verdict *out, const rg_stats_metric_input *metric,
                             const rg_stats_verdict_params *params)
{
    rg_stats_verdict v;
    int log_scale = metric->tolerance_kind == RG_TOLERANCE_RELATIVE, rc;

    if ((rc = check_params(metric, params)) < 0 || (rc = check_windows(metric)) < 0)
        return rc;
    memset(&v, 0, sizeof(v));
    v.decision = RG_DECISION_INCONCLUSIVE;
    v.alpha_metric = params->alpha / (double)params->n_metrics;
    if (log_scale)
        v.tolerance =
            metric->increase_is_bad ? log1p(metric->tolerance) : -log1p(-metric->tolerance);
    else
        v.tolerance =
            metric->kind == RG_METRIC_MEAN ? metric->tolerance / 1000.0 : metric->tolerance;
    v.df = INFINITY;
    if ((rc = effect(&v, metric, params, log_scale)) < 0)
        return rc;
    if (rc == 0) {
        v.has_estimate = 1;
        if ((rc = decide(&v, metric, params)) < 0)
            return rc;
    }
    *out = v;
    return 0;
}
