/* controls.c - what people's controls do to a rollout: a pause stops the soak clock; stage
 * approvals, pause steps and a full promotion */
#include <stdio.h>

#include "engine/engine_private.h"
#include "engine/planner.h"
#include "rollgate/util.h"

/* A pause records when it began (book "paused_at"). */
int rg_engine__pause_clock_stop(rg_rollout_ctx *ctx)
{
    return rg_engine__book_set_int(ctx, "paused_at", ctx->now_ms);
}

/* A resume moves the soak's start (stage_applied_at) later by the time paused, so the soak
 * window, the look index (elapsed / poll_interval) and every due time resume where they
 * stopped: the look after a 10 s pause is the next look in order, and its post window holds
 * as much soak as it would have without the pause. The time paused is added up in the book
 * ("paused_ms") for status and audit. A pause before the stage was applied has no soak to
 * stop. See docs/statistics.md, "Pauses". */
int rg_engine__pause_clock_resume(rg_rollout_ctx *ctx, int64_t *out_paused_ms)
{
    int64_t at = rg_engine__book_int(ctx, "paused_at"), d = 0;
    int rc = 0;

    if (at > 0 && ctx->now_ms > at)
        d = ctx->now_ms - at;
    json_object_del(ctx->book, "paused_at");
    if (d > 0 && ctx->row.stage_applied_at_ms > 0) {
        ctx->row.stage_applied_at_ms += d;
        rc = rg_engine__book_set_int(ctx, "paused_ms", rg_engine__book_int(ctx, "paused_ms") + d);
    }
    if (out_paused_ms)
        *out_paused_ms = ctx->row.stage_applied_at_ms > 0 ? d : 0;
    return rc;
}

/* Per-stage approval (manifest `stages: [.., {percent, approval: required}]`): before any
 * target of stage k > 0 is changed, the rollout waits in awaiting_approval until a person's
 * approve records book "approved_stage" = k + 1. Stage 0's approval is the rollout's own
 * (rg_engine_start). A full promotion (promote --full --force) approves every stage. */
int rg_engine__stage_gate(rg_rollout_ctx *ctx, int *out_stopped)
{
    int k = ctx->row.stage_index;
    char why[256];

    *out_stopped = 0;
    if (k <= 0 || (size_t)k >= ctx->manifest->stages_count ||
        !ctx->manifest->stages[k].approval_required || rg_engine__full_promotion(ctx) ||
        rg_engine__book_int(ctx, "approved_stage") == k + 1)
        return 0;
    *out_stopped = 1;
    snprintf(why, sizeof(why),
             "stage %d/%d (%d%%) requires approval before its organizations "
             "are changed",
             k + 1, ctx->row.stage_count, rg_engine__stage_percent(ctx, k));
    return rg_engine__set_state(ctx, RG_ROLLOUT_AWAITING_APPROVAL, why);
}

/* The pause step (`{percent, pause: true}`): the stage passed and the rollout has moved to
 * the next stage, whose targets are not changed yet; it waits in paused (no soak clock
 * runs) until a person resumes. */
int rg_engine__pause_step(rg_rollout_ctx *ctx, int from, const char *why)
{
    char reason[1024];

    snprintf(reason, sizeof(reason),
             "pause step: stage %d/%d (%d%%) passed (%s); resume to "
             "expand to %d%%",
             from + 1, ctx->row.stage_count, rg_engine__stage_percent(ctx, from), why,
             rg_engine__stage_percent(ctx, from + 1));
    return rg_engine__set_state(ctx, RG_ROLLOUT_PAUSED, reason);
}

/* promote --full: book "promote_full" {actor, reason, at} makes every later stage apply
 * (tier by tier as always) and promote at once, with no soak, no approval and no pause. */
int rg_engine__full_promotion(const rg_rollout_ctx *ctx)
{
    return json_is_object(json_object_get(ctx->book, "promote_full"));
}

int rg_engine__full_promotion_start(rg_rollout_ctx *ctx, const char *actor, const char *reason)
{
    json_t *full = json_pack("{s:s, s:s, s:I, s:i}", "actor", actor, "reason", reason, "at",
                             (json_int_t)ctx->now_ms, "from_stage", ctx->row.stage_index);

    if (full == NULL || json_object_set_new(ctx->book, "promote_full", full) < 0)
        return rg_error_set(RG_ENOMEM, "out of memory");
    json_object_del(ctx->book, "paused_at");
    return 0;
}

/* The soak step of a stage under a full promotion: the stage is applied; promote it now. */
int rg_engine__full_promotion_step(rg_rollout_ctx *ctx)
{
    const json_t *full = json_object_get(ctx->book, "promote_full");
    char why[768];

    snprintf(why, sizeof(why), "promote --full by %s: %s",
             json_string_value(json_object_get(full, "actor")),
             json_string_value(json_object_get(full, "reason")));
    return rg_engine__promote(ctx, why);
}
