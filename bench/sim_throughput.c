/* sim_throughput.c - benchmark: rollgate-sim load time and requests/s under concurrent clients */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "support/simproc.h"
#include "support/testutil.h"

typedef struct {
    const rg_simproc *sim;
    int org;
    int64_t until_ms; /* monotonic deadline */
    int64_t ok, errors;
} worker;

static size_t sink(char *data, size_t size, size_t n, void *payload)
{
    (void)data;
    (void)payload;
    return size * n;
}

static void org_name(char *out, size_t outlen, int index)
{
    if (index == 0)
        snprintf(out, outlen, "org_parent_001");
    else
        snprintf(out, outlen, "org_sub_%03d", index + 1);
}

/* A mix of the engine's calls: strategy reads, one-minute aggregates, organization checks. */
static void *run_worker(void *arg)
{
    worker *w = arg;
    char org[32], cid[64], secret[64], auth[160], url[3][256], iv[96], query[384];
    struct curl_slist *headers = NULL;
    CURL *curl = curl_easy_init();
    char *token = NULL;
    int64_t now = rg_time_now_ms() / 1000 * 1000;
    long status;

    org_name(org, sizeof(org), w->org);
    snprintf(cid, sizeof(cid), "cid-%s", org);
    snprintf(secret, sizeof(secret), "secret-%s", org);
    if (curl == NULL || rg_simproc_token(w->sim, cid, secret, &token) < 0) {
        w->errors++;
        goto cleanup;
    }
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    headers = curl_slist_append(curl_slist_append(NULL, auth), "Content-Type: application/json");
    snprintf(url[0], sizeof(url[0]), "%s/api/v2/routing/strategies/strat_main", w->sim->url);
    snprintf(url[1], sizeof(url[1]), "%s/api/v2/analytics/conversations/aggregates/query",
             w->sim->url);
    snprintf(url[2], sizeof(url[2]), "%s/api/v2/organizations/me", w->sim->url);
    rg_interval_format(iv, sizeof(iv), now - 60000, now);
    snprintf(query, sizeof(query),
             "{\"interval\":\"%s\",\"granularity\":\"PT1M\",\"groupBy\":"
             "[\"queueId\"],\"metrics\":[\"nOffered\",\"tAbandon\",\"tAnswered\"]}",
             iv);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    for (int i = 0; rg_time_mono_ms() < w->until_ms; i++) {
        curl_easy_setopt(curl, CURLOPT_URL, url[i % 3]);
        if (i % 3 == 1)
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, query);
        else
            curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        status = 0;
        if (curl_easy_perform(curl) == CURLE_OK)
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200)
            w->ok++;
        else
            w->errors++;
    }
cleanup:
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    free(token);
    return NULL;
}

static int run_round(const rg_simproc *sim, int orgs, int clients, int seconds)
{
    worker *workers = calloc((size_t)clients, sizeof(*workers));
    pthread_t *threads = calloc((size_t)clients, sizeof(*threads));
    int64_t ok = 0, errors = 0, start, elapsed;
    int started = 0;

    if (workers == NULL || threads == NULL) {
        free(workers);
        free(threads);
        return -1;
    }
    start = rg_time_mono_ms();
    for (int i = 0; i < clients; i++) {
        workers[i] = (worker){.sim = sim,
                              .org = (int)((int64_t)i * orgs / clients),
                              .until_ms = start + seconds * (int64_t)1000};
        if (pthread_create(&threads[i], NULL, run_worker, &workers[i]) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
        ok += workers[i].ok;
        errors += workers[i].errors;
    }
    elapsed = rg_time_mono_ms() - start;
    printf("clients=%d requests=%lld errors=%lld seconds=%.2f requests_per_s=%.0f\n", started,
           (long long)ok, (long long)errors, (double)elapsed / 1000.0,
           (double)ok * 1000.0 / (double)(elapsed > 0 ? elapsed : 1));
    free(workers);
    free(threads);
    return 0;
}

static int parse_args(int *orgs, int *seconds, int argc, char **argv)
{
    int64_t v;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (rg_parse_int64(&v, argv[i + 1], 1, 100000) < 0)
            return -1;
        if (strcmp(argv[i], "--orgs") == 0)
            *orgs = (int)v;
        else if (strcmp(argv[i], "--seconds") == 0)
            *seconds = (int)v;
        else
            return -1;
    }
    return argc % 2 == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    char dir[4096], file[4200], gen[4096], cmd[9000];
    int orgs = 1000, seconds = 5, status;
    int64_t t0;
    rg_simproc sim;

    if (parse_args(&orgs, &seconds, argc, argv) < 0) {
        fprintf(stderr, "usage: sim_throughput [--orgs N] [--seconds S]\n");
        return 3;
    }
    setenv("RG_BINARY_DIR", RG_BENCH_BINARY_DIR, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rg_test_mkdtemp(dir, sizeof(dir)) != 0)
        return 4;
    snprintf(file, sizeof(file), "%s/orgs.json", dir);
    rg_test_path(gen, sizeof(gen), "sim/gen-scenario");
    snprintf(cmd, sizeof(cmd), "python3 '%s' --orgs %d --time-scale 60 --out '%s'", gen, orgs,
             file);
    status = system(cmd);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "sim_throughput: the scenario generator failed\n");
        return 4;
    }
    t0 = rg_time_mono_ms();
    if (rg_simproc_start(&sim, file) < 0) {
        fprintf(stderr, "sim_throughput: %s\n", rg_error_last());
        return 4;
    }
    printf("sim_throughput orgs=%d load_ms=%lld (process start to listening)\n", orgs,
           (long long)(rg_time_mono_ms() - t0));
    /* The benchmark measures the server, not the per-token budget. */
    rg_simproc_faults(&sim, "{\"rate_limit\":1000000000}");
    run_round(&sim, orgs, 200, seconds);
    run_round(&sim, orgs, 64, seconds);
    status = rg_simproc_stop(&sim);
    rg_test_rmtree(dir);
    curl_global_cleanup();
    return status == 0 ? 0 : 4;
}
