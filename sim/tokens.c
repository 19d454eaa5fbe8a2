/* tokens.c - bearer tokens per organization, their expiry and per-token rate budgets */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sim/sim.h"

int sim_token_issue(char *out, size_t outlen, sim_org *org, size_t org_index, int64_t ttl_s,
                    int64_t now_ms)
{
    unsigned char raw[16];
    char hex[33];
    sim_token *t;

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return rg_error_set(RG_EIO, "cannot read random bytes for a token");
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    pthread_mutex_lock(&org->lock);
    if (org->ntokens == SIM_MAX_TOKENS_PER_ORG) {
        memmove(org->tokens, org->tokens + 1, (org->ntokens - 1) * sizeof(*org->tokens));
        org->ntokens--;
    }
    if (org->ntokens == org->captokens) {
        size_t cap = org->captokens ? org->captokens * 2 : 8;
        sim_token *grown = realloc(org->tokens, cap * sizeof(*grown));
        if (grown == NULL) {
            pthread_mutex_unlock(&org->lock);
            return rg_error_set(RG_ENOMEM, "out of memory");
        }
        org->tokens = grown;
        org->captokens = cap;
    }
    t = &org->tokens[org->ntokens++];
    memset(t, 0, sizeof(*t));
    snprintf(t->value, sizeof(t->value), "%zu.%s", org_index, hex);
    t->expires_ms = now_ms + ttl_s * 1000;
    org->token_count++;
    snprintf(out, outlen, "%s", t->value);
    pthread_mutex_unlock(&org->lock);
    return 0;
}

/* The token's entry; caller holds org->lock. */
static sim_token *token_entry(sim_org *org, const char *token)
{
    for (size_t i = org->ntokens; i > 0; i--)
        if (strcmp(org->tokens[i - 1].value, token) == 0)
            return &org->tokens[i - 1];
    return NULL;
}

int sim_token_find(size_t *org_index, sim_world *world, const char *token, int64_t now_ms)
{
    const char *dot = token ? strchr(token, '.') : NULL;
    char prefix[24];
    int64_t index;
    sim_token *t;
    int ok;

    if (dot == NULL || dot == token || (size_t)(dot - token) >= sizeof(prefix) ||
        strlen(token) >= sizeof(t->value))
        return rg_error_set(RG_EAUTH, "malformed token");
    memcpy(prefix, token, (size_t)(dot - token));
    prefix[dot - token] = '\0';
    if (rg_parse_int64(&index, prefix, 0, (int64_t)world->norgs - 1) < 0)
        return rg_error_set(RG_EAUTH, "unknown token");
    pthread_mutex_lock(&world->orgs[index].lock);
    t = token_entry(&world->orgs[index], token);
    ok = t != NULL && t->expires_ms > now_ms;
    pthread_mutex_unlock(&world->orgs[index].lock);
    if (!ok)
        return rg_error_set(RG_EAUTH, "unknown or expired token");
    *org_index = (size_t)index;
    return 0;
}

int sim_token_charge(sim_reply *reply, sim_org *org, const char *token, int64_t allowed,
                     int64_t window_s, int64_t now_ms)
{
    sim_token *t;
    int ok = 0;

    pthread_mutex_lock(&org->lock);
    t = token_entry(org, token);
    if (t != NULL) {
        if (t->window_start_ms == 0 || now_ms >= t->window_start_ms + window_s * 1000) {
            t->window_start_ms = now_ms;
            t->count = 0;
        }
        ok = t->count < allowed;
        if (ok)
            t->count++;
        reply->rate_headers = 1;
        reply->rate_allowed = allowed;
        reply->rate_count = t->count;
        reply->rate_reset = (t->window_start_ms + window_s * 1000 - now_ms + 999) / 1000;
        if (reply->rate_reset < 1)
            reply->rate_reset = 1;
    }
    pthread_mutex_unlock(&org->lock);
    return ok;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int sim_base64_decode(char *out, size_t outlen, const char *in)
{
    size_t len = strlen(in), n = 0;
    unsigned int acc = 0;
    int bits = 0;

    while (len > 0 && in[len - 1] == '=')
        len--;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0)
            return rg_error_set(RG_EINVALID, "invalid base64");
        acc = (acc << 6) | (unsigned int)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= outlen)
                return rg_error_set(RG_ELIMIT, "base64 value too long");
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    if (memchr(out, '\0', n) != NULL)
        return rg_error_set(RG_EINVALID, "credentials contain a NUL byte");
    return 0;
}
