/* test_e2e_controls2.c - stage controls against rollgate-sim: a pause step, per-stage
 * approval, promote --full, undo of the completed rollout, retry of the undone one. The
 * tests run in order on one rollout (each starts where the last left it). */
#include <fcntl.h>
#include <setjmp.h>
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

/* Stage 1 (10%: the parent org) pauses after it passes; stage 2 (50%) needs approval. */
static const char stages_line[] =
    "stages: [{percent: 10, pause: true}, {percent: 50, approval: required}, 100]";

static rg_e2e g_e;
static char g_retry[RG_STORE_ROLLOUT_ID_LEN];

static int begin(void **state)
{
    rg_e2e *e = &g_e;
    rg_manifest *m = NULL;
    rg_engine_options opts;
    char *text, *at;
    rg_buf fixed = RG_BUF_INIT;
    int rc;
    (void)state;

    memset(e, 0, sizeof(*e));
    if (rg_simproc_start(&e->sim, "sim/scenarios/healthy.json") < 0 ||
        rg_e2e_credentials(&e->orgs, "sim/scenarios/healthy.json") < 0 ||
        rg_test_mkdtemp(e->dir, sizeof(e->dir)) < 0)
        return -1;
    snprintf(e->db, sizeof(e->db), "%.500s/e2e.db", e->dir);
    snprintf(e->manifest, sizeof(e->manifest), "%.500s/manifest.yaml", e->dir);
    snprintf(e->tenant, sizeof(e->tenant), "e2e");
    if (rg_e2e_write_manifest(e->manifest, e->sim.url, e->orgs, NULL) < 0 ||
        (text = rg_test_read_file(e->manifest, NULL)) == NULL ||
        (at = strstr(text, "stages: [10, 50, 100]")) == NULL)
        return -1;
    rg_buf_put(&fixed, text, (size_t)(at - text));
    rg_buf_printf(&fixed, "%s%s", stages_line, at + strlen("stages: [10, 50, 100]"));
    free(text);
    rc = rg_test_write_file(e->manifest, rg_buf_cstr(&fixed));
    rg_buf_dispose(&fixed);
    if (rc < 0 || rg_manifest_load_file(&m, e->manifest, NULL) < 0)
        return -1;
    rg_engine_options_init(&opts);
    opts.tick_ms = 200;
    rc = rg_store_open(&e->store, e->db);
    if (rc == 0)
        rc = rg_engine_new(&e->engine, e->store, &opts);
    if (rc == 0)
        rc = rg_engine_start(e->id, e->engine, m, e->dir, "e2e", 1);
    rg_manifest_free(m);
    return rc;
}

static int finish(void **state)
{
    (void)state;
    rg_e2e_end(&g_e);
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* rollgate --db DB ARGS... with stdout to `out`; returns the exit code. */
static int cli(const char *out, char *const *args)
{
    char bin[1024];
    char *argv[20];
    size_t n = 0;
    int status = 0;
    pid_t pid;

    snprintf(bin, sizeof(bin), "%s/cli/rollgate", rg_test_binary_dir());
    argv[n++] = bin;
    argv[n++] = "--db";
    argv[n++] = g_e.db;
    for (size_t i = 0; args[i] && n < 19; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if ((pid = fork()) == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, STDOUT_FILENO);
        execv(bin, argv);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static json_t *cli_json(const char *name, char *const *args, int *out_code)
{
    char out[700];
    snprintf(out, sizeof(out), "%s/%s.out", g_e.dir, name);
    *out_code = cli(out, args);
    return json_load_file(out, 0, NULL);
}

/* The drivers in this process let go, so the CLI acts itself (no live driver). */
static void release(const char *id)
{
    assert_int_equal(
        rg_store_lease_release(NULL, g_e.store, g_e.tenant, id, rg_engine_owner(g_e.engine)), 0);
}

/* PATCHes the sim accepted for the orgs of stage `k` (0-based), summed. */
static int stage_patches(const char *id, int k)
{
    rg_store_targets t = {0};
    json_t *log = rg_e2e_requests(&g_e.sim);
    int n = 0;
    assert_int_equal(rg_store_target_list(&t, g_e.store, g_e.tenant, id), 0);
    for (size_t i = 0; i < t.count; i++)
        if (t.items[i].stage_index == k)
            n += rg_e2e_patches(log, t.items[i].org_id);
    json_decref(log);
    rg_store_targets_dispose(&t);
    return n;
}

static int not_running(rg_e2e *e)
{
    return rg_e2e_state(e) != RG_ROLLOUT_RUNNING;
}

static int stage_applied(rg_e2e *e)
{
    rg_store_rollout row = {0};
    int yes = 0;
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0)
        yes = row.stage_applied_at_ms != 0 || row.state != RG_ROLLOUT_RUNNING;
    rg_store_rollout_dispose(&row);
    return yes;
}

static void command(rg_command_kind kind)
{
    char *outcome = NULL;
    assert_int_equal(rg_engine_command(&outcome, g_e.engine, g_e.tenant, g_e.id, kind, "alice",
                                       "stage controls test", 0),
                     0);
    assert_string_equal(outcome, "done");
    free(outcome);
}

static json_t *status(const char *id)
{
    json_t *st = NULL;
    assert_int_equal(rg_engine_status_json(&st, g_e.engine, g_e.tenant, id), 0);
    return st;
}

/* 1. The pause step: stage 1 passes and the rollout stops in paused at stage 2; the sim
 * sees no write to stage 2's orgs while it waits. */
static void test_pause_step(void **state)
{
    json_t *st;
    (void)state;
    assert_int_equal(rg_e2e_drive(&g_e, not_running, 300), 0);
    assert_int_equal(rg_e2e_state(&g_e), RG_ROLLOUT_PAUSED);
    st = status(g_e.id);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "stage"), "index")), 1);
    assert_non_null(strstr(json_string_value(json_object_get(st, "hold_reason")), "pause step"));
    json_decref(st);
    assert_int_equal(stage_patches(g_e.id, 0), 1);
    for (int i = 0; i < 10; i++) { /* a driver keeps ticking: nothing moves */
        int64_t next = 0;
        assert_int_equal(rg_engine_tick_rollout(g_e.engine, g_e.tenant, g_e.id, &next), 0);
        sleep_ms(50);
    }
    assert_int_equal(rg_e2e_state(&g_e), RG_ROLLOUT_PAUSED);
    assert_int_equal(stage_patches(g_e.id, 1), 0);
}

/* 2. Per-stage approval: after the resume, stage 2 waits for approval before its apply
 * (no write in the sim); the approval lets it apply. */
static void test_stage_approval(void **state)
{
    (void)state;
    command(RG_COMMAND_RESUME);
    assert_int_equal(rg_e2e_drive(&g_e, not_running, 20), 0);
    assert_int_equal(rg_e2e_state(&g_e), RG_ROLLOUT_AWAITING_APPROVAL);
    {
        json_t *st = status(g_e.id);
        assert_non_null(strstr(json_string_value(json_object_get(st, "hold_reason")),
                               "stage 2/3 (50%) requires approval"));
        json_decref(st);
    }
    for (int i = 0; i < 10; i++) {
        int64_t next = 0;
        assert_int_equal(rg_engine_tick_rollout(g_e.engine, g_e.tenant, g_e.id, &next), 0);
        sleep_ms(50);
    }
    assert_int_equal(rg_e2e_state(&g_e), RG_ROLLOUT_AWAITING_APPROVAL);
    assert_int_equal(stage_patches(g_e.id, 1), 0);
    command(RG_COMMAND_APPROVE);
    assert_int_equal(rg_e2e_drive(&g_e, stage_applied, 50), 0);
    assert_int_equal(rg_e2e_state(&g_e), RG_ROLLOUT_RUNNING);
    assert_true(stage_patches(g_e.id, 1) >= 1);
    {
        rg_store_targets t = {0};
        json_t *log = rg_e2e_requests(&g_e.sim);
        assert_int_equal(rg_store_target_list(&t, g_e.store, g_e.tenant, g_e.id), 0);
        for (size_t i = 0; i < t.count; i++) /* stage 2's orgs once, stage 3's not yet */
            assert_int_equal(rg_e2e_patches(log, t.items[i].org_id),
                             t.items[i].stage_index <= 1 ? 1 : 0);
        json_decref(log);
        rg_store_targets_dispose(&t);
    }
}

/* Analytics queries (soak polls) the sim received at or after `since_ms`. */
static int analytics_since(int64_t since_ms)
{
    json_t *log = rg_e2e_requests(&g_e.sim), *r;
    size_t i;
    int n = 0;
    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        const char *path = json_string_value(json_object_get(r, "path"));
        if (path && strstr(path, "/analytics/conversations/") &&
            json_integer_value(json_object_get(r, "time_ms")) >= since_ms)
            n++;
    }
    json_decref(log);
    return n;
}

/* 3. promote --full from the CLI while stage 2 soaks: every remaining stage is applied
 * (each org once, parents already first) with no soak poll, and the rollout completes. */
static void test_promote_full(void **state)
{
    char *refused[] = {"promote", g_e.id, "--full", "--reason", "x", "--json", NULL};
    char *args[] = {"promote",     g_e.id,    "--full", "--force", "--reason",
                    "release now", "--actor", "bob",    "--json",  NULL};
    json_t *out, *log;
    int64_t began;
    int code;
    (void)state;
    out = cli_json("refused", refused, &code); /* --force is required */
    assert_int_equal(code, 3);
    assert_non_null(json_object_get(out, "error"));
    json_decref(out);
    release(g_e.id);
    began = rg_time_now_ms();
    out = cli_json("full", args, &code);
    assert_int_equal(code, 0);
    assert_string_equal(json_string_value(json_object_get(out, "state")), "completed");
    json_decref(out);
    assert_int_equal(rg_e2e_state(&g_e), RG_ROLLOUT_COMPLETED);
    assert_int_equal(analytics_since(began), 0);
    log = rg_e2e_requests(&g_e.sim);
    for (size_t i = 0; i < json_array_size(g_e.orgs); i++) {
        const char *org = json_string_value(json_array_get(g_e.orgs, i));
        json_t *live = rg_e2e_live(&g_e.sim, org);
        assert_int_equal(rg_e2e_patches(log, org), 1);
        assert_int_equal(json_integer_value(json_object_get(
                             json_array_get(json_object_get(live, "targets"), 1), "weight")),
                         100);
        if (i > 0) /* the parent group's org before its dependents */
            assert_true(rg_e2e_first_patch(log, json_string_value(json_array_get(g_e.orgs, 0))) <
                        rg_e2e_first_patch(log, org));
        json_decref(live);
    }
    json_decref(log);
    {
        rg_store_audits a = {0};
        int found = 0;
        assert_int_equal(rg_store_audit_list(&a, g_e.store, g_e.tenant, g_e.id), 0);
        for (size_t i = 0; i < a.count; i++)
            found |= strcmp(a.items[i].action, "promote") == 0 && a.items[i].reason &&
                     strcmp(a.items[i].reason, "release now") == 0 &&
                     strcmp(a.items[i].actor, "bob") == 0;
        rg_store_audits_dispose(&a);
        assert_true(found);
    }
}

/* A person's edit in the sim (not a PATCH through the API): `patch` is a JSON object. */
static void person_edits(const char *org, const char *patch)
{
    rg_buf body = RG_BUF_INIT, edit = RG_BUF_INIT;
    long status = 0;
    rg_buf_printf(&edit, "{\"org\":\"%s\",\"strategy\":\"strat_main\",\"patch\":%s}", org, patch);
    assert_int_equal(
        rg_simproc_request(&g_e.sim, "POST", "/sim/edit", edit.ptr, NULL, &status, &body, NULL), 0);
    assert_int_equal(status, 200);
    rg_buf_dispose(&body);
    rg_buf_dispose(&edit);
}

static int patches_total(void)
{
    json_t *log = rg_e2e_requests(&g_e.sim);
    int n = 0;
    for (size_t i = 0; i < json_array_size(g_e.orgs); i++)
        n += rg_e2e_patches(log, json_string_value(json_array_get(g_e.orgs, i)));
    json_decref(log);
    return n;
}

/* 4. A person re-weighted one org's queues after the rollout completed: the undo would have
 * to keep their targets instead of the snapshot's, so it is refused, naming the org and the
 * field, and nothing is written. */
static void test_undo_refused_after_edit(void **state)
{
    char *args[] = {"undo", g_e.id, "--reason", "revert", "--json", NULL};
    const char *org = json_string_value(json_array_get(g_e.orgs, 2));
    json_t *live = rg_e2e_live(&g_e.sim, org), *out;
    char *applied = json_dumps(json_object_get(live, "targets"), JSON_COMPACT), patch[1024];
    const char *msg;
    int code, before = patches_total();
    (void)state;
    person_edits(org, "{\"targets\":[{\"type\":\"Queue\",\"id\":\"queue_global_001\","
                      "\"weight\":50,\"priority\":1},{\"type\":\"Queue\",\"id\":"
                      "\"queue_v2\",\"weight\":50,\"priority\":1}]}");
    out = cli_json("undo-refused", args, &code);
    assert_int_equal(code, 1);
    msg = json_string_value(json_object_get(json_object_get(out, "error"), "message"));
    assert_non_null(msg);
    assert_non_null(strstr(msg, org));
    assert_non_null(strstr(msg, "targets"));
    json_decref(out);
    assert_int_equal(patches_total(), before);
    assert_int_equal(rg_e2e_state(&g_e), RG_ROLLOUT_COMPLETED);
    /* They put it back as the rollout left it, and edit a field it never changed. */
    snprintf(patch, sizeof(patch), "{\"targets\":%s}", applied);
    person_edits(org, patch);
    person_edits(json_string_value(json_array_get(g_e.orgs, 1)),
                 "{\"settings\":{\"enabled\":true,\"longRunning\":false}}");
    free(applied);
    json_decref(live);
}

/* 5. undo of the completed rollout: every org is its snapshot again in the sim, verified by
 * telemetry, audited. Undo of a rollout in another state is refused. */
static void test_undo(void **state)
{
    char *args[] = {"undo", g_e.id, "--reason", "revert the release", "--json", NULL};
    json_t *out, *log;
    int code;
    (void)state;
    out = cli_json("undo", args, &code);
    assert_int_equal(code, 0);
    assert_string_equal(json_string_value(json_object_get(out, "state")), "rolled_back");
    assert_true(json_is_string(json_object_get(out, "verification")));
    json_decref(out);
    log = rg_e2e_requests(&g_e.sim);
    {
        /* the person's edit of a field the rollout did not change is kept */
        json_t *live = rg_e2e_live(&g_e.sim, json_string_value(json_array_get(g_e.orgs, 1)));
        assert_true(
            json_is_false(json_object_get(json_object_get(live, "settings"), "longRunning")));
        json_decref(live);
    }
    for (size_t i = 0; i < json_array_size(g_e.orgs); i++) {
        const char *org = json_string_value(json_array_get(g_e.orgs, i));
        json_t *live = rg_e2e_live(&g_e.sim, org), *snap = rg_e2e_snapshot(&g_e, org);
        assert_non_null(snap);
        assert_true(json_equal(json_object_get(live, "targets"), json_object_get(snap, "targets")));
        assert_true(json_equal(json_object_get(live, "name"), json_object_get(snap, "name")));
        assert_int_equal(rg_e2e_patches(log, org), 2); /* the change, then the undo */
        json_decref(live);
        json_decref(snap);
    }
    json_decref(log);
    out = cli_json("undo-again", args, &code); /* rolled_back now: refused */
    assert_int_equal(code, 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "error"), "code")),
                        "conflict");
    json_decref(out);
}

/* 6. retry of the rolled-back rollout: a new rollout linked to the old one, whose first
 * stage writes the parent org again; retry of a running one is refused. */
static void test_retry(void **state)
{
    char *args[] = {"retry", g_e.id, "--approve", "--json", NULL};
    char *again[] = {"retry", NULL, "--json", NULL};
    char saved[RG_STORE_ROLLOUT_ID_LEN];
    const char *parent = json_string_value(json_array_get(g_e.orgs, 0));
    json_t *out, *st, *log, *live;
    int code, before = stage_patches(g_e.id, 1);
    (void)state;
    out = cli_json("retry", args, &code);
    assert_int_equal(code, 0);
    assert_string_equal(json_string_value(json_object_get(out, "retry_of")), g_e.id);
    assert_string_equal(json_string_value(json_object_get(out, "state")), "running");
    snprintf(g_retry, sizeof(g_retry), "%s", json_string_value(json_object_get(out, "id")));
    json_decref(out);
    st = status(g_retry);
    assert_string_equal(json_string_value(json_object_get(st, "retry_of")), g_e.id);
    json_decref(st);
    st = status(g_e.id);
    assert_string_equal(json_string_value(json_object_get(st, "retried_as")), g_retry);
    {
        /* list, history and the status text show the link */
        char *list[] = {"list", "--json", NULL}, *text[] = {"status", g_retry, NULL};
        char *hist[] = {"history", NULL, "--tenant", "e2e", "--json", NULL}, path[700], *s;
        json_t *rows, *r;
        size_t i;
        int linked = 0;
        rows = cli_json("list", list, &code);
        assert_int_equal(code, 0);
        json_array_foreach(rows, i, r)
        {
            linked += strcmp(json_string_value(json_object_get(r, "id")), g_retry) == 0 &&
                      json_is_string(json_object_get(r, "retry_of")) &&
                      strcmp(json_string_value(json_object_get(r, "retry_of")), g_e.id) == 0;
        }
        json_decref(rows);
        assert_int_equal(linked, 1);
        hist[1] = (char *)json_string_value(json_object_get(st, "digest"));
        rows = cli_json("history", hist, &code);
        assert_int_equal(code, 0);
        linked = 0;
        json_array_foreach(json_object_get(rows, "rollouts"), i, r)
        {
            linked += json_is_string(json_object_get(r, "retry_of"));
        }
        json_decref(rows);
        assert_int_equal(linked, 1);
        snprintf(path, sizeof(path), "%.600s/status.out", g_e.dir);
        assert_int_equal(cli(path, text), 0);
        s = rg_test_read_file(path, NULL);
        assert_non_null(s);
        assert_non_null(strstr(s, "retry of rollout"));
        assert_non_null(strstr(s, g_e.id));
        free(s);
    }
    json_decref(st);
    memcpy(saved, g_e.id, sizeof(saved));
    memcpy(g_e.id, g_retry, sizeof(g_e.id));
    assert_int_equal(rg_e2e_drive(&g_e, stage_applied, 50), 0);
    log = rg_e2e_requests(&g_e.sim);
    assert_int_equal(rg_e2e_patches(log, parent), 3); /* change, undo, the retry's stage 1 */
    json_decref(log);
    live = rg_e2e_live(&g_e.sim, parent);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(live, "targets"), 1), "weight")),
                     100);
    json_decref(live);
    assert_int_equal(stage_patches(g_retry, 1), before); /* stage 2 waits for its soak */
    release(g_retry);
    again[1] = g_retry;
    out = cli_json("retry-running", again, &code);
    assert_int_equal(code, 1);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(out, "error"), "message")),
               "only a rolled-back rollout"));
    json_decref(out);
    memcpy(g_e.id, saved, sizeof(saved));
}

static int completed(rg_e2e *e)
{
    return rg_e2e_state(e) == RG_ROLLOUT_COMPLETED || rg_e2e_state(e) == RG_ROLLOUT_HELD;
}

/* 7. promote --full while a driver (this process) holds the retry's lease: the CLI queues
 * it, the driver runs it on its next tick, and every remaining stage reaches the sim. */
static void test_promote_full_queued(void **state)
{
    char *args[] = {"promote", g_retry, "--full", "--force", "--reason", "hotfix", "--json", NULL};
    char saved[RG_STORE_ROLLOUT_ID_LEN];
    json_t *out, *log;
    int64_t next = 0;
    int code;
    (void)state;
    assert_int_equal(rg_engine_tick_rollout(g_e.engine, g_e.tenant, g_retry, &next), 0);
    out = cli_json("full-queued", args, &code);
    assert_int_equal(code, 0);
    assert_string_equal(json_string_value(json_object_get(out, "outcome")), "queued");
    json_decref(out);
    memcpy(saved, g_e.id, sizeof(saved));
    memcpy(g_e.id, g_retry, sizeof(g_e.id));
    assert_int_equal(rg_e2e_drive(&g_e, completed, 100), 0);
    assert_int_equal(rg_e2e_state(&g_e), RG_ROLLOUT_COMPLETED);
    memcpy(g_e.id, saved, sizeof(saved));
    log = rg_e2e_requests(&g_e.sim);
    for (size_t i = 0; i < json_array_size(g_e.orgs); i++) /* change, undo, the retry */
        assert_int_equal(rg_e2e_patches(log, json_string_value(json_array_get(g_e.orgs, i))), 3);
    json_decref(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pause_step),
        cmocka_unit_test(test_stage_approval),
        cmocka_unit_test(test_promote_full),
        cmocka_unit_test(test_undo_refused_after_edit),
        cmocka_unit_test(test_undo),
        cmocka_unit_test(test_retry),
        cmocka_unit_test(test_promote_full_queued),
    };
    return cmocka_run_group_tests(tests, begin, finish);
}
