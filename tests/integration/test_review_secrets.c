/* test_review_secrets.c - a login server whose error answer echoes the client credentials
 * (a misconfigured proxy, a buggy or hostile endpoint): the secret reaches neither the op's
 * error (which becomes a hold reason in the database) nor the log */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollgate/platform.h"
#include "rollgate/util.h"

#define SECRET "s3cr3t_value_never_shown"
#define CLIENT "client_id_never_shown"

static rg_buf logged = RG_BUF_INIT;
static char op_error[1024]; /* the last check's op error */

static void capture(rg_log_level level, const char *component, const char *message, void *payload)
{
    (void)level, (void)payload;
    rg_buf_printf(&logged, "%s: %s\n", component, message);
}

typedef struct {
    int fd;
    const char *body; /* the JSON every request is answered with, status 401 */
} responder;

/* Answers every connection with one 401 carrying `body`, until the socket is closed. */
static void *respond_loop(void *arg)
{
    responder *r = arg;
    char req[8192], head[256];
    int c;

    while ((c = accept(r->fd, NULL, NULL)) >= 0) {
        ssize_t n = read(c, req, sizeof(req));
        (void)n;
        snprintf(head, sizeof(head),
                 "HTTP/1.1 401 Unauthorized\r\nContent-Type: "
                 "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                 strlen(r->body));
        if (write(c, head, strlen(head)) < 0 || write(c, r->body, strlen(r->body)) < 0)
            (void)0;
        close(c);
    }
    return NULL;
}

static void check_echo(const char *body)
{
    responder r = {-1, body};
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof(a);
    pthread_t th;
    char url[64];
    rg_platform_options o;
    rg_platform *p = NULL;
    rg_platform_op *op = NULL;
    rg_platform_org org = {"org_echo", NULL, NULL, "env"};

    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true((r.fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
    assert_int_equal(bind(r.fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(r.fd, 8), 0);
    assert_int_equal(getsockname(r.fd, (struct sockaddr *)&a, &alen), 0);
    assert_int_equal(pthread_create(&th, NULL, respond_loop, &r), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    org.api_url = url;
    org.login_url = url;
    setenv("ROLLGATE_ORG_ECHO_CLIENT_ID", CLIENT, 1);
    setenv("ROLLGATE_ORG_ECHO_CLIENT_SECRET", SECRET, 1);

    rg_platform_options_init(&o);
    assert_int_equal(rg_platform_new(&p, &o), 0);
    assert_int_equal(rg_platform_add_org(p, &org), 0);
    assert_int_equal(rg_platform_queue_org_check(&op, p, "org_echo", NULL, NULL), 0);
    rg_log_set_sink(capture, NULL, RG_LOG_DEBUG);
    rg_platform_run(p);
    rg_log_set_sink(NULL, NULL, RG_LOG_ERROR);
    assert_int_equal(rg_platform_op_status(op), RG_EAUTH);
    snprintf(op_error, sizeof(op_error), "%s", rg_platform_op_error(op));
    assert_non_null(strstr(rg_platform_op_error(op), "credentials refused"));
    assert_null(strstr(rg_platform_op_error(op), SECRET));
    assert_null(strstr(rg_platform_op_error(op), "s3cr3t"));
    assert_null(strstr(rg_platform_op_error(op), CLIENT));
    assert_null(strstr(rg_error_last(), SECRET));
    assert_non_null(strstr(rg_buf_cstr(&logged), "org_echo")); /* the sink saw the traffic */
    assert_null(strstr(rg_buf_cstr(&logged), SECRET));
    assert_null(strstr(rg_buf_cstr(&logged), "s3cr3t"));
    assert_null(strstr(rg_buf_cstr(&logged), CLIENT));
    rg_platform_op_free(op);
    rg_platform_free(p);
    shutdown(r.fd, SHUT_RDWR);
    close(r.fd);
    pthread_join(th, NULL);
    rg_buf_dispose(&logged);
}

static void test_error_echoing_the_secret(void **state)
{
    (void)state;
    check_echo("{\"error\":\"invalid_client: secret " SECRET " is wrong\"}");
}

static void test_error_that_is_the_secret(void **state)
{
    (void)state;
    check_echo("{\"error\":\"" SECRET "\"}");
    check_echo("{\"error\":\"" CLIENT "\"}");
}

static void test_plain_code_still_shown(void **state)
{
    (void)state;
    check_echo("{\"error\":\"invalid_client\"}");
    assert_non_null(strstr(op_error, "(HTTP 401, invalid_client)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_echoing_the_secret),
        cmocka_unit_test(test_error_that_is_the_secret),
        cmocka_unit_test(test_plain_code_still_shown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
