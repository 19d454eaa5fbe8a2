/* test_e2e_gates.c - gating webhooks against rollgate-sim and a receiver in this process: a
 * refusal holds the rollout before any write of the stage, a resume asks again and the stage
 * is applied once the receiver accepts; transport failures and 503s are retried within the
 * gate's timeout; a confirm-promotion refusal holds the promotion; a missing secret holds at
 * once. A killed driver, post-rollback and plan are in test_e2e_gates_recovery.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e/gates_fixture.h"
#include "rollgate/util.h"
#include "support/testutil.h"

/* 1. pre-stage: the receiver refuses (403 with a reason carrying a control character and a
 * long tail), then accepts. The refusal holds the rollout with the reason, sanitised and
 * bounded, and the sim saw no PATCH; `resume` asks again and the stage is applied. */
static void test_refusal_holds_then_resume_applies(void **state)
{
    static const answer script[] = {
        {403, "{\"reason\": \"change window closed\\u0007 until 18:00 UTC; "
              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
              "TAIL\"}"},
        {200, "ok"}};
    receiver r;
    rg_e2e e;
    json_t *seen, *body, *gates;
    char *why;
    (void)state;

    setenv("RG_TEST_GATE_SECRET", SECRET, 1);
    receiver_start(&r, script, 2);
    g_r = &r;
    g_e = &e;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json",
                                  policy_with_gates("pre-stage", r.url, "20s"), 200),
                     0);
    assert_int_equal(rg_e2e_drive(&e, held, 50), 0);

    /* The receiver saw one signed request naming the rollout, the gate and the stage. */
    assert_int_equal(receiver_count(&r), 1);
    seen = receiver_seen(&r, 0);
    assert_true(json_is_true(json_object_get(seen, "signature_ok")));
    assert_string_equal(json_string_value(json_object_get(seen, "event")), "gate.pre-stage");
    body = json_object_get(seen, "body");
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "gate")), "pre-stage");
    assert_string_equal(json_string_value(json_object_get(body, "rollout")), e.id);
    assert_int_equal(json_integer_value(json_object_get(body, "stage")), 1);
    assert_int_equal(json_integer_value(json_object_get(body, "percent")), 10);
    assert_int_equal(json_integer_value(json_object_get(body, "attempt")), 1);
    json_decref(seen);

    /* Held with the receiver's reason: no control character, bounded, gate named. */
    why = hold_reason(&e);
    assert_non_null(why);
    assert_non_null(strstr(why, "gate pre-stage"));
    assert_non_null(strstr(why, "refused (HTTP 403): change window closed until 18:00 UTC"));
    assert_null(strchr(why, '\a'));
    assert_null(strstr(why, "TAIL"));
    assert_true(strlen(why) < 400);
    free(why);
    gates = events_of(&e, "gate");
    assert_int_equal(json_array_size(gates), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(gates, 0), "outcome")),
                        "refused");
    json_decref(gates);
    /* The sim saw no write of the gated stage. */
    assert_int_equal(patches_total(&e), 0);
    /* More ticks while held ask nothing and write nothing. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(rg_engine_tick_rollout(e.engine, e.tenant, e.id, NULL), 0);
    assert_int_equal(receiver_count(&r), 1);
    assert_int_equal(patches_total(&e), 0);

    /* A person resumes: the gate is asked again, accepts, and the stage is applied. */
    command(&e, RG_COMMAND_RESUME);
    assert_int_equal(rg_e2e_drive(&e, rg_e2e_stage_one_applied, 100), 0);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_RUNNING);
    assert_int_equal(receiver_count(&r), 2);
    seen = receiver_seen(&r, 1);
    assert_true(json_is_true(json_object_get(seen, "signature_ok")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(seen, "body"), "stage")),
                     1);
    /* The accepting answer came before the first write. */
    assert_true(patches_total(&e) >= 1);
    assert_true(first_patch_ms(&e) >= json_integer_value(json_object_get(seen, "at_ms")) - 5);
    json_decref(seen);
    gates = events_of(&e, "gate");
    assert_int_equal(json_array_size(gates), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(gates, 1), "outcome")),
                        "passed");
    json_decref(gates);
    /* The passed gate is not asked again by later ticks of the same stage. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(rg_engine_tick_rollout(e.engine, e.tenant, e.id, NULL), 0);
    assert_int_equal(receiver_count(&r), 2);
    assert_int_equal(r.bad_signatures, 0);
    assert_no_secret_stored(&e);
    rg_e2e_end(&e);
    receiver_stop(&r);
}

/* 2. pre-rollout: a dropped connection and a 503 are retried with backoff within the
 * timeout; the third answer (200) lets the first stage start, and nothing was written
 * before it. The retries carry one delivery id. */
static void test_transport_failure_retried_within_timeout(void **state)
{
    static const answer script[] = {{DROP, NULL}, {503, "busy"}, {200, "{}"}};
    receiver r;
    rg_e2e e;
    json_t *first, *third;
    (void)state;

    setenv("RG_TEST_GATE_SECRET", SECRET, 1);
    receiver_start(&r, script, 3);
    g_r = &r;
    g_e = &e;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json",
                                  policy_with_gates("pre-rollout", r.url, "30s"), 200),
                     0);
    assert_int_equal(rg_e2e_drive(&e, rg_e2e_stage_one_applied, 100), 0);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_RUNNING);
    assert_int_equal(receiver_count(&r), 3);
    first = receiver_seen(&r, 0);
    third = receiver_seen(&r, 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(third, "body"), "attempt")),
                     3);
    assert_string_equal(json_string_value(json_object_get(first, "delivery")),
                        json_string_value(json_object_get(third, "delivery")));
    /* Backoff: the retries were spread, not sent back to back (at least 1 s + 2 s). */
    assert_true(json_integer_value(json_object_get(third, "at_ms")) -
                    json_integer_value(json_object_get(first, "at_ms")) >=
                2500);
    assert_true(first_patch_ms(&e) >= json_integer_value(json_object_get(third, "at_ms")) - 5);
    json_decref(first);
    json_decref(third);
    assert_int_equal(r.bad_signatures, 0);
    rg_e2e_end(&e);
    receiver_stop(&r);
}

/* 3. A receiver that never answers 2xx within the timeout holds the rollout naming the gate
 * and the failure; nothing is written. */
static void test_timeout_holds_naming_the_failure(void **state)
{
    static const answer script[] = {{503, "down"}};
    receiver r;
    rg_e2e e;
    char *why;
    (void)state;

    setenv("RG_TEST_GATE_SECRET", SECRET, 1);
    receiver_start(&r, script, 1);
    g_r = &r;
    g_e = &e;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json",
                                  policy_with_gates("pre-rollout", r.url, "2s"), 200),
                     0);
    assert_int_equal(rg_e2e_drive(&e, held, 100), 0);
    why = hold_reason(&e);
    assert_non_null(why);
    assert_non_null(strstr(why, "gate pre-rollout"));
    assert_non_null(strstr(why, "failed: no 2xx answer within 2s"));
    assert_non_null(strstr(why, "HTTP 503"));
    free(why);
    assert_true(receiver_count(&r) >= 1);
    assert_int_equal(patches_total(&e), 0);
    rg_e2e_end(&e);
    receiver_stop(&r);
}

/* 4. confirm-promotion: a stage's passing verdict asks the gate before the promotion is
 * recorded; a refusal holds at stage 1 with no write of stage 2; after resume and a 200 the
 * promotion is recorded. */
static void test_confirm_promotion_refused_then_accepted(void **state)
{
    static const answer script[] = {{409, "{\"reason\": \"incident open\"}"}, {200, "{}"}};
    receiver r;
    rg_e2e e;
    json_t *seen;
    char *why;
    int before;
    (void)state;

    setenv("RG_TEST_GATE_SECRET", SECRET, 1);
    receiver_start(&r, script, 2);
    g_r = &r;
    g_e = &e;
    g_want = 1;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json",
                                  policy_with_gates("confirm-promotion", r.url, "20s"), 200),
                     0);
    assert_int_equal(rg_e2e_drive(&e, asked, 400), 0);
    assert_int_equal(rg_e2e_drive(&e, held, 20), 0);
    assert_int_equal(stage_index(&e), 0);
    why = hold_reason(&e);
    assert_non_null(why);
    assert_non_null(strstr(why, "gate confirm-promotion"));
    assert_non_null(strstr(why, "incident open"));
    free(why);
    seen = receiver_seen(&r, 0);
    assert_true(json_is_true(json_object_get(seen, "signature_ok")));
    /* The verdict summary of the stage is in the body. */
    assert_true(json_array_size(json_object_get(
                    json_object_get(json_object_get(seen, "body"), "verdict"), "metrics")) >= 1);
    json_decref(seen);
    before = patches_total(&e);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rg_engine_tick_rollout(e.engine, e.tenant, e.id, NULL), 0);
    assert_int_equal(patches_total(&e), before); /* no write of stage 2 */
    command(&e, RG_COMMAND_RESUME);
    assert_int_equal(rg_e2e_drive(&e, promoted_or_stopped, 50), 0);
    assert_int_equal(stage_index(&e), 1);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_RUNNING);
    assert_int_equal(receiver_count(&r), 2);
    rg_e2e_end(&e);
    receiver_stop(&r);
}

/* 7. A gate whose secret variable is not set holds at once, asks nothing, and says which
 * variable (never a value). */
static void test_missing_secret_holds_at_once(void **state)
{
    static const answer script[] = {{200, "{}"}};
    receiver r;
    rg_e2e e;
    char *why;
    (void)state;

    unsetenv("RG_TEST_GATE_SECRET");
    receiver_start(&r, script, 1);
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json",
                                  policy_with_gates("pre-rollout", r.url, "20s"), 200),
                     0);
    assert_int_equal(rg_e2e_drive(&e, held, 20), 0);
    why = hold_reason(&e);
    assert_non_null(why);
    assert_non_null(strstr(why, "gate pre-rollout"));
    assert_non_null(strstr(why, "RG_TEST_GATE_SECRET is not set"));
    free(why);
    assert_int_equal(receiver_count(&r), 0);
    assert_int_equal(patches_total(&e), 0);
    rg_e2e_end(&e);
    receiver_stop(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusal_holds_then_resume_applies),
        cmocka_unit_test(test_transport_failure_retried_within_timeout),
        cmocka_unit_test(test_timeout_holds_naming_the_failure),
        cmocka_unit_test(test_confirm_promotion_refused_then_accepted),
        cmocka_unit_test(test_missing_secret_holds_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
