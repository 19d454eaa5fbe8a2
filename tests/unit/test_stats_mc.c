/* test_stats_mc.c - Monte Carlo: the 12-poll group-sequential false-fail rate stays at alpha */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "rollgate/stats.h"

/*
 * No true effect: 4 canary and 4 control orgs, 120 offered calls per org-minute, 5 %
 * abandonment, a 30-minute pre window and a post window growing 5 minutes per poll over
 * K = 12 polls. Tolerance 0 so that only the test's error rate is measured. A replication is a
 * false fail when any poll fails.
 */
#define REPLICATIONS 1000
#define POLLS 12
#define ORGS 4
#define PRE_BUCKETS 30
#define BUCKETS_PER_POLL 5
#define POST_BUCKETS (POLLS * BUCKETS_PER_POLL)
#define CALLS 120
#define RATE 0.05
#define ALPHA 0.05

typedef struct {
    rg_stats_cell canary_pre[ORGS * PRE_BUCKETS], control_pre[ORGS * PRE_BUCKETS];
    rg_stats_cell canary_post[ORGS * POST_BUCKETS], control_post[ORGS * POST_BUCKETS];
} replication;

static void draw(gsl_rng *rng, rg_stats_cell *cells, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cells[i] = (rg_stats_cell){CALLS, (double)gsl_ran_binomial(rng, RATE, CALLS)};
}

/* 1 when any of the 12 polls fails under `seq`. Post cells are ordered by bucket, then org. */
static int ever_fails(const replication *r, rg_sequential_kind seq, rg_stats_cache *cache)
{
    rg_stats_metric_input m = {.name = "abandonment_rate",
                               .kind = RG_METRIC_PROPORTION,
                               .increase_is_bad = 1,
                               .tolerance_kind = RG_TOLERANCE_RELATIVE,
                               .tolerance = 0.0,
                               .canary_pre = {r->canary_pre, (size_t)ORGS * PRE_BUCKETS},
                               .has_control = 1,
                               .control_pre = {r->control_pre, (size_t)ORGS * PRE_BUCKETS},
                               .msprt_prev_p = 1.0};
    rg_stats_verdict_params p = {.planned_polls = POLLS,
                                 .alpha = ALPHA,
                                 .n_metrics = 1,
                                 .sequential = seq,
                                 .tau2 = 0.3 * 0.3,
                                 .cache = cache};
    rg_stats_verdict v;

    for (int k = 1; k <= POLLS; k++) {
        size_t cells = (size_t)k * BUCKETS_PER_POLL * ORGS;
        m.canary_post = (rg_stats_window){r->canary_post, cells};
        m.control_post = (rg_stats_window){r->control_post, cells};
        p.poll = k;
        assert_int_equal(rg_stats_verdict_compute(&v, &m, &p), 0);
        assert_true(v.has_estimate);
        if (v.decision == RG_DECISION_FAIL)
            return 1;
        m.msprt_prev_p = v.p_value;
    }
    return 0;
}

static void test_group_sequential_false_fail_rate(void **state)
{
    static replication r;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    rg_stats_cache *cache = NULL;
    int fails[3] = {0, 0, 0};
    double se = sqrt(ALPHA * (1.0 - ALPHA) / REPLICATIONS), bound = ALPHA + 3.0 * se, rate[3];
    (void)state;
    assert_non_null(rng);
    gsl_rng_set(rng, 20240611UL);
    assert_int_equal(rg_stats_cache_new(&cache), 0);
    for (int rep = 0; rep < REPLICATIONS; rep++) {
        draw(rng, r.canary_pre, (size_t)ORGS * PRE_BUCKETS);
        draw(rng, r.control_pre, (size_t)ORGS * PRE_BUCKETS);
        draw(rng, r.canary_post, ORGS * (size_t)POST_BUCKETS);
        draw(rng, r.control_post, ORGS * (size_t)POST_BUCKETS);
        for (int seq = 0; seq < 3; seq++)
            fails[seq] += ever_fails(&r, (rg_sequential_kind)seq, cache);
    }
    for (int seq = 0; seq < 3; seq++) {
        rate[seq] = (double)fails[seq] / REPLICATIONS;
        printf("# false-fail rate over %d polls, %d replications, sequential %s: %.3f "
               "(bound %.4f)\n",
               POLLS, REPLICATIONS, rg_sequential_kind_name((rg_sequential_kind)seq), rate[seq],
               bound);
    }
    assert_true(rate[RG_SEQUENTIAL_GROUP] <= bound);
    assert_true(rate[RG_SEQUENTIAL_MSPRT] <= bound);
    /* testing at alpha at every poll is what the sequential design prevents */
    assert_true(rate[RG_SEQUENTIAL_NONE] > bound + 3.0 * se);
    rg_stats_cache_free(cache);
    gsl_rng_free(rng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_sequential_false_fail_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
