/* test_sim_ivr.c - rollgate-sim's IVR configs: version semantics (the current version or 409,
 * or 400 "does not match the current version" by scenario or fault), full replace, the 404,
 * write counts, out-of-band edits and one-shot hooks */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/simproc.h"
#include "support/testutil.h"

#define ORG "org_ivr_1"
#define IVR "/api/v2/architect/ivrs/ivr-main"
#define WORDED "/api/v2/architect/ivrs/ivr-worded"

typedef struct {
    rg_simproc sim;
    char *token;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    if (f == NULL || rg_simproc_start(&f->sim, "sim/scenarios/versioned.json") < 0 ||
        rg_simproc_token(&f->sim, "cid-ivr-1", "secret-ivr-1", &f->token) < 0) {
        fprintf(stderr, "cannot start rollgate-sim: %s\n", rg_error_last());
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = rg_simproc_stop(&f->sim);

    free(f->token);
    free(f);
    return rc == 0 ? 0 : -1;
}

static json_t *call(const fixture *f, const char *method, const char *path, const char *body,
                    long *status)
{
    char auth[160];
    const char *h[] = {auth, NULL};
    rg_buf out = RG_BUF_INIT;
    json_t *doc;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", f->token);
    assert_int_equal(rg_simproc_request(&f->sim, method, path, body,
                                        strncmp(path, "/sim/", 5) ? h : NULL, status, &out, NULL),
                     0);
    doc = json_loadb(rg_buf_cstr(&out), out.len, 0, NULL);
    rg_buf_dispose(&out);
    return doc;
}

static json_int_t applied(const fixture *f, const char *ivr)
{
    long status;
    char name[64];
    json_t *doc = call(f, "GET", "/sim/writes", NULL, &status);
    json_int_t n;

    snprintf(name, sizeof(name), "ivr/%s", ivr);
    n = json_integer_value(json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "orgs"), ORG), name), "applied"));
    json_decref(doc);
    return n;
}

static json_int_t version_of(const fixture *f, const char *path)
{
    long status;
    json_t *doc = call(f, "GET", path, NULL, &status);
    json_int_t v = json_integer_value(json_object_get(doc, "version"));
    assert_int_equal(status, 200);
    json_decref(doc);
    return v;
}

static void put_version(const fixture *f, const char *path, json_int_t version, long *status,
                        json_t **out)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"Main line\",\"version\":%lld,\"dnis\":[\"+13175550000\"],"
             "\"openHoursFlow\":{\"id\":\"flow-open-v2\"},\"state\":\"active\"}",
             (long long)version);
    *out = call(f, "PUT", path, body, status);
}

static void test_version_and_full_replace(void **state)
{
    fixture *f = *state;
    long status;
    json_t *doc;

    doc = call(f, "GET", IVR, NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_integer_value(json_object_get(doc, "version")), 3);
    assert_string_equal(json_string_value(json_object_get(doc, "id")), "ivr-main");
    assert_non_null(json_object_get(doc, "closedHoursFlow"));
    json_decref(doc);
    /* the current version: accepted, version + 1, omitted fields gone (full replace) */
    put_version(f, IVR, 3, &status, &doc);
    assert_int_equal(status, 200);
    assert_int_equal(json_integer_value(json_object_get(doc, "version")), 4);
    assert_null(json_object_get(doc, "closedHoursFlow"));
    assert_null(json_object_get(doc, "description"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "openHoursFlow"), "id")),
        "flow-open-v2");
    json_decref(doc);
    assert_int_equal(applied(f, "ivr-main"), 1);
    /* the same version again is stale: 409, nothing written */
    put_version(f, IVR, 3, &status, &doc);
    assert_int_equal(status, 409);
    assert_string_equal(json_string_value(json_object_get(doc, "code")), "conflict");
    json_decref(doc);
    /* no version at all is refused the same way */
    doc = call(f, "PUT", IVR, "{\"name\":\"x\"}", &status);
    assert_int_equal(status, 409);
    json_decref(doc);
    assert_int_equal(applied(f, "ivr-main"), 1);
    assert_int_equal(version_of(f, IVR), 4);
}

static void test_worded_400_and_fault(void **state)
{
    fixture *f = *state;
    long status;
    json_t *doc;
    json_int_t v = version_of(f, WORDED);

    /* this IVR words a stale version as the platform sometimes does */
    put_version(f, WORDED, v - 1, &status, &doc);
    assert_int_equal(status, 400);
    assert_non_null(strstr(json_string_value(json_object_get(doc, "message")),
                           "does not match the current version"));
    json_decref(doc);
    /* the fault switches every IVR to one wording */
    assert_int_equal(rg_simproc_faults(&f->sim, "{\"version_conflict_status\":400}"), 0);
    put_version(f, IVR, 1, &status, &doc);
    assert_int_equal(status, 400);
    assert_non_null(strstr(json_string_value(json_object_get(doc, "message")),
                           "does not match the current version"));
    json_decref(doc);
    assert_int_equal(rg_simproc_faults(&f->sim, "{\"version_conflict_status\":409}"), 0);
    put_version(f, WORDED, v - 1, &status, &doc);
    assert_int_equal(status, 409);
    json_decref(doc);
    assert_int_equal(rg_simproc_faults(&f->sim, "{}"), 0);
    doc = call(f, "POST", "/sim/faults", "{\"version_conflict_status\":412}", &status);
    assert_int_equal(status, 400);
    json_decref(doc);
}

static void test_errors(void **state)
{
    fixture *f = *state;
    long status;
    char body[256];
    json_t *doc;
    json_int_t v = version_of(f, IVR);

    doc = call(f, "GET", "/api/v2/architect/ivrs/nope", NULL, &status);
    assert_int_equal(status, 404);
    assert_string_equal(json_string_value(json_object_get(doc, "code")), "not.found");
    assert_non_null(strstr(json_string_value(json_object_get(doc, "message")), "nope"));
    json_decref(doc);
    snprintf(body, sizeof(body), "{\"name\":\"x\",\"version\":%lld,\"colour\":\"red\"}",
             (long long)v);
    doc = call(f, "PUT", IVR, body, &status);
    assert_int_equal(status, 400);
    assert_non_null(strstr(json_string_value(json_object_get(doc, "message")), "colour"));
    json_decref(doc);
    snprintf(body, sizeof(body), "{\"name\":\"x\",\"version\":%lld,\"dnis\":\"+1\"}", (long long)v);
    doc = call(f, "PUT", IVR, body, &status);
    assert_int_equal(status, 400);
    json_decref(doc);
    assert_int_equal(version_of(f, IVR), v);
}

static void test_edit_and_hook(void **state)
{
    fixture *f = *state;
    long status;
    json_t *doc;
    json_int_t v = version_of(f, IVR);

    /* a person's edit moves the version; the API's later GET sees it */
    doc = call(f, "POST", "/sim/edit",
               "{\"org\":\"" ORG "\",\"ivr\":\"ivr-main\",\"fields\":{\"description\":\"by "
               "hand\"}}",
               &status);
    assert_int_equal(status, 200);
    json_decref(doc);
    assert_int_equal(version_of(f, IVR), v + 1);
    /* armed on get: the GET answers version v+1, then the edit makes it v+2 */
    doc = call(f, "POST", "/sim/hook",
               "{\"org\":\"" ORG "\",\"on\":\"get\",\"ivr\":\"ivr-main\","
               "\"fields\":{\"description\":\"after your read\"}}",
               &status);
    assert_int_equal(status, 200);
    json_decref(doc);
    assert_int_equal(version_of(f, IVR), v + 1);
    put_version(f, IVR, v + 1, &status, &doc);
    assert_int_equal(status, 409);
    json_decref(doc);
    doc = call(f, "GET", IVR, NULL, &status);
    assert_int_equal(json_integer_value(json_object_get(doc, "version")), v + 2);
    assert_string_equal(json_string_value(json_object_get(doc, "description")), "after your read");
    json_decref(doc);
    /* the edit is validated like a PUT */
    doc = call(f, "POST", "/sim/edit",
               "{\"org\":\"" ORG "\",\"ivr\":\"ivr-main\",\"fields\":{\"name\":7}}", &status);
    assert_int_equal(status, 400);
    json_decref(doc);
    doc = call(f, "POST", "/sim/edit", "{\"org\":\"" ORG "\",\"ivr\":\"nope\",\"fields\":{}}",
               &status);
    assert_int_equal(status, 404);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_full_replace),
        cmocka_unit_test(test_worded_400_and_fault),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_edit_and_hook),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
