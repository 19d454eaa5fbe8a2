/* test_stats_cli.c - drives `rollgate stats TEST` end to end: JSON in, JSON out, exit codes */
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "support/testutil.h"

static json_t *vectors;
static char workdir[4096];

typedef struct {
    int exit_code;
    char *out, *err;
} run_result;

static int setup(void **state)
{
    char path[4096];
    (void)state;
    rg_test_path(path, sizeof(path), "tests/data/reference/stats-vectors.json");
    vectors = json_load_file(path, 0, NULL);
    if (!vectors) {
        fprintf(stderr, "%s: missing or unreadable (it is part of the tree)\n", path);
        return -1;
    }
    return rg_test_mkdtemp(workdir, sizeof(workdir));
}

static int teardown(void **state)
{
    (void)state;
    json_decref(vectors);
    return rg_test_rmtree(workdir);
}

/* Runs the binary with `input` on stdin; stdout and stderr are captured whole. */
static run_result run_stats(const char *test, const char *input)
{
    char bin[4096], in[4200], out[4200], err[4200];
    run_result r = {-1, NULL, NULL};
    int status = 0;
    pid_t pid;

    snprintf(bin, sizeof(bin), "%s/cli/rollgate", rg_test_binary_dir());
    snprintf(in, sizeof(in), "%s/in.json", workdir);
    snprintf(out, sizeof(out), "%s/out.txt", workdir);
    snprintf(err, sizeof(err), "%s/err.txt", workdir);
    assert_int_equal(rg_test_write_file(in, input), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fi = open(in, O_RDONLY), fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fi < 0 || fo < 0 || fe < 0 || dup2(fi, 0) < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
            _exit(127);
        execl(bin, bin, "stats", test, (char *)NULL);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = rg_test_read_file(out, NULL);
    r.err = rg_test_read_file(err, NULL);
    assert_non_null(r.out);
    assert_non_null(r.err);
    return r;
}

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

/* Runs a valid case and returns its parsed output (exit 0, nothing on stderr). */
static json_t *run_ok(const char *test, json_t *input)
{
    char *text = json_dumps(input, JSON_REAL_PRECISION(17));
    run_result r = run_stats(test, text);
    json_t *out;
    free(text);
    json_decref(input);
    if (r.exit_code != 0)
        fail_msg("stats %s exited %d: %s", test, r.exit_code, r.err);
    assert_string_equal(r.err, "");
    out = json_loads(r.out, 0, NULL);
    assert_non_null(out);
    run_free(&r);
    return out;
}

static void expect_close(json_t *got, double want, double rel, const char *what)
{
    double g = json_number_value(got);
    if (!json_is_number(got) || fabs(g - want) > rel * fabs(want))
        fail_msg("%s: got %.17g, want %.17g", what, g, want);
}

static json_t *ref_case(const char *section, const char *id)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(vectors, section), i,
                       c) if (strcmp(json_string_value(json_object_get(c, "id")), id) ==
                              0) return c;
    fail_msg("reference case %s missing", id);
    return NULL;
}

#define REF(obj, ...) json_number_value(json_object_get(obj, __VA_ARGS__))

static void test_two_sample_tests_match_reference(void **state)
{
    json_t *c, *out, *mwu;
    (void)state;
    assert_non_null(vectors);
    c = ref_case("continuous", "c02_small_no_ties");
    mwu = json_object_get(c, "mannwhitneyu");
    out = run_ok("mann-whitney", json_pack("{s:O,s:O}", "x", json_object_get(c, "x_canary"), "y",
                                           json_object_get(c, "y_baseline")));
    expect_close(json_object_get(out, "p_value"), REF(json_object_get(mwu, "exact_two-sided"), "p"),
                 1e-9, "mwu p");
    expect_close(json_object_get(out, "statistic"),
                 REF(json_object_get(mwu, "exact_two-sided"), "U1"), 1e-9, "mwu U");
    assert_string_equal(json_string_value(json_object_get(out, "method")), "exact");
    json_decref(out);

    c = ref_case("continuous", "c01_small_ties");
    out = run_ok("welch", json_pack("{s:O,s:O}", "x", json_object_get(c, "x_canary"), "y",
                                    json_object_get(c, "y_baseline")));
    expect_close(json_object_get(out, "statistic"), REF(json_object_get(c, "welch"), "t"), 1e-9,
                 "welch t");
    expect_close(json_object_get(out, "df"),
                 REF(json_object_get(c, "welch"), "df_welch_satterthwaite"), 1e-9, "welch df");
    expect_close(json_object_get(out, "p_value"), REF(json_object_get(c, "welch"), "p_two_sided"),
                 1e-9, "welch p");
    json_decref(out);

    c = ref_case("continuous", "c08_large_normal");
    out = run_ok("hodges-lehmann",
                 json_pack("{s:O,s:O,s:f}", "x", json_object_get(c, "x_canary"), "y",
                           json_object_get(c, "y_baseline"), "confidence", 0.98));
    json_t *r = json_object_get(json_object_get(vectors, "r_crosscheck"), "c08_large_normal");
    assert_true(fabs(json_number_value(json_array_get(json_object_get(out, "ci"), 0)) -
                     REF(r, "hl98_ci_lower")) < 1e-3);
    assert_true(fabs(json_number_value(json_array_get(json_object_get(out, "ci"), 1)) -
                     REF(r, "hl98_ci_upper")) < 1e-3);
    expect_close(json_object_get(out, "estimate"), REF(c, "hodges_lehmann_median_pairwise_diff"),
                 1e-9, "hl estimate");
    json_decref(out);
}

static void test_count_tests_match_reference(void **state)
{
    json_t *p, *out;
    (void)state;
    assert_non_null(vectors);
    p = ref_case("proportions", "p03_typical_abandonment");
    out = run_ok("two-proportion",
                 json_pack("{s:O,s:O,s:O,s:O}", "x1", json_object_get(p, "xc"), "n1",
                           json_object_get(p, "nc"), "x2", json_object_get(p, "xb"), "n2",
                           json_object_get(p, "nb")));
    expect_close(json_object_get(out, "statistic"), REF(p, "z_pooled"), 1e-9, "z");
    expect_close(json_object_get(out, "p_value"), REF(p, "p_two_sided_pooled"), 1e-9, "z p");
    json_decref(out);

    p = ref_case("proportions", "p04_small_counts");
    out = run_ok("fisher", json_pack("{s:O,s:s}", "table",
                                     json_object_get(p, "table_[[canary_events,baseline_events],"
                                                        "[canary_non,baseline_non]]"),
                                     "alternative", "greater"));
    expect_close(json_object_get(out, "p_value"), REF(p, "fisher_p_greater"), 1e-7, "fisher p");
    expect_close(json_object_get(out, "odds_ratio"), REF(p, "fisher_odds_ratio"), 1e-9, "odds");
    json_decref(out);
}

static void test_sequential_tools_match_reference(void **state)
{
    json_t *seq, *design, *out, *polls = json_array(), *poll, *msprt, *last;
    size_t i;
    (void)state;
    if (!vectors)
        json_decref(polls);
    assert_non_null(vectors);
    seq = json_object_get(vectors, "sequential");
    design = json_object_get(json_object_get(seq, "lan_demets"), "K12");
    out = run_ok("boundaries", json_pack("{s:f,s:i}", "alpha", 0.025, "k", 12));
    assert_int_equal(json_array_size(json_object_get(out, "boundaries")), 12);
    for (i = 0; i < 12; i++)
        assert_true(fabs(json_number_value(json_array_get(json_object_get(out, "boundaries"), i)) -
                         json_number_value(json_array_get(
                             json_object_get(design, "obfPerSide_two_sided_z_boundaries"), i))) <
                    1e-4);
    json_decref(out);

    msprt = json_object_get(seq, "bernoulli_msprt");
    json_array_foreach(json_object_get(msprt, "polls"), i, poll)
        json_array_append(polls, json_object_get(poll, "running"));
    last = json_array_get(json_object_get(msprt, "polls"), 11);
    out = run_ok("msprt", json_pack("{s:s,s:f,s:O,s:o}", "kind", "proportion", "tau2",
                                    pow(REF(msprt, "tau"), 2), "alpha",
                                    json_object_get(msprt, "alpha"), "polls", polls));
    expect_close(json_object_get(out, "p_value"), REF(last, "msprt_always_valid_p"), 1e-9,
                 "msprt p");
    expect_close(json_object_get(out, "log_lambda"), REF(last, "msprt_log_lambda"), 1e-9,
                 "msprt log lambda");
    assert_int_equal(json_array_size(json_object_get(out, "polls")), 12);
    json_decref(out);
}

/* Exit 3, nothing on stdout, and stderr "rollgate: <field>: ..." */
static void expect_rejected(const char *test, const char *input, const char *prefix)
{
    run_result r = run_stats(test, input);
    if (r.exit_code != 3 || strncmp(r.err, prefix, strlen(prefix)) != 0)
        fail_msg("stats %s <<< %s: exit %d, stderr '%s' (want 3, '%s...')", test, input,
                 r.exit_code, r.err, prefix);
    assert_string_equal(r.out, "");
    run_free(&r);
}

static void test_invalid_input_exits_3_naming_the_field(void **state)
{
    (void)state;
    expect_rejected("welch", "{\"x\":[],\"y\":[1,2,3]}", "rollgate: x: empty sample\n");
    expect_rejected("mann-whitney", "{\"x\":[1,2],\"y\":[3,\"four\"]}",
                    "rollgate: y[1]: not a number\n");
    expect_rejected("hodges-lehmann", "{\"x\":[1,2],\"y\":[3,4],\"confidence\":\"high\"}",
                    "rollgate: confidence: expected a number\n");
    expect_rejected("two-proportion", "{\"x1\":11,\"n1\":10,\"x2\":1,\"n2\":10}",
                    "rollgate: x1: count 11 is above its total n1 = 10\n");
    expect_rejected("msprt",
                    "{\"kind\":\"proportion\",\"tau2\":1,\"x_c\":1,\"n_c\":5,"
                    "\"x_b\":9,\"n_b\":8}",
                    "rollgate: x_b: count 9 is above its total");
    expect_rejected("fisher", "{\"table\":[[1,2],[3", "rollgate: input: malformed JSON");
    expect_rejected("welch", "{\"x\":[NaN],\"y\":[1]}", "rollgate: input: malformed JSON");
    expect_rejected("t-test", "{}", "rollgate: TEST: unknown test 't-test'");
    expect_rejected("welch", "{\"x\":[1,2],\"y\":[3,4],\"tails\":2}",
                    "rollgate: tails: unknown key\n");
    expect_rejected("boundaries", "{\"alpha\":0.025,\"fractions\":[0.5,0.4]}",
                    "rollgate: fractions[1]: must increase\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_sample_tests_match_reference),
        cmocka_unit_test(test_count_tests_match_reference),
        cmocka_unit_test(test_sequential_tools_match_reference),
        cmocka_unit_test(test_invalid_input_exits_3_naming_the_field),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
