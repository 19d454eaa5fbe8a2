/* test_serve_tenants_conn.c - `rollgate serve` among hostile tenants (test_serve_tenants):
 * connections: the token read before the body, long-polls and streams
 * per token, an idle flood */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "integration/test_serve_support.h"
#include "rollgate/platform.h"
#include "rollgate/store.h"
#include "support/simproc.h"
#include "support/testutil.h"

#include "integration/test_serve_tenants.h"

/* ---- 7. connections: token before body, streams per token, an idle flood ---- */

static int connect_from(const char *src, const char *server_url)
{
    struct sockaddr_in sa, from;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* Test-only value produced by the test harness. */
    // NOLINTNEXTLINE(cert-err34-c)
    unsigned port = (unsigned)atoi(strrchr(server_url, ':') + 1);

    memset(&sa, 0, sizeof(sa));
    memset(&from, 0, sizeof(from));
    sa.sin_family = from.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    inet_pton(AF_INET, src, &from.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Sends `request` and reads the status line within `ms`; the status or -1. */
static int raw_status(int fd, const char *request, int ms)
{
    char buf[256];
    size_t len = 0;
    int64_t deadline = rg_time_mono_ms() + ms;

    if (write(fd, request, strlen(request)) != (ssize_t)strlen(request))
        return -1;
    while (len + 1 < sizeof(buf)) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - rg_time_mono_ms();
        ssize_t n;
        if (left <= 0 || poll(&p, 1, (int)left) <= 0 || (n = read(fd, buf + len, 1)) <= 0)
            return -1;
        if (buf[len++] == '\n')
            break;
    }
    buf[len] = '\0';
    /* Test-only value produced by the test harness. */
    // NOLINTNEXTLINE(cert-err34-c)
    return strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : -1;
}

void test_token_before_body(void **state)
{
    fixture *f = *state;
    int fd = connect_from("127.0.0.1", f->srv.url);

    assert_true(fd >= 0);
    /* The body is announced and never sent: the answer comes from the headers alone. */
    assert_int_equal(
        raw_status(fd,
                   "POST /api/v1/rollouts HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer rg_0000000000000000000000000000000000000000\r\n"
                   "Content-Type: application/json\r\n"
                   "Content-Length: 900000\r\n\r\n",
                   3000),
        401);
    close(fd);
}

void test_streams_per_token(void **state)
{
    fixture *f = *state;
    int fds[9], other;
    char req[512];

    snprintf(req, sizeof(req),
             "GET /api/v1/rollouts/%s/events HTTP/1.1\r\nHost: x\r\n"
             "Authorization: Bearer %s\r\n\r\n",
             f->acme_rollout, f->acme_viewer);
    for (int i = 0; i < 9; i++) {
        fds[i] = connect_from("127.0.0.1", f->srv.url);
        assert_true(fds[i] >= 0);
        assert_int_equal(raw_status(fds[i], req, 5000), i < 8 ? 200 : 429);
    }
    /* The cap is per token: another token of the same tenant still gets its stream. */
    snprintf(req, sizeof(req),
             "GET /api/v1/rollouts/%s/gate?timeout=0 HTTP/1.1\r\nHost: x\r\n"
             "Authorization: Bearer %s\r\n\r\n",
             f->acme_rollout, f->acme_operator);
    other = connect_from("127.0.0.1", f->srv.url);
    assert_int_equal(raw_status(other, req, 5000), 200);
    close(other);
    for (int i = 0; i < 9; i++)
        close(fds[i]);
}

void test_idle_flood(void **state)
{
    fixture *f = *state;
    enum { IDLE = 300 };
    int fds[IDLE], open_now = 0, closed_fast = 0;
    rg_buf resp = RG_BUF_INIT;
    int64_t deadline;

    /* 300 connections from 127.0.0.1 that never send a byte. */
    for (int i = 0; i < IDLE; i++) {
        fds[i] = connect_from("127.0.0.1", f->srv.url);
        assert_true(fds[i] >= 0);
    }
    /* A valid request from another loopback address is answered within a second (raw, so
     * the second is the server's, not a client library's). */
    {
        char req[256];
        int fd = connect_from("127.0.0.2", f->srv.url);
        assert_true(fd >= 0);
        snprintf(req, sizeof(req),
                 "GET /api/v1/rollouts HTTP/1.1\r\nHost: x\r\n"
                 "Authorization: Bearer %s\r\n\r\n",
                 f->acme_viewer);
        assert_int_equal(raw_status(fd, req, 1000), 200);
        close(fd);
    }
    /* The per-address cap refused most of them at once; the rest are dropped by the short
     * timeout before authentication (bounded wait, not a timing assertion). */
    for (int i = 0; i < IDLE; i++) {
        struct pollfd p = {fds[i], POLLIN, 0};
        char b;
        if (poll(&p, 1, 0) == 1 && read(fds[i], &b, 1) <= 0)
            closed_fast++;
    }
    assert_true(closed_fast >= IDLE - 32);
    deadline = rg_time_mono_ms() + 15000;
    do {
        open_now = 0;
        for (int i = 0; i < IDLE; i++) {
            struct pollfd p = {fds[i], POLLIN, 0};
            char b;
            if (fds[i] >= 0 && poll(&p, 1, 0) == 1 && read(fds[i], &b, 1) <= 0) {
                close(fds[i]);
                fds[i] = -1;
            }
            open_now += fds[i] >= 0;
        }
        if (open_now)
            poll(NULL, 0, 100);
    } while (open_now && rg_time_mono_ms() < deadline);
    assert_int_equal(open_now, 0);
    /* And 127.0.0.1 itself is served again. */
    assert_int_equal(call(f, "GET", "/api/v1/rollouts", f->acme_viewer, NULL, NULL, &resp), 200);
    rg_buf_dispose(&resp);
}
