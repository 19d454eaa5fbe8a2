/* test_stats_edge.c - docs/statistics.md edge cases: errors, not NaNs; p = 1 where no evidence */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/stats.h"

static void test_empty_sample_is_invalid(void **state)
{
    double y[3] = {1, 2, 3};
    rg_stats_mwu_result m = {7, 7, RG_MWU_AUTO};
    rg_stats_welch_result w = {7, 7, 7};
    rg_stats_hl_result h = {7, 7, 7};
    (void)state;
    assert_int_equal(rg_stats_mann_whitney(&m, NULL, 0, y, 3, RG_ALT_TWO_SIDED, RG_MWU_AUTO, 1),
                     RG_EINVALID);
    assert_string_equal(rg_error_last(), "x: empty sample");
    assert_true(m.p_value == 7); /* untouched */
    assert_int_equal(rg_stats_welch(&w, y, 3, y, 0, RG_ALT_TWO_SIDED), RG_EINVALID);
    assert_string_equal(rg_error_last(), "y: empty sample");
    assert_int_equal(rg_stats_hodges_lehmann(&h, NULL, 0, y, 3, 0.95, RG_ALT_TWO_SIDED),
                     RG_EINVALID);
    assert_string_equal(rg_error_last(), "x: empty sample");
    assert_true(w.p_value == 7 && h.estimate == 7);
}

static void test_non_finite_input_is_invalid(void **state)
{
    double x[3] = {1, 2, 3}, bad[3] = {1, 2, NAN}, inf[2] = {INFINITY, 1};
    rg_stats_mwu_result m;
    rg_stats_welch_result w;
    rg_stats_msprt_result r;
    (void)state;
    assert_int_equal(rg_stats_mann_whitney(&m, x, 3, bad, 3, RG_ALT_LESS, RG_MWU_AUTO, 1),
                     RG_EINVALID);
    assert_string_equal(rg_error_last(), "y[2]: not a finite number");
    assert_int_equal(rg_stats_welch(&w, inf, 2, x, 3, RG_ALT_TWO_SIDED), RG_EINVALID);
    assert_string_equal(rg_error_last(), "x[0]: not a finite number");
    assert_int_equal(rg_stats_msprt(&r, NAN, 1, 0, 1, 0.05, 1), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "theta"));
    assert_int_equal(rg_stats_msprt(&r, 1, 0, 0, 1, 0.05, 1), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "v:"));
}

static void test_count_above_total_is_invalid(void **state)
{
    rg_stats_z_result z = {7, 7};
    double theta, v;
    int64_t negative[2][2] = {{1, -1}, {2, 3}};
    rg_stats_fisher_result f;
    (void)state;
    assert_int_equal(rg_stats_two_proportion(&z, 11, 10, 1, 10, RG_ALT_TWO_SIDED), RG_EINVALID);
    assert_string_equal(rg_error_last(), "x1: count 11 is above its total n1 = 10");
    assert_int_equal(rg_stats_two_proportion(&z, 1, 10, 1, 0, RG_ALT_TWO_SIDED), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "n2"));
    assert_true(z.p_value == 7);
    assert_int_equal(rg_stats_proportion_difference(&theta, &v, 1, 10, 12, 11), RG_EINVALID);
    assert_string_equal(rg_error_last(), "x_b: count 12 is above its total n_b = 11");
    assert_int_equal(rg_stats_fisher(&f, (const int64_t(*)[2])negative, RG_ALT_TWO_SIDED),
                     RG_EINVALID);
    assert_string_equal(rg_error_last(), "table[0][1]: must not be negative");
}

static void test_both_samples_constant_give_p_one(void **state)
{
    double x[4] = {5, 5, 5, 5}, y[3] = {5, 5, 5}, other[3] = {6, 6, 6};
    rg_stats_mwu_result m;
    rg_stats_welch_result w;
    (void)state;
    for (int alt = 0; alt < 3; alt++) {
        assert_int_equal(
            rg_stats_mann_whitney(&m, x, 4, y, 3, (rg_stats_alternative)alt, RG_MWU_ASYMPTOTIC, 0),
            0);
        assert_true(m.p_value == 1.0);
        assert_true(m.statistic == 6.0); /* U = nx*ny/2: every pair tied */
        assert_int_equal(rg_stats_welch(&w, x, 4, y, 3, (rg_stats_alternative)alt), 0);
        assert_true(w.p_value == 1.0 && w.statistic == 0.0 && w.df == 5.0);
    }
    /* constant but different: Welch's t is infinite, an error with the reason, not a NaN */
    assert_int_equal(rg_stats_welch(&w, x, 4, other, 3, RG_ALT_TWO_SIDED), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "both samples are constant"));
}

static void test_n_one_makes_welch_undefined(void **state)
{
    double x[1] = {10}, y[5] = {1, 2, 3, 4, 5};
    rg_stats_welch_result w = {7, 7, 7};
    (void)state;
    assert_int_equal(rg_stats_welch(&w, x, 1, y, 5, RG_ALT_TWO_SIDED), RG_EINVALID);
    assert_string_equal(rg_error_last(),
                        "x: Welch's t is undefined with n = 1 (no variance estimate)");
    assert_true(w.statistic == 7);
}

static void test_zero_events_both_arms(void **state)
{
    int64_t table[2][2] = {{0, 0}, {500, 480}};
    rg_stats_fisher_result f;
    rg_stats_z_result z;
    double theta, v;
    (void)state;
    for (int alt = 0; alt < 3; alt++) {
        assert_int_equal(rg_stats_fisher(&f, (const int64_t(*)[2])table, (rg_stats_alternative)alt),
                         0);
        assert_true(f.p_value == 1.0);
        assert_true(isnan(f.odds_ratio));
        assert_int_equal(rg_stats_two_proportion(&z, 0, 500, 0, 480, (rg_stats_alternative)alt), 0);
        assert_true(z.p_value == 1.0 && z.statistic == 0.0);
    }
    assert_int_equal(rg_stats_proportion_difference(&theta, &v, 0, 500, 0, 480), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "variance is zero"));
}

static void test_mann_whitney_exact_small_and_limit(void **state)
{
    /* complete separation n=3 vs 4: exact P(U >= 12) = 1/C(7,3) = 1/35 */
    double x[3] = {10, 11, 12}, y[4] = {1, 2, 3, 4};
    static double big_x[201], big_y[201];
    rg_stats_mwu_result m;
    (void)state;
    assert_int_equal(rg_stats_mann_whitney(&m, x, 3, y, 4, RG_ALT_GREATER, RG_MWU_AUTO, 1), 0);
    assert_int_equal(m.method, RG_MWU_EXACT);
    assert_true(m.statistic == 12.0);
    assert_true(fabs(m.p_value - 1.0 / 35.0) < 1e-15);
    for (int i = 0; i < 201; i++) {
        big_x[i] = i + 0.5;
        big_y[i] = i;
    }
    assert_int_equal(
        rg_stats_mann_whitney(&m, big_x, 201, big_y, 201, RG_ALT_GREATER, RG_MWU_EXACT, 1),
        RG_ELIMIT);
    assert_non_null(strstr(rg_error_last(), "method: exact"));
}

static void test_boundaries_reject_bad_designs(void **state)
{
    double out[3], backwards[3] = {0.5, 0.4, 1.0}, outside[2] = {0.5, 1.5};
    double ok[3] = {1.0 / 3, 2.0 / 3, 1.0};
    (void)state;
    assert_int_equal(rg_stats_obf_boundaries(out, backwards, 3, 0.025), RG_EINVALID);
    assert_string_equal(rg_error_last(), "fractions[1]: must increase");
    assert_int_equal(rg_stats_obf_boundaries(out, outside, 2, 0.025), RG_EINVALID);
    assert_string_equal(rg_error_last(), "fractions[1]: must be in (0, 1]");
    assert_int_equal(rg_stats_obf_boundaries(out, ok, 3, 0.7), RG_EINVALID);
    assert_int_equal(rg_stats_obf_boundaries(out, ok, 3, 0.025), 0);
    /* O'Brien-Fleming: strictly decreasing, the last near the fixed-sample z */
    assert_true(out[0] > out[1] && out[1] > out[2]);
    assert_true(out[2] > 1.96 && out[2] < 2.1);
}

typedef struct {
    rg_stats_cache *cache;
    const double *got;
    int rc;
} cache_job;

static void *ask_cache(void *payload)
{
    cache_job *job = payload;
    job->rc =
        rg_stats_cache_boundaries(&job->got, job->cache, 0.025, 12, RG_SPENDING_OBRIEN_FLEMING);
    return NULL;
}

static void test_cache_is_shared_safely(void **state)
{
    rg_stats_cache *cache = NULL;
    pthread_t threads[4];
    cache_job jobs[4];
    const double *again = NULL;
    (void)state;
    assert_int_equal(rg_stats_cache_new(&cache), 0);
    for (int i = 0; i < 4; i++) {
        jobs[i] = (cache_job){cache, NULL, -99};
        assert_int_equal(pthread_create(&threads[i], NULL, ask_cache, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(jobs[i].rc, 0);
        assert_ptr_equal(jobs[i].got, jobs[0].got); /* computed once */
    }
    assert_int_equal(
        rg_stats_cache_boundaries(&again, cache, 0.025, 12, RG_SPENDING_OBRIEN_FLEMING), 0);
    assert_ptr_equal(again, jobs[0].got);
    assert_true(fabs(again[11] - 2.0930636687864723) < 1e-4);
    assert_int_equal(rg_stats_cache_boundaries(&again, cache, 0.025, 0, RG_SPENDING_OBRIEN_FLEMING),
                     RG_EINVALID);
    rg_stats_cache_free(cache);
    rg_stats_cache_free(NULL);
}

static void test_parsers_name_the_field(void **state)
{
    rg_stats_alternative alt = RG_ALT_LESS;
    rg_stats_mwu_method method;
    rg_sequential_kind seq;
    (void)state;
    assert_int_equal(rg_stats_alternative_parse(&alt, "greater"), 0);
    assert_int_equal(alt, RG_ALT_GREATER);
    assert_int_equal(rg_stats_alternative_parse(&alt, "bigger"), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "alternative:"));
    assert_int_equal(rg_stats_mwu_method_parse(&method, "exact"), 0);
    assert_int_equal(method, RG_MWU_EXACT);
    assert_int_equal(rg_stats_mwu_method_parse(&method, "fast"), RG_EINVALID);
    assert_int_equal(rg_sequential_kind_parse(&seq, "msprt"), 0);
    assert_int_equal(seq, RG_SEQUENTIAL_MSPRT);
    assert_int_equal(rg_sequential_kind_parse(&seq, "bayes"), RG_EINVALID);
    assert_string_equal(rg_decision_name(RG_DECISION_FAIL), "fail");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_sample_is_invalid),
        cmocka_unit_test(test_non_finite_input_is_invalid),
        cmocka_unit_test(test_count_above_total_is_invalid),
        cmocka_unit_test(test_both_samples_constant_give_p_one),
        cmocka_unit_test(test_n_one_makes_welch_undefined),
        cmocka_unit_test(test_zero_events_both_arms),
        cmocka_unit_test(test_mann_whitney_exact_small_and_limit),
        cmocka_unit_test(test_boundaries_reject_bad_designs),
        cmocka_unit_test(test_cache_is_shared_safely),
        cmocka_unit_test(test_parsers_name_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
