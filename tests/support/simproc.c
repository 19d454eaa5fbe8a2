/* simproc.c - the rollgate-sim harness every integration test uses */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/simproc.h"
#include "support/testutil.h"

#define SIMPROC_START_TIMEOUT_MS 15000

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void exec_sim(const char *binary, const char *scenario, int out_fd, pid_t parent)
{
    /* Only async-signal-safe calls between fork and exec. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(127);
    if (dup2(out_fd, STDOUT_FILENO) < 0)
        _exit(127);
    close(out_fd);
    execl(binary, binary, "--scenario", scenario, "--port", "0", (char *)NULL);
    _exit(127);
}

/* Reads one line from fd within the deadline. */
static int read_line(char *out, size_t outlen, int fd)
{
    size_t len = 0;
    int64_t deadline = rg_time_mono_ms() + SIMPROC_START_TIMEOUT_MS;

    while (len + 1 < outlen) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - rg_time_mono_ms();
        ssize_t n;
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return rg_error_set(RG_ETIMEOUT, "rollgate-sim printed no address in time");
        if ((n = read(fd, out + len, 1)) <= 0)
            return rg_error_set(RG_EIO, "rollgate-sim exited before printing its address");
        if (out[len] == '\n')
            break;
        len++;
    }
    out[len] = '\0';
    return 0;
}

int rg_simproc_start(rg_simproc *out, const char *scenario_path)
{
    char binary[PATH_MAX], scenario[PATH_MAX], line[256];
    const char *prefix = "listening on http://127.0.0.1:";
    int fds[2] = {-1, -1}, rc;
    int64_t port;
    pid_t pid, parent = getpid();

    pthread_once(&curl_once, curl_init_once);
    snprintf(binary, sizeof(binary), "%s/sim/rollgate-sim", rg_test_binary_dir());
    if (scenario_path[0] == '/')
        snprintf(scenario, sizeof(scenario), "%s", scenario_path);
    else
        rg_test_path(scenario, sizeof(scenario), scenario_path);
    if (access(binary, X_OK) != 0)
        return rg_error_set(RG_ENOTFOUND, "%s: not built", binary);
    if (pipe(fds) != 0)
        return rg_error_set(RG_EIO, "pipe: %s", strerror(errno));
    if ((pid = fork()) < 0) {
        close(fds[0]);
        close(fds[1]);
        return rg_error_set(RG_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(fds[0]);
        exec_sim(binary, scenario, fds[1], parent);
    }
    close(fds[1]);
    rc = read_line(line, sizeof(line), fds[0]);
    close(fds[0]);
    if (rc == 0 && (strncmp(line, prefix, strlen(prefix)) != 0 ||
                    rg_parse_int64(&port, line + strlen(prefix), 1, 65535) < 0))
        rc = rg_error_set(RG_EPLATFORM, "rollgate-sim: unexpected first line '%s'", line);
    if (rc < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return rc;
    }
    out->pid = (int)pid;
    /* Analyzer false positive: rc is 0 here, so rg_parse_int64 set port. */
    // NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Assign)
    out->port = (int)port;
    snprintf(out->url, sizeof(out->url), "http://127.0.0.1:%d", out->port);
    return 0;
}

int rg_simproc_stop(rg_simproc *sim)
{
    int status = 0;

    if (sim->pid <= 0)
        return rg_error_set(RG_EINVALID, "simulator not running");
    kill(sim->pid, SIGTERM);
    while (waitpid(sim->pid, &status, 0) < 0)
        if (errno != EINTR)
            return rg_error_set(RG_EIO, "waitpid: %s", strerror(errno));
    sim->pid = 0;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;
}

static size_t collect(char *data, size_t size, size_t n, void *payload)
{
    return rg_buf_put(payload, data, size * n) == 0 ? size * n : 0;
}

static struct curl_slist *build_headers(const char *const *headers, const char *body, int *rc)
{
    struct curl_slist *list = NULL, *next;
    int has_type = 0;

    for (size_t i = 0; headers && headers[i]; i++) {
        has_type |= strncasecmp(headers[i], "Content-Type:", 13) == 0;
        if ((next = curl_slist_append(list, headers[i])) == NULL)
            goto fail;
        list = next;
    }
    if (body && !has_type) {
        if ((next = curl_slist_append(list, "Content-Type: application/json")) == NULL)
            goto fail;
        list = next;
    }
    if ((next = curl_slist_append(list, "Expect:")) == NULL)
        goto fail;
    return next;
fail:
    curl_slist_free_all(list);
    *rc = rg_error_set(RG_ENOMEM, "out of memory");
    return NULL;
}

int rg_simproc_request(const rg_simproc *sim, const char *method, const char *path,
                       const char *body, const char *const *headers, long *status, rg_buf *resp,
                       rg_buf *resp_headers)
{
    char url[1024];
    struct curl_slist *list = NULL;
    CURL *curl = NULL;
    CURLcode cc;
    int rc = 0;

    pthread_once(&curl_once, curl_init_once);
    *status = 0;
    snprintf(url, sizeof(url), "%s%s", sim->url, path);
    if ((curl = curl_easy_init()) == NULL)
        return rg_error_set(RG_ENOMEM, "curl_easy_init failed");
    if ((list = build_headers(headers, body, &rc)) == NULL)
        goto cleanup;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
    if (resp_headers) {
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, resp_headers);
    }
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if ((cc = curl_easy_perform(curl)) != CURLE_OK) {
        rc = rg_error_set(RG_EPLATFORM, "%s %s: %s", method, path, curl_easy_strerror(cc));
        goto cleanup;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
cleanup:
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return rc;
}

int rg_simproc_json(const rg_simproc *sim, const char *method, const char *path, const char *body,
                    json_t **out)
{
    rg_buf resp = RG_BUF_INIT;
    json_error_t err;
    json_t *doc;
    long status = 0;
    int rc = rg_simproc_request(sim, method, path, body, NULL, &status, &resp, NULL);

    if (rc == 0 && status != 200)
        rc = rg_error_set(RG_EPLATFORM, "%s %s: %ld %s", method, path, status, rg_buf_cstr(&resp));
    if (rc == 0 && out != NULL) {
        if ((doc = json_loadb(rg_buf_cstr(&resp), resp.len, 0, &err)) == NULL)
            rc = rg_error_set(RG_EINVALID, "%s %s: %s", method, path, err.text);
        else
            *out = doc;
    }
    rg_buf_dispose(&resp);
    return rc;
}

int rg_simproc_faults(const rg_simproc *sim, const char *json)
{
    return rg_simproc_json(sim, "POST", "/sim/faults", json, NULL);
}

int rg_simproc_state(const rg_simproc *sim, json_t **out)
{
    return rg_simproc_json(sim, "GET", "/sim/state", NULL, out);
}

int rg_simproc_client(rg_platform **out, const rg_simproc *sim, const char *org,
                      const char *client_id, const char *client_secret, uint64_t jitter_seed)
{
    rg_platform_options opts;
    rg_platform_org o;
    rg_platform *p = NULL;
    int rc;

    rg_platform_options_init(&opts);
    opts.backoff_base_ms = 5;
    opts.backoff_cap_ms = 50;
    opts.jitter_seed = jitter_seed;
    memset(&o, 0, sizeof(o));
    o.id = org;
    o.api_url = sim->url;
    o.login_url = sim->url;
    if ((rc = rg_platform_new(&p, &opts)) < 0)
        return rc;
    if ((rc = rg_platform_add_org_secret(p, &o, client_id, client_secret)) < 0) {
        rg_platform_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int rg_sim_client_setup(void **state, const char *scenario, const char *org, const char *client_id,
                        const char *client_secret, uint64_t jitter_seed)
{
    rg_sim_client *c = calloc(1, sizeof(*c));

    if (c == NULL || rg_simproc_start(&c->sim, scenario) < 0) {
        fprintf(stderr, "cannot start rollgate-sim on %s: %s\n", scenario,
                c == NULL ? "out of memory" : rg_error_last());
        free(c);
        return -1;
    }
    if (rg_simproc_client(&c->p, &c->sim, org, client_id, client_secret, jitter_seed) < 0) {
        fprintf(stderr, "a client on rollgate-sim: %s\n", rg_error_last());
        rg_simproc_stop(&c->sim);
        free(c);
        return -1;
    }
    *state = c;
    return 0;
}

int rg_sim_client_teardown(void **state)
{
    rg_sim_client *c = *state;
    int rc = rg_simproc_stop(&c->sim);

    rg_platform_free(c->p);
    free(c);
    return rc == 0 ? 0 : -1;
}

static void base64(char *out, const unsigned char *in, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;

    for (size_t i = 0; i < len; i += 3) {
        unsigned int v = (unsigned int)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned int)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = (char)(i + 1 < len ? alphabet[(v >> 6) & 63] : '=');
        out[o++] = (char)(i + 2 < len ? alphabet[v & 63] : '=');
    }
    out[o] = '\0';
}

int rg_simproc_token(const rg_simproc *sim, const char *client_id, const char *client_secret,
                     char **out)
{
    char creds[512], encoded[700], header[760];
    const char *headers[] = {header, "Content-Type: application/x-www-form-urlencoded", NULL};
    rg_buf resp = RG_BUF_INIT;
    json_t *doc = NULL;
    long status = 0;
    int rc;

    if ((size_t)snprintf(creds, sizeof(creds), "%s:%s", client_id, client_secret) >= sizeof(creds))
        return rg_error_set(RG_ELIMIT, "client credentials too long");
    base64(encoded, (const unsigned char *)creds, strlen(creds));
    snprintf(header, sizeof(header), "Authorization: Basic %s", encoded);
    rc = rg_simproc_request(sim, "POST", "/oauth/token", "grant_type=client_credentials", headers,
                            &status, &resp, NULL);
    if (rc == 0 && status != 200)
        rc = rg_error_set(RG_EAUTH, "POST /oauth/token: %ld %s", status, rg_buf_cstr(&resp));
    if (rc == 0 && ((doc = json_loadb(rg_buf_cstr(&resp), resp.len, 0, NULL)) == NULL ||
                    !json_is_string(json_object_get(doc, "access_token"))))
        rc = rg_error_set(RG_EPLATFORM, "POST /oauth/token: no access_token in the reply");
    if (rc == 0 &&
        (*out = rg_strdup(json_string_value(json_object_get(doc, "access_token")))) == NULL)
        rc = RG_ENOMEM;
    json_decref(doc);
    rg_buf_dispose(&resp);
    return rc;
}

const char *rg_simproc_header(char *out, size_t outlen, const rg_buf *resp_headers,
                              const char *name)
{
    const char *p = rg_buf_cstr(resp_headers), *found = NULL;
    size_t nlen = strlen(name);

    /* The last occurrence wins: redirects and 100-continue add earlier header blocks. */
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1, *end = p + len;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == '\r' || end[-1] == ' '))
                end--;
            snprintf(out, outlen, "%.*s", (int)(end - v), v);
            found = out;
        }
        p = eol ? eol + 1 : p + len;
    }
    return found;
}
