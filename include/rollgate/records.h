/* records.h - a rollout's record as the engine reads it for the server and the CLI: rollout
 * rows, targets, snapshots, verdicts, events and the audit, and the one write a client makes
 * (an audit entry). The row structs are the store's (store.h); the server and the CLI reach
 * them only through these functions, never the store's own (cmake/layers.cmake). Each is the
 * store function of the same name on the engine's store, with its contract. */
#ifndef RG_RECORDS_H
#define RG_RECORDS_H

#include <stdint.h>

#include "rollgate/engine.h"
#include "rollgate/store.h"

/* Opens the database at `db_path` (rg_store_open, or rg_store_open_readonly when
 * `readonly`) for an engine that owns it: rg_engine_free closes it. `opts` NULL = defaults.
 * @param[out] out free with rg_engine_free. */
int rg_engine_open(rg_engine **out, const char *db_path, int readonly,
                   const rg_engine_options *opts);
/* `db_path` fit for a message or a log: a PostgreSQL URI's password masked as "***"
 * (rg_store_location_display). */
int rg_engine_db_display(char *out, size_t outlen, const char *db_path);
/* Whether `db_path` names a PostgreSQL database (postgresql:// or postgres://) rather than
 * an SQLite file. */
int rg_engine_db_is_postgresql(const char *db_path);
/* `rollgate db migrate`: opens the SQLite database at `from_path` (which must exist) and the
 * PostgreSQL database `to_uri` (both migrated to this build's schema) and copies the one
 * into the other, verified (rg_store_copy). RG_EINVALID when `from_path` is no SQLite file
 * path or `to_uri` no PostgreSQL URI, RG_ENOTFOUND when the file is absent. */
int rg_engine_db_copy(rg_store_copy_report *out, const char *from_path, const char *to_uri,
                      int replace);
/* For schedulers of several hosts on one database: takes, as this engine's owner, the lease
 * of the oldest active rollout nobody leases (rg_store_lease_claim_next; PostgreSQL: SKIP
 * LOCKED), for `ttl_ms` (0: the engine's lease length). The next tick of that rollout by this
 * engine keeps the lease and its epoch. @param[out] out the lease (caller disposes) when
 * *out_found is 1. */
int rg_engine_lease_claim_next(rg_store_lease *out, int *out_found, rg_engine *engine,
                               int64_t ttl_ms);

int rg_engine_rollout_get(rg_store_rollout *out, rg_engine *engine, const char *tenant_id,
                          const char *rollout_id);
int rg_engine_rollout_list(rg_store_rollouts *out, rg_engine *engine, const char *tenant_id);
/* Every tenant's rollouts (local tools on the engine host; /metrics). */
int rg_engine_rollout_list_all_tenants(rg_store_rollouts *out, rg_engine *engine);
/* Every tenant's rollouts that are not terminal. */
int rg_engine_rollout_list_active_all_tenants(rg_store_rollouts *out, rg_engine *engine);
int rg_engine_target_list(rg_store_targets *out, rg_engine *engine, const char *tenant_id,
                          const char *rollout_id);
int rg_engine_snapshot_list(rg_store_snapshots *out, rg_engine *engine, const char *tenant_id,
                            const char *rollout_id);
/* Of one stage, or all when stage < 0. */
int rg_engine_verdict_list(rg_store_verdicts *out, rg_engine *engine, const char *tenant_id,
                           const char *rollout_id, int stage);
/* Events with id > after_id (0 for all), in id order. */
int rg_engine_event_list(rg_store_events *out, rg_engine *engine, const char *tenant_id,
                         const char *rollout_id, int64_t after_id);
/* rollout_id NULL: the tenant's whole audit. */
int rg_engine_audit_list(rg_store_audits *out, rg_engine *engine, const char *tenant_id,
                         const char *rollout_id);
/* @param[out] out_id may be NULL. */
int rg_engine_audit_append(int64_t *out_id, rg_engine *engine, const rg_store_audit_in *entry);

void rg_engine_rollout_dispose(rg_store_rollout *rollout);
void rg_engine_rollouts_dispose(rg_store_rollouts *list);
void rg_engine_targets_dispose(rg_store_targets *list);
void rg_engine_snapshots_dispose(rg_store_snapshots *list);
void rg_engine_verdicts_dispose(rg_store_verdicts *list);
void rg_engine_events_dispose(rg_store_events *list);
void rg_engine_audits_dispose(rg_store_audits *list);

/* One organization's live strategy, read with a client of its own (the demo's check of
 * what the platform holds). @param[out] out_body new reference. */
int rg_engine_strategy_read(json_t **out_body, const char *org_id, const char *api_url,
                            const char *login_url, const char *credentials,
                            const char *strategy_id);
/* The environment variable that holds an org's credential: "ROLLGATE_<ORG>_<suffix>"
 * (rg_platform_env_name). */
int rg_engine_credentials_env_name(char *out, size_t outlen, const char *org_id,
                                   const char *suffix);
/* Registers an org with the platform client the engine passes to add_org
 * (rg_engine_options): its id, URLs and credentials reference ("env" or "file:PATH"). */
int rg_engine_platform_add_org(rg_platform *platform, const char *org_id, const char *api_url,
                               const char *login_url, const char *credentials);

#endif
