/* test_abuse.c - hostile inputs: huge, deep, NUL-laden, non-UTF-8, SQL-laden, path-escaping */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "rollgate/doc.h"
#include "rollgate/engine.h"
#include "rollgate/manifest.h"
#include "rollgate/policy.h"
#include "rollgate/store.h"
#include "rollgate/util.h"
#include "support/testutil.h"

static const char *const sql_payloads[] = {
    "'; DROP TABLE rollouts;--",    "O'Brien", "say \"hi\"", "back\\slash\\", "x' OR '1'='1",
    "\"); DELETE FROM targets; --", "%s%n%x",
};
#define NPAYLOADS (sizeof(sql_payloads) / sizeof(sql_payloads[0]))

/* A valid manifest as a JSON object, every name and id in place to be replaced. */
static json_t *base_manifest(void)
{
    json_t *m = json_pack(
        "{s:s, s:s, s:s, s:[i,i], s:s,"
        " s:{s:s, s:s, s:s, s:s},"
        " s:[{s:s, s:[s], s:{s:s}}, {s:s, s:[s], s:[s], s:{s:s}}],"
        " s:{s:s, s:[s], s:{s:s, s:{s:b, s:s}, s:[{s:s, s:s, s:i, s:i}]}}}",
        "name", "routing-v2", "tenant", "acme", "policy", "contact-center", "stages", 50, 100,
        "approval", "required", "platform", "driver", "genesys", "api_url", "http://127.0.0.1:9",
        "login_url", "http://127.0.0.1:9", "credentials", "env", "groups", "name", "parent", "orgs",
        "org_a", "vars", "REGION", "east", "name", "child", "depends_on", "parent", "orgs", "org_b",
        "vars", "REGION", "west", "change", "strategy", "strat_main", "watch_queues", "queue_a",
        "template", "name", "R-{{REGION}}", "settings", "enabled", 1, "note", "{{REGION}}",
        "targets", "type", "Queue", "id", "queue_a", "weight", 100, "priority", 1);
    assert_non_null(m);
    return m;
}

static int load_json(rg_manifest **out, const json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    int rc;

    assert_non_null(text);
    rc = rg_manifest_load_buffer(out, "abuse.json", text, strlen(text), NULL, NULL);
    free(text);
    return rc;
}

typedef struct {
    char dir[4096];
    char db[4200];
    rg_store *store;
    rg_engine *engine;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(rg_test_mkdtemp(f->dir, sizeof(f->dir)), 0);
    snprintf(f->db, sizeof(f->db), "%s/abuse.db", f->dir);
    assert_int_equal(rg_store_open(&f->store, f->db), 0);
    assert_int_equal(rg_engine_new(&f->engine, f->store, NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    rg_engine_free(f->engine);
    rg_store_free(f->store);
    rg_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* Nothing of any tenant was stored. */
static void assert_store_empty(fixture *f)
{
    rg_store_rollouts all = {0};

    assert_int_equal(rg_store_rollout_list_active_all_tenants(&all, f->store), 0);
    assert_int_equal(all.count, 0);
    rg_store_rollouts_dispose(&all);
}

/* ---- size, count and depth limits ---- */

static void test_ten_megabyte_manifest(void **state)
{
    fixture *f = *state;
    size_t len = (size_t)10 * 1024 * 1024;
    char path[4300], *big = malloc(len + 1);
    rg_manifest *m = NULL;
    FILE *out;

    assert_non_null(big);
    memset(big, '#', len); /* a YAML comment: valid syntax, only its size is wrong */
    big[len] = '\0';
    assert_int_equal(rg_manifest_load_buffer(&m, "big.yaml", big, len, NULL, NULL), RG_ELIMIT);
    assert_null(m);
    assert_non_null(strstr(rg_error_last(), "big.yaml"));
    assert_non_null(strstr(rg_error_last(), "limit"));
    snprintf(path, sizeof(path), "%s/big.yaml", f->dir);
    assert_non_null(out = fopen(path, "wb"));
    assert_int_equal(fwrite(big, 1, len, out), len);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(rg_manifest_load_file(&m, path, NULL), RG_ELIMIT);
    assert_non_null(strstr(rg_error_last(), path));
    assert_non_null(strstr(rg_error_last(), "10485760 bytes"));
    free(big);
    assert_store_empty(f);
}

/* "[1,1,...]" with n items, as JSON or YAML flow. */
static char *long_array(size_t n, size_t *len)
{
    rg_buf buf = RG_BUF_INIT;

    assert_int_equal(rg_buf_grow(&buf, 2 * n + 16), 0);
    assert_int_equal(rg_buf_puts(&buf, "{\"stages\": ["), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rg_buf_puts(&buf, i ? ",1" : "1"), 0);
    assert_int_equal(rg_buf_puts(&buf, "]}"), 0);
    *len = buf.len;
    return rg_buf_detach(&buf);
}

static void test_million_element_array(void **state)
{
    rg_manifest *m = NULL;
    rg_doc *doc = NULL;
    size_t len;
    char *text = long_array(1000000, &len);

    (void)state;
    assert_int_equal(rg_manifest_load_buffer(&m, "million.json", text, len, NULL, NULL), RG_ELIMIT);
    assert_non_null(strstr(rg_error_last(), "million.json"));
    free(text);
    /* Under the byte limit, the per-sequence item limit is what stops it. */
    text = long_array(RG_DOC_MAX_ITEMS + 1, &len);
    assert_true(len < (size_t)RG_DOC_MAX_BYTES);
    assert_int_equal(rg_doc_parse(&doc, "items.json", text, len, RG_DOC_JSON), RG_ELIMIT);
    assert_null(doc);
    assert_non_null(strstr(rg_error_last(), "items.json:1:"));
    assert_int_equal(rg_doc_parse(&doc, "items.yaml", text, len, RG_DOC_YAML), RG_ELIMIT);
    assert_non_null(strstr(rg_error_last(), "items.yaml:1:"));
    free(text);
}

static char *nested(size_t depth, const char *open, const char *leaf, const char *close)
{
    rg_buf buf = RG_BUF_INIT;

    for (size_t i = 0; i < depth; i++)
        assert_int_equal(rg_buf_puts(&buf, open), 0);
    assert_int_equal(rg_buf_puts(&buf, leaf), 0);
    for (size_t i = 0; i < depth; i++)
        assert_int_equal(rg_buf_puts(&buf, close), 0);
    return rg_buf_detach(&buf);
}

/* Every loader refuses it as a limit, naming the document and the nesting. */
static void expect_too_deep(const char *name, const char *text, rg_doc_format format)
{
    rg_manifest *m = NULL;
    rg_policy *p = NULL;
    rg_doc *doc = NULL;

    assert_int_equal(rg_doc_parse(&doc, name, text, strlen(text), format), RG_ELIMIT);
    assert_null(doc);
    assert_non_null(strstr(rg_error_last(), name));
    assert_non_null(strstr(rg_error_last(), "nesting deeper than 32 levels"));
    assert_int_equal(rg_manifest_load_buffer(&m, name, text, strlen(text), NULL, NULL), RG_ELIMIT);
    assert_null(m);
    assert_non_null(strstr(rg_error_last(), "nesting deeper than 32 levels"));
    assert_int_equal(rg_policy_load_buffer(&p, name, text, strlen(text)), RG_ELIMIT);
    assert_null(p);
    assert_non_null(strstr(rg_error_last(), name));
}

static void test_ten_thousand_levels(void **state)
{
    char *json_arrays = nested(10000, "[", "1", "]");
    char *json_objects = nested(10000, "{\"a\":", "1", "}");
    char *yaml_flow = nested(10000, "{a: ", "1", "}");
    char *yaml_seq = nested(10000, "[", "x", "]");
    rg_buf block = RG_BUF_INIT;

    (void)state;
    expect_too_deep("deep-arrays.json", json_arrays, RG_DOC_JSON);
    expect_too_deep("deep-objects.json", json_objects, RG_DOC_AUTO);
    /* "a: " first, so the content-sniffing loaders take it as YAML too */
    assert_int_equal(rg_buf_printf(&block, "a: %s", yaml_flow), 0);
    expect_too_deep("deep-flow.yaml", rg_buf_cstr(&block), RG_DOC_YAML);
    rg_buf_clear(&block);
    assert_int_equal(rg_buf_printf(&block, "a: %s", yaml_seq), 0);
    expect_too_deep("deep-seq.yaml", rg_buf_cstr(&block), RG_DOC_YAML);
    rg_buf_clear(&block);
    /* block style: 10,000 "- " on one line nest 10,000 sequences */
    for (size_t i = 0; i < 10000; i++)
        assert_int_equal(rg_buf_puts(&block, "- "), 0);
    assert_int_equal(rg_buf_puts(&block, "x\n"), 0);
    expect_too_deep("deep-block.yaml", rg_buf_cstr(&block), RG_DOC_AUTO);
    rg_buf_dispose(&block);
    free(json_arrays);
    free(json_objects);
    free(yaml_flow);
    free(yaml_seq);
}

/* ---- bytes that are not text ---- */

static void expect_refused(const char *name, const char *data, size_t len)
{
    rg_manifest *m = NULL;
    int rc = rg_manifest_load_buffer(&m, name, data, len, NULL, NULL);

    assert_int_equal(rc, RG_EINVALID);
    assert_null(m);
    assert_non_null(strstr(rg_error_last(), name));
}

/* A literal with its embedded NULs: its size, less the terminating one. */
#define REFUSED(name, literal) expect_refused((name), (literal), sizeof(literal) - 1)

static void test_nul_bytes(void **state)
{
    fixture *f = *state;
    char path[4096], *good;
    size_t len;
    rg_buf buf = RG_BUF_INIT;

    rg_test_path(path, sizeof(path), "tests/data/good/routing.yaml");
    assert_non_null(good = rg_test_read_file(path, &len));
    /* A NUL after a complete manifest must not cut the document short silently. */
    assert_int_equal(rg_buf_put(&buf, good, len), 0);
    assert_int_equal(rg_buf_put(&buf, "\0evil: 1\n", 9), 0);
    expect_refused("trailing-nul.yaml", buf.ptr, buf.len);
    REFUSED("nul-in-value.yaml", "name: rout\0ing\ntenant: acme\n");
    REFUSED("nul-in-key.json", "{\"na\0me\": \"x\", \"tenant\": \"acme\"}");
    REFUSED("nul-in-string.json", "{\"name\": \"a\0b\", \"tenant\": \"acme\"}");
    REFUSED("escaped-nul.json", "{\"name\": \"a\\u0000b\", \"tenant\": \"acme\"}");
    rg_buf_dispose(&buf);
    free(good);
    assert_store_empty(f);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    REFUSED("latin1.yaml", "name: caf\xe9\ntenant: acme\n");
    REFUSED("overlong.yaml", "name: \xc0\xafx\ntenant: acme\n");
    REFUSED("surrogate.json", "{\"name\": \"\xed\xa0\x80\", \"tenant\": \"acme\"}");
    REFUSED("truncated.json", "{\"name\": \"ab\xe2\x82\", \"tenant\": \"acme\"}");
    REFUSED("bare-ff.json", "{\"tenant\": \"acme\", \"\xff\": 1}");
}

/* ---- SQL metacharacters ---- */

/* Puts `value` at the id field that errors name `path`. */
static void set_id(json_t *m, const char *path, const char *value)
{
    json_t *g = json_object_get(m, "groups"), *c = json_object_get(m, "change");

    if (strcmp(path, "name") == 0 || strcmp(path, "tenant") == 0)
        json_object_set_new(m, path, json_string(value));
    else if (strcmp(path, "groups[0].name") == 0)
        json_object_set_new(json_array_get(g, 0), "name", json_string(value));
    else if (strcmp(path, "groups[0].orgs[0]") == 0)
        json_array_set_new(json_object_get(json_array_get(g, 0), "orgs"), 0, json_string(value));
    else if (strcmp(path, "groups[1].depends_on[0]") == 0)
        json_array_set_new(json_object_get(json_array_get(g, 1), "depends_on"), 0,
                           json_string(value));
    else if (strcmp(path, "change.strategy") == 0)
        json_object_set_new(c, "strategy", json_string(value));
    else if (strcmp(path, "change.watch_queues[0]") == 0)
        json_array_set_new(json_object_get(c, "watch_queues"), 0, json_string(value));
    else if (strcmp(path, "change.template.targets[0].id") == 0)
        json_object_set_new(
            json_array_get(json_object_get(json_object_get(c, "template"), "targets"), 0), "id",
            json_string(value));
    else if (strcmp(path, "groups[0].vars") == 0)
        json_object_set_new(json_object_get(json_array_get(g, 0), "vars"), value, json_string("v"));
    else
        fail_msg("unknown field %s", path);
}

static void test_sql_in_every_id(void **state)
{
    static const char *const fields[] = {"name",
                                         "tenant",
                                         "groups[0].name",
                                         "groups[0].orgs[0]",
                                         "groups[1].depends_on[0]",
                                         "change.strategy",
                                         "change.watch_queues[0]",
                                         "change.template.targets[0].id",
                                         "groups[0].vars"};
    fixture *f = *state;

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        for (size_t k = 0; k < NPAYLOADS; k++) {
            json_t *doc = base_manifest();
            rg_manifest *m = NULL;
            set_id(doc, fields[i], sql_payloads[k]);
            assert_int_equal(load_json(&m, doc), RG_EINVALID);
            assert_null(m);
            if (strstr(rg_error_last(), fields[i]) == NULL)
                fail_msg("%s = %s: error does not name the field: %s", fields[i], sql_payloads[k],
                         rg_error_last());
            json_decref(doc);
        }
    }
    assert_store_empty(f);
}

/* Free text (variable values, rendered names and settings, the actor) is stored as given. */
static void test_sql_in_free_text_round_trips(void **state)
{
    fixture *f = *state;

    for (size_t k = 0; k < NPAYLOADS; k++) {
        json_t *doc = base_manifest(), *vars, *norm = NULL;
        rg_manifest *m = NULL, *back = NULL;
        rg_store_rollout row = {0};
        rg_store_targets targets = {0};
        char id[RG_STORE_ROLLOUT_ID_LEN], *expect;

        char strategy[32];

        vars = json_object_get(json_array_get(json_object_get(doc, "groups"), 0), "vars");
        json_object_set_new(vars, "REGION", json_string(sql_payloads[k]));
        /* one strategy per rollout: an active rollout claims (org, strategy) */
        snprintf(strategy, sizeof(strategy), "strat_%zu", k);
        json_object_set_new(json_object_get(doc, "change"), "strategy", json_string(strategy));
        assert_int_equal(load_json(&m, doc), 0);
        assert_int_equal(rg_engine_start(id, f->engine, m, NULL, sql_payloads[k], 0), 0);
        assert_int_equal(rg_store_rollout_get(&row, f->store, "acme", id), 0);
        assert_int_equal(rg_manifest_to_json(&norm, m), 0);
        expect = json_dumps(norm, JSON_COMPACT);
        assert_string_equal(row.manifest, expect); /* byte-identical */
        assert_string_equal(row.created_by, sql_payloads[k]);
        assert_non_null(strstr(row.manifest, "\"REGION\""));
        assert_int_equal(rg_manifest_load_buffer(&back, "stored.json", row.manifest,
                                                 strlen(row.manifest), NULL, NULL),
                         0);
        assert_true(rg_manifest_equal(m, back));
        assert_string_equal(back->groups[0].vars[0].value, sql_payloads[k]);
        assert_int_equal(rg_store_target_list(&targets, f->store, "acme", id), 0);
        assert_int_equal(targets.count, 2);
        rg_store_targets_dispose(&targets);
        rg_store_rollout_dispose(&row);
        rg_manifest_free(back);
        rg_manifest_free(m);
        json_decref(norm);
        json_decref(doc);
        free(expect);
    }
}

/* The store itself binds every value: names and reasons with SQL in them come back as is. */
static void test_sql_through_store_api(void **state)
{
    fixture *f = *state;
    rg_store_rollouts list = {0};

    for (size_t k = 0; k < NPAYLOADS; k++) {
        char id[RG_STORE_ROLLOUT_ID_LEN], tenant[32], *name = NULL;
        rg_store_rollout row = {0}, back = {0};

        snprintf(tenant, sizeof(tenant), "t%zu", k);
        assert_int_equal(rg_store_tenant_ensure(f->store, tenant, sql_payloads[k]), 0);
        assert_int_equal(rg_store_tenant_name(&name, f->store, tenant), 0);
        assert_string_equal(name, sql_payloads[k]);
        free(name);
        assert_int_equal(rg_store_rollout_id_new(id), 0);
        row.id = id;
        row.tenant_id = tenant;
        row.name = (char *)sql_payloads[k];
        row.manifest = "{}";
        row.policy = "{}";
        row.stage_count = 1;
        row.created_by = (char *)sql_payloads[k];
        row.hold_reason = (char *)sql_payloads[k];
        assert_int_equal(rg_store_rollout_insert(f->store, &row), 0);
        assert_int_equal(rg_store_rollout_get(&back, f->store, tenant, id), 0);
        assert_string_equal(back.name, sql_payloads[k]);
        assert_string_equal(back.created_by, sql_payloads[k]);
        assert_string_equal(back.hold_reason, sql_payloads[k]);
        rg_store_rollout_dispose(&back);
        /* the rollouts table is still there and holds exactly this tenant's row */
        assert_int_equal(rg_store_rollout_list(&list, f->store, tenant), 0);
        assert_int_equal(list.count, 1);
        rg_store_rollouts_dispose(&list);
    }
}

/* ---- path traversal in policy references ---- */

static void expect_policy_refused(fixture *f, const char *ref, const char *named)
{
    json_t *doc = base_manifest();
    rg_manifest *m = NULL;
    rg_policy *p = NULL;
    int rc;

    rc = rg_policy_load(&p, ref, f->dir);
    assert_true(rc < 0);
    assert_null(p);
    if (strstr(rg_error_last(), named) == NULL)
        fail_msg("policy %s: the error does not name %s: %s", ref, named, rg_error_last());
    assert_null(strstr(rg_error_last(), "root:x:0:0"));      /* no file content echoed */
    assert_null(strstr(rg_error_last(), "abuse-secret-42")); /* nor the environment */
    json_object_set_new(doc, "policy", json_string(ref));
    assert_true(load_json(&m, doc) < 0);
    assert_null(m);
    assert_non_null(strstr(rg_error_last(), "policy"));
    assert_null(strstr(rg_error_last(), "root:x:0:0"));
    assert_null(strstr(rg_error_last(), "abuse-secret-42"));
    json_decref(doc);
}

static void test_policy_path_traversal(void **state)
{
    fixture *f = *state;

    setenv("ROLLGATE_ABUSE_CLIENT_SECRET", "abuse-secret-42", 1);
    expect_policy_refused(f, "../../etc/passwd", "etc/passwd");
    expect_policy_refused(f, "../../../../../../../../etc/passwd", "etc/passwd");
    expect_policy_refused(f, "/etc/passwd", "/etc/passwd");
    expect_policy_refused(f, "/proc/self/environ", "/proc/self/environ");
    expect_policy_refused(f, "/etc", "/etc");
    expect_policy_refused(f, "/dev/null", "/dev/null");
    expect_policy_refused(f, "contact-center/../../../etc/passwd", "etc/passwd");
    expect_policy_refused(f, "team/strict", "team/strict");
    expect_policy_refused(f, "..", "..");
    expect_policy_refused(f, "Contact Center", "Contact Center");
    expect_policy_refused(f, "contact-center\n", "policy");
    unsetenv("ROLLGATE_ABUSE_CLIENT_SECRET");
    assert_store_empty(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ten_megabyte_manifest, setup, teardown),
        cmocka_unit_test(test_million_element_array),
        cmocka_unit_test(test_ten_thousand_levels),
        cmocka_unit_test_setup_teardown(test_nul_bytes, setup, teardown),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test_setup_teardown(test_sql_in_every_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sql_in_free_text_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sql_through_store_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_path_traversal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
