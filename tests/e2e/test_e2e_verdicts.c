/* test_e2e_verdicts.c - the soak with the cluster verdict, observed information and one alpha
 * for the rollout (the shipped policy's choices), against rollgate-sim */
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

/* rg_e2e_policy's timings with the issue-17 choices; inconclusive promotes so that the
 * outcome does not hang on a borderline last stage (the verdicts are what is checked). */
static const char policy[] =
    "policy:\n"
    "  alpha: 0.05\n  sequential: group\n  variance: cluster\n  information: observed\n"
    "  alpha_split: stages\n  stabilization_window: 6s\n  soak_limit: 24s\n"
    "  poll_interval: 3s\n  granularity: PT1S\n  settle: 1s\n  pre_window: 60s\n"
    "  breaker: {consecutive: 2}\n  on_inconclusive: promote\n  errors: {limit: 3}\n"
    "  verify_window: 4s\n  capacity: {min_ratio: 0.8}\n  metrics:\n"
    "    - {name: abandonment_rate, kind: proportion, events: tAbandon, trials: nOffered,\n"
    "       increase_is_bad: true, tolerance: {relative: 0.15}, critical: true}\n"
    "    - {name: speed_of_answer, kind: mean, source: tAnswered, increase_is_bad: true,\n"
    "       tolerance: {absolute: 10s}}\n";

/* A healthy change completes with every stage judged by organizations; the stage-1 verdicts
 * carry the t reference and the alpha split (0.05 / 3 stages / 2 metrics). */
static void test_healthy_change_judged_by_orgs(void **state)
{
    rg_e2e e;
    rg_store_verdicts v = {0};
    int cluster = 0, stage0 = 0;
    (void)state;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json", policy, 200), 0);
    if (rg_e2e_drive(&e, rg_e2e_finished, 400) < 0)
        fail_msg("rollout did not finish: %s", rg_error_last());
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_COMPLETED);
    assert_int_equal(rg_store_verdict_list(&v, e.store, e.tenant, e.id, -1), 0);
    for (size_t i = 0; i < v.count; i++) {
        const char *reason = v.items[i].reason ? v.items[i].reason : "";
        assert_string_not_equal(v.items[i].decision, "fail");
        cluster += strstr(reason, " orgs, t ") != NULL || strstr(reason, "too few") != NULL;
        if (v.items[i].stage == 0 && strstr(reason, "1+6 orgs, t "))
            stage0++;
    }
    assert_int_equal(cluster, (int)v.count); /* every verdict went through the org path */
    assert_true(stage0 > 0);                 /* 1 canary org, 6 later orgs as control */
    rg_store_verdicts_dispose(&v);
    rg_e2e_end(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy_change_judged_by_orgs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
