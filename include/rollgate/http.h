/* http.h - the one outgoing HTTP client for calls that are not the platform's: webhooks and
 * gates. Synchronous, one request per call, with timeouts, TLS verification, http/https only
 * and an optional guard against internal destinations set in one place. */
#ifndef RG_HTTP_H
#define RG_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* Nonzero to abort the request in flight (checked about every second and on progress). */
typedef int (*rg_http_cancel_fn)(void *payload);

typedef struct rg_http_options {
    int64_t connect_timeout_ms; /* default 3000 */
    int64_t timeout_ms;         /* the whole request; default 10000 */
    /* Refuse a destination on loopback, 0.0.0.0/8, link-local (the cloud metadata service)
     * or an unspecified address: checked on the address about to be connected to, so a DNS
     * name pointing there is refused too. allow_loopback keeps 127/8 allowed (test mode). */
    int guard_internal;
    int allow_loopback;
    const char *user_agent;   /* default "rollgate/1" */
    size_t max_body;          /* response bytes kept; default 1024, at most 65536 */
    rg_http_cancel_fn cancel; /* may be NULL */
    void *cancel_payload;
} rg_http_options;

typedef struct rg_http_response {
    long status; /* the HTTP status, 0 when no response came */
    char *body;  /* the first max_body bytes of the response, NUL-terminated; owned */
    size_t body_len;
    int truncated; /* the response was longer than body */
    int refused;   /* the guard refused the destination */
    int cancelled; /* the cancel callback stopped it */
} rg_http_response;

void rg_http_options_init(rg_http_options *opts);

/* POSTs `body` (JSON, Content-Type application/json) to `url` with the extra `headers`
 * ("Name: value" strings, NULL-terminated; may be NULL). @param[out] out the response,
 * filled also on failure (status 0, refused/cancelled flags); dispose it either way.
 * @return 0 when an HTTP response came (any status); RG_EUNREACHABLE for a transport
 * failure or timeout, RG_EINVALID when the guard refused the address or the URL is not
 * http(s), RG_ETIMEOUT when cancelled; the message is curl's text alone (no URL, no header). */
int rg_http_post_json(rg_http_response *out, const char *url, const char *const *headers,
                      const char *body, const rg_http_options *opts);
void rg_http_response_dispose(rg_http_response *resp);

/* "sha256=<hex>" of HMAC-SHA-256 with `secret` over "<timestamp>.<body>": the signature
 * webhooks and gates send in X-Rollgate-Signature. @param out at least RG_HTTP_SIGNATURE_LEN. */
#define RG_HTTP_SIGNATURE_LEN 72
int rg_http_signature(char *out, size_t outlen, const char *secret, const char *timestamp,
                      const char *body);

/* The URL as logs and the audit show it: no user info, query or fragment (they may hold
 * secrets). */
void rg_http_url_for_log(char *out, size_t outlen, const char *url);

#endif
