/* test_http.c - the outgoing HTTP layer (platform/http.c) against a loopback receiver in the
 * test: status and a bounded body, the headers sent, the guard on internal addresses, the
 * scheme check, cancel, timeouts, and the signature against OpenSSL's HMAC */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "rollgate/http.h"
#include "rollgate/util.h"

typedef struct {
    struct MHD_Daemon *daemon;
    unsigned port;
    pthread_mutex_t lock;
    int requests;
    char content_type[128], x_test[128], body[256];
} receiver;

typedef struct {
    rg_buf body;
} pending;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    static char big[3000];
    receiver *r = cls;
    pending *p = *con_cls;
    const char *ct, *xt;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    (void)method, (void)version;
    if (p == NULL) {
        *con_cls = p = calloc(1, sizeof(*p));
        return p ? MHD_YES : MHD_NO;
    }
    if (*size) {
        rg_buf_put(&p->body, data, *size);
        *size = 0;
        return MHD_YES;
    }
    ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    xt = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Test");
    pthread_mutex_lock(&r->lock);
    r->requests++;
    snprintf(r->content_type, sizeof(r->content_type), "%s", ct ? ct : "");
    snprintf(r->x_test, sizeof(r->x_test), "%s", xt ? xt : "");
    snprintf(r->body, sizeof(r->body), "%s", rg_buf_cstr(&p->body));
    pthread_mutex_unlock(&r->lock);
    if (strcmp(url, "/slow") == 0) {
        struct timespec ts = {1, 500000000L};
        nanosleep(&ts, NULL);
    }
    memset(big, 'b', sizeof(big));
    resp = MHD_create_response_from_buffer(sizeof(big), big, MHD_RESPMEM_PERSISTENT);
    ret = MHD_queue_response(conn, 201, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    pending *p = *con_cls;
    (void)cls, (void)conn, (void)toe;
    if (p) {
        rg_buf_dispose(&p->body);
        free(p);
    }
    *con_cls = NULL;
}

static receiver g_r;

static int setup(void **state)
{
    const union MHD_DaemonInfo *info;
    struct sockaddr_in sa;
    (void)state;
    memset(&g_r, 0, sizeof(g_r));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pthread_mutex_init(&g_r.lock, NULL);
    g_r.daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL,
        NULL, on_request, &g_r, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, &g_r, MHD_OPTION_END);
    if (g_r.daemon == NULL)
        return -1;
    info = MHD_get_daemon_info(g_r.daemon, MHD_DAEMON_INFO_BIND_PORT);
    g_r.port = info ? info->port : 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(g_r.daemon);
    pthread_mutex_destroy(&g_r.lock);
    return 0;
}

static int requests(void)
{
    int n;
    pthread_mutex_lock(&g_r.lock);
    n = g_r.requests;
    pthread_mutex_unlock(&g_r.lock);
    return n;
}

static void url_of(char *out, size_t outlen, const char *host, const char *path)
{
    snprintf(out, outlen, "http://%s:%u%s", host, g_r.port, path);
}

static void test_status_headers_and_bounded_body(void **state)
{
    const char *headers[] = {"X-Test: hello", NULL};
    rg_http_response resp;
    rg_http_options o;
    char url[128];
    (void)state;

    rg_http_options_init(&o);
    o.max_body = 100;
    url_of(url, sizeof(url), "127.0.0.1", "/ok");
    assert_int_equal(rg_http_post_json(&resp, url, headers, "{\"a\":1}", &o), 0);
    assert_int_equal(resp.status, 201);
    assert_int_equal(resp.body_len, 100);
    assert_int_equal(strlen(resp.body), 100);
    assert_true(resp.truncated);
    rg_http_response_dispose(&resp);
    pthread_mutex_lock(&g_r.lock);
    assert_string_equal(g_r.content_type, "application/json");
    assert_string_equal(g_r.x_test, "hello");
    assert_string_equal(g_r.body, "{\"a\":1}");
    pthread_mutex_unlock(&g_r.lock);
}

/* With the guard on, loopback is refused before a connection is made, unless allowed. */
static void test_guard_refuses_internal_addresses(void **state)
{
    rg_http_response resp;
    rg_http_options o;
    char url[128];
    int before = requests();
    (void)state;

    rg_http_options_init(&o);
    o.guard_internal = 1;
    url_of(url, sizeof(url), "127.0.0.1", "/guarded");
    assert_int_equal(rg_http_post_json(&resp, url, NULL, "{}", &o), RG_EINVALID);
    assert_true(resp.refused);
    assert_int_equal(resp.status, 0);
    assert_non_null(strstr(rg_error_last(), "not a public one"));
    rg_http_response_dispose(&resp);
    assert_int_equal(requests(), before);              /* the receiver saw nothing */
    url_of(url, sizeof(url), "localhost", "/guarded"); /* a name pointing there */
    assert_int_equal(rg_http_post_json(&resp, url, NULL, "{}", &o), RG_EINVALID);
    assert_true(resp.refused);
    rg_http_response_dispose(&resp);
    assert_int_equal(requests(), before);
    o.allow_loopback = 1;
    url_of(url, sizeof(url), "127.0.0.1", "/guarded");
    assert_int_equal(rg_http_post_json(&resp, url, NULL, "{}", &o), 0);
    assert_int_equal(resp.status, 201);
    rg_http_response_dispose(&resp);
    assert_int_equal(requests(), before + 1);
}

/* An operator's network (serve --webhook-allow) opens exactly that range to the guard. */
static void test_guard_allow_list(void **state)
{
    rg_http_response resp;
    rg_http_options o;
    rg_http_net nets[2];
    char url[128];
    int before = requests();
    (void)state;

    rg_http_options_init(&o);
    o.guard_internal = 1;
    assert_int_equal(rg_http_net_parse(&nets[0], "127.0.0.2/32"), 0); /* a neighbour only */
    o.allow = nets;
    o.allow_count = 1;
    url_of(url, sizeof(url), "127.0.0.1", "/guarded");
    assert_int_equal(rg_http_post_json(&resp, url, NULL, "{}", &o), RG_EINVALID);
    assert_true(resp.refused);
    rg_http_response_dispose(&resp);
    assert_int_equal(requests(), before);
    assert_int_equal(rg_http_net_parse(&nets[1], "127.0.0.0/30"), 0);
    o.allow_count = 2;
    assert_int_equal(rg_http_post_json(&resp, url, NULL, "{}", &o), 0);
    assert_int_equal(resp.status, 201);
    rg_http_response_dispose(&resp);
    assert_int_equal(requests(), before + 1);
}

/* What the guard refuses, address by address (RFC 6890 special-purpose registries). */
static void test_guard_address_table(void **state)
{
    static const char *const refused[] = {"0.0.0.0",
                                          "0.1.2.3",
                                          "10.0.0.1",
                                          "10.255.255.255",
                                          "100.64.0.1",
                                          "100.127.255.254",
                                          "127.0.0.1",
                                          "127.255.0.9",
                                          "169.254.169.254",
                                          "172.16.0.1",
                                          "172.31.255.255",
                                          "192.0.0.8",
                                          "192.0.2.1",
                                          "192.168.1.1",
                                          "198.18.0.1",
                                          "198.19.255.255",
                                          "198.51.100.7",
                                          "203.0.113.9",
                                          "224.0.0.1",
                                          "239.255.255.250",
                                          "240.0.0.1",
                                          "255.255.255.255",
                                          "::",
                                          "::1",
                                          "::10.0.0.1",
                                          "::ffff:127.0.0.1",
                                          "::ffff:10.1.2.3",
                                          "::ffff:169.254.169.254",
                                          "64:ff9b::a9fe:a9fe",
                                          "2002:a00:1::1",
                                          "2002:7f00:1::",
                                          "fc00::1",
                                          "fd12:3456::1",
                                          "fe80::1",
                                          "febf::1",
                                          "fec0::1",
                                          "ff02::1",
                                          "2001:db8::1",
                                          NULL};
    static const char *const allowed[] = {
        "1.1.1.1",         "9.255.255.255",   "11.0.0.1",       "100.63.255.255",
        "100.128.0.1",     "126.255.255.255", "128.0.0.1",      "169.253.0.1",
        "172.15.255.255",  "172.32.0.1",      "192.0.1.1",      "192.167.0.1",
        "192.169.0.1",     "198.17.255.255",  "198.20.0.1",     "223.255.255.255",
        "2606:4700::1111", "2a00:1450::1",    "::ffff:8.8.8.8", "64:ff9b::808:808",
        "2002:808:808::1", "fbff::1",         "2001:db9::1",    NULL};
    rg_http_options o;
    rg_http_net n;
    (void)state;

    rg_http_options_init(&o);
    o.guard_internal = 1;
    for (size_t i = 0; refused[i]; i++) {
        if (rg_http_address_refused(refused[i], &o) != 1)
            fail_msg("%s: not refused", refused[i]);
    }
    for (size_t i = 0; allowed[i]; i++) {
        if (rg_http_address_refused(allowed[i], &o) != 0)
            fail_msg("%s: refused", allowed[i]);
    }
    assert_int_equal(rg_http_address_refused("example.com", &o), RG_EINVALID);
    o.allow_loopback = 1; /* test mode: 127/8 only */
    assert_int_equal(rg_http_address_refused("127.0.0.1", &o), 0);
    assert_int_equal(rg_http_address_refused("10.0.0.1", &o), 1);
    /* An allowed IPv4 network also opens its IPv4-mapped form. */
    assert_int_equal(rg_http_net_parse(&n, "10.20.0.0/16"), 0);
    o.allow = &n;
    o.allow_count = 1;
    assert_int_equal(rg_http_address_refused("10.20.3.4", &o), 0);
    assert_int_equal(rg_http_address_refused("::ffff:10.20.3.4", &o), 0);
    assert_int_equal(rg_http_address_refused("10.21.0.1", &o), 1);
    assert_int_equal(rg_http_address_refused("169.254.169.254", &o), 1);
    assert_int_equal(rg_http_net_parse(&n, "fd00::/8"), 0);
    assert_int_equal(rg_http_address_refused("fd12::1", &o), 0);
    assert_int_equal(rg_http_address_refused("fc00::1", &o), 1);
}

static void test_net_parse_errors(void **state)
{
    rg_http_net n;
    (void)state;

    assert_int_equal(rg_http_net_parse(&n, "10.0.0.0/8"), 0);
    assert_int_equal(n.family, AF_INET);
    assert_int_equal(n.prefix, 8);
    assert_int_equal(rg_http_net_parse(&n, "2001:db8::1"), 0);
    assert_int_equal(n.prefix, 128);
    assert_int_equal(rg_http_net_parse(&n, "10.0.0.1/8"), RG_EINVALID); /* host bits */
    assert_non_null(strstr(rg_error_last(), "past the /8 prefix"));
    assert_int_equal(rg_http_net_parse(&n, "10.0.0.0/33"), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "from 0 to 32"));
    assert_int_equal(rg_http_net_parse(&n, "10.0.0.0/"), RG_EINVALID);
    assert_int_equal(rg_http_net_parse(&n, "10.0.0.0/8x"), RG_EINVALID);
    assert_int_equal(rg_http_net_parse(&n, "intranet/8"), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "'intranet' is not an IPv4 or IPv6 address"));
    assert_int_equal(rg_http_net_parse(&n, ""), RG_EINVALID);
    assert_int_equal(rg_http_net_parse(&n, "/8"), RG_EINVALID);
}

static void test_only_http_and_https(void **state)
{
    rg_http_response resp;
    (void)state;
    assert_int_equal(rg_http_post_json(&resp, "ftp://127.0.0.1/x", NULL, "{}", NULL), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "only http and https"));
    assert_int_equal(rg_http_post_json(&resp, "file:///etc/passwd", NULL, "{}", NULL), RG_EINVALID);
    rg_http_response_dispose(&resp);
}

static int always(void *p)
{
    (void)p;
    return 1;
}

static void test_cancel_and_timeout(void **state)
{
    rg_http_response resp;
    rg_http_options o;
    char url[128];
    (void)state;

    rg_http_options_init(&o);
    o.cancel = always;
    url_of(url, sizeof(url), "127.0.0.1", "/slow");
    assert_int_equal(rg_http_post_json(&resp, url, NULL, "{}", &o), RG_ETIMEOUT);
    assert_true(resp.cancelled);
    assert_int_equal(resp.status, 0);
    rg_http_response_dispose(&resp);
    rg_http_options_init(&o);
    o.timeout_ms = 200;
    assert_int_equal(rg_http_post_json(&resp, url, NULL, "{}", &o), RG_EUNREACHABLE);
    assert_int_equal(resp.status, 0);
    assert_non_null(strstr(rg_error_last(), "imeout"));
    rg_http_response_dispose(&resp);
}

static void test_signature_matches_openssl(void **state)
{
    const char *secret = "k3y", *ts = "1764633600", *body = "{\"gate\":\"pre-stage\"}";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char want[RG_HTTP_SIGNATURE_LEN], got[RG_HTTP_SIGNATURE_LEN];
    char text[256];
    (void)state;

    snprintf(text, sizeof(text), "%s.%s", ts, body);
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)text, strlen(text), mac,
         &maclen);
    assert_int_equal(maclen, 32);
    /* The snprintf loop below writes the rest and the terminator. */
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result)
    memcpy(want, "sha256=", 7);
    for (unsigned i = 0; i < maclen; i++)
        snprintf(want + 7 + (size_t)2 * i, 3, "%02x", mac[i]);
    assert_int_equal(rg_http_signature(got, sizeof(got), secret, ts, body), 0);
    assert_string_equal(got, want);
    assert_int_equal(rg_http_signature(got, 10, secret, ts, body), RG_EINVALID);
}

static void test_url_for_log_drops_secrets(void **state)
{
    char out[256];
    (void)state;
    rg_http_url_for_log(out, sizeof(out), "https://user:pw@gate.example.com/x?token=abc#f");
    assert_string_equal(out, "https://gate.example.com/x");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_headers_and_bounded_body),
        cmocka_unit_test(test_guard_refuses_internal_addresses),
        cmocka_unit_test(test_guard_allow_list),
        cmocka_unit_test(test_guard_address_table),
        cmocka_unit_test(test_net_parse_errors),
        cmocka_unit_test(test_only_http_and_https),
        cmocka_unit_test(test_cancel_and_timeout),
        cmocka_unit_test(test_signature_matches_openssl),
        cmocka_unit_test(test_url_for_log_drops_secrets),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
