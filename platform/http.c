/* http.c - the one outgoing HTTP client for calls that are not the platform's (webhooks,
 * gates): a synchronous POST with timeouts, TLS verification, http/https only, a guard on the
 * address connected to, a cancel callback and a bounded copy of the response body. */
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "rollgate/http.h"
#include "rollgate/util.h"

#define MAX_BODY_CAP 65536

void rg_http_options_init(rg_http_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->connect_timeout_ms = 3000;
    opts->timeout_ms = 10000;
    opts->user_agent = "rollgate/1";
    opts->max_body = 1024;
}

void rg_http_response_dispose(rg_http_response *resp)
{
    if (resp == NULL)
        return;
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

typedef struct {
    const rg_http_options *opts;
    rg_http_response *resp;
    rg_buf body;
    size_t max;
} transfer;

/* IPv4 networks that are not public unicast destinations (RFC 6890 and its updates). */
static const struct {
    uint32_t net;
    int prefix;
} v4_internal[] = {
    {0x00000000, 8},  /* "this network" */
    {0x0A000000, 8},  /* private */
    {0x64400000, 10}, /* shared address space (carrier-grade NAT) */
    {0x7F000000, 8},  /* loopback */
    {0xA9FE0000, 16}, /* link-local: the cloud metadata service */
    {0xAC100000, 12}, /* private */
    {0xC0000000, 24}, /* IETF protocol assignments */
    {0xC0000200, 24}, /* documentation */
    {0xC0A80000, 16}, /* private */
    {0xC6120000, 15}, /* benchmarking */
    {0xC6336400, 24}, /* documentation */
    {0xCB007100, 24}, /* documentation */
    {0xE0000000, 4},  /* multicast */
    {0xF0000000, 4},  /* reserved, and the limited broadcast */
};

static int v4_is_internal(uint32_t a)
{
    for (size_t i = 0; i < sizeof(v4_internal) / sizeof(v4_internal[0]); i++)
        if ((a >> (32 - v4_internal[i].prefix)) ==
            (v4_internal[i].net >> (32 - v4_internal[i].prefix)))
            return 1;
    return 0;
}

static uint32_t v4_at(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int v6_is_internal(const unsigned char *a)
{
    static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    static const unsigned char zero[12] = {0};

    if (a[0] == 0xff) /* multicast */
        return 1;
    if ((a[0] & 0xfe) == 0xfc) /* unique local fc00::/7 */
        return 1;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) /* link-local fe80::/10 */
        return 1;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) /* site-local fec0::/10 (deprecated) */
        return 1;
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) /* documentation */
        return 1;
    if (a[0] == 0x20 && a[1] == 0x02) /* 6to4: the IPv4 address in bits 16-48 */
        return v4_is_internal(v4_at(a + 2));
    if (memcmp(a, nat64, 12) == 0) /* NAT64 64:ff9b::/96 */
        return v4_is_internal(v4_at(a + 12));
    if (memcmp(a, zero, 10) == 0 && a[10] == 0xff && a[11] == 0xff) /* IPv4-mapped */
        return v4_is_internal(v4_at(a + 12));
    if (memcmp(a, zero, 12) == 0) /* ::, ::1 and the old IPv4-compatible ::a.b.c.d */
        return 1;
    return 0;
}

static int net_contains(const rg_http_net *n, int family, const unsigned char *addr)
{
    int full = n->prefix / 8, rest = n->prefix % 8;

    if (n->family != family)
        return 0;
    if (memcmp(n->addr, addr, (size_t)full) != 0)
        return 0;
    return rest == 0 || ((n->addr[full] ^ addr[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* 1 when the guard of `opts` refuses a connection to `sa`. */
static int refused_address(const struct sockaddr *sa, const rg_http_options *opts)
{
    unsigned char bytes[16];
    int family = sa->sa_family, internal;

    if (family == AF_INET) {
        memcpy(bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        internal = v4_is_internal(v4_at(bytes));
        if (opts->allow_loopback && bytes[0] == 127)
            return 0;
    } else if (family == AF_INET6) {
        memcpy(bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        internal = v6_is_internal(bytes);
    } else {
        return 1;
    }
    if (!internal)
        return 0;
    for (size_t i = 0; i < opts->allow_count; i++)
        if (net_contains(&opts->allow[i], family, bytes))
            return 0;
    /* An IPv4-mapped address is allowed by the IPv4 network it maps. */
    if (family == AF_INET6 &&
        memcmp(bytes, (const unsigned char[12]){[10] = 0xff, [11] = 0xff}, 12) == 0)
        for (size_t i = 0; i < opts->allow_count; i++)
            if (net_contains(&opts->allow[i], AF_INET, bytes + 12))
                return 0;
    return 1;
}

int rg_http_net_parse(rg_http_net *out, const char *text)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *slash;
    size_t len;
    int64_t prefix;
    int max;

    if (out == NULL || text == NULL || *text == '\0')
        return rg_error_set(RG_EINVALID, "network '': expected an address or ADDRESS/PREFIX");
    memset(out, 0, sizeof(*out));
    slash = strchr(text, '/');
    len = slash ? (size_t)(slash - text) : strlen(text);
    if (len == 0 || len >= sizeof(host))
        return rg_error_set(RG_EINVALID, "network '%.64s': expected an address or ADDRESS/PREFIX",
                            text);
    memcpy(host, text, len);
    host[len] = '\0';
    if (inet_pton(AF_INET, host, out->addr) == 1)
        out->family = AF_INET, max = 32;
    else if (inet_pton(AF_INET6, host, out->addr) == 1)
        out->family = AF_INET6, max = 128;
    else
        return rg_error_set(RG_EINVALID, "network '%.64s': '%s' is not an IPv4 or IPv6 address",
                            text, host);
    prefix = max;
    if (slash && rg_parse_int64(&prefix, slash + 1, 0, max) < 0)
        return rg_error_set(RG_EINVALID,
                            "network '%.64s': the prefix must be a number from 0 to %d", text, max);
    out->prefix = (int)prefix;
    for (int bit = out->prefix; bit < max; bit++)
        if (out->addr[bit / 8] & (0x80 >> (bit % 8)))
            return rg_error_set(RG_EINVALID, "network '%.64s': bits are set past the /%d prefix",
                                text, out->prefix);
    return 0;
}

int rg_http_address_refused(const char *text, const rg_http_options *opts)
{
    struct sockaddr_in v4 = {0};
    struct sockaddr_in6 v6 = {0};
    rg_http_options defaults;

    if (opts == NULL) {
        rg_http_options_init(&defaults);
        opts = &defaults;
    }
    if (text && inet_pton(AF_INET, text, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        return refused_address((const struct sockaddr *)&v4, opts);
    }
    if (text && inet_pton(AF_INET6, text, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        return refused_address((const struct sockaddr *)&v6, opts);
    }
    return rg_error_set(RG_EINVALID, "'%.64s' is not an IPv4 or IPv6 address", text ? text : "");
}

static curl_socket_t open_guarded(void *payload, curlsocktype purpose,
                                  struct curl_sockaddr *address)
{
    transfer *t = payload;

    if (purpose == CURLSOCKTYPE_IPCXN && t->opts->guard_internal &&
        refused_address(&address->addr, t->opts)) {
        t->resp->refused = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype, address->protocol);
}

static int on_progress(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    transfer *t = p;
    (void)dt, (void)dn, (void)ut, (void)un;
    if (t->opts->cancel && t->opts->cancel(t->opts->cancel_payload)) {
        t->resp->cancelled = 1;
        return 1;
    }
    return 0;
}

static size_t on_body(char *ptr, size_t size, size_t n, void *p)
{
    transfer *t = p;
    size_t len = size * n, room = t->max > t->body.len ? t->max - t->body.len : 0;

    if (len > room)
        t->resp->truncated = 1;
    if (room > 0 && rg_buf_put(&t->body, ptr, len < room ? len : room) < 0)
        return 0;
    return len; /* the rest is read and dropped */
}

static int url_scheme_ok(const char *url)
{
    return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

int rg_http_post_json(rg_http_response *out, const char *url, const char *const *headers,
                      const char *body, const rg_http_options *opts)
{
    rg_http_options defaults;
    struct curl_slist *list = NULL, *grown;
    transfer t;
    CURL *curl = NULL;
    CURLcode cc;
    char where[512];
    int rc = 0;

    if (out == NULL || url == NULL || body == NULL)
        return rg_error_set(RG_EINVALID, "rg_http_post_json: invalid arguments");
    memset(out, 0, sizeof(*out));
    if (opts == NULL) {
        rg_http_options_init(&defaults);
        opts = &defaults;
    }
    rg_http_url_for_log(where, sizeof(where), url);
    if (!url_scheme_ok(url))
        return rg_error_set(RG_EINVALID, "%s: only http and https URLs are allowed", where);
    memset(&t, 0, sizeof(t));
    t.opts = opts;
    t.resp = out;
    t.max = opts->max_body == 0             ? 1024
            : opts->max_body > MAX_BODY_CAP ? MAX_BODY_CAP
                                            : opts->max_body;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (curl = curl_easy_init()) == NULL)
        return rg_error_set(RG_ENOMEM, "%s: cannot make an HTTP client", where);
    for (const char *const *h = headers; h && *h; h++) {
        if ((grown = curl_slist_append(list, *h)) == NULL) {
            rc = rg_error_set(RG_ENOMEM, "out of memory");
            goto cleanup;
        }
        list = grown;
    }
    if ((grown = curl_slist_append(list, "Content-Type: application/json")) == NULL ||
        (list = grown, grown = curl_slist_append(list, "Expect:")) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    list = grown;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, opts->user_agent ? opts->user_agent : "rollgate/1");
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 3000));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                     (long)(opts->timeout_ms > 0 ? opts->timeout_ms : 10000));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_guarded);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &t);
    if (opts->guard_internal) /* the guard sees the address connected to: no proxy between */
        curl_easy_setopt(curl, CURLOPT_PROXY, "");
    cc = curl_easy_perform(curl);
    if (cc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    if (out->refused) {
        out->status = 0;
        rc = rg_error_set(RG_EINVALID, "refused: the address is not a public one (loopback, "
                                       "link-local, private or reserved)");
    } else if (out->cancelled) {
        rc = rg_error_set(RG_ETIMEOUT, "cancelled");
    } else if (cc != CURLE_OK) {
        rc = rg_error_set(RG_EUNREACHABLE, "%s", curl_easy_strerror(cc));
    }
    if (t.body.len > 0 || out->status) {
        out->body_len = t.body.len;
        out->body = rg_buf_detach(&t.body);
        if (out->body == NULL)
            out->body_len = 0;
    }
cleanup:
    rg_buf_dispose(&t.body);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return rc;
}

int rg_http_signature(char *out, size_t outlen, const char *secret, const char *timestamp,
                      const char *body)
{
    uint8_t mac[RG_SHA256_LEN];
    rg_buf text = RG_BUF_INIT;
    int rc;

    if (out == NULL || outlen < RG_HTTP_SIGNATURE_LEN || secret == NULL || timestamp == NULL ||
        body == NULL)
        return rg_error_set(RG_EINVALID, "rg_http_signature: invalid arguments");
    if ((rc = rg_buf_printf(&text, "%s.%s", timestamp, body)) < 0)
        return rc;
    rg_hmac_sha256(mac, secret, strlen(secret), rg_buf_cstr(&text), text.len);
    rg_buf_dispose(&text);
    memcpy(out, "sha256=", 8); /* with its NUL; the digits follow */
    for (size_t i = 0; i < RG_SHA256_LEN; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
    explicit_bzero(mac, sizeof(mac));
    return 0;
}

void rg_http_url_for_log(char *out, size_t outlen, const char *url)
{
    const char *scheme_end = strstr(url, "://"), *host = scheme_end ? scheme_end + 3 : url;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    size_t n;

    if (at && (slash == NULL || at < slash))
        snprintf(out, outlen, "%.*s%s", (int)(host - url), url, at + 1);
    else
        snprintf(out, outlen, "%s", url);
    n = strcspn(out, "?#");
    out[n] = '\0';
}
