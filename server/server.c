/* server.c - the server object: options, listen address, threads, change notification,
 * per-request engines and token checks */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "server/server_private.h"

void rg_server_options_init(rg_server_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->listen = "127.0.0.1:8080";
    opts->tick_ms = 1000;
    opts->body_limit = (size_t)1024 * 1024;
    opts->webhook_attempts = 6;
    opts->webhook_backoff_ms = 500;
    opts->connection_limit = 4096;
    opts->per_ip_limit = 32;
    opts->auth_timeout_s = 5;
    opts->request_timeout_s = 60;
    opts->streams_per_token = 8;
}

int rg_server_parse_listen(void *out, unsigned *out_len, int *out_loopback, const char *text)
{
    struct sockaddr_storage ss;
    char host[64];
    const char *colon, *hs = text, *he;
    int64_t port;

    memset(&ss, 0, sizeof(ss));
    if (text == NULL || *text == '\0')
        return rg_error_set(RG_EINVALID, "--listen: expected HOST:PORT");
    if (*text == '[') {
        hs = text + 1;
        he = strchr(hs, ']');
        if (he == NULL || he[1] != ':')
            return rg_error_set(RG_EINVALID, "--listen '%s': expected [IPV6]:PORT", text);
        colon = he + 1;
    } else {
        colon = strrchr(text, ':');
        he = colon;
    }
    if (colon == NULL || he == hs || (size_t)(he - hs) >= sizeof(host))
        return rg_error_set(RG_EINVALID, "--listen '%s': expected HOST:PORT", text);
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    if (rg_parse_int64(&port, colon + 1, 0, 65535) < 0)
        return rg_error_set(RG_EINVALID, "--listen '%s': the port must be 0-65535", text);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (*text != '[') {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
            return rg_error_set(RG_EINVALID,
                                "--listen '%s': '%s' is not an IPv4 address "
                                "(use [::1]:PORT for IPv6)",
                                text, host);
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *out_loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
        *out_len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return rg_error_set(RG_EINVALID, "--listen '%s': '%s' is not an IPv6 address", text,
                                host);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *out_loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
        *out_len = sizeof(*sin6);
    }
    memcpy(out, &ss, sizeof(ss));
    return 0;
}

int rg_server_new(rg_server **out, const rg_server_options *opts)
{
    rg_server *s = NULL;
    int loopback = 0, rc;

    if (opts == NULL || opts->db_path == NULL || opts->tokens_path == NULL ||
        opts->registry_path == NULL)
        return rg_error_set(RG_EINVALID, "serve: a database, a tokens file and a registry "
                                         "are required");
    if (opts->tick_ms < 10 || opts->body_limit < 1024 || opts->webhook_attempts < 1 ||
        opts->webhook_backoff_ms < 1)
        return rg_error_set(RG_EINVALID, "serve: tick, body limit and webhook settings must "
                                         "be positive");
    if (opts->connection_limit < 1 || opts->per_ip_limit < 1 ||
        opts->per_ip_limit > opts->connection_limit || opts->auth_timeout_s < 1 ||
        opts->request_timeout_s < opts->auth_timeout_s || opts->streams_per_token < 1)
        return rg_error_set(RG_EINVALID, "serve: connection limits and timeouts must be "
                                         "positive, the per-address limit at most the total");
    if (opts->webhook_allow_count > 64 || (opts->webhook_allow_count && !opts->webhook_allow))
        return rg_error_set(RG_EINVALID, "serve: at most 64 webhook networks");
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    s->opts = *opts;
    s->opts.webhook_allow = NULL; /* borrowed strings: parsed below, never kept */
    s->db_path = rg_strdup(opts->db_path);
    s->listen = rg_strdup(opts->listen ? opts->listen : "127.0.0.1:8080");
    s->tokens_path = rg_strdup(opts->tokens_path);
    s->registry_path = rg_strdup(opts->registry_path);
    s->streams = json_object();
    pthread_mutex_init(&s->tokens_lock, NULL);
    pthread_mutex_init(&s->registry_lock, NULL);
    pthread_mutex_init(&s->streams_lock, NULL);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->drive_lock, NULL);
    pthread_mutex_init(&s->metrics_lock, NULL);
    pthread_cond_init(&s->changed, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_destroy(&s->changed);
        pthread_cond_init(&s->changed, &ca);
        pthread_cond_init(&s->kick, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (opts->webhook_allow_count)
        s->webhook_allow = calloc(opts->webhook_allow_count, sizeof(*s->webhook_allow));
    if (s->db_path == NULL || s->listen == NULL || s->tokens_path == NULL ||
        s->registry_path == NULL || s->streams == NULL ||
        (opts->webhook_allow_count && s->webhook_allow == NULL)) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < opts->webhook_allow_count; i++)
        if ((rc = rg_http_net_parse(&s->webhook_allow[i], opts->webhook_allow[i])) < 0) {
            rg_error_prefix("--webhook-allow");
            goto fail;
        }
    if ((rc = rg_server_parse_listen(&s->addr, &s->addr_len, &loopback, s->listen)) < 0)
        goto fail;
    if (!loopback && !opts->allow_remote) {
        rc = rg_error_set(RG_EINVALID,
                          "--listen %s is not a loopback address: rollgate serve "
                          "speaks plain HTTP (no TLS in process), so bearer tokens would cross "
                          "the network in clear; put a TLS proxy in front and pass "
                          "--allow-remote to listen there anyway",
                          s->listen);
        goto fail;
    }
    if ((rc = rg_tokens_load(&s->tokens, s->tokens_path)) < 0)
        goto fail;
    if (stat(s->tokens_path, &s->tokens_stat) != 0) {
        rc = rg_error_set(RG_EIO, "tokens file %s: %s", s->tokens_path, strerror(errno));
        goto fail;
    }
    if ((rc = rg_server__registry_open(s)) < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    rg_server_free(s);
    return rc;
}

/* MHD's messages; a refused connection is logged at most once a second with a count, so a
 * flood of connections cannot flood the log too. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    rg_server *s = cls;
    char line[512];
    uint64_t skipped = 0;
    int64_t now = rg_time_mono_ms();

    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    if (strstr(line, "connection limit") != NULL) {
        pthread_mutex_lock(&s->metrics_lock);
        if (now - s->refused_logged_ms < 1000) {
            s->refused_unlogged++;
            pthread_mutex_unlock(&s->metrics_lock);
            return;
        }
        skipped = s->refused_unlogged;
        s->refused_unlogged = 0;
        s->refused_logged_ms = now;
        pthread_mutex_unlock(&s->metrics_lock);
    }
    if (skipped)
        rg_log(RG_LOG_WARN, "http", "%s (and %llu more in the last second)", line,
               (unsigned long long)skipped);
    else
        rg_log(RG_LOG_WARN, "http", "%s", line);
}

static int bind_http(rg_server *s);

int rg_server_start(rg_server *s)
{
    int rc;

    if (s->running)
        return rg_error_set(RG_EINVALID, "the server is already running");
    s->stopping = 0;
    if ((rc = bind_http(s)) < 0)
        return rc;
    s->running = 1;
    if ((rc = rg_server__scheduler_start(s)) < 0 || (rc = rg_server__hooks_start(s)) < 0) {
        rg_server_stop(s);
        return rc;
    }
    return 0;
}

const char *rg_server_url(const rg_server *server)
{
    return server->url;
}

void rg_server_stop(rg_server *s)
{
    if (s == NULL || !s->running)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    s->kicked = 1;
    rg_server__next_generation(s, NULL); /* wakes every gate */
    pthread_cond_broadcast(&s->changed);
    pthread_cond_broadcast(&s->kick);
    pthread_mutex_unlock(&s->lock);
    if (s->daemon) {
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
    }
    rg_server__scheduler_join(s);
    rg_server__hooks_stop(s);
    s->running = 0;
}

void rg_server_free(rg_server *s)
{
    if (s == NULL)
        return;
    rg_server_stop(s);
    rg_tokens_free(s->tokens);
    rg_registry_free(s->registry);
    json_decref(s->streams);
    pthread_mutex_destroy(&s->tokens_lock);
    pthread_mutex_destroy(&s->registry_lock);
    pthread_mutex_destroy(&s->streams_lock);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->drive_lock);
    pthread_mutex_destroy(&s->metrics_lock);
    pthread_cond_destroy(&s->changed);
    pthread_cond_destroy(&s->kick);
    free(s->db_path);
    free(s->webhook_allow);
    free(s->listen);
    free(s->tokens_path);
    free(s->registry_path);
    free(s);
}

int rg_server__stopping(rg_server *s)
{
    int stopping;
    pthread_mutex_lock(&s->lock);
    stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    return stopping;
}

int rg_server__engine(rg_engine **out, rg_request *req)
{
    rg_engine_options eo;
    int rc;

    if (req->engine == NULL) {
        rg_engine_options_init(&eo);
        eo.tick_ms = req->server->opts.tick_ms; /* the same lease lifetime as the scheduler */
        eo.lease_ms = req->server->opts.lease_ms;
        eo.add_org = rg_server__add_org;
        eo.add_org_payload = req->server;
        if ((rc = rg_engine_open(&req->engine, req->server->db_path, 0, &eo)) < 0)
            return rc;
    }
    *out = req->engine;
    return 0;
}

void rg_server__metrics_add(rg_engine_metrics *into, const rg_engine_metrics *m)
{
    into->platform_requests += m->platform_requests;
    into->platform_2xx += m->platform_2xx;
    into->platform_4xx += m->platform_4xx;
    into->platform_5xx += m->platform_5xx;
    into->platform_429 += m->platform_429;
    into->platform_transport += m->platform_transport;
    into->breaker_trips += m->breaker_trips;
    into->rollbacks_done += m->rollbacks_done;
    into->polls += m->polls;
    for (size_t i = 0; i < RG_ENGINE_LATENCY_BUCKETS; i++)
        into->poll_latency_le[i] += m->poll_latency_le[i];
    into->poll_latency_sum_ms += m->poll_latency_sum_ms;
}

/* Reloads the tokens file when it changed on disk; a bad new file keeps the old tokens. */
static void tokens_refresh(rg_server *s)
{
    struct stat st;
    rg_tokens *fresh = NULL;

    if (stat(s->tokens_path, &st) != 0)
        return;
    if (st.st_mtim.tv_sec == s->tokens_stat.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == s->tokens_stat.st_mtim.tv_nsec &&
        st.st_size == s->tokens_stat.st_size && st.st_ino == s->tokens_stat.st_ino)
        return;
    if (rg_tokens_load(&fresh, s->tokens_path) < 0) {
        rg_log(RG_LOG_ERROR, "serve", "keeping the previous tokens: %s", rg_error_last());
        s->tokens_stat = st;
        return;
    }
    rg_tokens_free(s->tokens);
    s->tokens = fresh;
    s->tokens_stat = st;
    rg_log(RG_LOG_INFO, "serve", "tokens file reloaded (%zu entries)", rg_tokens_count(fresh));
}

json_t *rg_server__tenants(rg_server *s)
{
    json_t *arr = json_array();

    pthread_mutex_lock(&s->tokens_lock);
    tokens_refresh(s);
    for (size_t i = 0; i < rg_tokens_count(s->tokens); i++) {
        const char *t = rg_tokens_get(s->tokens, i)->tenant;
        size_t j;
        json_t *v;
        int seen = 0;
        json_array_foreach(arr, j, v) seen |= strcmp(json_string_value(v), t) == 0;
        if (!seen)
            json_array_append_new(arr, json_string(t));
    }
    pthread_mutex_unlock(&s->tokens_lock);
    return arr;
}

int rg_server__authenticate(rg_request *req)
{
    rg_server *s = req->server;
    const char *h = rg_server__header(req, "Authorization");
    const rg_token_entry *e;
    int rc = 0;

    if (h == NULL)
        return rg_error_set(RG_EAUTH, "an Authorization: Bearer token is required");
    if (strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0' || strlen(h + 7) > 256)
        return rg_error_set(RG_EAUTH, "the Authorization header must be 'Bearer <token>'");
    pthread_mutex_lock(&s->tokens_lock);
    tokens_refresh(s);
    e = rg_tokens_find(s->tokens, h + 7);
    if (e == NULL) {
        rc = rg_error_set(RG_EAUTH, "the bearer token is not valid");
    } else {
        memcpy(req->token_copy.sha256, e->sha256, sizeof(e->sha256));
        req->token_copy.role = e->role;
        req->token_copy.tenant = rg_strdup(e->tenant);
        req->token_copy.name = rg_strdup(e->name);
        req->token = &req->token_copy;
        if (req->token_copy.tenant == NULL || req->token_copy.name == NULL)
            rc = rg_error_set(RG_ENOMEM, "out of memory");
    }
    pthread_mutex_unlock(&s->tokens_lock);
    return rc;
}

int rg_server__stream_acquire(rg_server *s, const char *sha)
{
    json_int_t n;
    int rc = 0;

    pthread_mutex_lock(&s->streams_lock);
    n = json_integer_value(json_object_get(s->streams, sha));
    if (n >= s->opts.streams_per_token)
        rc = rg_error_set(RG_ELIMIT,
                          "this token already holds %d open long-polls and event "
                          "streams; close one first",
                          s->opts.streams_per_token);
    else if (json_object_set_new(s->streams, sha, json_integer(n + 1)) < 0)
        rc = rg_error_set(RG_ENOMEM, "out of memory");
    else
        s->held++;
    pthread_mutex_unlock(&s->streams_lock);
    return rc;
}

void rg_server__stream_release(rg_server *s, const char *sha)
{
    json_int_t n;

    pthread_mutex_lock(&s->streams_lock);
    n = json_integer_value(json_object_get(s->streams, sha));
    if (n <= 1)
        json_object_del(s->streams, sha);
    else
        json_object_set_new(s->streams, sha, json_integer(n - 1));
    if (n >= 1)
        s->held--;
    pthread_mutex_unlock(&s->streams_lock);
}

/* ---- MHD glue ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    rg_server *s = cls;
    rg_request *req = *con_cls;

    (void)version;
    if (req == NULL) {
        if ((req = calloc(1, sizeof(*req))) == NULL)
            return MHD_NO;
        req->server = s;
        req->conn = conn;
        req->method = method;
        req->url = url;
        *con_cls = req;
        /* The token is checked before any body is read: a caller without one cannot make
         * the server buffer a megabyte, nor hold the connection past the short timeout. */
        if (strncmp(url, "/api/", 5) == 0) {
            int rc = rg_server__authenticate(req);
            if (rc < 0)
                return rg_server__reply_rc(req, rc);
            MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                      s->opts.request_timeout_s);
        }
        {
            const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
            int64_t n;
            if (cl && rg_parse_int64(&n, cl, 0, INT64_MAX) == 0 && (uint64_t)n > s->opts.body_limit)
                return rg_server__reply_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                                              "the request body is larger than %zu bytes",
                                              s->opts.body_limit);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (req->body.len + *upload_data_size > s->opts.body_limit)
            req->too_large = 1;
        else if (rg_buf_put(&req->body, upload_data, *upload_data_size) < 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->too_large)
        return rg_server__reply_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
                                      "the request body is larger than %zu bytes",
                                      s->opts.body_limit);
    return rg_server__route(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    rg_server *s = cls;
    rg_request *req = *con_cls;

    (void)conn;
    (void)toe;
    if (req == NULL)
        return;
    if (req->engine) {
        rg_engine_metrics m;
        rg_engine_get_metrics(&m, req->engine);
        pthread_mutex_lock(&s->metrics_lock);
        rg_server__metrics_add(&s->retired, &m);
        pthread_mutex_unlock(&s->metrics_lock);
    }
    rg_engine_free(req->engine);
    rg_buf_dispose(&req->body);
    free(req->token_copy.tenant);
    free(req->token_copy.name);
    free(req);
    *con_cls = NULL;
}

/* A thread and a descriptor per connection: the soft descriptor limit (1,024 on a stock
 * Debian) is raised toward the hard one so that the connection limit can be reached; when
 * it cannot, the connection limit is lowered to fit, with a warning, rather than accepting
 * connections that would fail on accept(2). */
static void fit_descriptor_limit(rg_server *s)
{
    const rlim_t spare = 128; /* the database, the log, sockets to the platform, webhooks */
    rlim_t want = (rlim_t)s->opts.connection_limit + spare;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < want && rl.rlim_cur != RLIM_INFINITY) {
        rlim_t before = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = before;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        unsigned fit = rl.rlim_cur > spare + 16 ? (unsigned)(rl.rlim_cur - spare) : 16;
        rg_log(RG_LOG_WARN, "http",
               "open-file limit %llu allows %u connections, not %u: "
               "raise it (ulimit -n, LimitNOFILE=) for more",
               (unsigned long long)rl.rlim_cur, fit, s->opts.connection_limit);
        s->opts.connection_limit = fit;
        if (s->opts.per_ip_limit > fit)
            s->opts.per_ip_limit = fit;
    }
}

static int bind_http(rg_server *s)
{
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    char host[64] = "";

    if (s->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    fit_descriptor_limit(s);
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                                 mhd_log, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&s->addr,
                                 MHD_OPTION_CONNECTION_LIMIT, s->opts.connection_limit,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->opts.per_ip_limit,
                                 MHD_OPTION_CONNECTION_TIMEOUT, s->opts.auth_timeout_s,
                                 /* thousands of waiting long-polls: small stacks */
                                 MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (s->daemon == NULL)
        return rg_error_set(RG_EIO,
                            "cannot listen on %s (in use, or not an address of this "
                            "host)",
                            s->listen);
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0) {
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
        return rg_error_set(RG_EIO, "cannot read the port bound for %s", s->listen);
    }
    if (s->addr.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&s->addr)->sin6_addr, host, sizeof(host));
        snprintf(s->url, sizeof(s->url), "http://[%s]:%u", host, (unsigned)info->port);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&s->addr)->sin_addr, host, sizeof(host));
        snprintf(s->url, sizeof(s->url), "http://%s:%u", host, (unsigned)info->port);
    }
    return 0;
}
