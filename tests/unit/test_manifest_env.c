/* test_manifest_env.c - environments in manifests: selection, bad input, the digest */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/manifest.h"
#include "rollgate/util.h"
#include "support/testutil.h"

#define PATH_LEN 4096

static int load(rg_manifest **out, const char *file, const char *env, char *path, size_t len)
{
    char rel[256];
    rg_manifest_options opts = {NULL, 0, env};
    snprintf(rel, sizeof(rel), "tests/data/envs/%s", file);
    rg_test_path(path, len, rel);
    return rg_manifest_load_file(out, path, &opts);
}

static void expect_error(const char *file, const char *env, const char *suffix)
{
    char path[PATH_LEN], want[2 * PATH_LEN];
    rg_manifest *m = NULL;
    int rc = load(&m, file, env, path, sizeof(path));

    assert_null(m);
    snprintf(want, sizeof(want), "%s%s", path, suffix);
    if (rc != RG_EINVALID || strcmp(rg_error_last(), want) != 0)
        fail_msg("%s: got %s '%s'\n  want EINVALID '%s'", file, rg_error_name(rc), rg_error_last(),
                 want);
}

static void test_bad_environments_name_the_place(void **state)
{
    (void)state;
    expect_error("good.yaml", NULL,
                 ":13:3: environments: this manifest has environments (staging, production): "
                 "choose one with --env NAME");
    expect_error("good.yaml", "prod",
                 ":13:3: environments: unknown environment 'prod'; this manifest has staging, "
                 "production");
    expect_error("cycle.yaml", NULL,
                 ":19:25: environments.production.requires.staging: cycle in requires: staging "
                 "-> production -> staging");
    expect_error("org_twice.yaml", "staging",
                 ":23:63: environments.production.groups[1].orgs[1]: org 'org_stg_1' is "
                 "already listed in environment 'staging'");
    expect_error("missing_required.yaml", "staging",
                 ":18:20: environments.production.requires.qa: unknown environment 'qa' (a "
                 "required environment must be defined under environments)");
    expect_error("top_groups.yaml", "staging",
                 ":12:9: groups: a manifest with environments lists groups per environment "
                 "(environments.NAME.groups), not at the top level");
    expect_error("bad_state.yaml", "staging",
                 ":18:25: environments.production.requires.staging: expected "
                 "completed, got 'running'");
}

static void test_undefined_variable_in_another_environment(void **state)
{
    char path[PATH_LEN];
    rg_manifest *m = NULL;
    (void)state;

    /* Selecting production is not enough: staging must render the same template too. */
    assert_int_equal(load(&m, "undefined_var.yaml", "production", path, sizeof(path)), RG_EINVALID);
    assert_null(m);
    assert_non_null(strstr(rg_error_last(), "environments.staging"));
    assert_non_null(strstr(rg_error_last(), "REGION"));
}

static void test_selection_and_digest(void **state)
{
    char path[PATH_LEN];
    rg_manifest *stg = NULL, *prod = NULL, *back = NULL;
    json_t *json = NULL;
    char *text = NULL, *edited = NULL, *at;
    const rg_manifest_env *e;
    (void)state;

    assert_int_equal(load(&stg, "good.yaml", "staging", path, sizeof(path)), 0);
    assert_int_equal(load(&prod, "good.yaml", "production", path, sizeof(path)), 0);
    assert_string_equal(stg->environment, "staging");
    assert_int_equal(stg->groups_count, 1);
    assert_string_equal(stg->groups[0].orgs[0].id, "org_stg_1");
    assert_int_equal(stg->approval, RG_APPROVAL_NONE);
    assert_int_equal(prod->groups_count, 2);
    assert_int_equal(prod->approval, RG_APPROVAL_REQUIRED);
    /* A group's own variable wins over its environment's. */
    assert_string_equal(prod->groups[0].vars[0].value, "global");
    assert_string_equal(prod->groups[1].vars[0].value, "prod");
    e = rg_manifest_env_find(prod, "production");
    assert_non_null(e);
    assert_int_equal(e->requires_count, 1);
    assert_string_equal(e->requires[0], "staging");
    assert_true(e->max_age_ms == 7LL * 24 * 3600 * 1000);
    /* The same artifact in both environments. */
    assert_int_equal(strncmp(stg->digest, "sha256:", 7), 0);
    assert_int_equal(strlen(stg->digest), 71);
    assert_string_equal(stg->digest, prod->digest);

    /* The stored form keeps every environment and the selection, and loads back equal. */
    assert_int_equal(rg_manifest_to_json(&json, prod), 0);
    assert_null(json_object_get(json, "groups"));
    assert_string_equal(json_string_value(json_object_get(json, "environment")), "production");
    text = json_dumps(json, JSON_COMPACT);
    assert_int_equal(rg_manifest_load_buffer(&back, "stored.json", text, strlen(text), NULL, NULL),
                     0);
    assert_true(rg_manifest_equal(prod, back));
    assert_false(rg_manifest_equal(stg, back));
    rg_manifest_free(back);
    back = NULL;
    /* ... and selects another environment from the record. */
    {
        rg_manifest_options opts = {NULL, 0, "staging"};
        assert_int_equal(
            rg_manifest_load_buffer(&back, "stored.json", text, strlen(text), NULL, &opts), 0);
        assert_true(rg_manifest_equal(stg, back));
        rg_manifest_free(back);
        back = NULL;
    }

    /* An edit of the change gives a new digest; an edit of the orgs does not. */
    edited = rg_strdup(text);
    at = strstr(edited, "\"weight\":60");
    assert_non_null(at);
    /* Overwrites bytes inside an already terminated string. */
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result)
    memcpy(at, "\"weight\":70", 11);
    at = strstr(edited, "\"weight\":40");
    /* Overwrites bytes inside an already terminated string. */
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result)
    memcpy(at, "\"weight\":30", 11);
    assert_int_equal(
        rg_manifest_load_buffer(&back, "edited.json", edited, strlen(edited), NULL, NULL), 0);
    assert_string_not_equal(back->digest, prod->digest);
    rg_manifest_free(back);
    back = NULL;
    free(edited);
    edited = rg_strdup(text);
    at = strstr(edited, "org_prod_3");
    /* Overwrites bytes inside an already terminated string. */
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result)
    memcpy(at, "org_prod_9", 10);
    assert_int_equal(
        rg_manifest_load_buffer(&back, "orgs.json", edited, strlen(edited), NULL, NULL), 0);
    assert_string_equal(back->digest, prod->digest);

    rg_manifest_free(back);
    free(edited);
    free(text);
    json_decref(json);
    rg_manifest_free(stg);
    rg_manifest_free(prod);
}

static void test_no_environments_refuses_env(void **state)
{
    char path[PATH_LEN];
    rg_manifest *m = NULL;
    rg_manifest_options opts = {NULL, 0, "staging"};
    (void)state;

    rg_test_path(path, sizeof(path), "tests/data/good/routing.yaml");
    assert_int_equal(rg_manifest_load_file(&m, path, &opts), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "--env staging: this manifest has no environments"));
    assert_int_equal(rg_manifest_load_file(&m, path, NULL), 0);
    assert_null(m->environment);
    assert_int_equal(strlen(m->digest), 71);
    rg_manifest_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_environments_name_the_place),
        cmocka_unit_test(test_undefined_variable_in_another_environment),
        cmocka_unit_test(test_selection_and_digest),
        cmocka_unit_test(test_no_environments_refuses_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
