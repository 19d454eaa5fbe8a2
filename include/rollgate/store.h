/* store.h - durable state in SQLite: rollouts, targets, snapshots, telemetry, journal, leases */
#ifndef RG_STORE_H
#define RG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "rollgate/error.h"
#include "rollgate/rollout.h"

/*
 * Conventions for the whole module:
 * - Every function takes the tenant id and touches only that tenant's rows; a row of
 *   another tenant is reported exactly like a missing row (RG_ENOTFOUND, or an empty list).
 *   The only exceptions are named `..._all_tenants`.
 * - Times are milliseconds since the Unix epoch (UTC). A time of 0 means "not set" (NULL in
 *   SQL); insert functions fill a 0 creation time with the current time.
 * - Strings in row structs are owned by the struct (malloc'd) and freed by its `_dispose`;
 *   optional strings are NULL when absent. JSON columns hold JSON text, checked on write.
 *   Rows that are only ever appended (snapshots, measurements, verdicts, events, audit,
 *   commands) are written from an `_in` struct whose strings are borrowed for the call
 *   (`const char *`); rollouts and targets, read back and updated, are written from their
 *   row struct, which the call does not free.
 * - Doubles that are NaN are stored as NULL and read back as NaN.
 * - Errors: RG_EINVALID for a missing required field or a value SQL refuses (CHECK);
 *   RG_ENOTFOUND for a missing row (or a row of another tenant, or a child row whose
 *   rollout does not exist for that tenant); RG_ECONFLICT for a duplicate key or a stale
 *   revision; RG_EDB for anything else the database reports (the message names the
 *   operation and carries SQLite's message).
 * - Every write is usable on its own (autocommit) or inside rg_store_begin/_commit.
 * - Get functions fill a caller-owned struct only on success. List functions overwrite a
 *   list struct ({0}, or one just disposed) only on success; dispose it with `_dispose`.
 */

/* The schema version this build creates and migrates to (PRAGMA user_version). */
#define RG_STORE_SCHEMA_VERSION 6

/* The states and kinds stored as text: include/rollgate/rollout.h. */

/* ---- the store handle ---- */

typedef struct rg_store rg_store;

/* Opens (creating when absent) the database at `path` and migrates it to
 * RG_STORE_SCHEMA_VERSION. `path` is an SQLite file, or a PostgreSQL conninfo URI
 * ("postgresql://user:password@host:port/db?sslmode=...", "postgres://...",
 * "postgresql:///db?host=/socket/dir"): one connection per handle, reconnected with backoff
 * when it drops, RG_EDB naming the database (never its password) when it cannot be reached
 * (docs/internals/store.md, "Two drivers"). SQLite: WAL mode, foreign keys on,
 * synchronous=NORMAL. While another
 * client holds the lock every call waits for it (backoff, no limit, one log line per wait
 * past a second) instead of failing. A database newer than this build is refused (RG_EDB).
 * One handle per thread. */
int rg_store_open(rg_store **out, const char *path);
/* For commands that only read (status, gate, explain, audit): opens without the write lock
 * and without migrating when the schema is current, so they answer while another client
 * holds the lock. An absent or older database is opened with rg_store_open (created or
 * migrated, which waits for the lock). Writes through such a handle fail (RG_EDB). */
int rg_store_open_readonly(rg_store **out, const char *path);
/* Closes the handle; an open transaction is rolled back. NULL is a no-op. */
void rg_store_free(rg_store *store);
/* Writes `location` (a path or a conninfo URI) fit for a message or a log: a URI's password
 * ("user:password@", "password=") becomes "***". */
int rg_store_location_display(char *out, size_t outlen, const char *location);
/* Whether `location` is a PostgreSQL conninfo URI (postgresql:// or postgres://). */
int rg_store_location_is_postgresql(const char *location);
/* The database's PRAGMA user_version. */
int rg_store_schema_version(int *out, rg_store *store);

/* Explicit transactions (BEGIN IMMEDIATE: the write lock is taken at once, waiting up to
 * the busy timeout). Nesting is refused with RG_EINVALID. */
int rg_store_begin(rg_store *store);
/* As rg_store_begin, but the commit is synced with synchronous=FULL. Required for a
 * transaction that inserts a snapshot (see rg_store_snapshot_insert). */
int rg_store_begin_durable(rg_store *store);
int rg_store_commit(rg_store *store);
/* Rolls back the open transaction; without one it is a no-op returning 0. */
int rg_store_rollback(rg_store *store);
/* 1 while an explicit transaction is open. */
int rg_store_in_transaction(const rg_store *store);

/* Fencing. While a fence is set, every write through this handle runs in a transaction
 * that first checks that `owner` still holds the rollout's lease at `epoch` (a lone write
 * gets its own BEGIN IMMEDIATE; an explicit transaction checks once, at its begin and its
 * first write). A mismatch fails the write with RG_ELEASE ("lease lost") and changes
 * nothing. Copies its strings. rg_store_unfence drops it; NULL is a no-op. */
int rg_store_fence(rg_store *store, const char *tenant_id, const char *rollout_id,
                   const char *owner, int64_t epoch);
void rg_store_unfence(rg_store *store);

/* ---- ids ---- */

/* RG_STORE_ROLLOUT_ID_LEN: rollout.h. */
int rg_store_rollout_id_new(char out[RG_STORE_ROLLOUT_ID_LEN]);

/* ---- tenants ---- */

/* Creates the tenant when absent; an existing tenant keeps its name. */
int rg_store_tenant_ensure(rg_store *store, const char *tenant_id, const char *name);
/* @param[out] out the tenant's name, caller frees. RG_ENOTFOUND when absent. */
int rg_store_tenant_name(char **out, rg_store *store, const char *tenant_id);

/* ---- rollouts ---- */

typedef struct {
    char *id;
    char *tenant_id;
    char *name;
    char *manifest; /* JSON, normalised */
    char *policy;   /* JSON */
    rg_rollout_state state;
    int stage_index; /* current stage, 0-based */
    int stage_count;
    char *created_by;
    int64_t created_at_ms;
    int64_t updated_at_ms;
    int64_t revision;            /* bumped on every change of this row */
    char *hold_reason;           /* optional */
    char *verification;          /* optional: "passed", "failed" or "inconclusive" */
    int64_t stage_started_at_ms; /* 0 when the current stage has not started */
    int64_t stage_applied_at_ms; /* 0 until the stage's last PATCH committed */
    char *baseline;              /* optional JSON, e.g. agents on queue at start */
    /* Set at insert, never updated (NULL for rollouts of schema 3 and older): */
    char *digest;        /* the manifest's artifact digest, "sha256:<64 hex>" */
    char *environment;   /* the environment it was started for, when the manifest has them */
    char *forced_reason; /* why it started although the environment's requirements failed */
} rg_store_rollout;

typedef struct {
    rg_store_rollout *items;
    size_t count;
    size_t cap;
} rg_store_rollouts;

void rg_store_rollout_dispose(rg_store_rollout *rollout);
void rg_store_rollouts_dispose(rg_store_rollouts *list);

/* Inserts a new rollout (the tenant must exist, else RG_ENOTFOUND). Sets
 * rollout->revision to 1 and fills created_at_ms/updated_at_ms when 0.
 * RG_ECONFLICT when the id exists. */
int rg_store_rollout_insert(rg_store *store, rg_store_rollout *rollout);
/* @param[out] out filled on success; dispose it. */
int rg_store_rollout_get(rg_store_rollout *out, rg_store *store, const char *tenant_id,
                         const char *rollout_id);
/* Optimistic update of the mutable fields (state, stage_index, stage_count, hold_reason,
 * verification, stage_started_at_ms, stage_applied_at_ms, baseline) of the row named by
 * rollout->tenant_id and ->id, only when its revision still equals rollout->revision.
 * On success rollout->revision is incremented and updated_at_ms set to now.
 * RG_ECONFLICT when the stored revision differs; RG_ENOTFOUND when there is no such row. */
int rg_store_rollout_update(rg_store *store, rg_store_rollout *rollout);
/* For local operator tools that name a rollout by id alone (the CLI on the engine host):
 * the tenant the rollout belongs to. @param[out] out caller frees. RG_ENOTFOUND when no
 * tenant has it. Every further call takes the returned tenant. */
int rg_store_rollout_tenant_all_tenants(char **out, rg_store *store, const char *rollout_id);
/* The tenant's rollouts, oldest first. */
int rg_store_rollout_list(rg_store_rollouts *out, rg_store *store, const char *tenant_id);
/* The tenant's rollouts of one artifact digest, oldest first (its path through the
 * environments). */
int rg_store_rollout_list_digest(rg_store_rollouts *out, rg_store *store, const char *tenant_id,
                                 const char *digest);
/* The tenant's newest rollout started for `environment`. RG_ENOTFOUND when none. */
int rg_store_rollout_last_in_environment(rg_store_rollout *out, rg_store *store,
                                         const char *tenant_id, const char *environment);
/* For the scheduler, which drives every tenant: the rollouts of ALL tenants whose state is
 * not terminal (awaiting_approval, running, paused, held, rolling_back), oldest first.
 * Each row carries its tenant_id; use it for every further call. */
int rg_store_rollout_list_active_all_tenants(rg_store_rollouts *out, rg_store *store);
/* For local operator tools on the engine host (`rollgate list`): every rollout of every
 * tenant, finished ones included, oldest first. Each row carries its tenant_id. */
int rg_store_rollout_list_all_tenants(rg_store_rollouts *out, rg_store *store);

/* ---- targets: one (rollout, organization, strategy) ---- */

typedef struct {
    char *rollout_id;
    char *tenant_id;
    int64_t seq; /* global dependency order within the rollout, unique per rollout */
    char *org_id;
    char *group_name;
    int tier;        /* dependency tier, 0 first */
    int stage_index; /* first stage that covers it */
    char *strategy_id;
    char *api_url;
    char *login_url;
    rg_target_state state;
    int attempts;
    char *last_error;   /* optional */
    char *applied_etag; /* optional */
    char *applied_body; /* optional JSON: the body we PATCHed */
    int64_t applied_at_ms;
    char *restored_etag; /* optional */
    int64_t restored_at_ms;
    char *kept_fields; /* optional JSON: fields a person edited that a restore kept */
} rg_store_target;

typedef struct {
    rg_store_target *items;
    size_t count;
    size_t cap;
} rg_store_targets;

void rg_store_target_dispose(rg_store_target *target);
void rg_store_targets_dispose(rg_store_targets *list);

/* RG_ENOTFOUND when the rollout does not exist for the tenant; RG_ECONFLICT on a duplicate
 * (rollout, org, strategy) or seq. */
int rg_store_target_insert(rg_store *store, const rg_store_target *target);
int rg_store_target_get(rg_store_target *out, rg_store *store, const char *tenant_id,
                        const char *rollout_id, const char *org_id, const char *strategy_id);
/* Writes the mutable fields (state, attempts, last_error, applied_etag, applied_body,
 * applied_at_ms, restored_etag, restored_at_ms, kept_fields) of the row keyed by
 * tenant_id, rollout_id, org_id, strategy_id. RG_ENOTFOUND when absent. */
int rg_store_target_update(rg_store *store, const rg_store_target *target);
/* The rollout's targets in seq order. */
int rg_store_target_list(rg_store_targets *out, rg_store *store, const char *tenant_id,
                         const char *rollout_id);

/* ---- snapshots: insert-only pre-change copies ---- */

typedef struct {
    char *rollout_id;
    char *tenant_id;
    char *org_id;
    char *strategy_id;
    char *etag;
    char *body; /* JSON, the full strategy as read */
    int64_t taken_at_ms;
} rg_store_snapshot;

typedef struct {
    rg_store_snapshot *items;
    size_t count;
    size_t cap;
} rg_store_snapshots;

void rg_store_snapshot_dispose(rg_store_snapshot *snapshot);
void rg_store_snapshots_dispose(rg_store_snapshots *list);

/* A snapshot to insert; the strings are borrowed for the call. */
typedef struct {
    const char *rollout_id;
    const char *tenant_id;
    const char *org_id;
    const char *strategy_id;
    const char *etag;
    const char *body;    /* JSON, the full strategy as read */
    int64_t taken_at_ms; /* 0: now */
} rg_store_snapshot_in;

/* Inserts and commits with synchronous=FULL. Outside a transaction it commits at once;
 * inside one, the transaction must have been opened with rg_store_begin_durable
 * (RG_EINVALID otherwise). The target must exist (RG_ENOTFOUND). A second snapshot of the
 * same (rollout, org, strategy) is RG_ECONFLICT and the first is kept. There is no update
 * or delete; the schema refuses both. A 0 taken_at_ms is stored as the current time. */
int rg_store_snapshot_insert(rg_store *store, const rg_store_snapshot_in *snapshot);
int rg_store_snapshot_get(rg_store_snapshot *out, rg_store *store, const char *tenant_id,
                          const char *rollout_id, const char *org_id, const char *strategy_id);
/* The rollout's snapshots, ordered by org_id, strategy_id. */
int rg_store_snapshot_list(rg_store_snapshots *out, rg_store *store, const char *tenant_id,
                           const char *rollout_id);

/* ---- measurements: one metric for one org/queue/bucket ---- */

typedef struct {
    char *rollout_id;
    char *tenant_id;
    char *org_id;
    char *queue_id;
    char *metric; /* platform metric name, e.g. "nOffered", "tAnswered" */
    int64_t bucket_start_ms;
    int64_t bucket_len_ms;
    int64_t count;
    double sum; /* NaN when the platform gave none */
} rg_store_measurement;

typedef struct {
    rg_store_measurement *items;
    size_t count;
    size_t cap;
} rg_store_measurements;

void rg_store_measurement_dispose(rg_store_measurement *m);
void rg_store_measurements_dispose(rg_store_measurements *list);

/* A measurement to put, fields as in rg_store_measurement; the strings are borrowed. */
typedef struct {
    const char *rollout_id;
    const char *tenant_id;
    const char *org_id;
    const char *queue_id;
    const char *metric;
    int64_t bucket_start_ms;
    int64_t bucket_len_ms;
    int64_t count;
    double sum; /* NaN: none */
} rg_store_measurement_in;

/* Upsert: a re-polled bucket (same rollout, org, queue, metric, start, length) replaces
 * the stored count and sum. */
int rg_store_measurement_put(rg_store *store, const rg_store_measurement_in *m);
/* rg_store_measurement_put of n rows in order, the rollout's existence checked once per run
 * of rows of the same rollout. Stops at the first error (call it inside a transaction to
 * keep all or none). */
int rg_store_measurement_put_many(rg_store *store, const rg_store_measurement_in *rows, size_t n);
/* The rollout's measurements with from_ms <= bucket_start_ms < to_ms, of one metric or of
 * all when metric is NULL; ordered by org, queue, metric, bucket start. */
int rg_store_measurement_list(rg_store_measurements *out, rg_store *store, const char *tenant_id,
                              const char *rollout_id, const char *metric, int64_t from_ms,
                              int64_t to_ms);
/* One (org, bucket start) of a rollout summed over its queues: `a` is the sum of metric_a's
 * counts (its sums when a_use_sum), `b` the same for metric_b; a metric absent from the cell
 * adds 0, and so does a sum the platform did not give. `org_id` is borrowed for the call. A
 * non-zero return from fn stops the scan and is returned. */
typedef int (*rg_store_sum_fn)(const char *org_id, int64_t bucket_start_ms, double a, double b,
                               void *payload);
/* Every (org, bucket) cell of the rollout that has metric_a or metric_b, ordered by org id
 * (bytewise) then bucket start, summed by the database: no row is copied out. */
int rg_store_measurement_sums(rg_store *store, const char *tenant_id, const char *rollout_id,
                              const char *metric_a, int a_use_sum, const char *metric_b,
                              int b_use_sum, rg_store_sum_fn fn, void *payload);

/* ---- verdicts: one metric decision at one poll ---- */

typedef struct {
    int64_t id; /* assigned on insert */
    char *rollout_id;
    char *tenant_id;
    int stage;
    int poll;
    char *metric;
    char *test; /* e.g. "group_sequential", "msprt", "none" */
    double estimate;
    double ci_lo;
    double ci_hi;
    double z;
    double boundary;
    double p_value;
    char *decision; /* "pass", "fail", "inconclusive" or "error" */
    char *reason;   /* optional */
    int64_t at_ms;
} rg_store_verdict;

typedef struct {
    rg_store_verdict *items;
    size_t count;
    size_t cap;
} rg_store_verdicts;

void rg_store_verdict_dispose(rg_store_verdict *verdict);
void rg_store_verdicts_dispose(rg_store_verdicts *list);

/* A verdict to insert, fields as in rg_store_verdict; the strings are borrowed. */
typedef struct {
    const char *rollout_id;
    const char *tenant_id;
    int stage;
    int poll;
    const char *metric;
    const char *test;
    double estimate, ci_lo, ci_hi, z, boundary, p_value; /* NaN: none */
    const char *decision;
    const char *reason; /* optional */
    int64_t at_ms;      /* 0: now */
} rg_store_verdict_in;

/* @param[out] out_id the new row's id; may be NULL. A 0 at_ms is stored as now. */
int rg_store_verdict_insert(int64_t *out_id, rg_store *store, const rg_store_verdict_in *verdict);
/* The rollout's verdicts in insertion order; of one stage, or all when stage < 0. */
int rg_store_verdict_list(rg_store_verdicts *out, rg_store *store, const char *tenant_id,
                          const char *rollout_id, int stage);

/* ---- events: every state change ---- */

typedef struct {
    int64_t id; /* increasing; assigned on append */
    char *rollout_id;
    char *tenant_id;
    char *kind;       /* e.g. "state", "stage_applied", "tripped" */
    char *from_state; /* optional */
    char *to_state;   /* optional */
    char *detail;     /* optional JSON */
    int64_t at_ms;
} rg_store_event;

typedef struct {
    rg_store_event *items;
    size_t count;
    size_t cap;
} rg_store_events;

void rg_store_event_dispose(rg_store_event *event);
void rg_store_events_dispose(rg_store_events *list);

/* An event to append, fields as in rg_store_event; the strings are borrowed. */
typedef struct {
    const char *rollout_id;
    const char *tenant_id;
    const char *kind;
    const char *from_state; /* optional */
    const char *to_state;   /* optional */
    const char *detail;     /* optional JSON */
    int64_t at_ms;          /* 0: now */
} rg_store_event_in;

int rg_store_event_append(int64_t *out_id, rg_store *store, const rg_store_event_in *event);
/* The rollout's events with id > after_id (0 for all), in id order: resumable streams. */
int rg_store_event_list(rg_store_events *out, rg_store *store, const char *tenant_id,
                        const char *rollout_id, int64_t after_id);

/* ---- audit: every human action ---- */

typedef struct {
    int64_t id;
    char *rollout_id; /* optional: NULL for tenant-wide actions */
    char *tenant_id;
    char *actor;
    char *action;  /* e.g. "start", "approve", "rollback" */
    char *reason;  /* optional */
    char *outcome; /* optional, e.g. "queued", "done", "refused: ..." */
    char *detail;  /* optional JSON (before/after, kept fields) */
    int64_t at_ms;
} rg_store_audit;

typedef struct {
    rg_store_audit *items;
    size_t count;
    size_t cap;
} rg_store_audits;

void rg_store_audit_dispose(rg_store_audit *entry);
void rg_store_audits_dispose(rg_store_audits *list);

/* An audit entry to append, fields as in rg_store_audit; the strings are borrowed. */
typedef struct {
    const char *rollout_id; /* optional */
    const char *tenant_id;
    const char *actor;
    const char *action;
    const char *reason;  /* optional */
    const char *outcome; /* optional */
    const char *detail;  /* optional JSON */
    int64_t at_ms;       /* 0: now */
} rg_store_audit_in;

int rg_store_audit_append(int64_t *out_id, rg_store *store, const rg_store_audit_in *entry);
/* The tenant's audit entries of one rollout, or all of them when rollout_id is NULL, in
 * id order. */
int rg_store_audit_list(rg_store_audits *out, rg_store *store, const char *tenant_id,
                        const char *rollout_id);

/* ---- leases: who drives a rollout now ---- */

typedef struct {
    char *rollout_id;
    char *tenant_id;
    char *owner; /* "host:pid:starttime" */
    int64_t expires_at_ms;
    int64_t acquired_at_ms;
    int64_t epoch;    /* grows by one at every acquisition by another owner or after a
                         release: the fence a holder's writes are checked against */
    int64_t ttl_ms;   /* the lease length its holder asked for at its last renewal */
    int64_t batch_ms; /* the holder's last measured platform batch (0: none yet) */
    int64_t now_ms;   /* the database clock when the row was read */
} rg_store_lease;

void rg_store_lease_dispose(rg_store_lease *lease);

/* Times: every `now_ms` below may be 0, meaning the clock of the statement itself
 * (julianday('now') inside the SQL). The engine always passes 0, so lease expiry is
 * decided by one clock at the moment of the write, never by comparing two processes'
 * clocks; explicit times are for tests.
 *
 * Takes the lease for `owner` until now_ms + ttl_ms when there is none, it expired
 * (expires_at_ms <= now_ms), or `owner` already holds it (then it is extended; the epoch
 * stays).
 * @param[out] out_held 1 when `owner` holds the lease afterwards, 0 when another owner does.
 * RG_ENOTFOUND when the rollout does not exist for the tenant. One atomic statement. */
int rg_store_lease_acquire(int *out_held, rg_store *store, const char *tenant_id,
                           const char *rollout_id, const char *owner, int64_t now_ms,
                           int64_t ttl_ms);
/* Extends the lease when `owner` still holds it (even if it just expired and nobody took
 * it). @param[out] out_held 1 when extended, 0 when lost. */
int rg_store_lease_renew(int *out_held, rg_store *store, const char *tenant_id,
                         const char *rollout_id, const char *owner, int64_t now_ms, int64_t ttl_ms);
/* Takes the lease from `dead_owner` (a holder known to be gone, e.g. a pid that no longer
 * runs on this host) whatever its expiry: only when the current owner is exactly
 * `dead_owner` (or the lease is absent or expired). @param[out] out_held as above. */
int rg_store_lease_take_over(int *out_held, rg_store *store, const char *tenant_id,
                             const char *rollout_id, const char *owner, const char *dead_owner,
                             int64_t now_ms, int64_t ttl_ms);
/* Extends the lease held by `owner` at `epoch` to db-now + ttl_ms and records the last
 * batch time (batch_ms < 0 keeps it). RG_ELEASE when the owner or epoch no longer match. */
int rg_store_lease_extend(rg_store *store, const char *tenant_id, const char *rollout_id,
                          const char *owner, int64_t epoch, int64_t ttl_ms, int64_t batch_ms);
/* Drops the lease when `owner` holds it (the row stays, marked released, so the next
 * acquisition gets a new epoch). @param[out] out_released 1 when it was held, 0 when
 * `owner` did not hold it (may be NULL). */
int rg_store_lease_release(int *out_released, rg_store *store, const char *tenant_id,
                           const char *rollout_id, const char *owner);
/* The current lease row, expired or not. RG_ENOTFOUND when there is none (or released). */
int rg_store_lease_get(rg_store_lease *out, rg_store *store, const char *tenant_id,
                       const char *rollout_id);
/* For schedulers sharing one database: takes the lease, for `owner` until db-now + ttl_ms,
 * of the oldest active rollout (awaiting approval, running, paused, held, rolling back) of
 * any tenant that nobody leases (no lease, released, or expired by the database's clock).
 * PostgreSQL picks it with FOR UPDATE SKIP LOCKED, so schedulers on several hosts asking at
 * once get different rollouts without waiting on each other; SQLite's write lock
 * serializes them. @param[out] out the lease taken (caller disposes), when *out_found is 1;
 * *out_found is 0 when every active rollout is leased. Opens its own transaction:
 * RG_EINVALID inside one. */
int rg_store_lease_claim_next(rg_store_lease *out, int *out_found, rg_store *store,
                              const char *owner, int64_t ttl_ms);

/* ---- copying a database (rollgate db migrate) ---- */

#define RG_STORE_COPY_MAX_TABLES 16
#define RG_STORE_COPY_MAX_COLUMNS 32

typedef struct {
    const char *table; /* static */
    int64_t source_rows;
    int64_t target_rows;
} rg_store_copy_table;

typedef struct {
    rg_store_copy_table tables[RG_STORE_COPY_MAX_TABLES]; /* in copy order */
    size_t count;
    int64_t snapshots_compared; /* snapshots whose etag and body were compared */
    int64_t snapshot_bytes;     /* the bytes compared */
} rg_store_copy_report;

/* Copies every row of the SQLite store `from` into the PostgreSQL store `to` (both open,
 * migrated to this build's schema) in one target transaction, ids kept, then compares the
 * row counts of every table and every snapshot's etag and body byte for byte; any
 * difference rolls the copy back (RG_EDB). A target with rows is refused (RG_ECONFLICT)
 * unless `replace`, which empties it first in the same transaction. Leases are copied as
 * they are: stop every process driving `from` first (a copied lease expires by the
 * target's clock and is taken over then). @param[out] out set on success. */
int rg_store_copy(rg_store_copy_report *out, rg_store *to, rg_store *from, int replace);

/* What the schedulers of several hosts on one database share, read by the database's clock
 * (rg_store_lease_census_all_tenants). */
typedef struct {
    char *tenant_id;
    char *rollout_id;
} rg_store_rollout_key;

typedef struct {
    rg_store_rollout_key *claimable; /* active rollouts no live lease holds: none, released
                                        or expired; oldest first */
    size_t claimable_count;
    size_t holders;       /* distinct owners of an unexpired lease on an active rollout */
    size_t held_by_owner; /* of those leases, how many the given owner holds */
} rg_store_lease_census;

void rg_store_lease_census_dispose(rg_store_lease_census *census);
/* Across tenants (the scheduler's read): the active rollouts that nobody leases now, and how
 * many drivers hold the others, so a host takes its share and leaves the rest to its peers.
 * The caller takes a claimable rollout with rg_store_lease_acquire, which decides (another
 * host may win it first); `owner` (required) only counts its own leases. Read only. */
int rg_store_lease_census_all_tenants(rg_store_lease_census *out, rg_store *store,
                                      const char *owner);

/* ---- claims: which active rollout holds an (org, resource) ---- */

/* A resource key names what a rollout changes in an org: "strategy:<id>" today (a data
 * table row or an IVR flow later gets its own prefix). Claims cross tenants: an org is one
 * platform object. */

/* Claims (org, resource) for the rollout; a no-op when it holds it already. RG_ECLAIMED when
 * another rollout holds it: the message names the holder when it is the same tenant's, and
 * says only "another rollout" when it is not. */
int rg_store_claim(rg_store *store, const char *tenant_id, const char *rollout_id,
                   const char *org_id, const char *resource);
/* Releases every claim of the rollout (none is not an error). */
int rg_store_claims_release(rg_store *store, const char *tenant_id, const char *rollout_id);
/* How many claims the rollout holds. */
int rg_store_claims_count(int64_t *out, rg_store *store, const char *tenant_id,
                          const char *rollout_id);

/* ---- commands: human requests waiting for the driver ---- */

typedef struct {
    int64_t id;
    char *rollout_id;
    char *tenant_id;
    rg_command_kind kind;
    char *actor;
    char *reason; /* optional */
    int force;    /* promote --force */
    int full;     /* promote --full: every remaining stage (schema 5; 0 before) */
    int64_t created_at_ms;
    rg_command_state state;
    char *outcome; /* optional until completed */
    int64_t done_at_ms;
} rg_store_command;

typedef struct {
    rg_store_command *items;
    size_t count;
    size_t cap;
} rg_store_commands;

void rg_store_command_dispose(rg_store_command *command);
void rg_store_commands_dispose(rg_store_commands *list);

/* A command to queue; the strings are borrowed. */
typedef struct {
    const char *rollout_id;
    const char *tenant_id;
    rg_command_kind kind;
    const char *actor;
    const char *reason;    /* optional */
    int force;             /* promote --force */
    int full;              /* promote --full (schema 5) */
    int64_t created_at_ms; /* 0: now */
} rg_store_command_in;

/* Queues a command in state pending.
 * @param[out] out_id the command id; may be NULL. A 0 created_at_ms is stored as now. */
int rg_store_command_enqueue(int64_t *out_id, rg_store *store, const rg_store_command_in *command);
int rg_store_command_get(rg_store_command *out, rg_store *store, const char *tenant_id,
                         int64_t command_id);
/* The rollout's pending commands, oldest first. */
int rg_store_command_list_pending(rg_store_commands *out, rg_store *store, const char *tenant_id,
                                  const char *rollout_id);
/* Marks a pending command done or failed with an outcome text, at now_ms (0: now).
 * RG_ENOTFOUND when absent; RG_ECONFLICT when it is no longer pending; RG_EINVALID when
 * state is RG_COMMAND_PENDING. */
int rg_store_command_complete(rg_store *store, const char *tenant_id, int64_t command_id,
                              rg_command_state state, const char *outcome, int64_t now_ms);

#endif
