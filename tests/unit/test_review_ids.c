/* test_review_ids.c - an id that goes into a platform URL cannot be a dot segment: curl
 * resolves /routing/strategies/.. to /routing/, another endpoint than the one named */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/manifest.h"
#include "rollgate/platform.h"
#include "rollgate/util.h"

static const char manifest_fmt[] =
    "name: dots\n"
    "tenant: acme\n"
    "stages: [10, 100]\n"
    "platform: {driver: genesys, api_url: 'https://api.mypurecloud.com',"
    " login_url: 'https://login.mypurecloud.com', credentials: env}\n"
    "groups:\n"
    "  - {name: g, orgs: [org_a]}\n"
    "change:\n"
    "  strategy: '%s'\n"
    "  watch_queues: ['%s']\n"
    "  template: {name: n, settings: {}, targets: [{type: Queue, id: q1, weight: 1,"
    " priority: 1}]}\n";

static int load(const char *strategy, const char *queue)
{
    char text[1024];
    rg_manifest *m = NULL;
    int rc;

    snprintf(text, sizeof(text), manifest_fmt, strategy, queue);
    rc = rg_manifest_load_buffer(&m, "dots.yaml", text, strlen(text), NULL, NULL);
    rg_manifest_free(m);
    return rc;
}

static void test_manifest_refuses_dot_ids(void **state)
{
    (void)state;
    assert_int_equal(load("strat_main", "q1"), 0);
    assert_int_equal(load("..", "q1"), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "change.strategy"));
    assert_int_equal(load(".", "q1"), RG_EINVALID);
    assert_int_equal(load("strat_main", ".."), RG_EINVALID);
    assert_int_equal(load("a..b", "q.1"), 0); /* dots inside an id stay allowed */
}

static void never(rg_platform_op *op, void *payload)
{
    (void)op, (void)payload;
}

static void test_platform_refuses_dot_ids(void **state)
{
    rg_platform_options o;
    rg_platform *p = NULL;
    rg_platform_op *op = NULL;
    rg_platform_org org = {"org_a", "https://api.example.invalid", "https://login.example.invalid",
                           "env"};
    (void)state;
    setenv("ROLLGATE_ORG_A_CLIENT_ID", "cid", 1);
    setenv("ROLLGATE_ORG_A_CLIENT_SECRET", "csecret", 1);
    rg_platform_options_init(&o);
    assert_int_equal(rg_platform_new(&p, &o), 0);
    assert_int_equal(rg_platform_add_org(p, &org), 0);
    /* The control: a plain id is queued (and never run). */
    assert_int_equal(rg_platform_queue_strategy_get(&op, p, "org_a", "s1", never, NULL), 0);
    rg_platform_op_free(op); /* the caller owns a queued op */
    op = NULL;
    assert_int_equal(rg_platform_queue_strategy_get(&op, p, "org_a", "..", never, NULL),
                     RG_EINVALID);
    assert_null(op);
    assert_int_equal(rg_platform_queue_queue_get(&op, p, "org_a", ".", never, NULL), RG_EINVALID);
    assert_null(op);
    rg_platform_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_refuses_dot_ids),
        cmocka_unit_test(test_platform_refuses_dot_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
