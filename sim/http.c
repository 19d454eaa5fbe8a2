/* http.c - libmicrohttpd glue: body collection, dispatch, replies, request log */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "sim/sim.h"

typedef struct {
    rg_buf body;
    int too_large;
} conn_state;

int sim_server_init(sim_server *server, sim_world *world)
{
    memset(server, 0, sizeof(*server));
    server->log.ring = calloc(SIM_LOG_CAP, sizeof(sim_log_entry));
    if (server->log.ring == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory for the request log");
    pthread_rwlock_init(&server->lock, NULL);
    pthread_mutex_init(&server->faults_lock, NULL);
    pthread_mutex_init(&server->log.lock, NULL);
    server->log.next_seq = 1;
    sim_querylog_init(&server->queries);
    server->world = world;
    server->fault_state = world->seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
    return 0;
}

void sim_server_dispose(sim_server *server)
{
    sim_world_free(server->world);
    free(server->log.ring);
    pthread_rwlock_destroy(&server->lock);
    pthread_mutex_destroy(&server->faults_lock);
    pthread_mutex_destroy(&server->log.lock);
    sim_querylog_dispose(&server->queries);
    memset(server, 0, sizeof(*server));
}

int sim_reply_json(sim_reply *reply, int status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

    json_decref(doc);
    if (text == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory encoding a reply");
    free(reply->body);
    reply->body = text;
    reply->status = status;
    return 0;
}

int sim_reply_error(sim_reply *reply, int status, const char *code, const char *fmt, ...)
{
    char message[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    return sim_reply_json(reply, status,
                          json_pack("{s:s,s:s,s:i,s:s,s:[],s:[]}", "message", message, "code", code,
                                    "status", status, "contextId", reply->context_id, "details",
                                    "errors"));
}

void sim_reqlog_add(sim_reqlog *log, const char *method, const char *org, const char *path,
                    int status, int applied, int64_t now_ms)
{
    sim_log_entry *e;

    pthread_mutex_lock(&log->lock);
    e = &log->ring[(log->next_seq - 1) % SIM_LOG_CAP];
    e->seq = log->next_seq++;
    e->time_ms = now_ms;
    e->status = status;
    e->applied = applied;
    snprintf(e->method, sizeof(e->method), "%s", method);
    snprintf(e->org, sizeof(e->org), "%s", org ? org : "");
    snprintf(e->path, sizeof(e->path), "%s", path);
    pthread_mutex_unlock(&log->lock);
}

double sim_fault_draw(sim_server *server)
{
    uint64_t x;

    pthread_mutex_lock(&server->faults_lock);
    x = server->fault_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    server->fault_state = x ? x : 1;
    pthread_mutex_unlock(&server->faults_lock);
    return (double)((x * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0;
}

int sim_fault_applies(sim_fault_on on, const char *method, const char *path)
{
    int write = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
                strncmp(path, "/api/v2/analytics/", 18) != 0;

    return on == SIM_ON_ALL || (on == SIM_ON_WRITES) == write;
}

static const char *conn_header(void *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static const char *conn_query(void *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Runs the handler for one complete request; the world is read-locked around API calls. */
static void dispatch(sim_reply *reply, sim_server *server, const sim_request *req, int64_t now)
{
    const char *org_id = NULL;
    sim_world *world;
    int rc;

    if (strncmp(req->path, "/sim/", 5) == 0) {
        rc = sim_control_handle(reply, server, req, now);
        if (rc < 0)
            sim_reply_error(reply, 500, "internal.server.error", "%s", rg_error_last());
        return; /* the request log holds platform traffic only, not control calls */
    }
    pthread_rwlock_rdlock(&server->lock);
    world = server->world;
    if (strcmp(req->path, "/oauth/token") == 0) {
        sim_faults faults;
        pthread_mutex_lock(&server->faults_lock);
        faults = server->faults;
        pthread_mutex_unlock(&server->faults_lock);
        rc = sim_token_handle(reply, world, req, &faults, now);
    } else if (strcmp(req->path, "/auth/token") == 0) {
        sim_faults faults;
        pthread_mutex_lock(&server->faults_lock);
        faults = server->faults;
        pthread_mutex_unlock(&server->faults_lock);
        rc = sim_cxone_token(reply, world, req, &faults, now);
    } else if (strcmp(req->path, "/.well-known/cxone-configuration") == 0) {
        rc = sim_cxone_discovery(reply, world, req);
    } else if (strncmp(req->path, "/api/", 5) == 0 ||
               strncmp(req->path, "/incontactapi/", 14) == 0) {
        rc = sim_api_handle(reply, server, world, req, now);
    } else {
        rc = sim_reply_error(reply, 404, "not.found", "no such resource: %s", req->path);
    }
    if (rc < 0)
        sim_reply_error(reply, 500, "internal.server.error", "%s", rg_error_last());
    if (reply->org_slot > 0) {
        sim_org *org = &world->orgs[reply->org_slot - 1];
        org_id = org->id;
        pthread_mutex_lock(&org->lock);
        sim_org_count_status(org, reply->close ? 0 : reply->status);
        if (reply->written != NULL) {
            reply->written->writes++;
            reply->written->writes_unanswered += reply->write_hidden;
        }
        if (reply->written_row != NULL) {
            reply->written_row->writes++;
            reply->written_row->writes_unanswered += reply->write_hidden;
        }
        pthread_mutex_unlock(&org->lock);
    } else {
        pthread_mutex_lock(&world->lock);
        sim_counts_add(world->unauth_counts, &world->nunauth, reply->close ? 0 : reply->status);
        pthread_mutex_unlock(&world->lock);
    }
    sim_reqlog_add(&server->log, req->method, org_id, req->path, reply->close ? 0 : reply->status,
                   reply->written != NULL || reply->written_row != NULL, now);
    pthread_rwlock_unlock(&server->lock);
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, sim_reply *reply)
{
    struct MHD_Response *resp;
    char num[32];
    enum MHD_Result ret;
    const char *body = reply->body ? reply->body : "";

    resp = MHD_create_response_from_buffer(
        strlen(body), (void *)body, reply->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    reply->body = NULL;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "inin-correlation-id", reply->context_id);
    if (reply->etag[0])
        MHD_add_response_header(resp, "ETag", reply->etag);
    if (reply->retry_after > 0) {
        snprintf(num, sizeof(num), "%d", reply->retry_after);
        MHD_add_response_header(resp, "Retry-After", num);
    }
    if (reply->rate_headers) {
        snprintf(num, sizeof(num), "%lld", (long long)reply->rate_allowed);
        MHD_add_response_header(resp, "inin-ratelimit-allowed", num);
        snprintf(num, sizeof(num), "%lld", (long long)reply->rate_count);
        MHD_add_response_header(resp, "inin-ratelimit-count", num);
        snprintf(num, sizeof(num), "%lld", (long long)reply->rate_reset);
        MHD_add_response_header(resp, "inin-ratelimit-reset", num);
    }
    ret = MHD_queue_response(conn, (unsigned int)reply->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* libmicrohttpd's own diagnostics, e.g. a connection closed on purpose by reset_rate. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char message[512];

    (void)cls;
    vsnprintf(message, sizeof(message), fmt, ap);
    rg_log(RG_LOG_DEBUG, "sim.mhd", "%s", message);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    sim_server *server = cls;
    conn_state *st = *con_cls;
    sim_reply reply;
    sim_request req;
    uint64_t ctx;

    (void)version;
    if (st == NULL) {
        if ((st = calloc(1, sizeof(*st))) == NULL)
            return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (st->body.len + *upload_data_size > (size_t)SIM_MAX_BODY)
            st->too_large = 1;
        else if (rg_buf_put(&st->body, upload_data, *upload_data_size) < 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    memset(&reply, 0, sizeof(reply));
    ctx = __atomic_add_fetch(&server->context_seq, 1, __ATOMIC_RELAXED);
    snprintf(reply.context_id, sizeof(reply.context_id), "5e1a0000-0000-4000-8000-%012llx",
             (unsigned long long)ctx);
    req.method = method;
    req.path = url;
    req.body = rg_buf_cstr(&st->body);
    req.body_len = st->body.len;
    req.header = (const char *(*)(void *, const char *))conn_header;
    req.query = (const char *(*)(void *, const char *))conn_query;
    req.conn = conn;
    if (st->too_large)
        sim_reply_error(&reply, 413, "request.entity.too.large", "the body exceeds %d bytes",
                        SIM_MAX_BODY);
    else
        dispatch(&reply, server, &req, rg_time_now_ms());
    if (reply.close) {
        if (reply.close == 2) {
            /* SO_LINGER 0: the close that MHD_NO causes sends a RST, not a FIN. */
            const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
            struct linger lg = {1, 0};
            if (ci != NULL)
                setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        free(reply.body);
        return MHD_NO;
    }
    return send_reply(conn, &reply);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    conn_state *st = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (st != NULL) {
        rg_buf_dispose(&st->body);
        free(st);
        *con_cls = NULL;
    }
}

int sim_http_start(struct MHD_Daemon **out, int *port_out, sim_server *server, const char *addr,
                   int port)
{
    struct sockaddr_in sa;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned int threads = (unsigned int)(cpus > 0 ? cpus * 2 : 4);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return rg_error_set(RG_EINVALID, "--bind: '%s' is not an IPv4 address", addr);
    threads = threads < 4 ? 4 : (threads > 32 ? 32 : threads);
    d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
        NULL, on_request, server, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)4000,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)120, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (d == NULL)
        return rg_error_set(RG_EIO, "cannot listen on %s:%d", addr, port);
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0) {
        MHD_stop_daemon(d);
        return rg_error_set(RG_EIO, "cannot learn the bound port");
    }
    *port_out = info->port;
    *out = d;
    return 0;
}
