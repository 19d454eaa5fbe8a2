/* test_manifest_resource.c - change.resource: the datatable_row kind (template, weight
 * columns, create), the versioned kind (path, any-valued template without version),
 * routing_strategy as the shorthand's long form, refusals at file:line:col */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/manifest.h"
#include "rollgate/util.h"

/* Lines 1..7; `change:` is line 8, its first key line 9. */
static const char head[] =
    "name: rows\n"
    "tenant: acme\n"
    "approval: none\n"
    "platform: {driver: genesys, api_url: \"https://api.mypurecloud.com\", login_url: "
    "\"https://login.mypurecloud.com\", credentials: env}\n"
    "groups:\n"
    "  - {name: a, orgs: [org_a], vars: {NEW_QUEUE: q-v2}}\n"
    "  - {name: b, orgs: [org_b, org_c], vars: {NEW_QUEUE: q-v3}}\n"
    "change:\n";

static const char row_change[] =
    "  resource: {kind: datatable_row, datatable: dt-routing, row: main, create: true}\n"
    "  watch_queues: [q-main]\n"
    "  template: {queue_a: q-main, weight_a: 40, queue_b: \"{{NEW_QUEUE}}\", weight_b: 60,"
    " note: \"rolled by rollgate\", enabled: true, ratio: 0.5}\n"
    "  weights: {weight_a: queue_a, weight_b: queue_b}\n";

static int load(rg_manifest **out, const char *change)
{
    rg_buf b = RG_BUF_INIT;
    int rc;

    rg_buf_puts(&b, head);
    rg_buf_puts(&b, change);
    rc = rg_manifest_load_buffer(out, "m.yaml", rg_buf_cstr(&b), b.len, NULL, NULL);
    rg_buf_dispose(&b);
    return rc;
}

static void test_datatable_row_loads(void **state)
{
    rg_manifest *m = NULL;
    rg_resolution *r = NULL;
    const json_t *t;
    (void)state;

    if (load(&m, row_change) < 0)
        fail_msg("%s", rg_error_last());
    assert_int_equal(m->resource.kind, RG_RESOURCE_DATATABLE_ROW);
    assert_string_equal(m->resource.datatable, "dt-routing");
    assert_string_equal(m->resource.row, "main");
    assert_true(m->resource.create);
    assert_string_equal(m->strategy, "dt-routing/main");
    assert_string_equal(json_string_value(json_object_get(m->resource.weights, "weight_b")),
                        "queue_b");
    t = m->template_json;
    assert_true(json_is_integer(json_object_get(t, "weight_a")));
    assert_true(json_is_true(json_object_get(t, "enabled")));
    assert_true(json_is_real(json_object_get(t, "ratio")));
    assert_int_equal(m->targets_count, 0);
    /* {{VAR}} renders per group */
    assert_int_equal(rg_manifest_resolve(&r, m), 0);
    assert_int_equal(r->count, 3);
    assert_string_equal(json_string_value(json_object_get(r->targets[0].body, "queue_b")), "q-v2");
    assert_string_equal(json_string_value(json_object_get(r->targets[2].body, "queue_b")), "q-v3");
    assert_null(json_object_get(r->targets[0].body, "key"));
    rg_resolution_free(r);
    rg_manifest_free(m);
}

static void test_stored_form_round_trips(void **state)
{
    rg_manifest *m = NULL, *back = NULL;
    json_t *json = NULL, *json2 = NULL;
    char *text, *text2;
    (void)state;

    assert_int_equal(load(&m, row_change), 0);
    assert_int_equal(rg_manifest_to_json(&json, m), 0);
    text = json_dumps(json, JSON_COMPACT);
    assert_non_null(strstr(text, "\"kind\":\"datatable_row\""));
    assert_int_equal(rg_manifest_load_buffer(&back, "stored.json", text, strlen(text), NULL, NULL),
                     0);
    assert_true(rg_manifest_equal(m, back));
    assert_string_equal(m->digest, back->digest);
    assert_int_equal(rg_manifest_to_json(&json2, back), 0);
    text2 = json_dumps(json2, JSON_COMPACT);
    assert_string_equal(text, text2);
    /* another row is another artifact and another manifest */
    back->resource.row[0] = 'x';
    assert_false(rg_manifest_equal(m, back));
    free(text);
    free(text2);
    json_decref(json);
    json_decref(json2);
    rg_manifest_free(back);
    rg_manifest_free(m);
}

static const char ivr_change[] =
    "  resource: {kind: versioned, path: /api/v2/architect/ivrs/ivr-main}\n"
    "  watch_queues: [q-main]\n"
    "  template: {openHoursFlow: {id: \"flow-{{NEW_QUEUE}}\"}, description: canary}\n";

static void test_versioned_loads_and_round_trips(void **state)
{
    rg_manifest *m = NULL, *back = NULL;
    rg_resolution *r = NULL;
    json_t *json = NULL;
    char *text;
    (void)state;

    if (load(&m, ivr_change) < 0)
        fail_msg("%s", rg_error_last());
    assert_int_equal(m->resource.kind, RG_RESOURCE_VERSIONED);
    assert_string_equal(rg_resource_kind_name(m->resource.kind), "versioned");
    assert_string_equal(m->resource.path, "/api/v2/architect/ivrs/ivr-main");
    assert_string_equal(m->strategy, "/api/v2/architect/ivrs/ivr-main");
    assert_int_equal(rg_manifest_resolve(&r, m), 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(r->targets[2].body, "openHoursFlow"), "id")),
                        "flow-q-v3");
    rg_resolution_free(r);
    assert_int_equal(rg_manifest_to_json(&json, m), 0);
    text = json_dumps(json, JSON_COMPACT);
    assert_non_null(strstr(text, "\"kind\":\"versioned\""));
    assert_int_equal(rg_manifest_load_buffer(&back, "stored.json", text, strlen(text), NULL, NULL),
                     0);
    assert_true(rg_manifest_equal(m, back));
    assert_string_equal(m->digest, back->digest);
    back->resource.path[strlen(back->resource.path) - 1] = 'x';
    assert_false(rg_manifest_equal(m, back));
    free(text);
    json_decref(json);
    rg_manifest_free(back);
    rg_manifest_free(m);
}

static void test_routing_strategy_long_form_is_the_shorthand(void **state)
{
    static const char tmpl[] = "  template:\n"
                               "    targets:\n"
                               "      - {type: Queue, id: q-main, weight: 100, priority: 1}\n";
    rg_manifest *a = NULL, *b = NULL;
    rg_buf x = RG_BUF_INIT, y = RG_BUF_INIT;
    (void)state;

    rg_buf_printf(&x, "  strategy: strat_main\n%s", tmpl);
    rg_buf_printf(&y, "  resource: {kind: routing_strategy, id: strat_main}\n%s", tmpl);
    assert_int_equal(load(&a, rg_buf_cstr(&x)), 0);
    assert_int_equal(load(&b, rg_buf_cstr(&y)), 0);
    assert_int_equal(b->resource.kind, RG_RESOURCE_ROUTING_STRATEGY);
    assert_true(rg_manifest_equal(a, b));
    assert_string_equal(a->digest, b->digest);
    rg_buf_dispose(&x);
    rg_buf_dispose(&y);
    rg_manifest_free(a);
    rg_manifest_free(b);
}

typedef struct {
    const char *change;
    int code;
    const char *message; /* after "m.yaml" */
} bad_case;

static const bad_case bad_cases[] = {
    {"  resource: {kind: ivr, path: /api/v2/architect/ivrs/1}\n  template: {a: 1}\n", RG_EINVALID,
     ":9:20: change.resource.kind: expected routing_strategy | datatable_row | versioned, got "
     "'ivr'"},
    {"  resource: {kind: versioned, path: /api/v2/architect/ivrs/1}\n  watch_queues: [q]\n"
     "  template: {version: 4, name: x}\n",
     RG_EINVALID,
     ":11:14: change.template.version: 'version' is the platform's (the version read is "
     "carried on each PUT), not a field to set"},
    {"  resource: {kind: versioned, path: \"/api/v2/architect/ivrs/1?x=1\"}\n"
     "  watch_queues: [q]\n  template: {name: x}\n",
     RG_EINVALID,
     ":9:37: change.resource.path: character 0x3f at 24 is not allowed (no query; escape ids)"},
    {"  resource: {kind: versioned, path: /api/v2/architect/../ivrs/1}\n"
     "  watch_queues: [q]\n  template: {name: x}\n",
     RG_EINVALID, ":9:37: change.resource.path: the path has an empty or dot segment"},
    {"  resource: {kind: versioned, path: /api/v2/architect/ivrs/1}\n  template: {name: x}\n",
     RG_EINVALID,
     ":9:3: change.watch_queues: a versioned change routes no queue rollgate can see: name the "
     "queues to judge it by"},
    {"  resource: {kind: datatable_row, datatable: dt, row: main}\n"
     "  template: {key: main, a: 1}\n",
     RG_EINVALID,
     ":10:14: change.template.key: the row's key is change.resource.row, not a "
     "template field"},
    {"  resource: {kind: datatable_row, datatable: dt, row: main}\n"
     "  template: {a: [1, 2]}\n",
     RG_EINVALID, ":10:17: change.template.a: expected a string, integer, number or boolean"},
    {"  resource: {kind: datatable_row, datatable: dt, row: main}\n"
     "  template: {qa: q1, wa: 40, qb: q2, wb: 50}\n"
     "  weights: {wa: qa, wb: qb}\n",
     RG_EINVALID, ":11:12: change.weights: the weight columns sum to 90, not 100"},
    {"  resource: {kind: datatable_row, datatable: dt, row: main}\n"
     "  template: {qa: q1, wa: 100}\n"
     "  weights: {wa: qa, wb: qb}\n",
     RG_EINVALID,
     ":11:21: change.weights.wb: weight column 'wb' must be a template field "
     "holding an integer 0..100 or capacity"},
    {"  resource: {kind: datatable_row, datatable: dt, row: main}\n"
     "  template: {qa: 7, wa: 100}\n"
     "  weights: {wa: qa}\n",
     RG_EINVALID,
     ":11:17: change.weights.wa: queue column 'qa' must be a template field "
     "holding a queue id (a string)"},
    {"  resource: {kind: datatable_row, datatable: dt, row: main}\n"
     "  strategy: strat_main\n  template: {a: 1}\n",
     RG_EINVALID, ":10:13: change.strategy: a datatable_row change names no strategy"},
    {"  strategy: strat_main\n  weights: {wa: qa}\n"
     "  template: {targets: [{type: Queue, id: q, weight: 100, priority: 1}]}\n",
     RG_EINVALID,
     ":10:12: change.weights: weights map data-table columns: only for kind "
     "datatable_row"},
    {"  resource: {kind: datatable_row, datatable: dt, row: main}\n"
     "  template: {a: \"{{NOPE}}\"}\n",
     RG_EINVALID, ":10:17: change.template.a: undefined variable 'NOPE' in group 'a'"},
    {"  resource: {kind: datatable_row, datatable: dt}\n  template: {a: 1}\n", RG_EINVALID,
     ":9:13: change.resource.row: required field is missing"},
};

static void test_refusals_name_file_line_col(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        rg_manifest *m = NULL;
        char want[512];
        int rc = load(&m, bad_cases[i].change);
        snprintf(want, sizeof(want), "m.yaml%s", bad_cases[i].message);
        assert_null(m);
        if (rc != bad_cases[i].code || strcmp(rg_error_last(), want) != 0)
            fail_msg("case %zu: got %s '%s'\n  want %s '%s'", i, rg_error_name(rc), rg_error_last(),
                     rg_error_name(bad_cases[i].code), want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_datatable_row_loads),
        cmocka_unit_test(test_stored_form_round_trips),
        cmocka_unit_test(test_versioned_loads_and_round_trips),
        cmocka_unit_test(test_routing_strategy_long_form_is_the_shorthand),
        cmocka_unit_test(test_refusals_name_file_line_col),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
