/* test_e2e_controls.c - people's controls against rollgate-sim: a pause stops the soak
 * clock; a forced rollback completes in the CLI process */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/testutil.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t book_poll(rg_e2e *e)
{
    rg_store_rollout row = {0};
    int64_t poll = -1;
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0 && row.baseline) {
        json_t *book = json_loads(row.baseline, 0, NULL);
        poll = json_integer_value(json_object_get(book, "poll"));
        json_decref(book);
    }
    rg_store_rollout_dispose(&row);
    return poll;
}

static int polled_once(rg_e2e *e)
{
    return book_poll(e) >= 1 || rg_e2e_state(e) != RG_ROLLOUT_RUNNING;
}

static int64_t g_poll_before;

static int stage_index(rg_e2e *e)
{
    rg_store_rollout row = {0};
    int stage = -1;
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0)
        stage = row.stage_index;
    rg_store_rollout_dispose(&row);
    return stage;
}

/* The next look of stage 1, or anything else that ends it. */
static int polled_again(rg_e2e *e)
{
    return book_poll(e) != g_poll_before || stage_index(e) != 0 ||
           rg_e2e_state(e) != RG_ROLLOUT_RUNNING;
}

/* Analytics aggregate queries the sim received at or after `since_ms`: count, first time. */
static int analytics_since(const rg_simproc *sim, int64_t since_ms, int64_t *out_first_ms)
{
    json_t *log = rg_e2e_requests(sim), *r;
    size_t i;
    int n = 0;
    *out_first_ms = 0;
    json_array_foreach(json_object_get(log, "requests"), i, r) {
        const char *path = json_string_value(json_object_get(r, "path"));
        int64_t t = json_integer_value(json_object_get(r, "time_ms"));
        if (path == NULL || strstr(path, "/analytics/conversations/") == NULL || t < since_ms)
            continue;
        if (n++ == 0)
            *out_first_ms = t;
    }
    json_decref(log);
    return n;
}

static void command(rg_e2e *e, rg_command_kind kind)
{
    char *outcome = NULL;
    assert_int_equal(rg_engine_command(&outcome, e->engine, e->tenant, e->id, kind, "alice",
                                       "controls test", 0),
                     0);
    assert_string_equal(outcome, "done");
    free(outcome);
}

/* 1. A 10 s pause a moment after poll 1: no look while paused; after resume the sim sees no
 * query until the time left before the pause has passed again, and that look is poll 2 (not
 * poll 4, which the wall clock alone would give). */
static void test_pause_stops_soak_clock(void **state)
{
    rg_e2e e;
    int64_t paused_at, resumed_at, first = 0, left;
    rg_store_rollout row = {0};
    (void)state;
    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/healthy.json", NULL, 200), 0);
    assert_int_equal(rg_e2e_drive(&e, polled_once, 200), 0);
    assert_int_equal(book_poll(&e), 1);
    assert_int_equal(rg_e2e_state(&e), RG_ROLLOUT_RUNNING);
    assert_int_equal(rg_store_rollout_get(&row, e.store, e.tenant, e.id), 0);
    paused_at = rg_time_now_ms();
    left = row.stage_applied_at_ms + 2 * 3000 - paused_at; /* until poll 2 was due */
    rg_store_rollout_dispose(&row);
    command(&e, RG_COMMAND_PAUSE);
    for (int i = 0; i < 50; i++) { /* 10 s of driver ticks while paused */
        int64_t next = 0;
        assert_int_equal(rg_engine_tick_rollout(e.engine, e.tenant, e.id, &next), 0);
        sleep_ms(200);
    }
    assert_int_equal(analytics_since(&e.sim, paused_at, &first), 0);
    resumed_at = rg_time_now_ms();
    command(&e, RG_COMMAND_RESUME);
    g_poll_before = book_poll(&e);
    assert_int_equal(g_poll_before, 1);
    assert_int_equal(rg_e2e_drive(&e, polled_again, 200), 0);
    assert_int_equal(stage_index(&e), 0);
    assert_int_equal(book_poll(&e), 2); /* the next look in order */
    assert_true(analytics_since(&e.sim, resumed_at, &first) > 0);
    /* The look came when the time left at the pause had passed since the resume (the sim
     * stamps it; 500 ms allowed for the tick). Without the stopped clock it comes at once. */
    if (first < resumed_at + left - 500)
        fail_msg("poll 2 queried %lld ms after resume; %lld ms were left at the pause",
                 (long long)(first - resumed_at), (long long)left);
    rg_e2e_end(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pause_stops_soak_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
