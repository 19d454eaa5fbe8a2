/* test_stats_verdict.c - per-metric verdicts on constructed per-org per-bucket aggregates */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/stats.h"

/* Demo volume: 4 canary and 4 control orgs, 1-minute buckets, 120 offered calls per minute. */
#define ORGS 4
#define BUCKETS 15
#define CALLS 120.0
#define CELLS (ORGS * BUCKETS)

typedef struct {
    rg_stats_cell canary_pre[CELLS], canary_post[CELLS], control_pre[CELLS], control_post[CELLS];
    rg_stats_metric_input metric;
} scenario;

/* Each cell gets `calls` trials and the expected number of events at `rate`. */
static void fill_proportion(rg_stats_cell *cells, double calls, double rate)
{
    for (int i = 0; i < CELLS; i++)
        cells[i] = (rg_stats_cell){calls, round(calls * rate)};
}

static void abandonment(scenario *s, double calls, const double rates[4])
{
    fill_proportion(s->canary_pre, calls, rates[0]);
    fill_proportion(s->canary_post, calls, rates[1]);
    fill_proportion(s->control_pre, calls, rates[2]);
    fill_proportion(s->control_post, calls, rates[3]);
    s->metric = (rg_stats_metric_input){.name = "abandonment_rate",
                                        .kind = RG_METRIC_PROPORTION,
                                        .increase_is_bad = 1,
                                        .tolerance_kind = RG_TOLERANCE_RELATIVE,
                                        .tolerance = 0.15,
                                        .critical = 1,
                                        .canary_pre = {s->canary_pre, (size_t)CELLS},
                                        .canary_post = {s->canary_post, (size_t)CELLS},
                                        .has_control = 1,
                                        .control_pre = {s->control_pre, (size_t)CELLS},
                                        .control_post = {s->control_post, (size_t)CELLS},
                                        .msprt_prev_p = 1.0};
}

/* Poll 3 of 6 (15-minute post window, 30-minute soak, 5-minute polls), two metrics. */
static rg_stats_verdict_params demo_params(void)
{
    rg_stats_verdict_params p = {.poll = 3,
                                 .planned_polls = 6,
                                 .alpha = 0.05,
                                 .n_metrics = 2,
                                 .sequential = RG_SEQUENTIAL_GROUP,
                                 .min_soak_reached = 1};
    return p;
}

static void test_spike_on_both_arms_never_fails(void **state)
{
    static scenario s;
    const double rates[4] = {0.05, 0.10, 0.05, 0.10}; /* peak hour doubles abandonment everywhere */
    rg_stats_verdict_params p = demo_params();
    rg_stats_verdict v;
    (void)state;
    abandonment(&s, CALLS, rates);
    for (int seq = 0; seq < 3; seq++) {
        p.sequential = (rg_sequential_kind)seq;
        assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
        assert_true(v.has_estimate);
        assert_true(fabs(v.theta) < 1e-12); /* the spike cancels in the difference of differences */
        assert_int_not_equal(v.decision, RG_DECISION_FAIL);
        printf("# spike, %s: %s - %s\n", rg_sequential_kind_name(p.sequential),
               rg_decision_name(v.decision), v.reason);
    }
    /* without the control the same data is a pre/post comparison and the spike looks real */
    s.metric.has_control = 0;
    p.sequential = RG_SEQUENTIAL_GROUP;
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
    assert_int_equal(v.decision, RG_DECISION_FAIL);
    assert_non_null(strstr(v.reason, "vs pre-change (no concurrent control)"));
}

static void test_canary_only_fifty_percent_fails(void **state)
{
    static scenario s;
    const double rates[4] = {0.05, 0.075, 0.05, 0.05};
    rg_stats_verdict_params p = demo_params();
    rg_stats_verdict v;
    double fractions[6] = {1.0 / 6, 2.0 / 6, 3.0 / 6, 4.0 / 6, 5.0 / 6, 1.0}, c[6];
    (void)state;
    abandonment(&s, CALLS, rates);
    assert_int_equal(rg_stats_obf_boundaries(c, fractions, 6, 0.025), 0);
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
    printf("# +50%%: %s - %s\n", rg_decision_name(v.decision), v.reason);
    assert_int_equal(v.decision, RG_DECISION_FAIL);
    assert_true(fabs(v.theta - log(1.5)) < 1e-12);
    assert_true(fabs(v.effect - 0.5) < 1e-12);
    assert_true(fabs(v.alpha_metric - 0.025) < 1e-15);
    assert_true(fabs(v.boundary - c[2]) < 1e-12);
    assert_true(v.z >= v.boundary && v.theta >= v.tolerance);
    /* V = sum of (1-p)/events over the four windows: 3 at 5 % (180 events), 1 at 7.5 % (540) */
    assert_true(fabs(v.v - (3 * 0.95 / 360.0 + 0.925 / 540.0)) < 1e-12);
    assert_true(fabs(v.tolerance - log(1.15)) < 1e-15);
    assert_true(strncmp(v.reason, "abandonment_rate +50% (", 23) == 0);
    assert_non_null(strstr(v.reason, "vs control; crossed 2.97 at poll 3/6"));
    /* the same effect a poll earlier with fewer polls planned crosses a higher boundary */
    p.poll = 1;
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
    assert_int_equal(v.decision, RG_DECISION_INCONCLUSIVE);
    assert_true(v.boundary > 5.0);
    assert_non_null(strstr(v.reason, "below"));
}

static void test_small_effect_at_huge_volume_passes(void **state)
{
    static scenario s;
    const double rates[4] = {0.05, 0.0525, 0.05, 0.05}; /* +5 %, tolerance 15 % */
    rg_stats_verdict_params p = demo_params();
    rg_stats_verdict v;
    (void)state;
    abandonment(&s, CALLS * 1000.0, rates);
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
    printf("# +5%% at huge volume: %s - %s\n", rg_decision_name(v.decision), v.reason);
    assert_true(v.z > v.boundary);                  /* statistically real ... */
    assert_int_equal(v.decision, RG_DECISION_PASS); /* ... but smaller than the tolerance */
    assert_true(v.theta + v.boundary * sqrt(v.v) < v.tolerance);
    assert_non_null(strstr(v.reason, "below the +15% tolerance at poll 3/6"));
    /* before the stabilization window is over the same numbers are not yet a pass */
    p.min_soak_reached = 0;
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
    assert_int_equal(v.decision, RG_DECISION_INCONCLUSIVE);
    assert_non_null(strstr(v.reason, "stabilization window not over"));
}

static void test_no_traffic_is_inconclusive(void **state)
{
    static scenario s;
    const double rates[4] = {0.05, 0.05, 0.05, 0.05};
    rg_stats_verdict_params p = demo_params();
    rg_stats_verdict v;
    (void)state;
    abandonment(&s, CALLS, rates);
    for (int i = 0; i < CELLS; i++)
        s.canary_post[i] = (rg_stats_cell){0, 0};
    for (int seq = 0; seq < 3; seq++) {
        p.sequential = (rg_sequential_kind)seq;
        assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
        assert_int_equal(v.decision, RG_DECISION_INCONCLUSIVE);
        assert_int_equal(v.has_estimate, 0);
        assert_string_equal(v.reason, "no traffic");
    }
    s.metric.canary_post = (rg_stats_window){NULL, 0};
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
    assert_string_equal(v.reason, "no traffic");
}

/* Speed of answer: `count` answered calls whose waits sum to `value` ms. */
static void fill_mean(rg_stats_cell *cells, int n, double calls, double mean_ms)
{
    for (int i = 0; i < n; i++) {
        double m = mean_ms + (i % 2 ? 2000.0 : -2000.0); /* buckets scatter +-2 s */
        cells[i] = (rg_stats_cell){calls, calls * m};
    }
}

static void test_mean_metric_in_seconds_and_single_bucket(void **state)
{
    static scenario s;
    rg_stats_verdict_params p = demo_params();
    rg_stats_verdict v;
    (void)state;
    fill_mean(s.canary_pre, CELLS, 100, 15000);
    fill_mean(s.canary_post, CELLS, 100, 30000);
    fill_mean(s.control_pre, CELLS, 100, 15000);
    fill_mean(s.control_post, CELLS, 100, 15000);
    s.metric = (rg_stats_metric_input){.name = "speed_of_answer",
                                       .kind = RG_METRIC_MEAN,
                                       .increase_is_bad = 1,
                                       .tolerance_kind = RG_TOLERANCE_ABSOLUTE,
                                       .tolerance = 10000.0,
                                       .canary_pre = {s.canary_pre, (size_t)CELLS},
                                       .canary_post = {s.canary_post, (size_t)CELLS},
                                       .has_control = 1,
                                       .control_pre = {s.control_pre, (size_t)CELLS},
                                       .control_post = {s.control_post, (size_t)CELLS}};
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
    printf("# speed of answer +15 s: %s - %s\n", rg_decision_name(v.decision), v.reason);
    assert_int_equal(v.decision, RG_DECISION_FAIL);
    assert_true(fabs(v.theta - 15.0) < 1e-9); /* seconds */
    assert_true(fabs(v.tolerance - 10.0) < 1e-12);
    /* between-bucket variance: 100 * 2^2 s^2 per bucket over 59 -> per window (400*60/59)/6000 */
    assert_true(fabs(v.v - 4.0 * (400.0 * 60.0 / 59.0) / 6000.0) < 1e-9);
    assert_true(strncmp(v.reason, "speed_of_answer +15.0 s (", 25) == 0);
    /* n = 1: a single bucket with data in the canary post window: no spread to estimate yet */
    s.metric.canary_post.n = 1;
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
    assert_int_equal(v.decision, RG_DECISION_INCONCLUSIVE);
    assert_int_equal(v.has_estimate, 0);
    assert_string_equal(v.reason, "not enough buckets yet for speed_of_answer (1 of 2) in the "
                                  "canary post window");
}

static void test_zero_events_everywhere_uses_half_rule(void **state)
{
    static scenario s;
    const double rates[4] = {0, 0, 0, 0};
    rg_stats_verdict_params p = demo_params();
    rg_stats_verdict v;
    (void)state;
    abandonment(&s, CALLS, rates);
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
    assert_int_equal(v.has_estimate, 1);
    /* each window: e = 1/2, n = 7200.5, Var(ln p) = (1 - p)/e */
    assert_true(fabs(v.v - 4.0 * (1.0 - 0.5 / 7200.5) / 0.5) < 1e-12);
    assert_true(fabs(v.theta) < 1e-12);
    assert_int_not_equal(v.decision, RG_DECISION_FAIL);
}

static void test_invalid_cells_and_params_name_the_field(void **state)
{
    static scenario s;
    const double rates[4] = {0.05, 0.05, 0.05, 0.05};
    rg_stats_verdict_params p = demo_params();
    rg_stats_verdict v;
    (void)state;
    abandonment(&s, CALLS, rates);
    s.control_post[7] = (rg_stats_cell){10, 11};
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), RG_EINVALID);
    assert_string_equal(rg_error_last(),
                        "abandonment_rate: control_post[7]: 11 events above their total 10 trials");
    s.control_post[7] = (rg_stats_cell){10, NAN};
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "control_post[7]: not a finite number"));
    s.control_post[7] = (rg_stats_cell){10, 1};
    p.poll = 7;
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), RG_EINVALID);
    assert_string_equal(rg_error_last(), "poll: 7 is outside the planned 1..6 polls");
    p = demo_params();
    p.n_metrics = 0;
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), RG_EINVALID);
}

static void test_msprt_carries_the_running_minimum(void **state)
{
    static scenario s;
    const double rates[4] = {0.05, 0.075, 0.05, 0.05};
    rg_stats_verdict_params p = demo_params();
    rg_stats_verdict v;
    (void)state;
    abandonment(&s, CALLS, rates);
    p.sequential = RG_SEQUENTIAL_MSPRT;
    s.metric.msprt_prev_p = 1e-6; /* an earlier poll already had strong evidence */
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
    assert_true(v.p_value == 1e-6);
    assert_int_equal(v.decision, RG_DECISION_FAIL);
    assert_true(v.ci_lo < v.theta && v.theta < v.ci_hi);
    assert_non_null(strstr(v.reason, "always-valid p 1e-06 <= 0.025 at poll 3"));
    p.sequential = RG_SEQUENTIAL_NONE;
    assert_int_equal(rg_stats_verdict_compute(&v, &s.metric, &p), 0);
    assert_true(fabs(v.boundary - 1.959963984540054) < 1e-9);
    assert_non_null(strstr(v.reason, "sequential: none"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spike_on_both_arms_never_fails),
        cmocka_unit_test(test_canary_only_fifty_percent_fails),
        cmocka_unit_test(test_small_effect_at_huge_volume_passes),
        cmocka_unit_test(test_no_traffic_is_inconclusive),
        cmocka_unit_test(test_mean_metric_in_seconds_and_single_bucket),
        cmocka_unit_test(test_zero_events_everywhere_uses_half_rule),
        cmocka_unit_test(test_invalid_cells_and_params_name_the_field),
        cmocka_unit_test(test_msprt_carries_the_running_minimum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
