/* context.c - one rollout's tick context: load from the store, the platform client, state
 * changes with events, the bookkeeping object */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "rollgate/util.h"

void rg_engine__parsed_release(rg_engine_parsed *parsed)
{
    if (parsed == NULL)
        return;
    rg_manifest_free(parsed->manifest);
    rg_resolution_free(parsed->resolution);
    free(parsed->tenant_id);
    free(parsed->rollout_id);
    free(parsed->text);
    free(parsed);
}

/* The rollout's stored manifest parsed and resolved: the engine's last one when the text is
 * the same (it is what the text alone yields), else parsed now and kept in its place. */
static int ctx_parse(rg_rollout_ctx *ctx, const char *tenant_id, const char *rollout_id)
{
    rg_engine *e = ctx->engine;
    rg_engine_parsed *p = e->parsed, *fresh;
    const char *text = ctx->row.manifest;
    int rc;

    if (p != NULL && strcmp(p->tenant_id, tenant_id) == 0 &&
        strcmp(p->rollout_id, rollout_id) == 0 && strcmp(p->text, text) == 0) {
        p->holders++;
        ctx->parsed = p;
        ctx->manifest = p->manifest;
        ctx->resolution = p->resolution;
        return 0;
    }
    if ((fresh = calloc(1, sizeof(*fresh))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    rc = rg_manifest_load_buffer(&fresh->manifest, "stored manifest", text, strlen(text), NULL,
                                 NULL);
    if (rc < 0)
        rg_error_prefix("rollout %s", rollout_id);
    if (rc == 0)
        rc = rg_manifest_resolve(&fresh->resolution, fresh->manifest);
    if (rc == 0 && ((fresh->tenant_id = rg_strdup(tenant_id)) == NULL ||
                    (fresh->rollout_id = rg_strdup(rollout_id)) == NULL ||
                    (fresh->text = rg_strdup(text)) == NULL))
        rc = rg_error_set(RG_ENOMEM, "out of memory");
    if (rc < 0) {
        rg_engine__parsed_release(fresh);
        return rc;
    }
    if (p != NULL) {
        p->stale = 1;
        if (p->holders == 0)
            rg_engine__parsed_release(p);
    }
    e->parsed = fresh;
    fresh->holders = 1;
    ctx->parsed = fresh;
    ctx->manifest = fresh->manifest;
    ctx->resolution = fresh->resolution;
    return 0;
}

int rg_engine__ctx_load(rg_rollout_ctx *ctx, rg_engine *engine, const char *tenant_id,
                        const char *rollout_id)
{
    json_error_t jerr;
    int rc;

    memset(ctx, 0, sizeof(*ctx));
    ctx->engine = engine;
    ctx->now_ms = rg_time_now_ms();
    ctx->next_ms = ctx->now_ms + engine->opts.tick_ms;
    if ((rc = rg_store_rollout_get(&ctx->row, engine->store, tenant_id, rollout_id)) < 0)
        return rc;
    if ((rc = ctx_parse(ctx, tenant_id, rollout_id)) < 0)
        goto fail;
    if ((rc = rg_store_target_list(&ctx->targets, engine->store, tenant_id, rollout_id)) < 0)
        goto fail;
    if (ctx->targets.count != ctx->resolution->count) {
        rc = rg_error_set(RG_EDB, "rollout %s: %zu targets stored but the manifest resolves %zu",
                          rollout_id, ctx->targets.count, ctx->resolution->count);
        goto fail;
    }
    ctx->book = ctx->row.baseline ? json_loads(ctx->row.baseline, 0, &jerr) : json_object();
    if (!json_is_object(ctx->book)) {
        rc = rg_error_set(RG_EDB, "rollout %s: bookkeeping is not a JSON object", rollout_id);
        goto fail;
    }
    return 0;
fail:
    rg_engine__ctx_dispose(ctx);
    return rc;
}

void rg_engine__ctx_dispose(rg_rollout_ctx *ctx)
{
    rg_store_rollout_dispose(&ctx->row);
    if (ctx->parsed != NULL) {
        /* the engine's copy: freed here only when it was replaced meanwhile */
        if (--ctx->parsed->holders == 0 && ctx->parsed->stale)
            rg_engine__parsed_release(ctx->parsed);
    } else {
        rg_manifest_free(ctx->manifest);
        rg_resolution_free(ctx->resolution);
    }
    rg_store_targets_dispose(&ctx->targets);
    if (ctx->platform && ctx->engine)
        rg_engine__count_platform(ctx->engine, ctx->platform);
    rg_platform_free(ctx->platform);
    json_decref(ctx->org_errors);
    json_decref(ctx->book);
    rg_engine__window_cache_free(ctx);
    memset(ctx, 0, sizeof(*ctx));
}

/* A credentials error without its "org ID: " lead: one unsafe file is one cause for every
 * organization it serves, logged once with how many it hit. */
static const char *credentials_cause(const char *msg, const char *org_id)
{
    size_t n = strlen(org_id);
    if (strncmp(msg, "org ", 4) == 0 && strncmp(msg + 4, org_id, n) == 0 &&
        strncmp(msg + 4 + n, ": ", 2) == 0)
        return msg + 4 + n + 2;
    return msg;
}

void rg_engine__analytics_options(rg_platform_options *opts, const rg_manifest *m)
{
    if (m != NULL && m->policy != NULL) {
        opts->media_type = m->policy->media_type;
        opts->predicate_batch = m->policy->predicate_batch;
    }
}

/* rg_platform_options.may_write: a write a platform call decides after a re-read. */
static int may_write(void *payload)
{
    return rg_engine__lease_confirm(payload);
}

int rg_engine__platform(rg_platform **out, rg_rollout_ctx *ctx)
{
    const rg_manifest_platform *mp = &ctx->manifest->platform;
    rg_platform_options opts = ctx->engine->opts.platform;
    rg_buf cred = RG_BUF_INIT;
    char cause[512] = "";
    size_t same = 0;
    int rc = 0;

    if (ctx->platform) {
        *out = ctx->platform;
        return 0;
    }
    opts.insecure = ctx->engine->opts.add_org ? 0 : mp->insecure;
    rg_engine__analytics_options(&opts, ctx->manifest);
    opts.may_write = may_write;
    opts.may_write_payload = ctx;
    if ((rc = rg_platform_new(&ctx->platform, &opts)) < 0)
        return rc;
    if (mp->credentials == RG_CREDENTIALS_FILE)
        rc = rg_buf_printf(&cred, "file:%s", mp->credentials_path);
    else
        rc = rg_buf_puts(&cred, "env");
    if (rc == 0 && (ctx->org_errors = json_object()) == NULL)
        rc = rg_error_set(RG_ENOMEM, "out of memory");
    rg_platform_credentials_begin(ctx->platform);
    for (size_t i = 0; rc == 0 && i < ctx->targets.count; i++) {
        const rg_store_target *t = &ctx->targets.items[i];
        rg_platform_org org = {t->org_id, t->api_url, t->login_url, rg_buf_cstr(&cred)};
        if (rg_platform_has_org(ctx->platform, t->org_id) ||
            json_object_get(ctx->org_errors, t->org_id))
            continue;
        /* One org's missing or unsafe credentials must not stop the others (a rollback
         * restores every org it can reach); its own steps record why. */
        if ((ctx->engine->opts.add_org
                 ? ctx->engine->opts.add_org(ctx->platform, ctx->row.tenant_id, t->org_id,
                                             ctx->engine->opts.add_org_payload)
                 : rg_platform_add_org(ctx->platform, &org)) < 0) {
            const char *why = credentials_cause(rg_error_last(), t->org_id);
            if (cause[0] && strcmp(why, cause) == 0) {
                same++;
            } else {
                if (same)
                    rg_log(RG_LOG_WARN, "engine", "%s: %zu more organizations: %s", ctx->row.id,
                           same, cause);
                rg_log(RG_LOG_WARN, "engine", "%s: %s", ctx->row.id, rg_error_last());
                snprintf(cause, sizeof(cause), "%s", why);
                same = 0;
            }
            json_object_set_new(ctx->org_errors, t->org_id, json_string(rg_error_last()));
        }
    }
    rg_platform_credentials_end(ctx->platform);
    if (same)
        rg_log(RG_LOG_WARN, "engine", "%s: %zu more organizations: %s", ctx->row.id, same, cause);
    rg_buf_dispose(&cred);
    if (rc < 0) {
        rg_platform_free(ctx->platform);
        ctx->platform = NULL;
        return rc;
    }
    *out = ctx->platform;
    return 0;
}

const char *rg_engine__org_error(const rg_rollout_ctx *ctx, const char *org_id)
{
    return json_string_value(json_object_get(ctx->org_errors, org_id));
}

const json_t *rg_engine__target_body(const rg_rollout_ctx *ctx, const rg_store_target *t)
{
    /* seq is the position in rollout order, so this is a direct look-up; the scan below
     * is only for a resolution that does not number its targets that way. */
    if (t->seq >= 0 && (size_t)t->seq < ctx->resolution->count &&
        (int64_t)ctx->resolution->targets[t->seq].seq == t->seq)
        return ctx->resolution->targets[t->seq].body;
    for (size_t i = 0; i < ctx->resolution->count; i++) {
        const rg_resolved_target *r = &ctx->resolution->targets[i];
        if ((int64_t)r->seq == t->seq)
            return r->body;
    }
    return NULL;
}

void rg_engine__narrate(rg_rollout_ctx *ctx, const char *kind, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    rg_engine *e = ctx->engine;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    rg_log(RG_LOG_INFO, "engine", "%s: %s", ctx->row.id, line);
    if (e->opts.narrate)
        e->opts.narrate(ctx->row.id, kind, line, e->opts.narrate_payload);
}

int rg_engine__event(rg_rollout_ctx *ctx, const char *kind, json_t *detail, const char *fmt, ...)
{
    rg_store_event_in ev = {0};
    char line[1024];
    char *detail_text = NULL;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (detail == NULL)
        detail = json_object();
    json_object_set_new(detail, "line", json_string(line));
    detail_text = json_dumps(detail, JSON_COMPACT);
    json_decref(detail);
    ev.rollout_id = ctx->row.id;
    ev.tenant_id = ctx->row.tenant_id;
    ev.kind = kind;
    ev.detail = detail_text;
    ev.at_ms = ctx->now_ms;
    rc = rg_store_event_append(NULL, ctx->engine->store, &ev);
    free(detail_text);
    /* Chart data ("levels") is for machines; a person watching gets the verdict lines. */
    if (rc == 0 && strcmp(kind, "levels") != 0)
        rg_engine__narrate(ctx, kind, "%s", line);
    return rc;
}

int rg_engine__save(rg_rollout_ctx *ctx)
{
    char *book = json_dumps(ctx->book, JSON_COMPACT | JSON_SORT_KEYS);
    int rc;

    if (book == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory saving rollout bookkeeping");
    free(ctx->row.baseline);
    ctx->row.baseline = book;
    rc = rg_store_rollout_update(ctx->engine->store, &ctx->row);
    if (rc == RG_ECONFLICT)
        rg_error_prefix("rollout %s changed under this driver (lease lost?)", ctx->row.id);
    return rc;
}

int rg_engine__tx_begin(rg_rollout_ctx *ctx, int *out_own)
{
    int rc;

    *out_own = 0;
    if (rg_store_in_transaction(ctx->engine->store))
        return 0;
    if ((rc = rg_store_begin(ctx->engine->store)) < 0)
        return rc;
    *out_own = 1;
    return 0;
}

int rg_engine__tx_end(rg_rollout_ctx *ctx, int own, int rc)
{
    if (!own)
        return rc;
    if (rc == 0) {
        rg_engine__crash_point("before_commit");
        if ((rc = rg_store_commit(ctx->engine->store)) == 0)
            return 0;
    }
    rg_store_rollback(ctx->engine->store);
    return rc;
}

/* The state change, its event and (when the rollout ends) the release of its claims commit
 * together: a crash leaves all of them or none. */
int rg_engine__set_state(rg_rollout_ctx *ctx, rg_rollout_state state, const char *reason)
{
    rg_rollout_state from = ctx->row.state;
    json_t *detail;
    char *detail_text;
    int rc, own = 0;

    if (state == RG_ROLLOUT_ROLLING_BACK && from != state)
        rg_engine__count(ctx->engine, 1, 0);
    if ((state == RG_ROLLOUT_ROLLED_BACK || state == RG_ROLLOUT_ROLLBACK_INCOMPLETE) &&
        from != state)
        rg_engine__count(ctx->engine, 0, 1);
    ctx->row.state = state;
    free(ctx->row.hold_reason);
    ctx->row.hold_reason = NULL;
    /* (awaiting_approval with a reason: a stage's approval, controls.c) */
    if ((state == RG_ROLLOUT_HELD || state == RG_ROLLOUT_PAUSED ||
         state == RG_ROLLOUT_AWAITING_APPROVAL) &&
        reason)
        ctx->row.hold_reason = rg_strdup(reason);
    if ((rc = rg_engine__tx_begin(ctx, &own)) < 0)
        return rc;
    if ((rc = rg_engine__save(ctx)) < 0)
        return rg_engine__tx_end(ctx, own, rc);
    rg_engine__crash_point("after_state_save");
    detail = json_pack("{s:s?}", "reason", reason);
    detail_text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    rc = rg_store_event_append(NULL, ctx->engine->store,
                               &(rg_store_event_in){.rollout_id = ctx->row.id,
                                                    .tenant_id = ctx->row.tenant_id,
                                                    .kind = "state",
                                                    .from_state = rg_rollout_state_to_str(from),
                                                    .to_state = rg_rollout_state_to_str(state),
                                                    .detail = detail_text,
                                                    .at_ms = ctx->now_ms});
    free(detail_text);
    /* An ended rollout no longer holds its orgs: after its restore, if it had one. */
    if (rc == 0 && rg_rollout_state_is_terminal(state))
        rc = rg_store_claims_release(ctx->engine->store, ctx->row.tenant_id, ctx->row.id);
    if ((rc = rg_engine__tx_end(ctx, own, rc)) < 0)
        return rc;
    rg_engine__narrate(ctx, "state", "%s -> %s%s%s", rg_rollout_state_to_str(from),
                       rg_rollout_state_to_str(state), reason ? ": " : "", reason ? reason : "");
    return 0;
}

int rg_engine__audit(rg_engine *engine, const char *tenant_id, const char *rollout_id,
                     const char *actor, const char *action, const char *reason, const char *outcome,
                     json_t *detail)
{
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    rg_store_audit_in a = {0};
    int rc;

    a.rollout_id = rollout_id;
    a.tenant_id = tenant_id;
    a.actor = actor ? actor : "engine";
    a.action = action;
    a.reason = reason;
    a.outcome = outcome;
    a.detail = text;
    rc = rg_store_audit_append(NULL, engine->store, &a);
    free(text);
    json_decref(detail);
    return rc;
}

int64_t rg_engine__book_int(const rg_rollout_ctx *ctx, const char *key)
{
    const json_t *v = json_object_get(ctx->book, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

int rg_engine__book_set_int(rg_rollout_ctx *ctx, const char *key, int64_t value)
{
    if (json_object_set_new(ctx->book, key, json_integer(value)) < 0)
        return rg_error_set(RG_ENOMEM, "out of memory");
    return 0;
}
