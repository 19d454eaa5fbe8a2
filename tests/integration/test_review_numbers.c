/* test_review_numbers.c - a platform that answers a number in another JSON form (50.0 for
 * the 50 we sent, as a double built on doubles does): a 412's re-read still finds the change
 * in place and sends no second PATCH */
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

#include "rollgate/body.h"
#include "rollgate/platform.h"
#include "rollgate/util.h"

typedef struct {
    int fd;
    int patches; /* PATCH requests seen */
} fake;

static void answer(int c, int status, const char *etag, const char *body)
{
    char head[512];
    snprintf(head, sizeof(head),
             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
             "%s%s%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
             status, etag ? "ETag: " : "", etag ? etag : "", etag ? "\r\n" : "", strlen(body));
    if (write(c, head, strlen(head)) < 0 || write(c, body, strlen(body)) < 0)
        (void)0;
}

/* Token: granted. PATCH: 412 (our earlier write landed and moved the ETag). GET: the
 * strategy holding our change, its weight written 50.0. */
static void *serve(void *arg)
{
    fake *f = arg;
    char req[8192];
    int c;

    while ((c = accept(f->fd, NULL, NULL)) >= 0) {
        ssize_t n = read(c, req, sizeof(req) - 1);
        req[n > 0 ? n : 0] = '\0';
        if (strncmp(req, "POST ", 5) == 0)
            answer(c, 200, NULL,
                   "{\"access_token\":\"tok\",\"token_type\":\"bearer\","
                   "\"expires_in\":3600}");
        else if (strncmp(req, "PATCH ", 6) == 0) {
            f->patches++;
            answer(c, 412, NULL, "{\"status\":412,\"code\":\"conflict\",\"message\":\"etag\"}");
        } else
            answer(c, 200, "\"e1\"",
                   "{\"id\":\"s1\",\"name\":\"n\",\"targets\":[{\"type\":"
                   "\"Queue\",\"id\":\"q1\",\"weight\":50.0,\"priority\":1}],"
                   "\"settings\":{\"ratio\":1.0}}");
        close(c);
    }
    return NULL;
}

static void test_reread_compares_numbers_by_value(void **state)
{
    fake f = {-1, 0};
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof(a);
    pthread_t th;
    char url[64];
    rg_platform_options o;
    rg_platform *p = NULL;
    rg_platform_op *op = NULL;
    rg_platform_org org = {"org_num", NULL, NULL, "env"};
    json_t *patch = json_pack("{s:[{s:s, s:s, s:i, s:i}], s:{s:i}}", "targets", "type", "Queue",
                              "id", "q1", "weight", 50, "priority", 1, "settings", "ratio", 1);
    (void)state;

    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true((f.fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
    assert_int_equal(bind(f.fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f.fd, 8), 0);
    assert_int_equal(getsockname(f.fd, (struct sockaddr *)&a, &alen), 0);
    assert_int_equal(pthread_create(&th, NULL, serve, &f), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    org.api_url = url;
    org.login_url = url;
    setenv("ROLLGATE_ORG_NUM_CLIENT_ID", "cid", 1);
    setenv("ROLLGATE_ORG_NUM_CLIENT_SECRET", "csecret", 1);

    rg_platform_options_init(&o);
    assert_int_equal(rg_platform_new(&p, &o), 0);
    assert_int_equal(rg_platform_add_org(p, &org), 0);
    assert_int_equal(rg_platform_queue_strategy_update(&op, p, "org_num", "s1", "\"e0\"", patch,
                                                       NULL, NULL, NULL, NULL),
                     0);
    rg_platform_run(p);
    if (rg_platform_op_status(op) < 0)
        print_message("op: %s\n", rg_platform_op_error(op));
    assert_int_equal(rg_platform_op_status(op), 0);
    assert_true(rg_platform_op_in_place(op));
    assert_int_equal(f.patches, 1); /* the first, refused; none after the re-read */
    rg_platform_op_free(op);
    rg_platform_free(p);
    json_decref(patch);
    shutdown(f.fd, SHUT_RDWR);
    close(f.fd);
    pthread_join(th, NULL);
}

/* The restore's three-way merge: live 1.0 where the change wrote 1 is the change, not a
 * person's edit, so it is restored; a live value the change never wrote is kept. */
static void test_restore_compares_numbers_by_value(void **state)
{
    json_t *snap = json_pack("{s:{s:f, s:i}}", "settings", "ratio", 0.5, "cap", 3);
    json_t *applied = json_pack("{s:{s:i, s:i}}", "settings", "ratio", 1, "cap", 4);
    json_t *live = json_pack("{s:{s:f, s:f}}", "settings", "ratio", 1.0, "cap", 5.0);
    json_t *patch = NULL, *kept = NULL;
    (void)state;
    assert_int_equal(rg_body_restore_patch(&patch, &kept, snap, applied, live), 0);
    assert_true(json_is_object(json_object_get(patch, "settings")));
    assert_true(json_number_value(json_object_get(json_object_get(patch, "settings"), "ratio")) ==
                0.5);
    assert_int_equal(json_array_size(kept), 1); /* cap: 5.0 is a person's, not our 4 */
    assert_string_equal(json_string_value(json_array_get(kept, 0)), "settings.cap");
    assert_true(rg_body_patch_applied(live, applied) == 0);
    json_object_set_new(json_object_get(live, "settings"), "cap", json_real(4.0));
    assert_true(rg_body_patch_applied(live, applied));
    {
        json_t *one = json_integer(1), *text = json_string("1");
        assert_false(rg_body_same(one, text));
        json_decref(one);
        json_decref(text);
    }
    json_decref(snap);
    json_decref(applied);
    json_decref(live);
    json_decref(patch);
    json_decref(kept);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reread_compares_numbers_by_value),
        cmocka_unit_test(test_restore_compares_numbers_by_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
