/* test_e2e_planner.c - `rollgate plan` (online) runs the planner on rollgate-sim's analytics:
 * its numbers against closed form from the scenario's configured traffic, and the warning when
 * a stage's traffic cannot decide within its soak limit */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/testutil.h"

/* One look (soak = poll), sequential none, pooled variance, one metric: every planner number
 * has a closed form (docs/internals/stats.md "Planner"). */
static const char policy[] =
    "policy:\n"
    "  alpha: 0.05\n  sequential: none\n  stabilization_window: 4s\n  soak_limit: 4s\n"
    "  poll_interval: 4s\n  granularity: PT1S\n  settle: 1s\n  pre_window: 4s\n"
    "  breaker: {consecutive: 1}\n  on_inconclusive: hold\n  errors: {limit: 3}\n"
    "  verify_window: 4s\n  capacity: {min_ratio: 0.8}\n  metrics:\n"
    "    - {name: abandonment_rate, kind: proportion, events: tAbandon, trials: nOffered,\n"
    "       increase_is_bad: true, tolerance: {relative: 0.15}, critical: true}\n";

#define Z_95 1.6448536269514722 /* Phi^-1(0.95): alpha 0.05, one metric, no stage split */
#define Z_80 0.8416212335729143 /* Phi^-1(0.80): the MDE's power */

static double norm_p(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

typedef struct {
    int status;
    char *out;
} run_result;

static run_result run_plan(const char *dir, const char *manifest, const char *extra)
{
    char outp[700];
    rg_buf cmd = RG_BUF_INIT;
    run_result r = {-1, NULL};
    int status;

    snprintf(outp, sizeof(outp), "%s/out", dir);
    rg_buf_printf(&cmd, "'%s/cli/rollgate' plan '%s' %s >'%s' 2>/dev/null", rg_test_binary_dir(),
                  manifest, extra, outp);
    status = system(rg_buf_cstr(&cmd));
    assert_true(status != -1 && WIFEXITED(status));
    r.status = WEXITSTATUS(status);
    r.out = rg_test_read_file(outp, NULL);
    assert_non_null(r.out);
    rg_buf_dispose(&cmd);
    return r;
}

/* The scenario copy with a time_scale, in dir; returns its path in `out`. */
static void write_scenario(char *out, size_t len, const char *dir, double time_scale, json_t **doc)
{
    char src[1024];
    rg_test_path(src, sizeof(src), "sim/scenarios/demo.json");
    *doc = json_load_file(src, 0, NULL);
    assert_non_null(*doc);
    json_object_set_new(*doc, "time_scale", json_real(time_scale));
    snprintf(out, len, "%s/scenario-%g.json", dir, time_scale);
    assert_int_equal(json_dump_file(*doc, out, 0), 0);
}

/* Expected sd of theta for a stage with nc canary and nk control orgs, each with r offered
 * calls a minute at abandonment p: u = v/(r pre) + v/(r post), v = (1 - p)/p (log scale);
 * V = u/nc + u/nk. Pre 4 s, post = poll - settle = 3 s. */
static double stage_sd(double r, double p, size_t nc, size_t nk)
{
    double v = (1 - p) / p, u = v / (r * 4 / 60.0) + v / (r * 3 / 60.0);
    return sqrt(u / (double)nc + u / (double)nk);
}

static size_t count_posts(const json_t *log, const char *path_part)
{
    size_t i, n = 0;
    json_t *r;
    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        const char *m = json_string_value(json_object_get(r, "method"));
        const char *p = json_string_value(json_object_get(r, "path"));
        n += m && p && strcmp(m, "POST") == 0 && strstr(p, path_part) != NULL;
    }
    return n;
}

static size_t count_method(const json_t *log, const char *method)
{
    size_t i, n = 0;
    json_t *r;
    json_array_foreach(json_object_get(log, "requests"), i, r) n +=
        strcmp(json_string_value(json_object_get(r, "method")), method) == 0;
    return n;
}

static void test_planner_matches_closed_form(void **state)
{
    char dir[512], scen[700], path[700];
    rg_simproc sim;
    json_t *orgs = NULL, *doc, *plan, *pl, *st, *log;
    run_result r;
    const json_t *org0;
    double rate, p, tol = log1p(0.15);
    size_t i;
    (void)state;

    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    write_scenario(scen, sizeof(scen), dir, 1200, &doc);
    org0 = json_array_get(json_object_get(doc, "orgs"), 0);
    /* per real minute: calls_per_min x time_scale; demo orgs are alike */
    rate = json_number_value(json_object_get(json_array_get(json_object_get(org0, "strategies"), 0),
                                             "calls_per_min")) *
           1200;
    p = json_number_value(
        json_object_get(json_array_get(json_object_get(org0, "queues"), 0), "abandon_p"));
    assert_int_equal(rg_simproc_start(&sim, scen), 0);
    assert_int_equal(rg_e2e_credentials(&orgs, scen), 0);
    snprintf(path, sizeof(path), "%s/m.yaml", dir);
    assert_int_equal(rg_e2e_write_manifest(path, sim.url, orgs, policy), 0);

    r = run_plan(dir, path, "--json");
    assert_int_equal(r.status, 0);
    plan = json_loads(r.out, 0, NULL);
    assert_non_null(plan);
    pl = json_object_get(plan, "planner");
    assert_non_null(pl);
    assert_null(json_object_get(pl, "error"));
    assert_true(json_is_false(json_object_get(pl, "cannot_decide")));
    assert_int_equal(json_array_size(json_object_get(pl, "stages")), 3);
    json_array_foreach(json_object_get(pl, "stages"), i, st)
    {
        size_t nc = json_array_size(json_object_get(st, "canary"));
        size_t nk = json_array_size(json_object_get(st, "control"));
        const json_t *mt = json_array_get(json_object_get(st, "metrics"), 0);
        double sd = stage_sd(rate, p, nc, nk), thr = fmax(Z_95 * sd, tol);
        /* 7 orgs at 10/50/100 %: 1, 3 and 3 canaries; control later, later, earlier */
        assert_int_equal(nc, i == 0 ? 1 : 3);
        assert_int_equal(nk, i == 0 ? 6 : i == 1 ? 3 : 4);
        assert_string_equal(json_string_value(json_object_get(st, "control_kind")),
                            i < 2 ? "later" : "earlier");
        /* expected offered over the soak: nc r 4 s (Poisson noise of ~2e5 calls read) */
        assert_float_equal(json_number_value(json_object_get(st, "expected_offered")) /
                               ((double)nc * rate * 4 / 60.0),
                           1.0, 0.03);
        assert_float_equal(json_number_value(json_object_get(mt, "level")), p, 0.003);
        /* the level and rates are read, not configured: 2 % of the half-width; the
         * probabilities are Monte Carlo (10,000 paths) on top of that */
        assert_float_equal(json_number_value(json_object_get(mt, "half_width")) / expm1(Z_95 * sd),
                           1.0, 0.02);
        assert_float_equal(json_number_value(json_object_get(st, "p_promote")),
                           norm_p((tol - Z_95 * sd) / sd), 0.03);
        assert_float_equal(json_number_value(json_object_get(mt, "p_trip_1_5")),
                           1 - norm_p((thr - 1.5 * tol) / sd), 0.03);
        assert_float_equal(json_number_value(json_object_get(mt, "mde")), expm1(thr + Z_80 * sd),
                           0.01);
        assert_float_equal(json_number_value(json_object_get(st, "p_trip")), 1 - norm_p(thr / sd),
                           0.01);
        assert_true(json_is_false(json_object_get(mt, "cannot_decide")));
        /* power at the tolerance: Q((thr - tol) / sd), at most 1/2 with fail_rule estimate,
         * so no soak within the limit reaches 0.9: no recommendation */
        assert_float_equal(json_number_value(json_object_get(mt, "power")),
                           1 - norm_p((thr - tol) / sd), 0.03);
        assert_true(json_is_null(json_object_get(st, "recommended")));
    }
    json_decref(plan);
    free(r.out);

    /* the text form prints the same stages, no half-width warning, and the soak's */
    r = run_plan(dir, path, "");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "P(promote | healthy)"));
    assert_non_null(strstr(r.out, "stage 3 (100%): 3 canary, 4 control (earlier)"));
    assert_null(strstr(r.out, "not below its tolerance"));
    assert_non_null(strstr(r.out, "warning: stage 1 cannot decide within its soak limit: at 1 "
                                  "polls P(promote | healthy)"));
    free(r.out);

    /* what the platform saw: one aggregates query per org and run, and nothing written */
    log = rg_e2e_requests(&sim);
    assert_non_null(log);
    assert_int_equal(count_posts(log, "/analytics/conversations/aggregates/query"),
                     2 * json_array_size(orgs));
    assert_int_equal(count_method(log, "PUT"), 0);
    json_decref(log);
    json_decref(doc);
    json_decref(orgs);
    rg_simproc_stop(&sim);
    rg_test_rmtree(dir);
}

static void test_low_traffic_warns(void **state)
{
    char dir[512], scen[700], path[700];
    rg_simproc sim;
    json_t *orgs = NULL, *doc, *plan, *pl, *st;
    run_result r;
    size_t i;
    (void)state;

    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    /* 2 calls a second per org: u = 11.5 (1/8 + 1/6) alone is 3.4, far above ln(1.15)^2 */
    write_scenario(scen, sizeof(scen), dir, 1, &doc);
    assert_true(Z_95 * stage_sd(120, 0.08, 1, 6) > log1p(0.15));
    assert_int_equal(rg_simproc_start(&sim, scen), 0);
    assert_int_equal(rg_e2e_credentials(&orgs, scen), 0);
    snprintf(path, sizeof(path), "%s/m.yaml", dir);
    assert_int_equal(rg_e2e_write_manifest(path, sim.url, orgs, policy), 0);

    r = run_plan(dir, path, "--json");
    assert_int_equal(r.status, 0); /* a warning, not a pre-flight blocker */
    plan = json_loads(r.out, 0, NULL);
    assert_non_null(plan);
    pl = json_object_get(plan, "planner");
    assert_true(json_is_true(json_object_get(pl, "cannot_decide")));
    assert_true(json_array_size(json_object_get(pl, "warnings")) >= 1);
    st = json_array_get(json_object_get(pl, "stages"), 0);
    assert_true(json_is_true(json_object_get(st, "cannot_decide")));
    json_array_foreach(json_object_get(pl, "stages"), i, st)
        assert_true(json_is_true(json_object_get(st, "cannot_decide")));
    json_decref(plan);
    free(r.out);

    r = run_plan(dir, path, "");
    assert_non_null(strstr(r.out, "warning: stage 1 cannot decide within its soak limit"));
    free(r.out);

    /* offline: the planner needs telemetry */
    r = run_plan(dir, path, "--offline");
    assert_non_null(strstr(r.out, "planner: needs telemetry"));
    free(r.out);
    json_decref(doc);
    json_decref(orgs);
    rg_simproc_stop(&sim);
    rg_test_rmtree(dir);
}

/* Which database run_cli uses (dir/db<N>): a retried start takes a fresh one, so an
 * earlier attempt's claims on the orgs cannot refuse it. */
static int db_generation;

/* `rollgate <args>` in dir with the database dir/db<db_generation>; stdout in the result. */
static run_result run_cli(const char *dir, const char *args)
{
    char outp[700];
    rg_buf cmd = RG_BUF_INIT;
    run_result r = {-1, NULL};
    int status;

    snprintf(outp, sizeof(outp), "%s/out", dir);
    rg_buf_printf(&cmd, "'%s/cli/rollgate' --db '%s/db%d' %s >'%s' 2>/dev/null",
                  rg_test_binary_dir(), dir, db_generation, args, outp);
    status = system(rg_buf_cstr(&cmd));
    assert_true(status != -1 && WIFEXITED(status));
    r.status = WEXITSTATUS(status);
    r.out = rg_test_read_file(outp, NULL);
    assert_non_null(r.out);
    rg_buf_dispose(&cmd);
    return r;
}

static json_t *run_json(const char *dir, const char *args)
{
    run_result r = run_cli(dir, args);
    json_t *doc = json_loads(r.out, 0, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(doc);
    free(r.out);
    return doc;
}

/* `start` records the planner's numbers with the rollout: `status --json` shows what
 * `plan --json` printed for the same manifest and traffic (the same analytics window), and
 * the platform saw the start's own analytics read. A start against an unreachable platform
 * still starts, with why recorded. */
static void test_start_records_planner(void **state)
{
    char dir[512], scen[700], path[700], args[1024];
    rg_simproc sim;
    json_t *orgs = NULL, *doc, *plan = NULL, *status = NULL, *started, *log;
    const json_t *recorded = NULL, *printed = NULL;
    size_t before;
    int tries;
    (void)state;

    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    write_scenario(scen, sizeof(scen), dir, 1200, &doc);
    assert_int_equal(rg_simproc_start(&sim, scen), 0);
    assert_int_equal(rg_e2e_credentials(&orgs, scen), 0);
    snprintf(path, sizeof(path), "%s/m.yaml", dir);
    assert_int_equal(rg_e2e_write_manifest(path, sim.url, orgs, policy), 0);

    /* the window moves with the clock (1 s buckets): retry until both read the same one */
    for (tries = 0; tries < 8; tries++) {
        json_decref(plan);
        json_decref(status);
        snprintf(args, sizeof(args), "plan '%s' --json", path);
        plan = run_json(dir, args);
        printed = json_object_get(plan, "planner");
        log = rg_e2e_requests(&sim);
        before = count_posts(log, "/analytics/conversations/aggregates/query");
        json_decref(log);
        snprintf(args, sizeof(args), "start '%s' --json", path);
        started = run_json(dir, args);
        log = rg_e2e_requests(&sim);
        /* the start read every org's analytics itself */
        assert_int_equal(count_posts(log, "/analytics/conversations/aggregates/query") - before,
                         json_array_size(orgs));
        json_decref(log);
        snprintf(args, sizeof(args), "status %s --json",
                 json_string_value(json_object_get(started, "id")));
        json_decref(started);
        status = run_json(dir, args);
        recorded = json_object_get(status, "planner");
        assert_non_null(recorded);
        assert_null(json_object_get(recorded, "error"));
        assert_true(json_is_integer(json_object_get(recorded, "planned_at_ms")));
        if (json_equal(json_object_get(printed, "from_ms"), json_object_get(recorded, "from_ms")))
            break;
        /* another window: the next try starts in a fresh database (this rollout's claims
         * stay in the old one) */
        db_generation++;
    }
    assert_true(tries < 8);
    json_object_del((json_t *)recorded, "planned_at_ms");
    assert_int_equal(json_array_size(json_object_get(recorded, "stages")), 3);
    assert_true(
        json_real_value(json_object_get(
            json_array_get(
                json_object_get(json_array_get(json_object_get(recorded, "stages"), 0), "metrics"),
                0),
            "half_width")) > 0);
    assert_true(json_equal(recorded, printed));
    json_decref(plan);
    json_decref(status);
    rg_simproc_stop(&sim);

    /* the platform gone: the start still starts, and says why there are no numbers */
    rg_test_rmtree(dir);
    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/m.yaml", dir);
    assert_int_equal(rg_e2e_write_manifest(path, sim.url, orgs, policy), 0);
    snprintf(args, sizeof(args), "start '%s' --json", path);
    started = run_json(dir, args);
    snprintf(args, sizeof(args), "status %s --json",
             json_string_value(json_object_get(started, "id")));
    status = run_json(dir, args);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(status, "planner"), "error")),
               "cannot read analytics"));
    json_decref(started);
    json_decref(status);
    json_decref(doc);
    json_decref(orgs);
    rg_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planner_matches_closed_form),
        cmocka_unit_test(test_start_records_planner),
        cmocka_unit_test(test_low_traffic_warns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
