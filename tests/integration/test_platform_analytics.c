/* test_platform_analytics.c - how analytics are queried, from the query bodies rollgate-sim
 * received (/sim/queries): the mediaType filter (voice by default, configurable, none), the
 * granularity, and batches of at most predicate_batch queues merged into one result; the
 * policy's `analytics` section parsed, validated (file:line:col), carried to the engine */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rollgate/platform.h"
#include "rollgate/policy.h"
#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/testutil.h"

#define ORG "org_parent_001"

static json_t *sim_queries(const rg_simproc *sim, int64_t since)
{
    char path[64];
    rg_buf out = RG_BUF_INIT;
    long status = 0;
    json_t *doc;

    snprintf(path, sizeof(path), "/sim/queries?since=%lld", (long long)since);
    assert_int_equal(rg_simproc_request(sim, "GET", path, NULL, NULL, &status, &out, NULL), 0);
    assert_int_equal(status, 200);
    doc = json_loadb(rg_buf_cstr(&out), out.len, 0, NULL);
    rg_buf_dispose(&out);
    assert_non_null(doc);
    return doc;
}

/* The queueId values and the mediaType value (NULL: none) of an aggregates filter. */
static size_t filter_of(const json_t *body, const char **media, const char **first_queue)
{
    json_t *f = json_object_get(body, "filter"), * or = f, *p;
    size_t i, n = 0;

    *media = NULL;
    *first_queue = NULL;
    if (strcmp(json_string_value(json_object_get(f, "type")), "and") == 0) {
        json_array_foreach(json_object_get(f, "predicates"), i,
                           p) if (strcmp(json_string_value(json_object_get(p, "dimension")),
                                         "mediaType") == 0) *media =
            json_string_value(json_object_get(p, "value"));
        or = json_array_get(json_object_get(f, "clauses"), 0);
    }
    json_array_foreach(json_object_get(or, "predicates"), i, p)
    {
        assert_string_equal(json_string_value(json_object_get(p, "dimension")), "queueId");
        if (n++ == 0)
            *first_queue = json_string_value(json_object_get(p, "value"));
    }
    return n;
}

static rg_platform *client(const rg_simproc *sim, const char *media, int batch)
{
    rg_platform_options opts;
    rg_platform_org org = {0};
    rg_platform *p = NULL;

    rg_platform_options_init(&opts);
    if (media)
        opts.media_type = media;
    if (batch)
        opts.predicate_batch = batch;
    org.id = ORG;
    org.api_url = sim->url;
    org.login_url = sim->url;
    assert_int_equal(rg_platform_new(&p, &opts), 0);
    assert_int_equal(
        rg_platform_add_org_secret(p, &org, "cid-org_parent_001", "secret-org_parent_001"), 0);
    return p;
}

/* Offered calls per queue over the query, and the number of queries the sim answered. */
static void aggregates(int64_t offered[3], rg_platform *p, const char *const *ids, size_t n,
                       int64_t start, int64_t end)
{
    rg_platform_aggregates_query q = {start, end, 60000, ids, n};
    rg_platform_op *op = NULL;
    const rg_platform_aggregates *agg;

    assert_int_equal(rg_platform_queue_aggregates(&op, p, ORG, &q, NULL, NULL), 0);
    assert_int_equal(rg_platform_run(p), 0);
    assert_int_equal(rg_platform_op_status(op), 0);
    agg = rg_platform_op_aggregates(op);
    assert_non_null(agg);
    assert_int_equal(agg->nqueues, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(agg->queues[i].queue_id, ids[i]);
        offered[i] = 0;
        for (size_t b = 0; b < agg->queues[i].nbuckets; b++)
            offered[i] += agg->queues[i].buckets[b].offered;
    }
    rg_platform_op_free(op);
}

static void test_batches_and_media_type(void **state)
{
    rg_simproc sim;
    const char *ids[] = {"queue_global_001", "queue_v2", "queue_global_001"};
    int64_t whole[3], batched[3], end = (rg_time_now_ms() / 60000) * 60000,
                                  start = end - 30 * (int64_t)60000;
    rg_platform *p;
    json_t *doc, *e;
    size_t i;
    (void)state;

    assert_int_equal(rg_simproc_start(&sim, "sim/scenarios/healthy.json"), 0);
    /* the default: one query, voice, every queue */
    p = client(&sim, NULL, 0);
    aggregates(whole, p, ids, 2, start, end);
    rg_platform_free(p);
    doc = sim_queries(&sim, 0);
    assert_int_equal(json_array_size(json_object_get(doc, "queries")), 1);
    {
        const char *media, *q0;
        json_t *body = json_object_get(json_array_get(json_object_get(doc, "queries"), 0), "body");
        assert_int_equal(filter_of(body, &media, &q0), 2);
        assert_non_null(media);
        assert_string_equal(media, "voice");
        assert_string_equal(json_string_value(json_object_get(body, "granularity")), "PT1M");
    }
    json_decref(doc);
    assert_true(whole[0] > 0); /* queue_v2 has no weight before a change */
    /* batches of one queue, no media filter: three queries, each one queue, merged in order */
    p = client(&sim, "", 1);
    aggregates(batched, p, ids, 3, start, end);
    rg_platform_free(p);
    doc = sim_queries(&sim, 1);
    assert_int_equal(json_array_size(json_object_get(doc, "queries")), 3);
    json_array_foreach(json_object_get(doc, "queries"), i, e)
    {
        const char *media, *q0;
        assert_int_equal(filter_of(json_object_get(e, "body"), &media, &q0), 1);
        assert_null(media);
        assert_string_equal(q0, ids[i]);
        assert_string_equal(json_string_value(json_object_get(e, "org")), ORG);
    }
    json_decref(doc);
    /* the sim has only voice: the numbers do not depend on how they were asked */
    assert_int_equal(batched[0], whole[0]);
    assert_int_equal(batched[1], whole[1]);
    assert_int_equal(batched[2], whole[0]);
    /* batches of two, chat: queries of 2 and 1 */
    p = client(&sim, "chat", 2);
    aggregates(batched, p, ids, 3, start, end);
    rg_platform_free(p);
    doc = sim_queries(&sim, 4);
    assert_int_equal(json_array_size(json_object_get(doc, "queries")), 2);
    json_array_foreach(json_object_get(doc, "queries"), i, e)
    {
        const char *media, *q0;
        assert_int_equal(filter_of(json_object_get(e, "body"), &media, &q0), i == 0 ? 2 : 1);
        assert_string_equal(media, "chat");
    }
    json_decref(doc);
    /* observations batch the same way */
    p = client(&sim, NULL, 2);
    {
        rg_platform_op *op = NULL;
        size_t n = 0;
        const rg_platform_observation *obs;
        assert_int_equal(rg_platform_queue_observations(&op, p, ORG, ids, 3, NULL, NULL), 0);
        assert_int_equal(rg_platform_run(p), 0);
        assert_int_equal(rg_platform_op_status(op), 0);
        obs = rg_platform_op_observations(op, &n);
        assert_int_equal(n, 3);
        assert_string_equal(obs[2].queue_id, "queue_global_001");
        assert_true(obs[0].on_queue > 0);
        assert_int_equal(obs[2].on_queue, obs[0].on_queue);
        rg_platform_op_free(op);
    }
    rg_platform_free(p);
    doc = sim_queries(&sim, 6);
    assert_int_equal(json_array_size(json_object_get(doc, "queries")), 2);
    json_decref(doc);
    /* a platform that takes one predicate per query: refused with the default batch, fine
     * with a batch of one */
    assert_int_equal(rg_simproc_faults(&sim, "{\"max_predicates\":1}"), 0);
    p = client(&sim, NULL, 0);
    {
        rg_platform_aggregates_query q = {start, end, 60000, ids, 2};
        rg_platform_op *op = NULL;
        assert_int_equal(rg_platform_queue_aggregates(&op, p, ORG, &q, NULL, NULL), 0);
        assert_int_equal(rg_platform_run(p), 0);
        assert_int_equal(rg_platform_op_status(op), RG_EINVALID);
        assert_non_null(strstr(rg_platform_op_error(op), "predicates"));
        rg_platform_op_free(op);
    }
    rg_platform_free(p);
    p = client(&sim, NULL, 1);
    aggregates(batched, p, ids, 2, start, end);
    rg_platform_free(p);
    assert_int_equal(batched[0], whole[0]);
    assert_int_equal(rg_simproc_faults(&sim, "{}"), 0);
    {
        rg_platform_options opts;
        rg_platform_options_init(&opts);
        opts.predicate_batch = 0;
        assert_int_equal(rg_platform_new(&p, &opts), RG_EINVALID);
        assert_non_null(strstr(rg_error_last(), "predicate_batch"));
    }
    assert_int_equal(rg_simproc_stop(&sim), 0);
}

static const char policy_head[] =
    "alpha: 0.05\nstabilization_window: 6s\nsoak_limit: 24s\npoll_interval: 3s\n"
    "granularity: PT1S\nsettle: 1s\n";
static const char policy_metrics[] =
    "metrics:\n"
    "  - {name: abandonment_rate, kind: proportion, events: tAbandon, trials: nOffered,\n"
    "     tolerance: {relative: 0.15}}\n";

static int load_policy(rg_policy **out, const char *analytics)
{
    rg_buf text = RG_BUF_INIT;
    int rc;

    rg_buf_puts(&text, policy_head);
    rg_buf_puts(&text, analytics);
    rg_buf_puts(&text, policy_metrics);
    rc = rg_policy_load_buffer(out, "p.yaml", rg_buf_cstr(&text), text.len);
    rg_buf_dispose(&text);
    return rc;
}

static void test_policy_section(void **state)
{
    rg_policy *p = NULL, *q = NULL;
    json_t *json = NULL;
    (void)state;

    /* absent: voice, 100, and nothing written to the storage form */
    assert_int_equal(load_policy(&p, ""), 0);
    assert_string_equal(p->media_type, "voice");
    assert_int_equal(p->predicate_batch, 100);
    assert_int_equal(rg_policy_to_json(&json, p), 0);
    assert_null(json_object_get(json, "analytics"));
    json_decref(json);
    rg_policy_free(p);
    /* set: parsed, round-trips, compared */
    assert_int_equal(load_policy(&p, "analytics: {media_type: none, predicate_batch: 7}\n"), 0);
    assert_string_equal(p->media_type, "");
    assert_int_equal(p->predicate_batch, 7);
    assert_int_equal(rg_policy_dup(&q, p), 0);
    assert_true(rg_policy_equal(p, q));
    assert_string_equal(q->media_type, "");
    q->predicate_batch = 8;
    assert_false(rg_policy_equal(p, q));
    rg_policy_free(q);
    rg_policy_free(p);
    /* errors name the file, line and column, the field and what is expected */
    assert_int_equal(load_policy(&p, "analytics:\n  media_type: fax\n"), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "p.yaml:8:"));
    assert_non_null(strstr(rg_error_last(), "analytics.media_type"));
    assert_non_null(strstr(rg_error_last(), "voice"));
    assert_int_equal(load_policy(&p, "analytics:\n  predicate_batch: 0\n"), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "p.yaml:8:"));
    assert_non_null(strstr(rg_error_last(), "analytics.predicate_batch"));
    assert_int_equal(load_policy(&p, "analytics:\n  predicate_batch: 1001\n"), RG_EINVALID);
    assert_int_equal(load_policy(&p, "analytics:\n  granularity: PT1M\n"), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "p.yaml:8:"));
    assert_non_null(strstr(rg_error_last(), "granularity"));
}

static int polled_once(rg_e2e *e)
{
    rg_store_rollout row = {0};
    int64_t poll = -1;
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0 && row.baseline) {
        json_t *book = json_loads(row.baseline, 0, NULL);
        poll = json_integer_value(json_object_get(book, "poll"));
        json_decref(book);
    }
    rg_store_rollout_dispose(&row);
    return poll >= 1 || rg_e2e_state(e) != RG_ROLLOUT_RUNNING;
}

/* The policy reaches the sim through the engine: one queue per query, no mediaType
 * predicate, the policy's granularity. */
static void test_policy_drives_engine_queries(void **state)
{
    char policy[2048];
    rg_e2e e;
    json_t *doc, *q;
    size_t i, n = 0;
    (void)state;

    snprintf(policy, sizeof(policy), "%s  analytics: {media_type: none, predicate_batch: 1}\n",
             rg_e2e_policy);
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json", policy, 200), 0);
    assert_int_equal(rg_e2e_drive(&e, polled_once, 300), 0);
    doc = sim_queries(&e.sim, 0);
    json_array_foreach(json_object_get(doc, "queries"), i, q)
    {
        const char *media, *q0;
        json_t *body = json_object_get(q, "body");
        if (strstr(json_string_value(json_object_get(q, "path")), "/conversations/") == NULL)
            continue;
        n++;
        assert_int_equal(filter_of(body, &media, &q0), 1);
        assert_null(media);
        assert_string_equal(json_string_value(json_object_get(body, "granularity")), "PT1S");
    }
    assert_true(n >= 2); /* two watched queues: at least two queries */
    json_decref(doc);
    rg_e2e_end(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_section),
        cmocka_unit_test(test_batches_and_media_type),
        cmocka_unit_test(test_policy_drives_engine_queries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
