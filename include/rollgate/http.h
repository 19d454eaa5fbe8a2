/* http.h - the one outgoing HTTP client for calls that are not the platform's: webhooks and
 * gates. Synchronous, one request per call, with timeouts, TLS verification, http/https only
 * and an optional guard against internal destinations set in one place. */
#ifndef RG_HTTP_H
#define RG_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* Nonzero to abort the request in flight (checked about every second and on progress). */
typedef int (*rg_http_cancel_fn)(void *payload);

/* A network an operator lets guarded requests reach: "10.2.0.0/16", "fd00::/8", or one
 * address (a /32 or /128). */
typedef struct rg_http_net {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix;
} rg_http_net;

/* Parses `text` as above. RG_EINVALID naming the text (host bits set, a prefix out of range,
 * not an address). */
int rg_http_net_parse(rg_http_net *out, const char *text);

typedef struct rg_http_options {
    int64_t connect_timeout_ms; /* default 3000 */
    int64_t timeout_ms;         /* the whole request; default 10000 */
    /* Refuse a destination that is not a public unicast address: loopback, 0.0.0.0/8,
     * link-local (the cloud metadata service), the private networks (10/8, 172.16/12,
     * 192.168/16, 100.64/10, fc00::/7), benchmarking, documentation, multicast and
     * reserved ranges, and IPv6 forms that embed such an IPv4 address (mapped, NAT64,
     * 6to4). Checked on the address about to be connected to, so a DNS name pointing
     * there is refused too; with the guard on no proxy is used (the proxy's address would
     * be checked, not the destination's). allow_loopback keeps 127/8 allowed (test mode);
     * `allow` lists networks the operator opened (any of the above). */
    int guard_internal;
    int allow_loopback;
    const rg_http_net *allow;
    size_t allow_count;
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

/* 1 when the guard refuses the numeric address `text` ("10.0.0.1", "::ffff:127.0.0.1")
 * under `opts`, 0 when it lets it through; RG_EINVALID when `text` is not an address. */
int rg_http_address_refused(const char *text, const rg_http_options *opts);

/* The URL as logs and the audit show it: no user info, query or fragment (they may hold
 * secrets). */
void rg_http_url_for_log(char *out, size_t outlen, const char *url);

#endif
