/* controls.c - what people's controls do to a rollout's clocks: a pause stops the soak */
#include "engine/engine_private.h"
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
