/* verify.c - the verification after a restore: the restored organizations' telemetry
 * against their own pre-change window, one fixed-sample look per metric */
#include <stdlib.h>

#include "engine/engine_private.h"
#include "engine/telemetry.h"
#include "engine/verdict_inputs.h"
#include "rollgate/util.h"

/* After the restore: the restored orgs against their own pre-change window. */
int rg_engine__verify(rg_rollout_ctx *ctx)
{
    const rg_policy *p = ctx->manifest->policy;
    int64_t restored_at = rg_engine__book_int(ctx, "restored_at");
    int64_t first = rg_engine__book_int(ctx, "first_started_at"), g = p->granularity_ms;
    int64_t from = restored_at + p->settle_ms, due = from + p->verify_window_ms;
    const char **orgs = calloc(ctx->targets.count + 1, sizeof(*orgs));
    const char *result = "passed";
    size_t n = 0;
    int rc = 0, fails = 0, passes = 0;

    if (orgs == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < ctx->targets.count; i++)
        if (ctx->targets.items[i].state == RG_TARGET_RESTORED &&
            ctx->targets.items[i].restored_etag != NULL)
            orgs[n++] = ctx->targets.items[i].org_id;
    /* Nothing restored: nothing to verify, so the rollout ends now (and frees its claims)
     * rather than after settle + verify_window. */
    if (n == 0 || first == 0) {
        free(orgs);
        return rg_engine__gate_finish_rollback(ctx, RG_ROLLOUT_ROLLED_BACK,
                                               "nothing had been changed");
    }
    if (ctx->now_ms < due) {
        ctx->next_ms = due;
        free(orgs);
        return 0;
    }
    {
        int64_t pre_to = first - first % g, pre_from = pre_to - p->pre_window_ms;
        int64_t post_from = from + (g - from % g) % g, post_to = ctx->now_ms - ctx->now_ms % g;
        rc = rg_engine__fetch_telemetry(ctx, orgs, n, pre_from, pre_to);
        if (rc == 0)
            rc = rg_engine__fetch_telemetry(ctx, orgs, n, post_from, post_to);
        for (size_t i = 0; rc == 0 && i < p->metrics_count; i++) {
            rg_cells pre = {0}, post = {0};
            rg_verdict_state st = {
                .msprt_prev_p = 1, .cache = ctx->engine->cache, .verification = 1};
            rg_stats_verdict v;
            const rg_policy_metric *m = &p->metrics[i];
            if ((rc = rg_engine__window(&pre, ctx, m, orgs, n, pre_from, pre_to)) == 0 &&
                (rc = rg_engine__window(&post, ctx, m, orgs, n, post_from, post_to)) == 0) {
                rg_verdict_windows w = {.canary_pre = {pre.cells, pre.n},
                                        .canary_post = {post.cells, post.n}};
                rc = rg_engine__verdict(&v, p, m, &w, &st);
            }
            if (rc == 0) {
                fails += v.decision == RG_DECISION_FAIL;
                passes += v.decision == RG_DECISION_PASS;
                rg_engine__narrate(ctx, "verify", "verification %s: %s — %s", m->name,
                                   rg_decision_name(v.decision), v.reason);
            }
            rg_cells_dispose(&pre);
            rg_cells_dispose(&post);
        }
    }
    free(orgs);
    if (rc < 0) {
        rg_engine__narrate(ctx, "verify", "verification could not read telemetry: %s",
                           rg_error_last());
        result = "inconclusive";
    } else if (fails) {
        result = "failed";
    } else if (passes < (int)p->metrics_count) {
        result = "inconclusive";
    }
    free(ctx->row.verification);
    ctx->row.verification = rg_strdup(result);
    return rg_engine__gate_finish_rollback(ctx, RG_ROLLOUT_ROLLED_BACK, result);
}
