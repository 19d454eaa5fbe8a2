/* test_store_sums.c - measurement cells summed by the database (rg_store_measurement_sums)
 * and batched puts (rg_store_measurement_put_many), checked against sums worked out here */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/store.h"
#include "rollgate/util.h"
#include "unit/test_store_fixture.h"

#define MAX_CELLS 16

typedef struct {
    char org[32];
    int64_t bucket;
    double a, b;
} seen_cell;

typedef struct {
    seen_cell cells[MAX_CELLS];
    size_t n;
    int stop_after; /* 0: never */
} seen;

static int collect(const char *org, int64_t bucket, double a, double b, void *payload)
{
    seen *s = payload;
    if (s->n >= MAX_CELLS)
        return -99;
    snprintf(s->cells[s->n].org, sizeof(s->cells[s->n].org), "%s", org);
    s->cells[s->n].bucket = bucket;
    s->cells[s->n].a = a;
    s->cells[s->n].b = b;
    s->n++;
    return s->stop_after && (int)s->n == s->stop_after ? 7 : 0;
}

static rg_store_measurement_in row(const char *rollout, const char *org, const char *queue,
                                   const char *metric, int64_t start, int64_t count, double sum)
{
    rg_store_measurement_in m = {0};
    m.rollout_id = (char *)rollout;
    m.tenant_id = (char *)"t1";
    m.org_id = (char *)org;
    m.queue_id = (char *)queue;
    m.metric = (char *)metric;
    m.bucket_start_ms = start;
    m.bucket_len_ms = 60000;
    m.count = count;
    m.sum = sum;
    return m;
}

/* Two queues of two orgs over two buckets, a metric that is not asked for, another rollout:
 * each cell sums its queues, per metric, in (org, bucket) order; absent metrics add 0. */
static void test_sums_per_org_and_bucket(void **state)
{
    store_fixture *fx = *state;
    rg_store_measurement_in rows[] = {
        row("r1", "org_b", "q1", "nOffered", 0, 10, NAN),
        row("r1", "org_b", "q2", "nOffered", 0, 5, NAN),
        row("r1", "org_b", "q1", "tAbandon", 0, 2, NAN),
        row("r1", "org_b", "q2", "tAbandon", 0, 1, NAN),
        row("r1", "org_b", "q1", "tAnswered", 0, 8, 4000.0), /* not asked for */
        row("r1", "org_a", "q1", "nOffered", 60000, 7, NAN),
        row("r1", "org_a", "q1", "nOffered", 0, 3, NAN),
        row("r1", "org_a", "q2", "tAbandon", 0, 4, NAN), /* no nOffered in q2 */
        row("r2", "org_a", "q1", "nOffered", 0, 1000, NAN),
    };
    seen s = {0};

    store_seed_rollout(fx->store, "t1", "r1");
    store_seed_rollout(fx->store, "t1", "r2");
    assert_int_equal(rg_store_begin(fx->store), 0);
    assert_int_equal(rg_store_measurement_put_many(fx->store, rows, 9), 0);
    assert_int_equal(rg_store_commit(fx->store), 0);
    assert_int_equal(
        rg_store_measurement_sums(fx->store, "t1", "r1", "nOffered", 0, "tAbandon", 0, collect, &s),
        0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.cells[0].org, "org_a");
    assert_int_equal(s.cells[0].bucket, 0);
    assert_true(s.cells[0].a == 3 && s.cells[0].b == 4);
    assert_string_equal(s.cells[1].org, "org_a");
    assert_int_equal(s.cells[1].bucket, 60000);
    assert_true(s.cells[1].a == 7 && s.cells[1].b == 0);
    assert_string_equal(s.cells[2].org, "org_b");
    assert_true(s.cells[2].a == 15 && s.cells[2].b == 3);
}

/* A mean metric: the same metric's counts and sums; a sum the platform did not give adds 0. */
static void test_sums_count_and_sum_of_one_metric(void **state)
{
    store_fixture *fx = *state;
    rg_store_measurement_in rows[] = {
        row("r1", "org_a", "q1", "tAnswered", 0, 4, 2000.5),
        row("r1", "org_a", "q2", "tAnswered", 0, 6, 3000.25),
        row("r1", "org_a", "q3", "tAnswered", 0, 1, NAN),
    };
    seen s = {0};

    store_seed_rollout(fx->store, "t1", "r1");
    assert_int_equal(rg_store_measurement_put_many(fx->store, rows, 3), 0);
    assert_int_equal(rg_store_measurement_sums(fx->store, "t1", "r1", "tAnswered", 0, "tAnswered",
                                               1, collect, &s),
                     0);
    assert_int_equal(s.n, 1);
    assert_true(s.cells[0].a == 11);
    assert_true(fabs(s.cells[0].b - 5000.75) < 1e-9);
}

/* The tenant scopes the scan; a callback's non-zero return stops it and is returned; a
 * batch with a row of an unknown rollout fails naming it, after the rows before it. */
static void test_sums_scoped_and_stoppable(void **state)
{
    store_fixture *fx = *state;
    rg_store_measurement_in rows[] = {
        row("r1", "org_a", "q1", "nOffered", 0, 1, NAN),
        row("r1", "org_b", "q1", "nOffered", 0, 2, NAN),
        row("nope", "org_c", "q1", "nOffered", 0, 3, NAN),
    };
    seen s = {0};

    store_seed_rollout(fx->store, "t1", "r1");
    assert_int_equal(rg_store_measurement_put_many(fx->store, rows, 3), RG_ENOTFOUND);
    assert_non_null(strstr(rg_error_last(), "nope"));
    assert_int_equal(
        rg_store_measurement_sums(fx->store, "t2", "r1", "nOffered", 0, "tAbandon", 0, collect, &s),
        0);
    assert_int_equal(s.n, 0);
    s.stop_after = 1;
    assert_int_equal(
        rg_store_measurement_sums(fx->store, "t1", "r1", "nOffered", 0, "tAbandon", 0, collect, &s),
        7);
    assert_int_equal(s.n, 1);
    assert_int_equal(
        rg_store_measurement_sums(fx->store, "t1", "r1", NULL, 0, "tAbandon", 0, collect, &s),
        RG_EINVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sums_per_org_and_bucket, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sums_count_and_sum_of_one_metric, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sums_scoped_and_stoppable, store_fixture_setup,
                                        store_fixture_teardown),
    };
    if (store_fixture_backend_missing())
        return store_fixture_exit(0);
    return store_fixture_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
