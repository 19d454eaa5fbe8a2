/* test_manifest_gates.c - the manifest's `gates`: good entries and their stored JSON, every
 * bad entry's error with its position, a pasted secret never echoed */
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
#include "support/e2e.h"
#include "support/testutil.h"

static const char *g_orgs_json = "[\"org_a\", \"org_b\", \"org_c\"]";

/* A manifest of the e2e shape with `gates` text appended; loads it. */
static int load_with(rg_manifest **out, const char *gates, char *dir, size_t dirlen)
{
    char path[1100], policy[4096];
    json_t *orgs = json_loads(g_orgs_json, 0, NULL);
    int rc;

    assert_int_equal(rg_test_mkdtemp(dir, dirlen), 0);
    snprintf(path, sizeof(path), "%s/m.yaml", dir);
    snprintf(policy, sizeof(policy), "%s%s", rg_e2e_policy, gates);
    assert_int_equal(rg_e2e_write_manifest(path, "http://127.0.0.1:9", orgs, policy), 0);
    json_decref(orgs);
    rc = rg_manifest_load_file(out, path, NULL);
    return rc;
}

static void test_good_gates_round_trip(void **state)
{
    char dir[512];
    rg_manifest *m = NULL, *back = NULL;
    json_t *j = NULL, *g;
    char *text;
    (void)state;

    assert_int_equal(load_with(&m,
                               "gates:\n"
                               "  - {at: pre-stage, url: \"https://gate.example.com/ok\", "
                               "timeout: 90s, secret: env:GATE_SECRET}\n"
                               "  - {at: post-rollback, url: \"http://127.0.0.1:8080/x\", "
                               "secret: env:OTHER}\n",
                               dir, sizeof(dir)),
                     0);
    assert_int_equal(m->gates_count, 2);
    assert_int_equal(m->gates[0].at, RG_GATE_PRE_STAGE);
    assert_int_equal(m->gates[0].timeout_ms, 90000);
    assert_string_equal(m->gates[0].secret_env, "GATE_SECRET");
    assert_int_equal(m->gates[1].at, RG_GATE_POST_ROLLBACK);
    assert_int_equal(m->gates[1].timeout_ms, 60000); /* the default */
    assert_int_equal(rg_manifest_to_json(&j, m), 0);
    g = json_object_get(j, "gates");
    assert_int_equal(json_array_size(g), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(g, 0), "secret")),
                        "env:GATE_SECRET");
    assert_string_equal(json_string_value(json_object_get(json_array_get(g, 0), "at")),
                        "pre-stage");
    text = json_dumps(j, JSON_COMPACT);
    assert_int_equal(rg_manifest_load_buffer(&back, "stored", text, strlen(text), NULL, NULL), 0);
    assert_true(rg_manifest_equal(m, back));
    back->gates[1].timeout_ms = 1000;
    assert_false(rg_manifest_equal(m, back));
    free(text);
    json_decref(j);
    rg_manifest_free(back);
    rg_manifest_free(m);
    rg_test_rmtree(dir);
}

typedef struct {
    const char *gates;
    const char *want; /* in the message */
} bad_gate;

static void test_bad_gates_are_refused_with_position(void **state)
{
    static const bad_gate cases[] = {
        {"gates:\n  - {at: pre-flight, url: \"http://127.0.0.1:1/\", secret: env:S}\n",
         ":38:10: gates[0].at: expected pre-rollout | pre-stage | confirm-promotion | "
         "post-rollback, got 'pre-flight'"},
        {"gates:\n  - {at: pre-stage, url: \"ftp://127.0.0.1:1/\", secret: env:S}\n",
         "gates[0].url"},
        {"gates:\n  - {at: pre-stage, url: \"http://127.0.0.1:1/\"}\n", "secret"},
        {"gates:\n  - {at: pre-stage, url: \"http://127.0.0.1:1/\", secret: env:S, "
         "timeout: 500ms}\n",
         "gates[0].timeout: out of range: expected between 1s and 24h"},
        {"gates:\n  - {at: pre-stage, url: \"http://127.0.0.1:1/\", secret: env:S, "
         "colour: red}\n",
         "colour: unknown key"},
        {"gates: {at: pre-stage}\n", "gates"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dir[512];
        rg_manifest *m = NULL;
        int rc = load_with(&m, cases[i].gates, dir, sizeof(dir));
        if (rc != RG_EINVALID || strstr(rg_error_last(), cases[i].want) == NULL ||
            strstr(rg_error_last(), "m.yaml:") == NULL)
            fail_msg("case %zu: got %d '%s', want '%s'", i, rc, rg_error_last(), cases[i].want);
        rg_manifest_free(m);
        rg_test_rmtree(dir);
    }
}

static void test_pasted_secret_is_not_echoed(void **state)
{
    char dir[512];
    rg_manifest *m = NULL;
    (void)state;
    assert_int_equal(load_with(&m,
                               "gates:\n  - {at: pre-rollout, url: \"http://127.0.0.1:1/\", "
                               "secret: s3cr3t-pasted-value}\n",
                               dir, sizeof(dir)),
                     RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "gates[0].secret"));
    assert_null(strstr(rg_error_last(), "s3cr3t-pasted-value"));
    rg_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_gates_round_trip),
        cmocka_unit_test(test_bad_gates_are_refused_with_position),
        cmocka_unit_test(test_pasted_secret_is_not_echoed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
