/* platform.h - the contact-center platform over HTTP: many organizations at once on one
 * libcurl multi loop (tokens, rate budgets, retries, strategies with ETags, analytics). */
#ifndef RG_PLATFORM_H
#define RG_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rollgate/error.h"
#include "rollgate/platform_options.h"

/* ---- the client ---- */

typedef struct rg_platform rg_platform;
/* OAuth tokens kept across clients (tokencache.c): one token per org, reused by every client
 * given the cache until 80% of its lifetime; keyed by a hash of the login URL, org id,
 * client id and secret, so other credentials for the same org never get it. In memory only,
 * wiped on free; thread-safe. An engine owns one for all its ticks. */
typedef struct rg_platform_tokens rg_platform_tokens;
int rg_platform_tokens_new(rg_platform_tokens **out);
void rg_platform_tokens_free(rg_platform_tokens *tokens);
/* Tokens held (expired ones included until swept). */
size_t rg_platform_tokens_count(rg_platform_tokens *tokens);

/* rg_platform_options and rg_platform_options_init: platform_options.h. */

/* @param[out] out  a new client; free with rg_platform_free. `opts` NULL = defaults. */
int rg_platform_new(rg_platform **out, const rg_platform_options *opts);
/* Frees the client, its orgs (secrets wiped) and cancels ops still queued (their status
 * becomes RG_ECONFLICT "cancelled"; the caller still frees them). NULL is a no-op. */
void rg_platform_free(rg_platform *platform);

/* One organization. `credentials` is "env" (ROLLGATE_<ORG>_CLIENT_ID / _CLIENT_SECRET, <ORG> =
 * the id upper-cased, every character outside A-Z0-9 as '_'), "env:PREFIX" (PREFIX_CLIENT_ID /
 * PREFIX_CLIENT_SECRET, as a registry names them) or "file:PATH" (JSON
 * {"<org id>":{"client_id","client_secret"}}, ours, mode 0600 or stricter). */
typedef struct rg_platform_org {
    const char *id;
    const char *api_url;     /* e.g. "https://api.mypurecloud.com" */
    const char *login_url;   /* e.g. "https://login.mypurecloud.com" */
    const char *credentials; /* "env" or "file:PATH" */
} rg_platform_org;

/* Registers an org and loads its credentials now, so a missing or unsafe source fails here
 * with the reason. RG_ECONFLICT when the id is already registered; RG_EAUTH for credential
 * problems; RG_EINVALID for bad URLs or an insecure non-loopback URL. All strings copied. */
int rg_platform_add_org(rg_platform *platform, const rg_platform_org *org);
/* As rg_platform_add_org with credentials given directly (a vault, a test). Copied; the
 * copies are wiped on free. */
int rg_platform_add_org_secret(rg_platform *platform, const rg_platform_org *org,
                               const char *client_id, const char *client_secret);
/* 1 when the org is registered. */
int rg_platform_has_org(const rg_platform *platform, const char *org_id);
/* Brackets many rg_platform_add_org calls: until rg_platform_credentials_end (or
 * rg_platform_free), each credentials file is read and parsed once, at its first use, and the
 * environment is indexed once, instead of once per org (10,000 orgs: 10,000 reads of one file,
 * or 20,000 scans of a 20,000-entry environment). A file changed meanwhile is not re-read;
 * its parsed copy is wiped at the end. */
void rg_platform_credentials_begin(rg_platform *platform);
void rg_platform_credentials_end(rg_platform *platform);

/* The env variable name for an org: "ROLLGATE_<ORG>_<suffix>" (suffix "CLIENT_ID" or
 * "CLIENT_SECRET"). RG_ELIMIT when `outlen` is too small. */
int rg_platform_env_name(char *out, size_t outlen, const char *org_id, const char *suffix);

/* Counters since rg_platform_new (the client's own instrumentation). */
typedef struct rg_platform_stats {
    uint64_t requests;      /* HTTP attempts sent, token requests included */
    uint64_t token_fetches; /* token requests sent */
    uint64_t retries;       /* attempts repeated after 5xx, reset or timeout */
    uint64_t status_2xx, status_4xx, status_5xx;
    uint64_t status_401, status_412, status_429;
    uint64_t transport_errors; /* resets, timeouts, refused connections */
    int peak_in_flight;        /* most transfers in flight at once */
    int in_flight;             /* now */
} rg_platform_stats;

void rg_platform_get_stats(rg_platform_stats *out, const rg_platform *platform);
/* Token requests sent for one org (0 for an unknown org). */
uint64_t rg_platform_org_token_fetches(const rg_platform *platform, const char *org_id);

/* ---- operations: queue many, then run them all concurrently ---- */

typedef struct rg_platform_op rg_platform_op;

/* Called once when an op completes (success or failure), from inside rg_platform_run.
 * It may queue further ops on the same client, which start before the ops queued before
 * the run (they carry on work begun); it must not free `op`. */
typedef void (*rg_platform_done_fn)(rg_platform_op *op, void *payload);

/* Computes a strategy PATCH body from the live strategy (after a 412, after a PATCH whose
 * outcome is unknown, or first when the update was queued without a body). `live` and
 * `live_etag` are borrowed.
 * @param[out] out_patch  a new reference, the body to PATCH (any of name, settings,
 *                        targets). `{}`, or a patch every field of which `live` already
 *                        holds, means "already in place": the op completes with the live
 *                        body and ETag and writes nothing (rg_platform_op_in_place = 1).
 *                        Return a negative RG_E* with a message to give up. */
typedef int (*rg_platform_merge_fn)(json_t **out_patch, const json_t *live, const char *live_etag,
                                    void *payload);

/* Every queue function makes a caller-owned op (free with rg_platform_op_free after it has
 * completed, or before rg_platform_run to cancel it) and queues it on the client.
 * `done` may be NULL. Ids are copied. */

/* GET /api/v2/organizations/me; body = the organization. Fails RG_ECONFLICT when the
 * returned id differs from the org id registered (credentials reach another org). */
int rg_platform_queue_org_check(rg_platform_op **out, rg_platform *platform, const char *org_id,
                                rg_platform_done_fn done, void *payload);
/* GET /api/v2/routing/queues/{id}; a 404 completes with status RG_ENOTFOUND. */
int rg_platform_queue_queue_get(rg_platform_op **out, rg_platform *platform, const char *org_id,
                                const char *queue_id, rg_platform_done_fn done, void *payload);
/* Every page of GET {strategies}?pageSize=100&pageNumber=N; body = {"entities":[...]}. */
int rg_platform_queue_strategy_list(rg_platform_op **out, rg_platform *platform, const char *org_id,
                                    rg_platform_done_fn done, void *payload);
/* GET {strategies}/{id}; body + ETag. 404 is RG_ENOTFOUND. */
int rg_platform_queue_strategy_get(rg_platform_op **out, rg_platform *platform, const char *org_id,
                                   const char *strategy_id, rg_platform_done_fn done,
                                   void *payload);
/* Conditional PATCH {strategies}/{id} with If-Match: `etag`. With `patch` NULL (and `etag`
 * NULL) the op first GETs the strategy and asks `merge` for the body. A PATCH is never
 * resent blind: after a 412, and after a PATCH whose outcome is unknown (reset, timeout,
 * closed without a reply, 5xx), the op re-reads the strategy first. If the live body
 * already holds every field of the patch (`merge`'s result, or `patch` itself without a
 * merge) the op succeeds with the live body and ETag and writes nothing more
 * (rg_platform_op_in_place). Otherwise it PATCHes `merge`'s body on the fresh ETag, at
 * most max_412_attempts PATCHes; without `merge` it resends `patch` only when the ETag is
 * unchanged (the lost PATCH did not land), else fails RG_ECONFLICT. At most max_retries
 * unknown outcomes. Success: body = the new full strategy, etag = the new ETag. A 400
 * fails with RG_EINVALID carrying the platform's message. `patch` is borrowed only during
 * the call (the op keeps its own reference). */
int rg_platform_queue_strategy_update(rg_platform_op **out, rg_platform *platform,
                                      const char *org_id, const char *strategy_id, const char *etag,
                                      json_t *patch, rg_platform_merge_fn merge,
                                      void *merge_payload, rg_platform_done_fn done, void *payload);

/* Conversation aggregates for many queues of one org, grouped by queueId. */
typedef struct rg_platform_aggregates_query {
    int64_t start_ms; /* interval [start, end), UTC epoch ms */
    int64_t end_ms;
    int64_t granularity_ms;       /* > 0; sent as an ISO-8601 duration */
    const char *const *queue_ids; /* at least one */
    size_t nqueues;
} rg_platform_aggregates_query;

/* One bucket of one queue. Absent metric, bucket or group = zeros. */
typedef struct rg_platform_bucket {
    int64_t start_ms;
    int64_t end_ms;
    int64_t offered;        /* nOffered.count */
    int64_t abandoned;      /* tAbandon.count */
    int64_t answered;       /* tAnswered.count */
    double answered_sum_ms; /* tAnswered.sum */
    int64_t handled;        /* tHandle.count */
    double handle_sum_ms;   /* tHandle.sum */
} rg_platform_bucket;

typedef struct rg_platform_queue_series {
    const char *queue_id;
    size_t nbuckets;             /* every bucket of the interval, in time order */
    rg_platform_bucket *buckets; /* bucket i starts at start_ms + i*granularity_ms */
} rg_platform_queue_series;

typedef struct rg_platform_aggregates {
    int64_t start_ms;
    int64_t end_ms;
    int64_t granularity_ms;
    size_t nqueues;
    rg_platform_queue_series *queues; /* in the order of the query */
} rg_platform_aggregates;

int rg_platform_queue_aggregates(rg_platform_op **out, rg_platform *platform, const char *org_id,
                                 const rg_platform_aggregates_query *query,
                                 rg_platform_done_fn done, void *payload);

/* Queue observations: agents on queue = sum of oOnQueueUsers counts over qualifiers. */
typedef struct rg_platform_observation {
    const char *queue_id;
    int64_t on_queue; /* oOnQueueUsers, all qualifiers */
    int64_t active;   /* oActiveUsers */
    int64_t waiting;  /* oWaiting, all media types */
} rg_platform_observation;

int rg_platform_queue_observations(rg_platform_op **out, rg_platform *platform, const char *org_id,
                                   const char *const *queue_ids, size_t nqueues,
                                   rg_platform_done_fn done, void *payload);

/* Runs the loop until every queued op (including ops queued by callbacks) has completed.
 * Returns 0 when the loop ran; individual failures are in each op's status. A negative
 * code means the loop itself failed (curl multi error). */
/* Architect data tables (no ETag, no version: last writer wins on the platform).
 * GET /api/v2/flows/datatables/{id}?expand=schema and .../rows/{key}?showbrief=false,
 * PUT .../rows/{key} with the whole row, "key" included. A PUT that got no answer or a
 * 5xx fails with "outcome unknown" and is never resent blind. */
int rg_platform_queue_datatable_get(rg_platform_op **out, rg_platform *platform, const char *org_id,
                                    const char *table);
int rg_platform_queue_row_get(rg_platform_op **out, rg_platform *platform, const char *org_id,
                              const char *table, const char *row);
int rg_platform_queue_row_put(rg_platform_op **out, rg_platform *platform, const char *org_id,
                              const char *table, const char *row, json_t *whole_row);
/* Content version of a row: hex SHA-256 of its canonical JSON (sorted keys, compact). */
int rg_platform_row_version(char out[65], json_t *row);
/* The first field where two rows differ (key included), NULL when equal. */
const char *rg_platform_row_diff(json_t *a, json_t *b);
int rg_platform_row_get(json_t **out, rg_platform *platform, const char *org_id, const char *table,
                        const char *row);
/* The table's JSON schema ({"properties": {name: {"type": ...}}, "required": ["key"]}). */
int rg_platform_datatable_schema(json_t **out, rg_platform *platform, const char *org_id,
                                 const char *table);
/* The verified write: re-read; when the row already equals `intended` nothing is written
 * (*out_in_place 1); when its content version is not `expected_version` (NULL: any) it fails
 * RG_ECONFLICT without writing, *out_live the row as read (for the caller's merge); else PUT
 * `intended`, and on an unknown outcome re-read first (up to 3 times) and PUT again only when
 * the row is still the one read before that PUT; then read back: a row
 * that differs from `intended` fails RG_ECONFLICT naming the org and the field (someone wrote
 * in between). *out_live is the last row read (caller decrefs). */
int rg_platform_row_write(json_t **out_live, int *out_in_place, rg_platform *platform,
                          const char *org_id, const char *table, const char *row,
                          const char *expected_version, json_t *intended);

/* Creates row `row` (`whole_row` carries it as "key") with POST .../rows, then reads it back:
 * a row that differs fails RG_ECONFLICT naming the org and the field. A refused POST (the key
 * exists: someone created it first) fails with the platform's error; one of unknown outcome
 * is decided by the read-back. @param[out] out_row the row read back (new reference). */
int rg_platform_row_create(json_t **out_row, rg_platform *platform, const char *org_id,
                           const char *table, const char *row, json_t *whole_row);
/* Deletes the row (DELETE .../rows/{row}); a row already gone is success; one still there on
 * read-back after a DELETE of unknown outcome fails RG_ECONFLICT. */
int rg_platform_row_delete(rg_platform *platform, const char *org_id, const char *table,
                           const char *row);

/* Pre-flight of a row change: the table exists; its schema has every field of `fields`
 * (a row without "key") with the value's type; each `weights` entry {weight field: queue
 * field} names an integer 0..100 and a queue that exists, and they sum to 100; the row
 * exists unless `create`. Errors name the org, table, field and expected type. */
int rg_platform_row_preflight(rg_platform *platform, const char *org_id, const char *table,
                              const char *row, json_t *fields, json_t *weights, int create);

/* Resources with a `version` field (IVR configs, schedule groups, emergency groups): GET and
 * full-replace PUT on `path` ("/api/v2/...", ids escaped; rg_platform_ivr_path builds an IVR
 * config's). A body without an integer "version" is an error. */
int rg_platform_ivr_path(char *out, size_t outlen, const char *ivr_id);
/* @param[out] out the resource body (new reference). 404 is RG_ENOTFOUND. */
int rg_platform_versioned_get(json_t **out, rg_platform *platform, const char *org_id,
                              const char *path);
/* The verified versioned write of `fields` (top-level fields of the body, neither "id" nor
 * "version"): GET; when every field already holds its value nothing is written
 * (*out_in_place 1); a field whose live value is neither `base`'s (the values rollgate last
 * saw, e.g. the snapshot's; NULL: as first read here) nor the intended one fails RG_ECONFLICT
 * naming the org and the field, without writing; else PUT the live body with the fields
 * merged in and the version read. A stale version (409, or 400 "does not match the current
 * version") re-reads and merges again, at most max_412_attempts PUTs; other people's edits
 * to other fields are kept. A PUT of unknown outcome (no answer, 5xx) is re-read first (up to
 * 3 times): in place = done; PUT again only while the version is the one read before it,
 * else RG_ECONFLICT. Finally read back: a field that differs fails RG_ECONFLICT (someone
 * wrote right after). Other 4xx fail with the platform's message (400: RG_EINVALID).
 * *out_live is the last body read (caller decrefs; may be NULL). */
int rg_platform_versioned_write(json_t **out_live, int *out_in_place, rg_platform *platform,
                                const char *org_id, const char *path, json_t *fields, json_t *base);
/* As rg_platform_versioned_write, but the first PUT carries the version of `read`, a body the
 * caller read (and recorded, e.g. as a snapshot) itself, instead of a new GET: a change since
 * that read is refused by the platform's version check and re-read as above. */
int rg_platform_versioned_write_from(json_t **out_live, int *out_in_place, rg_platform *platform,
                                     const char *org_id, const char *path, json_t *fields,
                                     json_t *base, json_t *read);

int rg_platform_run(rg_platform *platform);
/* Called by rg_platform_run each time it is about to wait for the network (NULL: none); it
 * returns the longest the wait may last in ms (< 0: no limit), so a caller that batches work
 * of its done callbacks (a store transaction) can close the batch within that bound. It may
 * not queue ops. Set it before the run; it stays until replaced. */
typedef int64_t (*rg_platform_idle_fn)(void *payload);
void rg_platform_set_idle(rg_platform *platform, rg_platform_idle_fn idle, void *payload);
/* Number of ops queued or in flight. */
size_t rg_platform_pending(const rg_platform *platform);

/* ---- op results (valid once the op completed; they live as long as the op) ---- */

/* 1 when the op has completed. */
int rg_platform_op_done(const rg_platform_op *op);
/* 0, or the negative RG_E* code it failed with. RG_EUNREACHABLE: no HTTP answer at all
 * (connection refused, DNS, TLS, resets or timeouts after every retry), also for ops that
 * failed because their org's token fetch did; an HTTP error answer is never that code. */
int rg_platform_op_status(const rg_platform_op *op);
/* 1 when the op failed for want of any HTTP answer (status RG_EUNREACHABLE). */
int rg_platform_op_unreachable(const rg_platform_op *op);
/* The failure message, naming org, call and reason ("" on success). */
const char *rg_platform_op_error(const rg_platform_op *op);
/* The last HTTP status seen (0 when none). */
long rg_platform_op_http_status(const rg_platform_op *op);
const char *rg_platform_op_org(const rg_platform_op *op);
/* The response body (borrowed; NULL when none, and for analytics ops, whose reply is kept
 * only as the parsed aggregates or observations). */
json_t *rg_platform_op_body(const rg_platform_op *op);
/* The ETag (strategy get and update; NULL otherwise). */
const char *rg_platform_op_etag(const rg_platform_op *op);
/* Number of PATCHes sent by an update (1 = no 412 and no lost reply). */
int rg_platform_op_patch_attempts(const rg_platform_op *op);
/* 1 when a successful update wrote nothing it got an answer for: the re-read found the
 * change already in place (before any PATCH, or after one whose reply was lost). */
int rg_platform_op_in_place(const rg_platform_op *op);
/* The parsed aggregates (NULL unless an aggregates op succeeded). */
const rg_platform_aggregates *rg_platform_op_aggregates(const rg_platform_op *op);
/* The parsed observations, one per queried queue in query order. */
const rg_platform_observation *rg_platform_op_observations(const rg_platform_op *op, size_t *count);
void rg_platform_op_free(rg_platform_op *op);

/* ---- synchronous wrappers (one op, one run; for the CLI) ---- */

/* @param[out] out_org  the organization body (new reference); may be NULL. */
int rg_platform_org_check(json_t **out_org, rg_platform *platform, const char *org_id);
/* 0 when the queue exists, RG_ENOTFOUND when not. */
int rg_platform_queue_exists(rg_platform *platform, const char *org_id, const char *queue_id);
/* @param[out] out_body new reference; out_etag caller frees. */
int rg_platform_strategy_get(json_t **out_body, char **out_etag, rg_platform *platform,
                             const char *org_id, const char *strategy_id);
/* @param[out] out_body, out_etag: the result; either may be NULL. */
int rg_platform_strategy_update(json_t **out_body, char **out_etag, rg_platform *platform,
                                const char *org_id, const char *strategy_id, const char *etag,
                                json_t *patch, rg_platform_merge_fn merge, void *merge_payload);

#endif
