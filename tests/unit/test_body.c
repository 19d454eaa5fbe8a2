/* test_body.c - desired PATCH bodies, the three-way restore and capacity weights */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/body.h"
#include "rollgate/error.h"

static json_t *J(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    if (v == NULL)
        fail_msg("bad test JSON: %s", err.text);
    return v;
}

static void assert_json(const json_t *got, const char *want_text)
{
    json_t *want = J(want_text);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
        fail_msg("got %s, want %s", g, want_text);
    }
    json_decref(want);
}

#define SNAP                                                                                       \
    "{\"id\":\"strat_main\",\"name\":\"Prod\",\"version\":7,"                                      \
    "\"settings\":{\"enabled\":true,\"longRunning\":true},"                                        \
    "\"targets\":[{\"type\":\"Queue\",\"id\":\"q1\",\"weight\":100,\"priority\":1}]}"

static void test_desired_patch_merges_settings_and_replaces_targets(void **state)
{
    json_t *live = J(SNAP);
    json_t *tpl = J("{\"name\":\"Prod-v2\",\"settings\":{\"longRunning\":false},"
                    "\"targets\":[{\"type\":\"Queue\",\"id\":\"q1\",\"weight\":50,\"priority\":1},"
                    "{\"type\":\"Queue\",\"id\":\"q2\",\"weight\":50,\"priority\":1}]}");
    json_t *patch = NULL;
    (void)state;
    assert_int_equal(rg_body_desired_patch(&patch, live, tpl), 0);
    assert_json(patch,
                "{\"name\":\"Prod-v2\",\"settings\":{\"enabled\":true,\"longRunning\":false},"
                "\"targets\":[{\"type\":\"Queue\",\"id\":\"q1\",\"weight\":50,\"priority\":1},"
                "{\"type\":\"Queue\",\"id\":\"q2\",\"weight\":50,\"priority\":1}]}");
    assert_false(rg_body_patch_applied(live, patch));
    json_object_update(live, patch);
    assert_true(rg_body_patch_applied(live, patch));
    json_decref(live);
    json_decref(tpl);
    json_decref(patch);
}

static void test_restore_returns_untouched_fields_to_snapshot(void **state)
{
    json_t *snap = J(SNAP);
    json_t *applied =
        J("{\"name\":\"Prod-v2\",\"settings\":{\"enabled\":true,\"longRunning\":true},"
          "\"targets\":[{\"type\":\"Queue\",\"id\":\"q2\",\"weight\":100,"
          "\"priority\":1}]}");
    json_t *live = json_deep_copy(applied);
    json_t *patch = NULL, *kept = NULL;
    (void)state;
    assert_int_equal(rg_body_restore_patch(&patch, &kept, snap, applied, live), 0);
    assert_json(patch, "{\"name\":\"Prod\",\"targets\":[{\"type\":\"Queue\",\"id\":\"q1\","
                       "\"weight\":100,\"priority\":1}]}");
    assert_json(kept, "[]");
    json_decref(patch);
    json_decref(kept);
    json_decref(snap);
    json_decref(applied);
    json_decref(live);
}

static void test_restore_keeps_a_persons_edits(void **state)
{
    json_t *snap = J(SNAP);
    json_t *applied =
        J("{\"name\":\"Prod-v2\",\"settings\":{\"enabled\":true,\"longRunning\":true,"
          "\"added\":1},\"targets\":[{\"type\":\"Queue\",\"id\":\"q2\",\"weight\":100,"
          "\"priority\":1}]}");
    /* A person set longRunning=false (a field the change did not touch) and renamed it. */
    json_t *live = J("{\"name\":\"Renamed by Ana\",\"settings\":{\"enabled\":true,"
                     "\"longRunning\":false,\"added\":1},\"targets\":[{\"type\":\"Queue\","
                     "\"id\":\"q2\",\"weight\":100,\"priority\":1}]}");
    json_t *patch = NULL, *kept = NULL;
    (void)state;
    assert_int_equal(rg_body_restore_patch(&patch, &kept, snap, applied, live), 0);
    assert_json(patch, "{\"settings\":{\"enabled\":true,\"longRunning\":false},"
                       "\"targets\":[{\"type\":\"Queue\",\"id\":\"q1\",\"weight\":100,"
                       "\"priority\":1}]}");
    assert_json(kept, "[\"name\",\"settings.longRunning\"]");
    json_decref(patch);
    json_decref(kept);
    json_decref(live);
    /* longRunning: snapshot true, applied true, live false -> kept and named. */
    live = J("{\"name\":\"Prod-v2\",\"settings\":{\"enabled\":true,\"longRunning\":false,"
             "\"added\":1},\"targets\":[{\"type\":\"Queue\",\"id\":\"q2\",\"weight\":100,"
             "\"priority\":1}]}");
    assert_int_equal(rg_body_restore_patch(&patch, &kept, snap, applied, live), 0);
    assert_json(kept, "[\"settings.longRunning\"]");
    assert_json(json_object_get(patch, "settings"), "{\"enabled\":true,\"longRunning\":false}");
    assert_json(json_object_get(patch, "name"), "\"Prod\"");
    json_decref(patch);
    json_decref(kept);
    json_decref(live);
    json_decref(snap);
    json_decref(applied);
}

static void test_restore_of_restored_body_is_empty(void **state)
{
    json_t *snap = J(SNAP), *applied = J(SNAP), *patch = NULL, *kept = NULL;
    (void)state;
    json_object_set_new(applied, "name", json_string("Prod-v2"));
    assert_int_equal(rg_body_restore_patch(&patch, &kept, snap, applied, snap), 0);
    assert_json(patch, "{}");
    json_decref(patch);
    json_decref(kept);
    json_decref(snap);
    json_decref(applied);
}

static void test_capacity_weights_sum_exactly(void **state)
{
    double a2[] = {30, 10}, a3[] = {1, 1, 1}, a0[] = {0, 0}, bad[] = {-1, 2};
    int w[3];
    (void)state;
    assert_int_equal(rg_body_capacity_weights(w, a2, 2, 100), 0);
    assert_int_equal(w[0], 75);
    assert_int_equal(w[1], 25);
    assert_int_equal(rg_body_capacity_weights(w, a3, 3, 100), 0);
    assert_int_equal(w[0] + w[1] + w[2], 100);
    assert_int_equal(w[0], 34);
    assert_int_equal(w[1], 33);
    assert_int_equal(rg_body_capacity_weights(w, a0, 2, 60), 0);
    assert_int_equal(w[0], 30);
    assert_int_equal(w[1], 30);
    assert_int_equal(rg_body_capacity_weights(w, bad, 2, 100), RG_EINVALID);
    {
        /* Counts near the top of double's range: shares still exact, no overflow. */
        double huge[] = {1e308, 1e308}, lop[] = {1e307, 1};
        assert_int_equal(rg_body_capacity_weights(w, huge, 2, 100), 0);
        assert_int_equal(w[0], 50);
        assert_int_equal(w[1], 50);
        assert_int_equal(rg_body_capacity_weights(w, lop, 2, 100), 0);
        assert_int_equal(w[0], 100);
        assert_int_equal(w[1], 0);
    }
    assert_int_equal(rg_body_capacity_weights(w, a2, 0, 100), RG_EINVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_desired_patch_merges_settings_and_replaces_targets),
        cmocka_unit_test(test_restore_returns_untouched_fields_to_snapshot),
        cmocka_unit_test(test_restore_keeps_a_persons_edits),
        cmocka_unit_test(test_restore_of_restored_body_is_empty),
        cmocka_unit_test(test_capacity_weights_sum_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
