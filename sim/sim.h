/* sim.h - rollgate-sim internals: the scenario world, faults, request log, handlers */
#ifndef RG_SIM_H
#define RG_SIM_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

struct MHD_Daemon;

#include "rollgate/util.h"

#define SIM_MAX_BODY (4 * 1024 * 1024) /* largest request body accepted */
#define SIM_LOG_CAP 100000             /* request log ring size */
#define SIM_MAX_TOKENS_PER_ORG 4096    /* oldest tokens are dropped past this */

typedef struct {
    char *id;
    char *name;
    int agents;
    double abandon_p;
    double asa_s;
    double handle_s;
    json_t *skill; /* a CXone brand's skill settings beyond the defaults (cxone.c), or NULL */
} sim_queue;

/* The weights in force from at_ms on, one per queue of the organization. */
typedef struct {
    int64_t at_ms;
    const char *source; /* "scenario", "api" or "edit" (static strings) */
    int *weight;
} sim_weights;

typedef struct {
    char *id;
    double calls_per_min;
    json_t *body; /* current full body: id, name, version, settings, targets */
    int64_t version;
    char etag[40];
    sim_weights *history;
    size_t nhistory, caphistory;
    int64_t writes;            /* API PATCHes committed, whether or not the reply arrived */
    int64_t writes_unanswered; /* of those, the ones whose success a fault hid (reply
                                * dropped, reset, or replaced by a 5xx) */
} sim_strategy;

typedef struct {
    char value[64];
    int64_t expires_ms;
    int64_t window_start_ms;
    int64_t count;
} sim_token;

typedef struct {
    int status;
    int64_t count;
} sim_status_count;

/* Architect data tables (datatable.c). */
enum { SIM_COL_STRING, SIM_COL_INTEGER, SIM_COL_NUMBER, SIM_COL_BOOLEAN };

typedef struct {
    char *name;
    int type;
} sim_column;

typedef struct {
    json_t *fields;            /* the whole row, "key" included */
    int64_t writes;            /* API PUTs committed, answered or not */
    int64_t writes_unanswered; /* of those, the ones whose success a fault hid */
    int64_t hook_edits;        /* edits made by a one-shot hook */
} sim_row;

typedef struct {
    char *id;
    char *name;
    sim_column *cols;
    size_t ncols;
    sim_row *rows;
    size_t nrows;
} sim_datatable;

/* The row the org's inbound flow reads: each weight column's integer is the share of the
 * queue named by its queue column. `history` holds only calls_per_min and the weights. */
typedef struct {
    sim_datatable *table;
    sim_row *row;
    struct {
        const char *weight_col, *queue_col;
    } * pairs;
    size_t npairs;
    sim_strategy history;
} sim_route;

/* An Architect IVR config (ivr.c): `doc.fields` is the whole body the API serves, its
 * writes and hook edits counted in `doc` like a row's. */
typedef struct {
    char *id;
    sim_row doc;
    int64_t version;
    int conflict_status; /* a stale version: 409 (default) or 400 "does not match ..." */
    json_t *hook_fields; /* a one-shot edit after the next GET (or accepted PUT) */
    int hook_on_put;
} sim_ivr;

/* A one-shot edit applied right after the next GET or PUT of a row is answered. */
typedef struct {
    int on_put;
    char *datatable, *row;
    json_t *fields;
} sim_row_hook;

typedef struct {
    char *id;
    char *name;
    char *domain;
    char *client_id;
    char *client_secret;
    /* a NICE CXone brand (cxone.c): its id is the tenant id; its API lives under
     * /incontactapi/services/vNN.0; the routing data table is its weight-store skill */
    int cxone;
    char *access_key_id;
    char *access_key_secret;
    char *weight_field; /* the store skill's field holding the rows as JSON ("notes") */
    sim_queue *queues;
    size_t nqueues;
    sim_strategy *strategies;
    size_t nstrategies;
    sim_datatable *tables;
    size_t ntables;
    sim_route route; /* route.row NULL: the org routes by its strategies only */
    sim_ivr *ivrs;   /* IVR configs with version semantics (ivr.c) */
    size_t nivrs;
    /* Guards everything below, the strategies' body/etag/version/history, the rows and the
     * route's history and hook. */
    pthread_mutex_t lock;
    int lock_ready;
    sim_row_hook hook;
    sim_token *tokens;
    size_t ntokens, captokens;
    int64_t token_count;
    sim_status_count counts[32];
    size_t ncounts;
} sim_org;

typedef struct {
    char *queue;
    double abandon_mult;
    double asa_add_s;
    double handle_mult;
} sim_effect;

typedef struct {
    char **orgs; /* NULL with all = 1 for "*" */
    size_t norgs;
    int all;
    double from_s, to_s;
    double abandon_mult, asa_add_s, calls_mult, agents_mult;
} sim_event;

/* One loaded scenario with its live state. Replaced whole by POST /sim/scenario. */
typedef struct {
    uint64_t seed;
    int64_t token_ttl_s;
    int64_t rate_allowed;
    int64_t rate_window_s;
    double time_scale;
    int64_t loaded_at_ms;
    sim_org *orgs;
    size_t norgs;
    sim_effect *effects;
    size_t neffects;
    sim_event *events;
    size_t nevents;
    pthread_mutex_t lock; /* guards unauth_counts */
    sim_status_count unauth_counts[32];
    size_t nunauth;
} sim_world;

/* Which API requests a fault applies to. Writes: every method but GET, except the two
 * analytics queries (POSTs that read). */
typedef enum { SIM_ON_ALL = 0, SIM_ON_WRITES, SIM_ON_READS } sim_fault_on;

typedef struct {
    double error_rate;
    int error_status;
    sim_fault_on error_on;
    int64_t latency_ms;
    sim_fault_on latency_on;
    double reset_rate;
    sim_fault_on reset_on;
    double apply_drop_rate;      /* a committed PATCH: connection closed, no reply */
    double apply_reset_rate;     /* a committed PATCH: connection reset (RST), no reply */
    double apply_error_rate;     /* a committed PATCH: answered 5xx (error_status, else 504) */
    int64_t rate_limit;          /* 0: the scenario's */
    int64_t rate_window_s;       /* 0: the scenario's */
    int64_t token_ttl_s;         /* 0: the scenario's */
    int version_conflict_status; /* a stale IVR version: 409 or 400; 0: each IVR's own */
    int64_t max_predicates;      /* analytics queries with more queueId predicates: 400; 0: any */
} sim_faults;

typedef struct {
    int64_t seq;
    int64_t time_ms;
    int status;
    int applied; /* a write the sim committed (its reply may have been dropped) */
    char method[8];
    char org[48];
    char path[104];
} sim_log_entry;

typedef struct {
    pthread_mutex_t lock;
    sim_log_entry *ring;
    int64_t next_seq; /* seq of the next entry; the first is 1 */
} sim_reqlog;

/* The analytics query bodies answered (querylog.c), newest SIM_QUERY_CAP. */
#define SIM_QUERY_CAP 1024
#define SIM_QUERY_MAX_BODY 65536
typedef struct {
    int64_t seq;
    int64_t time_ms;
    char org[48];
    char path[104];
    char *body;
} sim_query_entry;

typedef struct {
    pthread_mutex_t lock;
    sim_query_entry *ring; /* allocated on the first query */
    int64_t next_seq;
} sim_querylog;

typedef struct {
    pthread_rwlock_t lock; /* read: any request; write: replacing the world */
    sim_world *world;
    pthread_mutex_t faults_lock;
    sim_faults faults;
    uint64_t fault_state; /* xorshift state for fault draws, under faults_lock */
    sim_reqlog log;
    sim_querylog queries;
    uint64_t context_seq; /* atomically incremented for contextId values */
} sim_server;

int sim_server_init(sim_server *server, sim_world *world);
void sim_server_dispose(sim_server *server);
/* Starts libmicrohttpd on addr:port (port 0 picks one); *port_out gets the bound port. */
int sim_http_start(struct MHD_Daemon **out, int *port_out, sim_server *server, const char *addr,
                   int port);

/* What a handler answers; http.c sends it. */
typedef struct {
    int status;
    char *body;            /* malloc'd JSON (or NULL for an empty body) */
    int close;             /* drop the connection without a response; 2 = with a TCP reset */
    sim_strategy *written; /* the strategy a committed PATCH changed, else NULL */
    sim_row *written_row;  /* the data-table row (or IVR config) a committed PUT replaced */
    int write_hidden;      /* a fault kept that success from the client */
    char etag[40];         /* ETag header when set */
    int retry_after;       /* Retry-After header when > 0 */
    int rate_headers;      /* send the inin-ratelimit-* headers below */
    int64_t rate_allowed, rate_count, rate_reset;
    char context_id[40];
    size_t org_slot; /* index + 1 of the request's organization, 0 when none */
} sim_reply;

/* A request as the handlers see it. */
typedef struct {
    const char *method;
    const char *path;
    const char *body;
    size_t body_len;
    const char *(*header)(void *conn, const char *name);
    const char *(*query)(void *conn, const char *name);
    void *conn;
} sim_request;

/* scenario.c */
int sim_world_load(sim_world **out, json_t *doc);
int sim_world_load_file(sim_world **out, const char *path);
void sim_world_free(sim_world *world);
int sim__json_load(json_t **out, const char *text, size_t len, const char *what);

/* world.c */
sim_org *sim_world_org(sim_world *world, const char *id);
sim_strategy *sim_org_strategy(sim_org *org, const char *id);
int sim_org_queue_index(const sim_org *org, const char *id);
/* Validates a patch (name, settings, targets) against org and applies it, bumping version,
 * ETag and history. Caller holds org->lock. On error nothing changes. */
int sim_strategy_patch(sim_org *org, sim_strategy *strategy, json_t *patch, const char *source,
                       int64_t now_ms);
/* The body `current` with `patch` applied and validated (same version); nothing changes. */
int sim_strategy_build(json_t **out, const sim_org *org, json_t *current, json_t *patch);
/* Takes `body` (stolen, also on error): version, ETag, one history entry at at_ms. */
int sim_strategy_init(sim_strategy *strategy, const sim_org *org, json_t *body, int64_t at_ms,
                      const char *source);
void sim_strategy_dispose(sim_strategy *strategy);
void sim_org_count_status(sim_org *org, int status);
void sim_counts_add(sim_status_count *counts, size_t *ncounts, int status);

/* datatable.c */
sim_datatable *sim_org_datatable(sim_org *org, const char *id);
sim_row *sim_datatable_row(sim_datatable *t, const char *key);
int sim_datatable_check(const sim_datatable *t, json_t *row, const char *key, int partial);
int sim_row_write(sim_org *org, sim_datatable *t, sim_row *r, json_t *fields, int partial,
                  const char *source, int64_t now_ms);
int sim_route_push(sim_org *org, int64_t at_ms, const char *source);
int sim_datatable_route(sim_reply *reply, sim_org *org, const char *rest, const sim_request *req,
                        int64_t now_ms);
int sim_datatables_load(sim_org *org, json_t *tables, json_t *route, const char *path);
void sim_datatables_dispose(sim_org *org);
json_t *sim_datatables_json(const sim_org *org);
int sim_datatable_edit(sim_reply *reply, sim_world *world, json_t *body, int64_t now_ms);
int sim_datatable_hook(sim_reply *reply, sim_world *world, json_t *body);
void sim_row_hook_clear(sim_row_hook *h);

/* ivr.c */
sim_ivr *sim_org_ivr(sim_org *org, const char *id);
int sim_ivr_route(sim_reply *reply, sim_org *org, const char *id, const sim_request *req,
                  const sim_faults *faults, int64_t now_ms);
int sim_ivrs_load(sim_org *org, json_t *ivrs, const char *path);
void sim_ivrs_dispose(sim_org *org);
json_t *sim_ivrs_json(const sim_org *org);
int sim_ivr_edit(sim_reply *reply, sim_world *world, json_t *body, int64_t now_ms);
int sim_ivr_hook(sim_reply *reply, sim_world *world, json_t *body);

/* querylog.c */
void sim_querylog_init(sim_querylog *q);
void sim_querylog_dispose(sim_querylog *q);
void sim_querylog_add(sim_querylog *q, const char *org, const char *path, const char *body,
                      size_t len, int64_t now_ms);
int sim_querylog_get(sim_reply *reply, sim_querylog *q, const sim_request *req);
/* 1 (with a 400 in reply) when an analytics query has more queueId predicates than the
 * faults' max_predicates (sim-only: the platform's real limit is not documented). */
int sim_query_over_limit(sim_reply *reply, const sim_faults *f, const sim_request *req);

/* tokens.c */
int sim_token_issue(char *out, size_t outlen, sim_org *org, size_t org_index, int64_t ttl_s,
                    int64_t now_ms);
/* Finds the org of a bearer token that has not expired; locks nothing on return. */
int sim_token_find(size_t *org_index, sim_world *world, const char *token, int64_t now_ms);
/* Counts a request against the token's budget; 1 when allowed, 0 when over. */
int sim_token_charge(sim_reply *reply, sim_org *org, const char *token, int64_t allowed,
                     int64_t window_s, int64_t now_ms);
int sim_base64_decode(char *out, size_t outlen, const char *in);

/* telemetry.c */
typedef struct {
    int64_t count;
    int64_t sum, min, max;
} sim_stat;

enum { SIM_M_OFFERED, SIM_M_ABANDON, SIM_M_ANSWERED, SIM_M_HANDLE, SIM_M_WAIT, SIM_M_COUNT };

/* The stats of one queue of one org over [start, end), given a snapshot of the histories. */
typedef struct {
    const sim_world *world;
    const sim_org *org;
    size_t org_index;
    sim_weights **histories; /* per strategy */
    size_t *nhistories;
} sim_tele_ctx;

int sim_tele_snapshot(sim_tele_ctx *ctx, sim_world *world, size_t org_index);
void sim_tele_dispose(sim_tele_ctx *ctx);
void sim_tele_bucket(sim_stat out[SIM_M_COUNT], const sim_tele_ctx *ctx, size_t queue,
                     int64_t start_ms, int64_t end_ms);
/* Current (now) agents on queue, busy agents and waiting calls for a queue. */
void sim_tele_observe(int64_t *agents, int64_t *busy, int64_t *waiting, const sim_tele_ctx *ctx,
                      size_t queue, int64_t now_ms);

/* query.c */
int sim_query_aggregates(sim_reply *reply, sim_world *world, size_t org_index, json_t *req,
                         int64_t now_ms);
int sim_query_observations(sim_reply *reply, sim_world *world, size_t org_index, json_t *req,
                           int64_t now_ms);

/* api.c */
int sim_api_handle(sim_reply *reply, sim_server *server, sim_world *world, const sim_request *req,
                   int64_t now_ms);
int sim_token_handle(sim_reply *reply, sim_world *world, const sim_request *req,
                     const sim_faults *faults, int64_t now_ms);

/* cxone.c: POST /auth/token, GET /.well-known/cxone-configuration, and the API below
 * /incontactapi/services/vNN.0 (`rest`: what follows the version) */
int sim_cxone_token(sim_reply *reply, sim_world *world, const sim_request *req,
                    const sim_faults *faults, int64_t now_ms);
int sim_cxone_discovery(sim_reply *reply, sim_world *world, const sim_request *req);
int sim_cxone_route(sim_reply *reply, sim_world *world, size_t org_index, const char *rest,
                    const sim_request *req, int64_t now_ms);

/* control.c */
int sim_control_handle(sim_reply *reply, sim_server *server, const sim_request *req,
                       int64_t now_ms);

/* reply helpers (http.c) */
int sim_reply_json(sim_reply *reply, int status, json_t *doc); /* steals doc */
int sim_reply_error(sim_reply *reply, int status, const char *code, const char *fmt, ...)
    RG_PRINTF(4, 5);
void sim_reqlog_add(sim_reqlog *log, const char *method, const char *org, const char *path,
                    int status, int applied, int64_t now_ms);
int sim_faults_parse(sim_faults *out, json_t *doc);
json_t *sim_faults_json(const sim_faults *faults);
double sim_fault_draw(sim_server *server);
/* 1 when a fault scoped `on` applies to this request. */
int sim_fault_applies(sim_fault_on on, const char *method, const char *path);

#endif
