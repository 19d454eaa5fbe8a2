/* test_e2e_faults.c - a bad change under each simulator fault and all at once reaches the
 * outcome it reaches without faults; and no secret or token reaches the debug log, the
 * database file, or the reports */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/body.h"
#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/testutil.h"

static rg_buf captured = RG_BUF_INIT;

static void capture(rg_log_level level, const char *component, const char *message, void *payload)
{
    (void)payload;
    rg_buf_printf(&captured, "%s %s: %s\n", rg_log_level_name(level), component, message);
}

/* What in `text` looks like a secret: a client secret, an access token (the sim's
 * "N.<32 hex>"), an Authorization header. NULL when nothing. */
static const char *find_secret(const char *text, size_t len)
{
    static const char *const what[] = {"a client secret", "an Authorization header",
                                       "something shaped like an access token"};
    char *copy = rg_strndup(text, len);
    const char *found = NULL;
    regex_t token;

    for (size_t i = 0; i < len; i++)
        if (copy[i] == '\0')
            copy[i] = ' '; /* database pages hold NULs */
    if (strstr(copy, "secret-org_"))
        found = what[0];
    else if (strstr(copy, "Bearer ") || strstr(copy, "Basic "))
        found = what[1];
    else if (regcomp(&token, "[0-9]+\\.[0-9a-f]{32}", REG_EXTENDED) == 0) {
        if (regexec(&token, copy, 0, NULL, 0) == 0)
            found = what[2];
        regfree(&token);
    }
    free(copy);
    return found;
}

static void assert_no_secret(const char *where, const char *text, size_t len)
{
    const char *found = find_secret(text, len);
    if (found)
        fail_msg("%s contains %s", where, found);
}

static void scan_database(rg_e2e *e)
{
    const char *suffix[] = {"", "-wal"};
    for (size_t i = 0; i < 2; i++) {
        char path[700];
        size_t len = 0;
        char *bytes;
        snprintf(path, sizeof(path), "%s%s", e->db, suffix[i]);
        if ((bytes = rg_test_read_file(path, &len)) == NULL)
            continue;
        assert_no_secret(path, bytes, len);
        free(bytes);
    }
}

static void run_with_faults(const char *faults)
{
    rg_e2e e;
    rg_store_targets targets = {0};
    json_t *doc = NULL;
    char *text;
    size_t restored = 0;

    memset(&e, 0, sizeof(e));
    assert_int_equal(rg_simproc_start(&e.sim, "sim/scenarios/demo.json"), 0);
    assert_int_equal(rg_e2e_credentials(&e.orgs, "sim/scenarios/demo.json"), 0);
    assert_int_equal(rg_simproc_faults(&e.sim, faults), 0);
    assert_int_equal(rg_e2e_begin(&e, NULL, NULL, 200), 0);
    if (rg_e2e_drive(&e, rg_e2e_finished, 600) < 0)
        fail_msg("faults %s: %s", faults, rg_error_last());
    if (rg_e2e_state(&e) != RG_ROLLOUT_ROLLED_BACK)
        fail_msg("faults %s: ended %s, not rolled_back", faults,
                 rg_rollout_state_to_str(rg_e2e_state(&e)));
    assert_int_equal(rg_store_target_list(&targets, e.store, e.tenant, e.id), 0);
    for (size_t i = 0; i < targets.count; i++) {
        rg_store_target *t = &targets.items[i];
        json_t *live, *snap;
        if (t->state == RG_TARGET_PENDING)
            continue;
        assert_int_equal(t->state, RG_TARGET_RESTORED);
        live = rg_e2e_live(&e.sim, t->org_id);
        snap = rg_e2e_snapshot(&e, t->org_id);
        for (size_t f = 0; rg_body_fields[f]; f++)
            if (!json_equal(json_object_get(live, rg_body_fields[f]),
                            json_object_get(snap, rg_body_fields[f])))
                fail_msg("faults %s: %s.%s differs from its snapshot", faults, t->org_id,
                         rg_body_fields[f]);
        restored++;
        json_decref(live);
        json_decref(snap);
    }
    assert_true(restored >= 1);
    fprintf(stderr, "faults %s: rolled back, %zu organizations restored\n", faults, restored);
    /* The reports people and pipelines read carry no secret either. */
    assert_int_equal(rg_engine_explain_json(&doc, e.engine, e.tenant, e.id), 0);
    text = json_dumps(doc, 0);
    assert_no_secret("explain", text, strlen(text));
    free(text);
    json_decref(doc);
    assert_int_equal(rg_engine_status_json(&doc, e.engine, e.tenant, e.id), 0);
    text = json_dumps(doc, 0);
    assert_no_secret("status", text, strlen(text));
    free(text);
    json_decref(doc);
    rg_store_targets_dispose(&targets);
    rg_engine_free(e.engine);
    e.engine = NULL;
    rg_store_free(e.store);
    e.store = NULL;
    scan_database(&e);
    rg_e2e_end(&e);
}

static void test_fault_matrix(void **state)
{
    static const char *const matrix[] = {
        "{\"error_rate\":0.2,\"error_status\":503}",
        "{\"reset_rate\":0.05}",
        "{\"rate_limit\":30,\"rate_window_s\":60}",
        "{\"token_ttl_s\":3}",
        "{\"latency_ms\":300}",
        /* One case split over two lines (literal concatenation). */
        // NOLINTNEXTLINE(bugprone-suspicious-missing-comma)
        "{\"error_rate\":0.2,\"error_status\":503,\"reset_rate\":0.05,\"rate_limit\":30,"
        "\"rate_window_s\":60,\"token_ttl_s\":3,\"latency_ms\":300}",
    };
    (void)state;
    rg_log_set_sink(capture, NULL, RG_LOG_DEBUG);
    for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++)
        run_with_faults(matrix[i]);
    rg_log_set_sink(NULL, NULL, RG_LOG_ERROR);
    assert_true(captured.len > 1000); /* debug logging really ran */
    assert_no_secret("the debug log", rg_buf_cstr(&captured), captured.len);
    rg_buf_dispose(&captured);
}

/* The detector itself finds what it must, so a clean scan means something. */
static void test_detector_finds_secrets(void **state)
{
    static const char sample_db[] = "page\0\0secret-org_sub_002\0";
    (void)state;
    assert_non_null(find_secret("x secret-org_parent_001 y", 25));
    assert_non_null(find_secret(sample_db, sizeof(sample_db)));
    assert_non_null(find_secret("Authorization: Bearer abc", 25));
    assert_non_null(find_secret("tok 3.0123456789abcdef0123456789abcdef end", 41));
    assert_null(find_secret("org_sub_002 restored; etag \"b4688f11e6a432e556c2703e\"", 53));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detector_finds_secrets),
        cmocka_unit_test(test_fault_matrix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
