/* ratelimit.c - response headers (ETag, Retry-After, rate budget) and the per-token rate
 * budget that decides when an organization may send again */
#include <string.h>
#include <strings.h>

#include "platform/client.h"

void rg_platform__headers_reset(rg_response_headers *hdr)
{
    free(hdr->etag);
    hdr->etag = NULL;
    hdr->retry_after_s = -1;
    hdr->rl_allowed = -1;
    hdr->rl_count = -1;
    hdr->rl_remaining = -1;
    hdr->rl_reset = -1;
}

static int name_is(const char *line, size_t namelen, const char *name)
{
    return strlen(name) == namelen && strncasecmp(line, name, namelen) == 0;
}

/* A non-negative integer header value; -1 when malformed (it is then ignored). */
static int64_t int_value(const char *value)
{
    int64_t v;
    if (rg_parse_int64(&v, value, 0, INT64_MAX / 1000) < 0) {
        rg_error_clear();
        return -1;
    }
    return v;
}

static void take_header(rg_response_headers *hdr, const char *name, size_t namelen,
                        const char *value)
{
    if (name_is(name, namelen, "etag")) {
        free(hdr->etag);
        hdr->etag = rg_strdup(value);
    } else if (name_is(name, namelen, "retry-after")) {
        hdr->retry_after_s = int_value(value);
        if (hdr->retry_after_s < 0) {
            /* An HTTP-date. */
            time_t when = curl_getdate(value, NULL);
            int64_t now_s = rg_time_now_ms() / 1000;
            if (when > 0)
                hdr->retry_after_s = (int64_t)when > now_s ? (int64_t)when - now_s : 0;
        }
    } else if (name_is(name, namelen, "inin-ratelimit-allowed") ||
               name_is(name, namelen, "x-ratelimit-limit")) {
        hdr->rl_allowed = int_value(value);
    } else if (name_is(name, namelen, "inin-ratelimit-count")) {
        hdr->rl_count = int_value(value);
    } else if (name_is(name, namelen, "x-ratelimit-remaining")) {
        hdr->rl_remaining = int_value(value);
    } else if (name_is(name, namelen, "inin-ratelimit-reset") ||
               name_is(name, namelen, "x-ratelimit-reset")) {
        hdr->rl_reset = int_value(value);
    }
}

size_t rg_platform__header_cb(char *data, size_t size, size_t nitems, void *userdata)
{
    rg_platform_op *op = userdata;
    size_t len = size * nitems, namelen;
    char line[1024];
    char *colon, *value, *end;

    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue): forget the previous one's headers. */
        rg_platform__headers_reset(&op->hdr);
        return len;
    }
    if (len >= sizeof(line))
        return len; /* longer than any header we read */
    memcpy(line, data, len);
    line[len] = '\0';
    if ((colon = strchr(line, ':')) == NULL)
        return len;
    namelen = (size_t)(colon - line);
    value = colon + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    end = value + strlen(value);
    while (end > value && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    take_header(&op->hdr, line, namelen, value);
    return len;
}

static int64_t reset_deadline(const rg_platform *p, int64_t reset, int64_t now)
{
    int64_t wall = rg_time_now_ms();
    int64_t delta_ms;

    /* X-RateLimit-Reset may be an epoch timestamp (seed 002); inin-* is seconds to go. */
    if (reset > 1000000000)
        delta_ms = reset * 1000 > wall ? reset * 1000 - wall : 0;
    else
        delta_ms = reset * 1000;
    return now + delta_ms + p->opts.rate_reset_margin_ms;
}

void rg_platform__rate_update(rg_platform *p, rg_org *org, const rg_response_headers *hdr,
                              int64_t sent_at, int64_t now)
{
    int64_t remaining;

    if (org->rate_rolled_at != 0 && sent_at < org->rate_rolled_at)
        return; /* sent in the previous window: its numbers are stale */
    if (hdr->rl_remaining >= 0)
        remaining = hdr->rl_remaining;
    else if (hdr->rl_allowed >= 0 && hdr->rl_count >= 0)
        remaining = hdr->rl_allowed - hdr->rl_count;
    else
        return;
    if (remaining < 0)
        remaining = 0;
    if (hdr->rl_allowed >= 0)
        org->rate_allowed = hdr->rl_allowed;
    if (!org->rate_known) {
        /* First news: requests still in flight may not be counted yet. */
        org->rate_budget = remaining - org->in_flight;
        org->rate_known = 1;
    } else if (remaining < org->rate_budget) {
        /* Our own count already subtracts every send; the server's may be lower still
         * (another client on the same token, or a window that started earlier). */
        org->rate_budget = remaining;
    }
    if (hdr->rl_reset >= 0)
        org->rate_reset_at = reset_deadline(p, hdr->rl_reset, now);
}

void rg_platform__rate_block(rg_platform *p, rg_org *org, const rg_response_headers *hdr,
                             int64_t now, int failures)
{
    int64_t delay;

    if (hdr->retry_after_s >= 0) {
        delay = hdr->retry_after_s * 1000;
        if (delay > p->opts.retry_after_cap_ms)
            delay = p->opts.retry_after_cap_ms;
        delay += p->opts.rate_reset_margin_ms;
    } else {
        delay = rg_platform__backoff(p, failures);
    }
    if (now + delay > org->blocked_until)
        org->blocked_until = now + delay;
    if (org->rate_known) {
        org->rate_budget = 0;
        if (org->rate_reset_at < org->blocked_until)
            org->rate_reset_at = org->blocked_until;
    }
}

static void wake_at(int64_t *wake, int64_t at)
{
    if (wake != NULL && at < *wake)
        *wake = at;
}

/* 1 when the org may send one more request now. */
int rg_platform__rate_admit(rg_platform *p, rg_org *org, int64_t now, int64_t *wake)
{
    if (org->blocked_until > now) {
        wake_at(wake, org->blocked_until);
        return 0;
    }
    if (!org->rate_known)
        return 1;
    if (org->rate_reset_at != 0 && now >= org->rate_reset_at) {
        /* The window rolled over: the whole allowance is back. */
        org->rate_budget = org->rate_allowed;
        org->rate_reset_at = 0;
        org->rate_rolled_at = now;
    }
    if (org->rate_budget <= 0) {
        if (org->rate_reset_at != 0) {
            wake_at(wake, org->rate_reset_at);
            return 0;
        }
        /* Exhausted with no reset time: let responses in flight tell us; else probe. */
        return org->in_flight == 0;
    }
    if (org->rate_budget <= p->opts.rate_low_water && org->in_flight >= 1)
        return 0; /* low budget: one at a time */
    return 1;
}
