/* test_cxone_sim.c - the CXone driver against rollgate-sim speaking CXone: one password-grant
 * token and one discovery per brand shared across clients, credentials reaching another
 * tenant refused, a refused access key named without its secret, skill summaries one call
 * per bucket into the analytics buckets, and no secret or token in any debug log line */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/platform.h"
#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/testutil.h"

static rg_simproc sim;
static char dir[512];
static rg_buf captured = RG_BUF_INIT;

static void capture_sink(rg_log_level level, const char *component, const char *message,
                         void *payload)
{
    (void)level;
    (void)payload;
    rg_buf_printf(&captured, "%s: %s\n", component, message);
}

static json_t *brand(const char *id, int n)
{
    char cid[32], sec[32], ak[32], aks[32];
    snprintf(cid, sizeof(cid), "app-%d", n);
    snprintf(sec, sizeof(sec), "APPSECRET-%d", n);
    snprintf(ak, sizeof(ak), "ak-%d", n);
    snprintf(aks, sizeof(aks), "KEYSECRET-%d", n);
    json_t *b =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:[{s:s,s:i},{s:s,s:i}]}", "id", id, "driver", "cxone",
                  "client_id", cid, "client_secret", sec, "access_key_id", ak, "access_key_secret",
                  aks, "queues", "id", "101", "agents", 50, "id", "102", "agents", 50);
    /* the weight store routes every call to skill 101 */
    json_object_set_new(b, "datatables",
                        json_pack("[{s:s,s:{s:s,s:s},s:[{s:s,s:s,s:i}]}]", "id", "9000", "columns",
                                  "queue_a", "string", "weight_a", "integer", "rows", "key", "main",
                                  "queue_a", "101", "weight_a", 100));
    json_object_set_new(b, "routing",
                        json_pack("{s:s,s:s,s:i,s:{s:s}}", "datatable", "9000", "row", "main",
                                  "calls_per_min", 600, "weights", "weight_a", "queue_a"));
    return b;
}

static int setup(void **state)
{
    char path[700];
    json_t *doc;
    (void)state;
    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/scenario.json", dir);
    doc = json_pack("{s:i,s:f,s:i,s:[o,o]}", "seed", 3, "time_scale", 60.0, "token_ttl_s", 3600,
                    "orgs", brand("tenant-a", 1), brand("tenant-b", 2));
    assert_int_equal(json_dump_file(doc, path, 0), 0);
    json_decref(doc);
    if (rg_simproc_start(&sim, path) < 0)
        fail_msg("cannot start rollgate-sim: %s", rg_error_last());
    setenv("CXA_CLIENT_ID", "app-1", 1);
    setenv("CXA_CLIENT_SECRET", "APPSECRET-1", 1);
    setenv("CXA_ACCESS_KEY_ID", "ak-1", 1);
    setenv("CXA_ACCESS_KEY_SECRET", "KEYSECRET-1", 1);
    setenv("CXBAD_CLIENT_ID", "app-2", 1);
    setenv("CXBAD_CLIENT_SECRET", "APPSECRET-2", 1);
    setenv("CXBAD_ACCESS_KEY_ID", "ak-2", 1);
    setenv("CXBAD_ACCESS_KEY_SECRET", "WRONGKEY-2", 1);
    rg_log_set_sink(capture_sink, NULL, RG_LOG_DEBUG);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rg_log_set_sink(NULL, NULL, RG_LOG_ERROR);
    rg_simproc_stop(&sim);
    rg_buf_dispose(&captured);
    return 0;
}

static int add(rg_platform *p, const char *id, const char *source)
{
    char desc[300];
    rg_platform_org org = {id, desc, sim.url, source};
    snprintf(desc, sizeof(desc), "cxone:v31.0:600:notes::%s", sim.url);
    return rg_platform_add_org(p, &org);
}

static int count(const char *brand_id, const char *method, const char *prefix)
{
    json_t *log = rg_e2e_requests(&sim), *r;
    size_t i;
    int n = 0;

    assert_non_null(log);
    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        const char *o = json_string_value(json_object_get(r, "org"));
        const char *p = json_string_value(json_object_get(r, "path"));
        n += o && p && strcmp(o, brand_id) == 0 && strncmp(p, prefix, strlen(prefix)) == 0 &&
             strcmp(json_string_value(json_object_get(r, "method")), method) == 0;
    }
    json_decref(log);
    return n;
}

/* Two clients sharing a token cache: one token and one discovery for the brand. */
static void test_token_and_discovery_shared(void **state)
{
    rg_platform_tokens *tokens = NULL;
    rg_platform_options opts;
    (void)state;
    assert_int_equal(rg_platform_tokens_new(&tokens), 0);
    for (int round = 0; round < 2; round++) {
        rg_platform *p = NULL;
        rg_platform_options_init(&opts);
        opts.tokens = tokens;
        assert_int_equal(rg_platform_new(&p, &opts), 0);
        assert_int_equal(add(p, "tenant-a", "env:CXA"), 0);
        if (rg_platform_org_check(NULL, p, "tenant-a") < 0)
            fail_msg("org check: %s", rg_error_last());
        assert_int_equal(rg_platform_queue_exists(p, "tenant-a", "101"), 0);
        assert_int_equal(rg_platform_queue_exists(p, "tenant-a", "999"), RG_ENOTFOUND);
        /* the discovery step is no second token fetch; the second client fetches none */
        assert_int_equal(rg_platform_org_token_fetches(p, "tenant-a"), round == 0 ? 1 : 0);
        rg_platform_free(p);
    }
    assert_int_equal(count("tenant-a", "POST", "/auth/token"), 1);
    assert_int_equal(count("tenant-a", "GET", "/.well-known/cxone-configuration"), 1);
    assert_true(count("tenant-a", "GET", "/incontactapi/services/v31.0/skills") >= 4);
    rg_platform_tokens_free(tokens);
}

/* Brand A's credentials registered as brand B: the id_token names tenant-a, refused. */
static void test_other_tenant_refused(void **state)
{
    rg_platform *p = NULL;
    (void)state;
    assert_int_equal(rg_platform_new(&p, NULL), 0);
    assert_int_equal(add(p, "tenant-b", "env:CXA"), 0);
    assert_int_equal(rg_platform_org_check(NULL, p, "tenant-b"), RG_ECONFLICT);
    assert_non_null(strstr(rg_error_last(), "tenant-b"));
    assert_non_null(strstr(rg_error_last(), "tenant-a"));
    assert_null(strstr(rg_error_last(), "SECRET"));
    rg_platform_free(p);
}

static void test_refused_key_named_without_secret(void **state)
{
    rg_platform *p = NULL;
    (void)state;
    assert_int_equal(rg_platform_new(&p, NULL), 0);
    assert_int_equal(add(p, "tenant-b", "env:CXBAD"), 0);
    assert_int_equal(rg_platform_org_check(NULL, p, "tenant-b"), RG_EAUTH);
    assert_non_null(strstr(rg_error_last(), "brand tenant-b"));
    assert_non_null(strstr(rg_error_last(), "credentials refused"));
    assert_null(strstr(rg_error_last(), "WRONGKEY"));
    rg_platform_free(p);
}

/* Three one-minute buckets: three summary calls, every bucket filled from its own. */
static void test_summary_per_bucket(void **state)
{
    rg_platform *p = NULL;
    rg_platform_op *op = NULL;
    const char *queues[] = {"101", "102"};
    rg_platform_aggregates_query q;
    const rg_platform_aggregates *agg;
    int before = count("tenant-a", "GET", "/incontactapi/services/v31.0/skills/summary");
    int64_t now = rg_time_now_ms() / 60000 * 60000;
    (void)state;
    assert_int_equal(rg_platform_new(&p, NULL), 0);
    assert_int_equal(add(p, "tenant-a", "env:CXA"), 0);
    q.start_ms = now - 3LL * 60000;
    q.end_ms = now;
    q.granularity_ms = 60000;
    q.queue_ids = queues;
    q.nqueues = 2;
    assert_int_equal(rg_platform_queue_aggregates(&op, p, "tenant-a", &q, NULL, NULL), 0);
    assert_int_equal(rg_platform_run(p), 0);
    if (rg_platform_op_status(op) != 0)
        fail_msg("aggregates: %s", rg_platform_op_error(op));
    assert_non_null(agg = rg_platform_op_aggregates(op));
    assert_int_equal(agg->nqueues, 2);
    assert_int_equal(agg->queues[0].nbuckets, 3);
    for (size_t b = 0; b < 3; b++) {
        const rg_platform_bucket *bk = &agg->queues[0].buckets[b];
        assert_int_equal(bk->start_ms, q.start_ms + (int64_t)b * 60000);
        assert_true(bk->offered > 0);
        assert_true(bk->abandoned <= bk->offered);
        assert_true(bk->answered == 0 || bk->answered_sum_ms > 0);
    }
    assert_int_equal(
        count("tenant-a", "GET", "/incontactapi/services/v31.0/skills/summary") - before, 3);
    rg_platform_op_free(op);
    rg_platform_free(p);
}

/* Two-second tokens: the client refreshes at 80 % of the life while the old token serves, so
 * requests over five seconds never see a 401 and several password grants are made. */
static void test_token_refreshed_before_expiry(void **state)
{
    rg_platform *p = NULL;
    int64_t until;
    int before = count("tenant-a", "POST", "/auth/token"), refused = 0;
    (void)state;
    assert_int_equal(rg_simproc_faults(&sim, "{\"token_ttl_s\": 2}"), 0);
    assert_int_equal(rg_platform_new(&p, NULL), 0);
    assert_int_equal(add(p, "tenant-a", "env:CXA"), 0);
    until = rg_time_mono_ms() + 5000;
    while (rg_time_mono_ms() < until) {
        if (rg_platform_queue_exists(p, "tenant-a", "101") != 0)
            fail_msg("skill read: %s", rg_error_last());
        rg_e2e_sleep_ms(100);
    }
    {
        rg_platform_stats st;
        rg_platform_get_stats(&st, p);
        refused = (int)st.status_401;
    }
    assert_int_equal(refused, 0);
    assert_true(count("tenant-a", "POST", "/auth/token") - before >= 3);
    assert_int_equal(rg_simproc_faults(&sim, "{}"), 0);
    rg_platform_free(p);
}

/* Every debug line these tests logged: no secret, no access key secret, no token. */
static void test_no_secret_in_logs(void **state)
{
    (void)state;
    assert_true(captured.len > 0);
    assert_null(strstr(captured.ptr, "APPSECRET"));
    assert_null(strstr(captured.ptr, "KEYSECRET"));
    assert_null(strstr(captured.ptr, "WRONGKEY"));
    assert_null(strstr(captured.ptr, "Bearer"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_and_discovery_shared),
        cmocka_unit_test(test_other_tenant_refused),
        cmocka_unit_test(test_refused_key_named_without_secret),
        cmocka_unit_test(test_summary_per_bucket),
        cmocka_unit_test(test_token_refreshed_before_expiry),
        cmocka_unit_test(test_no_secret_in_logs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
