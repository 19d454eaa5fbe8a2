/* test_platform.c - the platform client against rollgate-sim: concurrency ceiling, retries,
 * token refresh, rate budgets, 412 re-read and merge, and no secret in any log line */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "rollgate/platform.h"
#include "support/simproc.h"
#include "support/testutil.h"
#include "integration/test_platform.h"

/* Everything logged at debug level during the whole program, checked by the last test. */
rg_buf captured = RG_BUF_INIT;
/* Every client secret any test handed to the client. */
static json_t *secrets;

static void capture_sink(rg_log_level level, const char *component, const char *message,
                         void *payload)
{
    (void)payload;
    rg_buf_printf(&captured, "%s %s: %s\n", rg_log_level_name(level), component, message);
}

void remember_secret(const char *secret)
{
    json_array_append_new(secrets, json_string(secret));
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- scenario and client set-up ---- */

static json_t *org_json(const char *id)
{
    char cid[64], secret[64];
    snprintf(cid, sizeof(cid), "cid-%s", id);
    snprintf(secret, sizeof(secret), "s3cret-%s-x9", id);
    return json_pack("{s:s, s:s, s:s, s:s, s:[{s:s,s:s,s:i,s:f,s:f,s:f},{s:s,s:s,s:i,s:f,s:f,s:f}],"
                     " s:[{s:s, s:s, s:f, s:{s:b,s:b}, s:[{s:s,s:s,s:i,s:i},{s:s,s:s,s:i,s:i}]}]}",
                     "id", id, "name", id, "client_id", cid, "client_secret", secret, "queues",
                     "id", "queue_global_001", "name", "Global", "agents", 40, "abandon_p", 0.05,
                     "asa_s", 20.0, "handle_s", 300.0, "id", "queue_v2", "name", "Global v2",
                     "agents", 40, "abandon_p", 0.05, "asa_s", 20.0, "handle_s", 300.0,
                     "strategies", "id", "strat_main", "name", "Production_Routing",
                     "calls_per_min", 120.0, "settings", "enabled", 1, "longRunning", 1, "targets",
                     "type", "Queue", "id", "queue_global_001", "weight", 100, "priority", 1,
                     "type", "Queue", "id", "queue_v2", "weight", 0, "priority", 2);
}

static const char *org_id_at(const fixture *fx, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(fx->doc, "orgs"), i), "id"));
}

/* Writes an N-org scenario and a 0600 credentials file, starts the sim and a client. */
void fixture_start(fixture *fx, size_t norgs, const rg_platform_options *opts)
{
    json_t *orgs = json_array(), *creds = json_object();
    char id[32];
    size_t i;
    json_t *o;

    memset(fx, 0, sizeof(*fx));
    assert_int_equal(rg_test_mkdtemp(fx->dir, sizeof(fx->dir)), 0);
    for (i = 0; i < norgs; i++) {
        snprintf(id, sizeof(id), i == 0 ? "org_parent_%03zu" : "org_sub_%03zu", i + 1);
        json_array_append_new(orgs, org_json(id));
    }
    fx->doc =
        json_pack("{s:i, s:i, s:{s:i,s:i}, s:o, s:[], s:[]}", "seed", 42, "token_ttl_s", 86400,
                  "rate_limit", "allowed", 300, "window_s", 60, "orgs", orgs, "effects", "events");
    assert_non_null(fx->doc);
    json_array_foreach(orgs, i, o)
    {
        json_object_set_new(creds, json_string_value(json_object_get(o, "id")),
                            json_pack("{s:O, s:O}", "client_id", json_object_get(o, "client_id"),
                                      "client_secret", json_object_get(o, "client_secret")));
        remember_secret(json_string_value(json_object_get(o, "client_secret")));
    }
    snprintf(fx->scenario, sizeof(fx->scenario), "%s/scenario.json", fx->dir);
    snprintf(fx->creds, sizeof(fx->creds), "%s/credentials.json", fx->dir);
    assert_int_equal(json_dump_file(fx->doc, fx->scenario, 0), 0);
    assert_int_equal(json_dump_file(creds, fx->creds, 0), 0);
    assert_int_equal(chmod(fx->creds, 0600), 0);
    json_decref(creds);
    assert_int_equal(rg_simproc_start(&fx->sim, fx->scenario), 0);
    fx->norgs = norgs;

    char source[4300];
    snprintf(source, sizeof(source), "file:%s", fx->creds);
    assert_int_equal(rg_platform_new(&fx->platform, opts), 0);
    for (i = 0; i < norgs; i++) {
        rg_platform_org org = {org_id_at(fx, i), fx->sim.url, fx->sim.url, source};
        assert_int_equal(rg_platform_add_org(fx->platform, &org), 0);
    }
}

void fixture_stop(fixture *fx)
{
    rg_platform_free(fx->platform);
    assert_int_equal(rg_simproc_stop(&fx->sim), 0);
    json_decref(fx->doc);
    rg_test_rmtree(fx->dir);
}

void test_options(rg_platform_options *o)
{
    rg_platform_options_init(o);
    o->backoff_base_ms = 5;
    o->backoff_cap_ms = 100;
    o->jitter_seed = 7;
}

/* The sim's request log, every page. Caller json_decref. */
json_t *sim_requests(const rg_simproc *sim)
{
    json_t *all = json_array();
    long next = 0;

    for (;;) {
        char path[64];
        long status = 0;
        rg_buf resp = RG_BUF_INIT;
        json_t *doc, *list;

        snprintf(path, sizeof(path), "/sim/requests?since=%ld", next);
        assert_int_equal(rg_simproc_request(sim, "GET", path, NULL, NULL, &status, &resp, NULL), 0);
        assert_int_equal(status, 200);
        doc = json_loads(rg_buf_cstr(&resp), 0, NULL);
        rg_buf_dispose(&resp);
        assert_non_null(doc);
        list = json_object_get(doc, "requests");
        json_array_extend(all, list);
        next = (long)json_integer_value(json_object_get(doc, "next"));
        if (json_array_size(list) == 0) {
            json_decref(doc);
            return all;
        }
        json_decref(doc);
    }
}

static void set_faults(const rg_simproc *sim, const char *json)
{
    if (rg_simproc_faults(sim, json) != 0)
        fail_msg("POST /sim/faults %s: %s", json, rg_error_last());
}

static int starts_with(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- 1. many organizations at once, never above the ceiling ---- */

static void test_many_orgs_concurrently(void **state)
{
    enum { NORGS = 200, CEILING = 8, LATENCY_MS = 150 };
    rg_platform_options opts;
    rg_platform_stats stats;
    rg_platform_op *ops[NORGS];
    fixture fx;
    json_t *log, *e;
    int64_t times[NORGS];
    size_t i, n = 0, peak_sim = 0;
    (void)state;

    test_options(&opts);
    opts.max_concurrency = CEILING;
    fixture_start(&fx, NORGS, &opts);
    set_faults(&fx.sim, "{\"latency_ms\":150}");
    for (i = 0; i < NORGS; i++)
        assert_int_equal(rg_platform_queue_strategy_get(&ops[i], fx.platform, org_id_at(&fx, i),
                                                        "strat_main", NULL, NULL),
                         0);
    assert_int_equal(rg_platform_run(fx.platform), 0);
    for (i = 0; i < NORGS; i++) {
        if (rg_platform_op_status(ops[i]) != 0)
            fail_msg("op %zu failed: %s", i, rg_platform_op_error(ops[i]));
        assert_string_equal(rg_platform_op_org(ops[i]), org_id_at(&fx, i));
        assert_string_equal(json_string_value(json_object_get(rg_platform_op_body(ops[i]), "id")),
                            "strat_main");
        assert_non_null(rg_platform_op_etag(ops[i]));
        rg_platform_op_free(ops[i]);
    }
    rg_platform_get_stats(&stats, fx.platform);
    assert_true(stats.peak_in_flight <= CEILING);
    assert_true(stats.peak_in_flight >= CEILING / 2); /* concurrent, not one after another */
    assert_int_equal(stats.token_fetches, NORGS);     /* one token per org, never shared */

    /* The sim logs arrival times; each API call then takes >= LATENCY_MS, so all calls that
     * arrived within LATENCY_MS of each other were in flight together. */
    log = sim_requests(&fx.sim);
    json_array_foreach(log, i, e)
    {
        if (!starts_with(json_string_value(json_object_get(e, "path")),
                         "/api/v2/routing/strategies/"))
            continue;
        assert_int_equal(json_integer_value(json_object_get(e, "status")), 200);
        assert_true(n < NORGS);
        times[n++] = (int64_t)json_integer_value(json_object_get(e, "time_ms"));
    }
    assert_int_equal(n, NORGS);
    for (i = 0; i < n; i++) {
        size_t together = 0;
        for (size_t j = 0; j < n; j++)
            if (times[j] >= times[i] && times[j] < times[i] + LATENCY_MS - 20)
                together++;
        if (together > peak_sim)
            peak_sim = together;
    }
    assert_true(peak_sim <= CEILING);
    json_decref(log);
    fixture_stop(&fx);
}

/* ---- 1b. the proxy environment, as libcurl reads it, read when the client is made ---- */

static int logged_path(const json_t *log, const char *prefix)
{
    size_t i;
    json_t *e;
    int n = 0;

    json_array_foreach(log, i, e) n +=
        starts_with(json_string_value(json_object_get(e, "path")), prefix);
    return n;
}

/* A client made with `http_proxy` (and `no_proxy`) set, which are unset again at once: the
 * client read them when it was made; the test's own requests to the simulator go direct. */
static rg_platform *proxied_client(const fixture *fx, const rg_platform_options *opts,
                                   const char *no_proxy)
{
    rg_platform *p = NULL;
    char source[4300];
    rg_platform_org org = {org_id_at(fx, 0), fx->sim.url, fx->sim.url, source};

    snprintf(source, sizeof(source), "file:%s", fx->creds);
    /* a proxy nothing listens on: a request sent through it fails */
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    if (no_proxy)
        setenv("no_proxy", no_proxy, 1);
    else
        unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    assert_int_equal(rg_platform_new(&p, opts), 0);
    unsetenv("http_proxy");
    unsetenv("no_proxy");
    assert_int_equal(rg_platform_add_org(p, &org), 0);
    return p;
}

static void test_proxy_environment(void **state)
{
    rg_platform_options opts;
    rg_platform_op *op = NULL;
    rg_platform *p;
    fixture fx;
    json_t *log;
    (void)state;

    test_options(&opts);
    opts.max_retries = 1;
    fixture_start(&fx, 1, &opts);
    /* through the proxy: the token's request and the GET go there, never to the sim */
    p = proxied_client(&fx, &opts, NULL);
    assert_int_equal(
        rg_platform_queue_strategy_get(&op, p, org_id_at(&fx, 0), "strat_main", NULL, NULL), 0);
    assert_int_equal(rg_platform_run(p), 0);
    assert_int_equal(rg_platform_op_status(op), RG_EUNREACHABLE);
    rg_platform_op_free(op);
    rg_platform_free(p);
    log = sim_requests(&fx.sim);
    assert_int_equal(logged_path(log, "/api/"), 0);
    assert_int_equal(logged_path(log, "/oauth/"), 0);
    json_decref(log);

    /* no_proxy names the simulator's host: straight to it */
    p = proxied_client(&fx, &opts, "127.0.0.1,localhost");
    assert_int_equal(
        rg_platform_queue_strategy_get(&op, p, org_id_at(&fx, 0), "strat_main", NULL, NULL), 0);
    assert_int_equal(rg_platform_run(p), 0);
    if (rg_platform_op_status(op) != 0)
        fail_msg("direct GET failed: %s", rg_platform_op_error(op));
    rg_platform_op_free(op);
    rg_platform_free(p);
    log = sim_requests(&fx.sim);
    assert_int_equal(logged_path(log, "/api/v2/routing/strategies/strat_main"), 1);
    json_decref(log);
    fixture_stop(&fx);
}

/* ---- 1c. an op queued from a done callback starts before the ops queued earlier ---- */

typedef struct {
    rg_platform *platform;
    const char *org;
    rg_platform_op *get, *update;
    int failed;
} chain;

static void chain_got(rg_platform_op *op, void *payload)
{
    chain *c = payload;
    json_t *patch = json_pack("{s:s}", "name", "Chained");

    if (rg_platform_op_status(op) != 0 ||
        rg_platform_queue_strategy_update(&c->update, c->platform, c->org, "strat_main",
                                          rg_platform_op_etag(op), patch, NULL, NULL, NULL,
                                          NULL) != 0)
        c->failed = 1;
    json_decref(patch);
}

static void test_follow_up_first(void **state)
{
    enum { NORGS = 24, CEILING = 2 };
    rg_platform_options opts;
    chain chains[NORGS];
    fixture fx;
    json_t *log, *e;
    size_t i, gets = 0, first_patch_at_get = 0;
    (void)state;

    test_options(&opts);
    opts.max_concurrency = CEILING;
    fixture_start(&fx, NORGS, &opts);
    for (i = 0; i < NORGS; i++) {
        chains[i] = (chain){fx.platform, org_id_at(&fx, i), NULL, NULL, 0};
        assert_int_equal(rg_platform_queue_strategy_get(&chains[i].get, fx.platform, chains[i].org,
                                                        "strat_main", chain_got, &chains[i]),
                         0);
    }
    assert_int_equal(rg_platform_run(fx.platform), 0);
    for (i = 0; i < NORGS; i++) {
        assert_false(chains[i].failed);
        assert_non_null(chains[i].update);
        assert_int_equal(rg_platform_op_status(chains[i].update), 0);
        rg_platform_op_free(chains[i].get);
        rg_platform_op_free(chains[i].update);
    }
    /* In the simulator's log the first PATCH came while most GETs were still to be sent:
     * each org's write follows its read, not the last of the other orgs' reads. */
    log = sim_requests(&fx.sim);
    json_array_foreach(log, i, e)
    {
        const char *method = json_string_value(json_object_get(e, "method"));
        if (!starts_with(json_string_value(json_object_get(e, "path")),
                         "/api/v2/routing/strategies/"))
            continue;
        if (method && strcmp(method, "GET") == 0)
            gets++;
        else if (method && strcmp(method, "PATCH") == 0 && first_patch_at_get == 0)
            first_patch_at_get = gets;
    }
    assert_int_equal(gets, NORGS);
    assert_true(first_patch_at_get > 0);
    assert_true(first_patch_at_get <= (size_t)2 * CEILING);
    json_decref(log);
    fixture_stop(&fx);
}

/* ---- 2. 5xx and resets are retried within the bound; past it the error names org+call ---- */

static void test_retries_and_failures(void **state)
{
    enum { NOPS = 500, NFAIL = 14 };
    rg_platform_options opts;
    rg_platform_stats stats;
    rg_platform_op **ops = calloc(NOPS, sizeof(rg_platform_op *));
    fixture fx;
    json_t *log, *e;
    size_t i, n503 = 0, nreset = 0, nfail_attempts = 0;
    (void)state;

    test_options(&opts);
    opts.max_retries = 12;
    fixture_start(&fx, 7, &opts);
    set_faults(&fx.sim, "{\"error_rate\":0.2,\"error_status\":503,\"reset_rate\":0.05}");
    for (i = 0; i < NOPS; i++) {
        const char *org = org_id_at(&fx, i % fx.norgs);
        if (i % 2 == 0)
            assert_int_equal(
                rg_platform_queue_strategy_get(&ops[i], fx.platform, org, "strat_main", NULL, NULL),
                0);
        else
            assert_int_equal(
                rg_platform_queue_queue_get(&ops[i], fx.platform, org, "queue_v2", NULL, NULL), 0);
    }
    assert_int_equal(rg_platform_run(fx.platform), 0);
    for (i = 0; i < NOPS; i++) {
        if (rg_platform_op_status(ops[i]) != 0)
            fail_msg("op %zu failed: %s", i, rg_platform_op_error(ops[i]));
        assert_non_null(rg_platform_op_body(ops[i]));
        rg_platform_op_free(ops[i]);
    }
    rg_platform_get_stats(&stats, fx.platform);
    assert_true(stats.retries > 0);
    log = sim_requests(&fx.sim);
    json_array_foreach(log, i, e)
    {
        json_int_t status = json_integer_value(json_object_get(e, "status"));
        n503 += status == 503;
        nreset += status == 0;
    }
    assert_true(n503 > 0 && nreset > 0); /* the faults really happened */
    json_decref(log);

    /* Every attempt fails: each op gives up after 1 + max_retries attempts, named. */
    rg_platform_free(fx.platform);
    opts.max_retries = 2;
    assert_int_equal(rg_platform_new(&fx.platform, &opts), 0);
    {
        char source[4300];
        snprintf(source, sizeof(source), "file:%s", fx.creds);
        for (i = 0; i < fx.norgs; i++) {
            rg_platform_org org = {org_id_at(&fx, i), fx.sim.url, fx.sim.url, source};
            assert_int_equal(rg_platform_add_org(fx.platform, &org), 0);
        }
    }
    set_faults(&fx.sim, "{\"error_rate\":1.0,\"error_status\":503}");
    long since = (long)json_array_size(log = sim_requests(&fx.sim));
    json_decref(log);
    for (i = 0; i < NFAIL; i++)
        assert_int_equal(rg_platform_queue_strategy_get(&ops[i], fx.platform,
                                                        org_id_at(&fx, i % fx.norgs), "strat_main",
                                                        NULL, NULL),
                         0);
    assert_int_equal(rg_platform_run(fx.platform), 0);
    for (i = 0; i < NFAIL; i++) {
        const char *msg = rg_platform_op_error(ops[i]);
        assert_int_equal(rg_platform_op_status(ops[i]), RG_EPLATFORM);
        assert_non_null(strstr(msg, org_id_at(&fx, i % fx.norgs)));
        assert_non_null(strstr(msg, "GET strategy strat_main"));
        assert_non_null(strstr(msg, "HTTP 503"));
        assert_non_null(strstr(msg, "3 attempts"));
        rg_buf_printf(&captured, "error: %s\n", msg);
        rg_platform_op_free(ops[i]);
    }
    log = sim_requests(&fx.sim);
    json_array_foreach(log, i, e)
    {
        if ((long)i >= since && starts_with(json_string_value(json_object_get(e, "path")),
                                            "/api/v2/routing/strategies/"))
            nfail_attempts++;
    }
    assert_int_equal(nfail_attempts, NFAIL * 3);
    json_decref(log);
    free(ops);
    fixture_stop(&fx);
}

/* ---- 3. tokens expire every 2 s; refresh at 80% keeps every request succeeding ---- */

static void test_token_refresh(void **state)
{
    enum { RUN_MS = 10000 };
    rg_platform_options opts;
    fixture fx;
    json_t *st, *orgs, *o, *log, *e;
    int64_t begin, elapsed;
    size_t i, n401 = 0, rounds = 0;
    (void)state;

    test_options(&opts);
    fixture_start(&fx, 3, &opts);
    set_faults(&fx.sim, "{\"token_ttl_s\":2}");
    begin = rg_time_mono_ms();
    while (rg_time_mono_ms() - begin < RUN_MS) {
        rg_platform_op *ops[3];
        for (i = 0; i < fx.norgs; i++)
            assert_int_equal(rg_platform_queue_strategy_get(&ops[i], fx.platform, org_id_at(&fx, i),
                                                            "strat_main", NULL, NULL),
                             0);
        assert_int_equal(rg_platform_run(fx.platform), 0);
        for (i = 0; i < fx.norgs; i++) {
            if (rg_platform_op_status(ops[i]) != 0)
                fail_msg("round %zu: %s", rounds, rg_platform_op_error(ops[i]));
            rg_platform_op_free(ops[i]);
        }
        rounds++;
        pause_ms(40); /* pacing, not an assertion: stays within the rate budget */
    }
    elapsed = rg_time_mono_ms() - begin;
    assert_true(rounds > 100);
    assert_int_equal(rg_simproc_state(&fx.sim, &st), 0);
    orgs = json_object_get(st, "orgs");
    log = sim_requests(&fx.sim);
    json_array_foreach(orgs, i, o)
    {
        json_int_t count = json_integer_value(json_object_get(o, "token_count"));
        const char *id = json_string_value(json_object_get(o, "id"));
        int64_t last = -1;
        size_t j, fetches = 0;

        assert_int_equal((uint64_t)count, rg_platform_org_token_fetches(fx.platform, id));
        /* A token lives 2 s; the client replaces it once 80% (1.6 s) has passed, so an org's
         * fetches are at least 1.6 s apart and each lands before the old token expires. */
        json_array_foreach(log, j, e)
        {
            int64_t t = (int64_t)json_integer_value(json_object_get(e, "time_ms"));
            const char *org = json_string_value(json_object_get(e, "org"));
            if (strcmp(json_string_value(json_object_get(e, "path")), "/oauth/token") != 0 ||
                org == NULL || strcmp(org, id) != 0)
                continue;
            assert_int_equal(json_integer_value(json_object_get(e, "status")), 200);
            if (last >= 0 && (t - last < 1550 || t - last >= 2000))
                fail_msg("org %s: token fetches %lld ms apart (refresh due at 1600 ms, expiry "
                         "at 2000 ms)",
                         id, (long long)(t - last));
            last = t;
            fetches++;
        }
        assert_int_equal(fetches, (size_t)count);
        assert_true(count >= 1 + elapsed / 2000);
    }
    json_decref(st);
    json_array_foreach(log, i, e) n401 += json_integer_value(json_object_get(e, "status")) == 401;
    assert_int_equal(n401, 0); /* no request ever went out with an expired token */
    json_decref(log);
    fixture_stop(&fx);
}

/* ---- 4. a rate budget of 30 per 6 s: after the first 429, never send into an empty one ---- */

static void test_rate_budget(void **state)
{
    enum { NOPS = 100, ALLOWED = 30, CEILING = 32 };
    rg_platform_options opts;
    rg_platform_stats stats;
    rg_platform_op *ops[NOPS];
    fixture fx;
    json_t *log, *e;
    size_t i, n200 = 0, n429 = 0, api = 0, last_429_pos = 0;
    int64_t window_start = -1, in_window = 0;
    (void)state;

    test_options(&opts);
    opts.max_concurrency = CEILING;
    fixture_start(&fx, 1, &opts);
    set_faults(&fx.sim, "{\"rate_limit\":30,\"rate_window_s\":6}");
    for (i = 0; i < NOPS; i++)
        assert_int_equal(rg_platform_queue_strategy_get(&ops[i], fx.platform, org_id_at(&fx, 0),
                                                        "strat_main", NULL, NULL),
                         0);
    assert_int_equal(rg_platform_run(fx.platform), 0);
    for (i = 0; i < NOPS; i++) {
        if (rg_platform_op_status(ops[i]) != 0)
            fail_msg("op %zu: %s", i, rg_platform_op_error(ops[i]));
        rg_platform_op_free(ops[i]);
    }
    log = sim_requests(&fx.sim);
    json_array_foreach(log, i, e)
    {
        json_int_t status = json_integer_value(json_object_get(e, "status"));
        int64_t t = (int64_t)json_integer_value(json_object_get(e, "time_ms"));
        if (!starts_with(json_string_value(json_object_get(e, "path")), "/api/"))
            continue;
        api++;
        if (status == 429) {
            n429++;
            last_429_pos = api;
        }
        n200 += status == 200;
        /* The sim's window opens at the first request after the previous one closed. */
        if (window_start < 0 || t >= window_start + 6000) {
            window_start = t;
            in_window = 0;
        }
        in_window++;
        if (api > CEILING && in_window > ALLOWED)
            fail_msg("request %zu sent into an exhausted window (%lld in it)", api,
                     (long long)in_window);
    }
    assert_int_equal(n200, NOPS);
    /* Only the first blind burst (before any budget header came back) can overrun. */
    assert_true(n429 <= CEILING - ALLOWED);
    assert_true(last_429_pos <= CEILING);
    rg_platform_get_stats(&stats, fx.platform);
    assert_int_equal(stats.status_429, n429);
    json_decref(log);
    fixture_stop(&fx);
}

/* ---- 6. nothing secret in anything logged during 1-5 ---- */

static int looks_like_sim_token(const char *s)
{
    /* rollgate-sim tokens are "<org index>.<32 hex digits>". */
    for (const char *p = s; (p = strchr(p, '.')) != NULL; p++) {
        size_t hex = 0;
        if (p == s || p[-1] < '0' || p[-1] > '9')
            continue;
        while (hex < 32 && ((p[1 + hex] >= '0' && p[1 + hex] <= '9') ||
                            (p[1 + hex] >= 'a' && p[1 + hex] <= 'f')))
            hex++;
        if (hex == 32)
            return 1;
    }
    return 0;
}

static void test_no_secrets_logged(void **state)
{
    fixture fx;
    rg_platform_options opts;
    char *token = NULL;
    const char *text;
    json_t *s;
    size_t i;
    (void)state;

    test_options(&opts);
    fixture_start(&fx, 1, &opts);
    /* A token the sim really issues, to know what one looks like. */
    assert_int_equal(
        rg_simproc_token(&fx.sim, "cid-org_parent_001", "s3cret-org_parent_001-x9", &token), 0);
    assert_true(looks_like_sim_token(token));
    text = rg_buf_cstr(&captured);
    assert_non_null(strstr(text, "GET ")); /* the sink really captured the traffic */
    assert_non_null(strstr(text, "/api/v2/routing/strategies/strat_main -> 200"));
    assert_null(strstr(text, token));
    assert_false(looks_like_sim_token(text));
    assert_true(json_array_size(secrets) >= 200);
    json_array_foreach(secrets, i, s) assert_null(strstr(text, json_string_value(s)));
    assert_null(strstr(text, "Bearer"));
    assert_null(strstr(text, "Basic "));
    free(token);
    fixture_stop(&fx);
}

static int group_setup(void **state)
{
    (void)state;
    secrets = json_array();
    rg_log_set_sink(capture_sink, NULL, RG_LOG_DEBUG);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    rg_log_set_sink(NULL, NULL, RG_LOG_ERROR);
    rg_buf_dispose(&captured);
    json_decref(secrets);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_orgs_concurrently),
        cmocka_unit_test(test_proxy_environment),
        cmocka_unit_test(test_follow_up_first),
        cmocka_unit_test(test_retries_and_failures),
        cmocka_unit_test(test_token_refresh),
        cmocka_unit_test(test_rate_budget),
        cmocka_unit_test(test_conditional_patch_412),
        cmocka_unit_test(test_analytics_and_bad_credentials),
        cmocka_unit_test(test_no_secrets_logged),
    };
    if (getenv("RG_TEST_FILTER") != NULL) /* e.g. RG_TEST_FILTER=test_rate_budget */
        cmocka_set_test_filter(getenv("RG_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
