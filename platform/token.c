/* token.c - per-organization OAuth client-credentials tokens: fetched on first use,
 * refreshed at 80% of their lifetime, one fetch in flight per organization */
#include <string.h>

#include "platform/client.h"

static int token_fetch_start(rg_platform *p, rg_org *org)
{
    rg_platform_op *op = NULL;
    char *body = NULL;
    int error;

    if ((error = rg_platform__op_new(&op, p, RG_OP_TOKEN, org->id, NULL, "POST oauth token")) < 0)
        return error;
    op->internal = 1;
    op->needs_token = 0;
    if (org->cxone) {
        if ((error = rg_platform__cxone_token_request(op)) < 0) {
            rg_platform_op_free(op);
            return error;
        }
        org->token_op = op;
        rg_platform__op_enqueue(op);
        return 0;
    }
    if ((body = rg_strdup("grant_type=client_credentials")) == NULL ||
        (error = rg_platform__op_set_request(op, "POST", org->login_url, "/oauth/token", body)) <
            0) {
        free(body);
        rg_platform_op_free(op);
        return error < 0 ? error : rg_error_set(RG_ENOMEM, "out of memory");
    }
    org->token_op = op;
    rg_platform__op_enqueue(op);
    return 0;
}

int rg_platform__token_ready(rg_platform *p, rg_org *org, int64_t now)
{
    int valid;

    /* A token an earlier client of the same engine fetched, until 80% of its lifetime. */
    if (org->token == NULL && org->token_op == NULL)
        rg_platform__tokens_take(p->opts.tokens, org, now);
    valid = org->token != NULL && now < org->token_expires_at;

    if (org->token_op == NULL && (!valid || now >= org->token_refresh_at)) {
        if (token_fetch_start(p, org) < 0) {
            rg_log(RG_LOG_WARN, RG_PLATFORM_COMPONENT, "org %s: cannot start token fetch: %s",
                   org->id, rg_error_last());
        }
    }
    return valid;
}

void rg_platform__token_invalidate(rg_platform *p, rg_org *org, uint64_t gen)
{
    if (org->token != NULL && org->token_gen == gen) {
        rg_platform__tokens_drop(p->opts.tokens, org, org->token);
        rg_platform__wipe_free(org->token);
        org->token = NULL;
    }
}

static void wipe_token_json(json_t *body)
{
    json_t *tok = json_object_get(body, "access_token");
    if (json_is_string(tok))
        explicit_bzero((char *)json_string_value(tok), json_string_length(tok));
}

static void token_store(rg_platform_op *op, const char *token, int64_t expires_in)
{
    rg_org *org = op->org;
    char *copy = rg_strdup(token);

    if (copy == NULL) {
        rg_platform__op_fail(op, RG_ENOMEM, "org %s: %s: out of memory", org->id, op->call);
        return;
    }
    rg_platform__wipe_free(org->token);
    org->token = copy;
    org->token_gen++;
    /* Lifetime counts from when the request left, so clock skew in flight never extends it. */
    org->token_expires_at = op->sent_at + expires_in * 1000;
    org->token_refresh_at = op->sent_at + expires_in * 800;
    if (op->platform != NULL)
        rg_platform__tokens_put(op->platform->opts.tokens, org);
    rg_log(RG_LOG_DEBUG, RG_PLATFORM_COMPONENT, "org %s: token %llu obtained, expires in %llds",
           org->id, (unsigned long long)org->token_gen, (long long)expires_in);
    rg_platform__op_complete(op);
}

/* 1 when either string holds the other. */
static int overlaps(const char *a, const char *b)
{
    return a && b && (strstr(a, b) != NULL || strstr(b, a) != NULL);
}

/* The "error" of a refused token request, quoted only as an OAuth error code
 * ([a-z_]{1,64}, RFC 6749 5.2) that is no part of the org's credentials: the endpoint's
 * text may echo the request (a proxy, a buggy or hostile server), and what is quoted here
 * goes into logs, hold reasons and the database. */
static const char *oauth_error_code(const char *err, const rg_org *org)
{
    size_t n = 0;

    if (err == NULL)
        return "no error code";
    for (; err[n]; n++)
        if (!((err[n] >= 'a' && err[n] <= 'z') || err[n] == '_'))
            return "an error that is not an OAuth error code, not shown";
    if (n == 0 || n > 64 || overlaps(err, org->client_secret) || overlaps(err, org->client_id))
        return "an error that is not an OAuth error code, not shown";
    return err;
}

void rg_platform__token_accept(rg_platform_op *op, const char *token, int64_t expires_in)
{
    token_store(op, token, expires_in);
}

void rg_platform__token_handle(rg_platform_op *op, long status, json_t *body)
{
    json_t *tok, *exp, *err;
    const char *why;

    if (op->org->cxone) {
        rg_platform__cxone_token_handle(op, status, body);
        return;
    }

    if (status == 200) {
        tok = json_object_get(body, "access_token");
        exp = json_object_get(body, "expires_in");
        if (!json_is_string(tok) || json_string_length(tok) == 0 ||
            json_string_length(tok) > 8192) {
            rg_platform__op_fail(op, RG_EPLATFORM,
                                 "org %s: %s: response has no valid "
                                 "access_token",
                                 op->org_id, op->call);
        } else if (!json_is_integer(exp) || json_integer_value(exp) <= 0 ||
                   json_integer_value(exp) > 10LL * 365 * 86400) {
            rg_platform__op_fail(op, RG_EPLATFORM,
                                 "org %s: %s: expires_in missing or not a "
                                 "positive integer",
                                 op->org_id, op->call);
        } else {
            token_store(op, json_string_value(tok), (int64_t)json_integer_value(exp));
        }
        wipe_token_json(body);
        return;
    }
    err = json_object_get(body, "error");
    why = oauth_error_code(json_is_string(err) ? json_string_value(err) : NULL, op->org);
    if (status == 400 || status == 401 || status == 403)
        rg_platform__op_fail(op, RG_EAUTH, "org %s: %s: credentials refused (HTTP %ld, %.64s)",
                             op->org_id, op->call, status, why);
    else
        rg_platform__op_fail(op, RG_EPLATFORM, "org %s: %s: HTTP %ld (%.64s)", op->org_id, op->call,
                             status, why);
}

/* The fetch ended (either way): the next one may start; on failure, requests that cannot
 * proceed without a token fail with the reason instead of waiting forever. */
void rg_platform__token_done(rg_platform_op *op)
{
    rg_platform *p = op->platform;
    rg_org *org = op->org;
    rg_platform_op *it, *next;
    int64_t now = rg_time_mono_ms();

    if (org->token_op == op)
        org->token_op = NULL;
    if (op->status == 0 || p == NULL || p->closing)
        return;
    if (org->token != NULL && now < org->token_expires_at) {
        /* The old token still works; try the refresh again a little later. Nothing else
         * reports this failure, so it is logged here. */
        rg_log(RG_LOG_WARN, RG_PLATFORM_COMPONENT, "%s", op->error);
        org->token_refresh_at = now + p->opts.backoff_cap_ms;
        return;
    }
    /* Every waiting op fails with the reason; their callers report it, once each. */
    rg_log(RG_LOG_DEBUG, RG_PLATFORM_COMPONENT, "%s", op->error);
    for (it = p->pending_head; it != NULL; it = next) {
        next = it->next;
        if (it->org == org && it->state == RG_OPS_QUEUED && it->needs_token && !it->internal)
            rg_platform__op_fail(it, op->status, "org %s: %s: no token: %s", it->org_id, it->call,
                                 op->error);
    }
}
