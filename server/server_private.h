/* server_private.h - what the server's files share: the server, one request, replies */
#ifndef RG_SERVER_PRIVATE_H
#define RG_SERVER_PRIVATE_H

#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <jansson.h>
#include <microhttpd.h>

#include "rollgate/engine.h"
#include "rollgate/http.h"
#include "rollgate/records.h"
#include "rollgate/registry.h"
#include "rollgate/server.h"
#include "rollgate/util.h"

typedef struct rg_server__hooks rg_server__hooks;

#define RG_SERVER__ID_MAX 64   /* the router's bound on a rollout id */
#define RG_SERVER__CHANGES 256 /* generations whose rollout a waiter can still tell */

struct rg_server {
    rg_server_options opts;
    char *db_path, *listen, *tokens_path, *registry_path; /* owned copies of the options */
    rg_http_net *webhook_allow; /* opts.webhook_allow parsed (webhook_allow_count of them) */
    struct sockaddr_storage addr;
    unsigned addr_len;
    char url[96];

    /* Tokens, reloaded when the file changes (mtime, size, inode). */
    pthread_mutex_t tokens_lock;
    rg_tokens *tokens;
    struct stat tokens_stat;

    /* The owner's registry, reloaded when the file changes. */
    pthread_mutex_t registry_lock;
    rg_registry *registry;
    struct stat registry_stat;

    /* Long-polls and event streams open per token: {sha256: count}, under streams_lock. */
    pthread_mutex_t streams_lock;
    json_t *streams;
    long held; /* their sum: the rollgate_held_requests gauge */

    /* `changed` is broadcast whenever a rollout may have changed (after every scheduler
     * tick, every narrated step and every API command); `generation` counts broadcasts.
     * `kicked` wakes the scheduler before its next tick is due. `changes` remembers which
     * rollout each of the last RG_SERVER__CHANGES generations was about ("" = any), so a
     * gate woken by another rollout's step goes back to sleep without reading the store. */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    pthread_cond_t kick;
    uint64_t generation;
    struct {
        uint64_t generation;
        char id[RG_SERVER__ID_MAX + 1];
    } changes[RG_SERVER__CHANGES];
    int kicked;
    int stopping;

    /* Serialises driving: the scheduler's tick and an API command executed directly (both
     * act under this process's lease owner id). */
    pthread_mutex_t drive_lock;

    /* Metrics: the scheduler's engine (NULL until its thread opened it) and the counts of
     * request engines that have been freed. Under metrics_lock. */
    pthread_mutex_t metrics_lock;
    rg_engine *sched_engine;
    rg_engine_metrics retired;
    int64_t refused_logged_ms; /* connections refused at a limit: last logged, since then */
    uint64_t refused_unlogged;

    struct MHD_Daemon *daemon;
    pthread_t sched_thread, hook_thread;
    int sched_started, hook_started, running;
    rg_server__hooks *hooks;
    void *sched; /* scheduler.c's thread state */
};

/* One HTTP request. */
typedef struct rg_request {
    rg_server *server;
    struct MHD_Connection *conn;
    const char *method, *url;
    rg_buf body;
    int too_large;
    const char *allow;           /* the Allow header of a 405 */
    const rg_token_entry *token; /* a copy lives in token_copy */
    rg_token_entry token_copy;
    rg_engine *engine; /* opened on first use, with its own store, for this request only */
} rg_request;

/* ---- server.c ---- */
/* Wakes every waiter on `changed` (and the scheduler when `kick`): rollout `id` may have
 * changed, or any rollout when `id` is NULL. */
void rg_server__notify(rg_server *server, const char *id, int kick);
/* Under server->lock: a new generation about rollout `id` (NULL: any rollout). */
void rg_server__next_generation(rg_server *server, const char *id);
/* Waits until the generation moves past `seen`, the server stops, or `deadline_mono_ms`.
 * @return the current generation. */
uint64_t rg_server__wait_change(rg_server *server, uint64_t seen, int64_t deadline_mono_ms);
/* The same, but only a change that may concern rollout `id` ends the wait: a generation
 * about another rollout is passed over (unless so many went by that it cannot tell). */
uint64_t rg_server__wait_rollout(rg_server *server, uint64_t seen, const char *id,
                                 int64_t deadline_mono_ms);
int rg_server__stopping(rg_server *server);
/* The request's engine (and its store), opened on first use. */
int rg_server__engine(rg_engine **out, rg_request *req);
/* Adds one engine's counts into `into`. */
void rg_server__metrics_add(rg_engine_metrics *into, const rg_engine_metrics *m);
/* The tenants named in the tokens file (a JSON array of strings; new reference). */
json_t *rg_server__tenants(rg_server *server);
/* Looks up the bearer token of a request; reloads the tokens file when it changed. Copies
 * the entry into req->token_copy. 0 found, RG_EAUTH not (message says why). */
int rg_server__authenticate(rg_request *req);

/* Counts one more long-poll or event stream for the request's token; RG_ELIMIT when it
 * already holds opts.streams_per_token. Pair with rg_server__stream_release. */
int rg_server__stream_acquire(rg_server *server, const char *token_sha256);
void rg_server__stream_release(rg_server *server, const char *token_sha256);

/* ---- tenants.c: the registry ---- */
/* The secret name a served manifest is stored with: "sign with the tenant's registry
 * secret". A manifest the owner started with `rollgate start` keeps the variable it names. */
#define RG_SERVER__REGISTRY_SECRET "ROLLGATE_REGISTRY_WEBHOOK_SECRET"
int rg_server__registry_open(rg_server *server);
/* rg_engine_options.add_org: the registry entry of (tenant, org), or the reason there is
 * none. `payload` is the server. */
int rg_server__add_org(rg_platform *platform, const char *tenant, const char *org_id,
                       void *payload);
/* The tenant's webhook secret from the registry; caller wipes and frees. */
int rg_server__webhook_secret(char **out, rg_server *server, const char *tenant);
/* Reads a tenant's manifest body: refuses platform URLs, credentials, insecure, notify
 * secrets and policy paths (400 naming the field and how the owner registers an org),
 * refuses an org not registered to `tenant` (named, and the same whether or not another
 * tenant has it), embeds a named policy of the policy directory and fills the URLs from the
 * registry. RG_EAUTH when the manifest names another tenant. */
int rg_server__served_manifest(rg_manifest **out, rg_server *server, const char *tenant,
                               const char *name, const char *text, size_t len);
/* The same, selecting `environment` of a manifest with environments (NULL: none). */
int rg_server__served_manifest_env(rg_manifest **out, rg_server *server, const char *tenant,
                                   const char *name, const char *text, size_t len,
                                   const char *environment);

/* ---- reply.c ---- */
enum MHD_Result rg_server__reply(rg_request *req, unsigned status, const char *content_type,
                                 const char *body, size_t len);
/* Steals `doc`. */
enum MHD_Result rg_server__reply_json(rg_request *req, unsigned status, json_t *doc);
/* {"error":{"code","message"}} */
enum MHD_Result rg_server__reply_error(rg_request *req, unsigned status, const char *code,
                                       const char *fmt, ...) RG_PRINTF(4, 5);
/* The HTTP status and code name for a library error code (the message is rg_error_last). */
enum MHD_Result rg_server__reply_rc(rg_request *req, int rc);
const char *rg_server__header(rg_request *req, const char *name);
const char *rg_server__query(rg_request *req, const char *name);

/* ---- router.c ---- */
enum MHD_Result rg_server__route(rg_request *req);

/* ---- api.c: /api/v1/rollouts... ---- */
enum MHD_Result rg_server__api_list(rg_request *req);
enum MHD_Result rg_server__api_start(rg_request *req);
enum MHD_Result rg_server__api_status(rg_request *req, const char *id);
enum MHD_Result rg_server__api_verdicts(rg_request *req, const char *id);
enum MHD_Result rg_server__api_command(rg_request *req, const char *id, rg_command_kind kind);
/* GET /api/v1/whoami: the token's tenant, role and name (never the token). */
enum MHD_Result rg_server__api_whoami(rg_request *req);
/* GET /api/v1/rollouts/{id}/audit: the rollout's audit entries, as `rollgate audit`. */
enum MHD_Result rg_server__api_audit(rg_request *req, const char *id);

/* ---- stream.c: gate long-poll and events ---- */
enum MHD_Result rg_server__api_gate(rg_request *req, const char *id);
enum MHD_Result rg_server__api_events(rg_request *req, const char *id);
/* api_env.c: environments over HTTP. */
enum MHD_Result rg_server__api_promote_env(rg_request *req, const char *id);
/* api_controls.c: POST retry (release) and undo (operator). */
enum MHD_Result rg_server__api_retry(rg_request *req, const char *id);
enum MHD_Result rg_server__api_undo(rg_request *req, const char *id);
enum MHD_Result rg_server__api_artifact(rg_request *req, const char *digest, const char *sub);
/* ?env=E&force=true&reason=R of a start: 0, or a 400 queued in *ret. */
int rg_server__env_query(rg_request *req, const char **env, const char **force_reason,
                         enum MHD_Result *ret);

/* ---- metrics.c ---- */
enum MHD_Result rg_server__metrics(rg_request *req);
int rg_server__metrics_text(rg_buf *out, rg_server *server, rg_engine *engine);

/* ---- dashboard.c ---- */
enum MHD_Result rg_server__dashboard(rg_request *req);
/* GET /app.js, /app.css: the dashboard's script and style (the CSP allows only 'self'). */
enum MHD_Result rg_server__dashboard_asset(rg_request *req, const char *name);

/* ---- hooks.c: webhook delivery ---- */
int rg_server__hooks_start(rg_server *server);
void rg_server__hooks_stop(rg_server *server);
/* A rollout the delivery thread should watch from now on (e.g. just started). */
void rg_server__hooks_track(rg_server *server, const char *tenant, const char *rollout_id);

/* ---- scheduler.c ---- */
int rg_server__scheduler_start(rg_server *server);
void rg_server__scheduler_join(rg_server *server);

#endif
