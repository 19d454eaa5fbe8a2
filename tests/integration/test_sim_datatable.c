/* test_sim_datatable.c - rollgate-sim's Architect data tables: showbrief, whole-row PUT with
 * no ETag, schema, 400/404 ErrorBody, write counts, faults on PUTs, one-shot hooks, routing
 * by the row */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/simproc.h"
#include "support/testutil.h"

#define ROW "/api/v2/flows/datatables/dt-routing/rows/main"

typedef struct {
    rg_simproc sim;
    char *token;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    if (f == NULL || rg_simproc_start(&f->sim, "sim/scenarios/datatable.json") < 0 ||
        rg_simproc_token(&f->sim, "cid-dt-1", "secret-dt-1", &f->token) < 0) {
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
                    long *status, rg_buf *headers)
{
    char auth[160];
    const char *h[] = {auth, NULL};
    rg_buf out = RG_BUF_INIT;
    json_t *doc;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", f->token);
    assert_int_equal(rg_simproc_request(&f->sim, method, path, body,
                                        strncmp(path, "/sim/", 5) ? h : NULL, status, &out,
                                        headers),
                     0);
    doc = json_loadb(rg_buf_cstr(&out), out.len, 0, NULL);
    rg_buf_dispose(&out);
    return doc;
}

static json_t *writes_of(const fixture *f, const char *org, const char *what)
{
    long status;
    json_t *doc = call(f, "GET", "/sim/writes", NULL, &status, NULL);
    json_t *w =
        json_incref(json_object_get(json_object_get(json_object_get(doc, "orgs"), org), what));
    json_decref(doc);
    return w;
}

static void test_read_shapes(void **state)
{
    fixture *f = *state;
    rg_buf headers = RG_BUF_INIT;
    char etag[64];
    long status;
    json_t *doc, *props;

    /* showbrief defaults to true: only the key */
    doc = call(f, "GET", ROW, NULL, &status, NULL);
    assert_int_equal(status, 200);
    assert_int_equal(json_object_size(doc), 1);
    assert_string_equal(json_string_value(json_object_get(doc, "key")), "main");
    json_decref(doc);
    doc = call(f, "GET", ROW "?showbrief=false", NULL, &status, &headers);
    assert_int_equal(status, 200);
    assert_int_equal(json_object_size(doc), 7);
    assert_int_equal(json_integer_value(json_object_get(doc, "weight_a")), 100);
    assert_string_equal(json_string_value(json_object_get(doc, "queue_b")), "q-v2");
    assert_null(rg_simproc_header(etag, sizeof(etag), &headers, "ETag")); /* no ETag */
    rg_buf_dispose(&headers);
    json_decref(doc);

    doc = call(f, "GET", "/api/v2/flows/datatables/dt-routing?expand=schema", NULL, &status, NULL);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(json_object_get(doc, "schema"), "required"), 0)),
                        "key");
    props = json_object_get(json_object_get(doc, "schema"), "properties");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(props, "weight_a"), "type")), "integer");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(props, "enabled"), "type")), "boolean");
    json_decref(doc);
    doc = call(f, "GET", "/api/v2/flows/datatables/dt-routing", NULL, &status, NULL);
    assert_null(json_object_get(doc, "schema")); /* only with expand=schema */
    json_decref(doc);

    doc = call(f, "GET", "/api/v2/flows/datatables/nope/rows/main", NULL, &status, NULL);
    assert_int_equal(status, 404);
    assert_string_equal(json_string_value(json_object_get(doc, "code")), "not.found");
    assert_non_null(strstr(json_string_value(json_object_get(doc, "message")), "nope"));
    json_decref(doc);
    doc = call(f, "GET", "/api/v2/flows/datatables/dt-routing/rows/gone?showbrief=false", NULL,
               &status, NULL);
    assert_int_equal(status, 404);
    assert_non_null(strstr(json_string_value(json_object_get(doc, "message")), "gone"));
    json_decref(doc);
}

static void test_put_semantics(void **state)
{
    fixture *f = *state;
    long status;
    json_t *doc, *w;

    /* wrong type, unknown field, key mismatch: 400 naming the field; nothing changes */
    doc = call(f, "PUT", ROW, "{\"key\":\"main\",\"queue_a\":\"q-main\",\"weight_a\":\"50\"}",
               &status, NULL);
    assert_int_equal(status, 400);
    assert_non_null(strstr(json_string_value(json_object_get(doc, "message")), "weight_a"));
    assert_non_null(strstr(json_string_value(json_object_get(doc, "message")), "integer"));
    json_decref(doc);
    doc = call(f, "PUT", ROW, "{\"key\":\"main\",\"colour\":\"red\"}", &status, NULL);
    assert_int_equal(status, 400);
    assert_non_null(strstr(json_string_value(json_object_get(doc, "message")), "colour"));
    json_decref(doc);
    doc = call(f, "PUT", ROW, "{\"key\":\"other\"}", &status, NULL);
    assert_int_equal(status, 400);
    json_decref(doc);
    w = writes_of(f, "org_dt_1", "dt-routing/main");
    assert_int_equal(json_integer_value(json_object_get(w, "applied")), 0);
    json_decref(w);

    /* a whole-row PUT replaces; no If-Match needed or honoured */
    doc = call(f, "PUT", ROW,
               "{\"key\":\"main\",\"queue_a\":\"q-main\",\"weight_a\":60,\"queue_b\":\"q-bad\","
               "\"weight_b\":40,\"note\":\"canary\",\"enabled\":true}",
               &status, NULL);
    assert_int_equal(status, 200);
    json_decref(doc);
    doc = call(f, "GET", ROW "?showbrief=false", NULL, &status, NULL);
    assert_int_equal(json_integer_value(json_object_get(doc, "weight_b")), 40);
    assert_string_equal(json_string_value(json_object_get(doc, "queue_b")), "q-bad");
    json_decref(doc);
    w = writes_of(f, "org_dt_1", "dt-routing/main");
    assert_int_equal(json_integer_value(json_object_get(w, "applied")), 1);
    json_decref(w);

    /* the routing history follows the row: q-bad now has weight 40 */
    doc = call(f, "GET", "/sim/state", NULL, &status, NULL);
    {
        json_t *org = json_array_get(json_object_get(doc, "orgs"), 0);
        json_t *hist =
            json_object_get(json_object_get(json_object_get(org, "routing"), "history"), "history");
        json_t *last = json_array_get(hist, json_array_size(hist) - 1);
        assert_int_equal(json_array_size(hist), 2);
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(last, "weights"), "q-bad")), 40);
        assert_string_equal(json_string_value(json_object_get(last, "source")), "api");
    }
    json_decref(doc);

    /* a committed PUT whose reply is dropped is counted, unanswered, and applied in the log */
    assert_int_equal(rg_simproc_faults(&f->sim, "{\"apply_drop_rate\":1}"), 0);
    {
        char auth[160];
        const char *h[] = {auth, NULL};
        rg_buf out = RG_BUF_INIT;
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", f->token);
        assert_int_not_equal(rg_simproc_request(&f->sim, "PUT", ROW,
                                                "{\"key\":\"main\",\"queue_a\":\"q-main\","
                                                "\"weight_a\":100,\"queue_b\":\"q-v2\","
                                                "\"weight_b\":0}",
                                                h, &status, &out, NULL),
                             0);
        rg_buf_dispose(&out);
    }
    assert_int_equal(rg_simproc_faults(&f->sim, "{}"), 0);
    w = writes_of(f, "org_dt_1", "dt-routing/main");
    assert_int_equal(json_integer_value(json_object_get(w, "applied")), 2);
    assert_int_equal(json_integer_value(json_object_get(w, "unanswered")), 1);
    json_decref(w);
    /* replace: the omitted note and enabled are gone */
    doc = call(f, "GET", ROW "?showbrief=false", NULL, &status, NULL);
    assert_int_equal(json_object_size(doc), 5);
    assert_null(json_object_get(doc, "note"));
    json_decref(doc);
}

static void test_edit_and_hooks(void **state)
{
    fixture *f = *state;
    long status;
    json_t *doc, *w;

    doc = call(f, "POST", "/sim/edit",
               "{\"org\":\"org_dt_1\",\"datatable\":\"dt-routing\",\"row\":\"other\","
               "\"fields\":{\"note\":\"by hand\"}}",
               &status, NULL);
    assert_int_equal(status, 200);
    json_decref(doc);
    doc = call(f, "POST", "/sim/edit",
               "{\"org\":\"org_dt_1\",\"datatable\":\"dt-routing\",\"row\":\"other\","
               "\"fields\":{\"weight_a\":true}}",
               &status, NULL);
    assert_int_equal(status, 400);
    json_decref(doc);

    /* a GET hook: the GET answers the row before the edit, the next GET sees it */
    doc = call(f, "POST", "/sim/hook",
               "{\"org\":\"org_dt_1\",\"on\":\"get\",\"datatable\":\"dt-routing\","
               "\"row\":\"other\",\"fields\":{\"note\":\"between\"}}",
               &status, NULL);
    assert_int_equal(status, 200);
    json_decref(doc);
    doc = call(f, "GET", "/api/v2/flows/datatables/dt-routing/rows/other?showbrief=false", NULL,
               &status, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "note")), "by hand");
    json_decref(doc);
    doc = call(f, "GET", "/api/v2/flows/datatables/dt-routing/rows/other?showbrief=false", NULL,
               &status, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "note")), "between");
    json_decref(doc);

    /* a PUT hook: someone writes right after our PUT; edits are not API writes */
    doc = call(f, "POST", "/sim/hook",
               "{\"org\":\"org_dt_1\",\"on\":\"put\",\"datatable\":\"dt-routing\","
               "\"row\":\"other\",\"fields\":{\"weight_a\":7}}",
               &status, NULL);
    json_decref(doc);
    doc = call(f, "PUT", "/api/v2/flows/datatables/dt-routing/rows/other",
               "{\"key\":\"other\",\"queue_a\":\"q-main\",\"weight_a\":90}", &status, NULL);
    assert_int_equal(status, 200);
    assert_int_equal(json_integer_value(json_object_get(doc, "weight_a")), 90);
    json_decref(doc);
    doc = call(f, "GET", "/api/v2/flows/datatables/dt-routing/rows/other?showbrief=false", NULL,
               &status, NULL);
    assert_int_equal(json_integer_value(json_object_get(doc, "weight_a")), 7);
    json_decref(doc);
    w = writes_of(f, "org_dt_1", "dt-routing/other");
    assert_int_equal(json_integer_value(json_object_get(w, "applied")), 1);
    json_decref(w);
}

/* Calls follow the scenario's routing row: an hour ago all of them went to q-main. */
static void test_routing_by_row(void **state)
{
    fixture *f = *state;
    int64_t now = rg_time_now_ms() / 1000 * 1000;
    char iv[96], body[512];
    long status;
    json_t *doc, *results;

    rg_interval_format(iv, sizeof(iv), now - 3600 * (int64_t)1000, now - 3300 * (int64_t)1000);
    snprintf(body, sizeof(body),
             "{\"interval\":\"%s\",\"groupBy\":[\"queueId\"],\"metrics\":[\"nOffered\"]}", iv);
    doc = call(f, "POST", "/api/v2/analytics/conversations/aggregates/query", body, &status, NULL);
    assert_int_equal(status, 200);
    results = json_object_get(doc, "results");
    assert_int_equal(json_array_size(results), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(results, 0), "group"), "queueId")),
                        "q-main");
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_shapes),
        cmocka_unit_test(test_put_semantics),
        cmocka_unit_test(test_edit_and_hooks),
        cmocka_unit_test(test_routing_by_row),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
