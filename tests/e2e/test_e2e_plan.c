/* test_e2e_plan.c - the live plan: a per-field diff, pre-flight findings, nothing written */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/testutil.h"

static const json_t *change_at(const json_t *diff, const char *path)
{
    size_t i;
    json_t *c;
    json_array_foreach(
        diff, i, c) if (strcmp(json_string_value(json_object_get(c, "path")), path) == 0) return c;
    return NULL;
}

static int count_method(const json_t *log, const char *method)
{
    size_t i;
    json_t *r;
    int n = 0;
    json_array_foreach(json_object_get(log, "requests"), i, r) n +=
        strcmp(json_string_value(json_object_get(r, "method")), method) == 0;
    return n;
}

static void test_live_plan_diffs_and_blocks(void **state)
{
    char dir[512], path[700];
    rg_simproc sim;
    json_t *orgs = NULL, *plan = NULL, *log, *t;
    rg_manifest *m = NULL;
    rg_buf text = RG_BUF_INIT;
    char *src;
    (void)state;
    assert_int_equal(rg_simproc_start(&sim, "sim/scenarios/demo.json"), 0);
    assert_int_equal(rg_e2e_credentials(&orgs, "sim/scenarios/demo.json"), 0);
    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/m.yaml", dir);
    assert_int_equal(rg_e2e_write_manifest(path, sim.url, orgs, NULL), 0);
    assert_int_equal(rg_manifest_load_file(&m, path, NULL), 0);
    assert_int_equal(rg_engine_plan(&plan, m, dir, NULL), 0);
    assert_true(json_is_false(json_object_get(plan, "blocked")));
    assert_int_equal(json_array_size(json_object_get(plan, "targets")), json_array_size(orgs));
    t = json_array_get(json_object_get(plan, "targets"), 0);
    {
        const json_t *diff = json_object_get(t, "diff");
        const json_t *w = change_at(diff, "targets[queue_v2].weight");
        assert_non_null(w);
        assert_string_equal(json_string_value(json_object_get(w, "change")), "modified");
        assert_int_equal(json_integer_value(json_object_get(w, "from")), 0);
        assert_int_equal(json_integer_value(json_object_get(w, "to")), 100);
        assert_string_equal(json_string_value(json_object_get(change_at(diff, "name"), "change")),
                            "modified");
        assert_string_equal(json_string_value(json_object_get(
                                change_at(diff, "targets[queue_global_001].type"), "change")),
                            "unchanged");
    }
    json_decref(plan);
    rg_manifest_free(m);

    /* A queue that does not exist blocks, naming it; still nothing is written. */
    src = rg_test_read_file(path, NULL);
    assert_non_null(src);
    rg_buf_puts(&text, src);
    free(src);
    {
        char *at = strstr(text.ptr, "id: queue_v2");
        assert_non_null(at);
        /* Overwrites bytes inside an already terminated string. */
        // NOLINTNEXTLINE(bugprone-not-null-terminated-result)
        memcpy(at, "id: queue_zz", 12);
    }
    assert_int_equal(rg_test_write_file(path, text.ptr), 0);
    assert_int_equal(rg_manifest_load_file(&m, path, NULL), 0);
    assert_int_equal(rg_engine_plan(&plan, m, dir, NULL), 0);
    assert_true(json_is_true(json_object_get(plan, "blocked")));
    assert_non_null(strstr(json_string_value(json_object_get(
                               json_array_get(json_object_get(plan, "findings"), 0), "what")),
                           "queue_zz does not exist"));
    log = rg_e2e_requests(&sim);
    assert_int_equal(count_method(log, "PATCH"), 0);
    assert_true(count_method(log, "GET") > 0);
    json_decref(log);
    json_decref(plan);
    rg_manifest_free(m);
    rg_buf_dispose(&text);
    json_decref(orgs);
    rg_test_rmtree(dir);
    assert_int_equal(rg_simproc_stop(&sim), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_plan_diffs_and_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
