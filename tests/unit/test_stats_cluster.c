/* test_stats_cluster.c - cluster variance, observed information, the boundary memo, and the
 * engine's control choice and poll rule (engine/verdict_inputs.c) */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <gsl/gsl_cdf.h>

#include "engine/verdict_inputs.h"
#include "rollgate/stats.h"

#define BUCKETS 10
#define CANARY_ORGS 3
#define CONTROL_ORGS 5

/* The cells of tests/data/stats/cluster_reference.py (the same integer formulas). */
static void cell(rg_stats_cell *out, int arm, int org, int window, int bucket, int od)
{
    long n = 100 + 20 * org + 5 * (bucket % 2) + 7 * arm;
    long rate = 8 + org + 2 * (bucket % 3) + 3 * ((org * 7 + bucket * 3 + window) % 4);
    rate += 4L * od * ((bucket / 5 + org) % 2);
    if (arm == 0 && window == 1)
        rate += 1 + 3 * org;
    if (arm == 1 && window == 1)
        rate += 2L * ((org % 3) - 1);
    out->count = (double)n;
    /* Integer division on purpose: the reference computes the same integer formula. */
    // NOLINTNEXTLINE(bugprone-integer-division)
    out->value = (double)((n * rate) / 100);
}

typedef struct {
    rg_stats_cell cells[4][CONTROL_ORGS * BUCKETS];
    uint32_t orgs[4][CONTROL_ORGS * BUCKETS];
    rg_stats_metric_input metric;
} scenario;

/* windows 0 canary pre, 1 canary post, 2 control pre, 3 control post */
static void build(scenario *s, int od)
{
    for (int w = 0; w < 4; w++) {
        int arm = w / 2, norgs = arm ? CONTROL_ORGS : CANARY_ORGS, n = 0;
        for (int org = 0; org < norgs; org++)
            for (int b = 0; b < BUCKETS; b++) {
                cell(&s->cells[w][n], arm, org, w % 2, b, od);
                s->orgs[w][n++] = (uint32_t)(100 + org); /* keys need not start at 0 */
            }
    }
    s->metric =
        (rg_stats_metric_input){.name = "abandonment_rate",
                                .kind = RG_METRIC_PROPORTION,
                                .increase_is_bad = 1,
                                .tolerance_kind = RG_TOLERANCE_RELATIVE,
                                .tolerance = 0.15,
                                .critical = 1,
                                .canary_pre = {s->cells[0], (size_t)CANARY_ORGS * BUCKETS},
                                .canary_post = {s->cells[1], (size_t)CANARY_ORGS * BUCKETS},
                                .has_control = 1,
                                .control_pre = {s->cells[2], (size_t)CONTROL_ORGS * BUCKETS},
                                .control_post = {s->cells[3], (size_t)CONTROL_ORGS * BUCKETS},
                                .msprt_prev_p = 1.0};
    s->metric.orgs.canary_pre = s->orgs[0];
    s->metric.orgs.canary_post = s->orgs[1];
    s->metric.orgs.control_pre = s->orgs[2];
    s->metric.orgs.control_post = s->orgs[3];
}

static rg_stats_verdict_params none_params(void)
{
    rg_stats_verdict_params p = {.poll = 3,
                                 .planned_polls = 6,
                                 .alpha = 0.05,
                                 .n_metrics = 2,
                                 .sequential = RG_SEQUENTIAL_NONE,
                                 .min_soak_reached = 1,
                                 .variance = RG_VARIANCE_CLUSTER,
                                 .block_buckets = 5};
    return p;
}

/* Values from tests/data/stats/cluster_reference.py (cluster_reference.out): plain Python for
 * the estimates, SciPy 1.10 for Student's t. */
static void test_random_effects_match_reference(void **state)
{
    static scenario s;
    rg_stats_verdict_params p = none_params();
    rg_stats_verdict v;
    (void)state;

    build(&s, 0);
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
    assert_true(v.has_estimate);
    assert_int_equal(v.orgs_canary, 3);
    assert_int_equal(v.orgs_control, 5);
    assert_false(v.fallback);
    assert_float_equal(v.dispersion, 1.0, 1e-12);
    assert_float_equal(v.tau2_between, 0.01335395185082262, 1e-12);
    assert_float_equal(v.theta, 0.25622335842346378, 1e-12);
    assert_float_equal(v.v, 0.012103260261450437, 1e-12);
    assert_float_equal(v.z, 2.3289895144561474, 1e-10);
    /* Kish's effective orgs: below the 8 - 2 = 6 orgs' df */
    assert_float_equal(v.df, 5.8948392140601493, 1e-12);
    /* sequential none at alpha/2 = 0.025 one-sided: scipy.stats.t.ppf(0.975, df) */
    assert_float_equal(v.boundary, 2.4575321646525867, 1e-9);
    assert_float_equal(v.p_value, 0.029740510876722595, 1e-9);
    assert_int_equal(v.decision, RG_DECISION_INCONCLUSIVE); /* z < t but effect above tol */
    assert_non_null(strstr(v.reason, "3+5 orgs, t 6 df"));
}

static void test_block_overdispersion_matches_reference(void **state)
{
    static scenario s;
    rg_stats_verdict_params p = none_params();
    rg_stats_verdict v;
    (void)state;

    build(&s, 1);
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
    assert_float_equal(v.dispersion, 4.4877378408012412, 1e-12);
    assert_float_equal(v.tau2_between, 0.0, 0);
    assert_float_equal(v.theta, 0.24488845845885579, 1e-12);
    assert_float_equal(v.v, 0.015808444067371641, 1e-12); /* HK q 0.564 floored at 1 */
    assert_float_equal(v.z, 1.9477075776919024, 1e-10);
    assert_float_equal(v.df, 5.4296070079955054, 1e-12);
    assert_float_equal(v.boundary, 2.5105941623125165, 1e-9);
    assert_float_equal(v.p_value, 0.052215865830779876, 1e-9);
}

/* The pooled variance treats the same data as independent calls: a smaller V. */
static void test_pooled_variance_is_smaller_on_spread_data(void **state)
{
    static scenario s;
    rg_stats_verdict_params p = none_params();
    rg_stats_verdict cluster, pooled;
    (void)state;

    build(&s, 1);
    assert_int_equal(rg_stats_verdict_compute(&cluster, &s.metric, &p), 0);
    p.variance = RG_VARIANCE_POOLED;
    assert_int_equal(rg_stats_verdict_compute(&pooled, &s.metric, &p), 0);
    assert_true(pooled.v < cluster.v / 2);
    assert_true(isinf(pooled.df));
}

/* One canary and one control org: df = 0, the within-org fallback with the normal. */
static void test_too_few_orgs_falls_back(void **state)
{
    static scenario s;
    rg_stats_verdict_params p = none_params();
    rg_stats_verdict v;
    (void)state;

    build(&s, 1);
    s.metric.canary_pre.n = s.metric.canary_post.n = BUCKETS;
    s.metric.control_pre.n = s.metric.control_post.n = BUCKETS;
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
    assert_true(v.fallback);
    assert_true(isinf(v.df));
    assert_float_equal(v.boundary, 1.959963984540054, 1e-9);
    assert_non_null(strstr(v.reason, "too few for a between-org variance"));
}

/* No canary traffic after the change: exactly "no traffic", as the pooled path. */
static void test_no_traffic(void **state)
{
    static scenario s;
    rg_stats_verdict_params p = none_params();
    rg_stats_verdict v;
    (void)state;

    build(&s, 0);
    for (int i = 0; i < CANARY_ORGS * BUCKETS; i++)
        s.cells[1][i] = (rg_stats_cell){0, 0};
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
    assert_false(v.has_estimate);
    assert_string_equal(v.reason, "no traffic");
}

/* Observed information, pooled: t = V_K / V_k with V_K = pre + post x share (closed form),
 * and the boundary is the OBF boundary at that single fraction. */
static void test_observed_fraction_closed_form(void **state)
{
    rg_stats_cell pre[20], post[20];
    rg_stats_metric_input m = {.name = "abandonment_rate",
                               .kind = RG_METRIC_PROPORTION,
                               .increase_is_bad = 1,
                               .tolerance_kind = RG_TOLERANCE_RELATIVE,
                               .tolerance = 0.15,
                               .canary_pre = {pre, 20},
                               .canary_post = {post, 20},
                               .msprt_prev_p = 1};
    rg_stats_verdict_params p = {.poll = 1,
                                 .planned_polls = 4,
                                 .alpha = 0.05,
                                 .n_metrics = 1,
                                 .sequential = RG_SEQUENTIAL_GROUP,
                                 .information = RG_INFORMATION_OBSERVED,
                                 .post_share = 0.25};
    rg_stats_verdict v;
    double vpre, vpost, t, b;
    (void)state;

    for (int i = 0; i < 20; i++) {
        pre[i] = (rg_stats_cell){100, 10};
        post[i] = (rg_stats_cell){100, 12};
    }
    vpre = (1 - 0.10) / 200.0; /* Var(ln p) = (1 - p) / events */
    vpost = (1 - 0.12) / 240.0;
    t = (vpre + vpost * 0.25) / (vpre + vpost);
    assert_int_equal(rg_stats_verdict_compute(&v, &m, &p), 0);
    assert_float_equal(v.v, vpre + vpost, 1e-15);
    assert_float_equal(v.fraction, t, 1e-12);
    assert_int_equal(rg_stats_obf_boundaries(&b, &t, 1, 0.05), 0);
    assert_float_equal(v.boundary, b, 1e-12);
    /* the next poll needs the first's fraction */
    p.poll = 2;
    assert_int_equal(rg_stats_verdict_compute(&v, &m, &p), RG_EINVALID);
}

/* The memo gives exactly the boundaries of a full recursion, look by look. */
static void test_boundary_memo_equals_full_recursion(void **state)
{
    const double f[6] = {0.24, 0.47, 0.65, 0.79, 0.90, 1.0};
    rg_stats_cache *cache = NULL;
    double full[6], b;
    (void)state;

    assert_int_equal(rg_stats_cache_new(&cache), 0);
    assert_int_equal(rg_stats_obf_boundaries(full, f, 6, 0.025), 0);
    for (size_t k = 1; k <= 6; k++) {
        assert_int_equal(
            rg_stats_cache_boundary_at(&b, cache, f, k, 0.025, RG_SPENDING_OBRIEN_FLEMING), 0);
        assert_float_equal(b, full[k - 1], 1e-12);
    }
    /* a cold design of 4 looks, and a hit */
    assert_int_equal(rg_stats_obf_boundaries(full, f + 1, 4, 0.01), 0);
    assert_int_equal(
        rg_stats_cache_boundary_at(&b, cache, f + 1, 4, 0.01, RG_SPENDING_OBRIEN_FLEMING), 0);
    assert_float_equal(b, full[3], 1e-12);
    assert_int_equal(
        rg_stats_cache_boundary_at(&b, cache, f + 1, 4, 0.01, RG_SPENDING_OBRIEN_FLEMING), 0);
    assert_float_equal(b, full[3], 1e-12);
    rg_stats_cache_free(cache);
}

static rg_policy test_policy(void)
{
    static rg_policy_metric metrics[2] = {
        {.name = "abandonment_rate", .kind = RG_METRIC_PROPORTION, .critical = 1},
        {.name = "speed_of_answer", .kind = RG_METRIC_MEAN}};
    rg_policy p = {.alpha = 0.05,
                   .settle_ms = 60000,
                   .pre_window_ms = 30 * (int64_t)60000,
                   .granularity_ms = 60000,
                   .poll_interval_ms = 5 * (int64_t)60000,
                   .soak_limit_ms = 30 * (int64_t)60000,
                   .breaker_consecutive = 2,
                   .metrics = metrics,
                   .metrics_count = 2};
    return p;
}

/* At the last stage the control is the earlier orgs whose change predates the pre window. */
static void test_last_stage_control(void **state)
{
    rg_policy p = test_policy();
    rg_soak_bounds b;
    int64_t start = 10 * 3600000LL;
    (void)state;

    rg_engine__soak_bounds(&b, &p, start, start + 120000, start + 120000 + 10 * (int64_t)60000);
    assert_int_equal(b.pre_from, start - 30 * (int64_t)60000);
    assert_int_equal(b.post_from, start + 180000);
    assert_float_equal(b.post_share, (10.0 - 1.0) / (30.0 - 1.0), 1e-12);
    /* a later org is the control while one exists */
    assert_int_equal(rg_engine__soak_role(&p, 2, 0, 0, 1, 1, &b), RG_SOAK_CONTROL);
    assert_int_equal(rg_engine__soak_role(&p, 1, 1, start, 1, 1, &b), RG_SOAK_CANARY);
    assert_int_equal(rg_engine__soak_role(&p, 0, 1, start - 3600000, 1, 1, &b), RG_SOAK_NONE);
    /* last stage: earlier orgs changed an hour before are the control ... */
    assert_int_equal(rg_engine__soak_role(&p, 0, 1, start - 3600000, 2, 0, &b), RG_SOAK_CONTROL);
    /* ... but not one changed inside the pre window (its pre is partly old configuration) */
    assert_int_equal(rg_engine__soak_role(&p, 1, 1, start - 20 * (int64_t)60000, 2, 0, &b),
                     RG_SOAK_NONE);
    /* nor one whose apply was refused */
    assert_int_equal(rg_engine__soak_role(&p, 0, 0, 0, 2, 0, &b), RG_SOAK_NONE);
    /* an earlier org changed 20 minutes before the stage: the pre window starts after it
     * (plus settle), since 19 of the 30 minutes remain */
    rg_engine__last_stage_bounds(&b, &p, start - 20 * (int64_t)60000);
    assert_int_equal(b.pre_from, start - 19 * (int64_t)60000);
    assert_int_equal(rg_engine__soak_role(&p, 1, 1, start - 20 * (int64_t)60000, 2, 0, &b),
                     RG_SOAK_CONTROL);
    /* changed 10 minutes before: only 9 minutes would remain, the window is left as it is */
    rg_engine__last_stage_bounds(&b, &p, start - 10 * (int64_t)60000);
    assert_int_equal(b.pre_from, start - 19 * (int64_t)60000);
    assert_int_equal(rg_engine__soak_role(&p, 1, 1, start - 10 * (int64_t)60000, 2, 0, &b),
                     RG_SOAK_NONE);
    /* so a last stage promoted then waits (apply.c): changed 10 minutes before `start`, the
     * org is settled at start - 9 min and has half the 30-minute pre window behind it at
     * start + 6 min; a stage starting then keeps it as its control, a minute sooner not */
    {
        int64_t latest = start - 10 * (int64_t)60000;
        int64_t ready = rg_engine__last_stage_ready_ms(&p, latest);
        assert_int_equal(ready, start + 6 * (int64_t)60000);
        rg_engine__soak_bounds(&b, &p, ready, ready + 120000, ready + 600000);
        rg_engine__last_stage_bounds(&b, &p, latest);
        assert_int_equal(b.pre_from, start - 9 * (int64_t)60000);
        assert_int_equal(b.pre_to, ready);
        assert_int_equal(rg_engine__soak_role(&p, 1, 1, latest, 2, 0, &b), RG_SOAK_CONTROL);
        rg_engine__soak_bounds(&b, &p, ready - 60000, ready + 120000, ready + 600000);
        rg_engine__last_stage_bounds(&b, &p, latest);
        assert_int_equal(rg_engine__soak_role(&p, 1, 1, latest, 2, 0, &b), RG_SOAK_NONE);
        assert_int_equal(rg_engine__last_stage_ready_ms(&p, 0), 0);
    }
    /* alpha split over three stages */
    assert_float_equal(rg_engine__stage_alpha(&p, 3), 0.05 / 3, 1e-15);
    p.alpha_split = RG_ALPHA_SPLIT_NONE;
    assert_float_equal(rg_engine__stage_alpha(&p, 3), 0.05, 0);
}

static void test_poll_rule(void **state)
{
    rg_policy p = test_policy();
    rg_stats_verdict v[2] = {{.decision = RG_DECISION_INCONCLUSIVE},
                             {.decision = RG_DECISION_FAIL}};
    int64_t streaks[2] = {0, 0};
    char why[512];
    (void)state;

    assert_int_equal(rg_engine__poll_rule(why, sizeof(why), &p, v, streaks, 1, 6, 0),
                     RG_POLL_CONTINUE);
    assert_int_equal(streaks[1], 1);
    assert_int_equal(rg_engine__poll_rule(why, sizeof(why), &p, v, streaks, 2, 6, 0), RG_POLL_TRIP);
    assert_non_null(strstr(why, "speed_of_answer failed 2 polls in a row at stage 1 "
                                "(breaker.consecutive: 2)"));
    v[0].decision = RG_DECISION_FAIL; /* critical: once is enough */
    v[1].decision = RG_DECISION_PASS;
    streaks[0] = streaks[1] = 0;
    assert_int_equal(rg_engine__poll_rule(why, sizeof(why), &p, v, streaks, 1, 6, 0), RG_POLL_TRIP);
    assert_non_null(strstr(why, "a critical metric trips on its first failure"));
    v[0].decision = RG_DECISION_PASS;
    assert_int_equal(rg_engine__poll_rule(why, sizeof(why), &p, v, streaks, 3, 6, 0),
                     RG_POLL_PROMOTE);
    v[0].decision = RG_DECISION_INCONCLUSIVE;
    assert_int_equal(rg_engine__poll_rule(why, sizeof(why), &p, v, streaks, 6, 6, 1), RG_POLL_HOLD);
    assert_non_null(strstr(why, "soak limit (poll 6/6) of stage 2"));
}

/* Planner, one look, fixed level, pooled: the half-width and P(trip) in closed form. */
static void test_planner_closed_form(void **state)
{
    const double canary[2] = {200, 600}, control[1] = {400};
    rg_stats_plan_metric m = {.kind = RG_METRIC_PROPORTION,
                              .log_scale = 1,
                              .tolerance = log1p(0.15),
                              .critical = 1,
                              .level = 0.08,
                              .canary_rate = canary,
                              .n_canary = 2,
                              .control_rate = control,
                              .n_control = 1};
    rg_stats_plan_design d = {.planned_polls = 1,
                              .poll_minutes = 31,
                              .pre_minutes = 30,
                              .settle_minutes = 1,
                              .stabilization_minutes = 15,
                              .alpha = 0.05,
                              .n_metrics = 2,
                              .breaker_consecutive = 2,
                              .sequential = RG_SEQUENTIAL_NONE,
                              .variance = RG_VARIANCE_POOLED,
                              .paths = 20000,
                              .seed = 7};
    rg_stats_plan_result r;
    rg_stats_plan_stage st;
    double vu = (1 - 0.08) / 0.08, c = 1.959963984540054, v, sd, tol = log1p(0.15);
    (void)state;

    /* arms: canary 1/(1/u1 + 1/u2), u_i = vu/(r_i 30) + vu/(r_i 30); control vu/(400 15) */
    v = 1 / (200 * 15 / vu + 600 * 15 / vu) + vu / (400 * 15.0);
    sd = sqrt(v);
    assert_int_equal(rg_stats_plan(&r, &st, &m, 1, &d), 0);
    assert_float_equal(r.half_width, expm1(c * sd), 1e-12);
    assert_false(r.cannot_decide);
    /* P(trip | 1.5 tol) = P(theta >= max(c sd, tol)) = Q((max(c sd, tol) - 1.5 tol) / sd) */
    assert_float_equal(r.p_trip_1_5, gsl_cdf_ugaussian_Q((fmax(c * sd, tol) - 1.5 * tol) / sd),
                       0.015);
    /* healthy: pass when theta + c sd < tol, i.e. P(Z < (tol - c sd) / sd) */
    assert_float_equal(st.p_promote, gsl_cdf_ugaussian_P((tol - c * sd) / sd), 0.015);
    assert_float_equal(st.p_promote + st.p_hold + st.p_trip, 1.0, 1e-12);
    /* half the traffic: the interval at the soak's end is wider than the tolerance */
    m.canary_rate = (const double[2]){100, 300};
    m.control_rate = (const double[1]){200};
    assert_int_equal(rg_stats_plan(&r, &st, &m, 1, &d), 0);
    assert_true(r.cannot_decide);
    d.paths = 10;
    assert_int_equal(rg_stats_plan(&r, &st, &m, 1, &d), RG_EINVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_effects_match_reference),
        cmocka_unit_test(test_block_overdispersion_matches_reference),
        cmocka_unit_test(test_pooled_variance_is_smaller_on_spread_data),
        cmocka_unit_test(test_too_few_orgs_falls_back),
        cmocka_unit_test(test_no_traffic),
        cmocka_unit_test(test_observed_fraction_closed_form),
        cmocka_unit_test(test_boundary_memo_equals_full_recursion),
        cmocka_unit_test(test_last_stage_control),
        cmocka_unit_test(test_poll_rule),
        cmocka_unit_test(test_planner_closed_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
