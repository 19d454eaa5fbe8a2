/* test_platform_queries.c - the platform client against rollgate-sim (test_platform):
 * analytics against the sim, and refused credentials */
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

/* ---- analytics and refused credentials against the sim ---- */

void test_analytics_and_bad_credentials(void **state)
{
    const char *queues[] = {"queue_global_001", "queue_v2"};
    rg_platform_options opts;
    rg_platform *wrong = NULL;
    rg_platform_op *agg_op = NULL, *obs_op = NULL, *op = NULL;
    const rg_platform_aggregates *agg;
    const rg_platform_observation *obs;
    rg_platform_aggregates_query q;
    fixture fx;
    size_t nobs = 0;
    int64_t offered = 0, now;
    (void)state;

    test_options(&opts);
    fixture_start(&fx, 2, &opts);
    now = rg_time_now_ms() / 1000 * 1000;
    q.start_ms = now - 120000;
    q.end_ms = now;
    q.granularity_ms = 10000;
    q.queue_ids = queues;
    q.nqueues = 2;
    assert_int_equal(
        rg_platform_queue_aggregates(&agg_op, fx.platform, "org_sub_002", &q, NULL, NULL), 0);
    assert_int_equal(
        rg_platform_queue_observations(&obs_op, fx.platform, "org_sub_002", queues, 2, NULL, NULL),
        0);
    assert_int_equal(rg_platform_run(fx.platform), 0);
    if (rg_platform_op_status(agg_op) != 0)
        fail_msg("%s", rg_platform_op_error(agg_op));
    agg = rg_platform_op_aggregates(agg_op);
    assert_non_null(agg);
    assert_int_equal(agg->nqueues, 2);
    assert_string_equal(agg->queues[0].queue_id, "queue_global_001");
    assert_int_equal(agg->queues[0].nbuckets, 12);
    for (size_t b = 0; b < agg->queues[0].nbuckets; b++) {
        const rg_platform_bucket *bk = &agg->queues[0].buckets[b];
        assert_int_equal(bk->start_ms, q.start_ms + (int64_t)b * 10000);
        assert_true(bk->abandoned <= bk->offered);
        offered += bk->offered;
    }
    assert_true(offered > 0); /* 120 calls a minute all routed to queue_global_001 */
    if (rg_platform_op_status(obs_op) != 0)
        fail_msg("%s", rg_platform_op_error(obs_op));
    obs = rg_platform_op_observations(obs_op, &nobs);
    assert_int_equal(nobs, 2);
    assert_string_equal(obs[1].queue_id, "queue_v2");
    assert_true(obs[0].on_queue > 0);
    rg_platform_op_free(agg_op);
    rg_platform_op_free(obs_op);

    /* Refused credentials: EAUTH naming the org, never the secret that was tried. */
    assert_int_equal(rg_platform_new(&wrong, &opts), 0);
    {
        rg_platform_org org = {"org_sub_002", fx.sim.url, fx.sim.url, NULL};
        remember_secret("wrong-secret-77");
        assert_int_equal(
            rg_platform_add_org_secret(wrong, &org, "cid-org_sub_002", "wrong-secret-77"), 0);
    }
    assert_int_equal(rg_platform_queue_org_check(&op, wrong, "org_sub_002", NULL, NULL), 0);
    assert_int_equal(rg_platform_run(wrong), 0);
    assert_int_equal(rg_platform_op_status(op), RG_EAUTH);
    assert_non_null(strstr(rg_platform_op_error(op), "org org_sub_002"));
    assert_non_null(strstr(rg_platform_op_error(op), "invalid_client"));
    assert_null(strstr(rg_platform_op_error(op), "wrong-secret-77"));
    rg_buf_printf(&captured, "error: %s\n", rg_platform_op_error(op));
    rg_platform_op_free(op);
    rg_platform_free(wrong);
    /* The right credentials reach the org the manifest names. */
    {
        json_t *me = NULL;
        assert_int_equal(rg_platform_org_check(&me, fx.platform, "org_sub_002"), 0);
        assert_string_equal(json_string_value(json_object_get(me, "id")), "org_sub_002");
        json_decref(me);
    }
    fixture_stop(&fx);
}
