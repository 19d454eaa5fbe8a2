/* e2e.h - end-to-end helpers: rollouts against rollgate-sim through the engine or the CLI */
#ifndef RG_TEST_E2E_H
#define RG_TEST_E2E_H

#include <jansson.h>

#include "rollgate/engine.h"
#include "rollgate/platform.h"
#include "rollgate/store.h"
#include "support/simproc.h"

/* The short-window policy every end-to-end test uses (3 s polls over 1-second buckets). */
extern const char rg_e2e_policy[];

/* Sets ROLLGATE_<ORG>_CLIENT_ID/_SECRET for every org of the scenario file (relative to the
 * source dir); fills `orgs` with their ids (new array). */
int rg_e2e_credentials(json_t **orgs, const char *scenario);
/* Writes a manifest for the sim at `url`: the first org is the parent group, the rest two
 * groups depending on it; the change moves all weight to queue_v2. `extra` (may be NULL) is
 * appended (e.g. more policy lines are not allowed: use `policy` to replace the policy). */
int rg_e2e_write_manifest(const char *path, const char *url, const json_t *orgs,
                          const char *policy);
/* A fresh rollout in `db` for the sim, started and approved. */
typedef struct rg_e2e {
    char dir[512];
    char db[600];
    char manifest[600];
    char id[RG_STORE_ROLLOUT_ID_LEN];
    char tenant[32];
    rg_simproc sim;
    json_t *orgs;
    rg_store *store;
    rg_engine *engine;
} rg_e2e;
/* Starts the sim on `scenario` (NULL: do not start, use e->sim as set) and a rollout on it. */
int rg_e2e_begin(rg_e2e *e, const char *scenario, const char *policy, int64_t tick_ms);
void rg_e2e_end(rg_e2e *e);
/* The rollout's state now. */
rg_rollout_state rg_e2e_state(rg_e2e *e);
/* Ticks the rollout until `pred` holds or `max_ticks` passed; sleeps until each next step. */
int rg_e2e_drive(rg_e2e *e, int (*pred)(rg_e2e *), int max_ticks);
/* Predicates for rg_e2e_drive: the rollout is terminal or held; stage 1's apply is done (or
 * the rollout left running). */
int rg_e2e_finished(rg_e2e *e);
int rg_e2e_stage_one_applied(rg_e2e *e);
/* Sleeps `ms` milliseconds (pacing a poll loop, never deciding a test). */
void rg_e2e_sleep_ms(long ms);
/* The sim's request log (caller json_decref). */
json_t *rg_e2e_requests(const rg_simproc *sim);
/* Successful (200) PATCHes of org's strategy in a request log. */
int rg_e2e_patches(const json_t *log, const char *org);
/* The sequence number of the first successful PATCH of `org` (0 when none). */
long rg_e2e_first_patch(const json_t *log, const char *org);
/* The live strategy body of an org in the sim (new reference). */
json_t *rg_e2e_live(const rg_simproc *sim, const char *org);
/* The stored snapshot body (new reference) or NULL. */
json_t *rg_e2e_snapshot(rg_e2e *e, const char *org);

#endif
