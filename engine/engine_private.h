/* engine_private.h - what the engine's files share: the engine, one rollout's tick context */
#ifndef RG_ENGINE_PRIVATE_H
#define RG_ENGINE_PRIVATE_H

#include <pthread.h>

#include "rollgate/engine.h"
#include "rollgate/platform.h"
#include "rollgate/store.h"
#include "rollgate/stats.h"

/* A stored manifest parsed and resolved, kept for the next load of the same text (context.c):
 * 10,000 orgs' manifest costs 60 ms to parse and resolve, at every load. Shared by the
 * contexts that loaded it (read-only); freed when replaced and no context holds it. */
typedef struct rg_engine_parsed {
    char *tenant_id, *rollout_id, *text;
    rg_manifest *manifest;
    rg_resolution *resolution;
    int holders; /* contexts using it */
    int stale;   /* replaced: freed by its last holder */
} rg_engine_parsed;

struct rg_engine {
    rg_store *store;
    int own_store; /* opened by rg_engine_open; closed by rg_engine_free */
    rg_engine_options opts;
    char owner[256];
    rg_stats_cache *cache;
    pthread_mutex_t metrics_lock;
    rg_engine_metrics metrics;
    int64_t epoch;              /* the lease epoch of the rollout being stepped (0: none) */
    int64_t batch_max_ms;       /* the slowest platform batch measured, sizes the lease */
    int64_t batch_last_ms;      /* the last one, recorded in the lease row for status (-1: none) */
    rg_platform_tokens *tokens; /* OAuth tokens kept across ticks (opts.platform.tokens
                                 * unless the caller gave one); memory only */
    rg_engine_parsed *parsed;   /* the last manifest parsed (context.c) */
};

void rg_engine__parsed_release(rg_engine_parsed *parsed);

/* Adds to the engine's metrics under its lock. */
void rg_engine__count_platform(rg_engine *engine, const rg_platform *platform);
void rg_engine__count_poll(rg_engine *engine, int64_t elapsed_ms);
void rg_engine__count(rg_engine *engine, int trips, int rollbacks);

typedef struct rg_window_cache rg_window_cache; /* telemetry.c */

/* Everything one step of one rollout works on, loaded fresh from the store each tick so
 * that nothing a crash could lose lives only in memory. */
typedef struct rg_rollout_ctx {
    rg_engine *engine;
    rg_store_rollout row;
    rg_manifest *manifest;
    rg_resolution *resolution; /* rendered bodies per target, in seq order */
    rg_store_targets targets;
    rg_platform *platform; /* made on first use; every target org registered */
    json_t *org_errors;    /* org id -> why its credentials could not be loaded */
    json_t *book;          /* the rollout's bookkeeping object (rollouts.baseline) */
    int64_t now_ms;
    int64_t next_ms;               /* when this rollout wants its next step */
    rg_window_cache *window_cache; /* summed cells per metric; dropped when telemetry is stored */
    rg_engine_parsed *parsed;      /* where manifest and resolution come from (not owned) */
} rg_rollout_ctx;

int rg_engine__ctx_load(rg_rollout_ctx *ctx, rg_engine *engine, const char *tenant_id,
                        const char *rollout_id);
void rg_engine__ctx_dispose(rg_rollout_ctx *ctx);
/* The platform client with every target org registered (credentials loaded). */
/* The policy's analytics settings (media type, predicate batch) onto client options: every
 * client that queries analytics for a rollout - ticks, plan, planner, sizing - asks alike. */
void rg_engine__analytics_options(rg_platform_options *opts, const rg_manifest *m);
int rg_engine__platform(rg_platform **out, rg_rollout_ctx *ctx);
/* Why an org could not be registered with the platform client (its credentials), or NULL.
 * Such an org's calls are not queued; the step that needed them records this reason. */
const char *rg_engine__org_error(const rg_rollout_ctx *ctx, const char *org_id);
/* The rendered body of a target (borrowed from the resolution). */
const json_t *rg_engine__target_body(const rg_rollout_ctx *ctx, const rg_store_target *t);

/* Moves the rollout to `state` (hold_reason set when `reason` and state is held), writes
 * the book back, appends an event and narrates. */
int rg_engine__set_state(rg_rollout_ctx *ctx, rg_rollout_state state, const char *reason);
/* Writes row changes (stage fields, book) without a state change. */
int rg_engine__save(rg_rollout_ctx *ctx);
/* Appends an event of `kind` with a JSON detail (stolen; may be NULL) and narrates `line`. */
int rg_engine__event(rg_rollout_ctx *ctx, const char *kind, json_t *detail, const char *fmt, ...)
    RG_PRINTF(4, 5);
void rg_engine__narrate(rg_rollout_ctx *ctx, const char *kind, const char *fmt, ...)
    RG_PRINTF(3, 4);
int rg_engine__audit(rg_engine *engine, const char *tenant_id, const char *rollout_id,
                     const char *actor, const char *action, const char *reason, const char *outcome,
                     json_t *detail);

/* rg_engine_start_forced, the new rollout linked to the one it retries (retry_of may be
 * NULL): book "retry_of", and a "retry" audit entry on the old rollout, in the start's
 * transaction (start.c). */
int rg_engine__start_linked(char out_id[RG_STORE_ROLLOUT_ID_LEN], rg_engine *engine,
                            const rg_manifest *manifest, const char *base_dir, const char *actor,
                            int approve, const char *force_reason, const char *retry_of);

/* promotion.c: 0 when environment `env` of the manifest has what it requires of the
 * manifest's digest; RG_ECONFLICT with the reason otherwise. */
int rg_engine__check_environment(rg_engine *engine, const rg_manifest *m, const char *env);

/* A member of a stored book (rollouts.baseline text): a new reference, or null (report.c). */
json_t *rg_engine__book_member(const char *baseline, const char *key);
/* plan_row.c: one org's live plan of a datatable_row change (the plan's target entry, a
 * new reference); findings and unreachable entries appended, *blocked set on a blocker.
 * credentials_error: why the org's credentials could not be loaded, or NULL. */
json_t *rg_engine__plan_row(rg_platform *pf, const rg_manifest *m, const rg_resolved_target *t,
                            const char *credentials_error, json_t *findings, json_t *unreachable,
                            int *blocked);
/* plan_versioned.c: the same for a versioned change (the resource exists, every template
 * field is there, the watched queues exist; the diff of the live body). */
json_t *rg_engine__plan_versioned(rg_platform *pf, const rg_manifest *m,
                                  const rg_resolved_target *t, const char *credentials_error,
                                  json_t *findings, json_t *unreachable, int *blocked);

/* Book entries (integers in epoch ms or counts; 0 when absent). */
int64_t rg_engine__book_int(const rg_rollout_ctx *ctx, const char *key);
int rg_engine__book_set_int(rg_rollout_ctx *ctx, const char *key, int64_t value);

/* The steps of a rollout, by state. Each may set ctx->next_ms. */
int rg_engine__apply(rg_rollout_ctx *ctx); /* running, stage not yet applied */
int rg_engine__soak(rg_rollout_ctx *ctx);
/* apply_row.c: one tier's unfinished targets of a datatable_row change. */
int rg_engine__apply_rows(rg_rollout_ctx *ctx, rg_store_target **tier, size_t n);
/* apply_versioned.c: one tier's unfinished targets of a versioned change. */
int rg_engine__apply_versioned(rg_rollout_ctx *ctx, rg_store_target **tier, size_t n);
/* running, stage applied: polls, verdicts */
int rg_engine__rollback(rg_rollout_ctx *ctx); /* rolling_back: restore, then verify */
/* After the restore (verify.c): judges the restored orgs and ends the rollout rolled_back. */
int rg_engine__verify(rg_rollout_ctx *ctx);
/* The breaker (breaker.c): what a poll's verdicts decide (promote, hold, trip, or soak on). */
int rg_engine__breaker(rg_rollout_ctx *ctx, const rg_stats_verdict *v, int poll, int planned);
int rg_engine__promote(rg_rollout_ctx *ctx, const char *why);
int rg_engine__trip(rg_rollout_ctx *ctx, const char *why);
int rg_engine__run_commands(rg_rollout_ctx *ctx);
/* Before a stage's first apply: agents on queue against the start (recorded on the first
 * call) and projected load; pauses the rollout with the numbers when below the floor. */
int rg_engine__capacity_check(rg_rollout_ctx *ctx, int *out_paused);
/* Executes one command on a leased rollout. @param[out] out_outcome static text. */
/* A pause stops the soak clock; a resume moves stage_applied_at by the time paused
 * (controls.c). @param[out] out_paused_ms the soak time skipped (may be NULL). */
int rg_engine__pause_clock_stop(rg_rollout_ctx *ctx);
int rg_engine__pause_clock_resume(rg_rollout_ctx *ctx, int64_t *out_paused_ms);
/* Stage controls (controls.c): a stage that needs approval stops before its apply
 * (*out_stopped 1, state awaiting_approval); the pause step after a stage that passed; a
 * full promotion (book "promote_full") skips soaks, approvals and pauses. */
int rg_engine__stage_gate(rg_rollout_ctx *ctx, int *out_stopped);
int rg_engine__pause_step(rg_rollout_ctx *ctx, int from, const char *why);
int rg_engine__full_promotion(const rg_rollout_ctx *ctx);
int rg_engine__full_promotion_start(rg_rollout_ctx *ctx, const char *actor, const char *reason);
int rg_engine__full_promotion_step(rg_rollout_ctx *ctx);
/* Restores a rollout this process just tripped (or undid) now, tick by tick, until the book
 * records the restore's end (command.c). */
int rg_engine__drive_restore(rg_engine *engine, const char *tenant, const char *id);
int rg_engine__execute(rg_rollout_ctx *ctx, rg_command_kind kind, const char *actor,
                       const char *reason, int force, const char **out_outcome);

/* Gating webhooks (gates.c, docs/gates.md). Before a stage's first write: asks the
 * pre-rollout (stage 0) and pre-stage gates; *out_pass 0 when the step must wait or the
 * rollout was held. */
int rg_engine__gate_before_stage(rg_rollout_ctx *ctx, int *out_pass);
/* A verdict's promotion: promotes now without confirm-promotion gates, else records it as
 * pending for rg_engine__gate_continue. */
int rg_engine__gate_promote(rg_rollout_ctx *ctx, const char *why);
/* A rollback's end (rolled_back or rollback_incomplete): recorded now without post-rollback
 * gates, else pending. */
int rg_engine__gate_finish_rollback(rg_rollout_ctx *ctx, rg_rollout_state state, const char *why);
/* 1 when the rollout's next step is asking the gates of a pending promotion or rollback end. */
int rg_engine__gate_pending(const rg_rollout_ctx *ctx);
int rg_engine__gate_continue(rg_rollout_ctx *ctx);
/* 1 when a gate holds the rollout; rg_engine__gate_resume runs it again (the gate is asked
 * afresh). */
int rg_engine__gate_held(const rg_rollout_ctx *ctx);
int rg_engine__gate_resume(rg_rollout_ctx *ctx, const char *why);

/* Telemetry: fetch [from, to) for the given orgs' watch queues into measurements. */
int rg_engine__fetch_telemetry(rg_rollout_ctx *ctx, const char *const *orgs, size_t norgs,
                               int64_t from_ms, int64_t to_ms);
/* Frees the tick's summed telemetry cells (telemetry.c); NULL-safe. */
void rg_engine__window_cache_free(rg_rollout_ctx *ctx);
/* The queues whose telemetry is watched for a target org (manifest watch_queues, else the
 * queues of its snapshot and new body). @param[out] out new array of strings. */
int rg_engine__watch_queues(json_t **out, rg_rollout_ctx *ctx, const char *org_id);

/* A named point where crash tests may kill the process (crashpoint.c). */
void rg_engine__crash_point(const char *point);

/* Lease owner helpers (lease.c). */
void rg_engine__owner_self(char *out, size_t outlen);
int rg_engine__owner_is_dead(const char *owner);
/* Takes or extends the rollout's lease; when held, its epoch fences every store write
 * (rg_store_fence) until rg_engine__lease_end. */
int rg_engine__lease(int *out_held, rg_engine *engine, const char *tenant_id,
                     const char *rollout_id);
void rg_engine__lease_end(rg_engine *engine);
/* The lease length this engine asks for now (see rg_engine_options.lease_ms). */
int64_t rg_engine__lease_ttl(const rg_engine *engine);
/* Runs one platform batch for the rollout: renews the lease first (RG_ELEASE when it was
 * lost: nothing is sent), measures the batch to size later leases. */
int rg_engine__platform_run(rg_rollout_ctx *ctx, rg_platform *pf);
/* RG_ELEASE unless this driver still holds the rollout's lease at its epoch (extending it):
 * asked again before a write the platform batch decided on its own after a re-read (a 412
 * or a lost reply), since the batch may have outlasted the lease (a paused host) and the
 * rollout moved on under another host meanwhile. 0 without a lease (epoch 0). */
int rg_engine__lease_confirm(rg_rollout_ctx *ctx);

/* A group of writes that commit together: opens a transaction unless one is open (then
 * *out_own is 0 and the outer one commits). rg_engine__tx_end commits an owned one when rc
 * is 0 and rolls it back otherwise; returns rc or the commit's error. */
int rg_engine__tx_begin(rg_rollout_ctx *ctx, int *out_own);
int rg_engine__tx_end(rg_rollout_ctx *ctx, int own, int rc);

#endif
