/* server.h - `rollgate serve`: the HTTP API, API tokens and roles, the scheduler thread,
 * gate long-poll, Server-Sent Events, /metrics, webhooks and the dashboard. */
#ifndef RG_SERVER_H
#define RG_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "rollgate/error.h"

/* ---- API tokens: a JSON file of hashes, never the tokens themselves ---- */

typedef enum {
    RG_ROLE_VIEWER = 0,   /* read */
    RG_ROLE_OPERATOR = 1, /* read + pause, resume, rollback */
    RG_ROLE_RELEASE = 2,  /* read + start, approve, promote */
} rg_role;

/* "viewer", "operator", "release"; NULL outside the enum. */
const char *rg_role_name(rg_role role);
/* RG_EINVALID naming the text when it is not a role. */
int rg_role_parse(rg_role *out, const char *s);

typedef struct rg_token_entry {
    char sha256[65]; /* lowercase hex of the token */
    char *tenant;
    rg_role role;
    char *name;
} rg_token_entry;

typedef struct rg_tokens rg_tokens;

/* Loads and validates a tokens file: a JSON list of {"sha256","tenant","role","name"}, no
 * other keys, no duplicate hashes. The file must be a regular file of mode 0600 (no group or
 * other bits), else RG_EAUTH with the reason. A missing file is RG_ENOTFOUND. Every error
 * names the file, the entry index and the field.
 * @param[out] out free with rg_tokens_free. */
int rg_tokens_load(rg_tokens **out, const char *path);
void rg_tokens_free(rg_tokens *tokens);
size_t rg_tokens_count(const rg_tokens *tokens);
/* Entry i (borrowed; lives as long as `tokens`). */
const rg_token_entry *rg_tokens_get(const rg_tokens *tokens, size_t i);
/* The entry whose hash matches `token`, compared in constant time over every entry; NULL
 * when none does. Borrowed from `tokens`. */
const rg_token_entry *rg_tokens_find(const rg_tokens *tokens, const char *token);

/* Makes a random token ("rg_" + 40 hex digits from the OpenSSL CSPRNG) and appends only its
 * hash to the file at `path` (created with mode 0600 when absent; an existing file must pass
 * rg_tokens_load), by writing a temporary file beside it and renaming it over.
 * @param[out] out_token the token, to be shown once; caller frees. */
int rg_tokens_new(char **out_token, const char *path, const char *tenant, rg_role role,
                  const char *name);

/* ---- the server ---- */

typedef struct rg_server_options {
    const char *db_path;         /* required */
    const char *listen;          /* "127.0.0.1:8080" (default), "[::1]:0", "0.0.0.0:8080" */
    const char *tokens_path;     /* required */
    const char *registry_path;   /* required: the owner's registry of tenants' orgs */
    int allow_loopback_platform; /* test mode: registry entries of region "loopback" work */
    int allow_remote;            /* accept a listen address that is not loopback */
    int64_t tick_ms;             /* the scheduler's tick (1000) */
    size_t body_limit;           /* request body limit in bytes (1 MiB) */
    /* Webhook delivery: attempts per (event, url) and the first backoff (6, 500 ms);
     * each retry doubles the wait, capped at 30 s. */
    int webhook_attempts;
    int64_t webhook_backoff_ms;
    /* Connections: in all (1024), per client address (32); seconds a connection may stay
     * silent before its request is authenticated (5) and after (60). Long-polls and event
     * streams open at once per token (8). */
    unsigned connection_limit, per_ip_limit, auth_timeout_s, request_timeout_s;
    int streams_per_token;
    /* Networks webhooks may reach although they are not public (`--webhook-allow`):
     * "10.20.0.0/16", "fd00::/8" or one address; parsed by rg_server_new; at most 64. */
    const char *const *webhook_allow;
    size_t webhook_allow_count;
    /* GET /metrics also shows each active rollout's stage labelled with its tenant and
     * rollout id (`--metrics-per-rollout`); off, it shows counts alone. */
    int metrics_per_rollout;
    /* The shortest lease on a rollout (0: RG_ENGINE_LEASE_MS, 30 s): how long a host that
     * stopped answering keeps its rollouts from the other hosts on the database. */
    int64_t lease_ms;
} rg_server_options;

void rg_server_options_init(rg_server_options *opts);

typedef struct rg_server rg_server;

/* Validates the options (listen address, loopback rule, tokens file) and opens nothing
 * else yet. @param[out] out free with rg_server_free. */
int rg_server_new(rg_server **out, const rg_server_options *opts);
/* Binds the listening socket and starts the scheduler, webhook and HTTP threads. */
int rg_server_start(rg_server *server);
/* "http://ADDR:PORT" with the port actually bound (valid after rg_server_start). */
const char *rg_server_url(const rg_server *server);
/* Stops every thread: open long-polls and event streams end, the scheduler finishes its
 * tick, pending webhook retries are abandoned (they resume on the next start). */
void rg_server_stop(rg_server *server);
/* Stops when still running, then frees. NULL is a no-op. */
void rg_server_free(rg_server *server);

/* Parses "HOST:PORT" / "[V6]:PORT" into a socket address; *out_loopback is 1 for
 * 127.0.0.0/8 and ::1. RG_EINVALID naming the text otherwise.
 * @param[out] out a struct sockaddr_storage, out_len its length. */
int rg_server_parse_listen(void *out, unsigned *out_len, int *out_loopback, const char *text);

#endif
