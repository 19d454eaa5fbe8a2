/* test_stats_counts.c - the anytime-valid counts test (stats/counts.c) against SciPy values of
 * tests/data/stats/counts_reference.py (its output, counts_reference.out, is read here), and
 * the verdict's use of it (sequential: counts) */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "rollgate/policy.h"
#include "rollgate/stats.h"
#include "support/testutil.h"

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void test_counts_match_scipy(void **state)
{
    char path[1024];
    json_t *doc, *c;
    size_t i;
    (void)state;

    rg_test_path(path, sizeof(path), "tests/data/stats/counts_reference.out");
    doc = json_load_file(path, 0, NULL);
    assert_non_null(doc); /* the reference file is part of the tree */
    assert_true(json_array_size(json_object_get(doc, "cases")) >= 5);
    json_array_foreach(json_object_get(doc, "cases"), i, c)
    {
        rg_stats_counts_result r;
        assert_int_equal(rg_stats_counts(&r, num(c, "x"), num(c, "y"), num(c, "rho0"),
                                         num(c, "concentration"), num(c, "alpha"), 1.0),
                         0);
        assert_float_equal(r.log_e, num(c, "log_e"), 1e-9);
        assert_float_equal(r.p_value, num(c, "p_value"), 1e-9);
        assert_float_equal(r.effect, num(c, "effect"), 1e-12);
        assert_float_equal(r.ci_lo, num(c, "ci_lo"), 1e-9);
        assert_float_equal(r.ci_hi, num(c, "ci_hi"), 1e-9);
        /* the running minimum of the always-valid p */
        assert_int_equal(rg_stats_counts(&r, num(c, "x"), num(c, "y"), num(c, "rho0"),
                                         num(c, "concentration"), num(c, "alpha"), 1e-6),
                         0);
        assert_true(r.p_value <= 1e-6);
    }
    json_decref(doc);
}

static void test_counts_edges(void **state)
{
    rg_stats_counts_result r;
    (void)state;
    /* no events: E = 1, the sequence is everything */
    assert_int_equal(rg_stats_counts(&r, 0, 0, 0.3, 10, 0.05, 1), 0);
    assert_float_equal(r.log_e, 0, 1e-12);
    assert_true(isinf(r.ci_lo) && r.ci_lo < 0 && isinf(r.ci_hi) && r.ci_hi > 0);
    /* no control events: finite lower end, closed form of M's root not needed: M < 1/alpha
     * at the estimate */
    assert_int_equal(rg_stats_counts(&r, 5, 0, 0.3, 10, 0.05, 1), 0);
    assert_true(isfinite(r.ci_lo) && r.ci_lo < r.effect);
    assert_int_equal(rg_stats_counts(&r, -1, 0, 0.3, 10, 0.05, 1), RG_EINVALID);
    assert_int_equal(rg_stats_counts(&r, 1, 1, 1.0, 10, 0.05, 1), RG_EINVALID);
    assert_int_equal(rg_stats_counts(&r, 1, 1, 0.5, 0, 0.05, 1), RG_EINVALID);
    assert_int_equal(rg_stats_counts(&r, 1, 1, 0.5, 1, 0.05, 0), RG_EINVALID);
}

/* The verdict: rho0 from the pre-window rates and the post window's trials; the canary's
 * abandonment doubled (x 2.0) fails, and the reason names the test. */
static void test_verdict_uses_counts(void **state)
{
    rg_stats_cell cpre = {2000, 160}, cpost = {2000, 320}, kpre = {8000, 640}, kpost = {8000, 640};
    rg_stats_metric_input in = {0};
    rg_stats_verdict_params p = {0};
    rg_stats_verdict v;
    rg_stats_counts_result r;
    double mc = 160.5 / 2000.5 * 2000, mk = 640.5 / 8000.5 * 8000, rho0 = mc / (mc + mk);
    double tol = log1p(0.15);
    (void)state;

    in.name = "abandonment_rate";
    in.kind = RG_METRIC_PROPORTION;
    in.increase_is_bad = 1;
    in.tolerance_kind = RG_TOLERANCE_RELATIVE;
    in.tolerance = 0.15;
    in.canary_pre = (rg_stats_window){&cpre, 1};
    in.canary_post = (rg_stats_window){&cpost, 1};
    in.has_control = 1;
    in.control_pre = (rg_stats_window){&kpre, 1};
    in.control_post = (rg_stats_window){&kpost, 1};
    in.msprt_prev_p = 1;
    p.poll = 1;
    p.planned_polls = 6;
    p.alpha = 0.05;
    p.n_metrics = 1;
    p.sequential = RG_SEQUENTIAL_COUNTS;
    p.min_soak_reached = 1;
    p.post_share = 1;
    p.fail_rule = RG_FAIL_INTERVAL;
    assert_int_equal(rg_stats_verdict_compute(&v, &in, &p), 0);
    assert_int_equal(
        rg_stats_counts(&r, 320, 640, rho0, 1 / (tol * tol * rho0 * (1 - rho0)) - 1, 0.05, 1), 0);
    assert_float_equal(v.theta, r.effect, 1e-12);
    assert_float_equal(v.p_value, r.p_value, 1e-12);
    assert_float_equal(v.ci_lo, r.ci_lo, 1e-12);
    assert_int_equal(v.decision, RG_DECISION_FAIL);
    assert_non_null(strstr(v.reason, "counts test, always-valid p"));
    /* a mean metric under counts is judged as msprt */
    assert_int_equal(rg_sequential_kind_parse(&p.sequential, "counts"), 0);
    assert_string_equal(rg_sequential_kind_name(p.sequential), "counts");
}

/* sequential: counts and fail_rule: interval read, written to the storage form and back. */
static void test_policy_keys(void **state)
{
    static const char text[] =
        "alpha: 0.05\nsequential: counts\nfail_rule: interval\nmetrics:\n"
        "  - {name: abandonment_rate, kind: proportion, events: tAbandon, trials: nOffered,\n"
        "     increase_is_bad: true, tolerance: {relative: 0.15}, critical: true}\n";
    rg_policy *p = NULL, *q = NULL;
    json_t *doc = NULL;
    char *dump;
    (void)state;

    assert_int_equal(rg_policy_load_buffer(&p, "t.yaml", text, sizeof(text) - 1), 0);
    assert_int_equal(p->sequential, RG_SEQUENTIAL_COUNTS);
    assert_int_equal(p->fail_rule, RG_FAIL_INTERVAL);
    assert_int_equal(rg_policy_to_json(&doc, p), 0);
    assert_string_equal(json_string_value(json_object_get(doc, "sequential")), "counts");
    assert_string_equal(json_string_value(json_object_get(doc, "fail_rule")), "interval");
    dump = json_dumps(doc, 0);
    assert_int_equal(rg_policy_load_buffer(&q, "t.json", dump, strlen(dump)), 0);
    assert_true(rg_policy_equal(p, q));
    free(dump);
    json_decref(doc);
    rg_policy_free(q);
    rg_policy_free(p);
    assert_int_equal(rg_policy_load_buffer(&p, "t.yaml", "fail_rule: both\n", 16), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "fail_rule: expected estimate | interval"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_match_scipy),
        cmocka_unit_test(test_counts_edges),
        cmocka_unit_test(test_verdict_uses_counts),
        cmocka_unit_test(test_policy_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
