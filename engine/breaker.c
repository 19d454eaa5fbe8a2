/* breaker.c - the breaker: the promote / hold / trip rule over a poll's verdicts
 * (rg_engine__poll_rule), and what each decision does to the rollout (promote, trip) */
#include <stdio.h>
#include <string.h>

#include "engine/engine_private.h"
#include "engine/planner.h"
#include "engine/verdict_inputs.h"

rg_poll_action rg_engine__poll_rule(char *why, size_t whylen, const rg_policy *p,
                                    const rg_stats_verdict *v, int64_t *streaks, int poll,
                                    int planned, int stage_index)
{
    int all_pass = 1;

    why[0] = '\0';
    for (size_t i = 0; i < p->metrics_count; i++) {
        const rg_policy_metric *m = &p->metrics[i];
        streaks[i] = v[i].decision == RG_DECISION_FAIL ? streaks[i] + 1 : 0;
        all_pass &= v[i].decision == RG_DECISION_PASS;
        if (why[0] == '\0' && v[i].decision == RG_DECISION_FAIL &&
            (m->critical || streaks[i] >= p->breaker_consecutive)) {
            if (m->critical && streaks[i] < p->breaker_consecutive)
                snprintf(why, whylen,
                         "%s failed at stage %d, and a critical metric trips on "
                         "its first failure: %s",
                         m->name, stage_index + 1, v[i].reason);
            else
                snprintf(why, whylen,
                         "%s failed %lld polls in a row at stage %d "
                         "(breaker.consecutive: %d): %s",
                         m->name, (long long)streaks[i], stage_index + 1, p->breaker_consecutive,
                         v[i].reason);
        }
    }
    if (why[0])
        return RG_POLL_TRIP;
    if (all_pass) {
        snprintf(why, whylen, "every metric passed");
        return RG_POLL_PROMOTE;
    }
    if (poll < planned)
        return RG_POLL_CONTINUE;
    switch (p->on_inconclusive) {
    case RG_ON_INCONCLUSIVE_PROMOTE:
        snprintf(why, whylen, "inconclusive at the soak limit; policy promotes");
        return RG_POLL_PROMOTE;
    case RG_ON_INCONCLUSIVE_ROLLBACK:
        snprintf(why, whylen, "inconclusive at the soak limit; policy rolls back");
        return RG_POLL_TRIP;
    default:
        snprintf(why, whylen,
                 "inconclusive at the soak limit (poll %d/%d) of stage %d: promote or rollback",
                 poll, planned, stage_index + 1);
        return RG_POLL_HOLD;
    }
}

/* What the poll's verdicts mean for the rollout (rg_engine__poll_rule). */
int rg_engine__breaker(rg_rollout_ctx *ctx, const rg_stats_verdict *v, int poll, int planned)
{
    const rg_policy *p = ctx->manifest->policy;
    json_t *streak = json_object_get(ctx->book, "fail_streak");
    int64_t streaks[RG_POLICY_MAX_METRICS];
    char why[512] = "";
    rg_poll_action action;

    if (streak == NULL)
        json_object_set_new(ctx->book, "fail_streak", streak = json_object());
    for (size_t i = 0; i < p->metrics_count; i++)
        streaks[i] = json_integer_value(json_object_get(streak, p->metrics[i].name));
    action =
        rg_engine__poll_rule(why, sizeof(why), p, v, streaks, poll, planned, ctx->row.stage_index);
    for (size_t i = 0; i < p->metrics_count; i++)
        json_object_set_new(streak, p->metrics[i].name, json_integer(streaks[i]));
    switch (action) {
    case RG_POLL_TRIP: return rg_engine__trip(ctx, why);
    case RG_POLL_PROMOTE: return rg_engine__gate_promote(ctx, why);
    case RG_POLL_HOLD: return rg_engine__set_state(ctx, RG_ROLLOUT_HELD, why);
    default: break;
    }
    ctx->next_ms = ctx->row.stage_applied_at_ms + (int64_t)(poll + 1) * p->poll_interval_ms;
    return rg_engine__save(ctx);
}

static int promote(rg_rollout_ctx *ctx, const char *why);

/* A promotion's events and its row change commit together. */
int rg_engine__promote(rg_rollout_ctx *ctx, const char *why)
{
    int own = 0, rc;

    if ((rc = rg_engine__tx_begin(ctx, &own)) < 0)
        return rc;
    return rg_engine__tx_end(ctx, own, promote(ctx, why));
}

static int promote(rg_rollout_ctx *ctx, const char *why)
{
    int from = ctx->row.stage_index, rc;

    json_object_del(ctx->book, "fail_streak");
    json_object_del(ctx->book, "msprt_p");
    json_object_del(ctx->book, "fractions");
    json_object_del(ctx->book, "poll");
    json_object_del(ctx->book, "errors");
    json_object_del(ctx->book, "gate_pending");
    json_object_del(ctx->book, "gate_hold");
    if (from + 1 >= ctx->row.stage_count) {
        rc = rg_engine__event(ctx, "completed", json_pack("{s:s}", "reason", why),
                              "stage %d/%d passed (%s); rollout completed", from + 1,
                              ctx->row.stage_count, why);
        return rc < 0 ? rc : rg_engine__set_state(ctx, RG_ROLLOUT_COMPLETED, why);
    }
    ctx->row.stage_index = from + 1;
    ctx->row.stage_started_at_ms = ctx->now_ms;
    ctx->row.stage_applied_at_ms = 0;
    ctx->next_ms = ctx->now_ms;
    rc = rg_engine__event(ctx, "promoted",
                          json_pack("{s:i, s:i, s:s}", "from", from, "to", from + 1, "reason", why),
                          "stage %d/%d promoted (%s); expanding to %d%%", from + 1,
                          ctx->row.stage_count, why, rg_engine__stage_percent(ctx, from + 1));
    if (rc < 0)
        return rc;
    if (ctx->manifest->stages[from].pause && !rg_engine__full_promotion(ctx))
        return rg_engine__pause_step(ctx, from, why);
    if (ctx->row.state != RG_ROLLOUT_RUNNING) /* a person released a hold */
        return rg_engine__set_state(ctx, RG_ROLLOUT_RUNNING, why);
    return rg_engine__save(ctx);
}

/* The trip's event and the state change commit together. */
int rg_engine__trip(rg_rollout_ctx *ctx, const char *why)
{
    int own = 0, rc;

    json_object_set_new(ctx->book, "trip_reason", json_string(why));
    json_object_set_new(ctx->book, "tripped_at", json_integer(ctx->now_ms));
    if ((rc = rg_engine__tx_begin(ctx, &own)) < 0)
        return rc;
    rc = rg_engine__event(ctx, "tripped", json_pack("{s:s}", "reason", why), "breaker tripped: %s",
                          why);
    if (rc == 0)
        rg_engine__crash_point("after_trip");
    ctx->next_ms = ctx->now_ms;
    if (rc == 0)
        rc = rg_engine__set_state(ctx, RG_ROLLOUT_ROLLING_BACK, why);
    return rg_engine__tx_end(ctx, own, rc);
}
