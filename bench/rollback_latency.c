/* rollback_latency.c - benchmark: forced rollback of N orgs on rollgate-sim against a raw
 * retrying libcurl-multi floor (the same N GETs + N PATCHes at the same concurrency, the same
 * faults, the same retry rules) at 100, 1,000 and 10,000 orgs */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "bench/bench_util.h"
#include "bench/http_floor.h"
#include "rollgate/engine.h"
#include "rollgate/platform.h"
#include "rollgate/store.h"
#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/simproc.h"
#include "support/testutil.h"

#define RUNS 9
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

/* What the simulator saw of the platform API (/api/ paths) from `since_ms` on, read from its
 * request log (/sim/requests) from sequence `*cursor` on; *cursor is moved to the end. */
typedef struct {
    long requests, limited, failed; /* all, 429s, 5xx */
    long gets, patch_failed;        /* GETs; PATCHes answered 5xx (their outcome unknown) */
} log_counts;

static int count_log(log_counts *out, const rg_simproc *sim, int64_t *cursor, int64_t since_ms)
{
    memset(out, 0, sizeof(*out));
    for (;;) {
        char path[96];
        long status = 0;
        rg_buf body = {0};
        json_t *doc, *e;
        size_t i, n;
        int rc;
        snprintf(path, sizeof(path), "/sim/requests?since=%lld&limit=100000", (long long)*cursor);
        if ((rc = rg_simproc_request(sim, "GET", path, NULL, NULL, &status, &body, NULL)) < 0)
            return rc;
        doc = status == 200 ? json_loadb(body.ptr, body.len, 0, NULL) : NULL;
        rg_buf_dispose(&body);
        if (doc == NULL)
            return rg_error_set(RG_EPLATFORM, "/sim/requests: status %ld", status);
        n = json_array_size(json_object_get(doc, "requests"));
        json_array_foreach(json_object_get(doc, "requests"), i, e)
        {
            const char *p = json_string_value(json_object_get(e, "path"));
            json_int_t st = json_integer_value(json_object_get(e, "status"));
            if (p == NULL || strncmp(p, "/api/", 5) != 0 ||
                json_integer_value(json_object_get(e, "time_ms")) < since_ms)
                continue;
            const char *m = json_string_value(json_object_get(e, "method"));
            out->requests++;
            out->limited += st == 429;
            out->failed += st >= 500;
            out->gets += m != NULL && strcmp(m, "GET") == 0;
            out->patch_failed += m != NULL && strcmp(m, "PATCH") == 0 && st >= 500;
        }
        *cursor = json_integer_value(json_object_get(doc, "next"));
        json_decref(doc);
        if (n == 0)
            return 0;
    }
}

/* One rollout: apply the single stage, then force a rollback and time it to the last
 * restore (the target rows' restored_at_ms, set when the restore PATCH committed). */
static int engine_run(double *out_s, int64_t *out_start_ms, const rg_simproc *sim,
                      const json_t *orgs, const char *dir, int run, const char *faults,
                      int64_t quiet_ms, int during_apply)
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
        (rc = rg_engine_start(id, engine, m, dir, "bench", 1)) < 0 ||
        /* after the start's planning reads: the storm is for the stage's writes */
        (during_apply && faults && (rc = rg_simproc_faults(sim, faults)) < 0))
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
    if (quiet_ms > 0) { /* let the apply's rate windows pass: the rollback starts fresh */
        struct timespec ts = {quiet_ms / 1000, (quiet_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (!during_apply && faults && (rc = rg_simproc_faults(sim, faults)) < 0)
        goto cleanup;
    start_ms = rg_time_now_ms();
    *out_start_ms = start_ms;
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

typedef struct {
    const char *name;
    const char *faults; /* POSTed to /sim/faults for the rollback and for the floor */
    int64_t quiet_ms;   /* the engine waits this long after its apply before the rollback */
    int during_apply;   /* the faults are on for the apply too, and the rollback follows at
                         * once; the floor makes its own untimed apply pass under them first */
    int max_orgs;       /* not run above this size (0: every size) */
} variant;

/* A "429 storm": every org's token may make one request a second, so the PATCH after each
 * GET must wait out the window. The simulator's limit is per token, as the platform documents
 * it (client.credentials.token.rate.per.minute), and both sides use one token per org for
 * their apply and their rollback. Both start from the same state: either fresh (the engine
 * waits one storm window after its apply; the floor's tokens rested since its previous run),
 * or right after an apply made under the same storm, whose last requests opened the window the
 * rollback's first request lands in (the floor makes its own apply pass under the storm). */
static const variant variants[] = {
    {"default limits (300/min per org)", NULL, 0, 0, 0},
    {"20% 503s", "{\"error_rate\":0.2,\"error_status\":503}", 0, 0, 0},
    {"429 storm (1 request/s per org token), fresh windows",
     "{\"rate_limit\":1,\"rate_window_s\":1}", 1100, 0, 0},
    /* At 10,000 orgs the two applies under the storm take ~12 minutes a run, and the
     * windows they opened have closed before the rollback reaches most orgs (one run,
     * 2026-12-02: rollgate 11.37 s, floor 11.75 s, no 429 for rollgate): the fresh case. */
    {"429 storm, also during the apply, rollback right after it",
     "{\"rate_limit\":1,\"rate_window_s\":1}", 0, 1, 1000},
};
#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

static const char patch_body[] =
    "{\"name\":\"Production_Routing\",\"targets\":[{\"type\":\"Queue\",\"id\":"
    "\"queue_global_001\",\"weight\":100,\"priority\":1},{\"type\":\"Queue\",\"id\":"
    "\"queue_v2\",\"weight\":0,\"priority\":2}]}";

/* The floor under the same faults as the engine's run, retrying as the platform client. */
static int floor_run(bench_floor_result *out, const rg_simproc *sim, char **tokens, size_t n,
                     const char *faults, int apply_first, int64_t *start_ms)
{
    bench_floor_options opts;
    char **urls = calloc(n, sizeof(char *));
    int rc = 0;

    if (urls == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) {
        char url[600];
        snprintf(url, sizeof(url), "%s/api/v2/routing/strategies/strat_main", sim->url);
        if ((urls[i] = rg_strdup(url)) == NULL)
            rc = rg_error_set(RG_ENOMEM, "out of memory");
    }
    bench_floor_options_init(&opts);
    opts.concurrency = CONCURRENCY;
    *start_ms = 0;
    if (rc == 0 && faults)
        rc = rg_simproc_faults(sim, faults);
    if (rc == 0 && apply_first && bench_floor_run(out, &opts, urls, tokens, n, patch_body) < 0)
        rc = rg_error_set(RG_EIO, "the floor's apply pass could not run");
    if (rc == 0)
        *start_ms = rg_time_now_ms();
    if (rc == 0 && bench_floor_run(out, &opts, urls, tokens, n, patch_body) < 0)
        rc = rg_error_set(RG_EIO, "the floor could not run");
    if (faults)
        rg_simproc_faults(sim, "{}");
    for (size_t i = 0; i < n; i++)
        free(urls[i]);
    free(urls);
    return rc;
}

/* engine_run in a child, so its peak RSS is the engine's alone. */
static int engine_child(double *out_s, int64_t *out_start_ms, double *out_rss_mib,
                        const rg_simproc *sim, const json_t *orgs, const char *dir, int run,
                        const variant *v)
{
    int fds[2], status;
    struct rusage ru;
    struct {
        double s;
        int64_t start_ms;
    } s = {0, 0};
    pid_t pid;

    if (pipe(fds) < 0)
        return rg_error_set(RG_EIO, "pipe: %s", strerror(errno));
    fflush(NULL);
    if ((pid = fork()) < 0)
        return rg_error_set(RG_EIO, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        if (engine_run(&s.s, &s.start_ms, sim, orgs, dir, run, v->faults, v->quiet_ms,
                       v->during_apply) < 0) {
            fprintf(stderr, "rollback_latency: %s\n", rg_error_last());
            _exit(4);
        }
        if (write(fds[1], &s, sizeof(s)) != (ssize_t)sizeof(s))
            _exit(4);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], &s, sizeof(s)) != (ssize_t)sizeof(s))
        s.s = -1;
    close(fds[0]);
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        s.s < 0)
        return rg_error_set(RG_EIO, "the engine's run failed (see above)");
    *out_s = s.s;
    *out_start_ms = s.start_ms;
    *out_rss_mib = (double)ru.ru_maxrss / 1024.0;
    return 0;
}

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
    json_array_foreach(json_object_get(doc, "orgs"), i, org)
    {
        json_array_append(*orgs, json_object_get(org, "id"));
        if (rc == 0)
            rc = rg_simproc_token(sim, json_string_value(json_object_get(org, "client_id")),
                                  json_string_value(json_object_get(org, "client_secret")),
                                  &(*tokens)[i]);
    }
    json_decref(doc);
    return rc;
}

#define MAX_SIZES 3

/* Medians per size and variant, for the plot. */
typedef struct {
    int n[MAX_SIZES];
    double engine[MAX_SIZES][NVARIANTS], floor[MAX_SIZES][NVARIANTS];
    int sizes;
} plot_data;

typedef struct {
    int orgs; /* one size only; 0 = every size up to max_orgs */
    int max_orgs;
    int runs;    /* 0 = RUNS (3 at 10,000) */
    int variant; /* one variant only (index into variants); -1 = all */
    int verbose; /* per-run times and request counts on stderr */
} bench_args;

/* Every variant at n orgs on one simulator: RUNS fresh rollouts each, then the floor. */
static int measure(plot_data *plot, int n, const char *dir, const bench_args *args)
{
    char file[700], gen[4096], cmd[5000], f1[96], f2[96];
    int runs = args->runs > 0 ? args->runs : n >= 10000 ? 3 : RUNS, rc = 0, status;
    json_t *orgs = NULL, *scen = NULL;
    char **tokens = NULL;
    rg_simproc sim = {0};
    int64_t cursor = 0;

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
    for (size_t v = 0; v < NVARIANTS && rc == 0; v++) {
        double eng[RUNS], flo[RUNS], rss[RUNS];
        long failed = 0;
        log_counts ce = {0}, cf = {0};
        bench_summary a, b, r;
        if (args->variant >= 0 && (size_t)args->variant != v)
            continue;
        if (variants[v].max_orgs > 0 && n > variants[v].max_orgs) {
            printf("| %d | %s | not run: the applies under the storm take minutes, and their "
                   "windows close before the rollback reaches most orgs (the fresh case above) "
                   "| – | – | – | – | – | – | – | – |\n",
                   n, variants[v].name);
            continue;
        }
        for (int i = 0; i < runs && rc == 0; i++) {
            bench_floor_result fr;
            log_counts ec, fc;
            int64_t t0 = 0;
            if ((rc = count_log(&ec, &sim, &cursor, INT64_MAX)) < 0 ||
                (rc = engine_child(&eng[i], &t0, &rss[i], &sim, orgs, dir, (int)v * RUNS + i,
                                   &variants[v])) < 0 ||
                (rc = count_log(&ec, &sim, &cursor, t0)) < 0 ||
                (rc = floor_run(&fr, &sim, tokens, (size_t)n, variants[v].faults,
                                variants[v].during_apply, &t0)) < 0 ||
                (rc = count_log(&fc, &sim, &cursor, t0)) < 0)
                break;
            ce.requests += ec.requests;
            ce.limited += ec.limited;
            ce.gets += ec.gets;
            ce.patch_failed += ec.patch_failed;
            cf.requests += fc.requests;
            cf.limited += fc.limited;
            cf.gets += fc.gets;
            cf.patch_failed += fc.patch_failed;
            flo[i] = fr.seconds;
            failed += fr.failed;
            if (args->verbose)
                fprintf(stderr,
                        "rollback_latency: %d orgs, %s, run %d: rollgate %.3f s, %ld requests "
                        "(%ld GETs), %ld 429s, %ld 5xx (%ld to PATCHes); floor %.3f s, %ld "
                        "requests (%ld GETs), %ld 429s, %ld 5xx (%ld to PATCHes)\n",
                        n, variants[v].name, i + 1, eng[i], ec.requests, ec.gets, ec.limited,
                        ec.failed, ec.patch_failed, flo[i], fc.requests, fc.gets, fc.limited,
                        fc.failed, fc.patch_failed);
        }
        if (rc < 0)
            break;
        bench_summarize(&a, eng, (size_t)runs);
        bench_summarize(&b, flo, (size_t)runs);
        bench_summarize(&r, rss, (size_t)runs);
        printf("| %d | %s | %s | %s | %.2fx | %.1f | %.0f / %.0f | %.0f / %.0f | %.0f / %.0f | "
               "%.0f / %.0f | %ld |\n",
               n, variants[v].name, bench_format(f1, sizeof(f1), &a, 3),
               bench_format(f2, sizeof(f2), &b, 3), a.median / b.median, r.max,
               (double)ce.requests / runs, (double)cf.requests / runs, (double)ce.gets / runs,
               (double)cf.gets / runs, (double)ce.patch_failed / runs,
               (double)cf.patch_failed / runs, (double)ce.limited / runs, (double)cf.limited / runs,
               failed);
        fflush(stdout);
        plot->engine[plot->sizes][v] = a.median;
        plot->floor[plot->sizes][v] = b.median;
    }
    if (rc == 0)
        plot->n[plot->sizes++] = n;
cleanup:
    rg_simproc_stop(&sim);
    for (size_t i = 0; tokens && tokens[i]; i++)
        free(tokens[i]);
    free(tokens);
    json_decref(orgs);
    json_decref(scen);
    return rc;
}

/* Seconds against orgs on log-log axes: rollgate and the floor, without faults and under
 * 20% 503s. */
static int write_svg(const char *path, const plot_data *p)
{
    static const char *const colour[2] = {"#1f5fa8", "#b8431f"};
    const double x0 = 70, x1 = 600, y0 = 340, y1 = 30;
    double lo = 1e9, hi = 0;
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return rg_error_set(RG_EIO, "%s: cannot write: %s", path, strerror(errno));
    for (int i = 0; i < p->sizes; i++)
        for (size_t v = 0; v < 2; v++) {
            double a = p->engine[i][v], b = p->floor[i][v];
            lo = fmin(lo, fmin(a, b));
            hi = fmax(hi, fmax(a, b));
        }
    lo = pow(10, floor(log10(lo > 0 ? lo : 0.01)));
    hi = pow(10, ceil(log10(hi > lo ? hi : lo * 10)));
#define X(n) (x0 + (x1 - x0) * (log10(n) - 2) / 2)
#define Y(s) (y0 - (y0 - y1) * (log10(s) - log10(lo)) / (log10(hi) - log10(lo)))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"820\" height=\"400\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n"
               "<rect width=\"820\" height=\"400\" fill=\"white\"/>\n"
               "<text x=\"335\" y=\"18\" text-anchor=\"middle\">Forced rollback: rollgate "
               "and the retrying libcurl floor (median seconds, log-log)</text>\n");
    for (int e = 2; e <= 4; e++)
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d orgs</text>\n",
                X(pow(10, e)), y0, X(pow(10, e)), y1, X(pow(10, e)), y0 + 18, (int)pow(10, e));
    /* A decade ladder for the plot axis, bounded by hi; exact counting is not needed. */
    // NOLINTNEXTLINE(clang-analyzer-security.FloatLoopCounter)
    for (double s = lo; s <= hi * 1.0001; s *= 10)
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g s</text>\n",
                x0, Y(s), x1, Y(s), x0 - 6, Y(s) + 4, s);
    for (size_t v = 0; v < 2; v++)
        for (int who = 0; who < 2; who++) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"",
                    colour[v], who ? " stroke-dasharray=\"6 4\"" : "");
            for (int i = 0; i < p->sizes; i++)
                fprintf(f, "%.1f,%.1f ", X(p->n[i]), Y(who ? p->floor[i][v] : p->engine[i][v]));
            fprintf(f, "\"/>\n<text x=\"615\" y=\"%d\" fill=\"%s\">%s, %s</text>\n",
                    60 + (int)(v * 2 + (size_t)who) * 18, colour[v],
                    who ? "floor (dashed)" : "rollgate (solid)", variants[v].name);
        }
#undef X
#undef Y
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : rg_error_set(RG_EIO, "%s: cannot write", path);
}

int main(int argc, char **argv)
{
    static const int sizes[MAX_SIZES] = {100, 1000, 10000};
    const char *svg = NULL;
    plot_data plot = {0};
    bench_args args = {0, 10000, 0, -1, 0};
    int rc = 0;
    char dir[512];

    for (int i = 1; i < argc; i++) {
        /* Bench command line typed by hand; a bad value shows in the output. */
        if (strcmp(argv[i], "--svg") == 0 && i + 1 < argc)
            svg = argv[++i];
        else if (strcmp(argv[i], "--max-orgs") == 0 && i + 1 < argc)
            args.max_orgs = atoi(argv[++i]); // NOLINT(cert-err34-c)
        else if (strcmp(argv[i], "--orgs") == 0 && i + 1 < argc)
            args.orgs = atoi(argv[++i]); // NOLINT(cert-err34-c)
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            args.runs = atoi(argv[++i]); // NOLINT(cert-err34-c)
        else if (strcmp(argv[i], "--variant") == 0 && i + 1 < argc)
            args.variant = atoi(argv[++i]); // NOLINT(cert-err34-c)
        else if (strcmp(argv[i], "--verbose") == 0)
            args.verbose = 1;
        else {
            fprintf(stderr, "usage: rollback_latency [--max-orgs N | --orgs N] [--runs R] "
                            "[--variant K] [--verbose] [--svg FILE]\n  variants:");
            for (size_t v = 0; v < NVARIANTS; v++)
                fprintf(stderr, " %zu = %s;", v, variants[v].name);
            fprintf(stderr, "\n");
            return 3;
        }
    }
    if (args.runs < 0 || args.runs > RUNS || args.variant >= (int)NVARIANTS || args.orgs < 0) {
        fprintf(stderr, "rollback_latency: --runs 1..%d, --variant 0..%zu, --orgs >= 1\n", RUNS,
                NVARIANTS - 1);
        return 3;
    }
    setenv("RG_BINARY_DIR", RG_BENCH_BINARY_DIR, 0);
    setenv("RG_SOURCE_DIR", RG_SOURCE_DIR, 0);
    printf("Forced rollback (rg_engine_command ROLLBACK, then rg_engine_tick_rollout until every"
           " target is restored) of N orgs whose single stage was applied; wall time from the "
           "command to the last restore PATCH (max restored_at_ms), the engine in a child "
           "process of its own (peak RSS). Floor: bench/http_floor.c, one libcurl multi handle "
           "at the same concurrency (%d): per org a GET, then at once its PATCH with If-Match, "
           "retrying 5xx, "
           "resets and 429s with the platform client's bounds and full-jitter backoff (base "
           "100 ms, 6 retries; Retry-After honoured); the same faults are on for both. %d runs "
           "each (3 at 10,000), seconds, median (min–max); a fresh rollout per run on one "
           "simulator per size. The 429 storm lets each org's token make one request a second "
           "(the simulator's limit is per token, as the platform documents it: "
           "client.credentials.token.rate.per.minute); both sides start from the same state: "
           "with fresh windows (the engine waits one window after its apply; the floor's tokens "
           "rested since its previous run), or right after an apply made under the storm (the "
           "floor makes its own apply pass first), whose last requests opened the window the "
           "rollback's first GET lands in. Requests and 429s are what the simulator logged "
           "(/sim/requests, /api/ paths) from the rollback command, or the floor's timed pass, "
           "on: rollgate waits for a window it knows is spent (rate headers) instead of sending "
           "into it, so it sends fewer requests than the floor for the same restores. A PATCH "
           "answered 5xx may have landed: rollgate re-reads before it sends another (one GET "
           "more), the floor re-sends it at once with its If-Match.\n\n"
           "| orgs | conditions | rollgate s | floor s | ratio | rollgate peak RSS MiB | API "
           "requests per run, rollgate / floor | of them GETs | PATCHes answered 5xx | 429s per "
           "run, rollgate / floor | floor failures |\n"
           "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
           CONCURRENCY, RUNS);
    fflush(stdout);
    for (int k = 0; k < MAX_SIZES && rc == 0; k++) {
        int n = args.orgs > 0 ? args.orgs : sizes[k];
        if (args.orgs > 0 ? k > 0 : n > args.max_orgs)
            break;
        if (rg_test_mkdtemp(dir, sizeof(dir)) < 0) {
            fprintf(stderr, "rollback_latency: cannot make a temporary directory\n");
            return 4;
        }
        if (measure(&plot, n, dir, &args) < 0) {
            fprintf(stderr, "rollback_latency: %d orgs: %s\n", n, rg_error_last());
            rc = 4;
        }
        rg_test_rmtree(dir);
    }
    if (svg && (args.variant >= 0 || args.orgs > 0)) {
        fprintf(stderr, "rollback_latency: --svg plots every size and condition; not written\n");
        svg = NULL;
    }
    if (rc == 0 && svg && write_svg(svg, &plot) < 0) {
        fprintf(stderr, "rollback_latency: %s\n", rg_error_last());
        rc = 4;
    }
    return rc;
}
