/* engine.h - rollouts: start, drive (stages, snapshots, soak, verdicts, breaker, restore),
 * human commands, and the reports people read (status, explain, audit). */
#ifndef RG_ENGINE_H
#define RG_ENGINE_H

#include <stdint.h>

#include <jansson.h>

#include "rollgate/error.h"
#include "rollgate/manifest.h"
#include "rollgate/platform_options.h"
#include "rollgate/rollout.h"

typedef struct rg_engine rg_engine;
/* The handles the engine is built on (store.h, platform.h), opaque here. */
typedef struct rg_store rg_store;
typedef struct rg_platform rg_platform;

/* Something happened that a person watching may want to read: a state change, a stage
 * applied, a target applied or restored, a poll's verdict line. `rollout_id` and `line` are
 * borrowed for the call. Called from inside rg_engine_tick / rg_engine_run. */
typedef void (*rg_engine_narrate_fn)(const char *rollout_id, const char *kind, const char *line,
                                     void *payload);

typedef struct rg_engine_options {
    int64_t tick_ms;              /* how often the driver looks at each rollout (1000) */
    int lease_ticks;              /* a lease expires after this many missed ticks (3) */
    int64_t lease_ms;             /* the shortest lease (RG_ENGINE_LEASE_MS); it is also at least
                                     lease_ticks ticks and twice the slowest platform batch this
                                     engine measured, plus a tick */
    int apply_attempts;           /* tries per target before it is apply_failed (3) */
    int restore_attempts;         /* ticks a restore is retried before it is restore_failed (3) */
    rg_platform_options platform; /* for every platform client the engine makes */
    rg_engine_narrate_fn narrate; /* may be NULL */
    void *narrate_payload;
    const char *owner; /* lease owner id; NULL: "host:pid:starttime" of this process */
    /* Registers a target's org with a new platform client in place of the stored manifest's
     * URLs and credentials (`rollgate serve`: from the owner's registry entry of (tenant,
     * org)); a failure is that org's error, as a missing credential is. NULL: the
     * manifest's. TLS verification is never disabled for orgs registered this way. */
    int (*add_org)(rg_platform *platform, const char *tenant, const char *org_id, void *payload);
    void *add_org_payload;
} rg_engine_options;

/* The default shortest lease: longer than a platform batch under the default timeouts
 * usually takes; a batch measured slower lengthens it (docs/internals/engine.md). */
#define RG_ENGINE_LEASE_MS 30000

void rg_engine_options_init(rg_engine_options *opts);

/* The engine borrows `store` (it must outlive the engine). `opts` NULL = defaults.
 * @param[out] out free with rg_engine_free. */
int rg_engine_new(rg_engine **out, rg_store *store, const rg_engine_options *opts);
void rg_engine_free(rg_engine *engine);
/* This process's lease owner id ("host:pid:starttime"). */
const char *rg_engine_owner(const rg_engine *engine);

/* Creates a rollout from a loaded manifest: stores the normalised manifest and policy and
 * the ordered targets in one transaction, audited as `actor`. State awaiting_approval, or
 * running when `approve` or the manifest says `approval: none`. A relative `file:`
 * credentials path is made absolute against `base_dir` (NULL: the working directory), so
 * a driver started elsewhere finds it.
 * @param[out] out_id the new rollout id (RG_STORE_ROLLOUT_ID_LEN bytes). */
int rg_engine_start(char out_id[RG_STORE_ROLLOUT_ID_LEN], rg_engine *engine,
                    const rg_manifest *manifest, const char *base_dir, const char *actor,
                    int approve);

/* As rg_engine_start, for a manifest with environments: the selected environment's
 * requirements are checked in the same transaction (a rollout of the same digest completed
 * in each required environment within max_age). Unmet: RG_ECONFLICT naming the environment,
 * the digest and what that environment reached, unless `force_reason` is given; then it
 * starts, with the reason recorded on the rollout and a `force_environment` audit entry.
 * Every rollout records the manifest's digest and environment. */
int rg_engine_start_forced(char out_id[RG_STORE_ROLLOUT_ID_LEN], rg_engine *engine,
                           const rg_manifest *manifest, const char *base_dir, const char *actor,
                           int approve, const char *force_reason);
/* Starts environment `to_env` from the artifact recorded with rollout `rollout_id` (its
 * stored manifest with every environment's entry), not from any file; as
 * rg_engine_start_forced otherwise. */
int rg_engine_promote_env(char out_id[RG_STORE_ROLLOUT_ID_LEN], rg_engine *engine,
                          const char *tenant_id, const char *rollout_id, const char *to_env,
                          const char *actor, int approve, const char *force_reason);
/* An artifact's path through the environments: {"digest","name","rollouts":[{"id",
 * "environment","state","outcome","created_by","created_at","updated_at","forced_reason",
 * "approvers":[…]}]}, oldest first. RG_ENOTFOUND when the tenant has no rollout of it. */
int rg_engine_history_json(json_t **out, rg_engine *engine, const char *tenant_id,
                           const char *digest);
/* May `digest` go to environment `env`? {"digest","environment","allowed","reason"?} (0
 * either way). RG_ENOTFOUND when the tenant has no rollout of the digest; RG_EINVALID for
 * an environment the artifact does not have. */
int rg_engine_may_promote_json(json_t **out, rg_engine *engine, const char *tenant_id,
                               const char *digest, const char *env);

/* `plan --artifact ID`: how a manifest file differs from the artifact recorded with rollout
 * ID, over what the digest covers: {"rollout","artifact_digest","file_digest","same",
 * "differences":[{"path","artifact","file"}]} (at most 50). */
int rg_engine_artifact_diff_json(json_t **out, rg_engine *engine, const char *tenant_id,
                                 const char *rollout_id, const rg_manifest *file);

/* `plan` against the live platform: for every target, credentials reach the organization,
 * its strategy and every queue the new body names exist (agents on queue reported), and a
 * diff of the live strategy against the rendered template ({"path","change":
 * added|modified|removed|unchanged,"from","to"}). Writes nothing anywhere.
 * @param[out] out {"name","tenant","strategy","blocked","findings":[{"org","severity":
 * "blocker"|"warning","what"}],"targets":[{"seq","org","group","tier","stage","body",
 * "live_etag","diff"}],"unreachable":[{"org","error"}]}; new reference. An org whose calls
 * got no HTTP answer (RG_EUNREACHABLE) is in "unreachable" and has exactly one finding.
 * `popts` NULL = defaults. */
int rg_engine_plan(json_t **out, const rg_manifest *manifest, const char *base_dir,
                   const rg_platform_options *popts);

/* The planner over every stage (docs/internals/stats.md "Planner"): reads each org's
 * analytics for the policy's pre window plus soak limit before `now_ms` and gives, per stage
 * and metric, the expected half-width at the soak's end, the MDE, P(promote | healthy) and
 * P(trip | 1.5 x tolerance). @param[out] out the "planner" object of `plan --json`
 * (docs/cli.md); new reference. Writes nothing anywhere. */
int rg_engine_plan_stats(json_t **out, const rg_manifest *manifest, const char *base_dir,
                         const rg_platform_options *popts, int64_t now_ms);

/* The tenant a rollout belongs to, for local tools that name a rollout by id alone.
 * @param[out] out caller frees. RG_ENOTFOUND for an unknown id. */
int rg_engine_rollout_tenant(char **out, rg_engine *engine, const char *rollout_id);

/* One step of every active rollout this process can lease. @param[out] out_next_ms when the
 * next step is due (epoch ms), for the caller to sleep until. */
int rg_engine_tick(rg_engine *engine, int64_t *out_next_ms);
/* One step of one rollout (taking its lease). */
int rg_engine_tick_rollout(rg_engine *engine, const char *tenant_id, const char *rollout_id,
                           int64_t *out_next_ms);

typedef enum {
    RG_RUN_ONCE = 0,       /* one tick */
    RG_RUN_UNTIL_DONE = 1, /* until every rollout is finished or waits for a person */
    RG_RUN_FOREVER = 2,    /* the daemon: until *stop becomes non-zero */
} rg_run_mode;

/* Drives every active rollout. `stop` (may be NULL) is polled between ticks. */
int rg_engine_run(rg_engine *engine, rg_run_mode mode, volatile int *stop);

/* `force` of rg_engine_command: RG_ENGINE_FORCE (promote --force); with it, RG_ENGINE_FULL
 * (promote --full: the remaining stages applied one after another with no soak, approval
 * or pause step; it needs a reason). */
#define RG_ENGINE_FORCE 1
#define RG_ENGINE_FULL 2

/* A person's command. With no live driver holding the rollout's lease, the engine takes
 * the lease and acts now; otherwise the command is queued and the driver runs it within a
 * tick. Audited with actor, reason and outcome.
 * @param[out] out_outcome "done", "queued" (caller frees); may be NULL.
 * RG_ECONFLICT when the rollout's state does not allow it (message says why). */
int rg_engine_command(char **out_outcome, rg_engine *engine, const char *tenant_id,
                      const char *rollout_id, rg_command_kind kind, const char *actor,
                      const char *reason, int force);

/* `retry ID`: a rolled-back rollout started again as a new rollout of the artifact recorded
 * with it (its stored manifest), linked to it: the new rollout's status, list and history
 * show "retry_of", the old one's audit a "retry" entry naming it. As rg_engine_start
 * otherwise (approve, claims, the environment's requirements). RG_ECONFLICT when the
 * rollout is not rolled_back. @param[out] out_id the new rollout's id. */
int rg_engine_retry(char out_id[RG_STORE_ROLLOUT_ID_LEN], rg_engine *engine, const char *tenant_id,
                    const char *rollout_id, const char *actor, int approve);
/* `undo ID --reason TEXT`: a completed rollout back to rolling_back, restored now from its
 * snapshots by the trip's path (dependents first, verified by telemetry after settle +
 * verify_window by whichever driver runs next, or the caller's ticks). Refused with
 * RG_ECONFLICT when it is not completed, a changed target has no snapshot, another active
 * rollout claims one of its orgs, or (unless `force`) a person edited since the apply a
 * field the rollout changed. Audited with actor and reason. */
int rg_engine_undo(rg_engine *engine, const char *tenant_id, const char *rollout_id,
                   const char *actor, const char *reason, int force);

/* `rollgate status ID --json`: {"id","name","tenant","state","stage":{"index","percent"},
 * "verification","hold_reason","targets":[…],"last_verdicts":[…]}. New reference. */
int rg_engine_status_json(json_t **out, rg_engine *engine, const char *tenant_id,
                          const char *rollout_id);
/* Every rollout of a tenant (NULL: all tenants), one line each. New reference. */
int rg_engine_list_json(json_t **out, rg_engine *engine, const char *tenant_id);
/* `explain`: per stage, per poll, per metric: the verdict's numbers and reason. */
int rg_engine_explain_json(json_t **out, rg_engine *engine, const char *tenant_id,
                           const char *rollout_id);
/* `audit`: who did what, when, why, with outcome. rollout_id NULL: the tenant's whole log. */
int rg_engine_audit_json(json_t **out, rg_engine *engine, const char *tenant_id,
                         const char *rollout_id);

/* What the engine has done since rg_engine_new, for /metrics. Safe to read from any thread. */
#define RG_ENGINE_LATENCY_BUCKETS 8
typedef struct rg_engine_metrics {
    uint64_t platform_requests; /* HTTP attempts sent, token requests included */
    uint64_t platform_2xx, platform_4xx, platform_5xx, platform_429, platform_transport;
    uint64_t breaker_trips;  /* rollouts tripped (breaker or forced) */
    uint64_t rollbacks_done; /* rollouts that reached rolled_back / rollback_incomplete */
    uint64_t polls;          /* analytics polls */
    /* Poll latency histogram (one poll = fetching every org's telemetry), cumulative
     * counts of polls that took <= rg_engine_latency_bounds_ms[i]; the last is +Inf. */
    uint64_t poll_latency_le[RG_ENGINE_LATENCY_BUCKETS];
    double poll_latency_sum_ms;
} rg_engine_metrics;
extern const double rg_engine_latency_bounds_ms[RG_ENGINE_LATENCY_BUCKETS];
void rg_engine_get_metrics(rg_engine_metrics *out, rg_engine *engine);

/* The gate's view of a state: "completed", "rolled_back", "rollback_incomplete", "held",
 * "running" (anything still undecided). */
const char *rg_engine_outcome(rg_rollout_state state);

#endif
