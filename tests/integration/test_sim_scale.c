/* test_sim_scale.c - a generated 1,000-organization scenario serves 200 concurrent clients */
#include <curl/curl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "support/simproc.h"
#include "support/skip.h"
#include "support/testutil.h"

#define ORGS 1000
#define CLIENTS 200
#define ROUNDS 5

typedef struct {
    const rg_simproc *sim;
    int org; /* index of the organization this client acts for */
    int ok;  /* requests answered 200 */
    int failed;
    char error[256];
} client;

static size_t sink(char *data, size_t size, size_t n, void *payload)
{
    return rg_buf_put(payload, data, size * n) == 0 ? size * n : 0;
}

/* One request on the client's reused (keep-alive) handle; returns the status or 0. */
static long perform(CURL *curl, const char *url, const char *body, struct curl_slist *headers,
                    rg_buf *out)
{
    long status = 0;

    rg_buf_clear(out);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    else
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    if (curl_easy_perform(curl) != CURLE_OK)
        return 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static void count(client *c, long status, const char *what)
{
    if (status == 200) {
        c->ok++;
    } else if (c->failed++ == 0) {
        snprintf(c->error, sizeof(c->error), "org %d: %s -> %ld", c->org, what, status);
    }
}

static void *run_client(void *arg)
{
    client *c = arg;
    char org[32], cid[64], secret[64], url[256], auth[160], iv[96], query[384];
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    rg_buf out = RG_BUF_INIT;
    char *token = NULL;
    int64_t now = rg_time_now_ms() / 1000 * 1000;

    snprintf(org, sizeof(org), c->org == 0 ? "org_parent_001" : "org_sub_%03d", c->org + 1);
    snprintf(cid, sizeof(cid), "cid-%s", org);
    snprintf(secret, sizeof(secret), "secret-%s", org);
    if (curl == NULL || rg_simproc_token(c->sim, cid, secret, &token) < 0) {
        count(c, 0, "token");
        goto cleanup;
    }
    c->ok++;
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    headers = curl_slist_append(curl_slist_append(NULL, auth), "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    rg_interval_format(iv, sizeof(iv), now - 60000, now);
    snprintf(query, sizeof(query),
             "{\"interval\":\"%s\",\"granularity\":\"PT1M\",\"groupBy\":"
             "[\"queueId\"],\"metrics\":[\"nOffered\",\"tAbandon\",\"tAnswered\"]}",
             iv);
    for (int r = 0; r < ROUNDS; r++) {
        snprintf(url, sizeof(url), "%s/api/v2/routing/strategies/strat_main", c->sim->url);
        count(c, perform(curl, url, NULL, headers, &out), "GET strategy");
        if (strstr(rg_buf_cstr(&out), "\"strat_main\"") == NULL)
            count(c, 0, "strategy body");
        snprintf(url, sizeof(url), "%s/api/v2/analytics/conversations/aggregates/query",
                 c->sim->url);
        count(c, perform(curl, url, query, headers, &out), "aggregates");
        snprintf(url, sizeof(url), "%s/api/v2/organizations/me", c->sim->url);
        count(c, perform(curl, url, NULL, headers, &out), "organizations/me");
        if (strstr(rg_buf_cstr(&out), org) == NULL)
            count(c, 0, "organization id");
    }
cleanup:
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    rg_buf_dispose(&out);
    free(token);
    return NULL;
}

static void generate(const char *file)
{
    char gen[4096], cmd[9000];
    int status;

    rg_test_path(gen, sizeof(gen), "sim/gen-scenario");
    snprintf(cmd, sizeof(cmd), "python3 '%s' --orgs %d --time-scale 60 --out '%s'", gen, ORGS,
             file);
    status = system("command -v python3 >/dev/null 2>&1");
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        rg_test_skip("no python3 to run sim/gen-scenario (scripts/deps.sh installs it)");
    status = system(cmd);
    assert_true(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_thousand_orgs_two_hundred_clients(void **state)
{
    static client clients[CLIENTS];
    pthread_t threads[CLIENTS];
    char dir[4096], file[4200];
    json_t *st = NULL;
    rg_simproc sim;
    int ok = 0;

    (void)state;
    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(file, sizeof(file), "%s/orgs-%d.json", dir, ORGS);
    generate(file);
    assert_int_equal(rg_simproc_start(&sim, file), 0);
    assert_int_equal(rg_simproc_state(&sim, &st), 0);
    assert_int_equal(json_array_size(json_object_get(st, "orgs")), ORGS);
    json_decref(st);
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (client){.sim = &sim, .org = i * (ORGS / CLIENTS)};
        assert_int_equal(pthread_create(&threads[i], NULL, run_client, &clients[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(threads[i], NULL);
        if (clients[i].failed)
            fail_msg("%d failures, first: %s", clients[i].failed, clients[i].error);
        ok += clients[i].ok;
    }
    assert_int_equal(ok, CLIENTS * (1 + 3 * ROUNDS));
    assert_int_equal(rg_simproc_stop(&sim), 0);
    rg_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thousand_orgs_two_hundred_clients),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return rg_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
