/* test_manifest.c - manifest and policy loading: every bad input's exact error, good inputs
 * in YAML and JSON, normalised JSON round trips */
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

typedef struct {
    const char *file;
    int code;
    const char *suffix; /* after "<path>"; @POLICY_DIR@ stands for rg_policy_dir() */
} bad_case;

/* Every rule of the manifest and policy schemas, with the exact message it must give. */
static const bad_case bad_cases[] = {
    {"alias.yaml", RG_EINVALID, ":12:11: anchors are not supported"},
    {"credentials.yaml", RG_EINVALID,
     ":8:16: platform.credentials: expected env or file:PATH, got 'vault'"},
    {"cycle.yaml", RG_EINVALID,
     ":15:18: groups[1].depends_on[0]: cycle: parent -> child -> parent"},
    {"depth_limit.yaml", RG_ELIMIT, ":21:47: nesting deeper than 32 levels"},
    {"duplicate_group.yaml", RG_EINVALID, ":13:11: groups[1].name: duplicate group 'parent'"},
    {"duplicate_key.json", RG_EINVALID,
     ":4:10: JSON syntax: duplicate object key near '\"tenant\"'"},
    {"duplicate_org.yaml", RG_EINVALID,
     ":15:19: groups[1].orgs[1]: org 'org_a' is already listed in group 'parent'"},
    {"embedded_policy.yaml", RG_EINVALID,
     ":4:15: policy.soak_limit: expected a duration such as 15m, 10s or PT1M, got '10x'"},
    {"insecure_remote.yaml", RG_EINVALID,
     ":9:13: platform.insecure: insecure: true is refused unless the host is loopback "
     "(platform.api_url is not)"},
    {"insecure_type.json", RG_EINVALID,
     ":10:17: platform.insecure: expected true or false, got the string 'yes'"},
    {"missing_tenant.yaml", RG_EINVALID, ":1:1: tenant: required field is missing"},
    {"name_type.yaml", RG_EINVALID, ":1:7: name: expected an id, got a sequence"},
    {"notify_secret.yaml", RG_EINVALID,
     ":20:13: notify[0].secret: expected env:NAME naming an environment variable "
     "([A-Z_][A-Z0-9_]*)"},
    {"org_id.yaml", RG_EINVALID,
     ":15:19: groups[1].orgs[1]: 'org c!' is not an id: expected [A-Za-z0-9_.:-]{1,128}"},
    {"policy_alpha.yaml", RG_EINVALID, ":1:8: alpha: 0.6 is out of range: expected (0, 0.5)"},
    {"policy_granularity.yaml", RG_EINVALID,
     ":6:14: granularity: 10m must be at most poll_interval (5m)"},
    {"policy_kind.yaml", RG_EINVALID, ":12:13: metrics[0].events: not allowed for a mean metric"},
    {"policy_missing.yaml", RG_ENOTFOUND,
     ":3:9: policy: @POLICY_DIR@/no-such-policy.yaml: cannot open: No such file or directory"},
    {"policy_name.yaml", RG_EINVALID,
     ":3:9: policy: policy 'Contact_Center': a name must match [a-z0-9_-]{1,64}, or give a path"},
    {"policy_poll.yaml", RG_EINVALID,
     ":5:16: poll_interval: 20m must be at most stabilization_window (15m)"},
    {"policy_sequential.yaml", RG_EINVALID,
     ":2:13: sequential: expected group | msprt | none | counts, got 'bayes'"},
    {"policy_settle.yaml", RG_EINVALID,
     ":7:9: settle: 15m must be less than stabilization_window (15m)"},
    {"policy_tolerance.yaml", RG_EINVALID,
     ":13:27: metrics[0].tolerance.relative: a tolerance must be greater than 0"},
    {"policy_unknown.json", RG_EINVALID,
     ":5:37: metrics[0].severity: unknown key (expected one of: name, kind, events, trials, "
     "source, increase_is_bad, tolerance, critical)"},
    {"policy_zero.yaml", RG_EINVALID, ":7:9: settle: must be greater than zero"},
    {"stages_approval.yaml", RG_EINVALID,
     ":4:38: stages[1].approval: expected required | none, got 'maybe'"},
    {"stages_key.yaml", RG_EINVALID,
     ":4:28: stages[1].wait: unknown key (expected one of: percent, approval, pause, min_offered)"},
    {"stages_pause_last.yaml", RG_EINVALID,
     ":4:18: stages[2]: pause: true on the last stage has nothing to wait before (the rollout "
     "completes when it passes)"},
    {"stages_percent.yaml", RG_EINVALID, ":4:14: stages[1].percent: required field is missing"},
    {"stages_end.yaml", RG_EINVALID, ":4:9: stages: the last stage must be 100, not 50"},
    {"stages_limit.yaml", RG_ELIMIT, ":4:9: stages: 21 entries exceed the limit of 20"},
    {"stages_order.yaml", RG_EINVALID,
     ":4:14: stages[1]: stages must increase strictly: 10 after 10"},
    {"stages_range.yaml", RG_EINVALID, ":4:10: stages[0]: expected an integer in 1..100, got '0'"},
    {"syntax.json", RG_EINVALID, ":28:7: JSON syntax: unexpected token near ']'"},
    {"template_id.yaml", RG_EINVALID,
     ":22:27: change.template.targets[0].id: renders to 'queue_east west' in group 'child', not an "
     "id ([A-Za-z0-9_.:-]{1,128})"},
    {"undefined_var.yaml", RG_EINVALID,
     ":20:11: change.template.name: undefined variable 'ZONE' in group 'parent'"},
    {"unknown_dep.json", RG_EINVALID, ":24:9: groups[1].depends_on[0]: unknown group 'na_west'"},
    {"unknown_dep.yaml", RG_EINVALID, ":14:26: groups[1].depends_on[1]: unknown group 'na_west'"},
    {"unknown_key.yaml", RG_EINVALID,
     ":3:1: colour: unknown key (expected one of: name, tenant, policy, stages, approval, "
     "platform, groups, change, notify, holdout, environments, environment, gates)"},
    {"url_scheme.yaml", RG_EINVALID,
     ":6:12: platform.api_url: expected an http(s) URL, got 'ftp://api.mypurecloud.com'"},
    {"watch_queue.yaml", RG_EINVALID,
     ":19:27: change.watch_queues[1]: 'queue/2' is not an id: expected [A-Za-z0-9_.:-]{1,128}"},
    {"weight_range.yaml", RG_EINVALID,
     ":22:44: change.template.targets[0].weight: expected an integer weight in 0..100 or "
     "'capacity', got '150'"},
    {"weight_string.json", RG_EINVALID,
     ":42:21: change.template.targets[0].weight: expected an integer weight in 0..100 or "
     "'capacity', got the string '50'"},
    {"weight_word.yaml", RG_EINVALID,
     ":22:44: change.template.targets[0].weight: expected an integer weight in 0..100 or "
     "'capacity', got 'half'"},
    {"weight_zero.yaml", RG_EINVALID,
     ":22:7: change.template.targets: every weight is 0 in an enabled strategy (set a weight or "
     "settings.enabled: false)"},
};

static int is_policy_file(const char *file)
{
    return strncmp(file, "policy_", 7) == 0 && strcmp(file, "policy_missing.yaml") != 0 &&
           strcmp(file, "policy_name.yaml") != 0;
}

static void expected_message(char *out, size_t outlen, const char *path, const char *suffix)
{
    const char *token = strstr(suffix, "@POLICY_DIR@");
    if (token == NULL)
        snprintf(out, outlen, "%s%s", path, suffix);
    else
        snprintf(out, outlen, "%s%.*s%s%s", path, (int)(token - suffix), suffix, rg_policy_dir(),
                 token + strlen("@POLICY_DIR@"));
}

static void test_bad_inputs_give_exact_errors(void **state)
{
    char path[PATH_LEN], rel[256], want[2 * PATH_LEN];
    size_t n = sizeof(bad_cases) / sizeof(bad_cases[0]);
    (void)state;

    assert_true(n >= 25);
    for (size_t i = 0; i < n; i++) {
        const bad_case *c = &bad_cases[i];
        int rc;
        snprintf(rel, sizeof(rel), "tests/data/bad/%s", c->file);
        rg_test_path(path, sizeof(path), rel);
        if (is_policy_file(c->file)) {
            rg_policy *p = NULL;
            rc = rg_policy_load_file(&p, path);
            assert_null(p);
        } else {
            rg_manifest *m = NULL;
            rc = rg_manifest_load_file(&m, path, NULL);
            assert_null(m);
        }
        expected_message(want, sizeof(want), path, c->suffix);
        if (rc != c->code || strcmp(rg_error_last(), want) != 0)
            fail_msg("%s: got %s '%s'\n  want %s '%s'", c->file, rg_error_name(rc), rg_error_last(),
                     rg_error_name(c->code), want);
    }
}

static void test_secret_is_never_echoed(void **state)
{
    char path[PATH_LEN];
    rg_manifest *m = NULL;
    (void)state;

    rg_test_path(path, sizeof(path), "tests/data/bad/notify_secret.yaml");
    assert_int_equal(rg_manifest_load_file(&m, path, NULL), RG_EINVALID);
    assert_null(strstr(rg_error_last(), "hunter2"));
    assert_non_null(strstr(rg_error_last(), "notify[0].secret"));
}

static void test_document_size_limit(void **state)
{
    size_t len = RG_DOC_MAX_BYTES + 1;
    char *big = malloc(len);
    rg_manifest *m = NULL;
    (void)state;

    assert_non_null(big);
    memset(big, ' ', len);
    /* Overwrites the start of a sized buffer passed with its length. */
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result)
    memcpy(big, "name: x\n#", 9);
    assert_int_equal(rg_manifest_load_buffer(&m, "big.yaml", big, len, NULL, NULL), RG_ELIMIT);
    assert_null(m);
    assert_string_equal(rg_error_last(),
                        "big.yaml: the document is 1048577 bytes, over the 1048576-byte limit");
    free(big);
}

static rg_manifest *load_good(const char *rel, const rg_manifest_options *opts)
{
    char path[PATH_LEN];
    rg_manifest *m = NULL;

    rg_test_path(path, sizeof(path), rel);
    if (rg_manifest_load_file(&m, path, opts) < 0)
        fail_msg("%s: %s", rel, rg_error_last());
    return m;
}

static void test_yaml_and_json_load_to_equal_models(void **state)
{
    rg_manifest *y = load_good("tests/data/good/routing.yaml", NULL);
    rg_manifest *j = load_good("tests/data/good/routing.json", NULL);
    (void)state;

    assert_true(rg_manifest_equal(y, j));
    assert_string_equal(y->name, "routing-v2.1");
    assert_string_equal(y->tenant, "acme");
    assert_string_equal(y->policy_ref, "contact-center");
    assert_int_equal(y->stages_count, 3);
    assert_int_equal(y->stages[1].percent, 50);
    assert_int_equal(y->approval, RG_APPROVAL_REQUIRED);
    assert_int_equal(y->platform.credentials, RG_CREDENTIALS_ENV);
    assert_false(y->platform.insecure);
    assert_int_equal(y->groups_count, 3);
    assert_string_equal(y->groups[2].orgs[1].api_url, "https://api.mypurecloud.de");
    assert_null(y->groups[2].orgs[0].api_url);
    assert_int_equal(y->groups[0].tier, 1);
    assert_int_equal(y->groups[1].tier, 0);
    assert_int_equal(y->targets_count, 3);
    assert_int_equal(y->targets[1].weight, RG_WEIGHT_CAPACITY);
    assert_string_equal(y->targets[2].id, "{{FALLBACK}}");
    assert_int_equal(y->notify_count, 1);
    assert_string_equal(y->notify[0].secret_env, "ROLLGATE_HOOK_SECRET");
    assert_int_equal(y->notify[0].events_count, 4);
    assert_true(y->has_holdout);
    assert_true(y->holdout == 0.2);

    /* Equality can fail: one changed weight makes them differ. */
    j->targets[0].weight = 49;
    assert_false(rg_manifest_equal(y, j));
    rg_manifest_free(y);
    rg_manifest_free(j);
}

static void test_normalised_json_round_trip(void **state)
{
    rg_manifest *m = load_good("tests/data/good/routing.yaml", NULL), *back = NULL;
    json_t *json = NULL, *json2 = NULL;
    char *text = NULL, *text2 = NULL;
    (void)state;

    assert_int_equal(rg_manifest_to_json(&json, m), 0);
    text = json_dumps(json, JSON_COMPACT);
    assert_non_null(text);
    assert_int_equal(rg_manifest_load_buffer(&back, "stored.json", text, strlen(text), NULL, NULL),
                     0);
    assert_true(rg_manifest_equal(m, back));
    assert_null(back->policy_ref); /* the policy came back embedded */
    assert_string_equal(back->policy->name, "contact-center");
    assert_int_equal(rg_manifest_to_json(&json2, back), 0);
    text2 = json_dumps(json2, JSON_COMPACT);
    assert_string_equal(text, text2);
    assert_non_null(strstr(text, "\"secret\":\"env:ROLLGATE_HOOK_SECRET\""));
    assert_non_null(strstr(text, "\"weight\":\"capacity\""));

    free(text);
    free(text2);
    json_decref(json);
    json_decref(json2);
    rg_manifest_free(back);
    rg_manifest_free(m);
}

/* Stage entries: plain percents stay integers in the stored JSON (and the digest); objects
 * keep approval and pause through a round trip, and a change of them changes the digest. */
static void test_stage_controls(void **state)
{
    char *src = NULL, *text = NULL, *at;
    rg_manifest *plain = NULL, *m = NULL, *back = NULL;
    rg_buf doc = RG_BUF_INIT;
    json_t *json = NULL;
    char path[1024];
    (void)state;

    rg_test_path(path, sizeof(path), "tests/data/bad/stages_order.yaml");
    src = rg_test_read_file(path, NULL);
    assert_non_null(src);
    at = strstr(src, "stages: [10, 10, 100]");
    assert_non_null(at);
    rg_buf_put(&doc, src, (size_t)(at - src));
    rg_buf_printf(&doc,
                  "stages: [{percent: 10, pause: true}, {percent: 50, approval: required},"
                  " 100]%s",
                  at + strlen("stages: [10, 10, 100]"));
    assert_int_equal(rg_manifest_load_buffer(&m, "s.yaml", doc.ptr, doc.len, NULL, NULL), 0);
    assert_int_equal(m->stages_count, 3);
    assert_true(m->stages[0].pause && !m->stages[0].approval_required);
    assert_true(m->stages[1].approval_required && !m->stages[1].pause);
    assert_true(m->stages[2].percent == 100 && !m->stages[2].approval_required);
    assert_int_equal(rg_manifest_to_json(&json, m), 0);
    text = json_dumps(json_object_get(json, "stages"), JSON_COMPACT);
    assert_string_equal(text, "[{\"percent\":10,\"pause\":true},"
                              "{\"percent\":50,\"approval\":\"required\"},100]");
    free(text);
    text = json_dumps(json, JSON_COMPACT);
    assert_int_equal(rg_manifest_load_buffer(&back, "stored.json", text, strlen(text), NULL, NULL),
                     0);
    assert_true(rg_manifest_equal(m, back));
    rg_buf_clear(&doc);
    rg_buf_put(&doc, src, (size_t)(at - src));
    rg_buf_printf(&doc, "stages: [10, 50, 100]%s", at + strlen("stages: [10, 10, 100]"));
    assert_int_equal(rg_manifest_load_buffer(&plain, "p.yaml", doc.ptr, doc.len, NULL, NULL), 0);
    assert_false(rg_manifest_equal(m, plain));
    assert_string_not_equal(m->digest, plain->digest);
    free(text);
    free(src);
    rg_buf_dispose(&doc);
    json_decref(json);
    rg_manifest_free(back);
    rg_manifest_free(plain);
    rg_manifest_free(m);
}

static void test_option_vars_override_group_vars(void **state)
{
    const rg_manifest_var vars[] = {{"ENV_REGION", "canary"}, {"EXTRA", "1"}};
    const rg_manifest_options opts = {vars, 2, NULL};
    rg_manifest *m = load_good("tests/data/good/routing.yaml", &opts);
    char *out = NULL;
    (void)state;

    assert_int_equal(rg_manifest_render(&out, m, 0, "{{ENV_REGION}}/{{EXTRA}}/{{FALLBACK}}"), 0);
    assert_string_equal(out, "canary/1/queue_na_fallback");
    free(out);
    assert_int_equal(rg_manifest_render(&out, m, 0, "x{{NOPE}}"), RG_EINVALID);
    assert_string_equal(rg_error_last(), "group 'na_east': undefined variable 'NOPE'");
    rg_manifest_free(m);
}

static void test_credentials_env_names(void **state)
{
    char *name = NULL;
    (void)state;

    assert_int_equal(rg_manifest_credentials_env(&name, "org-sub.002", "CLIENT_SECRET"), 0);
    assert_string_equal(name, "ROLLGATE_ORG_SUB_002_CLIENT_SECRET");
    free(name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_inputs_give_exact_errors),
        cmocka_unit_test(test_secret_is_never_echoed),
        cmocka_unit_test(test_document_size_limit),
        cmocka_unit_test(test_yaml_and_json_load_to_equal_models),
        cmocka_unit_test(test_normalised_json_round_trip),
        cmocka_unit_test(test_stage_controls),
        cmocka_unit_test(test_option_vars_override_group_vars),
        cmocka_unit_test(test_credentials_env_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
