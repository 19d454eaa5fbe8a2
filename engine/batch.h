/* batch.h - one tier of verified resource writes (data-table rows, versioned resources): the
 * loop over its targets with the resource kind's steps as callbacks, and the per-target records
 * every kind shares (batch.c) */
#ifndef RG_ENGINE_BATCH_H
#define RG_ENGINE_BATCH_H

#include "engine/engine_private.h"

/* What every kind's item starts with. `fields` is a copy of the target's rendered body, which
 * the kind may edit (capacity weights); `write` is set by the kind's `read` step. */
typedef struct rg_engine_batch_item {
    rg_rollout_ctx *ctx;
    rg_store_target *target;
    json_t *fields;
    int write;
} rg_engine_batch_item;

/* A resource kind's steps. Items are `item_size` bytes each, zeroed, starting with an
 * rg_engine_batch_item. With `queue`, every target's reads are queued and run as one platform
 * batch, then `read` takes each one's snapshot and says whether it needs a write (crash point
 * after_snapshot after the last); without, every target is written. `write` runs one target at
 * a time, in order, while every step before returned 0. */
typedef struct rg_engine_batch_kind {
    size_t item_size;
    const char *rendered; /* what the rendered body is ("row", "fields"), for its error */
    int (*queue)(void *items, size_t n, rg_platform *pf);
    int (*read)(void *item);
    int (*write)(void *item);
    void (*dispose)(void *item); /* what the kind added to an item; may be NULL */
} rg_engine_batch_kind;

int rg_engine__apply_batch(rg_rollout_ctx *ctx, rg_store_target **tier, size_t n,
                           const rg_engine_batch_kind *kind);

/* A failed attempt: counted, "what: why" kept as the target's last error, apply_failed when
 * `permanent` or out of attempts; narrated and stored. */
int rg_engine__target_failed(rg_rollout_ctx *ctx, rg_store_target *t, const char *what,
                             const char *why, int permanent);
/* The snapshot (`live`, with `version` where an ETag would be) and the target, snapshotted
 * with `intended` as its applied body, in one synchronous=FULL transaction. A snapshot an
 * earlier run took stays: the first is the true pre-change body. */
int rg_engine__target_snapshot(rg_rollout_ctx *ctx, rg_store_target *t, const char *version,
                               const json_t *live, const json_t *intended);
/* The target applied: `applied` as its body, `version` as its ETag, the error cleared; narrated
 * as "<org> <what> (<how>)", how: 1 = written and read back, 0 = in place before any write,
 * -1 = a re-read after a write whose outcome was unknown found it in place. */
int rg_engine__target_applied(rg_rollout_ctx *ctx, rg_store_target *t, const json_t *applied,
                              const char *version, const char *what, int how);
/* The snapshot a crashed or retried run took (new reference), or NULL. */
json_t *rg_engine__target_stored_snapshot(rg_rollout_ctx *ctx, const rg_store_target *t);
/* Renews the lease before a write that is a platform batch of its own (none when unleased). */
int rg_engine__lease_renew(rg_rollout_ctx *ctx);

#endif
