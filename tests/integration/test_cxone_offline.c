/* test_cxone_offline.c - the CXone driver's parsers and checks without a server: durations
 * as numbers and strings, the id_token's tenant, skill summary entries, brand descriptors and
 * the access-key credentials (errors name the variable, never a secret), and the manifest's
 * driver: cxone */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "platform/client.h"
#include "rollgate/manifest.h"

static int seconds(double *out, const char *json)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    int rc;
    assert_non_null(v);
    rc = rg_platform__cxone_seconds(out, v, "asa");
    json_decref(v);
    return rc;
}

static void test_seconds_forms(void **state)
{
    static const char *const bad[] = {
        "\"\"",       "\"abc\"",     "\"1:60\"", "-1",   "\"1.2.3\"",
        "\"::\"",     "\"12s\"",     "true",     "null", "\"-3\"",
        "\"1.5:00\"", "\"1:2:3:4\"", "\".5\"",   "{}",   "\"0000000000000000000000000000000001\""};
    double d = -1;
    (void)state;
    assert_int_equal(seconds(&d, "12"), 0);
    assert_true(d == 12);
    assert_int_equal(seconds(&d, "12.5"), 0);
    assert_true(d == 12.5);
    assert_int_equal(seconds(&d, "\"12.5\""), 0);
    assert_true(d == 12.5);
    assert_int_equal(seconds(&d, "\"00:00:12\""), 0);
    assert_true(d == 12);
    assert_int_equal(seconds(&d, "\"01:02:03.5\""), 0);
    assert_true(d == 3723.5);
    assert_int_equal(seconds(&d, "\"2:05\""), 0);
    assert_true(d == 125);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (seconds(&d, bad[i]) == 0)
            fail_msg("%s parsed as %g seconds", bad[i], d);
        assert_non_null(strstr(rg_error_last(), "asa"));
    }
}

static char *jwt(const char *payload_b64)
{
    static char buf[512];
    snprintf(buf, sizeof(buf), "eyJhbGciOiJub25lIn0.%s.c2ln", payload_b64);
    return buf;
}

static void test_id_token_tenant(void **state)
{
    char tenant[129];
    (void)state;
    /* {"tenantId":"t-1"} */
    assert_int_equal(
        rg_platform__cxone_tenant(tenant, sizeof(tenant), jwt("eyJ0ZW5hbnRJZCI6InQtMSJ9")), 0);
    assert_string_equal(tenant, "t-1");
    assert_true(rg_platform__cxone_tenant(tenant, sizeof(tenant), "no-dots") < 0);
    assert_true(rg_platform__cxone_tenant(tenant, sizeof(tenant), jwt("!!!")) < 0);
    /* "nope" */
    assert_true(rg_platform__cxone_tenant(tenant, sizeof(tenant), jwt("bm9wZQ")) < 0);
    /* {"sub":"x"} */
    assert_true(rg_platform__cxone_tenant(tenant, sizeof(tenant), jwt("eyJzdWIiOiJ4In0")) < 0);
    assert_non_null(strstr(rg_error_last(), "tenantId"));
    /* {"tenantId":7} */
    assert_true(rg_platform__cxone_tenant(tenant, sizeof(tenant), jwt("eyJ0ZW5hbnRJZCI6N30")) < 0);
}

static int bucket(rg_platform_bucket *bk, const char *json)
{
    json_t *s = json_loads(json, 0, NULL);
    int rc;
    assert_non_null(s);
    memset(bk, 0, sizeof(*bk));
    rc = rg_platform__cxone_bucket(bk, s, "skillSummaries[0]");
    json_decref(s);
    return rc;
}

static void test_summary_entries(void **state)
{
    rg_platform_bucket bk;
    (void)state;
    assert_int_equal(bucket(&bk, "{\"skillId\":1,\"contactsOffered\":10,\"abandonCount\":2,"
                                 "\"contactsHandled\":8,\"averageSpeedToAnswer\":\"00:00:05\","
                                 "\"averageHandleTime\":\"120.5\"}"),
                     0);
    assert_int_equal(bk.offered, 10);
    assert_int_equal(bk.abandoned, 2);
    assert_int_equal(bk.answered, 8);
    assert_true(bk.answered_sum_ms == 40000);
    assert_true(bk.handle_sum_ms == 964000);
    /* contactsHandled absent: offered - abandoned */
    assert_int_equal(bucket(&bk, "{\"contactsOffered\":4,\"abandonCount\":1,"
                                 "\"averageSpeedToAnswer\":2}"),
                     0);
    assert_int_equal(bk.answered, 3);
    assert_true(bucket(&bk, "{\"abandonCount\":1}") < 0);
    assert_non_null(strstr(rg_error_last(), "contactsOffered"));
    assert_true(bucket(&bk, "{\"contactsOffered\":\"4\",\"abandonCount\":1}") < 0);
    assert_true(bucket(&bk, "{\"contactsOffered\":4,\"abandonCount\":-1}") < 0);
    assert_true(bucket(&bk, "{\"contactsOffered\":4,\"abandonCount\":5}") < 0);
    assert_true(bucket(&bk, "{\"contactsOffered\":4,\"abandonCount\":1}") < 0); /* no ASA */
    assert_non_null(strstr(rg_error_last(), "averageSpeedToAnswer"));
    assert_true(bucket(&bk, "{\"contactsOffered\":4,\"abandonCount\":1,"
                            "\"averageSpeedToAnswer\":\"soon\"}") < 0);
    assert_non_null(strstr(rg_error_last(), "skillSummaries[0].averageSpeedToAnswer"));
}

static int auth(char *tenant, const char *json)
{
    json_t *b = json_loads(json, 0, NULL);
    int rc;
    assert_non_null(b);
    rc = rg_platform__cxone_auth_parse(tenant, 129, b);
    json_decref(b);
    return rc;
}

#define IDT "\"id_token\":\"eyJhbGciOiJub25lIn0.eyJ0ZW5hbnRJZCI6InQtMSJ9.c2ln\""

static void test_auth_replies(void **state)
{
    char tenant[129];
    (void)state;
    assert_int_equal(auth(tenant, "{\"access_token\":\"tok-SECRET\",\"expires_in\":3600," IDT "}"),
                     0);
    assert_string_equal(tenant, "t-1");
    assert_true(auth(tenant, "{\"expires_in\":3600," IDT "}") < 0);
    assert_non_null(strstr(rg_error_last(), "access_token"));
    assert_true(auth(tenant, "{\"access_token\":\"\",\"expires_in\":3600," IDT "}") < 0);
    assert_true(auth(tenant, "{\"access_token\":\"tok-SECRET\",\"expires_in\":\"3600\"," IDT "}") <
                0);
    assert_non_null(strstr(rg_error_last(), "expires_in"));
    assert_null(strstr(rg_error_last(), "SECRET"));
    assert_true(auth(tenant, "{\"access_token\":\"tok-SECRET\",\"expires_in\":0," IDT "}") < 0);
    assert_true(auth(tenant, "{\"access_token\":\"tok-SECRET\",\"expires_in\":3600}") < 0);
    assert_non_null(strstr(rg_error_last(), "id_token"));
    assert_true(auth(tenant, "{\"access_token\":\"tok-SECRET\",\"expires_in\":3600,"
                             "\"id_token\":\"a.b\"}") < 0);
    assert_true(auth(tenant, "[1]") < 0);
}

static int discover(rg_buf *out, const char *json, int insecure)
{
    json_t *b = json_loads(json, 0, NULL);
    int rc;
    assert_non_null(b);
    rg_buf_dispose(out);
    rc = rg_platform__cxone_discovery_parse(out, b, "tenant-1", "v31.0", insecure);
    json_decref(b);
    return rc;
}

static void test_discovery_replies(void **state)
{
    rg_buf url = RG_BUF_INIT;
    (void)state;
    assert_int_equal(
        discover(&url, "{\"area\":\"na1\",\"api_endpoint\":\"https://api-na1.niceincontact.com/\"}",
                 0),
        0);
    assert_string_equal(url.ptr, "https://api-na1.niceincontact.com/incontactapi/services/v31.0");
    assert_true(discover(&url, "{\"api_endpoint\":\"https://api-na1.niceincontact.com\"}", 0) < 0);
    assert_non_null(strstr(rg_error_last(), "area"));
    assert_true(discover(&url, "{\"area\":\"NA 1\",\"api_endpoint\":\"https://a\"}", 0) < 0);
    assert_true(discover(&url, "{\"area\":\"na1\"}", 0) < 0);
    assert_non_null(strstr(rg_error_last(), "api_endpoint"));
    assert_true(discover(&url, "{\"area\":\"na1\",\"api_endpoint\":42}", 0) < 0);
    assert_true(discover(&url, "{\"area\":\"na1\",\"api_endpoint\":\"http://api.example.com\"}",
                         0) < 0); /* plain http off loopback */
    assert_true(discover(&url, "{\"area\":\"na1\",\"api_endpoint\":\"https://api.example.com\"}",
                         1) < 0); /* TLS checks off for a non-loopback host */
    assert_true(discover(&url, "{\"area\":\"na1\",\"api_endpoint\":\"https://a/?x=1\"}", 0) < 0);
    rg_buf_dispose(&url);
}

static void test_descriptors_and_credentials(void **state)
{
    static const char *const bad[] = {"cxone:",
                                      "cxone:31:600:notes::https://h",
                                      "cxone:v31.0:0:notes::https://h",
                                      "cxone:v31.0:x:notes::https://h",
                                      "cxone:v31.0:600:::https://h",
                                      "cxone:v31.0:600:notes::http://example.com",
                                      "cxone:v31.0:600:notes::ftp://127.0.0.1",
                                      "cxone:v31.0:600:notes:9a:https://h",
                                      "cxone:v31.0:600:notes:https://h"};
    rg_platform *p = NULL;
    rg_platform_org org = {"tenant-1", NULL, "http://127.0.0.1:1", "env"};
    (void)state;
    assert_int_equal(rg_platform_new(&p, NULL), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        org.api_url = bad[i];
        if (rg_platform_add_org(p, &org) == 0)
            fail_msg("descriptor %s accepted", bad[i]);
        assert_non_null(strstr(rg_error_last(), "tenant-1"));
    }
    org.api_url = "cxone:v31.0:600:notes::http://127.0.0.1:1";
    setenv("ROLLGATE_TENANT_1_CLIENT_ID", "app", 1);
    setenv("ROLLGATE_TENANT_1_CLIENT_SECRET", "s3cret-app", 1);
    unsetenv("ROLLGATE_TENANT_1_ACCESS_KEY_ID");
    setenv("ROLLGATE_TENANT_1_ACCESS_KEY_SECRET", "s3cret-key", 1);
    assert_int_equal(rg_platform_add_org(p, &org), RG_EAUTH);
    assert_non_null(strstr(rg_error_last(), "ROLLGATE_TENANT_1_ACCESS_KEY_ID"));
    assert_null(strstr(rg_error_last(), "s3cret"));
    setenv("ROLLGATE_TENANT_1_ACCESS_KEY_ID", "key", 1);
    assert_int_equal(rg_platform_add_org(p, &org), 0);
    assert_true(rg_platform_has_org(p, "tenant-1"));
    rg_platform_free(p);
}

static const char manifest_head[] =
    "name: cx\ntenant: t\nstages: [100]\napproval: none\n"
    "groups:\n  - {name: g, orgs: [tenant-1]}\n"
    "change:\n  resource: {kind: datatable_row, datatable: \"9000\", row: main}\n"
    "  watch_queues: [\"101\"]\n  template: {weight_a: 100}\n"
    "policy:\n  metrics:\n    - {name: abandonment_rate, kind: proportion, events: tAbandon,\n"
    "       trials: nOffered, increase_is_bad: true, tolerance: {relative: 0.15}}\n";

static int load(rg_manifest **m, const char *platform)
{
    char text[2048];
    snprintf(text, sizeof(text), "%s%s", platform, manifest_head);
    return rg_manifest_load_buffer(m, "m.yaml", text, strlen(text), NULL, NULL);
}

static void test_manifest_driver(void **state)
{
    rg_manifest *m = NULL, *again = NULL;
    rg_resolution *res = NULL;
    json_t *j = NULL;
    char *text;
    (void)state;
    if (load(&m, "platform: {driver: cxone, credentials: env}\n") < 0)
        fail_msg("%s", rg_error_last());
    assert_string_equal(m->platform.api_url, "https://cxone.niceincontact.com");
    assert_string_equal(m->platform.cxone_descriptor,
                        "cxone:v31.0:600:notes::https://cxone.niceincontact.com");
    assert_int_equal(rg_manifest_resolve(&res, m), 0);
    assert_string_equal(res->targets[0].api_url, m->platform.cxone_descriptor);
    rg_resolution_free(res);
    assert_int_equal(rg_manifest_to_json(&j, m), 0);
    text = json_dumps(j, 0);
    assert_int_equal(rg_manifest_load_buffer(&again, "stored", text, strlen(text), NULL, NULL), 0);
    assert_true(rg_manifest_equal(m, again));
    free(text);
    json_decref(j);
    rg_manifest_free(again);
    rg_manifest_free(m);
    m = NULL;
    assert_true(load(&m, "platform: {driver: cxone, credentials: env, api_version: \"31\"}\n") < 0);
    assert_non_null(strstr(rg_error_last(), "platform.api_version"));
    assert_true(load(&m, "platform: {driver: cxone, credentials: env, rate_budget: 0}\n") < 0);
    assert_true(load(&m, "platform: {driver: cxone, credentials: env, weight_field: \"a b\"}\n") <
                0);
    assert_true(load(&m, "platform: {driver: genesys, api_url: \"https://a\", login_url: "
                         "\"https://a\", credentials: env, rate_budget: 5}\n") < 0);
    assert_non_null(strstr(rg_error_last(), "cxone"));
}

static const char mixed[] =
    "name: mx\ntenant: t\nstages: [100]\napproval: none\n"
    "platform: {driver: genesys, api_url: \"https://api.example.com\", login_url: "
    "\"https://login.example.com\", credentials: env%s}\n"
    "groups:\n  - {name: g, orgs: [org-1, %s]}\n"
    "change:\n%s"
    "policy:\n  metrics:\n    - {name: abandonment_rate, kind: proportion, events: tAbandon,\n"
    "       trials: nOffered, increase_is_bad: true, tolerance: {relative: 0.15}}\n";
static const char row_change[] = "  resource: {kind: datatable_row, datatable: dt, row: main}\n"
                                 "  template: {weight_a: 100}\n";

static int load_mixed(rg_manifest **m, const char *cxone, const char *brand, const char *change)
{
    char text[4096];
    snprintf(text, sizeof(text), mixed, cxone, brand, change);
    return rg_manifest_load_buffer(m, "mx.yaml", text, strlen(text), NULL, NULL);
}

static void test_mixed_manifest(void **state)
{
    static const char cx[] = ", cxone: {weight_store: \"9000\"}";
    rg_manifest *m = NULL, *again = NULL;
    rg_resolution *res = NULL;
    json_t *j = NULL;
    char *text;
    (void)state;
    if (load_mixed(&m, cx, "{id: tenant-1, driver: cxone}", row_change) < 0)
        fail_msg("%s", rg_error_last());
    assert_int_equal(rg_manifest_resolve(&res, m), 0);
    assert_string_equal(res->targets[0].api_url, "https://api.example.com");
    assert_string_equal(res->targets[1].api_url,
                        "cxone:v31.0:600:notes:9000:https://cxone.niceincontact.com");
    assert_string_equal(res->targets[1].login_url, "https://cxone.niceincontact.com");
    rg_resolution_free(res);
    assert_int_equal(rg_manifest_to_json(&j, m), 0);
    text = json_dumps(j, 0);
    assert_int_equal(rg_manifest_load_buffer(&again, "stored", text, strlen(text), NULL, NULL), 0);
    assert_true(rg_manifest_equal(m, again));
    free(text);
    json_decref(j);
    rg_manifest_free(again);
    rg_manifest_free(m);
    m = NULL;
    /* a brand without platform.cxone */
    assert_true(load_mixed(&m, "", "{id: tenant-1, driver: cxone}", row_change) < 0);
    assert_non_null(strstr(rg_error_last(), "platform.cxone"));
    /* a brand with its own hosts */
    assert_true(load_mixed(&m, cx,
                           "{id: tenant-1, driver: cxone, api_url: \"https://x.example.com\"}",
                           row_change) < 0);
    /* a mixed manifest changes a row only */
    assert_true(load_mixed(&m, cx, "{id: tenant-1, driver: cxone}",
                           "  resource: {kind: versioned, path: /api/v2/architect/ivrs/1}\n"
                           "  watch_queues: [q]\n  template: {name: x}\n") < 0);
    assert_non_null(strstr(rg_error_last(), "datatable_row"));
    /* plain http for a CXone host off loopback */
    assert_true(load_mixed(&m, ", cxone: {api_url: \"http://cx.example.com\"}",
                           "{id: tenant-1, driver: cxone}", row_change) < 0);
    assert_non_null(strstr(rg_error_last(), "http"));
    assert_true(load_mixed(&m, ", cxone: {weight_store: \"abc\"}", "{id: tenant-1, driver: cxone}",
                           row_change) < 0);
    assert_true(
        load_mixed(&m, ", cxone: {colour: blue}", "{id: tenant-1, driver: cxone}", row_change) < 0);
    assert_non_null(strstr(rg_error_last(), "platform.cxone"));
    /* the genesys manifest without brands is as before */
    if (load_mixed(&m, "", "org-2", row_change) < 0)
        fail_msg("%s", rg_error_last());
    assert_null(m->platform.cxone_descriptor);
    rg_manifest_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seconds_forms),
        cmocka_unit_test(test_id_token_tenant),
        cmocka_unit_test(test_summary_entries),
        cmocka_unit_test(test_auth_replies),
        cmocka_unit_test(test_discovery_replies),
        cmocka_unit_test(test_descriptors_and_credentials),
        cmocka_unit_test(test_manifest_driver),
        cmocka_unit_test(test_mixed_manifest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
