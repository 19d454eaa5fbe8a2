/* test_serve_abuse.c - hostile HTTP against `rollgate serve`: oversized headers, path
 * traversal, SQL metacharacters in ids, malformed bodies — each refused, the server alive,
 * nothing stored */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "integration/test_serve_support.h"
#include "support/testutil.h"

typedef struct {
    char dir[PATH_MAX], db[PATH_MAX + 16], tokens[PATH_MAX + 16];
    serve_proc srv;
    char *viewer, *release;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL || rg_test_mkdtemp(f->dir, sizeof(f->dir)) < 0)
        return -1;
    snprintf(f->db, sizeof(f->db), "%s/serve.db", f->dir);
    snprintf(f->tokens, sizeof(f->tokens), "%s/tokens.json", f->dir);
    f->viewer = serve_token_new(f->tokens, "demo", "viewer", "watcher");
    f->release = serve_token_new(f->tokens, "demo", "release", "ci-bot");
    if (!f->viewer || !f->release || serve_start(&f->srv, f->db, f->tokens) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    assert_int_equal(serve_stop(&f->srv), 0);
    free(f->viewer);
    free(f->release);
    rg_test_rmtree(f->dir);
    free(f);
    return 0;
}

static void assert_alive(fixture *f)
{
    rg_buf body = RG_BUF_INIT;
    long status = 0;
    assert_int_equal(
        serve_http(f->srv.url, "GET", "/healthz", NULL, NULL, NULL, &status, &body, NULL), 0);
    assert_int_equal(status, 200);
    rg_buf_dispose(&body);
}

static long get(fixture *f, const char *path, const char *token, rg_buf *body)
{
    long status = 0;
    rg_buf_clear(body);
    if (serve_http(f->srv.url, "GET", path, token, NULL, NULL, &status, body, NULL) < 0)
        return -1;
    return status;
}

static void test_oversized_header_refused(void **state)
{
    fixture *f = *state;
    rg_buf body = RG_BUF_INIT;
    size_t n = (size_t)256 * 1024;
    char *huge = malloc(n + 1);
    long status;

    memset(huge, 'a', n);
    huge[n] = '\0';
    status = get(f, "/api/v1/rollouts", huge, &body);
    /* Refused (4xx) or the connection dropped (-1): never served, never a crash. */
    assert_true(status == -1 || (status >= 400 && status < 500));
    assert_true(status != 200);
    free(huge);
    assert_alive(f);
    rg_buf_dispose(&body);
}

static void test_path_traversal_refused(void **state)
{
    fixture *f = *state;
    static const char *const paths[] = {
        "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/index.html/../../../etc/passwd",
        "/api/v1/rollouts/..%2f..%2fetc%2fpasswd", "/dashboard/../../../../etc/shadow"};
    rg_buf body = RG_BUF_INIT;

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        long status = get(f, paths[i], f->viewer, &body);
        assert_true(status != -1);
        if (strstr(rg_buf_cstr(&body), "root:") != NULL)
            fail_msg("%s served a system file", paths[i]);
        /* the dashboard page for "/" is the only static file; anything else is refused */
        assert_true(status == 404 || status == 400 || strstr(rg_buf_cstr(&body), "rollgate"));
    }
    assert_alive(f);
    rg_buf_dispose(&body);
}

static void test_sql_metacharacters_in_ids(void **state)
{
    fixture *f = *state;
    static const char *const ids[] = {"x'%20OR%20'1'='1", "ro_1;DROP%20TABLE%20rollouts;--",
                                      "%22%5C%27", "ro_%00abc"};
    rg_buf body = RG_BUF_INIT;
    json_t *list;
    long status = 0;

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), "/api/v1/rollouts/%s", ids[i]);
        status = get(f, path, f->viewer, &body);
        assert_true(status == 404 || status == 400);
        snprintf(path, sizeof(path), "/api/v1/rollouts/%s/gate?timeout=0", ids[i]);
        status = get(f, path, f->viewer, &body);
        assert_true(status == 404 || status == 400);
    }
    /* the tables are intact: listing works and is empty */
    list = serve_http_json(f->srv.url, "GET", "/api/v1/rollouts", f->viewer, NULL, &status);
    assert_int_equal(status, 200);
    assert_non_null(list);
    json_decref(list);
    assert_alive(f);
    rg_buf_dispose(&body);
}

static void test_malformed_bodies_refused(void **state)
{
    fixture *f = *state;
    static const char *const bodies[] = {
        "{", "[]", "null", "{\"name\":\"x\\u0000y\"}", "\xff\xfe{}", "{\"name\":1e999}"};
    rg_buf body = RG_BUF_INIT;
    json_t *list;
    long status = 0;

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        rg_buf_clear(&body);
        assert_int_equal(serve_http(f->srv.url, "POST", "/api/v1/rollouts", f->release, NULL,
                                    bodies[i], &status, &body, NULL),
                         0);
        assert_int_equal(status, 400);
        assert_non_null(strstr(rg_buf_cstr(&body), "\"error\""));
    }
    list = serve_http_json(f->srv.url, "GET", "/api/v1/rollouts", f->viewer, NULL, &status);
    assert_int_equal(json_array_size(json_object_get(list, "rollouts")) +
                         (json_is_array(list) ? json_array_size(list) : 0),
                     0); /* nothing stored */
    json_decref(list);
    assert_alive(f);
    rg_buf_dispose(&body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oversized_header_refused),
        cmocka_unit_test(test_path_traversal_refused),
        cmocka_unit_test(test_sql_metacharacters_in_ids),
        cmocka_unit_test(test_malformed_bodies_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
