/* rollback_latency.c - benchmark: forced rollback of N orgs on rollgate-sim against a raw
 * parallel curl floor (the same N GETs + N PATCHes at the same concurrency) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "bench/bench_util.h"
#include "rollgate/engine.h"
#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/simproc.h"
#include "support/testutil.h"

#define RUNS 5
#define CONCURRENCY 32 /* the engine's platform ceiling (rg_platform_options default) */

static const char policy[] =
    "policy:\n"
    "  alpha: 0.05\n  sequential: group\n  stabilization_window: 15m\n  soak_limit: 30m\n"
    "  poll_interval: 5m\n  granularity: PT1M\n  settle: 1m\n  pre_window: 30m\n"
    "  breaker: {consecutive: 2}\n  on_inconclusive: hold\n  errors: {limit: 3}\n"
    "  verify_window: 5m\n  capacity: {min_ratio: 0.8}\n  metrics:\n"
    "    - {name: abandonment_rate, kind: proportion, events: tAbandon, trials: nOffered,\n"
    "       increase_is_bad: true, tolerance: {relative: 0.15}, critical: true}\n"
    "    - {name: speed_of_answer, kind: mean, source: tAnswered, increase_is_bad: true,\n"
    "       tolerance: {absolute: 10s}}\n";

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(int64_t epoch_ms)
{
    int64_t wait = epoch_ms - rg_time_now_ms();
    if (wait > 1000)
        wait = 1000;
    if (wait > 0) {
        struct timespec ts = {wait / 1000, (wait % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Counts targets in `state`; -1 on error. */
static long count_state(rg_store *store, const char *id, rg_target_state state, int64_t *last)
{
    rg_store_targets list = {0};
    long n = 0;
    if (rg_store_target_list(&list, store, "bench", id) < 0)
        return -1;
    for (size_t i = 0; i < list.count; i++)
        if (list.items[i].state == state) {
            n++;
            if (last && list.items[i].restored_at_ms > *last)
                *last = list.items[i].restored_at_ms;
        }
    rg_store_targets_dispose(&list);
    return n;
}

/* One rollout: apply the single stage, then force a rollback and time it to the last
 * restore (the target rows' restored_at_ms, set when the restore PATCH committed). */
static int engine_run(double *out_s, const rg_simproc *sim, const json_t *orgs,
                      const char *dir, int run, const char *faults)
{
    char manifest[700], db[700], id[RG_STORE_ROLLOUT_ID_LEN];
    rg_manifest *m = NULL;
    rg_store *store = NULL;
    rg_engine *engine = NULL;
    char *outcome = NULL;
    long n = (long)json_array_size(orgs), done = 0;
    int64_t start_ms, last = 0, next = 0;
    int rc;

    snprintf(manifest, sizeof(manifest), "%s/manifest.yaml", dir);
    snprintf(db, sizeof(db), "%s/run%d.db", dir, run);
    if ((rc = bench_write_manifest(manifest, sim->url, orgs, policy)) < 0 ||
        (rc = rg_manifest_load_file(&m, manifest, NULL)) < 0 ||
        (rc = rg_store_open(&store, db)) < 0 || (rc = rg_engine_new(&engine, store, NULL)) < 0 ||
        (rc = rg_engine_start(id, engine, m, dir, "bench", 1)) < 0)
        goto cleanup;
    for (int i = 0; i < 10000 && done < n; i++) {
        if ((rc = rg_engine_tick_rollout(engine, "bench", id, &next)) < 0)
            goto cleanup;
        if ((done = count_state(store, id, RG_TARGET_APPLIED, NULL)) < n)
            sleep_until(next);
    }
    if (done < n) {
        rc = rg_error_set(RG_ETIMEOUT, "only %ld of %ld targets applied", done, n);
        goto cleanup;
    }
    if (faults && (rc = rg_simproc_faults(sim, faults)) < 0)
        goto cleanup;
    start_ms = rg_time_now_ms();
    if ((rc = rg_engine_command(&outcome, engine, "bench", id, RG_COMMAND_ROLLBACK, "bench",
                                "rollback latency benchmark", 0)) < 0)
        goto cleanup;
    for (int i = 0; i < 10000; i++) {
        last = 0;
        if ((done = count_state(store, id, RG_TARGET_RESTORED, &last)) >= n || done < 0)
            break;
        if ((rc = rg_engine_tick_rollout(engine, "bench", id, &next)) < 0)
            goto cleanup;
        sleep_until(next);
    }
    if (done < n) {
        rc = rg_error_set(RG_ETIMEOUT, "only %ld of %ld targets restored", done, n);
        goto cleanup;
    }
    *out_s = (double)(last - start_ms) / 1000.0;
cleanup:
    if (faults)
        rg_simproc_faults(sim, "{}");
    free(outcome);
    rg_engine_free(engine);
    rg_store_free(store);
    rg_manifest_free(m);
    return rc;
}

/* Runs curl with a config file; counts non-2xx statuses from its write-out. */
static int run_curl(long *bad, const char *config, const char *extra)
{
    char cmd[2048], line[64];
    FILE *p;
    int status;

    snprintf(cmd, sizeof(cmd), "curl --silent --no-progress-meter --parallel --parallel-max %d %s --config '%s'",
             CONCURRENCY, extra, config);
    if ((p = popen(cmd, "r")) == NULL)
        return rg_error_set(RG_EIO, "cannot run curl");
    while (fgets(line, sizeof(line), p))
        if (line[0] != '2')
            (*bad)++;
    status = pclose(p);
    if (status == -1 || !WIFEXITED(status))
        return rg_error_set(RG_EIO, "curl did not finish");
    return 0;
}

static const char patch_body[] =
    "{\"name\":\"Production_Routing\",\"targets\":[{\"type\":\"Queue\",\"id\":"
    "\"queue_global_001\",\"weight\":100,\"priority\":1},{\"type\":\"Queue\",\"id\":"
    "\"queue_v2\",\"weight\":0,\"priority\":2}]}";

/* Escapes `"` and `\\` for a quoted curl config value. */
static void quote(char *out, size_t outlen, const char *s)
{
    size_t o = 0;
    for (; *s && o + 3 < outlen; s++) {
        if (*s == '"' || *s == '\\')
            out[o++] = '\\';
        out[o++] = *s;
    }
    out[o] = '\0';
}

/* GET batch (ETags into per-org header files), then PATCH batch with If-Match. */
static int floor_run(double *out_s, long *bad, const rg_simproc *sim, char **tokens, size_t n,
                     const char *dir, const char *extra)
{
    char get_cfg[700], patch_cfg[700], hdr[800], body[700], raw[256], etag[520];
    FILE *g = NULL, *p = NULL;
    double t_get, t0;
    int rc = 0;

    snprintf(get_cfg, sizeof(get_cfg), "%s/get.cfg", dir);
    snprintf(patch_cfg, sizeof(patch_cfg), "%s/patch.cfg", dir);
    snprintf(body, sizeof(body), "%s/body.json", dir);
    if (rg_test_write_file(body, patch_body) < 0 || (g = fopen(get_cfg, "w")) == NULL)
        return rg_error_set(RG_EIO, "%s: cannot write", get_cfg);
    for (size_t i = 0; i < n; i++)
        fprintf(g, "url = \"%s/api/v2/routing/strategies/strat_main\"\nheader = \"Authorization:"
                   " Bearer %s\"\noutput = \"/dev/null\"\ndump-header = \"%s/h%zu\"\n"
                   "write-out = \"%%{http_code}\\n\"\n%s", sim->url, tokens[i], dir, i,
                i + 1 < n ? "next\n" : "");
    fclose(g);
    t0 = mono_s();
    if ((rc = run_curl(bad, get_cfg, extra)) < 0)
        return rc;
    t_get = mono_s() - t0;
    if ((p = fopen(patch_cfg, "w")) == NULL)
        return rg_error_set(RG_EIO, "%s: cannot write", patch_cfg);
    for (size_t i = 0; i < n; i++) {
        rg_buf headers = RG_BUF_INIT;
        char *text;
        snprintf(hdr, sizeof(hdr), "%s/h%zu", dir, i);
        text = rg_test_read_file(hdr, NULL);
        if (text)
            rg_buf_puts(&headers, text);
        if (text == NULL || rg_simproc_header(raw, sizeof(raw), &headers, "ETag") == NULL)
            snprintf(raw, sizeof(raw), "\"missing\"");
        quote(etag, sizeof(etag), raw);
        free(text);
        rg_buf_dispose(&headers);
        fprintf(p, "url = \"%s/api/v2/routing/strategies/strat_main\"\nrequest = \"PATCH\"\n"
                   "header = \"Authorization: Bearer %s\"\nheader = \"If-Match: %s\"\n"
                   "header = \"Content-Type: application/json\"\ndata = \"@%s\"\n"
                   "output = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\n%s",
                sim->url, tokens[i], etag, body, i + 1 < n ? "next\n" : "");
    }
    fclose(p);
    t0 = mono_s();
    rc = run_curl(bad, patch_cfg, extra);
    *out_s = t_get + (mono_s() - t0);
    return rc;
}

typedef struct {
    const char *name;
    const char *faults;     /* POSTed to /sim/faults for the rollback only */
    const char *curl_extra; /* the floor's extra options */
} variant;

static const variant variants[] = {
    {"default limits (300/min per org)", NULL, ""},
    {"20% 503s (floor without faults)", "{\"error_rate\":0.2,\"error_status\":503}", ""},
};

/* Org ids and tokens of a generated scenario. */
static int load_tokens(json_t **orgs, char ***tokens, const rg_simproc *sim, const char *file)
{
    json_t *doc = json_load_file(file, 0, NULL), *org;
    size_t i;
    int rc = 0;

    if (doc == NULL)
        return rg_error_set(RG_EINVALID, "%s: cannot load the scenario", file);
    *orgs = json_array();
    *tokens = calloc(json_array_size(json_object_get(doc, "orgs")) + 1, sizeof(char *));
    json_array_foreach(json_object_get(doc, "orgs"), i, org) {
        json_array_append(*orgs, json_object_get(org, "id"));
        if (rc == 0)
            rc = rg_simproc_token(sim, json_string_value(json_object_get(org, "client_id")),
                                  json_string_value(json_object_get(org, "client_secret")),
                                  &(*tokens)[i]);
    }
    json_decref(doc);
    return rc;
}

static int measure(int n, const variant *v, const char *dir)
{
    char file[700], gen[4096], cmd[5000], f1[96], f2[96];
    double eng[RUNS], flo[RUNS];
    bench_summary a, b;
    json_t *orgs = NULL, *scen = NULL;
    char **tokens = NULL;
    rg_simproc sim = {0};
    long bad = 0;
    int rc = 0, status;

    snprintf(file, sizeof(file), "%s/orgs.json", dir);
    rg_test_path(gen, sizeof(gen), "sim/gen-scenario");
    snprintf(cmd, sizeof(cmd), "python3 '%s' --orgs %d --time-scale 60 --out '%s'", gen, n, file);
    status = system(cmd);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return rg_error_set(RG_EIO, "the scenario generator failed");
    if ((rc = rg_simproc_start(&sim, file)) < 0)
        return rc;
    if ((rc = rg_e2e_credentials(&scen, file)) < 0 ||
        (rc = load_tokens(&orgs, &tokens, &sim, file)) < 0)
        goto cleanup;
    for (int r = 0; r < RUNS && rc == 0; r++) {
        if ((rc = engine_run(&eng[r], &sim, orgs, dir, r, v->faults)) < 0)
            break;
        /* curl 7.88's --retry does not re-send these in --parallel mode (measured: a
         * quarter of the floor's requests failed), so the floor runs without faults: the
         * ideal the engine is held to. */
        rc = floor_run(&flo[r], &bad, &sim, tokens, (size_t)n, dir, v->curl_extra);
    }
    if (rc == 0) {
        bench_summarize(&a, eng, RUNS);
        bench_summarize(&b, flo, RUNS);
        printf("| %d | %s | %s | %s | %.2fx | %ld |\n", n, v->name,
               bench_format(f1, sizeof(f1), &a, 3), bench_format(f2, sizeof(f2), &b, 3),
               a.median / b.median, bad);
    }
cleanup:
    rg_simproc_stop(&sim);
    for (size_t i = 0; tokens && tokens[i]; i++)
        free(tokens[i]);
    free(tokens);
    json_decref(orgs);
    json_decref(scen);
    return rc;
}

int main(int argc, char **argv)
{
    char dir[512];
    int rc = 0;

    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: rollback_latency\n");
        return 3;
    }
    setenv("RG_BINARY_DIR", RG_BENCH_BINARY_DIR, 0);
    setenv("RG_SOURCE_DIR", RG_SOURCE_DIR, 0);
    printf("Forced rollback (rg_engine_command ROLLBACK, then rg_engine_tick_rollout until every"
           " target is restored) of N orgs whose single stage was applied; wall time from the "
           "command to the last restore PATCH (max restored_at_ms). Floor: curl %s "
           "--parallel --parallel-max %d: N GETs in one batch (ETags), then N PATCHes with "
           "If-Match in a second batch; time of both batches. %d runs each, seconds, median "
           "(min–max); a fresh rollout per run on one simulator per row.\n\n"
           "| orgs | conditions | rollgate s | curl floor s | ratio | floor non-2xx (all runs) |\n"
           "|---:|---|---:|---:|---:|---:|\n", "7.88", CONCURRENCY, RUNS);
    fflush(stdout);
    for (int n = 100; n <= 1000 && rc == 0; n *= 10)
        for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]) && rc == 0; v++) {
            if (rg_test_mkdtemp(dir, sizeof(dir)) < 0) {
                fprintf(stderr, "rollback_latency: cannot make a temporary directory\n");
                return 4;
            }
            if (measure(n, &variants[v], dir) < 0) {
                fprintf(stderr, "rollback_latency: %d orgs, %s: %s\n", n, variants[v].name,
                        rg_error_last());
                rc = 4;
            }
            fflush(stdout);
            rg_test_rmtree(dir);
        }
    return rc;
}
