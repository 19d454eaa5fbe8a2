/* hosts.c - benchmark: rollouts driven per second by one, two and three `rollgate serve`
 * hosts on one database (issue 21). Each round starts rollgate-sim with ROLLOUTS x 3 orgs,
 * H servers (--tick 200ms) and posts the rollouts spread over the servers from one thread per
 * server (short windows: one stage, a verdict after 2 s, promoted when inconclusive), then
 * waits until every one is finished. Reports the wall time from the first post to the last
 * outcome and rollouts/s; no host is killed here. The database is an SQLite file per round,
 * or --db CONNINFO (rounds then share it: the finished rollouts of a round are not active in
 * the next). Never asserts. */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "integration/test_serve_support.h"
#include "rollgate/platform.h"
#include "rollgate/util.h"
#include "support/simproc.h"
#include "support/testutil.h"

#define MAX_HOSTS 3
#define ORGS_PER 3
#define TENANT "bench"

static const char policy_yaml[] =
    "policy:\n"
    "  alpha: 0.05\n  sequential: group\n  stabilization_window: 2s\n  soak_limit: 4s\n"
    "  poll_interval: 1s\n  granularity: PT1S\n  settle: 1s\n  pre_window: 20s\n"
    "  breaker: {consecutive: 2}\n  on_inconclusive: promote\n  errors: {limit: 3}\n"
    "  verify_window: 1s\n  capacity: {min_ratio: 0.8}\n  metrics:\n"
    "    - {name: abandonment_rate, kind: proportion, events: tAbandon, trials: nOffered,\n"
    "       increase_is_bad: true, tolerance: {relative: 0.15}, critical: true}\n";

typedef struct {
    pid_t pid;
    char url[96];
} host;

typedef struct {
    char dir[PATH_MAX], db[PATH_MAX + 16], tokens[PATH_MAX + 16], registry[PATH_MAX + 16];
    char scenario[PATH_MAX + 16];
    const char *db_uri;
    int rollouts, nhosts;
    rg_simproc sim;
    host hosts[MAX_HOSTS];
    char *token;
    char (*ids)[64];
} bench;

typedef struct {
    bench *b;
    int host, failed;
} poster;

static void org_id(char *out, size_t outlen, int r, int k)
{
    snprintf(out, outlen, "org_b%03d_%d", r, k);
}

static int write_scenario(bench *b)
{
    char path[PATH_MAX];
    json_t *doc, *tmpl, *orgs = json_array();
    int rc;

    rg_test_path(path, sizeof(path), "sim/scenarios/healthy.json");
    if ((doc = json_load_file(path, 0, NULL)) == NULL)
        return -1;
    tmpl = json_array_get(json_object_get(doc, "orgs"), 0);
    for (int r = 0; r < b->rollouts; r++)
        for (int k = 0; k < ORGS_PER; k++) {
            char id[32], buf[64], name[256];
            json_t *o = json_deep_copy(tmpl);
            org_id(id, sizeof(id), r, k);
            json_object_set_new(o, "id", json_string(id));
            json_object_set_new(o, "name", json_string(id));
            snprintf(buf, sizeof(buf), "cid-%s", id);
            json_object_set_new(o, "client_id", json_string(buf));
            rg_platform_env_name(name, sizeof(name), id, "CLIENT_ID");
            setenv(name, buf, 1);
            snprintf(buf, sizeof(buf), "secret-%s", id);
            json_object_set_new(o, "client_secret", json_string(buf));
            rg_platform_env_name(name, sizeof(name), id, "CLIENT_SECRET");
            setenv(name, buf, 1);
            json_array_append_new(orgs, o);
        }
    json_object_set_new(doc, "orgs", orgs);
    rc = json_dump_file(doc, b->scenario, JSON_COMPACT);
    json_decref(doc);
    return rc;
}

/* One org through `rollgate org add`, the others as copies of its entry. */
static int register_orgs(bench *b)
{
    char cmd[PATH_MAX * 4], id[32];
    json_t *doc, *orgs, *first;
    int fd = open(b->registry, O_WRONLY | O_CREAT | O_TRUNC, 0600), rc = -1;

    if (fd < 0 || write(fd, "{\"tenants\": {}}\n", 16) != 16) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    org_id(id, sizeof(id), 0, 0);
    snprintf(cmd, sizeof(cmd),
             "'%s/cli/rollgate' org add --registry '%s' --tenant " TENANT
             " --org %s --region loopback --api-url '%s' --login-url '%s' --credentials env"
             " >/dev/null 2>&1",
             rg_test_binary_dir(), b->registry, id, b->sim.url, b->sim.url);
    if (system(cmd) != 0 || (doc = json_load_file(b->registry, 0, NULL)) == NULL)
        return -1;
    orgs = json_object_get(json_object_get(json_object_get(doc, "tenants"), TENANT), "orgs");
    if ((first = json_deep_copy(json_object_get(orgs, id))) != NULL) {
        for (int r = 0; r < b->rollouts; r++)
            for (int k = 0; k < ORGS_PER; k++) {
                org_id(id, sizeof(id), r, k);
                json_object_set_new(orgs, id, json_deep_copy(first));
            }
        rc = json_dump_file(doc, b->registry, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(first);
    }
    json_decref(doc);
    return rc < 0 ? -1 : chmod(b->registry, 0600);
}

static int read_line(char *out, size_t outlen, int fd)
{
    size_t len = 0;
    int64_t deadline = rg_time_mono_ms() + 20000;
    while (len + 1 < outlen) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - rg_time_mono_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0 || read(fd, out + len, 1) <= 0)
            return -1;
        if (out[len] == '\n')
            break;
        len++;
    }
    out[len] = '\0';
    return 0;
}

static int host_start(bench *b, int h)
{
    char binary[PATH_MAX], line[90], err[PATH_MAX + 48];
    int fds[2];
    pid_t pid;

    snprintf(binary, sizeof(binary), "%s/cli/rollgate", rg_test_binary_dir());
    snprintf(err, sizeof(err), "%s/host%d.err", b->dir, h);
    if (pipe(fds) != 0 || (pid = fork()) < 0)
        return -1;
    if (pid == 0) {
        int e = open(err, O_WRONLY | O_CREAT | O_APPEND, 0600);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (e < 0 || dup2(fds[1], STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0)
            _exit(127);
        close(fds[0]);
        close(fds[1]);
        execl(binary, binary, "--db", b->db, "serve", "--listen", "127.0.0.1:0", "--tokens",
              b->tokens, "--registry", b->registry, "--tick", "200ms", "--allow-loopback-platform",
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    b->hosts[h].pid = pid;
    if (read_line(line, sizeof(line), fds[0]) < 0 ||
        strncmp(line, "listening on http://127.0.0.1:", 30) != 0) {
        close(fds[0]);
        return -1;
    }
    close(fds[0]);
    snprintf(b->hosts[h].url, sizeof(b->hosts[h].url), "%s", line + 13);
    return 0;
}

static void host_stop(host *x)
{
    if (x->pid <= 0)
        return;
    kill(x->pid, SIGTERM);
    waitpid(x->pid, NULL, 0);
    x->pid = 0;
}

static char *manifest(int r)
{
    rg_buf m = RG_BUF_INIT;
    char a[32], c[32], d[32];

    org_id(a, sizeof(a), r, 0);
    org_id(c, sizeof(c), r, 1);
    org_id(d, sizeof(d), r, 2);
    rg_buf_printf(&m,
                  "name: bench-%03d\ntenant: " TENANT "\nstages: [100]\napproval: none\n"
                  "platform: {driver: genesys}\ngroups:\n  - {name: all, orgs: [%s, %s, %s]}\n"
                  "change:\n  strategy: strat_main\n"
                  "  watch_queues: [queue_global_001, queue_v2]\n  template:\n"
                  "    name: Production_Routing_v2\n    targets:\n"
                  "      - {type: Queue, id: queue_global_001, weight: 0, priority: 1}\n"
                  "      - {type: Queue, id: queue_v2, weight: 100, priority: 1}\n%s",
                  r, a, c, d, policy_yaml);
    return rg_buf_detach(&m);
}

static void *post_main(void *arg)
{
    poster *p = arg;
    bench *b = p->b;

    for (int r = p->host; r < b->rollouts; r += b->nhosts) {
        char *body = manifest(r);
        rg_buf resp = RG_BUF_INIT;
        json_t *doc = NULL;
        long status = 0;
        if (serve_http(b->hosts[p->host].url, "POST", "/api/v1/rollouts", b->token,
                       "application/yaml", body, &status, &resp, NULL) == 0 &&
            status == 201 && (doc = json_loads(rg_buf_cstr(&resp), 0, NULL)) != NULL)
            snprintf(b->ids[r], sizeof(b->ids[r]), "%s",
                     json_string_value(json_object_get(doc, "id")) ?: "");
        else if (p->failed++ == 0)
            fprintf(stderr, "hosts: start on host %d: HTTP %ld %s\n", p->host, status,
                    rg_buf_cstr(&resp));
        json_decref(doc);
        rg_buf_dispose(&resp);
        free(body);
    }
    return NULL;
}

static int finished(const char *state)
{
    return state && (strcmp(state, "completed") == 0 || strcmp(state, "rolled_back") == 0 ||
                     strcmp(state, "rollback_incomplete") == 0 || strcmp(state, "held") == 0);
}

/* How many rollouts are finished (asked of the host each was posted to). */
static int count_finished(bench *b, int *done_flags)
{
    int done = 0;
    for (int r = 0; r < b->rollouts; r++) {
        char path[128];
        json_t *doc;
        long status = 0;
        if (!done_flags[r] && b->ids[r][0]) {
            snprintf(path, sizeof(path), "/api/v1/rollouts/%s", b->ids[r]);
            doc =
                serve_http_json(b->hosts[r % b->nhosts].url, "GET", path, b->token, NULL, &status);
            done_flags[r] =
                status == 200 && finished(json_string_value(json_object_get(doc, "state")));
            json_decref(doc);
        }
        done += done_flags[r];
    }
    return done;
}

/* One round with `nhosts` servers: *out_s from the first post to the last outcome. */
static int round_run(bench *b, int nhosts, double *out_s, int *out_failed)
{
    poster posters[MAX_HOSTS];
    pthread_t threads[MAX_HOSTS];
    int *done_flags = calloc((size_t)b->rollouts, sizeof(int)), done = 0, rc = -1;
    int64_t t0, deadline;

    b->nhosts = nhosts;
    *out_failed = 0;
    if (done_flags == NULL || rg_test_mkdtemp(b->dir, sizeof(b->dir)) < 0)
        goto out;
    if (b->db_uri)
        snprintf(b->db, sizeof(b->db), "%s", b->db_uri);
    else
        snprintf(b->db, sizeof(b->db), "%s/bench.db", b->dir);
    snprintf(b->tokens, sizeof(b->tokens), "%s/tokens.json", b->dir);
    snprintf(b->registry, sizeof(b->registry), "%s/registry.json", b->dir);
    snprintf(b->scenario, sizeof(b->scenario), "%s/scenario.json", b->dir);
    memset(b->ids, 0, (size_t)b->rollouts * sizeof(*b->ids));
    if (write_scenario(b) < 0 || rg_simproc_start(&b->sim, b->scenario) < 0 ||
        register_orgs(b) < 0 ||
        (b->token = serve_token_new(b->tokens, TENANT, "release", "bench")) == NULL)
        goto out;
    for (int h = 0; h < nhosts; h++)
        if (host_start(b, h) < 0)
            goto out;
    t0 = rg_time_mono_ms();
    for (int h = 0; h < nhosts; h++) {
        posters[h].b = b;
        posters[h].host = h;
        posters[h].failed = 0;
        pthread_create(&threads[h], NULL, post_main, &posters[h]);
    }
    for (int h = 0; h < nhosts; h++) {
        pthread_join(threads[h], NULL);
        *out_failed += posters[h].failed;
    }
    deadline = rg_time_mono_ms() + 600000;
    while ((done = count_finished(b, done_flags)) < b->rollouts - *out_failed &&
           rg_time_mono_ms() < deadline) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    *out_s = (double)(rg_time_mono_ms() - t0) / 1000.0;
    rc = done == b->rollouts - *out_failed ? 0 : -1;
out:
    for (int h = 0; h < MAX_HOSTS; h++)
        host_stop(&b->hosts[h]);
    rg_simproc_stop(&b->sim);
    free(b->token);
    b->token = NULL;
    if (b->dir[0])
        rg_test_rmtree(b->dir);
    b->dir[0] = '\0';
    free(done_flags);
    return rc;
}

int main(int argc, char **argv)
{
    bench b;
    int max_hosts = MAX_HOSTS;

    memset(&b, 0, sizeof(b));
    b.rollouts = 60;
    for (int i = 1; i < argc; i++) {
        int64_t n = 0;
        if (strcmp(argv[i], "--rollouts") == 0 && i + 1 < argc) {
            if (rg_parse_int64(&n, argv[++i], 1, 999) < 0) {
                fprintf(stderr, "hosts: --rollouts: %s\n", rg_error_last());
                return 2;
            }
            b.rollouts = (int)n;
        } else if (strcmp(argv[i], "--hosts") == 0 && i + 1 < argc) {
            if (rg_parse_int64(&n, argv[++i], 1, MAX_HOSTS) < 0) {
                fprintf(stderr, "hosts: --hosts: %s\n", rg_error_last());
                return 2;
            }
            max_hosts = (int)n;
        } else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            b.db_uri = argv[++i];
        } else {
            fprintf(stderr, "usage: hosts [--rollouts N (60)] [--hosts 1..3 (3)] [--db CONNINFO]\n"
                            "  --db: one database for every round (default: an SQLite file "
                            "per round)\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    setenv("RG_BINARY_DIR", RG_BENCH_BINARY_DIR, 0);
    setenv("RG_SOURCE_DIR", RG_SOURCE_DIR, 0);
    if ((b.ids = calloc((size_t)b.rollouts, sizeof(*b.ids))) == NULL)
        return 1;
    printf("%d rollouts (3 orgs each, one stage, a verdict after 2 s) on %s, servers with "
           "--tick 200ms, posted from one thread per server:\n\n",
           b.rollouts, b.db_uri ? "the given database" : "SQLite (a file per round)");
    printf("| hosts | wall s | rollouts/s | speed-up | refused starts |\n|---|---|---|---|---|\n");
    fflush(stdout);
    {
        double first = 0;
        for (int h = 1; h <= max_hosts; h++) {
            double s = 0;
            int failed = 0;
            if (round_run(&b, h, &s, &failed) < 0) {
                printf("| %d | failed: %s | | | %d |\n", h, rg_error_last(), failed);
                continue;
            }
            if (h == 1)
                first = s;
            printf("| %d | %.1f | %.2f | %.2fx | %d |\n", h, s, (double)(b.rollouts - failed) / s,
                   first > 0 ? first / s : 0.0, failed);
            fflush(stdout);
        }
    }
    free(b.ids);
    return 0;
}
