/* test_e2e_write_once.c - exactly one successful write per org per apply and per restore
 * when the platform commits a PATCH and the reply is lost (closed, reset, a 504 instead of
 * the 200) or when 20% of calls fail with 503, counted by rollgate-sim itself (GET /sim/writes),
 * not by rollgate; and an unreachable platform is an infrastructure error: `plan` and `run
 * --until-done` exit 4, one line per organization, the hold says "platform unreachable" */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollgate/body.h"
#include "rollgate/platform.h"
#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/pg.h"
#include "support/skip.h"
#include "support/testutil.h"

/* The sim's own count of committed writes of org's strat_main (reply lost or not). */
static json_t *sim_writes(const rg_simproc *sim)
{
    rg_buf body = RG_BUF_INIT;
    long status = 0;
    json_t *doc = NULL;

    if (rg_simproc_request(sim, "GET", "/sim/writes", NULL, NULL, &status, &body, NULL) == 0 &&
        status == 200)
        doc = json_loads(rg_buf_cstr(&body), 0, NULL);
    rg_buf_dispose(&body);
    assert_non_null(doc);
    return doc;
}

static int64_t writes_of(const json_t *doc, const char *org, const char *what)
{
    return json_integer_value(json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "orgs"), org), "strat_main"), what));
}

/* Committed writes of `org` by the request log's "applied" flag. */
static int64_t logged_writes(const json_t *log, const char *org)
{
    size_t i;
    json_t *r;
    int64_t n = 0;

    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        const char *o = json_string_value(json_object_get(r, "org"));
        n += o && strcmp(o, org) == 0 && json_is_true(json_object_get(r, "applied"));
    }
    return n;
}

/* No verdict twice for one (stage, poll, metric); no stage applied twice; one "restored". */
static void assert_no_duplicate_rows(rg_e2e *e)
{
    rg_store_verdicts v = {0};
    rg_store_events ev = {0};
    int applied[8] = {0}, restored = 0;

    assert_int_equal(rg_store_verdict_list(&v, e->store, e->tenant, e->id, -1), 0);
    for (size_t i = 0; i < v.count; i++)
        for (size_t k = i + 1; k < v.count; k++)
            if (v.items[i].stage == v.items[k].stage && v.items[i].poll == v.items[k].poll &&
                strcmp(v.items[i].metric, v.items[k].metric) == 0)
                fail_msg("verdict stage %d poll %d %s stored twice", v.items[i].stage,
                         v.items[i].poll, v.items[i].metric);
    assert_int_equal(rg_store_event_list(&ev, e->store, e->tenant, e->id, 0), 0);
    for (size_t i = 0; i < ev.count; i++) {
        if (strcmp(ev.items[i].kind, "restored") == 0)
            restored++;
        if (strcmp(ev.items[i].kind, "stage_applied") == 0 && ev.items[i].detail) {
            json_t *d = json_loads(ev.items[i].detail, 0, NULL);
            json_int_t s = json_integer_value(json_object_get(d, "stage"));
            json_decref(d);
            if (s >= 0 && s < 8 && ++applied[s] > 1)
                fail_msg("stage %lld applied twice", (long long)s);
        }
    }
    assert_true(restored <= 1);
    rg_store_verdicts_dispose(&v);
    rg_store_events_dispose(&ev);
}

/* Every target applied (the last stage's PATCHes all recorded). */
static int fully_applied(rg_e2e *e)
{
    rg_store_targets targets = {0};
    int all;

    if (rg_e2e_finished(e))
        return 1;
    if (rg_store_target_list(&targets, e->store, e->tenant, e->id) < 0)
        return 0;
    all = targets.count > 0;
    for (size_t i = 0; i < targets.count; i++)
        all &= targets.items[i].state == RG_TARGET_APPLIED;
    rg_store_targets_dispose(&targets);
    return all;
}

/* Drives a rollout under `faults` to its end (with `rollback_at_full`: until every org is
 * applied, then a person's rollback) and checks, from the sim's count, that every touched
 * org got exactly one apply write and (rolled back) exactly one restore write, and
 * untouched orgs none. */
static void rollout_under(const char *scenario, const char *faults, rg_rollout_state want,
                          int lost_replies, int rollback_at_full)
{
    rg_e2e e;
    rg_store_targets targets = {0};
    json_t *writes, *log;
    size_t touched = 0;
    int64_t unanswered = 0;

    memset(&e, 0, sizeof(e));
    assert_int_equal(rg_simproc_start(&e.sim, scenario), 0);
    assert_int_equal(rg_e2e_credentials(&e.orgs, scenario), 0);
    assert_int_equal(rg_simproc_faults(&e.sim, faults), 0);
    assert_int_equal(rg_e2e_begin(&e, NULL, NULL, 200), 0);
    if (rollback_at_full) {
        char *outcome = NULL;
        if (rg_e2e_drive(&e, fully_applied, 600) < 0 || rg_e2e_finished(&e))
            fail_msg("%s %s: not every org applied (%s): %s", scenario, faults,
                     rg_rollout_state_to_str(rg_e2e_state(&e)), rg_error_last());
        assert_int_equal(rg_engine_command(&outcome, e.engine, e.tenant, e.id, RG_COMMAND_ROLLBACK,
                                           "oncall", "exactly-once test", 0),
                         0);
        free(outcome);
    }
    if (rg_e2e_drive(&e, rg_e2e_finished, 600) < 0)
        fail_msg("%s %s: %s", scenario, faults, rg_error_last());
    if (rg_e2e_state(&e) != want)
        fail_msg("%s %s: ended %s, not %s", scenario, faults,
                 rg_rollout_state_to_str(rg_e2e_state(&e)), rg_rollout_state_to_str(want));
    writes = sim_writes(&e.sim);
    log = rg_e2e_requests(&e.sim);
    assert_non_null(log);
    assert_int_equal(rg_store_target_list(&targets, e.store, e.tenant, e.id), 0);
    for (size_t i = 0; i < targets.count; i++) {
        const rg_store_target *t = &targets.items[i];
        int64_t n = writes_of(writes, t->org_id, "applied");
        int64_t expect = t->state == RG_TARGET_PENDING    ? 0
                         : want == RG_ROLLOUT_ROLLED_BACK ? 2 /* the apply and the restore */
                                                          : 1;
        if (n != expect)
            fail_msg("%s %s: %s (%s) got %lld successful writes, expected %lld", scenario, faults,
                     t->org_id, rg_target_state_to_str(t->state), (long long)n, (long long)expect);
        assert_int_equal(logged_writes(log, t->org_id), n); /* the log agrees */
        touched += t->state != RG_TARGET_PENDING;
        unanswered += writes_of(writes, t->org_id, "unanswered");
        if (want == RG_ROLLOUT_ROLLED_BACK && t->state != RG_TARGET_PENDING) {
            json_t *live = rg_e2e_live(&e.sim, t->org_id), *snap = rg_e2e_snapshot(&e, t->org_id);
            assert_int_equal(t->state, RG_TARGET_RESTORED);
            for (size_t f = 0; rg_body_fields[f]; f++)
                if (!json_equal(json_object_get(live, rg_body_fields[f]),
                                json_object_get(snap, rg_body_fields[f])))
                    fail_msg("%s: %s.%s differs from its snapshot", faults, t->org_id,
                             rg_body_fields[f]);
            json_decref(live);
            json_decref(snap);
        }
    }
    assert_true(touched >= 1);
    /* The fault really struck: every committed write lost its reply. */
    if (lost_replies)
        assert_int_equal(unanswered, json_integer_value(json_object_get(writes, "total")));
    fprintf(stderr, "%s %s: %s, %zu organizations touched, %lld writes (%lld unanswered)\n",
            scenario, faults, rg_rollout_state_to_str(want), touched,
            (long long)json_integer_value(json_object_get(writes, "total")), (long long)unanswered);
    assert_no_duplicate_rows(&e);
    json_decref(log);
    json_decref(writes);
    rg_store_targets_dispose(&targets);
    rg_e2e_end(&e);
}

static void test_lost_reply_rolls_back_once(void **state)
{
    (void)state;
    rollout_under("sim/scenarios/demo.json", "{\"apply_drop_rate\":1}", RG_ROLLOUT_ROLLED_BACK, 1,
                  0);
}

static void test_reset_after_apply_rolls_back_once(void **state)
{
    (void)state;
    rollout_under("sim/scenarios/demo.json", "{\"apply_reset_rate\":1}", RG_ROLLOUT_ROLLED_BACK, 1,
                  0);
}

static void test_503s_roll_back_once(void **state)
{
    (void)state;
    rollout_under("sim/scenarios/demo.json", "{\"error_rate\":0.2,\"error_status\":503}",
                  RG_ROLLOUT_ROLLED_BACK, 0, 0);
}

static void test_5xx_after_commit_rolls_back_once(void **state)
{
    (void)state;
    rollout_under("sim/scenarios/demo.json", "{\"apply_error_rate\":1,\"error_status\":504}",
                  RG_ROLLOUT_ROLLED_BACK, 1, 0);
}

static void test_lost_reply_healthy_completes_once(void **state)
{
    (void)state;
    rollout_under("sim/scenarios/healthy.json",
                  "{\"apply_drop_rate\":1,\"latency_ms\":50,"
                  "\"latency_on\":\"writes\"}",
                  RG_ROLLOUT_COMPLETED, 1, 0);
}

/* Every org applied, then rolled back by a person: seven restores, every reply lost (half
 * closed, half reset), 10% 503s on top; still one write each way per org. */
static void test_full_rollback_under_lost_replies(void **state)
{
    (void)state;
    rollout_under("sim/scenarios/healthy.json",
                  "{\"apply_drop_rate\":0.5,"
                  "\"apply_reset_rate\":1,\"error_rate\":0.1,\"error_status\":503}",
                  RG_ROLLOUT_ROLLED_BACK, 1, 1);
}

/* The platform client alone: a PATCH committed with its reply dropped, then reset, then
 * answered 504 after the commit, then refused by 503 on writes only; one committed write
 * each time (none for the refused one), and the op knows it. */
static void test_client_write_protocol(void **state)
{
    rg_simproc sim;
    rg_platform *pf = NULL;
    rg_platform_options opts;
    rg_platform_org org = {"org_sub_002", NULL, NULL, "env"};
    json_t *orgs = NULL, *body = NULL, *patch, *writes;
    char *etag = NULL;
    static const char *const faults[] = {"{\"apply_drop_rate\":1}", "{\"apply_reset_rate\":1}",
                                         "{\"apply_error_rate\":1,\"error_status\":504}",
                                         "{\"error_rate\":1,\"error_on\":\"writes\"}"};
    static const char *const names[] = {"Lost_Reply", "Reset", "Gateway_Timeout", "Refused"};
    (void)state;

    assert_int_equal(rg_simproc_start(&sim, "sim/scenarios/demo.json"), 0);
    assert_int_equal(rg_e2e_credentials(&orgs, "sim/scenarios/demo.json"), 0);
    org.api_url = org.login_url = sim.url;
    rg_platform_options_init(&opts);
    opts.backoff_base_ms = 5;
    opts.backoff_cap_ms = 20;
    opts.max_retries = 3;
    assert_int_equal(rg_platform_new(&pf, &opts), 0);
    assert_int_equal(rg_platform_add_org(pf, &org), 0);
    for (int i = 0; i < 4; i++) {
        rg_platform_op *op = NULL;
        int64_t before;
        writes = sim_writes(&sim);
        before = writes_of(writes, "org_sub_002", "applied");
        json_decref(writes);
        assert_int_equal(rg_platform_strategy_get(&body, &etag, pf, "org_sub_002", "strat_main"),
                         0);
        assert_int_equal(rg_simproc_faults(&sim, faults[i]), 0);
        patch = json_pack("{s:s}", "name", names[i]);
        /* no merge: the op's own patch is what the re-read is compared with */
        assert_int_equal(rg_platform_queue_strategy_update(&op, pf, "org_sub_002", "strat_main",
                                                           etag, patch, NULL, NULL, NULL, NULL),
                         0);
        assert_int_equal(rg_platform_run(pf), 0);
        writes = sim_writes(&sim);
        if (i < 3) {
            if (rg_platform_op_status(op) != 0)
                fail_msg("%s: %s", faults[i], rg_platform_op_error(op));
            assert_int_equal(rg_platform_op_in_place(op), 1);
            assert_int_equal(rg_platform_op_patch_attempts(op), 1);
            assert_string_equal(json_string_value(json_object_get(rg_platform_op_body(op), "name")),
                                json_string_value(json_object_get(patch, "name")));
            assert_string_not_equal(rg_platform_op_etag(op), etag);
            assert_int_equal(writes_of(writes, "org_sub_002", "applied"), before + 1);
        } else {
            /* every PATCH refused: re-read, resent on the unchanged ETag, then given up on */
            assert_int_equal(rg_platform_op_status(op), RG_EPLATFORM);
            assert_non_null(strstr(rg_platform_op_error(op), "outcome unknown"));
            assert_int_equal(rg_platform_op_patch_attempts(op), opts.max_retries + 1);
            assert_int_equal(writes_of(writes, "org_sub_002", "applied"), before);
        }
        assert_int_equal(rg_simproc_faults(&sim, "{}"), 0);
        json_decref(writes);
        json_decref(patch);
        json_decref(body);
        free(etag);
        rg_platform_op_free(op);
    }
    rg_platform_free(pf);
    json_decref(orgs);
    rg_simproc_stop(&sim);
}

/* The new fault keys are validated and echoed; writes are counted per org. */
static void test_sim_fault_keys(void **state)
{
    static const char *const bad[] = {"{\"latency_on\":\"sideways\"}", "{\"error_on\":1}",
                                      "{\"apply_drop_rate\":1.5}", "{\"apply_reset_rate\":\"x\"}"};
    rg_simproc sim;
    rg_buf body = RG_BUF_INIT;
    long status = 0;
    json_t *doc, *writes;
    (void)state;

    assert_int_equal(rg_simproc_start(&sim, "sim/scenarios/demo.json"), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            rg_simproc_request(&sim, "POST", "/sim/faults", bad[i], NULL, &status, &body, NULL), 0);
        if (status != 400)
            fail_msg("%s accepted (%ld)", bad[i], status);
        rg_buf_clear(&body);
    }
    assert_int_equal(rg_simproc_faults(&sim, "{\"apply_drop_rate\":0.25,\"latency_ms\":5,"
                                             "\"latency_on\":\"writes\",\"error_on\":\"reads\"}"),
                     0);
    assert_int_equal(
        rg_simproc_request(&sim, "GET", "/sim/faults", NULL, NULL, &status, &body, NULL), 0);
    doc = json_loads(rg_buf_cstr(&body), 0, NULL);
    assert_non_null(doc);
    assert_true(json_real_value(json_object_get(doc, "apply_drop_rate")) == 0.25);
    assert_string_equal(json_string_value(json_object_get(doc, "latency_on")), "writes");
    assert_string_equal(json_string_value(json_object_get(doc, "error_on")), "reads");
    json_decref(doc);
    writes = sim_writes(&sim);
    assert_int_equal(json_integer_value(json_object_get(writes, "total")), 0);
    assert_int_equal(writes_of(writes, "org_sub_002", "applied"), 0);
    assert_true(json_is_object(json_object_get(json_object_get(writes, "orgs"), "org_sub_002")));
    json_decref(writes);
    rg_buf_dispose(&body);
    rg_simproc_stop(&sim);
}

/* ---- the platform down ---- */

typedef struct {
    int status;
    char *out;
    char *err;
} run_result;

static run_result run_rollgate(const char *dir, const char *args)
{
    char outp[700], errp[700];
    rg_buf cmd = RG_BUF_INIT;
    run_result r = {-1, NULL, NULL};
    int status;

    snprintf(outp, sizeof(outp), "%s/out", dir);
    snprintf(errp, sizeof(errp), "%s/err", dir);
    rg_buf_printf(&cmd, "'%s/cli/rollgate' %s >'%s' 2>'%s'", rg_test_binary_dir(), args, outp,
                  errp);
    status = system(rg_buf_cstr(&cmd));
    assert_true(status != -1 && WIFEXITED(status));
    r.status = WEXITSTATUS(status);
    r.out = rg_test_read_file(outp, NULL);
    r.err = rg_test_read_file(errp, NULL);
    assert_non_null(r.out);
    assert_non_null(r.err);
    rg_buf_dispose(&cmd);
    return r;
}

/* A loopback port nothing listens on (bound, then closed). */
static int closed_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static size_t lines_naming(const char *text, const char *org)
{
    size_t n = 0;
    char word[160];
    const char *line = text;

    snprintf(word, sizeof(word), "org %s:", org);
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *copy = rg_strndup(line, len);
        n += strstr(copy, word) != NULL;
        free(copy);
        line += len + (end != NULL);
    }
    return n;
}

static void test_plan_platform_down_exits_4(void **state)
{
    char dir[512], manifest[600], url[64], args[1400];
    json_t *orgs = NULL;
    run_result r;
    (void)state;

    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    assert_int_equal(rg_e2e_credentials(&orgs, "sim/scenarios/demo.json"), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", closed_port());
    snprintf(manifest, sizeof(manifest), "%s/manifest.yaml", dir);
    assert_int_equal(rg_e2e_write_manifest(manifest, url, orgs, NULL), 0);
    snprintf(args, sizeof(args), "plan '%s'", manifest);
    r = run_rollgate(dir, args);
    fprintf(stderr, "plan, platform down: exit %d\n%s", r.status, r.err);
    assert_int_equal(r.status, 4);
    assert_string_equal(r.out, ""); /* no diff a pipeline could take for a plan */
    assert_int_equal(count_lines(r.err), json_array_size(orgs));
    for (size_t i = 0; i < json_array_size(orgs); i++) {
        const char *org = json_string_value(json_array_get(orgs, i));
        if (lines_naming(r.err, org) != 1)
            fail_msg("%s is named on %zu lines, not 1:\n%s", org, lines_naming(r.err, org), r.err);
    }
    assert_non_null(strstr(r.err, "platform unreachable"));
    free(r.out);
    free(r.err);
    json_decref(orgs);
    rg_test_rmtree(dir);
}

static void test_run_platform_down_exits_4(void **state)
{
    rg_e2e e;
    rg_store_rollout row = {0};
    char args[1400], dir[512];
    run_result r;
    (void)state;

    assert_int_equal(rg_e2e_begin(&e, "sim/scenarios/demo.json", NULL, 200), 0);
    rg_engine_free(e.engine);
    e.engine = NULL;
    rg_store_free(e.store);
    e.store = NULL;
    assert_int_equal(rg_simproc_stop(&e.sim), 0); /* the platform goes down */
    snprintf(dir, sizeof(dir), "%s", e.dir);
    snprintf(args, sizeof(args), "run --db '%s' --until-done --quiet --tick 100ms", e.db);
    r = run_rollgate(dir, args);
    fprintf(stderr, "run --until-done, platform down: exit %d\n%s", r.status, r.err);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "platform unreachable"));
    assert_null(strstr(r.err, "capacity check failed"));
    assert_int_equal(rg_store_open(&e.store, e.db), 0);
    assert_int_equal(rg_store_rollout_get(&row, e.store, e.tenant, e.id), 0);
    assert_int_equal(row.state, RG_ROLLOUT_HELD);
    assert_non_null(row.hold_reason);
    assert_int_equal(strncmp(row.hold_reason, "platform unreachable: ", 22), 0);
    rg_store_rollout_dispose(&row);
    free(r.out);
    free(r.err);
    rg_e2e_end(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_write_protocol),
        cmocka_unit_test(test_plan_platform_down_exits_4),
        cmocka_unit_test(test_run_platform_down_exits_4),
        cmocka_unit_test(test_lost_reply_rolls_back_once),
        cmocka_unit_test(test_reset_after_apply_rolls_back_once),
        cmocka_unit_test(test_503s_roll_back_once),
        cmocka_unit_test(test_5xx_after_commit_rolls_back_once),
        cmocka_unit_test(test_lost_reply_healthy_completes_once),
        cmocka_unit_test(test_full_rollback_under_lost_replies),
        cmocka_unit_test(test_sim_fault_keys),
    };
    if (rg_test_pg_backend_missing())
        return rg_test_exit(0);
    return rg_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
