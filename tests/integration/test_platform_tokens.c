/* test_platform_tokens.c - one OAuth token per org across an engine's ticks, counted from
 * rollgate-sim's request log: a multi-tick rollout, a short token lifetime (refresh at 80%),
 * and a cache that never hands a token to other credentials for the same org */
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
#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/testutil.h"

/* Requests of `org` in the sim's log: token requests, and API requests (everything else). */
static void count_requests(const json_t *log, const char *org, int *tokens, int *api,
                           int64_t *last_api_ms)
{
    size_t i;
    json_t *r;

    *tokens = *api = 0;
    if (last_api_ms)
        *last_api_ms = 0;
    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        const char *o = json_string_value(json_object_get(r, "org"));
        const char *path = json_string_value(json_object_get(r, "path"));
        if (o == NULL || strcmp(o, org) != 0)
            continue;
        if (strcmp(path, "/oauth/token") == 0) {
            (*tokens)++;
        } else {
            (*api)++;
            if (last_api_ms)
                *last_api_ms = json_integer_value(json_object_get(r, "time_ms"));
        }
    }
}

/* Aggregates queries the sim answered for one org. */
static int org_polls(const json_t *log, const char *org)
{
    size_t i;
    json_t *r;
    int n = 0;

    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        const char *o = json_string_value(json_object_get(r, "org"));
        n += o != NULL && strcmp(o, org) == 0 &&
             strstr(json_string_value(json_object_get(r, "path")), "/analytics/conversations/") !=
                 NULL;
    }
    return n;
}

/* Some org was polled twice (two ticks with analytics, after the tick that applied). */
static int polled_twice(rg_e2e *e)
{
    json_t *log = rg_e2e_requests(&e->sim), *org;
    size_t i;
    int done = 0;

    json_array_foreach(e->orgs, i, org) done |= org_polls(log, json_string_value(org)) >= 2;
    json_decref(log);
    return done || rg_rollout_state_is_terminal(rg_e2e_state(e));
}

/* Ticks with platform work: the apply (snapshot GET, PATCH) and two polls (analytics) are
 * three ticks, each with its own platform client; the sim sees one token per org. */
static void test_one_token_per_org_across_ticks(void **state)
{
    rg_e2e e;
    json_t *log, *org;
    size_t i;
    int touched = 0, polled = 0;
    (void)state;

    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json", NULL, 200), 0);
    assert_int_equal(rg_e2e_drive(&e, polled_twice, 400), 0);
    log = rg_e2e_requests(&e.sim);
    assert_non_null(log);
    json_array_foreach(e.orgs, i, org)
    {
        int tokens = 0, api = 0, analytics = org_polls(log, json_string_value(org));
        count_requests(log, json_string_value(org), &tokens, &api, NULL);
        if (api == 0)
            continue; /* not reached by stage 1 and not watched: no client needed it */
        touched++;
        /* a poll at least twice, each in a tick of its own, plus the apply */
        polled += analytics >= 2;
        if (analytics >= 2)
            assert_int_equal(tokens, 1);
        else
            assert_true(tokens <= 1);
    }
    assert_true(touched >= 1);
    assert_true(polled >= 1); /* the rollout did poll twice: several ticks with work */
    json_decref(log);
    rg_e2e_end(&e);
}

/* A 5 s token: expired tokens are never used and a new one is fetched (at least two per org,
 * since requests go on after the first expired), at most one per 4 s plus the first. */
static void test_short_lifetime_refreshes(void **state)
{
    rg_e2e e;
    json_t *log, *org;
    size_t i;
    int64_t started, elapsed;
    (void)state;

    /* The lifetime is short from the first token on: the start's planner already reads
     * analytics through the engine's token cache, so a token fetched before the fault would
     * (rightly) be reused for the whole test. */
    memset(&e, 0, sizeof(e));
    assert_int_equal(rg_simproc_start(&e.sim, "sim/scenarios/healthy.json"), 0);
    assert_int_equal(rg_e2e_credentials(&e.orgs, "sim/scenarios/healthy.json"), 0);
    assert_int_equal(rg_simproc_faults(&e.sim, "{\"token_ttl_s\":5}"), 0);
    started = rg_time_now_ms();
    assert_int_equal(rg_e2e_begin(&e, NULL, NULL, 200), 0);
    for (int t = 0; t < 200 && rg_time_now_ms() - started < 10000; t++) {
        int64_t next = 0;
        assert_int_equal(rg_engine_tick_rollout(e.engine, e.tenant, e.id, &next), 0);
        if (rg_e2e_state(&e) != RG_ROLLOUT_RUNNING)
            break;
        if (next > rg_time_now_ms()) {
            int64_t wait = next - rg_time_now_ms();
            struct timespec ts = {wait / 1000, (wait % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    elapsed = rg_time_now_ms() - started;
    log = rg_e2e_requests(&e.sim);
    json_array_foreach(e.orgs, i, org)
    {
        int tokens = 0, api = 0;
        int64_t last_api = 0;
        count_requests(log, json_string_value(org), &tokens, &api, &last_api);
        if (api == 0)
            continue;
        /* never more than one per 4 s (80% of 5 s) plus the first: a short lifetime is
         * refreshed, not multiplied (test_one_token_per_org_across_ticks checks reuse) */
        assert_true(tokens <= 2 + elapsed / 4000);
        if (last_api - started > 6000)
            assert_true(tokens >= 2);
    }
    json_decref(log);
    rg_e2e_end(&e);
}

/* Two clients on one cache: the second sends no token request; a third registering the
 * same org with another secret does not get the cached token (it asks, and is refused). */
static void test_cache_shared_and_keyed_by_secret(void **state)
{
    rg_simproc sim;
    rg_platform_tokens *tokens = NULL;
    rg_platform_options opts;
    rg_platform *a = NULL, *b = NULL, *c = NULL;
    rg_platform_org org = {0};
    json_t *log;
    int ntok = 0, api = 0;
    (void)state;

    assert_int_equal(rg_simproc_start(&sim, "sim/scenarios/healthy.json"), 0);
    assert_int_equal(rg_platform_tokens_new(&tokens), 0);
    rg_platform_options_init(&opts);
    opts.tokens = tokens;
    opts.backoff_base_ms = 5;
    opts.backoff_cap_ms = 20;
    org.id = "org_parent_001";
    org.api_url = sim.url;
    org.login_url = sim.url;
    assert_int_equal(rg_platform_new(&a, &opts), 0);
    assert_int_equal(
        rg_platform_add_org_secret(a, &org, "cid-org_parent_001", "secret-org_parent_001"), 0);
    assert_int_equal(rg_platform_queue_exists(a, org.id, "queue_v2"), 0);
    rg_platform_free(a);
    assert_int_equal(rg_platform_tokens_count(tokens), 1);
    assert_int_equal(rg_platform_new(&b, &opts), 0);
    assert_int_equal(
        rg_platform_add_org_secret(b, &org, "cid-org_parent_001", "secret-org_parent_001"), 0);
    assert_int_equal(rg_platform_queue_exists(b, org.id, "queue_v2"), 0);
    assert_int_equal(rg_platform_org_token_fetches(b, org.id), 0);
    rg_platform_free(b);
    log = rg_e2e_requests(&sim);
    count_requests(log, org.id, &ntok, &api, NULL);
    json_decref(log);
    assert_int_equal(ntok, 1);
    assert_int_equal(api, 2);
    /* same org id, wrong secret: no reuse */
    assert_int_equal(rg_platform_new(&c, &opts), 0);
    assert_int_equal(rg_platform_add_org_secret(c, &org, "cid-org_parent_001", "not-the-secret"),
                     0);
    assert_int_equal(rg_platform_queue_exists(c, org.id, "queue_v2"), RG_EAUTH);
    assert_int_equal(rg_platform_org_token_fetches(c, org.id), 1);
    rg_platform_free(c);
    rg_platform_tokens_free(tokens);
    assert_int_equal(rg_simproc_stop(&sim), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_shared_and_keyed_by_secret),
        cmocka_unit_test(test_one_token_per_org_across_ticks),
        cmocka_unit_test(test_short_lifetime_refreshes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
