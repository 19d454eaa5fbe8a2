/* client.h - private structures of the platform client shared by the files of platform/ */
#ifndef RG_PLATFORM_CLIENT_H
#define RG_PLATFORM_CLIENT_H

#include <curl/curl.h>
#include <jansson.h>

#include "rollgate/platform.h"
#include "rollgate/util.h"

#define RG_PLATFORM_COMPONENT "platform"
#define RG_PLATFORM_MAX_BODY (16u * 1024u * 1024u)
#define RG_PLATFORM_ORG_BUCKETS 256u

typedef enum {
    RG_OP_ORG_CHECK,
    RG_OP_QUEUE_GET,
    RG_OP_STRATEGY_LIST,
    RG_OP_STRATEGY_GET,
    RG_OP_STRATEGY_UPDATE,
    RG_OP_AGGREGATES,
    RG_OP_OBSERVATIONS,
    RG_OP_DATATABLE_GET, /* datatable.c */
    RG_OP_ROW_GET,
    RG_OP_ROW_PUT,
    RG_OP_VERSIONED_GET, /* versioned.c */
    RG_OP_VERSIONED_PUT,
    RG_OP_ROW_CREATE, /* datatable.c: POST .../rows */
    RG_OP_ROW_DELETE, /* datatable.c: DELETE .../rows/{row} */
    RG_OP_TOKEN,      /* internal: an org's token fetch, owned by the client */
} rg_op_kind;

typedef enum {
    RG_OPS_NEW,       /* made, not queued */
    RG_OPS_QUEUED,    /* waiting for its turn, a token, a budget, or a backoff */
    RG_OPS_IN_FLIGHT, /* a transfer is running */
    RG_OPS_DONE,
} rg_op_state;

/* What the header callback picked out of one response. -1 = absent. */
typedef struct rg_response_headers {
    char *etag;
    int64_t retry_after_s;
    int64_t rl_allowed;   /* inin-ratelimit-allowed / X-RateLimit-Limit */
    int64_t rl_count;     /* inin-ratelimit-count */
    int64_t rl_remaining; /* X-RateLimit-Remaining */
    int64_t rl_reset;     /* inin-ratelimit-reset (s) / X-RateLimit-Reset (s or epoch s) */
} rg_response_headers;

typedef struct rg_org rg_org;

struct rg_org {
    rg_org *next_in_bucket;
    rg_org *next; /* registration order */
    char *id;
    char *api_url; /* without a trailing '/' */
    char *login_url;
    char *client_id;     /* wiped on free */
    char *client_secret; /* wiped on free */

    /* token cache: one token per org, single-flight refresh */
    char *token;                     /* wiped on free */
    uint64_t token_gen;              /* bumped with every new token */
    int64_t token_expires_at;        /* mono ms */
    int64_t token_refresh_at;        /* mono ms: 80% of the lifetime */
    struct rg_platform_op *token_op; /* the fetch in flight, or NULL */
    uint64_t token_fetches;
    char token_key[65]; /* key in the options' token cache (tokencache.c); "" until made */

    /* rate budget of the org's token */
    int rate_known; /* 1 once a response carried a budget */
    int64_t rate_allowed;
    int64_t rate_budget;    /* requests we may still send in this window (conservative) */
    int64_t rate_reset_at;  /* mono ms; 0 = unknown */
    int64_t rate_rolled_at; /* mono ms of our last window rollover */
    int64_t blocked_until;  /* mono ms: a 429's Retry-After */
    int in_flight;

    /* NICE CXone brands (cxone.c): api_url stays NULL until discovery found it */
    int cxone;
    char *cxone_version;       /* "v31.0": the API base's last segment */
    char *cxone_field;         /* the weight-store skill's field holding the JSON document */
    char *cxone_store;         /* the weight-store skill; NULL: the data table id asked for */
    char *discovery_url;       /* where /.well-known/cxone-configuration is asked */
    char *access_key_id;       /* wiped on free */
    char *access_key_secret;   /* wiped on free */
    int64_t cxone_budget;      /* requests per minute (no rate headers are known) */
    int64_t cxone_window_at;   /* mono ms: start of the current minute */
    int64_t cxone_window_sent; /* requests sent in it */
};

struct rg_platform_op {
    rg_platform *platform;              /* NULL once detached from the client */
    struct rg_platform_op *next, *prev; /* the client's pending list */
    rg_op_kind kind;
    rg_op_state state;
    int internal; /* owned by the client (token fetch) */
    rg_org *org;
    char *org_id;
    char *resource_id; /* queue or strategy id */
    char *call;        /* "GET strategy strat_main": names the call in errors */

    /* the current HTTP step */
    const char *method;
    char *url;
    char *req_body;
    int needs_token;
    int64_t ready_at;       /* mono ms: not before */
    int transient_failures; /* 5xx, resets, timeouts in this step */
    int rate_limited;       /* 429s absorbed */
    int retried_401;
    uint64_t token_gen; /* token the attempt used */
    int64_t sent_at;

    /* strategy list and update */
    int page;
    json_t *entities;
    int update_step; /* 0 = GET, 1 = PATCH */
    char *etag;
    json_t *patch;
    rg_platform_merge_fn merge;
    void *merge_payload;
    int patch_attempts;
    int unknown_outcomes; /* PATCHes whose reply never came (reset, timeout, 5xx) */
    int reread_unknown;   /* this re-read follows a PATCH of unknown outcome */
    int outcome_unknown;  /* a ROW_PUT or VERSIONED_PUT that got no answer or a 5xx: it
                           * may have landed */
    int version_conflict; /* a VERSIONED_PUT refused for a stale version (409 or 400) */
    int in_place;         /* completed without a confirmed PATCH: the live body holds it */

    /* aggregates and observations queries */
    rg_platform_aggregates_query query;
    char **queue_ids;
    size_t nqueues;
    size_t batch_at; /* first queue of the batch in flight (opts.predicate_batch) */

    /* transfer */
    CURL *easy;
    struct curl_slist *headers;
    rg_buf response;
    rg_response_headers hdr;
    int body_too_large;

    /* results */
    int status;
    char *error;
    long http_status;
    json_t *body;
    char *result_etag;
    rg_platform_aggregates aggregates;
    rg_platform_observation *observations;

    /* CXone (cxone.c): a path under the API base, made a URL once discovery is done */
    char *rel_path;
    int cxone_step;
    char *cxone_token; /* a token held until discovery completes; wiped on free */
    int64_t cxone_expires_in;
    json_t *cxone_doc; /* a PUT's intended row, kept across its GET */

    rg_platform_done_fn done;
    void *done_payload;
};

struct rg_platform {
    rg_platform_options opts;
    char *ca_file;
    char *strategies_path;
    CURLM *multi;
    rg_org *buckets[RG_PLATFORM_ORG_BUCKETS];
    rg_org *orgs; /* registration order, newest first */
    struct rg_platform_op *pending_head, *pending_tail;
    size_t pending;
    int in_flight;
    uint64_t rng; /* xorshift state for jitter */
    int closing;  /* rg_platform_free is cancelling what is left */
    int running;  /* inside rg_platform_run */
    rg_platform_stats stats;
    /* a credentials batch (rg_platform_credentials_begin): files by path, parsed, and their
     * failures as [code, message]; environ's names with their index */
    int cred_batch;
    json_t *cred_files, *cred_file_errors, *cred_env;
    /* the proxy environment as libcurl reads it, read once (NULL: none): libcurl would
     * otherwise scan the environment five times a request */
    char *proxy_http, *proxy_https, *no_proxy;
    rg_platform_idle_fn idle; /* before each wait (rg_platform_set_idle) */
    void *idle_payload;
};

/* client.c */
rg_org *rg_platform__org(const rg_platform *p, const char *org_id);
int64_t rg_platform__jitter(rg_platform *p, int64_t ceiling_ms);
int64_t rg_platform__backoff(rg_platform *p, int failures);

/* credentials.c */
int rg_platform__load_credentials(rg_platform *p, char **out_id, char **out_secret,
                                  const char *org_id, const char *source);
/* A CXone access key: ROLLGATE_<ORG>_ACCESS_KEY_ID/_SECRET, PREFIX_ACCESS_KEY_*, or the file's
 * access_key_id / access_key_secret. */
int rg_platform__load_access_key(rg_platform *p, char **out_id, char **out_secret,
                                 const char *org_id, const char *source);
void rg_platform__wipe_free(char *secret);
int rg_platform__url_check(char **out, const char *url, const char *what, const char *org_id,
                           int insecure);

/* datatable.c */
void rg_platform__datatable_handle(rg_platform_op *op, json_t *body);

/* versioned.c: every answer to a VERSIONED_GET or _PUT */
void rg_platform__versioned_handle(rg_platform_op *op, long status, json_t *body);

/* ops.c */
int rg_platform__op_new(rg_platform_op **out, rg_platform *p, rg_op_kind kind, const char *org_id,
                        const char *resource_id, const char *call);
void rg_platform__op_enqueue(rg_platform_op *op);
void rg_platform__op_requeue(rg_platform_op *op, int64_t ready_at);
void rg_platform__transfer_release(rg_platform_op *op);
void rg_platform__op_complete(rg_platform_op *op);
int rg_platform__op_fail(rg_platform_op *op, int code, const char *fmt, ...) RG_PRINTF(3, 4);
int rg_platform__op_set_request(rg_platform_op *op, const char *method, const char *url_base,
                                const char *path, char *body);
void rg_platform__op_handle(rg_platform_op *op, long status, json_t *body);
/* respond.c: a final non-2xx answer as the op's error; a 2xx body as its result. */
void rg_platform__fail_status(rg_platform_op *op, long status, const json_t *body);
void rg_platform__succeed(rg_platform_op *op, json_t *body);
/* strategy.c: a strategy GET's answer; each answer of a strategy update (GET, PATCH, 412). */
void rg_platform__strategy_got(rg_platform_op *op, json_t *body);
void rg_platform__update_handle(rg_platform_op *op, long status, json_t *body);
/* A PATCH whose outcome is unknown (`transport`: no HTTP answer): re-read before any retry. */
void rg_platform__update_unknown(rg_platform_op *op, const char *why, int transport, int64_t now);
int rg_platform__error_body(rg_buf *out, long status, const json_t *body);

/* token.c */
int rg_platform__token_ready(rg_platform *p, rg_org *org, int64_t now);
void rg_platform__token_handle(rg_platform_op *op, long status, json_t *body);
void rg_platform__token_invalidate(rg_platform *p, rg_org *org, uint64_t gen);
void rg_platform__token_done(rg_platform_op *op);

/* tokencache.c: the options' cache (NULL: none). take: 1 when a valid cached token was
 * copied into org; put: stores org's token; drop: forgets `token` (refused with a 401). */
void rg_platform__token_key(rg_org *org);
int rg_platform__tokens_take(rg_platform_tokens *t, rg_org *org, int64_t now);
void rg_platform__tokens_put(rg_platform_tokens *t, rg_org *org);
void rg_platform__tokens_drop(rg_platform_tokens *t, rg_org *org, const char *token);

/* cxone.c: NICE CXone brands (api_url "cxone:..." descriptors, docs/cxone.md) */
int rg_platform__cxone_org(rg_org *org, const rg_platform_org *desc, int insecure);
int rg_platform__cxone_credentials(rg_platform *p, rg_org *org, const char *source);
void rg_platform__cxone_org_free(rg_org *org);
int rg_platform__cxone_token_request(rg_platform_op *op);
void rg_platform__cxone_token_handle(rg_platform_op *op, long status, json_t *body);
/* The op's URL from its path under the discovered API base. */
int rg_platform__cxone_url(rg_platform_op *op);
/* 0 while the brand's per-minute budget is spent (*wake: when it returns). */
int rg_platform__cxone_admit(rg_org *org, int64_t now, int64_t *wake);
void rg_platform__cxone_handle(rg_platform_op *op, long status, json_t *body);
int rg_platform__cxone_request(rg_platform_op *op, const char *method, const char *rel_path,
                               char *body);
/* cxone_ops.c: the CXone forms of the queue functions */
int rg_platform__cxone_queue(rg_platform_op **out, rg_platform *p, rg_op_kind kind,
                             const char *org_id, const char *resource, json_t *doc,
                             const char *call);
/* An aggregates or observations op of a CXone brand: one skill summary per bucket. */
int rg_platform__cxone_summary_start(rg_platform_op *op);
/* cxone_parse.c */
int rg_platform__cxone_tenant(char *out, size_t outlen, const char *id_token);
/* cxone.c: a token reply's fields checked (access_token, expires_in, id_token's tenant) and a
 * discovery reply's (area, api_endpoint) made the API base .../incontactapi/services/VERSION.
 * Errors name the field, never a value of the token. */
int rg_platform__cxone_auth_parse(char *tenant, size_t tenant_len, const json_t *body);
int rg_platform__cxone_discovery_parse(rg_buf *out, const json_t *body, const char *brand,
                                       const char *version, int insecure);
int rg_platform__cxone_seconds(double *out, const json_t *v, const char *what);
/* Adds one skill summary entry (contactsOffered, abandonCount, contactsHandled,
 * averageSpeedToAnswer, averageHandleTime) to a bucket; errors name `where` and the field. */
int rg_platform__cxone_bucket(rg_platform_bucket *bk, const json_t *s, const char *where);
/* token.c: a token the CXone discovery step held back */
void rg_platform__token_accept(rg_platform_op *op, const char *token, int64_t expires_in);

/* ratelimit.c */
void rg_platform__headers_reset(rg_response_headers *hdr);
size_t rg_platform__header_cb(char *data, size_t size, size_t nitems, void *userdata);
int rg_platform__rate_admit(rg_platform *p, rg_org *org, int64_t now, int64_t *wake);
void rg_platform__rate_update(rg_platform *p, rg_org *org, const rg_response_headers *hdr,
                              int64_t sent_at, int64_t now);
void rg_platform__rate_block(rg_platform *p, rg_org *org, const rg_response_headers *hdr,
                             int64_t now, int failures);

/* analytics.c */
/* media_type: "" or NULL for no mediaType predicate. */
int rg_platform__aggregates_body(char **out, const rg_platform_aggregates_query *q,
                                 const char *media_type);
int rg_platform__observations_body(char **out, char *const *queue_ids, size_t n);
int rg_platform__aggregates_parse(rg_platform_aggregates *out, const rg_platform_op *op,
                                  const json_t *body);
int rg_platform__observations_parse(rg_platform_observation **out, const rg_platform_op *op,
                                    const json_t *body);
void rg_platform__aggregates_dispose(rg_platform_aggregates *agg);
/* The body of the op's current batch of at most opts.predicate_batch queues, and its
 * answer: merged into the op's results; *more when batches remain. */
int rg_platform__analytics_body(char **out, const rg_platform_op *op);
int rg_platform__analytics_take(int *more, rg_platform_op *op, const json_t *body);

#endif
