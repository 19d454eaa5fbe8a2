/* test_sim_telemetry.c - rollgate-sim telemetry: determinism, response to weights, events */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/simproc.h"
#include "support/testutil.h"

#define DEMO "sim/scenarios/demo.json"

/* POSTs an aggregate query for one organization; returns the raw body (caller frees). */
static char *aggregate(const rg_simproc *sim, const char *token, int64_t start, int64_t end,
                       const char *granularity)
{
    char auth[160], iv[96], body[512];
    const char *headers[] = {auth, NULL};
    rg_buf out = RG_BUF_INIT;
    long status = 0;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    rg_interval_format(iv, sizeof(iv), start, end);
    snprintf(body, sizeof(body),
             "{\"interval\":\"%s\",\"granularity\":\"%s\",\"groupBy\":[\"queueId\"],"
             "\"metrics\":[\"nOffered\",\"tAbandon\",\"tAnswered\",\"tHandle\"]}",
             iv, granularity);
    assert_int_equal(rg_simproc_request(sim, "POST",
                                        "/api/v2/analytics/conversations/aggregates/query", body,
                                        headers, &status, &out, NULL),
                     0);
    assert_int_equal(status, 200);
    return rg_buf_detach(&out);
}

/* Sums a metric's count over every group and bucket of a reply; counts buckets seen. */
static int64_t sum_count(const char *text, const char *metric, size_t *buckets)
{
    json_t *doc = json_loads(text, 0, NULL), *group, *bucket, *m;
    size_t i, j, k;
    int64_t total = 0;

    assert_non_null(doc);
    if (buckets)
        *buckets = 0;
    json_array_foreach(json_object_get(doc, "results"), i, group)
    {
        json_array_foreach(json_object_get(group, "data"), j, bucket)
        {
            if (buckets)
                (*buckets)++;
            json_array_foreach(
                json_object_get(bucket, "metrics"), k,
                m) if (strcmp(json_string_value(json_object_get(m, "metric")), metric) == 0)
                total += json_integer_value(json_object_get(json_object_get(m, "stats"), "count"));
        }
    }
    json_decref(doc);
    return total;
}

static void test_deterministic_across_processes(void **state)
{
    rg_simproc sim;
    char *token = NULL, *first = NULL, *again = NULL, *fresh = NULL;
    int64_t start = (rg_time_now_ms() / 1000 - 900) * 1000;

    (void)state;
    assert_int_equal(rg_simproc_start(&sim, DEMO), 0);
    assert_int_equal(rg_simproc_token(&sim, "cid-org_sub_002", "secret-org_sub_002", &token), 0);
    first = aggregate(&sim, token, start, start + 30000, "PT1S");
    again = aggregate(&sim, token, start, start + 30000, "PT1S");
    assert_string_equal(first, again);
    assert_true(sum_count(first, "nOffered", NULL) > 1000);
    free(token);
    assert_int_equal(rg_simproc_stop(&sim), 0);

    assert_int_equal(rg_simproc_start(&sim, DEMO), 0);
    assert_int_equal(rg_simproc_token(&sim, "cid-org_sub_002", "secret-org_sub_002", &token), 0);
    fresh = aggregate(&sim, token, start, start + 30000, "PT1S");
    assert_string_equal(first, fresh);
    assert_int_equal(rg_simproc_stop(&sim), 0);
    free(token);
    free(first);
    free(again);
    free(fresh);
}

/* Waits (polling the sim, not trusting a sleep) until `want` one-second buckets have elapsed. */
static char *await_buckets(const rg_simproc *sim, const char *token, int64_t start, int64_t end,
                           size_t want)
{
    int64_t deadline = rg_time_mono_ms() + (end - start) + 15000;
    size_t buckets = 0;
    char *text = NULL;

    while (rg_time_mono_ms() < deadline) {
        free(text);
        text = aggregate(sim, token, start, end, "PT1S");
        sum_count(text, "nOffered", &buckets);
        if (buckets >= want)
            return text;
        usleep(500 * 1000);
    }
    fail_msg("only %zu of %zu buckets elapsed", buckets, want);
    return text;
}

static void test_abandonment_follows_weights(void **state)
{
    const char *patch = "{\"targets\":[{\"type\":\"Queue\",\"id\":\"queue_global_001\","
                        "\"weight\":0,\"priority\":1},{\"type\":\"Queue\",\"id\":\"queue_v2\","
                        "\"weight\":100,\"priority\":1}]}";
    rg_simproc sim;
    char *token = NULL, *before = NULL, *after = NULL;
    char auth[160], if_match[96], etag[64];
    const char *get_headers[] = {auth, NULL}, *patch_headers[] = {auth, if_match, NULL};
    rg_buf body = RG_BUF_INIT, hdrs = RG_BUF_INIT;
    int64_t changed, n1, a1, n2, a2;
    double p1, p2, p, z;
    long status;

    (void)state;
    assert_int_equal(rg_simproc_start(&sim, DEMO), 0);
    assert_int_equal(rg_simproc_token(&sim, "cid-org_sub_003", "secret-org_sub_003", &token), 0);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    assert_int_equal(rg_simproc_request(&sim, "GET", "/api/v2/routing/strategies/strat_main", NULL,
                                        get_headers, &status, &body, &hdrs),
                     0);
    assert_non_null(rg_simproc_header(etag, sizeof(etag), &hdrs, "ETag"));
    snprintf(if_match, sizeof(if_match), "If-Match: %s", etag);
    rg_buf_clear(&body);
    changed = rg_time_now_ms();
    assert_int_equal(rg_simproc_request(&sim, "PATCH", "/api/v2/routing/strategies/strat_main",
                                        patch, patch_headers, &status, &body, NULL),
                     0);
    assert_int_equal(status, 200);
    /* Before: the 10 minutes up to the change. After: 20 whole seconds after it. */
    before =
        aggregate(&sim, token, (changed / 1000 - 600) * 1000, (changed / 1000) * 1000, "PT10M");
    after =
        await_buckets(&sim, token, (changed / 1000 + 1) * 1000, (changed / 1000 + 21) * 1000, 20);
    n1 = sum_count(before, "nOffered", NULL);
    a1 = sum_count(before, "tAbandon", NULL);
    n2 = sum_count(after, "nOffered", NULL);
    a2 = sum_count(after, "tAbandon", NULL);
    assert_true(n1 > 50000 && n2 > 2000);
    p1 = (double)a1 / (double)n1;
    p2 = (double)a2 / (double)n2;
    p = (double)(a1 + a2) / (double)(n1 + n2);
    z = (p2 - p1) / sqrt(p * (1 - p) * (1.0 / (double)n1 + 1.0 / (double)n2));
    fprintf(stderr, "abandonment %.4f (n %lld) -> %.4f (n %lld), z = %.2f\n", p1, (long long)n1, p2,
            (long long)n2, z);
    if (z <= 4)
        fail_msg("abandonment %.4f -> %.4f, z = %.2f (n1 %lld, n2 %lld)", p1, p2, z, (long long)n1,
                 (long long)n2);
    /* The queue in the after-window is queue_v2 only. */
    assert_non_null(strstr(after, "queue_v2"));
    assert_null(strstr(after, "queue_global_001"));
    assert_int_equal(rg_simproc_stop(&sim), 0);
    rg_buf_dispose(&body);
    rg_buf_dispose(&hdrs);
    free(token);
    free(before);
    free(after);
}

/* The counts of an org's one-second buckets from `start`, in order. */
static size_t bucket_counts(int64_t *out, size_t max, const char *text)
{
    json_t *doc = json_loads(text, 0, NULL), *bucket;
    size_t i, n = 0;

    assert_non_null(doc);
    json_array_foreach(json_object_get(json_array_get(json_object_get(doc, "results"), 0), "data"),
                       i, bucket)
    {
        if (n < max)
            out[n++] = json_integer_value(json_object_get(
                json_object_get(json_array_get(json_object_get(bucket, "metrics"), 0), "stats"),
                "count"));
    }
    json_decref(doc);
    return n;
}

static void spike_org(const rg_simproc *sim, const char *org, int64_t loaded, int named)
{
    char cid[64], secret[64];
    char *token = NULL, *text;
    int64_t counts[16], in_min = INT64_MAX, out_max = 0;

    snprintf(cid, sizeof(cid), "cid-%s", org);
    snprintf(secret, sizeof(secret), "secret-%s", org);
    assert_int_equal(rg_simproc_token(sim, cid, secret, &token), 0);
    text = await_buckets(sim, token, loaded - 3000, loaded + 8000, 11);
    assert_int_equal(bucket_counts(counts, 16, text), 11);
    /* Buckets 5..7 are [loaded+2s, loaded+5s): inside the event. */
    for (size_t i = 0; i < 11; i++) {
        if (i >= 5 && i < 8)
            in_min = counts[i] < in_min ? counts[i] : in_min;
        else
            out_max = counts[i] > out_max ? counts[i] : out_max;
    }
    if (named && !(in_min > out_max * 2))
        fail_msg("%s: spike buckets (min %lld) not above the others (max %lld)", org,
                 (long long)in_min, (long long)out_max);
    if (!named && in_min > out_max * 1.6)
        fail_msg("%s is not named but spiked: %lld vs %lld", org, (long long)in_min,
                 (long long)out_max);
    free(text);
    free(token);
}

static void test_event_spike_only_in_span(void **state)
{
    char path[4096], dir[4096], file[4200];
    json_t *doc, *st = NULL;
    rg_simproc sim;
    int64_t loaded;

    (void)state;
    rg_test_path(path, sizeof(path), "sim/scenarios/healthy.json");
    assert_non_null(doc = json_load_file(path, 0, NULL));
    json_object_set_new(doc, "events",
                        json_pack("[{s:[s,s],s:i,s:i,s:f}]", "orgs", "org_sub_002", "org_sub_003",
                                  "from_s", 2, "to_s", 5, "calls_mult", 4.0));
    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(file, sizeof(file), "%s/spike.json", dir);
    assert_int_equal(json_dump_file(doc, file, 0), 0);
    json_decref(doc);
    assert_int_equal(rg_simproc_start(&sim, file), 0);
    assert_int_equal(rg_simproc_state(&sim, &st), 0);
    loaded = json_integer_value(json_object_get(st, "loaded_at_ms"));
    json_decref(st);
    spike_org(&sim, "org_sub_002", loaded, 1);
    spike_org(&sim, "org_sub_003", loaded, 1);
    spike_org(&sim, "org_sub_004", loaded, 0);
    assert_int_equal(rg_simproc_stop(&sim), 0);
    rg_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic_across_processes),
        cmocka_unit_test(test_event_spike_only_in_span),
        cmocka_unit_test(test_abandonment_follows_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
