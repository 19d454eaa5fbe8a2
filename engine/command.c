/* command.c - people's commands: approve, pause, resume, promote, rollback; executed by the
 * driver that holds the lease, or queued for it */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "rollgate/util.h"

static int refuse(const char **out, rg_rollout_ctx *ctx, const char *what)
{
    *out = "refused";
    return rg_error_set(RG_ECONFLICT, "cannot %s rollout %s: it is %s", what, ctx->row.id,
                        rg_rollout_state_to_str(ctx->row.state));
}

/* A hold during apply (a target the platform refused): promoting means going on without
 * the failed targets. They were never changed, so they become `unchanged`; the stage then
 * closes and soaks as usual. */
static int continue_without_failed(rg_rollout_ctx *ctx, const char *why)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ctx->targets.count; i++) {
        rg_store_target *t = &ctx->targets.items[i];
        if (t->state != RG_TARGET_APPLY_FAILED)
            continue;
        t->state = RG_TARGET_UNCHANGED;
        rc = rg_store_target_update(ctx->engine->store, t);
        if (rc == 0)
            rc =
                rg_engine__event(ctx, "target_skipped",
                                 json_pack("{s:s, s:s?}", "org", t->org_id, "error", t->last_error),
                                 "%s left unchanged after its apply failed (%s)", t->org_id, why);
    }
    ctx->next_ms = ctx->now_ms;
    return rc ? rc : rg_engine__set_state(ctx, RG_ROLLOUT_RUNNING, why);
}

/* promote --full --force --reason: the current stage ends now (a soaking one promotes, a
 * held apply goes on without its failed targets, a stage waiting for approval or behind a
 * pause step is approved), and every later stage applies, tier by tier, and promotes with
 * no soak (controls.c). */
static int promote_full(rg_rollout_ctx *ctx, const char *actor, const char *reason, int force,
                        const char *why, const char **out_outcome)
{
    rg_rollout_state s = ctx->row.state;
    int rc;

    if (!(force & RG_ENGINE_FORCE) || reason == NULL || *reason == '\0') {
        *out_outcome = "refused";
        return rg_error_set(RG_ECONFLICT, "promote --full needs --force and --reason TEXT");
    }
    if (s != RG_ROLLOUT_RUNNING && s != RG_ROLLOUT_HELD && s != RG_ROLLOUT_PAUSED &&
        s != RG_ROLLOUT_AWAITING_APPROVAL)
        return refuse(out_outcome, ctx, "promote --full");
    if ((rc = rg_engine__full_promotion_start(ctx, actor, reason)) < 0)
        return rc;
    if (ctx->row.stage_applied_at_ms == 0) {
        if (s == RG_ROLLOUT_HELD)
            return continue_without_failed(ctx, why);
        if (ctx->row.stage_started_at_ms == 0)
            ctx->row.stage_started_at_ms = ctx->now_ms;
        ctx->next_ms = ctx->now_ms;
        return s == RG_ROLLOUT_RUNNING ? rg_engine__save(ctx)
                                       : rg_engine__set_state(ctx, RG_ROLLOUT_RUNNING, why);
    }
    return rg_engine__promote(ctx, why);
}

int rg_engine__execute(rg_rollout_ctx *ctx, rg_command_kind kind, const char *actor,
                       const char *reason, int force, const char **out_outcome)
{
    rg_rollout_state s = ctx->row.state;
    char why[768];

    *out_outcome = "done";
    snprintf(why, sizeof(why), "%s by %s%s%s", rg_command_kind_to_str(kind), actor,
             reason ? ": " : "", reason ? reason : "");
    switch (kind) {
    case RG_COMMAND_APPROVE:
        if (s != RG_ROLLOUT_AWAITING_APPROVAL)
            return refuse(out_outcome, ctx, "approve");
        /* the stage this approval is for (a stage with approval: required, controls.c) */
        if (rg_engine__book_set_int(ctx, "approved_stage", ctx->row.stage_index + 1) < 0)
            return RG_ENOMEM;
        ctx->row.stage_started_at_ms = ctx->now_ms;
        ctx->next_ms = ctx->now_ms;
        return rg_engine__set_state(ctx, RG_ROLLOUT_RUNNING, why);
    case RG_COMMAND_PAUSE:
        if (s != RG_ROLLOUT_RUNNING)
            return refuse(out_outcome, ctx, "pause");
        if (rg_engine__pause_clock_stop(ctx) < 0)
            return rg_error_set(RG_ENOMEM, "out of memory");
        return rg_engine__set_state(ctx, RG_ROLLOUT_PAUSED, why);
    case RG_COMMAND_RESUME:
        if (rg_engine__gate_held(ctx)) /* the gate is asked again */
            return rg_engine__gate_resume(ctx, why);
        if (s != RG_ROLLOUT_PAUSED)
            return refuse(out_outcome, ctx,
                          s == RG_ROLLOUT_HELD ? "resume (a hold is released "
                                                 "by promote or rollback)"
                                               : "resume");
        {
            int64_t skipped = 0;
            if (rg_engine__pause_clock_resume(ctx, &skipped) < 0)
                return rg_error_set(RG_ENOMEM, "out of memory");
            if (skipped > 0)
                snprintf(why + strlen(why), sizeof(why) - strlen(why),
                         " (soak clock stopped for %lld ms)", (long long)skipped);
        }
        ctx->next_ms = ctx->now_ms;
        return rg_engine__set_state(ctx, RG_ROLLOUT_RUNNING, why);
    case RG_COMMAND_PROMOTE:
        if (force & RG_ENGINE_FULL)
            return promote_full(ctx, actor, reason, force, why, out_outcome);
        if (s == RG_ROLLOUT_HELD && ctx->row.stage_applied_at_ms == 0)
            return continue_without_failed(ctx, why);
        if (s == RG_ROLLOUT_HELD || (s == RG_ROLLOUT_RUNNING && force))
            return rg_engine__promote(ctx, why);
        if (s == RG_ROLLOUT_RUNNING)
            return refuse(out_outcome, ctx, "promote without --force");
        return refuse(out_outcome, ctx, "promote");
    case RG_COMMAND_ROLLBACK:
        if (rg_rollout_state_is_terminal(s) || s == RG_ROLLOUT_ROLLING_BACK)
            return refuse(out_outcome, ctx, "roll back");
        return rg_engine__trip(ctx, why);
    }
    return rg_error_set(RG_EINVALID, "unknown command");
}

int rg_engine__run_commands(rg_rollout_ctx *ctx)
{
    rg_store_commands pending = {0};
    int rc;

    if ((rc = rg_store_command_list_pending(&pending, ctx->engine->store, ctx->row.tenant_id,
                                            ctx->row.id)) < 0)
        return rc;
    /* Each command's effect, its completion and its audit commit in one transaction: a
     * crash before the commit leaves the command pending with no effect (it runs once, on
     * resume), after it the command is done (it never runs again). */
    for (size_t i = 0; i < pending.count; i++) {
        rg_store_command *c = &pending.items[i];
        const char *outcome = "done";
        char text[768];
        int erc, flags = (c->force ? RG_ENGINE_FORCE : 0) | (c->full ? RG_ENGINE_FULL : 0);
        if ((rc = rg_store_begin(ctx->engine->store)) < 0)
            break;
        erc = rg_engine__execute(ctx, c->kind, c->actor, c->reason, flags, &outcome);
        if (erc < 0 && erc != RG_ECONFLICT) {
            rg_store_rollback(ctx->engine->store);
            rc = erc;
            break;
        }
        rg_engine__crash_point("command_effect");
        snprintf(text, sizeof(text), "%s%s%s", outcome, erc < 0 ? ": " : "",
                 erc < 0 ? rg_error_last() : "");
        rc = rg_store_command_complete(ctx->engine->store, ctx->row.tenant_id, c->id,
                                       erc < 0 ? RG_COMMAND_FAILED : RG_COMMAND_DONE, text, 0);
        if (rc == 0)
            rc = rg_engine__audit(ctx->engine, ctx->row.tenant_id, ctx->row.id, c->actor,
                                  rg_command_kind_to_str(c->kind), c->reason, text,
                                  json_pack("{s:I, s:s}", "command", (json_int_t)c->id,
                                            "executed_by", ctx->engine->owner));
        if ((rc = rg_engine__tx_end(ctx, 1, rc)) < 0)
            break;
    }
    rg_store_commands_dispose(&pending);
    return rc;
}

/* After a forced rollback taken by the CLI itself: restore now, without a window. */
int rg_engine__drive_restore(rg_engine *engine, const char *tenant, const char *id)
{
    for (int i = 0; i < 64; i++) {
        rg_store_rollout row = {0};
        int64_t next = 0;
        int rc, busy;
        if ((rc = rg_engine_tick_rollout(engine, tenant, id, &next)) < 0)
            return rc;
        if ((rc = rg_store_rollout_get(&row, engine->store, tenant, id)) < 0)
            return rc;
        {
            /* restoring until the book records when the restore finished */
            json_t *book = row.baseline ? json_loads(row.baseline, 0, NULL) : NULL;
            busy = row.state == RG_ROLLOUT_ROLLING_BACK &&
                   json_object_get(book, "restored_at") == NULL;
            json_decref(book);
        }
        rg_store_rollout_dispose(&row);
        if (!busy)
            return 0;
    }
    return 0;
}

/* After a full promotion this process executed: every remaining stage now, tick by tick
 * (each applies one tier, closes the stage or promotes it), until the rollout completes
 * or stops (a held apply). Bounded: a tier per tick, every stage closes and promotes. */
static int drive_full(rg_engine *engine, const char *tenant, const char *id)
{
    for (int i = 0; i < 100000; i++) {
        rg_store_rollout row = {0};
        int64_t next = 0;
        int rc, running;
        if ((rc = rg_store_rollout_get(&row, engine->store, tenant, id)) < 0)
            return rc;
        running = row.state == RG_ROLLOUT_RUNNING;
        rg_store_rollout_dispose(&row);
        if (!running)
            return 0;
        if ((rc = rg_engine_tick_rollout(engine, tenant, id, &next)) < 0)
            return rc;
    }
    return 0;
}

int rg_engine_command(char **out_outcome, rg_engine *engine, const char *tenant_id,
                      const char *rollout_id, rg_command_kind kind, const char *actor,
                      const char *reason, int force)
{
    rg_rollout_ctx ctx;
    const char *outcome = "queued";
    int held = 0, rc, erc;

    if ((force & RG_ENGINE_FULL) && (kind != RG_COMMAND_PROMOTE || !(force & RG_ENGINE_FORCE) ||
                                     reason == NULL || *reason == '\0'))
        return rg_error_set(RG_EINVALID, "promote --full needs --force and --reason TEXT");
    {
        rg_store_rollout row = {0};
        if ((rc = rg_store_rollout_get(&row, engine->store, tenant_id, rollout_id)) < 0)
            return rc;
        rg_store_rollout_dispose(&row);
    }
    if ((rc = rg_engine__lease(&held, engine, tenant_id, rollout_id)) < 0)
        return rc;
    if (!held) {
        rg_store_command_in c = {0};
        c.rollout_id = rollout_id;
        c.tenant_id = tenant_id;
        c.kind = kind;
        c.actor = actor;
        c.reason = reason;
        c.force = (force & RG_ENGINE_FORCE) != 0;
        c.full = (force & RG_ENGINE_FULL) != 0;
        if ((rc = rg_store_command_enqueue(NULL, engine->store, &c)) < 0 ||
            (rc = rg_engine__audit(engine, tenant_id, rollout_id, actor,
                                   rg_command_kind_to_str(kind), reason, "queued for the driver",
                                   NULL)) < 0)
            return rc;
        if (out_outcome)
            *out_outcome = rg_strdup("queued");
        return 0;
    }
    if ((rc = rg_engine__ctx_load(&ctx, engine, tenant_id, rollout_id)) < 0)
        goto release;
    /* The effect and its audit commit together, as for a queued command. */
    if ((rc = rg_store_begin(engine->store)) < 0) {
        rg_engine__ctx_dispose(&ctx);
        goto release;
    }
    erc = rg_engine__execute(&ctx, kind, actor, reason, force, &outcome);
    {
        char text[768];
        snprintf(text, sizeof(text), "%s%s%s", outcome, erc < 0 ? ": " : "",
                 erc < 0 ? rg_error_last() : "");
        if (erc < 0 && erc != RG_ECONFLICT) {
            rg_store_rollback(engine->store);
            rc = erc;
        } else {
            rg_engine__crash_point("command_effect");
            rc = rg_engine__audit(engine, tenant_id, rollout_id, actor,
                                  rg_command_kind_to_str(kind), reason, text, NULL);
            rc = rg_engine__tx_end(&ctx, 1, rc);
        }
        if (erc < 0)
            rg_error_set(erc, "%s", text + strlen(outcome) + 2);
    }
    rg_engine__ctx_dispose(&ctx);
    rc = erc < 0 ? erc : rc;
    if (rc == 0 && kind == RG_COMMAND_ROLLBACK)
        rc = rg_engine__drive_restore(engine, tenant_id, rollout_id);
    if (rc == 0 && kind == RG_COMMAND_PROMOTE && (force & RG_ENGINE_FULL))
        rc = drive_full(engine, tenant_id, rollout_id);
    if (rc == 0 && out_outcome)
        *out_outcome = rg_strdup(outcome);
release:
    rg_engine__lease_end(engine);
    rg_store_lease_release(NULL, engine->store, tenant_id, rollout_id, engine->owner);
    return rc;
}
