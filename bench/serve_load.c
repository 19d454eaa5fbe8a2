/* serve_load.c - benchmark: `rollgate serve` under load. 1,000 gate long-polls and 10 event
 * streams held open while 100 status requests a second are made for 60 s, all from one
 * libcurl multi loop on loopback (spread over source addresses 127.0.0.x, since the server
 * caps connections per address, and over tokens, since it caps long-polls per token).
 * Reports the status requests' latency (p50, p99, max), every error, and the server's
 * resident memory and threads (from /proc). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "integration/test_serve_support.h"
#include "rollgate/util.h"
#include "support/testutil.h"

#define PER_ADDRESS 30 /* below the server's default of 32 per address */
#define PER_TOKEN 7    /* below its default of 8 long-polls and streams per token */

typedef struct {
    int longpolls, streams, rate, seconds;
} load_options;

enum { K_GATE, K_STREAM, K_STATUS };

typedef struct {
    int kind;
    double started;
    struct curl_slist *headers;
    long bytes;
} request;

typedef struct {
    long status_ok, status_err, held_err, streams_err;
    double *lat;
    size_t nlat, cap;
} tally;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t count_bytes(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    ((request *)u)->bytes += (long)(size * n);
    return size * n;
}

static CURL *easy(request *r, const char *url, const char *token, const char *source)
{
    CURL *e = curl_easy_init();
    char auth[128];

    if (e == NULL)
        return NULL;
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    r->headers = curl_slist_append(NULL, auth);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_INTERFACE, source);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, count_bytes);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->kind == K_STATUS ? 10000L : 0L);
    r->started = mono_s();
    return e;
}

typedef struct {
    char text[1 << 16];
    size_t len;
} page;

static size_t keep_bytes(char *p, size_t size, size_t n, void *u)
{
    page *pg = u;
    size_t take = size * n;
    if (take > sizeof(pg->text) - 1 - pg->len)
        take = sizeof(pg->text) - 1 - pg->len;
    memcpy(pg->text + pg->len, p, take);
    pg->len += take;
    pg->text[pg->len] = '\0';
    return size * n;
}

/* The server's own count of open long-polls and streams (its rollgate_held_requests gauge),
 * or -1 when /metrics cannot be read. */
static long held_now(const char *base)
{
    static page pg;
    char url[256];
    const char *at;
    CURL *e = curl_easy_init();
    long status = 0, n = -1;

    if (e == NULL)
        return -1;
    pg.len = 0;
    pg.text[0] = '\0';
    snprintf(url, sizeof(url), "%s/metrics", base);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_INTERFACE, "127.0.9.40");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_bytes);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &pg);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    if (curl_easy_perform(e) == CURLE_OK &&
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200 &&
        (at = strstr(pg.text, "\nrollgate_held_requests ")) != NULL)
        n = strtol(at + strlen("\nrollgate_held_requests "), NULL, 10);
    curl_easy_cleanup(e);
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* VmRSS, VmHWM (KiB) and Threads of a process. */
static void proc_status(long *rss, long *hwm, long *threads, int pid)
{
    char path[64], line[256];
    FILE *f;

    *rss = *hwm = *threads = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    if ((f = fopen(path, "r")) == NULL)
        return;
    while (fgets(line, sizeof(line), f)) {
        /* Bench command line typed by hand; a bad value shows in the output. */
        // NOLINTNEXTLINE(cert-err34-c)
        sscanf(line, "VmRSS: %ld", rss);
        /* Bench command line typed by hand; a bad value shows in the output. */
        // NOLINTNEXTLINE(cert-err34-c)
        sscanf(line, "VmHWM: %ld", hwm);
        /* Bench command line typed by hand; a bad value shows in the output. */
        // NOLINTNEXTLINE(cert-err34-c)
        sscanf(line, "Threads: %ld", threads);
    }
    fclose(f);
}

static int write_manifest(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    /* Never approved: the rollout waits, so every gate long-poll holds for the whole run. The
     * platform URL is a closed port: nothing is ever sent to it. */
    fputs("name: serve-load\ntenant: bench\nstages: [100]\napproval: required\n"
          "platform: {driver: genesys, api_url: \"http://127.0.0.1:9\", login_url: "
          "\"http://127.0.0.1:9\", credentials: env}\n"
          "groups:\n  - {name: g, orgs: [org_load]}\n"
          "change:\n  strategy: strat_main\n  template:\n    name: Load\n"
          "    targets: [{type: Queue, id: queue_v2, weight: 100, priority: 1}]\n",
          f);
    return fclose(f);
}

static int start_rollout(char *id, size_t idlen, const char *db, const char *manifest)
{
    char cmd[PATH_MAX * 3];
    FILE *p;
    int st;

    snprintf(cmd, sizeof(cmd), "'%s/cli/rollgate' --db '%s' start '%s' 2>/dev/null",
             rg_test_binary_dir(), db, manifest);
    if ((p = popen(cmd, "r")) == NULL)
        return -1;
    if (fgets(id, (int)idlen, p) == NULL)
        id[0] = '\0';
    st = pclose(p);
    id[strcspn(id, "\n")] = '\0';
    return st == 0 && id[0] ? 0 : -1;
}

static void settle(tally *t, CURLMsg *msg, int *held, int *streams)
{
    request *r;
    long status = 0;

    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
    if (r->kind == K_STATUS) {
        if (msg->data.result == CURLE_OK && status == 200) {
            if (t->nlat == t->cap) {
                t->cap = t->cap ? t->cap * 2 : 1024;
                t->lat = realloc(t->lat, t->cap * sizeof(*t->lat));
            }
            t->lat[t->nlat++] = (mono_s() - r->started) * 1000.0;
            t->status_ok++;
        } else {
            t->status_err++;
        }
    } else if (r->kind == K_GATE) {
        t->held_err++; /* a long-poll must not end before the run does */
        (*held)--;
    } else {
        t->streams_err++;
        (*streams)--;
    }
    curl_slist_free_all(r->headers);
    free(r);
}

/* Settles and frees every finished transfer. */
static void drain(CURLM *multi, tally *t, int *held, int *streams)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        settle(t, msg, held, streams);
        curl_multi_remove_handle(multi, msg->easy_handle);
        curl_easy_cleanup(msg->easy_handle);
    }
}

static int run(const load_options *o)
{
    char dir[PATH_MAX], db[PATH_MAX + 16], tokens[PATH_MAX + 16], manifest[PATH_MAX + 16];
    char id[64], url[256], source[32];
    int ntokens = (o->longpolls + o->streams) / PER_TOKEN + 2, held = 0, streams = 0, rc = 0;
    char **tok = calloc((size_t)ntokens, sizeof(char *));
    serve_proc sp = {0};
    tally t = {0};
    CURLM *multi = NULL;
    double t0, next, end, setup_s = 0;
    long rss0, hwm0, th0, rss, hwm, th, sent = 0;
    int running = 0;

    if (tok == NULL || rg_test_mkdtemp(dir, sizeof(dir)) < 0) {
        free(tok);
        return -1;
    }
    snprintf(db, sizeof(db), "%s/serve.db", dir);
    snprintf(tokens, sizeof(tokens), "%s/tokens.json", dir);
    snprintf(manifest, sizeof(manifest), "%s/manifest.yaml", dir);
    setenv("ROLLGATE_ORG_LOAD_CLIENT_ID", "load", 1);
    setenv("ROLLGATE_ORG_LOAD_CLIENT_SECRET", "load-secret", 1);
    if (write_manifest(manifest) < 0 || start_rollout(id, sizeof(id), db, manifest) < 0) {
        fprintf(stderr, "serve_load: cannot start the waiting rollout\n");
        rc = -1;
        goto cleanup;
    }
    for (int i = 0; i < ntokens; i++) {
        char name[32];
        snprintf(name, sizeof(name), "load-%d", i);
        if ((tok[i] = serve_token_new(tokens, "bench", "viewer", name)) == NULL) {
            fprintf(stderr, "serve_load: rollgate token new failed\n");
            rc = -1;
            goto cleanup;
        }
    }
    if (serve_start_mode(&sp, db, tokens, 0) < 0) {
        fprintf(stderr, "serve_load: rollgate serve did not start\n");
        rc = -1;
        goto cleanup;
    }
    proc_status(&rss0, &hwm0, &th0, sp.pid);
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    /* The held connections: long-polls, then streams, PER_ADDRESS per source address. */
    for (int i = 0; i < o->longpolls + o->streams; i++) {
        request *r = calloc(1, sizeof(*r));
        CURL *e;
        r->kind = i < o->longpolls ? K_GATE : K_STREAM;
        snprintf(url, sizeof(url), "%s/api/v1/rollouts/%s/%s", sp.url, id,
                 r->kind == K_GATE ? "gate?timeout=3600" : "events");
        snprintf(source, sizeof(source), "127.0.%d.%d", 1 + i / PER_ADDRESS / 250,
                 2 + (i / PER_ADDRESS) % 250);
        if ((e = easy(r, url, tok[i / PER_TOKEN], source)) == NULL ||
            curl_multi_add_handle(multi, e) != CURLM_OK) {
            rc = -1;
            goto cleanup;
        }
        if (r->kind == K_GATE)
            held++;
        else
            streams++;
    }
    /* The load is measured once the server holds every one of them (its own gauge says so):
     * their set-up (a thread and a store each) is a burst of its own, not the steady state. */
    t0 = mono_s();
    for (double check = t0;;) {
        double now = mono_s();
        curl_multi_perform(multi, &running);
        drain(multi, &t, &held, &streams);
        if (now >= check) {
            long n = held_now(sp.url);
            if (n >= held + streams)
                break;
            if (now - t0 > 120) {
                fprintf(stderr, "serve_load: the server holds %ld of %d requests after 120 s\n", n,
                        held + streams);
                rc = -1;
                goto cleanup;
            }
            check = now + 0.25;
        }
        curl_multi_poll(multi, NULL, 0, 20, NULL);
    }
    setup_s = mono_s() - t0;
    /* Status requests, paced at o->rate a second, from their own addresses with keep-alive. */
    snprintf(url, sizeof(url), "%s/api/v1/rollouts/%s", sp.url, id);
    t0 = next = mono_s();
    end = t0 + o->seconds;
    for (;;) {
        double now = mono_s();
        while (now < end && next <= now) {
            request *r = calloc(1, sizeof(*r));
            CURL *e;
            r->kind = K_STATUS;
            snprintf(source, sizeof(source), "127.0.9.%ld", 2 + sent % 20);
            if ((e = easy(r, url, tok[ntokens - 1], source)) == NULL ||
                curl_multi_add_handle(multi, e) != CURLM_OK) {
                rc = -1;
                goto cleanup;
            }
            sent++;
            next += 1.0 / o->rate;
        }
        curl_multi_perform(multi, &running);
        drain(multi, &t, &held, &streams);
        if (now >= end && (long)(t.status_ok + t.status_err) >= sent)
            break;
        curl_multi_poll(multi, NULL, 0, 2, NULL);
    }
    proc_status(&rss, &hwm, &th, sp.pid);
    qsort(t.lat, t.nlat, sizeof(*t.lat), cmp_double);
    printf("| %d | %d | %d/s for %d s | %ld | %.1f | %.1f | %.1f | %ld | %ld | %d of %d | %d of %d "
           "| %.1f | %.1f | %ld |\n",
           o->longpolls, o->streams, o->rate, o->seconds, t.status_ok,
           t.nlat ? t.lat[t.nlat / 2] : 0.0, t.nlat ? t.lat[(size_t)(t.nlat * 0.99)] : 0.0,
           t.nlat ? t.lat[t.nlat - 1] : 0.0, t.status_err, t.held_err + t.streams_err, held,
           o->longpolls, streams, o->streams, (double)rss0 / 1024.0, (double)rss / 1024.0, th);
    printf("\nThe server held all %d long-polls and streams (its rollgate_held_requests gauge) "
           "%.1f s after they were sent; the status requests began then.\n",
           o->longpolls + o->streams, setup_s);
cleanup:
    if (multi)
        curl_multi_cleanup(multi); /* the held requests are dropped with it */
    if (sp.pid > 0)
        serve_stop(&sp);
    for (int i = 0; i < ntokens; i++)
        free(tok[i]);
    free(tok);
    free(t.lat);
    rg_test_rmtree(dir);
    return rc;
}

int main(int argc, char **argv)
{
    load_options o = {1000, 10, 100, 60};

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--longpolls") == 0)
            /* Bench command line typed by hand; a bad value shows in the output. */
            // NOLINTNEXTLINE(cert-err34-c)
            o.longpolls = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--streams") == 0)
            /* Bench command line typed by hand; a bad value shows in the output. */
            // NOLINTNEXTLINE(cert-err34-c)
            o.streams = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--rate") == 0)
            /* Bench command line typed by hand; a bad value shows in the output. */
            // NOLINTNEXTLINE(cert-err34-c)
            o.rate = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            /* Bench command line typed by hand; a bad value shows in the output. */
            // NOLINTNEXTLINE(cert-err34-c)
            o.seconds = atoi(argv[i + 1]);
        else
            argc = 0;
    }
    if (argc % 2 == 0 || o.longpolls < 0 || o.longpolls > 5000 || o.streams < 0 ||
        o.streams > 100 || o.rate < 1 || o.rate > 10000 || o.seconds < 1 || o.seconds > 600) {
        fprintf(stderr, "usage: serve_load [--longpolls N] [--streams N] [--rate R] "
                        "[--seconds S]\n");
        return 3;
    }
    setenv("RG_BINARY_DIR", RG_BENCH_BINARY_DIR, 0);
    setenv("RG_SOURCE_DIR", RG_SOURCE_DIR, 0);
    curl_global_init(CURL_GLOBAL_ALL);
    printf("`rollgate serve` (default limits: 1,024 connections, 32 per address, 8 long-polls "
           "and streams per token) with one rollout awaiting approval. One libcurl multi loop "
           "opens N gate long-polls (`gate?timeout=3600`) and M event streams and holds them, "
           "%d per source address (127.0.x.y) and %d per viewer token, then sends status "
           "requests (`GET /api/v1/rollouts/{id}`) at a fixed rate from 20 other addresses "
           "with keep-alive. Latency: from adding the request to its last byte. Errors: status "
           "requests not answered 200, and held requests that ended before the run. Server "
           "RSS and threads from /proc/PID/status, before the load and at its end.\n\n"
           "| long-polls | streams | status requests | answered | p50 ms | p99 ms | max ms | "
           "status errors | held errors | long-polls open | streams open | RSS before MiB | "
           "RSS under load MiB | threads |\n"
           "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
           PER_ADDRESS, PER_TOKEN);
    fflush(stdout);
    if (run(&o) < 0) {
        fprintf(stderr, "serve_load: the run failed\n");
        return 4;
    }
    return 0;
}
