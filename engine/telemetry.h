/* telemetry.h - windows of (org, bucket) cells built from stored measurements */
#ifndef RG_ENGINE_TELEMETRY_H
#define RG_ENGINE_TELEMETRY_H

#include "engine/engine_private.h"

typedef struct {
    rg_stats_cell *cells;
    size_t n;
    uint32_t *orgs; /* each cell's org: its position among the window's orgs, sorted by id */
} rg_cells;

/* The cells of `metric` for `orgs` over buckets starting in [from, to): per org and bucket,
 * summed over the watched queues. Proportion: count = trials, value = events; mean:
 * count = source count, value = source sum (ms). */
int rg_engine__window(rg_cells *out, rg_rollout_ctx *ctx, const rg_policy_metric *metric,
                      const char *const *orgs, size_t norgs, int64_t from_ms, int64_t to_ms);
void rg_cells_dispose(rg_cells *cells);

#endif
