/* test_registry.c - the registry of tenants' orgs (platform/registry.c), private files
 * (util/file.c), and policy errors that never quote a file that is not a policy */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "rollgate/policy.h"
#include "rollgate/registry.h"
#include "rollgate/util.h"
#include "support/testutil.h"

typedef struct {
    char dir[4096], path[4200];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL || rg_test_mkdtemp(f->dir, sizeof(f->dir)) < 0)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/registry.json", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rg_test_rmtree(f->dir);
    free(f);
    return 0;
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 0777) : 01000;
}

static void test_regions(void **state)
{
    const char *a = NULL, *l = NULL;
    (void)state;
    assert_int_equal(rg_registry_region_urls(&a, &l, "us-east-1"), 0);
    assert_string_equal(a, "https://api.mypurecloud.com");
    assert_string_equal(l, "https://login.mypurecloud.com");
    assert_int_equal(rg_registry_region_urls(&a, &l, "eu-central-2"), 0);
    assert_string_equal(a, "https://api.euc2.pure.cloud");
    assert_int_equal(rg_registry_region_urls(&a, &l, "us-east-2"), 0);
    assert_string_equal(l, "https://login.use2.us-gov-pure.cloud");
    assert_int_equal(rg_registry_region_urls(&a, &l, "mars-1"), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "ap-southeast-2"));
    assert_int_equal(rg_registry_region_urls(&a, &l, "loopback"), RG_EINVALID);
}

static void test_add_find_and_no_oracle(void **state)
{
    fixture *f = *state;
    rg_registry *r = NULL;
    rg_registry_org e, add = {"acme", "org_1", "eu-west-1", NULL, NULL, "env:ACME"};
    char m1[512], m2[512];
    mode_t old = umask(022);

    assert_int_equal(rg_registry_add(f->path, &add), 0);
    umask(old);
    assert_int_equal(mode_of(f->path), 0600);
    /* One org, one tenant. */
    add.tenant = "evil";
    assert_int_equal(rg_registry_add(f->path, &add), RG_ECONFLICT);
    assert_int_equal(rg_registry_load(&r, f->path), 0);
    assert_int_equal(rg_registry_find(&e, r, "acme", "org_1", 0), 0);
    assert_string_equal(e.api_url, "https://api.mypurecloud.ie");
    assert_string_equal(e.login_url, "https://login.mypurecloud.ie");
    assert_string_equal(e.credentials, "env:ACME");
    /* Another tenant's org and an org nobody has read alike. */
    assert_int_equal(rg_registry_find(&e, r, "evil", "org_1", 0), RG_ENOTFOUND);
    snprintf(m1, sizeof(m1), "%s", rg_error_last());
    assert_int_equal(rg_registry_find(&e, r, "evil", "org_2", 0), RG_ENOTFOUND);
    snprintf(m2, sizeof(m2), "%s", rg_error_last());
    m2[strstr(m2, "org_2") - m2 + 4] = '1';
    assert_string_equal(m1, m2);
    assert_null(strstr(m1, "acme"));
    rg_registry_free(r);
    assert_int_equal(rg_registry_remove(f->path, "evil", "org_1"), RG_ENOTFOUND);
    assert_int_equal(rg_registry_remove(f->path, "acme", "org_1"), 0);
    assert_int_equal(rg_registry_remove(f->path, "acme", "org_1"), RG_ENOTFOUND);
}

static void test_urls_only_from_regions_or_loopback(void **state)
{
    fixture *f = *state;
    rg_registry *r = NULL;
    rg_registry_org e;
    rg_registry_org bad_region = {
        "acme", "o", "us-east-1", "https://evil.example", "https://evil.example", "env"};
    rg_registry_org bad_loop = {
        "acme", "o", "loopback", "https://evil.example", "http://127.0.0.1:9", "env"};
    rg_registry_org loop = {"acme", "o", "loopback", "http://127.0.0.1:9", "http://127.0.0.1:9",
                            "env"};
    rg_registry_org bad_cred = {"acme", "o2", "us-east-1", NULL, NULL, "file:relative.json"};

    assert_int_equal(rg_registry_add(f->path, &bad_region), RG_EINVALID);
    assert_int_equal(rg_registry_add(f->path, &bad_loop), RG_EINVALID);
    assert_int_equal(rg_registry_add(f->path, &bad_cred), RG_EINVALID);
    assert_int_equal(rg_registry_add(f->path, &loop), 0);
    assert_int_equal(rg_registry_load(&r, f->path), 0);
    /* A loopback test platform only in test mode. */
    assert_int_equal(rg_registry_find(&e, r, "acme", "o", 0), RG_EAUTH);
    assert_non_null(strstr(rg_error_last(), "--allow-loopback-platform"));
    assert_int_equal(rg_registry_find(&e, r, "acme", "o", 1), 0);
    assert_string_equal(e.api_url, "http://127.0.0.1:9");
    rg_registry_free(r);
}

static void test_file_rules(void **state)
{
    fixture *f = *state;
    rg_registry *r = NULL;

    assert_int_equal(rg_registry_load(&r, f->path), RG_ENOTFOUND);
    assert_non_null(strstr(rg_error_last(), "rollgate org add"));
    assert_int_equal(rg_test_write_file(f->path, "{\"tenants\":{\"a\":{\"orgs\":{\"o\":{"
                                                 "\"region\":\"us-east-1\",\"credentials\":"
                                                 "\"env\"}}},\"b\":{\"orgs\":{\"o\":{\"region\":"
                                                 "\"us-east-1\",\"credentials\":\"env\"}}}}}"),
                     0);
    chmod(f->path, 0600);
    assert_int_equal(rg_registry_load(&r, f->path), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "two tenants"));
    assert_int_equal(rg_test_write_file(f->path, "{\"tenants\":{},\"api_url\":\"x\"}"), 0);
    assert_int_equal(rg_registry_load(&r, f->path), RG_EINVALID);
    assert_int_equal(rg_test_write_file(f->path, "{\"tenants\":{}}"), 0);
    assert_int_equal(rg_registry_load(&r, f->path), 0);
    rg_registry_free(r);
    /* Others may write it: refused with the mode. */
    assert_int_equal(chmod(f->path, 0620), 0);
    assert_int_equal(rg_registry_load(&r, f->path), RG_EAUTH);
    assert_non_null(strstr(rg_error_last(), "0620"));
}

static void test_webhook_sources(void **state)
{
    fixture *f = *state;
    rg_registry *r = NULL;
    char secret_file[4300], src[4400], *secret = NULL;

    snprintf(secret_file, sizeof(secret_file), "%s/hook", f->dir);
    assert_int_equal(rg_test_write_file(secret_file, "s3cret\n"), 0);
    assert_int_equal(chmod(secret_file, 0600), 0);
    snprintf(src, sizeof(src), "file:%s", secret_file);
    assert_int_equal(rg_registry_set_webhook(f->path, "acme", "s3cret"), RG_EINVALID);
    assert_int_equal(rg_registry_set_webhook(f->path, "acme", src), 0);
    setenv("RG_TEST_EVIL_HOOK", "evil-value", 1);
    assert_int_equal(rg_registry_set_webhook(f->path, "evil", "env:RG_TEST_EVIL_HOOK"), 0);
    assert_int_equal(rg_registry_load(&r, f->path), 0);
    assert_int_equal(rg_registry_webhook_secret(&secret, r, "acme"), 0);
    assert_string_equal(secret, "s3cret");
    free(secret);
    assert_int_equal(rg_registry_webhook_secret(&secret, r, "evil"), 0);
    assert_string_equal(secret, "evil-value");
    free(secret);
    assert_int_equal(rg_registry_webhook_secret(&secret, r, "nobody"), RG_ENOTFOUND);
    assert_int_equal(chmod(secret_file, 0644), 0);
    assert_int_equal(rg_registry_webhook_secret(&secret, r, "acme"), RG_EAUTH);
    rg_registry_free(r);
    /* The file holds names and paths only. */
    {
        char *text = rg_test_read_file(f->path, NULL);
        assert_null(strstr(text, "s3cret\""));
        assert_null(strstr(text, "evil-value"));
        free(text);
    }
}

static void test_private_files(void **state)
{
    fixture *f = *state;
    char path[4300];
    mode_t old = umask(022);

    snprintf(path, sizeof(path), "%s/db", f->dir);
    assert_int_equal(rg_file_private_ensure(path, "database"), 0);
    assert_int_equal(mode_of(path), 0600);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(rg_file_private_ensure(path, "database"), 0);
    assert_int_equal(mode_of(path), 0600);
    snprintf(path, sizeof(path), "%s/export.json", f->dir);
    assert_int_equal(rg_file_write_private(path, "{}", 2, "export"), 0);
    assert_int_equal(mode_of(path), 0600);
    umask(old);
}

/* Errors quote only what rollgate parsed as a policy. */
static void test_policy_errors_quote_no_file(void **state)
{
    fixture *f = *state;
    static const char *const files[] = {
        "root:$6$SECRETLINE$x:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
        "SECRETLINE_TOKEN: abc\n", "{\"k\": SECRETLINE}\n",
        "alpha: 0.05\n\"root:$6$SECRETLINE\": 1\n", NULL};
    char path[4300];
    rg_policy *p = NULL;

    snprintf(path, sizeof(path), "%s/p.yaml", f->dir);
    for (size_t i = 0; files[i]; i++) {
        assert_int_equal(rg_test_write_file(path, files[i]), 0);
        assert_int_equal(rg_policy_load_file(&p, path), RG_EINVALID);
        if (strstr(rg_error_last(), "SECRETLINE"))
            fail_msg("file %zu leaked: %s", i, rg_error_last());
    }
    /* A typo of a field in a policy is still named. */
    assert_int_equal(rg_test_write_file(path, "alpha: 0.05\nalhpa: 0.1\n"), 0);
    assert_int_equal(rg_policy_load_file(&p, path), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "alhpa"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regions),
        cmocka_unit_test_setup_teardown(test_add_find_and_no_oracle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_urls_only_from_regions_or_loopback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_errors_quote_no_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
