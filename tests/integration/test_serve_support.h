/* test_serve_support.h - what the `rollgate serve` tests share: the server as a child
 * process, HTTP calls with a bearer token, tokens, manifests, a webhook receiver */
#ifndef RG_TEST_SERVE_SUPPORT_H
#define RG_TEST_SERVE_SUPPORT_H

#include <pthread.h>
#include <stddef.h>

#include <jansson.h>

#include "rollgate/util.h"

typedef struct serve_proc {
    int pid;
    char url[96];
} serve_proc;

/* The registry the tests use: rollgate-registry.json beside the database. */
void serve_registry_path(char *out, size_t outlen, const char *db);
/* Registers every org of `orgs` (JSON strings) to `tenant` on the loopback platform sim_url
 * with env credentials, and with hook_env (not NULL) the tenant's webhook secret env:NAME,
 * through `rollgate org` (the real binary). 0 or -1. */
int serve_register(const char *db, const char *tenant, const json_t *orgs, const char *sim_url,
                   const char *hook_env);
/* Starts $RG_BINARY_DIR/cli/rollgate --db DB serve --listen 127.0.0.1:0 --tokens TOKENS
 * --registry (beside DB; created empty when absent) --allow-loopback-platform --tick 200ms
 * and reads its first stdout line. The child inherits this environment. */
int serve_start(serve_proc *out, const char *db, const char *tokens);
/* As serve_start; test_mode 0 leaves out --allow-loopback-platform. */
int serve_start_mode(serve_proc *out, const char *db, const char *tokens, int test_mode);
/* As serve_start_mode with one more argument for serve (NULL: none). */
int serve_start_extra(serve_proc *out, const char *db, const char *tokens, int test_mode,
                      const char *extra);
/* SIGTERM and wait; the exit status (0 for a clean stop). */
int serve_stop(serve_proc *sp);

/* Sets ROLLGATE_<ORG>_CLIENT_ID/_SECRET for every org of a scenario (relative to the source
 * dir) in this process's environment, and returns the org ids (caller json_decref). */
json_t *serve_scenario_credentials(const char *scenario);

/* One HTTP call; token may be NULL (no Authorization), content_type NULL for JSON when a
 * body is given. 0 or -1 (transport failure). */
int serve_http(const char *base, const char *method, const char *path, const char *token,
               const char *content_type, const char *body, long *status, rg_buf *resp,
               rg_buf *resp_headers);
/* serve_http + JSON parse of the body (NULL when it is not JSON). */
json_t *serve_http_json(const char *base, const char *method, const char *path, const char *token,
                        const char *body, long *status);

/* Makes a token with `rollgate token new` (the real binary); caller frees. */
char *serve_token_new(const char *tokens, const char *tenant, const char *role, const char *name);

/* A served manifest like `rollgate demo` writes (three groups, the short-window policy),
 * JSON or YAML, for `tenant`: it names orgs only (their URLs come from the registry; sim_url
 * only lets the library normalise the JSON form); `hook_url` adds a notify entry for
 * tripped and rolled_back, signed with the tenant's registry secret. Caller frees. */
char *serve_manifest(const char *name, const char *tenant, const char *sim_url, const json_t *orgs,
                     const char *hook_url, const char *approval, int yaml);

/* A webhook receiver on 127.0.0.1 (libmicrohttpd in this process): verifies every
 * X-Rollgate-Signature against `secret`, answers 500 to the first `fail_first` requests. */
typedef struct hook_receiver {
    void *daemon;
    char url[96];
    char secret[64];
    int fail_first;
    int hold; /* set: every request waits, unanswered, until hook_receiver_release */
    pthread_mutex_t lock;
    pthread_cond_t released;
    int requests, bad_signatures;
    json_t *received;   /* payloads answered 2xx, in order */
    json_t *deliveries; /* the X-Rollgate-Delivery header of every request, in order */
} hook_receiver;

int hook_receiver_start(hook_receiver *r, const char *secret, int fail_first);
void hook_receiver_stop(hook_receiver *r);
/* Lets held requests be answered, and later ones at once. */
void hook_receiver_release(hook_receiver *r);
/* How many 2xx-answered payloads had this event name. */
int hook_receiver_count(hook_receiver *r, const char *event);

#endif
