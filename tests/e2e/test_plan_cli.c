/* test_plan_cli.c - runs `rollgate plan ... --offline` as a user would and checks its output */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include "rollgate/util.h"
#include "support/testutil.h"

typedef struct {
    int status;
    char *out;
    char *err;
} run_result;

/* Runs the rollgate binary with `args` (already shell-quoted), capturing stdout/stderr. */
static char dir[4096]; /* scratch for captured output; removed by the group teardown */

static int remove_dir(void **state)
{
    (void)state;
    return dir[0] ? rg_test_rmtree(dir) : 0;
}

static run_result run_rollgate(const char *args)
{
    char outp[4200], errp[4200];
    rg_buf cmd = RG_BUF_INIT;
    run_result r = {-1, NULL, NULL};
    int status;

    if (dir[0] == '\0')
        assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(outp, sizeof(outp), "%s/out", dir);
    snprintf(errp, sizeof(errp), "%s/err", dir);
    rg_buf_printf(&cmd, "'%s/cli/rollgate' %s >'%s' 2>'%s'", rg_test_binary_dir(), args, outp,
                  errp);
    status = system(rg_buf_cstr(&cmd));
    assert_true(status != -1 && WIFEXITED(status));
    r.status = WEXITSTATUS(status);
    r.out = rg_test_read_file(outp, NULL);
    r.err = rg_test_read_file(errp, NULL);
    assert_non_null(r.out);
    assert_non_null(r.err);
    rg_buf_dispose(&cmd);
    return r;
}

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

static json_t *plan_json(const char *manifest_rel, const char *extra)
{
    char args[8192];
    json_error_t err;
    json_t *doc;
    run_result r;

    snprintf(args, sizeof(args), "plan '%s/%s' --offline --json %s", rg_test_source_dir(),
             manifest_rel, extra);
    r = run_rollgate(args);
    if (r.status != 0)
        fail_msg("exit %d: %s", r.status, r.err);
    assert_string_equal(r.err, "");
    assert_null(strstr(r.out, "{{")); /* every variable substituted */
    doc = json_loads(r.out, 0, &err);
    if (doc == NULL)
        fail_msg("not JSON (%s): %s", err.text, r.out);
    run_free(&r);
    return doc;
}

static const char *str_at(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    assert_non_null(s);
    return s;
}

static void test_plan_json_orders_by_tier_and_substitutes(void **state)
{
    json_t *doc = plan_json("tests/data/good/routing.yaml", "");
    json_t *targets = json_object_get(doc, "targets"), *t;
    json_int_t last_tier = -1;
    size_t i;
    (void)state;

    assert_string_equal(str_at(doc, "name"), "routing-v2.1");
    assert_string_equal(str_at(doc, "tenant"), "acme");
    assert_string_equal(str_at(json_object_get(doc, "policy"), "name"), "contact-center");
    assert_int_equal(json_array_size(json_object_get(doc, "stages")), 3);
    assert_int_equal(json_array_size(targets), 5);
    t = json_array_get(targets, 0);
    assert_string_equal(str_at(t, "org"), "org_parent_001");
    assert_string_equal(str_at(t, "group"), "global_shared");
    assert_int_equal(json_integer_value(json_object_get(t, "stage")), 0);
    json_array_foreach(targets, i, t)
    {
        json_int_t tier = json_integer_value(json_object_get(t, "tier"));
        json_t *body = json_object_get(t, "body");
        const char *group = str_at(t, "group");
        char want[128];
        assert_int_equal(json_integer_value(json_object_get(t, "seq")), (json_int_t)i);
        assert_true(tier >= last_tier);
        last_tier = tier;
        assert_string_equal(str_at(t, "strategy"), "strat_main");
        snprintf(want, sizeof(want), "Production_Routing_v2.1-%s",
                 strcmp(group, "global_shared") == 0 ? "global"
                 : strcmp(group, "na_east") == 0     ? "na-east"
                                                     : "eu-central");
        assert_string_equal(str_at(body, "name"), want);
    }
    /* the parent group comes before every sub-org group */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(targets, 1), "tier")), 1);
    assert_string_equal(str_at(json_array_get(targets, 1), "org"), "org_sub_002");
    assert_string_equal(str_at(json_array_get(targets, 4), "org"), "org_sub_005");
    json_decref(doc);
}

static void test_plan_json_same_for_yaml_and_json(void **state)
{
    json_t *a = plan_json("tests/data/good/routing.yaml", "");
    json_t *b = plan_json("tests/data/good/routing.json", "");
    (void)state;

    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
}

static void test_plan_var_overrides(void **state)
{
    json_t *doc = plan_json("tests/data/good/routing.yaml", "--var ENV_REGION=zz");
    json_t *t;
    size_t i;
    (void)state;

    json_array_foreach(json_object_get(doc, "targets"), i, t) assert_string_equal(
        str_at(json_object_get(t, "body"), "name"), "Production_Routing_v2.1-zz");
    json_decref(doc);
}

/* Without --offline the plan is live; with no credentials in the environment every org is
 * a blocker found before any request is sent, so this test touches no network. */
static void test_live_plan_without_credentials_blocks(void **state)
{
    char args[4600];
    run_result r;
    (void)state;

    unsetenv("ROLLGATE_ORG_PARENT_001_CLIENT_ID");
    unsetenv("ROLLGATE_ORG_PARENT_001_CLIENT_SECRET");
    snprintf(args, sizeof(args), "plan '%s/tests/data/good/routing.yaml'", rg_test_source_dir());
    r = run_rollgate(args);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "blocker: org_parent_001"));
    assert_non_null(strstr(r.out, "ROLLGATE_ORG_PARENT_001_CLIENT_ID"));
    assert_non_null(strstr(r.out, "pre-flight BLOCKS this rollout"));
    run_free(&r);
}

static void test_plan_invalid_manifest_exits_3(void **state)
{
    char args[4600], want[4600];
    run_result r;
    (void)state;

    snprintf(args, sizeof(args), "plan '%s/tests/data/bad/cycle.yaml' --offline --json",
             rg_test_source_dir());
    r = run_rollgate(args);
    assert_int_equal(r.status, 3);
    snprintf(want, sizeof(want),
             "%s/tests/data/bad/cycle.yaml:15:18: groups[1].depends_on[0]: cycle: "
             "parent -> child -> parent",
             rg_test_source_dir());
    { /* --json: the error is a JSON object on stdout, and a line on stderr */
        json_t *doc = json_loads(r.out, 0, NULL), *e = json_object_get(doc, "error");
        assert_non_null(e);
        assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid");
        assert_int_equal(json_integer_value(json_object_get(e, "exit")), 3);
        assert_string_equal(json_string_value(json_object_get(e, "message")), want);
        json_decref(doc);
    }
    assert_int_equal(strncmp(r.err, "rollgate: ", 10), 0);
    assert_int_equal(strncmp(r.err + 10, want, strlen(want)), 0);
    assert_string_equal(r.err + 10 + strlen(want), "\n");
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_json_orders_by_tier_and_substitutes),
        cmocka_unit_test(test_plan_json_same_for_yaml_and_json),
        cmocka_unit_test(test_plan_var_overrides),
        cmocka_unit_test(test_live_plan_without_credentials_blocks),
        cmocka_unit_test(test_plan_invalid_manifest_exits_3),
    };
    return cmocka_run_group_tests(tests, NULL, remove_dir);
}
