/* test_platform_datatable.c - the verified row write against rollgate-sim's data tables:
 * healthy, in place, a person's edit between read and write, a writer right after the PUT,
 * a dropped PUT reply; every count from the sim (/sim/writes, /sim/requests) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/platform.h"
#include "support/simproc.h"
#include "support/testutil.h"

#define ORG "org_dt_1"
#define TABLE "dt-routing"

typedef rg_sim_client fixture;

static int setup(void **state)
{
    return rg_sim_client_setup(state, "sim/scenarios/datatable.json", ORG, "cid-dt-1",
                               "secret-dt-1", 16);
}

static json_t *control(const fixture *f, const char *method, const char *path, const char *body)
{
    json_t *doc = NULL;

    if (rg_simproc_json(&f->sim, method, path, body, &doc) < 0)
        fail_msg("%s", rg_error_last());
    return doc;
}

/* Committed PUTs of a row, as the sim counts them. */
static json_int_t writes(const fixture *f, const char *row)
{
    char name[64];
    json_t *doc = control(f, "GET", "/sim/writes", NULL);
    json_int_t n;

    snprintf(name, sizeof(name), TABLE "/%s", row);
    n = json_integer_value(json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "orgs"), ORG), name), "applied"));
    json_decref(doc);
    return n;
}

/* The row as the sim holds it (its state, not an API read). */
static json_t *sim_row(const fixture *f, const char *key)
{
    json_t *doc = control(f, "GET", "/sim/state", NULL), *rows, *r, *out = NULL;
    size_t i;

    rows = json_object_get(
        json_array_get(
            json_object_get(json_array_get(json_object_get(doc, "orgs"), 0), "datatables"), 0),
        "rows");
    json_array_foreach(rows, i, r)
    {
        json_t *fields = json_object_get(r, "fields");
        if (strcmp(json_string_value(json_object_get(fields, "key")), key) == 0)
            out = json_incref(fields);
    }
    json_decref(doc);
    assert_non_null(out);
    return out;
}

static void test_read_and_schema(void **state)
{
    fixture *f = *state;
    json_t *row = NULL, *schema = NULL;
    char v1[65], v2[65];

    assert_int_equal(rg_platform_row_get(&row, f->p, ORG, TABLE, "main"), 0);
    /* the full row, not the showbrief default */
    assert_int_equal(json_integer_value(json_object_get(row, "weight_a")), 100);
    assert_int_equal(rg_platform_row_version(v1, row), 0);
    json_object_set_new(row, "note", json_string("x"));
    assert_int_equal(rg_platform_row_version(v2, row), 0);
    assert_string_not_equal(v1, v2);
    json_decref(row);
    assert_int_equal(rg_platform_datatable_schema(&schema, f->p, ORG, TABLE), 0);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(schema, "properties"), "weight_b"), "type")),
        "integer");
    json_decref(schema);
    assert_int_equal(rg_platform_row_get(&row, f->p, ORG, TABLE, "nope"), RG_ENOTFOUND);
    assert_non_null(strstr(rg_error_last(), ORG));
}

static json_t *intended_row(const fixture *f, const char *key, int wa)
{
    json_t *row = sim_row(f, key);
    json_object_set_new(row, "weight_a", json_integer(wa));
    json_object_set_new(row, "weight_b", json_integer(100 - wa));
    return row;
}

static void test_healthy_then_in_place(void **state)
{
    fixture *f = *state;
    json_t *live = NULL, *want = intended_row(f, "main", 90), *now;
    char version[65];
    int in_place = 0;

    now = sim_row(f, "main");
    assert_int_equal(rg_platform_row_version(version, now), 0);
    json_decref(now);
    assert_int_equal(
        rg_platform_row_write(&live, &in_place, f->p, ORG, TABLE, "main", version, want), 0);
    assert_int_equal(in_place, 0);
    json_decref(live);
    now = sim_row(f, "main");
    assert_true(json_equal(now, want)); /* field for field, key included */
    json_decref(now);
    assert_int_equal(writes(f, "main"), 1);
    /* again: the row already holds it, nothing is written */
    assert_int_equal(rg_platform_row_write(&live, &in_place, f->p, ORG, TABLE, "main", NULL, want),
                     0);
    assert_int_equal(in_place, 1);
    json_decref(live);
    assert_int_equal(writes(f, "main"), 1);
    json_decref(want);
}

static void test_edit_between_read_and_write(void **state)
{
    fixture *f = *state;
    json_t *live = NULL, *want = intended_row(f, "other", 80), *now, *doc;
    char version[65];
    json_int_t before = writes(f, "other");

    now = sim_row(f, "other");
    assert_int_equal(rg_platform_row_version(version, now), 0);
    json_decref(now);
    /* a person edits the row as rollgate's re-read is answered */
    doc = control(f, "POST", "/sim/hook",
                  "{\"org\":\"" ORG "\",\"on\":\"get\",\"datatable\":\"" TABLE "\","
                  "\"row\":\"other\",\"fields\":{\"note\":\"by hand\"}}");
    json_decref(doc);
    doc = control(f, "POST", "/sim/edit",
                  "{\"org\":\"" ORG "\",\"datatable\":\"" TABLE "\",\"row\":\"other\","
                  "\"fields\":{\"note\":\"edited before\"}}");
    json_decref(doc);
    assert_int_equal(rg_platform_row_write(&live, NULL, f->p, ORG, TABLE, "other", version, want),
                     RG_ECONFLICT);
    assert_non_null(strstr(rg_error_last(), ORG));
    assert_string_equal(json_string_value(json_object_get(live, "note")), "edited before");
    json_decref(live);
    /* never written over: no PUT reached the sim, the person's edit stands */
    assert_int_equal(writes(f, "other"), before);
    now = sim_row(f, "other");
    assert_string_equal(json_string_value(json_object_get(now, "note")), "by hand");
    json_decref(now);
    json_decref(want);
}

static void test_writer_after_put(void **state)
{
    fixture *f = *state;
    json_t *live = NULL, *want = intended_row(f, "main", 70), *doc, *now;
    json_int_t before = writes(f, "main");

    doc = control(f, "POST", "/sim/hook",
                  "{\"org\":\"" ORG "\",\"on\":\"put\",\"datatable\":\"" TABLE "\","
                  "\"row\":\"main\",\"fields\":{\"weight_b\":5}}");
    json_decref(doc);
    assert_int_equal(rg_platform_row_write(&live, NULL, f->p, ORG, TABLE, "main", NULL, want),
                     RG_ECONFLICT);
    assert_non_null(strstr(rg_error_last(), ORG));
    assert_non_null(strstr(rg_error_last(), "weight_b"));
    json_decref(live);
    assert_int_equal(writes(f, "main"), before + 1);
    now = sim_row(f, "main");
    assert_int_equal(json_integer_value(json_object_get(now, "weight_b")), 5);
    json_decref(now);
    json_decref(want);
}

static void test_dropped_reply_written_once(void **state)
{
    fixture *f = *state;
    json_t *live = NULL, *want = intended_row(f, "main", 50), *now;
    json_int_t before = writes(f, "main");
    int in_place = 0;

    assert_int_equal(rg_simproc_faults(&f->sim, "{\"apply_drop_rate\":1}"), 0);
    assert_int_equal(rg_platform_row_write(&live, &in_place, f->p, ORG, TABLE, "main", NULL, want),
                     0);
    assert_int_equal(rg_simproc_faults(&f->sim, "{}"), 0);
    assert_int_equal(in_place, 1); /* the re-read showed it landed */
    {
        /* every row request was a data-table call; nothing went to /routing/strategies */
        json_t *log = control(f, "GET", "/sim/requests?since=0", NULL), *e;
        size_t i, puts = 0;
        json_array_foreach(json_object_get(log, "requests"), i, e)
        {
            const char *path = json_string_value(json_object_get(e, "path"));
            assert_null(strstr(path, "/routing/strategies"));
            puts += strcmp(json_string_value(json_object_get(e, "method")), "PUT") == 0;
        }
        assert_true(puts >= 3);
        json_decref(log);
    }
    json_decref(live);
    assert_int_equal(writes(f, "main"), before + 1);
    now = sim_row(f, "main");
    assert_true(json_equal(now, want));
    json_decref(now);
    json_decref(want);
}

static void test_preflight(void **state)
{
    fixture *f = *state;
    json_t *weights = json_pack("{s:s,s:s}", "weight_a", "queue_a", "weight_b", "queue_b");
    json_t *ok = json_pack("{s:s,s:i,s:s,s:i}", "queue_a", "q-main", "weight_a", 90, "queue_b",
                           "q-v2", "weight_b", 10);
    json_t *bad;

    assert_int_equal(rg_platform_row_preflight(f->p, ORG, TABLE, "main", ok, weights, 0), 0);
    /* a wrong column type names the org, table, field and expected type */
    bad = json_pack("{s:s,s:s,s:s,s:i}", "queue_a", "q-main", "weight_a", "90", "queue_b", "q-v2",
                    "weight_b", 10);
    assert_int_equal(rg_platform_row_preflight(f->p, ORG, TABLE, "main", bad, NULL, 0),
                     RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), ORG));
    assert_non_null(strstr(rg_error_last(), TABLE));
    assert_non_null(strstr(rg_error_last(), "'weight_a'"));
    assert_non_null(strstr(rg_error_last(), "expects integer"));
    json_decref(bad);
    bad = json_pack("{s:s}", "colour", "red");
    assert_int_equal(rg_platform_row_preflight(f->p, ORG, TABLE, "main", bad, NULL, 0),
                     RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "colour"));
    json_decref(bad);
    bad = json_pack("{s:s,s:i,s:s,s:i}", "queue_a", "q-main", "weight_a", 90, "queue_b", "q-v2",
                    "weight_b", 20);
    assert_int_equal(rg_platform_row_preflight(f->p, ORG, TABLE, "main", bad, weights, 0),
                     RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "110"));
    json_decref(bad);
    bad = json_pack("{s:s,s:i,s:s,s:i}", "queue_a", "q-main", "weight_a", 90, "queue_b",
                    "q-missing", "weight_b", 10);
    assert_int_equal(rg_platform_row_preflight(f->p, ORG, TABLE, "main", bad, weights, 0),
                     RG_ENOTFOUND);
    assert_non_null(strstr(rg_error_last(), "q-missing"));
    json_decref(bad);
    assert_int_equal(rg_platform_row_preflight(f->p, ORG, "dt-nope", "main", ok, weights, 0),
                     RG_ENOTFOUND);
    assert_non_null(strstr(rg_error_last(), "dt-nope"));
    assert_int_equal(rg_platform_row_preflight(f->p, ORG, TABLE, "later", ok, weights, 0),
                     RG_ENOTFOUND);
    assert_non_null(strstr(rg_error_last(), "later"));
    assert_int_equal(rg_platform_row_preflight(f->p, ORG, TABLE, "later", ok, weights, 1), 0);
    json_decref(ok);
    json_decref(weights);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_and_schema),
        cmocka_unit_test(test_healthy_then_in_place),
        cmocka_unit_test(test_edit_between_read_and_write),
        cmocka_unit_test(test_writer_after_put),
        cmocka_unit_test(test_dropped_reply_written_once),
        cmocka_unit_test(test_preflight),
    };
    return cmocka_run_group_tests(tests, setup, rg_sim_client_teardown);
}
