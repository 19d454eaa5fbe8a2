/* test_stats_plan_orgs.c - the planner's cluster path (stats/plan_orgs.c), the interval fail
 * rule and the soak search against tests/data/stats/plan_orgs_reference.py (its output,
 * plan_orgs_reference.out, is read here) */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "engine/planner.h"
#include "engine/verdict_inputs.h"
#include "rollgate/policy.h"
#include "rollgate/stats.h"
#include "support/testutil.h"

#define MAX_ORGS 32

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static json_t *reference(void)
{
    char path[1024];
    json_t *doc;
    rg_test_path(path, sizeof(path), "tests/data/stats/plan_orgs_reference.out");
    doc = json_load_file(path, 0, NULL);
    assert_non_null(doc); /* the reference file is part of the tree */
    return doc;
}

static void cluster_case(const json_t *c)
{
    double canary[MAX_ORGS], control[MAX_ORGS], tau2[RG_STATS_MAX_LOOKS];
    rg_stats_plan_metric m = {0};
    rg_stats_plan_result r;
    rg_stats_plan_stage st;
    rg_stats_plan_design d = {0};
    size_t i;
    json_t *v;

    json_array_foreach(json_object_get(c, "canary"), i, v) canary[i] = json_number_value(v);
    m.n_canary = json_array_size(json_object_get(c, "canary"));
    json_array_foreach(json_object_get(c, "control"), i, v) control[i] = json_number_value(v);
    m.n_control = json_array_size(json_object_get(c, "control"));
    json_array_foreach(json_object_get(c, "tau2"), i, v) tau2[i] = json_number_value(v);
    m.kind = RG_METRIC_PROPORTION;
    m.log_scale = 1;
    m.tolerance = num(c, "tolerance");
    m.critical = 1;
    m.level = num(c, "level");
    m.canary_rate = canary;
    m.control_rate = control;
    m.tau2_looks = tau2;
    m.dispersion = num(c, "dispersion");
    d.planned_polls = (int)num(c, "K");
    d.poll_minutes = num(c, "poll");
    d.pre_minutes = num(c, "pre");
    d.settle_minutes = num(c, "settle");
    d.stabilization_minutes = d.poll_minutes;
    d.alpha = num(c, "alpha");
    d.n_metrics = 1;
    d.breaker_consecutive = 1;
    d.sequential = RG_SEQUENTIAL_NONE;
    d.variance = RG_VARIANCE_CLUSTER;
    d.information = RG_INFORMATION_CALENDAR;
    d.fail_rule = strcmp(json_string_value(json_object_get(c, "fail_rule")), "interval") == 0
                      ? RG_FAIL_INTERVAL
                      : RG_FAIL_ESTIMATE;
    d.paths = 20000;
    d.seed = 5;
    d.no_mde = 1;
    assert_int_equal(rg_stats_plan(&r, &st, &m, 1, &d), 0);
    /* 20,000 paths: SE <= 0.0036; the t quantile is interpolated on a 0.25-df grid */
    assert_float_equal(st.p_promote, num(json_object_get(c, "healthy"), "p_promote"), 0.013);
    assert_float_equal(st.p_trip, num(json_object_get(c, "healthy"), "p_trip"), 0.006);
    assert_float_equal(r.p_trip_1_0, num(json_object_get(c, "at_tolerance"), "p_trip"), 0.013);
    assert_true(isnan(r.mde));
}

static void test_cluster_planner_matches_reference(void **state)
{
    json_t *doc = reference(), *c;
    size_t i;
    (void)state;
    assert_true(json_array_size(json_object_get(doc, "cluster")) >= 4);
    json_array_foreach(json_object_get(doc, "cluster"), i, c) cluster_case(c);
    json_decref(doc);
}

/* One canary org, no control, pooled: V = s2 / r (1/pre + 1/post); r chosen for the sd. */
static void test_interval_rule_one_look_closed_form(void **state)
{
    json_t *doc = reference(), *c;
    size_t i;
    (void)state;
    json_array_foreach(json_object_get(doc, "interval"), i, c)
    {
        double p = 0.08, s2 = (1 - p) / p, sd = num(c, "sd"), rate = s2 * (2.0 / 30) / (sd * sd);
        rg_stats_plan_metric m = {0};
        rg_stats_plan_result r;
        rg_stats_plan_stage st;
        rg_stats_plan_design d = {0};
        m.kind = RG_METRIC_PROPORTION;
        m.log_scale = 1;
        m.tolerance = num(c, "tolerance");
        m.critical = 1;
        m.level = p;
        m.canary_rate = &rate;
        m.n_canary = 1;
        d.planned_polls = 1;
        d.poll_minutes = 31;
        d.pre_minutes = 30;
        d.settle_minutes = 1;
        d.stabilization_minutes = 31;
        d.alpha = num(c, "alpha");
        d.n_metrics = 1;
        d.breaker_consecutive = 1;
        d.sequential = RG_SEQUENTIAL_NONE;
        d.variance = RG_VARIANCE_POOLED;
        d.fail_rule = RG_FAIL_INTERVAL;
        d.paths = 20000;
        d.seed = 3;
        d.no_mde = 1;
        assert_int_equal(rg_stats_plan(&r, &st, &m, 1, &d), 0);
        assert_float_equal(st.p_promote, num(c, "p_promote"), 0.013);
        assert_float_equal(st.p_trip, num(c, "p_trip_0"), 0.006);
        assert_float_equal(r.p_trip_1_0, num(c, "p_trip_1_0"), 0.013);
        assert_float_equal(r.p_trip_1_5, num(c, "p_trip_1_5"), 0.013);
    }
    json_decref(doc);
}

/* The verdict: significant (z 1.76 >= 1.28), the estimate +25 % below the 30 % tolerance, the
 * interval's upper end above it: fail under interval, inconclusive under estimate. */
static void test_verdict_interval_rule(void **state)
{
    rg_stats_cell cpre = {1000, 100}, cpost = {1000, 125}, kpre = {1e7, 1e6}, kpost = {1e7, 1e6};
    rg_stats_metric_input in = {0};
    rg_stats_verdict_params p = {0};
    rg_stats_verdict v;
    double theta = log(0.125 / 0.1), sd = sqrt(0.9 / 100 + 0.875 / 125 + 2 * 0.9 / 1e6);
    (void)state;

    in.name = "abandonment_rate";
    in.kind = RG_METRIC_PROPORTION;
    in.increase_is_bad = 1;
    in.tolerance_kind = RG_TOLERANCE_RELATIVE;
    in.tolerance = 0.3;
    in.canary_pre = (rg_stats_window){&cpre, 1};
    in.canary_post = (rg_stats_window){&cpost, 1};
    in.has_control = 1;
    in.control_pre = (rg_stats_window){&kpre, 1};
    in.control_post = (rg_stats_window){&kpost, 1};
    in.msprt_prev_p = 1;
    p.poll = 1;
    p.planned_polls = 1;
    p.alpha = 0.1;
    p.n_metrics = 1;
    p.sequential = RG_SEQUENTIAL_NONE;
    p.min_soak_reached = 1;
    p.post_share = 1;
    p.fail_rule = RG_FAIL_ESTIMATE;
    assert_int_equal(rg_stats_verdict_compute(&v, &in, &p), 0);
    assert_float_equal(v.z, theta / sd, 1e-9);
    assert_true(v.z >= v.boundary && theta < log1p(0.3));
    assert_int_equal(v.decision, RG_DECISION_INCONCLUSIVE);
    p.fail_rule = RG_FAIL_INTERVAL;
    assert_int_equal(rg_stats_verdict_compute(&v, &in, &p), 0);
    assert_true(theta + v.boundary * sd >= log1p(0.3));
    assert_int_equal(v.decision, RG_DECISION_FAIL);
    /* shown within the tolerance: pass, even though significant */
    in.tolerance = 0.6;
    assert_int_equal(rg_stats_verdict_compute(&v, &in, &p), 0);
    assert_true(theta + v.boundary * sd < log1p(0.6));
    assert_int_equal(v.decision, RG_DECISION_PASS);
}

/* The soak search: the polls found meet the goal and one poll fewer does not (same paths as
 * the search's final plan); a hopeless stage finds none. */
static void test_plan_soak_search(void **state)
{
    double canary[4] = {300, 300, 300, 300}, control[16], tau2[RG_STATS_MAX_LOOKS];
    rg_stats_plan_metric m = {0};
    rg_stats_plan_result r;
    rg_stats_plan_stage st;
    rg_stats_plan_design d = {0};
    rg_stats_plan_goal goal = {3, 40, 0.9, 0.9};
    int polls = -1;
    (void)state;

    for (int i = 0; i < 16; i++)
        control[i] = 120;
    for (int k = 0; k < RG_STATS_MAX_LOOKS; k++)
        tau2[k] = 0.0005;
    m.kind = RG_METRIC_PROPORTION;
    m.log_scale = 1;
    m.tolerance = log1p(0.15);
    m.critical = 1;
    m.level = 0.08;
    m.canary_rate = canary;
    m.n_canary = 4;
    m.control_rate = control;
    m.n_control = 16;
    m.tau2_looks = tau2;
    d.poll_minutes = 5;
    d.pre_minutes = 30;
    d.settle_minutes = 1;
    d.stabilization_minutes = 15;
    d.alpha = 0.05 / 3;
    d.n_metrics = 1;
    d.breaker_consecutive = 2;
    d.sequential = RG_SEQUENTIAL_GROUP;
    d.variance = RG_VARIANCE_CLUSTER;
    d.information = RG_INFORMATION_OBSERVED;
    d.fail_rule = RG_FAIL_INTERVAL;
    d.paths = 4000;
    d.seed = 9;
    d.no_mde = 1;
    assert_int_equal(rg_stats_plan_soak(&polls, &r, &st, &m, 1, &d, &goal), 0);
    assert_true(polls > goal.min_polls && polls <= goal.max_polls);
    assert_true(st.p_promote >= 0.88 && r.p_trip_1_0 >= 0.88); /* search at 1,000 paths */
    d.planned_polls = polls - 1;
    d.paths = 1000; /* as the search saw it */
    assert_int_equal(rg_stats_plan(&r, &st, &m, 1, &d), 0);
    assert_true(st.p_promote < 0.9 || r.p_trip_1_0 < 0.9);
    for (int i = 0; i < 4; i++)
        canary[i] = 0.5;
    d.paths = 4000;
    assert_int_equal(rg_stats_plan_soak(&polls, &r, &st, &m, 1, &d, &goal), 0);
    assert_int_equal(polls, 0);
    goal.max_polls = RG_STATS_MAX_LOOKS + 1;
    assert_int_equal(rg_stats_plan_soak(&polls, &r, &st, &m, 1, &d, &goal), RG_EINVALID);
}

/* The engine's placebo tau2 (engine/planner_placebo.c) on series whose post level is the pre
 * level times f_i in org i: d_i = ln f_i exactly, u_i = (1 - p)/e per window, and tau2 is
 * DerSimonian-Laird's closed form over the two arms. */
static void test_placebo_tau2_closed_form(void **state)
{
    static const double f[6] = {1.1, 0.9, 1.05, 0.95, 1.2, 0.8};
    static const int role[6] = {RG_SOAK_CANARY,  RG_SOAK_CANARY,  RG_SOAK_CONTROL,
                                RG_SOAK_CONTROL, RG_SOAK_CONTROL, RG_SOAK_CONTROL};
    rg_org_traffic t[6];
    rg_policy *p = NULL;
    double tau2[3], disp, d[6], u[6], w[6], ws[2] = {0, 0}, w2[2] = {0, 0}, wd[2] = {0, 0};
    double q = 0, c = 0, expect;
    (void)state;

    assert_int_equal(rg_policy_load(&p, "contact-center", NULL), 0);
    p->granularity_ms = 60000;
    p->pre_window_ms = (int64_t)10 * 60000;
    p->settle_ms = 60000;
    p->poll_interval_ms = (int64_t)5 * 60000;
    memset(t, 0, sizeof(t));
    for (int i = 0; i < 6; i++) {
        t[i].nbuckets = 25;
        t[i].series = calloc((size_t)25 * RG_TRAFFIC_FIELDS, sizeof(double));
        assert_non_null(t[i].series);
        for (int b = 0; b < 25; b++) {
            t[i].series[b * RG_TRAFFIC_FIELDS + 0] = 10000;
            t[i].series[b * RG_TRAFFIC_FIELDS + 1] = b < 10 ? 1000 : 1000 * f[i];
        }
    }
    assert_int_equal(rg_engine__plan_placebo(tau2, &disp, p, &p->metrics[0], t, role, 6, 0, 3, 3),
                     0);
    /* look 1: post = buckets 11..14 (settle 1, poll 5): e_post = 4000 f_i */
    for (int i = 0; i < 6; i++) {
        int a = role[i] == RG_SOAK_CANARY ? 0 : 1;
        d[i] = log(f[i]);
        u[i] = 0.9 / 10000 + (1 - 0.1 * f[i]) / (4000 * f[i]);
        w[i] = 1 / u[i];
        ws[a] += w[i];
        w2[a] += w[i] * w[i];
        wd[a] += w[i] * d[i];
    }
    for (int i = 0; i < 6; i++) {
        int a = role[i] == RG_SOAK_CANARY ? 0 : 1;
        q += w[i] * (d[i] - wd[a] / ws[a]) * (d[i] - wd[a] / ws[a]);
    }
    for (int a = 0; a < 2; a++)
        c += ws[a] - w2[a] / ws[a];
    expect = (q - 4) / c;
    assert_true(expect > 0);
    assert_float_equal(tau2[0], expect, 1e-9 * expect);
    assert_float_equal(disp, 1.0, 1e-12); /* no bucket-to-bucket spread: phi's floor */
    assert_true(tau2[1] > 0 && tau2[2] > 0);
    for (int i = 0; i < 6; i++)
        free(t[i].series);
    rg_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_planner_matches_reference),
        cmocka_unit_test(test_interval_rule_one_look_closed_form),
        cmocka_unit_test(test_verdict_interval_rule),
        cmocka_unit_test(test_plan_soak_search),
        cmocka_unit_test(test_placebo_tau2_closed_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
