/* test_e2e_hosts.c - several `rollgate serve` hosts on one database (issue 21): three
 * servers drive 30 rollouts against rollgate-sim while the test kills them with SIGKILL,
 * pauses them with SIGSTOP for longer than a lease (so that the others take their rollouts
 * by expiry and the paused one comes back fenced), and restarts them, at random from a
 * seeded PRNG. Outcomes are judged from the simulator's side: every healthy rollout's orgs
 * carry the change, every bad one's are back to their value before it, and each org got
 * exactly one successful apply write and, when restored, one restore write.
 *
 * The database is $RG_TEST_DB_URI when set (a PostgreSQL conninfo once that backend is
 * built), else an SQLite file in the test's directory. $RG_TEST_SEED replays a run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "integration/test_serve_support.h"
#include "rollgate/platform.h"
#include "rollgate/util.h"
#include "support/pg.h"
#include "support/e2e.h"
#include "support/simproc.h"
#include "support/skip.h"
#include "support/testutil.h"

#define HOSTS 3
#define ROLLOUTS 30
#define ORGS_PER 3
#define TENANT "hosts"
#define LEASE "1s"
#define TICK "200ms"

/* Short windows: two stages, a verdict every second after a 2 s stabilization. A healthy
 * stage still inconclusive at the soak limit is promoted (this test is about who drives, not
 * about the statistics: the bad change, abandonment x1.5, trips long before). The tolerance
 * is wide (+30%) because the test asks every one of its 20 healthy rollouts to complete: at
 * +15% a healthy stage with one canary org (a 1 s bucket holds ~2,400 calls, ~7% relative
 * noise in its abandonment) fails now and then exactly as alpha allows (seen: +16%, interval
 * +0%..+35%, at a last stage), and twenty draws of that make a flaky test, not a finding. */
static const char policy_yaml[] =
    "policy:\n"
    "  alpha: 0.05\n  sequential: group\n  stabilization_window: 2s\n  soak_limit: 8s\n"
    "  poll_interval: 1s\n  granularity: PT1S\n  settle: 1s\n  pre_window: 20s\n"
    "  breaker: {consecutive: 2}\n  on_inconclusive: promote\n  errors: {limit: 3}\n"
    "  verify_window: 2s\n  capacity: {min_ratio: 0.8}\n  metrics:\n"
    "    - {name: abandonment_rate, kind: proportion, events: tAbandon, trials: nOffered,\n"
    "       increase_is_bad: true, tolerance: {relative: 0.3}, critical: true}\n"
    "    - {name: speed_of_answer, kind: mean, source: tAnswered, increase_is_bad: true,\n"
    "       tolerance: {absolute: 10s}}\n";

typedef struct {
    pid_t pid; /* 0: not running */
    int stopped;
    pid_t waker; /* when stopped: the child that sends SIGCONT when the pause is over */
    char url[96];
    char err[PATH_MAX + 16];
} host;

typedef struct {
    char dir[PATH_MAX], db[PATH_MAX + 16], tokens[PATH_MAX + 16], registry[PATH_MAX + 16];
    char scenario[PATH_MAX + 16];
    rg_simproc sim;
    host hosts[HOSTS];
    char *token;
    char ids[ROLLOUTS][64];
    char states[ROLLOUTS][32];
    uint64_t rng;
    int kills, pauses, restarts;
} fixture;

/* ---- a seeded PRNG (xorshift64*) ---- */

static uint64_t next_rand(fixture *f)
{
    f->rng ^= f->rng >> 12;
    f->rng ^= f->rng << 25;
    f->rng ^= f->rng >> 27;
    return f->rng * 2685821657736338717ULL;
}

static int64_t rand_between(fixture *f, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(next_rand(f) % (uint64_t)(hi - lo + 1));
}

/* Rollout r is bad (its change trips the breaker) for every third r. */
static int is_bad(int r)
{
    return r % 3 == 1;
}

static void org_id(char *out, size_t outlen, int r, int k)
{
    snprintf(out, outlen, "org_h%02d_%d", r, k);
}

/* ---- the scenario: ROLLOUTS * ORGS_PER orgs; a bad rollout's orgs have a worse queue_v2 ---- */

static int write_scenario(fixture *f)
{
    char demo[PATH_MAX];
    json_t *doc, *tmpl, *orgs = json_array();
    int rc;

    rg_test_path(demo, sizeof(demo), "sim/scenarios/healthy.json");
    if ((doc = json_load_file(demo, 0, NULL)) == NULL)
        return -1;
    tmpl = json_deep_copy(json_array_get(json_object_get(doc, "orgs"), 0));
    for (int r = 0; r < ROLLOUTS; r++)
        for (int k = 0; k < ORGS_PER; k++) {
            char id[32], buf[64], name[256];
            json_t *o = json_deep_copy(tmpl), *q;
            size_t i;
            org_id(id, sizeof(id), r, k);
            json_object_set_new(o, "id", json_string(id));
            json_object_set_new(o, "name", json_string(id));
            snprintf(buf, sizeof(buf), "cid-%s", id);
            json_object_set_new(o, "client_id", json_string(buf));
            rg_platform_env_name(name, sizeof(name), id, "CLIENT_ID");
            setenv(name, buf, 1); /* inherited by the servers (registry: --credentials env) */
            snprintf(buf, sizeof(buf), "secret-%s", id);
            json_object_set_new(o, "client_secret", json_string(buf));
            rg_platform_env_name(name, sizeof(name), id, "CLIENT_SECRET");
            setenv(name, buf, 1);
            json_array_foreach(
                json_object_get(o, "queues"), i,
                q) if (is_bad(r) &&
                       strcmp(json_string_value(json_object_get(q, "id")), "queue_v2") == 0)
            {
                /* as the demo's bad change: abandonment x1.5, +20 s to answer */
                json_object_set_new(q, "abandon_p", json_real(0.12));
                json_object_set_new(q, "asa_s", json_real(40.0));
            }
            json_array_append_new(orgs, o);
        }
    json_object_set_new(doc, "orgs", orgs);
    json_object_set_new(doc, "effects", json_array());
    json_decref(tmpl);
    rc = json_dump_file(doc, f->scenario, JSON_INDENT(1));
    json_decref(doc);
    return rc;
}

/* ---- the CLI and the servers as children ---- */

static int run_cli(const char *args)
{
    char cmd[PATH_MAX * 4];
    snprintf(cmd, sizeof(cmd), "'%s/cli/rollgate' %s >/dev/null 2>&1", rg_test_binary_dir(), args);
    return system(cmd) == 0 ? 0 : -1;
}

/* The first org through `rollgate org add` (the real binary writes the format), the others
 * as copies of its entry (90 more processes would cost seconds). */
static int register_orgs(fixture *f)
{
    char args[PATH_MAX * 2], id[32];
    json_t *doc, *orgs, *first;
    int fd = open(f->registry, O_WRONLY | O_CREAT | O_EXCL, 0600), rc = -1;

    if (fd < 0 || write(fd, "{\"tenants\": {}}\n", 16) != 16) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    org_id(id, sizeof(id), 0, 0);
    snprintf(args, sizeof(args),
             "org add --registry '%s' --tenant " TENANT " --org %s --region loopback"
             " --api-url '%s' --login-url '%s' --credentials env",
             f->registry, id, f->sim.url, f->sim.url);
    if (run_cli(args) < 0 || (doc = json_load_file(f->registry, 0, NULL)) == NULL)
        return -1;
    orgs = json_object_get(json_object_get(json_object_get(doc, "tenants"), TENANT), "orgs");
    if ((first = json_deep_copy(json_object_get(orgs, id))) != NULL) {
        for (int r = 0; r < ROLLOUTS; r++)
            for (int k = 0; k < ORGS_PER; k++) {
                org_id(id, sizeof(id), r, k);
                json_object_set_new(orgs, id, json_deep_copy(first));
            }
        rc = json_dump_file(doc, f->registry, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(first);
    }
    json_decref(doc);
    return rc < 0 ? -1 : chmod(f->registry, 0600);
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

static int host_start(fixture *f, int h)
{
    host *x = &f->hosts[h];
    char binary[PATH_MAX], line[90];
    int fds[2];
    pid_t pid, parent = getpid();

    snprintf(binary, sizeof(binary), "%s/cli/rollgate", rg_test_binary_dir());
    if (pipe(fds) != 0 || (pid = fork()) < 0)
        return -1;
    if (pid == 0) {
        int e = open(x->err, O_WRONLY | O_CREAT | O_APPEND, 0600);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent || e < 0 || dup2(fds[1], STDOUT_FILENO) < 0 ||
            dup2(e, STDERR_FILENO) < 0)
            _exit(127);
        close(fds[0]);
        close(fds[1]);
        execl(binary, binary, "-v", "--db", f->db, "serve", "--listen", "127.0.0.1:0", "--tokens",
              f->tokens, "--registry", f->registry, "--tick", TICK, "--lease", LEASE,
              "--allow-loopback-platform", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    x->pid = pid;
    x->stopped = 0;
    if (read_line(line, sizeof(line), fds[0]) < 0 ||
        strncmp(line, "listening on http://127.0.0.1:", 30) != 0) {
        close(fds[0]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        x->pid = 0;
        return -1;
    }
    close(fds[0]);
    snprintf(x->url, sizeof(x->url), "%s", line + 13);
    return 0;
}

static void host_kill(host *x)
{
    if (x->pid <= 0)
        return;
    kill(x->pid, SIGKILL);
    waitpid(x->pid, NULL, 0);
    x->pid = 0;
    x->stopped = 0;
}

/* SIGCONT when paused, then SIGTERM and wait; the exit status. */
static int host_stop(host *x)
{
    int status = 0;
    if (x->waker > 0) {
        kill(x->waker, SIGKILL);
        waitpid(x->waker, NULL, 0);
        x->waker = 0;
    }
    if (x->pid <= 0)
        return 0;
    if (x->stopped)
        kill(x->pid, SIGCONT);
    kill(x->pid, SIGTERM);
    waitpid(x->pid, &status, 0);
    x->pid = 0;
    x->stopped = 0;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* A running, unpaused host to talk to, or -1. */
static int live_host(fixture *f)
{
    int start = (int)(next_rand(f) % HOSTS);
    for (int i = 0; i < HOSTS; i++) {
        int h = (start + i) % HOSTS;
        if (f->hosts[h].pid > 0 && !f->hosts[h].stopped)
            return h;
    }
    return -1;
}

static int live_count(fixture *f)
{
    int n = 0;
    for (int h = 0; h < HOSTS; h++)
        n += f->hosts[h].pid > 0 && !f->hosts[h].stopped;
    return n;
}

/* What the hosts logged (-v: every event) about rollout id: why it ended as it did. */
static void print_decisions(const fixture *f, const char *id)
{
    char line[2048];

    for (int h = 0; h < HOSTS; h++) {
        FILE *in = fopen(f->hosts[h].err, "r");
        while (in != NULL && fgets(line, sizeof(line), in) != NULL)
            if (strstr(line, id) != NULL)
                fprintf(stderr, "  host %d: %s", h, line);
        if (in != NULL)
            fclose(in);
    }
}

/* ---- rollouts ---- */

static char *manifest(int r)
{
    rg_buf m = RG_BUF_INIT;
    char a[32], b[32], c[32];

    org_id(a, sizeof(a), r, 0);
    org_id(b, sizeof(b), r, 1);
    org_id(c, sizeof(c), r, 2);
    rg_buf_printf(&m,
                  "name: hosts-%02d\ntenant: " TENANT "\nstages: [50, 100]\napproval: none\n"
                  "platform: {driver: genesys}\ngroups:\n  - {name: parent, orgs: [%s]}\n"
                  "  - {name: region, depends_on: [parent], orgs: [%s, %s]}\n"
                  "change:\n  strategy: strat_main\n"
                  "  watch_queues: [queue_global_001, queue_v2]\n  template:\n"
                  "    name: Production_Routing_v2\n    targets:\n"
                  "      - {type: Queue, id: queue_global_001, weight: 0, priority: 1}\n"
                  "      - {type: Queue, id: queue_v2, weight: 100, priority: 1}\n%s",
                  r, a, b, c, policy_yaml);
    return rg_buf_detach(&m);
}

static int start_rollout(fixture *f, int r)
{
    char *body = manifest(r);
    rg_buf resp = RG_BUF_INIT;
    json_t *doc = NULL;
    long status = 0;
    int h = live_host(f), rc = -1;

    if (h >= 0 &&
        serve_http(f->hosts[h].url, "POST", "/api/v1/rollouts", f->token, "application/yaml", body,
                   &status, &resp, NULL) == 0 &&
        status == 201 && (doc = json_loads(rg_buf_cstr(&resp), 0, NULL)) != NULL &&
        json_is_string(json_object_get(doc, "id"))) {
        snprintf(f->ids[r], sizeof(f->ids[r]), "%s", json_string_value(json_object_get(doc, "id")));
        rc = 0;
    } else {
        fprintf(stderr, "start %d on host %d: HTTP %ld %s\n", r, h, status, rg_buf_cstr(&resp));
    }
    json_decref(doc);
    rg_buf_dispose(&resp);
    free(body);
    return rc;
}

static int terminal(const char *state)
{
    return strcmp(state, "completed") == 0 || strcmp(state, "rolled_back") == 0 ||
           strcmp(state, "rollback_incomplete") == 0 || strcmp(state, "held") == 0;
}

/* Reads every unfinished rollout's state from a live host; the number finished. */
static int refresh_states(fixture *f)
{
    int done = 0;
    for (int r = 0; r < ROLLOUTS; r++) {
        char path[128];
        json_t *doc;
        long status = 0;
        int h;
        if (!terminal(f->states[r]) && (h = live_host(f)) >= 0) {
            snprintf(path, sizeof(path), "/api/v1/rollouts/%s", f->ids[r]);
            doc = serve_http_json(f->hosts[h].url, "GET", path, f->token, NULL, &status);
            if (status == 200 && json_is_string(json_object_get(doc, "state")))
                snprintf(f->states[r], sizeof(f->states[r]), "%s",
                         json_string_value(json_object_get(doc, "state")));
            json_decref(doc);
        }
        done += terminal(f->states[r]);
    }
    return done;
}

/* One random disturbance: restart a dead host, else kill one or pause one past its lease
 * (never the last live one). */
static void disturb(fixture *f)
{
    int h = (int)(next_rand(f) % HOSTS);
    host *x = &f->hosts[h];

    if (x->pid == 0) {
        if (host_start(f, h) == 0)
            f->restarts++;
        else
            fprintf(stderr, "host %d did not restart\n", h);
        return;
    }
    if (x->stopped || live_count(f) < 2)
        return;
    if (next_rand(f) % 3 == 0) {
        /* The resume comes from a child of its own: a host paused inside a write
         * transaction holds the SQLite file's write lock, and this thread may be waiting for
         * a reply that needs it. */
        long pause_ms = (long)rand_between(f, 1500, 3000);
        pid_t target = x->pid, w;
        kill(target, SIGSTOP);
        if ((w = fork()) == 0) {
            rg_e2e_sleep_ms(pause_ms);
            kill(target, SIGCONT);
            _exit(0);
        }
        if (w < 0) {
            kill(target, SIGCONT);
            return;
        }
        x->stopped = 1;
        x->waker = w;
        f->pauses++;
    } else {
        host_kill(x);
        f->kills++;
    }
}

/* Hosts whose waker sent SIGCONT count as running again. */
static void resume_due(fixture *f)
{
    for (int h = 0; h < HOSTS; h++) {
        host *x = &f->hosts[h];
        if (x->stopped && x->waker > 0 && waitpid(x->waker, NULL, WNOHANG) == x->waker) {
            x->waker = 0;
            x->stopped = 0;
        }
    }
}

/* ---- what the simulator saw ---- */

/* Successful writes (any 2xx PUT, PATCH or POST) to org's strategies in the log. */
static int patches_of(const json_t *log, const char *org)
{
    size_t i;
    json_t *e;
    int n = 0;
    json_array_foreach(json_object_get(log, "requests"), i, e)
    {
        const char *m = json_string_value(json_object_get(e, "method"));
        const char *o = json_string_value(json_object_get(e, "org"));
        const char *path = json_string_value(json_object_get(e, "path"));
        json_int_t status = json_integer_value(json_object_get(e, "status"));
        if (m && o && path && strcmp(o, org) == 0 && strcmp(m, "GET") != 0 &&
            strncmp(path, "/api/v2/routing/strategies", 26) == 0 && status >= 200 && status < 300)
            n++;
    }
    return n;
}

static int is_changed(const json_t *body)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(body, "targets"), i,
                       t) if (strcmp(json_string_value(json_object_get(t, "id")), "queue_v2") ==
                              0) return json_integer_value(json_object_get(t, "weight")) == 100;
    return 0;
}

static int is_original(const json_t *body)
{
    size_t i;
    json_t *t;
    int ok =
        strcmp(json_string_value(json_object_get(body, "name")) ?: "", "Production_Routing") == 0;
    json_array_foreach(json_object_get(body, "targets"), i, t)
    {
        const char *q = json_string_value(json_object_get(t, "id"));
        json_int_t w = json_integer_value(json_object_get(t, "weight"));
        if (strcmp(q, "queue_global_001") == 0)
            ok &= w == 100;
        else if (strcmp(q, "queue_v2") == 0)
            ok &= w == 0;
    }
    return ok;
}

static void test_three_hosts_killed_at_random(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    const char *uri = getenv("RG_TEST_DB_URI"), *seed_env = getenv("RG_TEST_SEED");
    uint64_t seed;
    int64_t began = rg_time_mono_ms(), deadline, next_disturb;
    json_t *log = NULL, *st = NULL;
    int done = 0, started = 0, failures = 0;
    (void)state;

    assert_non_null(f);
    seed = seed_env && *seed_env ? strtoull(seed_env, NULL, 10)
                                 : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    if (seed == 0)
        seed = 1;
    f->rng = seed;
    fprintf(stderr, "test_e2e_hosts: seed %llu (RG_TEST_SEED=%llu replays it)\n",
            (unsigned long long)seed, (unsigned long long)seed);
    assert_int_equal(rg_test_mkdtemp(f->dir, sizeof(f->dir)), 0);
    if (uri && *uri)
        snprintf(f->db, sizeof(f->db), "%s", uri);
    else
        snprintf(f->db, sizeof(f->db), "%s/hosts.db", f->dir);
    snprintf(f->tokens, sizeof(f->tokens), "%s/tokens.json", f->dir);
    snprintf(f->registry, sizeof(f->registry), "%s/registry.json", f->dir);
    snprintf(f->scenario, sizeof(f->scenario), "%s/scenario.json", f->dir);
    for (int h = 0; h < HOSTS; h++)
        snprintf(f->hosts[h].err, sizeof(f->hosts[h].err), "%s/host%d.err", f->dir, h);
    assert_int_equal(write_scenario(f), 0);
    assert_int_equal(rg_simproc_start(&f->sim, f->scenario), 0);
    assert_int_equal(register_orgs(f), 0);
    f->token = serve_token_new(f->tokens, TENANT, "release", "ci-bot");
    assert_non_null(f->token);
    for (int h = 0; h < HOSTS; h++)
        if (host_start(f, h) < 0)
            fail_msg("host %d did not start (%s)", h, f->hosts[h].err);

    /* Start the rollouts one by one and disturb the hosts from the first one on: a kill,
     * pause or restart every 0.3-1.5 s, until every rollout is finished. A start goes to a
     * running host and nothing is killed during it (one thread does both). */
    deadline = rg_time_mono_ms() + 120000;
    next_disturb = rg_time_mono_ms() + rand_between(f, 300, 1500);
    while (started < ROLLOUTS || done < ROLLOUTS) {
        if (rg_time_mono_ms() >= deadline)
            break;
        resume_due(f);
        for (int h = 0; h < HOSTS && live_count(f) == 0; h++)
            if (f->hosts[h].pid == 0 && host_start(f, h) == 0)
                f->restarts++;
        if (started < ROLLOUTS) {
            if (start_rollout(f, started) < 0)
                fail_msg("rollout %d was not started", started);
            if (++started == ROLLOUTS)
                fprintf(stderr, "test_e2e_hosts: %d rollouts started in %lld ms\n", ROLLOUTS,
                        (long long)(rg_time_mono_ms() - began));
        } else {
            done = refresh_states(f);
            rg_e2e_sleep_ms(100); /* pacing the look, not deciding anything */
        }
        if (rg_time_mono_ms() >= next_disturb) {
            disturb(f);
            next_disturb = rg_time_mono_ms() + rand_between(f, 300, 1500);
        }
    }
    for (int h = 0; h < HOSTS; h++)
        host_stop(&f->hosts[h]);
    fprintf(
        stderr, "test_e2e_hosts: %d/%d finished after %lld ms; %d kills, %d pauses, %d restarts\n",
        done, ROLLOUTS, (long long)(rg_time_mono_ms() - began), f->kills, f->pauses, f->restarts);

    /* The simulator's side. */
    log = rg_e2e_requests(&f->sim);
    assert_non_null(log);
    if (json_integer_value(json_object_get(log, "dropped")) != 0)
        fail_msg("the sim's request log dropped entries");
    assert_int_equal(rg_simproc_state(&f->sim, &st), 0);
    for (int r = 0; r < ROLLOUTS; r++) {
        const char *want = is_bad(r) ? "rolled_back" : "completed";
        int touched = 0;
        if (strcmp(f->states[r], want) != 0) {
            fprintf(stderr, "rollout %d (%s, %s): %s, want %s\n", r, f->ids[r],
                    is_bad(r) ? "bad" : "healthy", f->states[r][0] ? f->states[r] : "unknown",
                    want);
            print_decisions(f, f->ids[r]);
            failures++;
        }
        for (int k = 0; k < ORGS_PER; k++) {
            char id[32];
            json_t *live;
            int n;
            org_id(id, sizeof(id), r, k);
            n = patches_of(log, id);
            live = rg_e2e_live(&f->sim, id);
            if (!is_bad(r) && (n != 1 || !is_changed(live))) {
                fprintf(stderr, "%s (healthy rollout %d): %d successful writes, changed %d\n", id,
                        r, n, live ? is_changed(live) : -1);
                failures++;
            }
            /* a bad rollout: an org it touched got one apply and one restore, an org it
             * never reached none; every one carries its value from before */
            if (is_bad(r) && ((n != 0 && n != 2) || !is_original(live))) {
                fprintf(stderr, "%s (bad rollout %d): %d successful writes, original %d\n", id, r,
                        n, live ? is_original(live) : -1);
                failures++;
            }
            touched += n > 0;
            json_decref(live);
        }
        if (is_bad(r) && touched == 0) {
            fprintf(stderr, "bad rollout %d touched no org\n", r);
            failures++;
        }
    }
    json_decref(st);
    json_decref(log);
    if (failures) {
        for (int h = 0; h < HOSTS; h++)
            fprintf(stderr, "host %d's log: %s\n", h, f->hosts[h].err);
        fail_msg("%d wrong outcomes or write counts (seed %llu)", failures,
                 (unsigned long long)seed);
    }
    rg_simproc_stop(&f->sim);
    free(f->token);
    rg_test_rmtree(f->dir);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_three_hosts_killed_at_random)};
    /* The *_pg run: the three hosts share a fresh PostgreSQL database (tests/support/pg.h). */
    if (rg_test_pg_backend()) {
        char uri[1024];
        if (rg_test_pg_backend_missing())
            return rg_test_exit(0);
        if (rg_test_pg_new_db(uri, sizeof(uri)) != 0 || setenv("RG_TEST_DB_URI", uri, 1) != 0)
            return 1;
        return rg_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
    }
    return rg_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
