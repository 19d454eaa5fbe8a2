/* test_platform_write.c - the platform client against rollgate-sim (test_platform):
 * the strategy write: a person edits between GET and PATCH (412,
 * re-read, merge, PATCH) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "rollgate/platform.h"
#include "support/simproc.h"
#include "support/testutil.h"
#include "integration/test_platform.h"

/* ---- 5. a person edits between GET and PATCH: 412, re-read, merge, PATCH ---- */

typedef struct merge_probe {
    int calls;
    char seen_name[128];
    char seen_etag[64];
} merge_probe;

static json_t *fifty_fifty(void)
{
    return json_pack("{s:[{s:s,s:s,s:i,s:i},{s:s,s:s,s:i,s:i}]}", "targets", "type", "Queue", "id",
                     "queue_global_001", "weight", 50, "priority", 1, "type", "Queue", "id",
                     "queue_v2", "weight", 50, "priority", 1);
}

/* The caller's recompute: keep whatever the live body says, change only the targets. */
static int merge_targets(json_t **out_patch, const json_t *live, const char *live_etag,
                         void *payload)
{
    merge_probe *probe = payload;
    const char *name = json_string_value(json_object_get(live, "name"));

    probe->calls++;
    snprintf(probe->seen_name, sizeof(probe->seen_name), "%s", name ? name : "");
    snprintf(probe->seen_etag, sizeof(probe->seen_etag), "%s", live_etag);
    *out_patch = fifty_fifty();
    return 0;
}

void test_conditional_patch_412(void **state)
{
    rg_platform_options opts;
    merge_probe probe = {0};
    fixture fx;
    json_t *body = NULL, *patch, *st, *strategy, *targets, *log, *e;
    char *etag = NULL;
    rg_platform_op *op = NULL;
    rg_buf resp = RG_BUF_INIT;
    long status = 0;
    size_t i, n412 = 0, npatch = 0;
    (void)state;

    test_options(&opts);
    fixture_start(&fx, 2, &opts);
    assert_int_equal(
        rg_platform_strategy_get(&body, &etag, fx.platform, "org_sub_002", "strat_main"), 0);
    assert_string_equal(json_string_value(json_object_get(body, "name")), "Production_Routing");
    assert_int_equal(rg_simproc_request(&fx.sim, "POST", "/sim/edit",
                                        "{\"org\":\"org_sub_002\",\"strategy\":\"strat_main\","
                                        "\"patch\":{\"name\":\"Edited_By_Human\"}}",
                                        NULL, &status, &resp, NULL),
                     0);
    assert_int_equal(status, 200);
    patch = fifty_fifty();
    assert_int_equal(rg_platform_queue_strategy_update(&op, fx.platform, "org_sub_002",
                                                       "strat_main", etag, patch, merge_targets,
                                                       &probe, NULL, NULL),
                     0);
    json_decref(patch);
    assert_int_equal(rg_platform_run(fx.platform), 0);
    assert_int_equal(rg_platform_op_status(op), 0);
    assert_int_equal(rg_platform_op_patch_attempts(op), 2);
    assert_int_equal(probe.calls, 1);
    assert_string_equal(probe.seen_name, "Edited_By_Human"); /* merged on the fresh body */
    assert_string_not_equal(probe.seen_etag, etag);
    assert_string_equal(json_string_value(json_object_get(rg_platform_op_body(op), "name")),
                        "Edited_By_Human");
    assert_string_not_equal(rg_platform_op_etag(op), probe.seen_etag);

    /* The platform's own record: the edit survived and the weights are the new ones. */
    assert_int_equal(rg_simproc_state(&fx.sim, &st), 0);
    json_array_foreach(json_object_get(st, "orgs"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "id")), "org_sub_002") != 0)
            continue;
        strategy = json_object_get(json_array_get(json_object_get(e, "strategies"), 0), "body");
        assert_string_equal(json_string_value(json_object_get(strategy, "name")),
                            "Edited_By_Human");
        targets = json_object_get(strategy, "targets");
        assert_int_equal(json_array_size(targets), 2);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(targets, 0), "weight")),
                         50);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(targets, 1), "weight")),
                         50);
    }
    json_decref(st);
    log = sim_requests(&fx.sim);
    json_array_foreach(log, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "method")), "PATCH") != 0)
            continue;
        npatch++;
        n412 += json_integer_value(json_object_get(e, "status")) == 412;
    }
    assert_int_equal(npatch, 2);
    assert_int_equal(n412, 1);
    json_decref(log);

    /* Without a merge function a stale ETag is a conflict, not a silent overwrite... */
    rg_platform_op_free(op);
    patch = fifty_fifty();
    json_object_set_new(json_array_get(json_object_get(patch, "targets"), 0), "weight",
                        json_integer(70));
    json_object_set_new(json_array_get(json_object_get(patch, "targets"), 1), "weight",
                        json_integer(30));
    assert_int_equal(rg_platform_queue_strategy_update(&op, fx.platform, "org_sub_002",
                                                       "strat_main", etag, patch, NULL, NULL, NULL,
                                                       NULL),
                     0);
    json_decref(patch);
    assert_int_equal(rg_platform_run(fx.platform), 0);
    assert_int_equal(rg_platform_op_status(op), RG_ECONFLICT);
    assert_non_null(strstr(rg_platform_op_error(op), "PATCH strategy strat_main"));
    rg_platform_op_free(op);
    /* ...but a 412 whose re-read shows the very patch already live completes in place. */
    patch = fifty_fifty();
    assert_int_equal(rg_platform_queue_strategy_update(&op, fx.platform, "org_sub_002",
                                                       "strat_main", etag, patch, NULL, NULL, NULL,
                                                       NULL),
                     0);
    json_decref(patch);
    assert_int_equal(rg_platform_run(fx.platform), 0);
    assert_int_equal(rg_platform_op_status(op), 0);
    assert_int_equal(rg_platform_op_in_place(op), 1);
    assert_int_equal(rg_platform_op_patch_attempts(op), 1);
    assert_non_null(rg_platform_op_etag(op));
    assert_string_not_equal(rg_platform_op_etag(op), etag);
    rg_platform_op_free(op);
    rg_buf_dispose(&resp);
    json_decref(body);
    free(etag);
    fixture_stop(&fx);
}
