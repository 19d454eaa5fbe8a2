/* simproc.h - starts rollgate-sim for a test, talks to it over loopback HTTP, stops it */
#ifndef RG_SIMPROC_H
#define RG_SIMPROC_H

#include <jansson.h>

#include "rollgate/platform.h"
#include "rollgate/util.h"

typedef struct rg_simproc {
    int pid;
    int port;
    char url[64]; /* "http://127.0.0.1:PORT" */
} rg_simproc;

/* Starts $RG_BINARY_DIR/sim/rollgate-sim --scenario <path> --port 0 (path relative to the source
 * dir when not absolute), reads the first stdout line "listening on http://127.0.0.1:PORT".
 * The simulator gets SIGTERM if the test process dies. 0 or RG_E*. */
int rg_simproc_start(rg_simproc *out, const char *scenario_path);
/* SIGTERM, waitpid; returns the exit status (0 on a clean stop, 128+N when killed by N). */
int rg_simproc_stop(rg_simproc *sim);
/* One HTTP request to the sim (libcurl easy). body may be NULL. headers: NULL-terminated array
 * of "Name: value" or NULL (a JSON Content-Type is added for a body unless one is given).
 * Fills *status and resp (body); resp_headers may be NULL. 0 or RG_E* (RG_EPLATFORM when the
 * connection failed or was reset, *status then 0). */
int rg_simproc_request(const rg_simproc *sim, const char *method, const char *path,
                       const char *body, const char *const *headers, long *status, rg_buf *resp,
                       rg_buf *resp_headers);
/* One request that must answer 200: its JSON reply parsed into *out (caller json_decref), or
 * not parsed when out is NULL. RG_EPLATFORM naming the request and status otherwise. */
int rg_simproc_json(const rg_simproc *sim, const char *method, const char *path, const char *body,
                    json_t **out);
/* Convenience: POST /sim/faults with a JSON body (200 expected); GET /sim/state parsed
 * (caller json_decref). */
int rg_simproc_faults(const rg_simproc *sim, const char *json);
int rg_simproc_state(const rg_simproc *sim, json_t **out);
/* Token for an org through POST /oauth/token with its client credentials (caller frees). */
int rg_simproc_token(const rg_simproc *sim, const char *client_id, const char *client_secret,
                     char **out);

/* A platform client with fast backoff (5 ms, at most 50 ms; jitter from `jitter_seed`) and one
 * org of the sim with its client credentials (caller rg_platform_free). */
int rg_simproc_client(rg_platform **out, const rg_simproc *sim, const char *org,
                      const char *client_id, const char *client_secret, uint64_t jitter_seed);

/* A cmocka group's state for a platform test: the sim and a client for one of its orgs, and a
 * request log position a case may mark (requests_total). */
typedef struct rg_sim_client {
    rg_simproc sim;
    rg_platform *p;
    int64_t since;
} rg_sim_client;
/* Group setup and teardown: *state a new rg_sim_client with the sim on `scenario` and
 * rg_simproc_client on it (-1, said on stderr, when either fails); teardown stops and frees it
 * (-1 when the sim did not stop cleanly). */
int rg_sim_client_setup(void **state, const char *scenario, const char *org, const char *client_id,
                        const char *client_secret, uint64_t jitter_seed);
int rg_sim_client_teardown(void **state);

/* The value of response header `name` (case-insensitive) from resp_headers, trimmed; NULL when
 * absent. Lives in the caller's out buffer. */
const char *rg_simproc_header(char *out, size_t outlen, const rg_buf *resp_headers,
                              const char *name);

#endif
