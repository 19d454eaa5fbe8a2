/* test_stats_scipy.c - `rollgate stats` against SciPy itself on random samples: Mann-Whitney,
 * Welch and Fisher agree with scipy.stats to 1e-9 on cases no reference file fixed in
 * advance. Needs python3 with SciPy (scripts/deps.sh --with-scipy); SKIPPED without it,
 * and required in CI (.ci/run) */
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
#include "support/skip.h"
#include "support/testutil.h"

#define CASES 40

static char dir[4096];

static int setup(void **state)
{
    (void)state;
    return rg_test_mkdtemp(dir, sizeof(dir));
}

static int teardown(void **state)
{
    (void)state;
    return dir[0] ? rg_test_rmtree(dir) : 0;
}

/* SciPy's side: one JSON list of cases in, one list of results out. */
static const char scipy_script[] =
    "import json, math, sys\n"
    "import scipy.stats as st\n"
    "fin = lambda v: float(v) if math.isfinite(v) else None\n"
    "out = []\n"
    "for c in json.load(sys.stdin):\n"
    "    x, y = c['x'], c['y']\n"
    "    m = st.mannwhitneyu(x, y, use_continuity=True, alternative=c['alt'])\n"
    "    w = st.ttest_ind(x, y, equal_var=False, alternative=c['alt'])\n"
    "    n1, n2 = len(x), len(y)\n"
    "    v1, v2 = st.tvar(x) / n1, st.tvar(y) / n2\n"
    "    df = (v1 + v2) ** 2 / (v1 ** 2 / (n1 - 1) + v2 ** 2 / (n2 - 1))\n"
    "    odds, fp = st.fisher_exact(c['table'], alternative=c['alt'])\n"
    "    out.append({'mwu_u': fin(m.statistic), 'mwu_p': fin(m.pvalue),\n"
    "                'welch_t': fin(w.statistic), 'welch_p': fin(w.pvalue),\n"
    "                'welch_df': fin(df), 'fisher_or': fin(odds), 'fisher_p': fin(fp)})\n"
    "json.dump(out, sys.stdout)\n";

/* A python that imports scipy.stats, or NULL. */
static const char *find_scipy(void)
{
    static const char *const candidates[] = {"python3", "/usr/bin/python3", NULL};
    for (size_t i = 0; candidates[i]; i++) {
        char cmd[256];
        int status;
        snprintf(cmd, sizeof(cmd), "%s -c 'import scipy.stats' >/dev/null 2>&1", candidates[i]);
        status = system(cmd);
        if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
            return candidates[i];
    }
    return NULL;
}

static uint64_t rng = 0x2545F4914F6CDD1DULL;

static double uniform(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* Values rounded to one decimal (ties happen, as in bucketed telemetry). */
static json_t *sample(int n, double shift)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        double v = shift + 20.0 * (uniform() + uniform() + uniform()) / 3.0;
        json_array_append_new(a, json_real(round(v * 10.0) / 10.0));
    }
    return a;
}

static json_t *make_cases(void)
{
    static const char *const alts[] = {"two-sided", "greater", "less"};
    json_t *cases = json_array();
    for (int i = 0; i < CASES; i++) {
        int n1 = 3 + (int)(uniform() * 30), n2 = 3 + (int)(uniform() * 30);
        int a = (int)(uniform() * 12), b = (int)(uniform() * 12);
        json_t *x = sample(n1, uniform() * 4.0), *y = sample(n2, 0.0);
        if (i % 4 == 0) { /* small and with distinct values: the exact Mann-Whitney path */
            json_decref(x);
            json_decref(y);
            x = json_array();
            y = json_array();
            for (int k = 0; k < 6; k++) {
                json_array_append_new(x, json_real(k * 1.7 + uniform() * 0.5 + 0.01 * i));
                json_array_append_new(y, json_real(k * 1.3 + uniform() * 0.5 + 0.02));
            }
        }
        json_array_append_new(
            cases, json_pack("{s:o, s:o, s:s, s:[[i,i],[i,i]]}", "x", x, "y", y, "alt", alts[i % 3],
                             "table", a, b, (int)(uniform() * 40) + 1, (int)(uniform() * 40) + 1));
    }
    return cases;
}

/* `rollgate stats TEST` on `input`; the parsed output (exit 0 required). */
static json_t *rollgate_stats(const char *test, json_t *input)
{
    char in[4200], out[4200], cmd[13000];
    char *text = json_dumps(input, JSON_REAL_PRECISION(17)), *result;
    json_t *doc;
    int status;

    snprintf(in, sizeof(in), "%s/in.json", dir);
    snprintf(out, sizeof(out), "%s/out.json", dir);
    assert_int_equal(rg_test_write_file(in, text), 0);
    free(text);
    json_decref(input);
    snprintf(cmd, sizeof(cmd), "'%s/cli/rollgate' stats %s <'%s' >'%s'", rg_test_binary_dir(), test,
             in, out);
    status = system(cmd);
    assert_true(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    result = rg_test_read_file(out, NULL);
    assert_non_null(result);
    doc = json_loads(result, 0, NULL);
    free(result);
    assert_non_null(doc);
    return doc;
}

static void expect_close(const json_t *got, const json_t *want, double rel, int i, const char *what)
{
    double g = json_number_value(got), w = json_number_value(want);
    if (!json_is_number(got) || !json_is_number(want) ||
        !(g == w || fabs(g - w) <= rel * fmax(fabs(w), 1e-300)))
        fail_msg("case %d %s: rollgate %.17g, SciPy %.17g", i, what, g, w);
}

static void test_stats_agree_with_scipy(void **state)
{
    const char *python = find_scipy();
    char script[4200], cases_path[4200], out_path[4200], cmd[13000];
    json_t *cases, *want, *c;
    char *text;
    size_t i;
    int status;
    (void)state;

    if (python == NULL)
        rg_test_skip("no python3 with SciPy (scripts/deps.sh --with-scipy installs it)");
    cases = make_cases();
    snprintf(script, sizeof(script), "%s/scipy_side.py", dir);
    snprintf(cases_path, sizeof(cases_path), "%s/cases.json", dir);
    snprintf(out_path, sizeof(out_path), "%s/scipy.json", dir);
    assert_int_equal(rg_test_write_file(script, scipy_script), 0);
    text = json_dumps(cases, JSON_REAL_PRECISION(17));
    assert_int_equal(rg_test_write_file(cases_path, text), 0);
    free(text);
    snprintf(cmd, sizeof(cmd), "%s '%s' <'%s' >'%s'", python, script, cases_path, out_path);
    status = system(cmd);
    assert_true(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    text = rg_test_read_file(out_path, NULL);
    assert_non_null(text);
    want = json_loads(text, 0, NULL);
    free(text);
    assert_int_equal(json_array_size(want), CASES);

    json_array_foreach(cases, i, c)
    {
        const json_t *w = json_array_get(want, i);
        json_t *x = json_object_get(c, "x"), *y = json_object_get(c, "y");
        const char *alt = json_string_value(json_object_get(c, "alt"));
        json_t *got = rollgate_stats(
            "mann-whitney", json_pack("{s:O, s:O, s:s}", "x", x, "y", y, "alternative", alt));
        expect_close(json_object_get(got, "statistic"), json_object_get(w, "mwu_u"), 1e-12, (int)i,
                     "Mann-Whitney U");
        expect_close(json_object_get(got, "p_value"), json_object_get(w, "mwu_p"), 1e-9, (int)i,
                     "Mann-Whitney p");
        json_decref(got);
        got = rollgate_stats("welch",
                             json_pack("{s:O, s:O, s:s}", "x", x, "y", y, "alternative", alt));
        expect_close(json_object_get(got, "statistic"), json_object_get(w, "welch_t"), 1e-9, (int)i,
                     "Welch t");
        expect_close(json_object_get(got, "df"), json_object_get(w, "welch_df"), 1e-9, (int)i,
                     "Welch df");
        expect_close(json_object_get(got, "p_value"), json_object_get(w, "welch_p"), 1e-8, (int)i,
                     "Welch p");
        json_decref(got);
        got = rollgate_stats("fisher", json_pack("{s:O, s:s}", "table", json_object_get(c, "table"),
                                                 "alternative", alt));
        expect_close(json_object_get(got, "p_value"), json_object_get(w, "fisher_p"), 1e-7, (int)i,
                     "Fisher p");
        if (json_is_number(json_object_get(w, "fisher_or"))) /* null: SciPy's inf */
            expect_close(json_object_get(got, "odds_ratio"), json_object_get(w, "fisher_or"), 1e-12,
                         (int)i, "Fisher odds ratio");
        json_decref(got);
    }
    json_decref(want);
    json_decref(cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_stats_agree_with_scipy)};
    return rg_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
