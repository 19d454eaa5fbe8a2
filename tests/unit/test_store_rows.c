/* test_store_rows.c - row round trips, optimistic revisions, leases across handles, commands */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "rollgate/util.h"
#include "support/testutil.h"
#include "unit/test_store_fixture.h"

static const char *const ro_id = "ro_aaaaaaaaaaaa";

static rg_store *second_handle(const store_fixture *f)
{
    rg_store *other = NULL;
    assert_int_equal(rg_store_open(&other, f->path), 0);
    return other;
}

static void test_revision_conflict_between_handles(void **state)
{
    store_fixture *f = *state;
    rg_store *other = second_handle(f);
    rg_store_rollout mine, theirs, now;

    memset(&mine, 0, sizeof(mine));
    memset(&theirs, 0, sizeof(theirs));
    memset(&now, 0, sizeof(now));
    store_seed_rollout(f->store, "acme", ro_id);
    assert_int_equal(rg_store_rollout_get(&mine, f->store, "acme", ro_id), 0);
    assert_int_equal(rg_store_rollout_get(&theirs, other, "acme", ro_id), 0);

    mine.state = RG_ROLLOUT_PAUSED;
    mine.hold_reason = rg_strdup("capacity below floor on queue_v2");
    assert_int_equal(rg_store_rollout_update(f->store, &mine), 0);
    assert_int_equal(mine.revision, 2);

    theirs.state = RG_ROLLOUT_ROLLING_BACK;
    assert_int_equal(rg_store_rollout_update(other, &theirs), RG_ECONFLICT);
    assert_non_null(strstr(rg_error_last(), "revision 2, expected 1"));
    assert_int_equal(theirs.revision, 1);

    assert_int_equal(rg_store_rollout_get(&now, other, "acme", ro_id), 0);
    assert_int_equal(now.state, RG_ROLLOUT_PAUSED);
    assert_string_equal(now.hold_reason, "capacity below floor on queue_v2");
    assert_int_equal(now.revision, 2);
    /* Re-read, re-apply: the second writer wins on a fresh revision. */
    now.state = RG_ROLLOUT_ROLLING_BACK;
    now.stage_index = 1;
    now.stage_applied_at_ms = 123456;
    now.baseline = rg_strdup("{\"queue_v2\":{\"agents\":12}}");
    assert_int_equal(rg_store_rollout_update(other, &now), 0);
    assert_int_equal(now.revision, 3);
    rg_store_rollout_dispose(&mine);
    assert_int_equal(rg_store_rollout_get(&mine, f->store, "acme", ro_id), 0);
    assert_int_equal(mine.state, RG_ROLLOUT_ROLLING_BACK);
    assert_int_equal(mine.stage_index, 1);
    assert_int_equal(mine.stage_applied_at_ms, 123456);
    assert_int_equal(mine.stage_started_at_ms, 0);
    assert_string_equal(mine.baseline, "{\"queue_v2\":{\"agents\":12}}");
    assert_int_equal(mine.revision, 3);

    free(mine.id);
    mine.id = rg_strdup("ro_missing");
    assert_int_equal(rg_store_rollout_update(f->store, &mine), RG_ENOTFOUND);
    rg_store_rollout_dispose(&mine);
    rg_store_rollout_dispose(&theirs);
    rg_store_rollout_dispose(&now);
    rg_store_free(other);
}

static void assert_lease_owner(rg_store *store, const char *owner, int64_t expires)
{
    rg_store_lease lease;
    memset(&lease, 0, sizeof(lease));
    assert_int_equal(rg_store_lease_get(&lease, store, "acme", ro_id), 0);
    assert_string_equal(lease.owner, owner);
    assert_int_equal(lease.expires_at_ms, expires);
    rg_store_lease_dispose(&lease);
}

static void test_lease_exclusive_between_handles(void **state)
{
    store_fixture *f = *state;
    rg_store *other = second_handle(f);
    const char *one = "host-a:100:5000", *two = "host-b:200:6000", *three = "host-a:300:7000";
    int held = -1, released = -1;

    store_seed_rollout(f->store, "acme", ro_id);
    assert_int_equal(rg_store_lease_get(&(rg_store_lease){0}, f->store, "acme", ro_id),
                     RG_ENOTFOUND);
    assert_int_equal(rg_store_lease_acquire(&held, f->store, "acme", ro_id, one, 1000, 3000), 0);
    assert_int_equal(held, 1);
    /* The other handle is refused until expiry, whatever it tries. */
    assert_int_equal(rg_store_lease_acquire(&held, other, "acme", ro_id, two, 2000, 3000), 0);
    assert_int_equal(held, 0);
    assert_int_equal(rg_store_lease_renew(&held, other, "acme", ro_id, two, 2000, 3000), 0);
    assert_int_equal(held, 0);
    assert_int_equal(rg_store_lease_release(&released, other, "acme", ro_id, two), 0);
    assert_int_equal(released, 0);
    assert_lease_owner(other, one, 4000);
    /* The owner renews; re-acquiring as the owner extends and keeps acquired_at. */
    assert_int_equal(rg_store_lease_renew(&held, f->store, "acme", ro_id, one, 3500, 3000), 0);
    assert_int_equal(held, 1);
    assert_int_equal(rg_store_lease_acquire(&held, f->store, "acme", ro_id, one, 3600, 3000), 0);
    assert_int_equal(held, 1);
    assert_lease_owner(f->store, one, 6600);
    assert_int_equal(rg_store_lease_acquire(&held, other, "acme", ro_id, two, 6599, 3000), 0);
    assert_int_equal(held, 0);
    /* Expired: the other handle takes it, and the first owner has lost it. */
    assert_int_equal(rg_store_lease_acquire(&held, other, "acme", ro_id, two, 6600, 3000), 0);
    assert_int_equal(held, 1);
    assert_int_equal(rg_store_lease_renew(&held, f->store, "acme", ro_id, one, 6700, 3000), 0);
    assert_int_equal(held, 0);
    assert_int_equal(rg_store_lease_acquire(&held, f->store, "acme", ro_id, one, 6700, 3000), 0);
    assert_int_equal(held, 0);
    assert_lease_owner(f->store, two, 9600);
    {
        rg_store_lease lease = {0};
        assert_int_equal(rg_store_lease_get(&lease, f->store, "acme", ro_id), 0);
        assert_int_equal(lease.acquired_at_ms, 6600);
        rg_store_lease_dispose(&lease);
    }
    /* Take-over names the dead holder exactly; a wrong guess changes nothing. */
    assert_int_equal(
        rg_store_lease_take_over(&held, f->store, "acme", ro_id, three, one, 7000, 3000), 0);
    assert_int_equal(held, 0);
    assert_int_equal(
        rg_store_lease_take_over(&held, f->store, "acme", ro_id, three, two, 7000, 3000), 0);
    assert_int_equal(held, 1);
    assert_lease_owner(other, three, 10000);
    assert_int_equal(rg_store_lease_release(&released, other, "acme", ro_id, two), 0);
    assert_int_equal(released, 0);
    assert_int_equal(rg_store_lease_release(&released, f->store, "acme", ro_id, three), 0);
    assert_int_equal(released, 1);
    assert_int_equal(rg_store_lease_get(&(rg_store_lease){0}, other, "acme", ro_id), RG_ENOTFOUND);
    assert_int_equal(rg_store_lease_acquire(&held, other, "acme", ro_id, two, 7001, 0),
                     RG_EINVALID);
    assert_int_equal(rg_store_lease_acquire(&held, other, "acme", "ro_nope", two, 7001, 10),
                     RG_ENOTFOUND);
    rg_store_free(other);
}

static int64_t count_events(rg_store *store)
{
    rg_store_events list = {0};
    int64_t n;
    assert_int_equal(rg_store_event_list(&list, store, "acme", ro_id, 0), 0);
    n = (int64_t)list.count;
    rg_store_events_dispose(&list);
    return n;
}

static int append_event(rg_store *store)
{
    rg_store_event_in ev = {0};
    ev.rollout_id = (char *)ro_id;
    ev.tenant_id = (char *)"acme";
    ev.kind = (char *)"note";
    return rg_store_event_append(NULL, store, &ev);
}

/* A driver whose lease was taken writes nothing more: every write checks its epoch. */
static void test_fenced_writes_fail_after_a_takeover(void **state)
{
    store_fixture *f = *state;
    rg_store *other = second_handle(f);
    const char *one = "host-a:100:5000", *two = "host-b:200:6000";
    rg_store_lease lease = {0};
    int held = -1;

    store_seed_rollout(f->store, "acme", ro_id);
    assert_int_equal(rg_store_lease_acquire(&held, f->store, "acme", ro_id, one, 1000, 3000), 0);
    assert_int_equal(held, 1);
    assert_int_equal(rg_store_lease_get(&lease, f->store, "acme", ro_id), 0);
    assert_int_equal(lease.epoch, 1);
    rg_store_lease_dispose(&lease);
    assert_int_equal(rg_store_fence(f->store, "acme", ro_id, one, 1), 0);
    assert_int_equal(append_event(f->store), 0); /* a lone write: its own checked tx */
    assert_int_equal(rg_store_begin(f->store), 0);
    assert_int_equal(append_event(f->store), 0);
    assert_int_equal(rg_store_commit(f->store), 0);
    assert_int_equal(count_events(other), 2);
    /* Re-acquiring as the same owner keeps the epoch. */
    assert_int_equal(rg_store_lease_acquire(&held, f->store, "acme", ro_id, one, 1500, 3000), 0);
    assert_int_equal(append_event(f->store), 0);
    /* Expired: another driver takes it, at the next epoch. */
    assert_int_equal(rg_store_lease_acquire(&held, other, "acme", ro_id, two, 9000, 3000), 0);
    assert_int_equal(held, 1);
    assert_int_equal(rg_store_lease_get(&lease, other, "acme", ro_id), 0);
    assert_int_equal(lease.epoch, 2);
    rg_store_lease_dispose(&lease);
    /* The first driver's writes now fail and change nothing, alone or in a transaction. */
    assert_int_equal(append_event(f->store), RG_ELEASE);
    assert_non_null(strstr(rg_error_last(), "lease lost"));
    assert_int_equal(rg_store_begin(f->store), RG_ELEASE);
    assert_false(rg_store_in_transaction(f->store));
    assert_int_equal(rg_store_lease_extend(f->store, "acme", ro_id, one, 1, 3000, 10), RG_ELEASE);
    assert_int_equal(count_events(other), 3);
    /* The new holder writes under its own fence and renews with its batch time. */
    assert_int_equal(rg_store_fence(other, "acme", ro_id, two, 2), 0);
    assert_int_equal(append_event(other), 0);
    assert_int_equal(rg_store_lease_extend(other, "acme", ro_id, two, 2, 5000, 1234), 0);
    assert_int_equal(rg_store_lease_get(&lease, f->store, "acme", ro_id), 0);
    assert_int_equal(lease.ttl_ms, 5000);
    assert_int_equal(lease.batch_ms, 1234);
    assert_true(lease.expires_at_ms - lease.now_ms > 4000); /* by the database's clock */
    rg_store_lease_dispose(&lease);
    /* Released and taken again: the epoch never goes back, so the old fence stays dead. */
    assert_int_equal(rg_store_lease_release(NULL, other, "acme", ro_id, two), 0);
    assert_int_equal(rg_store_lease_acquire(&held, f->store, "acme", ro_id, one, 0, 3000), 0);
    assert_int_equal(held, 1);
    assert_int_equal(rg_store_lease_get(&lease, f->store, "acme", ro_id), 0);
    assert_int_equal(lease.epoch, 3);
    rg_store_lease_dispose(&lease);
    assert_int_equal(append_event(f->store), RG_ELEASE);
    assert_int_equal(append_event(other), RG_ELEASE);
    rg_store_unfence(f->store);
    assert_int_equal(append_event(f->store), 0);
    assert_int_equal(count_events(other), 5);
    rg_store_free(other);
}

/* An (org, resource) is held by one active rollout; the refusal names the holder only to
 * its own tenant. */
static void test_claims_refuse_a_second_rollout(void **state)
{
    store_fixture *f = *state;
    int64_t n = -1;

    store_seed_rollout(f->store, "acme", ro_id);
    store_seed_rollout(f->store, "acme", "ro_bbbbbbbbbbbb");
    store_seed_rollout(f->store, "globex", "ro_cccccccccccc");
    assert_int_equal(rg_store_claim(f->store, "acme", ro_id, "org_1", "strategy:s"), 0);
    assert_int_equal(rg_store_claim(f->store, "acme", ro_id, "org_1", "strategy:s"), 0);
    assert_int_equal(rg_store_claim(f->store, "acme", "ro_bbbbbbbbbbbb", "org_2", "strategy:s"), 0);
    assert_int_equal(rg_store_claim(f->store, "acme", "ro_bbbbbbbbbbbb", "org_1", "strategy:s"),
                     RG_ECLAIMED);
    assert_non_null(strstr(rg_error_last(), ro_id));
    assert_int_equal(rg_store_claim(f->store, "globex", "ro_cccccccccccc", "org_1", "strategy:s"),
                     RG_ECLAIMED);
    assert_null(strstr(rg_error_last(), ro_id));
    assert_non_null(strstr(rg_error_last(), "another rollout"));
    assert_int_equal(rg_store_claims_count(&n, f->store, "acme", ro_id), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rg_store_claims_release(f->store, "acme", ro_id), 0);
    assert_int_equal(rg_store_claim(f->store, "globex", "ro_cccccccccccc", "org_1", "strategy:s"),
                     0);
}

static void test_command_queue_round_trip(void **state)
{
    store_fixture *f = *state;
    rg_store *driver = second_handle(f);
    rg_store_commands pending = {0};
    rg_store_command_in cmd;
    rg_store_command got;
    int64_t first = 0, second = 0;

    memset(&cmd, 0, sizeof(cmd));
    memset(&got, 0, sizeof(got));
    store_seed_rollout(f->store, "acme", ro_id);
    cmd.rollout_id = (char *)ro_id;
    cmd.tenant_id = (char *)"acme";
    cmd.kind = RG_COMMAND_PROMOTE;
    cmd.actor = (char *)"alice";
    cmd.reason = (char *)"soak looks fine";
    cmd.force = 1;
    cmd.full = 1; /* promote --full (schema 5) */
    cmd.created_at_ms = 500;
    assert_int_equal(rg_store_command_enqueue(&first, f->store, &cmd), 0);
    cmd.kind = RG_COMMAND_ROLLBACK;
    cmd.actor = (char *)"bob";
    cmd.reason = NULL;
    cmd.force = 0;
    cmd.full = 0;
    assert_int_equal(rg_store_command_enqueue(&second, f->store, &cmd), 0);
    assert_true(second > first);

    /* The driver sees both, oldest first, exactly as queued. */
    assert_int_equal(rg_store_command_list_pending(&pending, driver, "acme", ro_id), 0);
    assert_int_equal(pending.count, 2);
    assert_int_equal(pending.items[0].id, first);
    assert_int_equal(pending.items[0].kind, RG_COMMAND_PROMOTE);
    assert_string_equal(pending.items[0].actor, "alice");
    assert_string_equal(pending.items[0].reason, "soak looks fine");
    assert_int_equal(pending.items[0].force, 1);
    assert_int_equal(pending.items[0].full, 1);
    assert_int_equal(pending.items[1].full, 0);
    assert_int_equal(pending.items[0].created_at_ms, 500);
    assert_int_equal(pending.items[1].kind, RG_COMMAND_ROLLBACK);
    assert_int_equal(pending.items[1].state, RG_COMMAND_PENDING);
    assert_null(pending.items[1].reason);
    rg_store_commands_dispose(&pending);

    assert_int_equal(rg_store_command_complete(driver, "acme", first, RG_COMMAND_FAILED,
                                               "refused: stage not soaked", 900),
                     0);
    assert_int_equal(rg_store_command_complete(driver, "acme", first, RG_COMMAND_DONE, "x", 0),
                     RG_ECONFLICT);
    assert_non_null(strstr(rg_error_last(), "already failed"));
    assert_int_equal(rg_store_command_complete(driver, "acme", 999, RG_COMMAND_DONE, "x", 0),
                     RG_ENOTFOUND);
    assert_int_equal(rg_store_command_complete(driver, "acme", second, RG_COMMAND_PENDING, "x", 0),
                     RG_EINVALID);
    assert_int_equal(rg_store_command_get(&got, f->store, "acme", first), 0);
    assert_int_equal(got.state, RG_COMMAND_FAILED);
    assert_string_equal(got.outcome, "refused: stage not soaked");
    assert_int_equal(got.done_at_ms, 900);
    rg_store_command_dispose(&got);

    assert_int_equal(rg_store_command_list_pending(&pending, f->store, "acme", ro_id), 0);
    assert_int_equal(pending.count, 1);
    assert_int_equal(pending.items[0].id, second);
    rg_store_commands_dispose(&pending);
    assert_int_equal(
        rg_store_command_complete(driver, "acme", second, RG_COMMAND_DONE, "rolled back", 0), 0);
    assert_int_equal(rg_store_command_list_pending(&pending, f->store, "acme", ro_id), 0);
    assert_int_equal(pending.count, 0);
    rg_store_free(driver);
}

static void put_bucket(rg_store *store, const char *metric, int64_t start, int64_t count,
                       double sum)
{
    rg_store_measurement_in m;
    memset(&m, 0, sizeof(m));
    m.rollout_id = (char *)ro_id;
    m.tenant_id = (char *)"acme";
    m.org_id = (char *)"org_1";
    m.queue_id = (char *)"queue_v2";
    m.metric = (char *)metric;
    m.bucket_start_ms = start;
    m.bucket_len_ms = 60000;
    m.count = count;
    m.sum = sum;
    assert_int_equal(rg_store_measurement_put(store, &m), 0);
}

static void test_measurements_upsert_and_filter(void **state)
{
    store_fixture *f = *state;
    rg_store_measurements list = {0};

    store_seed_rollout(f->store, "acme", ro_id);
    put_bucket(f->store, "nOffered", 0, 10, NAN);
    put_bucket(f->store, "nOffered", 60000, 12, NAN);
    put_bucket(f->store, "tAnswered", 0, 9, 45000.5);
    /* The platform revised the first bucket: the re-poll replaces it. */
    put_bucket(f->store, "nOffered", 0, 11, NAN);

    assert_int_equal(rg_store_measurement_list(&list, f->store, "acme", ro_id, NULL, 0, 120000), 0);
    assert_int_equal(list.count, 3);
    assert_string_equal(list.items[0].metric, "nOffered");
    assert_int_equal(list.items[0].count, 11);
    assert_true(isnan(list.items[0].sum));
    assert_int_equal(list.items[1].bucket_start_ms, 60000);
    assert_string_equal(list.items[2].metric, "tAnswered");
    assert_true(list.items[2].sum == 45000.5);
    rg_store_measurements_dispose(&list);

    assert_int_equal(
        rg_store_measurement_list(&list, f->store, "acme", ro_id, "nOffered", 60000, 120000), 0);
    assert_int_equal(list.count, 1);
    assert_int_equal(list.items[0].count, 12);
    rg_store_measurements_dispose(&list);
}

static void test_verdicts_round_trip(void **state)
{
    store_fixture *f = *state;
    rg_store_verdict_in v;
    rg_store_verdicts verdicts = {0};
    int64_t id1 = 0;

    store_seed_rollout(f->store, "acme", ro_id);
    memset(&v, 0, sizeof(v));
    v.rollout_id = (char *)ro_id;
    v.tenant_id = (char *)"acme";
    v.stage = 1;
    v.poll = 3;
    v.metric = (char *)"abandonment_rate";
    v.test = (char *)"group_sequential";
    v.estimate = 0.21;
    v.ci_lo = 0.05;
    v.ci_hi = 0.37;
    v.z = 2.9;
    v.boundary = NAN;
    v.p_value = 0.004;
    v.decision = (char *)"fail";
    v.reason = (char *)"z 2.90 >= boundary";
    v.at_ms = 42;
    assert_int_equal(rg_store_verdict_insert(&id1, f->store, &v), 0);
    v.stage = 0;
    v.decision = (char *)"maybe";
    assert_int_equal(rg_store_verdict_insert(NULL, f->store, &v), RG_EINVALID);
    v.decision = (char *)"pass";
    assert_int_equal(rg_store_verdict_insert(NULL, f->store, &v), 0);
    assert_int_equal(rg_store_verdict_list(&verdicts, f->store, "acme", ro_id, 1), 0);
    assert_int_equal(verdicts.count, 1);
    assert_int_equal(verdicts.items[0].id, id1);
    assert_int_equal(verdicts.items[0].poll, 3);
    assert_true(verdicts.items[0].estimate == 0.21 && verdicts.items[0].ci_hi == 0.37);
    assert_true(isnan(verdicts.items[0].boundary));
    assert_string_equal(verdicts.items[0].decision, "fail");
    assert_int_equal(verdicts.items[0].at_ms, 42);
    rg_store_verdicts_dispose(&verdicts);
    assert_int_equal(rg_store_verdict_list(&verdicts, f->store, "acme", ro_id, -1), 0);
    assert_int_equal(verdicts.count, 2);
    rg_store_verdicts_dispose(&verdicts);
}

static void test_events_resume_after_id(void **state)
{
    store_fixture *f = *state;
    rg_store_event_in e;
    rg_store_events events = {0};
    int64_t id1 = 0, id2 = 0;

    store_seed_rollout(f->store, "acme", ro_id);
    memset(&e, 0, sizeof(e));
    e.rollout_id = (char *)ro_id;
    e.tenant_id = (char *)"acme";
    e.kind = (char *)"state";
    e.from_state = (char *)"running";
    e.to_state = (char *)"rolling_back";
    e.detail = (char *)"{\"tripped\":\"abandonment_rate\"}";
    assert_int_equal(rg_store_event_append(&id1, f->store, &e), 0);
    e.detail = NULL;
    e.kind = (char *)"tripped";
    assert_int_equal(rg_store_event_append(&id2, f->store, &e), 0);
    assert_int_equal(rg_store_event_list(&events, f->store, "acme", ro_id, id1), 0);
    assert_int_equal(events.count, 1);
    assert_int_equal(events.items[0].id, id2);
    assert_string_equal(events.items[0].kind, "tripped");
    assert_null(events.items[0].detail);
    rg_store_events_dispose(&events);
    assert_int_equal(rg_store_event_list(&events, f->store, "acme", ro_id, 0), 0);
    assert_int_equal(events.count, 2);
    assert_string_equal(events.items[0].detail, "{\"tripped\":\"abandonment_rate\"}");
    assert_string_equal(events.items[0].to_state, "rolling_back");
    rg_store_events_dispose(&events);
}

static void test_audit_round_trip(void **state)
{
    store_fixture *f = *state;
    rg_store_audit_in a;
    rg_store_audits audits = {0};
    int64_t id1 = 0;

    store_seed_rollout(f->store, "acme", ro_id);
    memset(&a, 0, sizeof(a));
    a.tenant_id = (char *)"acme";
    a.actor = (char *)"carol";
    a.action = (char *)"token new";
    assert_int_equal(rg_store_audit_append(NULL, f->store, &a), 0);
    a.rollout_id = (char *)ro_id;
    a.action = (char *)"rollback";
    a.reason = (char *)"pager";
    a.outcome = (char *)"queued";
    assert_int_equal(rg_store_audit_append(&id1, f->store, &a), 0);
    a.tenant_id = (char *)"initech";
    a.rollout_id = NULL;
    assert_int_equal(rg_store_audit_append(NULL, f->store, &a), RG_ENOTFOUND);
    assert_int_equal(rg_store_audit_list(&audits, f->store, "acme", NULL), 0);
    assert_int_equal(audits.count, 2);
    assert_null(audits.items[0].rollout_id);
    rg_store_audits_dispose(&audits);
    assert_int_equal(rg_store_audit_list(&audits, f->store, "acme", ro_id), 0);
    assert_int_equal(audits.count, 1);
    assert_int_equal(audits.items[0].id, id1);
    assert_string_equal(audits.items[0].reason, "pager");
    assert_string_equal(audits.items[0].outcome, "queued");
    rg_store_audits_dispose(&audits);
}

static void test_targets_round_trip_in_seq_order(void **state)
{
    store_fixture *f = *state;
    rg_store_targets list = {0};
    rg_store_target t;

    memset(&t, 0, sizeof(t));
    store_seed_rollout(f->store, "acme", ro_id);
    store_seed_target(f->store, "acme", ro_id, "org_sub_002", "strat_main", 2);
    store_seed_target(f->store, "acme", ro_id, "org_parent_001", "strat_main", 0);
    store_seed_target(f->store, "acme", ro_id, "org_sub_003", "strat_main", 1);
    assert_int_equal(rg_store_target_get(&t, f->store, "acme", ro_id, "org_sub_003", "strat_main"),
                     0);
    t.state = RG_TARGET_APPLIED;
    t.attempts = 2;
    t.applied_etag = rg_strdup("\"v7\"");
    t.applied_body = rg_strdup("{\"targets\":[]}");
    t.applied_at_ms = 777;
    assert_int_equal(rg_store_target_update(f->store, &t), 0);
    rg_store_target_dispose(&t);

    assert_int_equal(rg_store_target_list(&list, f->store, "acme", ro_id), 0);
    assert_int_equal(list.count, 3);
    assert_string_equal(list.items[0].org_id, "org_parent_001");
    assert_string_equal(list.items[1].org_id, "org_sub_003");
    assert_string_equal(list.items[2].org_id, "org_sub_002");
    assert_int_equal(list.items[1].state, RG_TARGET_APPLIED);
    assert_int_equal(list.items[1].attempts, 2);
    assert_string_equal(list.items[1].applied_etag, "\"v7\"");
    assert_int_equal(list.items[1].applied_at_ms, 777);
    assert_int_equal(list.items[0].state, RG_TARGET_PENDING);
    assert_string_equal(list.items[0].api_url, "http://127.0.0.1:1/api");
    assert_null(list.items[0].applied_etag);
    rg_store_targets_dispose(&list);

    /* Duplicate key or seq conflicts; an update of a missing target is not found. */
    memset(&t, 0, sizeof(t));
    t.rollout_id = (char *)ro_id;
    t.tenant_id = (char *)"acme";
    t.org_id = (char *)"org_sub_002";
    t.strategy_id = (char *)"strat_main";
    t.group_name = (char *)"g";
    t.seq = 7;
    assert_int_equal(rg_store_target_insert(f->store, &t), RG_ECONFLICT);
    t.org_id = (char *)"org_new";
    t.seq = 0;
    assert_int_equal(rg_store_target_insert(f->store, &t), RG_ECONFLICT);
    assert_int_equal(rg_store_target_update(f->store, &t), RG_ENOTFOUND);
}

static void test_active_rollouts_across_tenants(void **state)
{
    store_fixture *f = *state;
    rg_store_rollouts list = {0};
    rg_store_rollout ro;

    memset(&ro, 0, sizeof(ro));
    store_seed_rollout(f->store, "acme", "ro_a1");
    store_seed_rollout(f->store, "globex", "ro_g1");
    store_seed_rollout(f->store, "acme", "ro_a2");
    assert_int_equal(rg_store_rollout_get(&ro, f->store, "acme", "ro_a2"), 0);
    ro.state = RG_ROLLOUT_COMPLETED;
    ro.verification = rg_strdup("passed");
    assert_int_equal(rg_store_rollout_update(f->store, &ro), 0);
    rg_store_rollout_dispose(&ro);

    assert_int_equal(rg_store_rollout_list_active_all_tenants(&list, f->store), 0);
    assert_int_equal(list.count, 2);
    assert_true(
        (strcmp(list.items[0].id, "ro_a1") == 0 && strcmp(list.items[0].tenant_id, "acme") == 0) ||
        (strcmp(list.items[1].id, "ro_a1") == 0 && strcmp(list.items[1].tenant_id, "acme") == 0));
    assert_true(strcmp(list.items[0].id, "ro_a2") != 0 && strcmp(list.items[1].id, "ro_a2") != 0);
    rg_store_rollouts_dispose(&list);

    assert_int_equal(rg_store_rollout_list(&list, f->store, "acme"), 0);
    assert_int_equal(list.count, 2);
    rg_store_rollouts_dispose(&list);
}

static void test_rollout_tenant_lookup_for_local_tools(void **state)
{
    store_fixture *f = *state;
    char *tenant = NULL;

    store_seed_rollout(f->store, "acme", "ro_a1");
    store_seed_rollout(f->store, "globex", "ro_g1");
    assert_int_equal(rg_store_rollout_tenant_all_tenants(&tenant, f->store, "ro_g1"), 0);
    assert_string_equal(tenant, "globex");
    free(tenant);
    tenant = NULL;
    assert_int_equal(rg_store_rollout_tenant_all_tenants(&tenant, f->store, "ro_zz"), RG_ENOTFOUND);
    assert_null(tenant);
    assert_int_equal(rg_store_rollout_tenant_all_tenants(&tenant, f->store, ""), RG_EINVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_revision_conflict_between_handles, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lease_exclusive_between_handles, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_fenced_writes_fail_after_a_takeover,
                                        store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_claims_refuse_a_second_rollout, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_command_queue_round_trip, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_measurements_upsert_and_filter, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_verdicts_round_trip, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_events_resume_after_id, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_audit_round_trip, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_targets_round_trip_in_seq_order, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_active_rollouts_across_tenants, store_fixture_setup,
                                        store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_rollout_tenant_lookup_for_local_tools,
                                        store_fixture_setup, store_fixture_teardown),
    };
    if (store_fixture_backend_missing())
        return store_fixture_exit(0);
    return store_fixture_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
