/* test_platform_offline.c - the platform client's checks that need no server: credentials,
 * URLs, response headers, rate budget, backoff, and strict analytics parsing */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "platform/client.h"
#include "support/testutil.h"

static void test_env_name(void **state)
{
    char name[64];
    (void)state;
    assert_int_equal(rg_platform_env_name(name, sizeof(name), "org-sub.002", "CLIENT_ID"), 0);
    assert_string_equal(name, "ROLLGATE_ORG_SUB_002_CLIENT_ID");
    assert_int_equal(rg_platform_env_name(name, 10, "org_sub_002", "CLIENT_ID"), RG_ELIMIT);
}

static rg_platform *new_client(int insecure)
{
    rg_platform_options o;
    rg_platform *p = NULL;
    rg_platform_options_init(&o);
    o.insecure = insecure;
    assert_int_equal(rg_platform_new(&p, &o), 0);
    return p;
}

static void test_env_credentials(void **state)
{
    rg_platform *p = new_client(0);
    rg_platform_org org = {"org.env-1", "https://api.example.com", "https://login.example.com",
                           "env"};
    (void)state;

    unsetenv("ROLLGATE_ORG_ENV_1_CLIENT_ID");
    unsetenv("ROLLGATE_ORG_ENV_1_CLIENT_SECRET");
    assert_int_equal(rg_platform_add_org(p, &org), RG_EAUTH);
    assert_non_null(strstr(rg_error_last(), "ROLLGATE_ORG_ENV_1_CLIENT_ID"));
    setenv("ROLLGATE_ORG_ENV_1_CLIENT_ID", "cid", 1);
    assert_int_equal(rg_platform_add_org(p, &org), RG_EAUTH);
    assert_non_null(strstr(rg_error_last(), "ROLLGATE_ORG_ENV_1_CLIENT_SECRET"));
    setenv("ROLLGATE_ORG_ENV_1_CLIENT_SECRET", "topsecret-env", 1);
    assert_int_equal(rg_platform_add_org(p, &org), 0);
    assert_true(rg_platform_has_org(p, "org.env-1"));
    assert_int_equal(rg_platform_add_org(p, &org), RG_ECONFLICT);
    assert_null(strstr(rg_error_last(), "topsecret-env"));
    rg_platform_free(p);
}

static void test_file_credentials(void **state)
{
    char dir[4096], path[4200], source[4300];
    rg_platform *p = new_client(0);
    rg_platform_org org = {"org_a", "https://api.example.com", "https://login.example.com", source};
    rg_org *registered;
    (void)state;

    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/creds.json", dir);
    snprintf(source, sizeof(source), "file:%s", path);
    assert_int_equal(rg_test_write_file(path, "{\"org_a\":{\"client_id\":\"cid-a\","
                                              "\"client_secret\":\"file-secret-a\"},"
                                              "\"org_b\":{\"client_id\":\"cid-b\"}}"),
                     0);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(rg_platform_add_org(p, &org), RG_EAUTH);
    assert_non_null(strstr(rg_error_last(), "0644"));
    assert_non_null(strstr(rg_error_last(), "0600"));
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(rg_platform_add_org(p, &org), 0);
    registered = rg_platform__org(p, "org_a");
    assert_string_equal(registered->client_id, "cid-a");
    assert_string_equal(registered->client_secret, "file-secret-a");
    /* Never borrowed from another org; a half entry names what is missing. */
    org.id = "org_b";
    assert_int_equal(rg_platform_add_org(p, &org), RG_EAUTH);
    assert_non_null(strstr(rg_error_last(), "client_secret"));
    org.id = "org_c";
    assert_int_equal(rg_platform_add_org(p, &org), RG_EAUTH);
    assert_non_null(strstr(rg_error_last(), "no object"));
    assert_int_equal(rg_test_write_file(path, "{\"org_c\": \"file-secret-c\""), 0);
    assert_int_equal(rg_platform_add_org(p, &org), RG_EINVALID);
    assert_null(strstr(rg_error_last(), "file-secret-c"));
    org.credentials = "vault:x";
    assert_int_equal(rg_platform_add_org(p, &org), RG_EINVALID);
    rg_platform_free(p);
    rg_test_rmtree(dir);
}

/* A credentials batch (as the engine registers 10,000 orgs): the same answers as one call at
 * a time, every error naming its own org, and an environment changed after the index was
 * built read afresh. */
static void test_credentials_batch(void **state)
{
    char dir[4096], path[4200], source[4300];
    rg_platform *p = new_client(0);
    rg_platform_org org = {"org_a", "https://api.example.com", "https://login.example.com", source};
    (void)state;

    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/creds.json", dir);
    snprintf(source, sizeof(source), "file:%s", path);
    assert_int_equal(rg_test_write_file(path, "{\"org_a\":{\"client_id\":\"cid-a\","
                                              "\"client_secret\":\"batch-secret-a\"},"
                                              "\"org_b\":{\"client_id\":\"cid-b\","
                                              "\"client_secret\":\"batch-secret-b\"}}"),
                     0);
    assert_int_equal(chmod(path, 0644), 0);
    rg_platform_credentials_begin(p);
    /* an unsafe file: each org's error names that org, the first and the next */
    assert_int_equal(rg_platform_add_org(p, &org), RG_EAUTH);
    assert_non_null(strstr(rg_error_last(), "org org_a: credentials file"));
    assert_non_null(strstr(rg_error_last(), "0644"));
    org.id = "org_b";
    assert_int_equal(rg_platform_add_org(p, &org), RG_EAUTH);
    assert_non_null(strstr(rg_error_last(), "org org_b: credentials file"));
    assert_non_null(strstr(rg_error_last(), "0644"));
    assert_null(strstr(rg_error_last(), "org_a"));
    rg_platform_credentials_end(p);

    assert_int_equal(chmod(path, 0600), 0);
    rg_platform_credentials_begin(p);
    org.id = "org_a";
    assert_int_equal(rg_platform_add_org(p, &org), 0);
    org.id = "org_b";
    assert_int_equal(rg_platform_add_org(p, &org), 0);
    org.id = "org_c";
    assert_int_equal(rg_platform_add_org(p, &org), RG_EAUTH);
    assert_non_null(strstr(rg_error_last(), "org org_c: credentials file"));
    assert_non_null(strstr(rg_error_last(), "no object"));
    rg_platform_credentials_end(p);
    assert_string_equal(rg_platform__org(p, "org_a")->client_secret, "batch-secret-a");
    assert_string_equal(rg_platform__org(p, "org_b")->client_id, "cid-b");
    assert_string_equal(rg_platform__org(p, "org_b")->client_secret, "batch-secret-b");

    /* env: the index answers, a variable set or changed after it was built is read afresh */
    setenv("ROLLGATE_ORG_E1_CLIENT_ID", "cid-e1", 1);
    setenv("ROLLGATE_ORG_E1_CLIENT_SECRET", "env-secret-e1", 1);
    unsetenv("ROLLGATE_ORG_E2_CLIENT_ID");
    unsetenv("ROLLGATE_ORG_E2_CLIENT_SECRET");
    setenv("ROLLGATE_ORG_E3_CLIENT_ID", "cid-e3", 1);
    setenv("ROLLGATE_ORG_E3_CLIENT_SECRET", "env-secret-e3-old", 1);
    org.credentials = "env";
    rg_platform_credentials_begin(p);
    org.id = "org_e1";
    assert_int_equal(rg_platform_add_org(p, &org), 0);
    org.id = "org_e2";
    assert_int_equal(rg_platform_add_org(p, &org), RG_EAUTH);
    assert_non_null(strstr(rg_error_last(), "ROLLGATE_ORG_E2_CLIENT_ID"));
    setenv("ROLLGATE_ORG_E2_CLIENT_ID", "cid-e2", 1);
    setenv("ROLLGATE_ORG_E2_CLIENT_SECRET", "env-secret-e2", 1);
    assert_int_equal(rg_platform_add_org(p, &org), 0);
    /* indexed with its old value when org_e1 was looked up */
    setenv("ROLLGATE_ORG_E3_CLIENT_SECRET", "env-secret-e3-new", 1);
    org.id = "org_e3";
    assert_int_equal(rg_platform_add_org(p, &org), 0);
    rg_platform_credentials_end(p);
    assert_string_equal(rg_platform__org(p, "org_e1")->client_secret, "env-secret-e1");
    assert_string_equal(rg_platform__org(p, "org_e2")->client_id, "cid-e2");
    assert_string_equal(rg_platform__org(p, "org_e2")->client_secret, "env-secret-e2");
    assert_string_equal(rg_platform__org(p, "org_e3")->client_secret, "env-secret-e3-new");
    /* a batch left open is closed by the free (ASan: nothing leaks) */
    rg_platform_credentials_begin(p);
    org.id = "org_a";
    org.credentials = source;
    assert_int_equal(rg_platform_add_org(p, &org), RG_ECONFLICT);
    org.id = "org_d";
    assert_int_equal(rg_platform_add_org(p, &org), RG_EAUTH);
    rg_platform_free(p);
    rg_test_rmtree(dir);
}

static void test_url_rules(void **state)
{
    rg_platform *secure = new_client(0), *insecure = new_client(1);
    rg_platform_org org = {"o1", "http://api.example.com", "https://login.example.com", NULL};
    (void)state;

    assert_int_equal(rg_platform_add_org_secret(secure, &org, "id", "sec"), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "loopback"));
    org.api_url = "https://api.example.com/";
    assert_int_equal(rg_platform_add_org_secret(insecure, &org, "id", "sec"), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "TLS verification"));
    assert_int_equal(rg_platform_add_org_secret(secure, &org, "id", "sec"), 0);
    assert_string_equal(rg_platform__org(secure, "o1")->api_url, "https://api.example.com");
    org.api_url = "http://127.0.0.1:8080";
    org.login_url = "http://127.0.0.1:8080";
    assert_int_equal(rg_platform_add_org_secret(insecure, &org, "id", "sec"), 0);
    org.id = "o2";
    org.api_url = "ftp://127.0.0.1";
    assert_int_equal(rg_platform_add_org_secret(secure, &org, "id", "sec"), RG_EINVALID);
    org.api_url = "not a url";
    assert_int_equal(rg_platform_add_org_secret(secure, &org, "id", "sec"), RG_EINVALID);
    rg_platform_free(secure);
    rg_platform_free(insecure);
}

static void feed(rg_platform_op *op, const char *line)
{
    size_t len = strlen(line);
    assert_int_equal(rg_platform__header_cb((char *)line, 1, len, op), len);
}

static void test_headers_and_budget(void **state)
{
    rg_platform *p = new_client(0);
    rg_platform_org desc = {"o1", "https://api.example.com", "https://login.example.com", NULL};
    rg_platform_op op;
    rg_org *org;
    int64_t wake = INT64_MAX, now = 1000000;
    (void)state;

    assert_int_equal(rg_platform_add_org_secret(p, &desc, "id", "sec"), 0);
    org = rg_platform__org(p, "o1");
    memset(&op, 0, sizeof(op));
    rg_platform__headers_reset(&op.hdr);
    feed(&op, "HTTP/1.1 200 OK\r\n");
    feed(&op, "ETag: \"abc\"\r\n");
    feed(&op, "inin-ratelimit-allowed: 30\r\n");
    feed(&op, "ININ-RateLimit-Count: 28\r\n");
    feed(&op, "inin-ratelimit-reset: 4\r\n");
    feed(&op, "Retry-After: soon\r\n");
    assert_string_equal(op.hdr.etag, "\"abc\"");
    assert_int_equal(op.hdr.rl_allowed, 30);
    assert_int_equal(op.hdr.rl_count, 28);
    assert_int_equal(op.hdr.retry_after_s, -1); /* malformed: ignored */

    assert_int_equal(rg_platform__rate_admit(p, org, now, &wake), 1); /* unknown: go */
    rg_platform__rate_update(p, org, &op.hdr, now - 10, now);
    assert_int_equal(org->rate_budget, 2);
    assert_int_equal(rg_platform__rate_admit(p, org, now, &wake), 1);
    org->in_flight = 1; /* low budget: one at a time */
    assert_int_equal(rg_platform__rate_admit(p, org, now, &wake), 0);
    org->in_flight = 0;
    org->rate_budget = 0; /* exhausted: wait for the reset (4 s + margin) */
    assert_int_equal(rg_platform__rate_admit(p, org, now, &wake), 0);
    assert_int_equal(wake, now + 4000 + p->opts.rate_reset_margin_ms);
    assert_int_equal(rg_platform__rate_admit(p, org, wake, NULL), 1); /* window rolled */
    assert_int_equal(org->rate_budget, 30);
    /* A response sent before the rollover must not shrink the new window's budget. */
    rg_platform__rate_update(p, org, &op.hdr, now, wake + 5);
    assert_int_equal(org->rate_budget, 30);

    /* 429 with Retry-After blocks the org for that long. */
    rg_platform__headers_reset(&op.hdr);
    feed(&op, "Retry-After: 3\r\n");
    rg_platform__rate_block(p, org, &op.hdr, now, 1);
    wake = INT64_MAX;
    assert_int_equal(rg_platform__rate_admit(p, org, now + 2999, &wake), 0);
    assert_int_equal(wake, now + 3000 + p->opts.rate_reset_margin_ms);
    rg_platform__headers_reset(&op.hdr);
    rg_platform_free(p);
}

static void test_backoff_bounds(void **state)
{
    rg_platform_options o;
    rg_platform *a = NULL, *b = NULL;
    int64_t max_seen = 0;
    (void)state;

    rg_platform_options_init(&o);
    o.backoff_base_ms = 100;
    o.backoff_cap_ms = 1000;
    o.jitter_seed = 99;
    assert_int_equal(rg_platform_new(&a, &o), 0);
    assert_int_equal(rg_platform_new(&b, &o), 0);
    for (int i = 0; i < 2000; i++) {
        int failures = 1 + i % 8;
        int64_t ceiling = failures >= 5 ? 1000 : 100LL << (failures - 1);
        int64_t d = rg_platform__backoff(a, failures);
        assert_true(d >= 0 && d <= ceiling);
        assert_int_equal(d, rg_platform__backoff(b, failures)); /* seeded: reproducible */
        if (d > max_seen)
            max_seen = d;
    }
    assert_true(max_seen > 500); /* full jitter reaches up towards the cap */
    o.max_concurrency = 0;
    assert_int_equal(rg_platform_new(&b, &o), RG_EINVALID);
    rg_platform_free(a);
    rg_platform_free(b);
}

/* ---- analytics ---- */

static const char *agg_queues[] = {"q1", "q2"};

static int parse_agg(rg_platform_aggregates *out, const char *text)
{
    rg_platform_op op;
    json_t *body = json_loads(text, 0, NULL);
    int rc;

    assert_non_null(body);
    memset(&op, 0, sizeof(op));
    op.query.start_ms = 1795860000000; /* 2026-11-28T10:00:00Z */
    op.query.end_ms = op.query.start_ms + 3 * (int64_t)60000;
    op.query.granularity_ms = 60000;
    op.query.queue_ids = agg_queues;
    op.query.nqueues = 2;
    rc = rg_platform__aggregates_parse(out, &op, body);
    json_decref(body);
    return rc;
}

#define BUCKET(start, end, metrics)                                                                \
    "{\"interval\":\"2026-11-28T10:0" start ":00.000Z/2026-11-28T10:0" end ":00.000Z\","           \
    "\"metrics\":[" metrics "]}"

static void test_aggregates_parse(void **state)
{
    rg_platform_aggregates agg = {0};
    const rg_platform_bucket *b;
    (void)state;

    assert_int_equal(
        parse_agg(
            &agg,
            "{\"results\":[{\"group\":{\"queueId\":\"q2\"},\"data\":[" BUCKET(
                "1", "2",
                "{\"metric\":\"nOffered\",\"stats\":{\"count\":120}},"
                "{\"metric\":\"tAbandon\",\"stats\":{\"count\":6,\"sum\":310000}},"
                "{\"metric\":\"tAnswered\",\"stats\":{\"count\":114,\"sum\":2280000,\"max\":9}},"
                "{\"metric\":\"tHandle\",\"stats\":{\"count\":110,\"sum\":33000000}},"
                "{\"metric\":\"tTalk\",\"stats\":{\"count\":1,\"sum\":5}}") "]}]}"),
        0);
    assert_int_equal(agg.nqueues, 2);
    assert_string_equal(agg.queues[0].queue_id, "q1");
    assert_int_equal(agg.queues[0].nbuckets, 3);
    for (size_t i = 0; i < 3; i++) /* absent group: zeros on the full grid */
        assert_int_equal(agg.queues[0].buckets[i].offered, 0);
    b = &agg.queues[1].buckets[1];
    assert_int_equal(b->start_ms, 1795860000000 + 60000);
    assert_int_equal(b->offered, 120);
    assert_int_equal(b->abandoned, 6);
    assert_int_equal(b->answered, 114);
    assert_true(b->answered_sum_ms == 2280000.0);
    assert_int_equal(b->handled, 110);
    assert_true(b->handle_sum_ms == 33000000.0);
    assert_int_equal(agg.queues[1].buckets[0].offered, 0); /* absent bucket */
    assert_int_equal(agg.queues[1].buckets[2].answered, 0);

    /* No results at all is no traffic, not an error. */
    assert_int_equal(parse_agg(&agg, "{}"), 0);
    assert_int_equal(agg.queues[1].buckets[1].offered, 0);
    rg_platform__aggregates_dispose(&agg);
}

static void expect_malformed(const char *text, const char *needle)
{
    rg_platform_aggregates agg = {0};
    assert_int_equal(parse_agg(&agg, text), RG_EINVALID);
    if (strstr(rg_error_last(), needle) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", rg_error_last(), needle);
    assert_null(agg.queues);
}

#define ONE(metrics) "{\"results\":[{\"group\":{\"queueId\":\"q1\"},\"data\":[" metrics "]}]}"

static void test_aggregates_malformed(void **state)
{
    (void)state;
    expect_malformed("[]", "not a JSON object");
    expect_malformed("{\"results\":{}}", "results is not an array");
    expect_malformed("{\"results\":[{\"group\":{\"queueId\":\"q9\"}}]}", "results[0].group");
    expect_malformed("{\"results\":[{\"group\":{\"queueId\":\"q1\"}},"
                     "{\"group\":{\"queueId\":\"q1\"}}]}",
                     "appears twice");
    expect_malformed(ONE(BUCKET("0", "1", "{\"metric\":\"nOffered\",\"stats\":{\"count\":-1}}")),
                     "results[0].data[0].metrics[0].stats.count");
    expect_malformed(ONE(BUCKET("0", "1", "{\"metric\":\"nOffered\",\"stats\":{\"count\":1.5}}")),
                     "non-negative integer");
    expect_malformed(ONE(BUCKET("0", "1", "{\"metric\":\"nOffered\",\"stats\":{\"count\":\"3\"}}")),
                     "not a number");
    expect_malformed(ONE(BUCKET("0", "1", "{\"metric\":\"tAnswered\",\"stats\":{\"count\":3}}")),
                     "sum is missing");
    expect_malformed(ONE(BUCKET("0", "1", "{\"metric\":\"nOffered\"}")), "\"stats\"");
    expect_malformed(ONE(BUCKET("0", "1",
                                "{\"metric\":\"nOffered\",\"stats\":{\"count\":1}},"
                                "{\"metric\":\"nOffered\",\"stats\":{\"count\":2}}")),
                     "appears twice");
    expect_malformed(ONE(BUCKET("0", "1", "") "," BUCKET("0", "1", "")), "bucket 0 appears twice");
    expect_malformed(ONE(BUCKET("5", "6", "")), "not a bucket of the query");
    expect_malformed(ONE("{\"interval\":\"2026-11-28T10:00:30.000Z/2026-11-28T10:01:30.000Z\"}"),
                     "not a bucket of the query");
    expect_malformed(ONE("{\"interval\":\"yesterday\"}"), "not start/end");
    expect_malformed(ONE(BUCKET("0", "1", "") ",7"), "results[0].data[1] is not an object");
}

static void test_observations_parse(void **state)
{
    char *ids[] = {"q1", "q2"};
    rg_platform_op op;
    rg_platform_observation *obs = NULL;
    json_t *body;
    (void)state;

    memset(&op, 0, sizeof(op));
    op.queue_ids = ids;
    op.nqueues = 2;
    body = json_loads(
        "{\"results\":[{\"group\":{\"queueId\":\"q1\"},\"data\":["
        "{\"metric\":\"oOnQueueUsers\",\"qualifier\":\"IDLE\",\"stats\":{\"count\":12}},"
        "{\"metric\":\"oOnQueueUsers\",\"qualifier\":\"INTERACTING\",\"stats\":{\"count\":28}},"
        "{\"metric\":\"oActiveUsers\",\"stats\":{\"count\":45}}]},"
        "{\"group\":{\"queueId\":\"q1\",\"mediaType\":\"voice\"},\"data\":["
        "{\"metric\":\"oWaiting\",\"stats\":{\"count\":3}}]}]}",
        0, NULL);
    assert_int_equal(rg_platform__observations_parse(&obs, &op, body), 0);
    assert_int_equal(obs[0].on_queue, 40);
    assert_int_equal(obs[0].active, 45);
    assert_int_equal(obs[0].waiting, 3);
    assert_string_equal(obs[1].queue_id, "q2");
    assert_int_equal(obs[1].on_queue, 0);
    json_decref(body);
    body = json_loads("{\"results\":[{\"group\":{\"queueId\":\"q2\"},\"data\":["
                      "{\"metric\":\"oOnQueueUsers\",\"stats\":{\"count\":-4}}]}]}",
                      0, NULL);
    assert_int_equal(rg_platform__observations_parse(&obs, &op, body), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "results[0].data[0]"));
    assert_int_equal(obs[0].on_queue, 40); /* the previous result is untouched */
    json_decref(body);
    free(obs);
}

static void test_aggregates_body(void **state)
{
    rg_platform_aggregates_query q = {1795860000000, 1795860000000 + 15000, 1000, agg_queues, 2};
    char *text = NULL;
    json_t *doc;
    (void)state;

    assert_int_equal(rg_platform__aggregates_body(&text, &q, NULL), 0);
    doc = json_loads(text, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "interval")),
                        "2026-11-28T10:00:00.000Z/2026-11-28T10:00:15.000Z");
    assert_string_equal(json_string_value(json_object_get(doc, "granularity")), "PT1S");
    assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "groupBy"), 0)),
                        "queueId");
    assert_int_equal(json_array_size(json_object_get(json_object_get(doc, "filter"), "predicates")),
                     2);
    assert_int_equal(json_array_size(json_object_get(doc, "metrics")), 4);
    json_decref(doc);
    free(text);
    /* with a media type: and(mediaType = voice, or(queues)) */
    assert_int_equal(rg_platform__aggregates_body(&text, &q, "voice"), 0);
    doc = json_loads(text, 0, NULL);
    {
        json_t *filter = json_object_get(doc, "filter");
        json_t *pred = json_array_get(json_object_get(filter, "predicates"), 0);
        assert_string_equal(json_string_value(json_object_get(filter, "type")), "and");
        assert_string_equal(json_string_value(json_object_get(pred, "dimension")), "mediaType");
        assert_string_equal(json_string_value(json_object_get(pred, "value")), "voice");
        assert_int_equal(json_array_size(json_object_get(
                             json_array_get(json_object_get(filter, "clauses"), 0), "predicates")),
                         2);
    }
    json_decref(doc);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_name),
        cmocka_unit_test(test_env_credentials),
        cmocka_unit_test(test_file_credentials),
        cmocka_unit_test(test_credentials_batch),
        cmocka_unit_test(test_url_rules),
        cmocka_unit_test(test_headers_and_budget),
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_aggregates_parse),
        cmocka_unit_test(test_aggregates_malformed),
        cmocka_unit_test(test_observations_parse),
        cmocka_unit_test(test_aggregates_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
