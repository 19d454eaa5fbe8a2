/* test_serve_support.c - the `rollgate serve` child process, HTTP calls, tokens, manifests
 * and an in-process webhook receiver, shared by the serve tests */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integration/test_serve_support.h"
#include "rollgate/manifest.h"
#include "rollgate/platform.h"
#include "support/testutil.h"

static const char policy_yaml[] =
    "policy:\n"
    "  alpha: 0.05\n  sequential: group\n  stabilization_window: 6s\n  soak_limit: 12s\n"
    "  poll_interval: 3s\n  granularity: PT1S\n  settle: 1s\n  pre_window: 20s\n"
    "  breaker: {consecutive: 2}\n  on_inconclusive: hold\n  errors: {limit: 3}\n"
    "  verify_window: 10s\n  capacity: {min_ratio: 0.8}\n  metrics:\n"
    "    - {name: abandonment_rate, kind: proportion, events: tAbandon, trials: nOffered,\n"
    "       increase_is_bad: true, tolerance: {relative: 0.15}, critical: true}\n"
    "    - {name: speed_of_answer, kind: mean, source: tAnswered, increase_is_bad: true,\n"
    "       tolerance: {absolute: 10s}}\n";

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int read_line(char *out, size_t outlen, int fd)
{
    size_t len = 0;
    int64_t deadline = rg_time_mono_ms() + 15000;
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

void serve_registry_path(char *out, size_t outlen, const char *db)
{
    const char *slash = strrchr(db, '/');
    snprintf(out, outlen, "%.*s/rollgate-registry.json", slash ? (int)(slash - db) : 1,
             slash ? db : ".");
}

static int run_cli(const char *db, const char *args)
{
    char cmd[PATH_MAX * 4];
    snprintf(cmd, sizeof(cmd), "'%s/cli/rollgate' --db '%s' %s >/dev/null 2>&1",
             rg_test_binary_dir(), db, args);
    return system(cmd) == 0 ? 0 : -1;
}

int serve_register(const char *db, const char *tenant, const json_t *orgs, const char *sim_url,
                   const char *hook_env)
{
    char args[2048];
    size_t i;
    json_t *o;

    json_array_foreach(orgs, i, o)
    {
        snprintf(args, sizeof(args),
                 "org add --tenant '%s' --org '%s' --region loopback "
                 "--api-url '%s' --login-url '%s' --credentials env",
                 tenant, json_string_value(o), sim_url, sim_url);
        if (run_cli(db, args) < 0)
            return -1;
    }
    if (hook_env) {
        snprintf(args, sizeof(args), "org webhook --tenant '%s' --secret 'env:%s'", tenant,
                 hook_env);
        if (run_cli(db, args) < 0)
            return -1;
    }
    return 0;
}

int serve_start(serve_proc *out, const char *db, const char *tokens)
{
    return serve_start_mode(out, db, tokens, 1);
}

int serve_start_mode(serve_proc *out, const char *db, const char *tokens, int test_mode)
{
    return serve_start_extra(out, db, tokens, test_mode, NULL);
}

int serve_start_extra(serve_proc *out, const char *db, const char *tokens, int test_mode,
                      const char *extra)
{
    char binary[PATH_MAX], line[90], registry[PATH_MAX];
    int fds[2];
    pid_t pid, parent = getpid();

    pthread_once(&curl_once, curl_init_once);
    snprintf(binary, sizeof(binary), "%s/cli/rollgate", rg_test_binary_dir());
    serve_registry_path(registry, sizeof(registry), db);
    if (access(registry, F_OK) != 0) { /* a server with no org registered yet */
        FILE *fp;
        int fd = open(registry, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0 || (fp = fdopen(fd, "w")) == NULL)
            return -1;
        fputs("{\"tenants\": {}}\n", fp);
        fclose(fp);
    }
    if (access(binary, X_OK) != 0 || pipe(fds) != 0)
        return -1;
    if ((pid = fork()) < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent || dup2(fds[1], STDOUT_FILENO) < 0)
            _exit(127);
        close(fds[0]);
        close(fds[1]);
        {
            const char *argv[16] = {binary,       "--db",        db,         "serve",
                                    "--listen",   "127.0.0.1:0", "--tokens", tokens,
                                    "--registry", registry,      "--tick",   "200ms"};
            int n = 12;
            if (test_mode)
                argv[n++] = "--allow-loopback-platform";
            if (extra)
                argv[n++] = extra;
            execv(binary, (char *const *)argv);
        }
        _exit(127);
    }
    close(fds[1]);
    out->pid = pid;
    if (read_line(line, sizeof(line), fds[0]) < 0 ||
        strncmp(line, "listening on http://127.0.0.1:", 30) != 0) {
        close(fds[0]);
        serve_stop(out);
        return -1;
    }
    close(fds[0]);
    snprintf(out->url, sizeof(out->url), "%s", line + 13);
    return 0;
}

int serve_stop(serve_proc *sp)
{
    int status = 0;
    if (sp->pid <= 0)
        return -1;
    kill(sp->pid, SIGTERM);
    if (waitpid(sp->pid, &status, 0) < 0)
        return -1;
    sp->pid = 0;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

json_t *serve_scenario_credentials(const char *scenario)
{
    char path[PATH_MAX];
    json_t *doc, *org, *ids = json_array();
    size_t i;

    rg_test_path(path, sizeof(path), scenario);
    if ((doc = json_load_file(path, 0, NULL)) == NULL) {
        json_decref(ids);
        return NULL;
    }
    json_array_foreach(json_object_get(doc, "orgs"), i, org)
    {
        const char *id = json_string_value(json_object_get(org, "id"));
        char name[256];
        json_array_append_new(ids, json_string(id));
        rg_platform_env_name(name, sizeof(name), id, "CLIENT_ID");
        setenv(name, json_string_value(json_object_get(org, "client_id")), 1);
        rg_platform_env_name(name, sizeof(name), id, "CLIENT_SECRET");
        setenv(name, json_string_value(json_object_get(org, "client_secret")), 1);
    }
    json_decref(doc);
    return ids;
}

static size_t collect(char *ptr, size_t size, size_t n, void *buf)
{
    return rg_buf_put(buf, ptr, size * n) == 0 ? size * n : 0;
}

int serve_http(const char *base, const char *method, const char *path, const char *token,
               const char *content_type, const char *body, long *status, rg_buf *resp,
               rg_buf *resp_headers)
{
    struct curl_slist *h = NULL;
    char url[1024], line[512];
    CURL *c;
    CURLcode cc;

    pthread_once(&curl_once, curl_init_once);
    snprintf(url, sizeof(url), "%s%s", base, path);
    if ((c = curl_easy_init()) == NULL)
        return -1;
    if (token) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, line);
    }
    if (body) {
        snprintf(line, sizeof(line), "Content-Type: %s",
                 content_type ? content_type : "application/json");
        h = curl_slist_append(h, line);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    if (resp_headers) {
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, resp_headers);
    }
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 180L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cc = curl_easy_perform(c);
    *status = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return cc == CURLE_OK ? 0 : -1;
}

json_t *serve_http_json(const char *base, const char *method, const char *path, const char *token,
                        const char *body, long *status)
{
    rg_buf resp = RG_BUF_INIT;
    json_t *doc = NULL;
    if (serve_http(base, method, path, token, NULL, body, status, &resp, NULL) == 0)
        doc = json_loads(rg_buf_cstr(&resp), 0, NULL);
    rg_buf_dispose(&resp);
    return doc;
}

char *serve_token_new(const char *tokens, const char *tenant, const char *role, const char *name)
{
    char cmd[PATH_MAX * 2], line[128];
    FILE *p;
    size_t n;

    snprintf(cmd, sizeof(cmd),
             "'%s/cli/rollgate' token new --tenant '%s' --role '%s' --name "
             "'%s' --tokens '%s' 2>/dev/null",
             rg_test_binary_dir(), tenant, role, name, tokens);
    if ((p = popen(cmd, "r")) == NULL)
        return NULL;
    if (fgets(line, sizeof(line), p) == NULL) {
        pclose(p);
        return NULL;
    }
    if (pclose(p) != 0)
        return NULL;
    n = strcspn(line, "\n");
    line[n] = '\0';
    return rg_strdup(line);
}

static void org_list(rg_buf *m, const json_t *orgs, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        rg_buf_printf(m, "%s\"%s\"", i > from ? ", " : "",
                      json_string_value(json_array_get(orgs, i)));
}

char *serve_manifest(const char *name, const char *tenant, const char *sim_url, const json_t *orgs,
                     const char *hook_url, const char *approval, int yaml)
{
    rg_buf m = RG_BUF_INIT;
    size_t n = json_array_size(orgs), half = 1 + (n - 1) / 2;
    rg_manifest *manifest = NULL;
    json_t *doc = NULL;
    char *text;

    /* A served manifest names orgs only: their URLs and credentials are the registry's. */
    rg_buf_printf(&m,
                  "name: %s\ntenant: %s\nstages: [10, 50, 100]\napproval: %s\n"
                  "platform: {driver: genesys}\ngroups:\n  - {name: parent, orgs: [",
                  name, tenant, approval);
    org_list(&m, orgs, 0, 1);
    rg_buf_puts(&m, "]}\n  - {name: region_a, depends_on: [parent], orgs: [");
    org_list(&m, orgs, 1, half);
    rg_buf_puts(&m, "]}\n  - {name: region_b, depends_on: [parent], orgs: [");
    org_list(&m, orgs, half, n);
    rg_buf_puts(&m, "]}\nchange:\n  strategy: strat_main\n"
                    "  watch_queues: [queue_global_001, queue_v2]\n  template:\n"
                    "    name: Production_Routing_v2\n    targets:\n"
                    "      - {type: Queue, id: queue_global_001, weight: 0, priority: 1}\n"
                    "      - {type: Queue, id: queue_v2, weight: 100, priority: 1}\n");
    rg_buf_puts(&m, policy_yaml);
    if (hook_url)
        rg_buf_printf(&m, "notify:\n  - {url: \"%s\", events: [tripped, rolled_back]}\n", hook_url);
    if (yaml)
        return rg_buf_detach(&m);
    /* The JSON form is the library's normalised manifest without what only the registry
     * says (the loader needs a platform and a secret name to read the YAML). */
    text = NULL;
    {
        char *full = NULL, *at = strstr(m.ptr, "platform: {driver: genesys}");
        rg_buf f = RG_BUF_INIT;
        rg_buf_printf(&f,
                      "%.*splatform: {driver: genesys, api_url: \"%s\", login_url: \"%s\", "
                      "credentials: env}%s",
                      (int)(at - m.ptr), m.ptr, sim_url, sim_url,
                      at + strlen("platform: {driver: genesys}"));
        full = rg_buf_detach(&f);
        if (hook_url && (at = strstr(full, "rolled_back]}")) != NULL) {
            rg_buf g = RG_BUF_INIT;
            rg_buf_printf(&g, "%.*srolled_back], secret: \"env:X\"}%s", (int)(at - full), full,
                          at + strlen("rolled_back]}"));
            free(full);
            full = rg_buf_detach(&g);
        }
        if (rg_manifest_load_buffer(&manifest, "test.yaml", full, strlen(full), NULL, NULL) == 0 &&
            rg_manifest_to_json(&doc, manifest) == 0) {
            json_t *p = json_object_get(doc, "platform"), *nt;
            size_t i;
            json_object_del(p, "api_url");
            json_object_del(p, "login_url");
            json_object_del(p, "credentials");
            json_object_del(p, "insecure");
            json_array_foreach(json_object_get(doc, "notify"), i, nt) json_object_del(nt, "secret");
            text = json_dumps(doc, JSON_COMPACT);
            json_decref(doc);
        }
        free(full);
    }
    rg_manifest_free(manifest);
    rg_buf_dispose(&m);
    return text;
}

/* ---- webhook receiver ---- */

typedef struct {
    rg_buf body;
} hook_request;

static enum MHD_Result hook_answer(struct MHD_Connection *conn, unsigned status)
{
    static const char ok[] = "{}";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(2, (void *)ok, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* HMAC-SHA-256 of "timestamp.body", and the timestamp within 5 minutes of now: what
 * docs/serve.md tells a receiver to check. */
static int signature_ok(hook_receiver *r, const char *sig, const char *ts, const rg_buf *body)
{
    uint8_t mac[RG_SHA256_LEN];
    char hex[65];
    rg_buf text = RG_BUF_INIT;
    int64_t t, now = rg_time_now_ms() / 1000;

    if (sig == NULL || strncmp(sig, "sha256=", 7) != 0 || strlen(sig + 7) != 64 || ts == NULL ||
        rg_parse_int64(&t, ts, 0, INT64_MAX) < 0 || t < now - 300 || t > now + 300)
        return 0;
    rg_buf_printf(&text, "%s.", ts);
    rg_buf_put(&text, body->ptr ? body->ptr : "", body->len);
    rg_hmac_sha256(mac, r->secret, strlen(r->secret), text.ptr, text.len);
    rg_buf_dispose(&text);
    for (size_t i = 0; i < RG_SHA256_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    return strcmp(hex, sig + 7) == 0;
}

static enum MHD_Result on_hook(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls)
{
    hook_receiver *r = cls;
    hook_request *req = *con_cls;
    const char *sig;
    unsigned status = 200;
    json_t *doc;

    (void)url, (void)version;
    if (req == NULL) {
        *con_cls = req = calloc(1, sizeof(*req));
        return req ? MHD_YES : MHD_NO;
    }
    if (*size) {
        rg_buf_put(&req->body, data, *size);
        *size = 0;
        return MHD_YES;
    }
    sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Rollgate-Signature");
    pthread_mutex_lock(&r->lock);
    r->requests++;
    {
        const char *dk = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Rollgate-Delivery");
        json_array_append_new(r->deliveries, json_string(dk ? dk : ""));
    }
    while (r->hold) /* a receiver that hangs: the sender's worker waits with it */
        pthread_cond_wait(&r->released, &r->lock);
    if (strcmp(method, "POST") != 0 ||
        !signature_ok(r, sig,
                      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Rollgate-Timestamp"),
                      &req->body)) {
        r->bad_signatures++;
        status = 401;
    } else if (r->requests <= r->fail_first) {
        status = 500;
    } else if ((doc = json_loads(rg_buf_cstr(&req->body), 0, NULL)) != NULL) {
        json_array_append_new(r->received, doc);
    } else {
        status = 400;
    }
    pthread_mutex_unlock(&r->lock);
    return hook_answer(conn, status);
}

static void on_hook_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    hook_request *req = *con_cls;
    (void)cls, (void)conn, (void)toe;
    if (req) {
        rg_buf_dispose(&req->body);
        free(req);
    }
    *con_cls = NULL;
}

int hook_receiver_start(hook_receiver *r, const char *secret, int fail_first)
{
    const union MHD_DaemonInfo *info;
    struct sockaddr_in sa;

    memset(r, 0, sizeof(*r));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    snprintf(r->secret, sizeof(r->secret), "%s", secret);
    r->fail_first = fail_first;
    r->received = json_array();
    r->deliveries = json_array();
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->released, NULL);
    r->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
                                 on_hook, r, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_hook_done, r, MHD_OPTION_END);
    if (r->daemon == NULL)
        return -1;
    info = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%u/hook", info ? info->port : 0);
    return 0;
}

void hook_receiver_release(hook_receiver *r)
{
    pthread_mutex_lock(&r->lock);
    r->hold = 0;
    pthread_cond_broadcast(&r->released);
    pthread_mutex_unlock(&r->lock);
}

void hook_receiver_stop(hook_receiver *r)
{
    hook_receiver_release(r);
    if (r->daemon)
        MHD_stop_daemon(r->daemon);
    r->daemon = NULL;
    json_decref(r->received);
    json_decref(r->deliveries);
    r->received = NULL;
    r->deliveries = NULL;
    pthread_cond_destroy(&r->released);
    pthread_mutex_destroy(&r->lock);
}

int hook_receiver_count(hook_receiver *r, const char *event)
{
    size_t i;
    json_t *v;
    int n = 0;

    pthread_mutex_lock(&r->lock);
    json_array_foreach(r->received, i, v)
    {
        const char *e = json_string_value(json_object_get(v, "event"));
        n += e && strcmp(e, event) == 0;
    }
    pthread_mutex_unlock(&r->lock);
    return n;
}
