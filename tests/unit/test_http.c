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
    assert_non_null(strstr(rg_error_last(), "loopback or link-local"));
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
        cmocka_unit_test(test_only_http_and_https),
        cmocka_unit_test(test_cancel_and_timeout),
        cmocka_unit_test(test_signature_matches_openssl),
        cmocka_unit_test(test_url_for_log_drops_secrets),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
