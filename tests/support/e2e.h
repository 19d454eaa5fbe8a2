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
/* For tests about the writes rather than the gate: short soaks, a tolerance no healthy change
 * can cross (so short windows never trip by chance), and an inconclusive look promotes. */
extern const char rg_e2e_fast_policy[];

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
/* The steps of rg_e2e_begin for a test that writes its own scenario and manifest: a fresh
 * directory with e->db, e->manifest and the tenant "e2e" (e otherwise untouched)... */
int rg_e2e_dir(rg_e2e *e);
/* ...the sim started on `scenario`, its orgs' credentials set, `hook` (JSON, may be NULL)
 * posted to /sim/hook... */
int rg_e2e_sim(rg_e2e *e, const char *scenario, const char *hook);
/* ...and the rollout of e->manifest started with its own store and engine ticking every
 * `tick_ms`. */
int rg_e2e_start(rg_e2e *e, int64_t tick_ms);

/* A scenario for a resource test: `src` (relative to the source dir) at the e2e time scale with
 * a day-long token and `events` (JSON text, may be NULL), its first org, after `prepare` (may be
 * NULL) edited it, copied `norgs` times as org_<tag>_<i> (client cid-<tag>-<i>, secret
 * secret-<tag>-<i>), i from 1. */
typedef struct rg_e2e_scenario {
    const char *src;
    const char *tag;
    int norgs;
    const char *events;
    void (*prepare)(json_t *org);
} rg_e2e_scenario;
/* Writes `s` to `path`; *out_first (may be NULL) is the first org as copied (new reference). */
int rg_e2e_write_scenario(json_t **out_first, const char *path, const rg_e2e_scenario *s);
/* The rollout's state now. */
rg_rollout_state rg_e2e_state(rg_e2e *e);
/* Ticks the rollout until `pred` holds or `max_ticks` passed; sleeps until each next step. */
int rg_e2e_drive(rg_e2e *e, int (*pred)(rg_e2e *), int max_ticks);
/* Predicates for rg_e2e_drive: the rollout is terminal or held; stage 1's apply is done (or
 * the rollout left running). */
int rg_e2e_finished(rg_e2e *e);
int rg_e2e_stage_one_applied(rg_e2e *e);
/* rg_e2e_finished, or paused. */
int rg_e2e_settled(rg_e2e *e);
/* The rollout's hold reason (caller frees), NULL when it has none. */
char *rg_e2e_hold_reason(rg_e2e *e);
/* Drives the rollout until settled (at most 400 ticks) and tells stderr the state and reason
 * of one that stopped with a reason. */
int rg_e2e_run_to_end(rg_e2e *e);
/* Sleeps `ms` milliseconds (pacing a poll loop, never deciding a test). */
void rg_e2e_sleep_ms(long ms);
/* The sim's request log (caller json_decref). */
json_t *rg_e2e_requests(const rg_simproc *sim);
/* Requests in a log by `org` with `method` on `path` (ending in '*': on any path it begins)
 * that were answered `status`. */
int rg_e2e_count_requests(const json_t *log, const char *org, const char *method, const char *path,
                          long status);
/* RG_EINVALID naming the request when a log is empty or holds a request for a routing
 * strategy (a test of another resource kind). */
int rg_e2e_no_strategy_requests(const json_t *log);
/* The org's entry in the sim's /sim/state (new reference), NULL when there is none. */
json_t *rg_e2e_sim_org(const rg_simproc *sim, const char *org);
/* The live plan of e->manifest (new reference in *out). */
int rg_e2e_plan(json_t **out, rg_e2e *e);
/* Findings of a plan whose text holds `a` and `b` (NULL: anything), of an org whose id begins
 * with `org_prefix` (NULL: any finding). */
int rg_e2e_findings_with(const json_t *plan, const char *a, const char *b, const char *org_prefix);
/* Successful (200) PATCHes of org's strategy in a request log. */
int rg_e2e_patches(const json_t *log, const char *org);
/* The sequence number of the first successful PATCH of `org` (0 when none). */
long rg_e2e_first_patch(const json_t *log, const char *org);
/* The live strategy body of an org in the sim (new reference). */
json_t *rg_e2e_live(const rg_simproc *sim, const char *org);
/* The stored snapshot body (new reference) or NULL. */
json_t *rg_e2e_snapshot(rg_e2e *e, const char *org);

#endif
