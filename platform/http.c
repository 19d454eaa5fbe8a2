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

static int internal_address(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return (a >> 24) == 127 || (a >> 24) == 0 || (a >> 16) == 0xA9FE; /* 169.254/16 */
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            struct sockaddr_in v4 = {0};
            v4.sin_family = AF_INET;
            memcpy(&v4.sin_addr, &a->s6_addr[12], 4);
            return internal_address((const struct sockaddr *)&v4);
        }
        return IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LINKLOCAL(a);
    }
    return 1;
}

static curl_socket_t open_guarded(void *payload, curlsocktype purpose,
                                  struct curl_sockaddr *address)
{
    transfer *t = payload;
    const struct sockaddr *sa = &address->addr;
    int loopback_v4 = sa->sa_family == AF_INET &&
                      (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;

    if (purpose == CURLSOCKTYPE_IPCXN && t->opts->guard_internal && internal_address(sa) &&
        !(t->opts->allow_loopback && loopback_v4)) {
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
    cc = curl_easy_perform(curl);
    if (cc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    if (out->refused) {
        out->status = 0;
        rc = rg_error_set(RG_EINVALID, "refused: the address is loopback or link-local");
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
