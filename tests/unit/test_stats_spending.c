/* test_stats_spending.c - the spending families (obrien-fleming, quadratic, pocock) against
 * tests/data/stats/spending_reference.out (SciPy's multivariate normal CDF and Brent's root
 * finder, tests/data/stats/spending_reference.py), the boundary cache and memo by family,
 * the verdict's use of the policy's family, and the policy key */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "rollgate/policy.h"
#include "rollgate/stats.h"
#include "rollgate/util.h"
#include "support/testutil.h"

#define MAX_ROWS 16

typedef struct {
    char family[32], design[32];
    double c[RG_STATS_MAX_LOOKS];
    size_t k;
} ref_row;

static ref_row rows[MAX_ROWS];
static size_t n_rows;

static const double *design_fractions(const char *design, size_t *k)
{
    static double k4[] = {0.25, 0.5, 0.75, 1.0};
    static double k6[] = {1 / 6.0, 2 / 6.0, 3 / 6.0, 4 / 6.0, 5 / 6.0, 1.0};
    static double obs[] = {0.24, 0.47, 0.65, 0.79, 0.90, 1.0};
    if (strcmp(design, "K4") == 0)
        return *k = 4, k4;
    if (strcmp(design, "K6") == 0)
        return *k = 6, k6;
    if (strcmp(design, "observed6") == 0)
        return *k = 6, obs;
    return *k = 0, NULL;
}

static int load_rows(void **state)
{
    char path[4096], line[1024];
    FILE *f;
    (void)state;
    rg_test_path(path, sizeof(path), "tests/data/stats/spending_reference.out");
    if (!(f = fopen(path, "r")))
        return -1;
    while (n_rows < MAX_ROWS && fgets(line, sizeof(line), f)) {
        ref_row *r = &rows[n_rows];
        int used = 0;
        char *p = line;
        if (sscanf(p, "%31s %31s%n", r->family, r->design, &used) != 2)
            continue;
        p += used;
        for (;;) {
            char *end = NULL;
            double x = strtod(p, &end);
            if (end == p || r->k >= RG_STATS_MAX_LOOKS)
                break;
            r->c[r->k++] = x;
            p = end;
        }
        n_rows++;
    }
    fclose(f);
    return n_rows == 9 ? 0 : -1;
}

static void test_boundaries_match_reference(void **state)
{
    rg_stats_cache *cache = NULL;
    (void)state;
    assert_int_equal(rg_stats_cache_new(&cache), 0);
    for (size_t i = 0; i < n_rows; i++) {
        rg_spending_kind kind;
        size_t k;
        const double *t = design_fractions(rows[i].design, &k);
        double b[RG_STATS_MAX_LOOKS], memo;
        const double *cached = NULL;

        assert_non_null(t);
        assert_int_equal(k, rows[i].k);
        assert_int_equal(rg_spending_kind_parse(&kind, rows[i].family), 0);
        assert_string_equal(rg_spending_kind_name(kind), rows[i].family);
        assert_int_equal(rg_stats_boundaries(b, t, k, 0.025, kind), 0);
        for (size_t j = 0; j < k; j++) {
            if (fabs(b[j] - rows[i].c[j]) > 1e-4)
                fail_msg("%s %s look %zu: %.6f, the reference %.6f", rows[i].family, rows[i].design,
                         j + 1, b[j], rows[i].c[j]);
            /* the memo extends a design look by look: the same arithmetic */
            assert_int_equal(rg_stats_cache_boundary_at(&memo, cache, t, j + 1, 0.025, kind), 0);
            assert_true(fabs(memo - b[j]) < 1e-12);
        }
        if (strcmp(rows[i].design, "observed6") != 0) {
            assert_int_equal(rg_stats_cache_boundaries(&cached, cache, 0.025, k, kind), 0);
            for (size_t j = 0; j < k; j++)
                assert_true(fabs(cached[j] - b[j]) < 1e-12);
        }
    }
    rg_stats_cache_free(cache);
}

/* alpha(t) of each family at a few points, from its closed form */
static void test_spent_closed_forms(void **state)
{
    (void)state;
    assert_true(fabs(rg_stats_spent(RG_SPENDING_QUADRATIC, 0.025, 0.5) - 0.00625) < 1e-15);
    assert_true(fabs(rg_stats_spent(RG_SPENDING_POCOCK, 0.025, 0.5) - 0.025 * 0.6201145069582775) <
                1e-15); /* ln(1 + (e - 1) / 2) */
    /* O'Brien-Fleming at t = 1/4: 2 - 2 Phi(2.241402727604947 / 0.5) */
    assert_true(fabs(rg_stats_spent(RG_SPENDING_OBRIEN_FLEMING, 0.025, 0.25) -
                     7.366808435937955e-06) < 1e-12);
    for (int kind = 0; kind <= RG_SPENDING_POCOCK; kind++) {
        assert_true(fabs(rg_stats_spent((rg_spending_kind)kind, 0.025, 1.0) - 0.025) < 1e-15);
        assert_true(rg_stats_spent((rg_spending_kind)kind, 0.025, 0.0) == 0.0);
    }
}

/* The cache keeps one design per family: asking for quadratic after obrien-fleming with the
 * same alpha and K must not return the other family's boundaries. */
static void test_cache_keys_by_family(void **state)
{
    rg_stats_cache *cache = NULL;
    const double *obf = NULL, *quad = NULL;
    double t[2] = {0.5, 1.0}, a, b;
    (void)state;
    assert_int_equal(rg_stats_cache_new(&cache), 0);
    assert_int_equal(rg_stats_cache_boundaries(&obf, cache, 0.025, 4, RG_SPENDING_OBRIEN_FLEMING),
                     0);
    assert_int_equal(rg_stats_cache_boundaries(&quad, cache, 0.025, 4, RG_SPENDING_QUADRATIC), 0);
    assert_true(fabs(obf[0] - 4.332634) < 2e-4);
    assert_true(fabs(quad[0] - 2.955167) < 2e-4);
    assert_int_equal(rg_stats_cache_boundary_at(&a, cache, t, 2, 0.025, RG_SPENDING_POCOCK), 0);
    assert_int_equal(rg_stats_cache_boundary_at(&b, cache, t, 2, 0.025, RG_SPENDING_QUADRATIC), 0);
    assert_true(fabs(a - b) > 0.01);
    assert_int_equal(rg_stats_cache_boundaries(&obf, cache, 0.025, 4, (rg_spending_kind)7),
                     RG_EINVALID);
    rg_stats_cache_free(cache);
}

/* A verdict at poll 1 of 4 (calendar fractions) reports the family's first boundary; an
 * unknown family is refused. */
static void test_verdict_uses_the_family(void **state)
{
    static const rg_stats_cell pre[] = {{1000, 80}}, post[] = {{1000, 84}};
    rg_stats_metric_input m = {0};
    rg_stats_verdict_params p = {0};
    rg_stats_verdict v;
    (void)state;
    m.name = "abandonment_rate";
    m.kind = RG_METRIC_PROPORTION;
    m.increase_is_bad = 1;
    m.tolerance_kind = RG_TOLERANCE_RELATIVE;
    m.tolerance = 0.15;
    m.canary_pre = (rg_stats_window){pre, 1};
    m.canary_post = (rg_stats_window){post, 1};
    p.poll = 1;
    p.planned_polls = 4;
    p.alpha = 0.05;
    p.n_metrics = 2; /* alpha_m = 0.025, the reference's level */
    p.sequential = RG_SEQUENTIAL_GROUP;
    p.spending = RG_SPENDING_QUADRATIC;
    assert_int_equal(rg_stats_verdict_compute(&v, &m, &p), 0);
    assert_true(fabs(v.boundary - 2.955167) < 2e-4);
    p.spending = RG_SPENDING_POCOCK;
    assert_int_equal(rg_stats_verdict_compute(&v, &m, &p), 0);
    assert_true(fabs(v.boundary - 2.368328) < 2e-4);
    p.spending = (rg_spending_kind)3;
    assert_int_equal(rg_stats_verdict_compute(&v, &m, &p), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "spending"));
}

static const char base_policy[] =
    "{\"metrics\": [{\"name\": \"abandonment_rate\", \"kind\": \"proportion\", \"events\": "
    "\"tAbandon\", \"trials\": \"nOffered\", \"increase_is_bad\": true, \"tolerance\": "
    "{\"relative\": 0.15}}]%s}";

static int load_policy(rg_policy **out, const char *extra)
{
    char doc[1024];
    snprintf(doc, sizeof(doc), base_policy, extra);
    return rg_policy_load_buffer(out, "test", doc, strlen(doc));
}

static void test_policy_key(void **state)
{
    rg_policy *p = NULL, *back = NULL;
    json_t *json = NULL;
    char *text = NULL;
    (void)state;
    assert_int_equal(load_policy(&p, ""), 0);
    assert_int_equal(p->spending, RG_SPENDING_OBRIEN_FLEMING);
    assert_int_equal(rg_policy_to_json(&json, p), 0);
    assert_null(
        json_object_get(json, "spending")); /* older normalised policies stay as they were */
    json_decref(json);
    rg_policy_free(p);

    assert_int_equal(load_policy(&p, ", \"spending\": \"pocock\""), 0);
    assert_int_equal(p->spending, RG_SPENDING_POCOCK);
    assert_int_equal(rg_policy_to_json(&json, p), 0);
    assert_string_equal(json_string_value(json_object_get(json, "spending")), "pocock");
    text = json_dumps(json, 0);
    assert_int_equal(rg_policy_load_buffer(&back, "again", text, strlen(text)), 0);
    assert_int_equal(rg_policy_equal(p, back), 1);
    back->spending = RG_SPENDING_QUADRATIC;
    assert_int_equal(rg_policy_equal(p, back), 0);
    free(text);
    json_decref(json);
    rg_policy_free(back);
    rg_policy_free(p);

    p = NULL;
    assert_int_equal(load_policy(&p, ", \"spending\": \"linear\""), RG_EINVALID);
    assert_null(p);
    assert_non_null(strstr(rg_error_last(), "spending"));
    assert_non_null(strstr(rg_error_last(), "quadratic"));

    /* the shipped policy uses quadratic spending */
    assert_int_equal(rg_policy_load(&p, "contact-center", NULL), 0);
    assert_int_equal(p->spending, RG_SPENDING_QUADRATIC);
    rg_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundaries_match_reference),
        cmocka_unit_test(test_spent_closed_forms),
        cmocka_unit_test(test_cache_keys_by_family),
        cmocka_unit_test(test_verdict_uses_the_family),
        cmocka_unit_test(test_policy_key),
    };
    return cmocka_run_group_tests(tests, load_rows, NULL);
}
