/* cmd_stats.c - `rollgate stats TEST`: one statistical test, JSON on stdin, JSON on stdout */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "rollgate/util.h"
#include "rollgate/stats.h"

int rg_cmd_stats(rg_cli *cli, int argc, char **argv);

/* ---- reading the document: every problem names its field ---- */

static int check_keys(json_t *doc, const char *const *allowed)
{
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value)
    {
        int known = 0;
        (void)value;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key) == 0;
        if (!known)
            return rg_error_set(RG_EINVALID, "%s: unknown key", key);
    }
    return 0;
}

static int get_number(double *out, json_t *doc, const char *key, int required, double fallback)
{
    json_t *v = json_object_get(doc, key);
    if (!v) {
        if (required)
            return rg_error_set(RG_EINVALID, "%s: missing", key);
        *out = fallback;
        return 0;
    }
    if (!json_is_number(v))
        return rg_error_set(RG_EINVALID, "%s: expected a number", key);
    *out = json_number_value(v);
    if (!isfinite(*out))
        return rg_error_set(RG_EINVALID, "%s: not a finite number", key);
    return 0;
}

static int get_count(int64_t *out, json_t *doc, const char *key)
{
    json_t *v = json_object_get(doc, key);
    if (!v)
        return rg_error_set(RG_EINVALID, "%s: missing", key);
    if (!json_is_integer(v))
        return rg_error_set(RG_EINVALID, "%s: expected a whole number", key);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

/* A numeric array; the caller frees *out (NULL for an empty array). */
static int get_sample(double **out, size_t *n, json_t *doc, const char *key)
{
    json_t *arr = json_object_get(doc, key), *v;
    double *values;
    size_t i;

    if (!arr)
        return rg_error_set(RG_EINVALID, "%s: missing", key);
    if (!json_is_array(arr))
        return rg_error_set(RG_EINVALID, "%s: expected an array of numbers", key);
    *out = NULL;
    *n = 0;
    if (json_array_size(arr) == 0)
        return 0;
    if (!(values = malloc(json_array_size(arr) * sizeof(double))))
        return rg_error_set(RG_ENOMEM, "%s: out of memory", key);
    json_array_foreach(arr, i, v)
    {
        if (!json_is_number(v)) {
            free(values);
            return rg_error_set(RG_EINVALID, "%s[%zu]: not a number", key, i);
        }
        values[i] = json_number_value(v);
    }
    *out = values;
    *n = json_array_size(arr);
    return 0;
}

static int get_alternative(rg_stats_alternative *out, json_t *doc)
{
    json_t *v = json_object_get(doc, "alternative");
    *out = RG_ALT_TWO_SIDED;
    if (!v)
        return 0;
    return rg_stats_alternative_parse(out, json_string_value(v));
}

static json_t *real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* ---- the tests ---- */

typedef int (*stats_runner)(json_t **out, json_t *doc);

static int run_two_samples(json_t **out, json_t *doc, int which)
{
    double *x = NULL, *y = NULL, confidence = 0.95;
    size_t nx = 0, ny = 0;
    rg_stats_alternative alt;
    int rc;

    if ((rc = get_sample(&x, &nx, doc, "x")) < 0 || (rc = get_sample(&y, &ny, doc, "y")) < 0 ||
        (rc = get_alternative(&alt, doc)) < 0)
        goto cleanup;
    if (which == 0) {
        rg_stats_mwu_method method = RG_MWU_AUTO;
        json_t *m = json_object_get(doc, "method"), *cc = json_object_get(doc, "use_continuity");
        rg_stats_mwu_result r;
        if (m && (rc = rg_stats_mwu_method_parse(&method, json_string_value(m))) < 0)
            goto cleanup;
        if (cc && !json_is_boolean(cc)) {
            rc = rg_error_set(RG_EINVALID, "use_continuity: expected true or false");
            goto cleanup;
        }
        if ((rc = rg_stats_mann_whitney(&r, x, nx, y, ny, alt, method, cc ? json_is_true(cc) : 1)) <
            0)
            goto cleanup;
        *out = json_pack("{s:o,s:o,s:s}", "statistic", json_real(r.statistic), "p_value",
                         json_real(r.p_value), "method", rg_stats_mwu_method_name(r.method));
    } else if (which == 1) {
        rg_stats_welch_result r;
        if ((rc = rg_stats_welch(&r, x, nx, y, ny, alt)) < 0)
            goto cleanup;
        *out = json_pack("{s:o,s:o,s:o}", "statistic", json_real(r.statistic), "df",
                         json_real(r.df), "p_value", json_real(r.p_value));
    } else {
        rg_stats_hl_result r;
        if ((rc = get_number(&confidence, doc, "confidence", 0, 0.95)) < 0 ||
            (rc = rg_stats_hodges_lehmann(&r, x, nx, y, ny, confidence, alt)) < 0)
            goto cleanup;
        *out = json_pack("{s:o,s:[o,o]}", "estimate", json_real(r.estimate), "ci",
                         real_or_null(r.ci_lo), real_or_null(r.ci_hi));
    }
cleanup:
    free(x);
    free(y);
    return rc;
}

static int run_mann_whitney(json_t **out, json_t *doc)
{
    return run_two_samples(out, doc, 0);
}
static int run_welch(json_t **out, json_t *doc)
{
    return run_two_samples(out, doc, 1);
}
static int run_hodges_lehmann(json_t **out, json_t *doc)
{
    return run_two_samples(out, doc, 2);
}

static int run_two_proportion(json_t **out, json_t *doc)
{
    int64_t x1 = 0, n1 = 0, x2 = 0, n2 = 0;
    rg_stats_alternative alt;
    rg_stats_z_result r;
    int rc;

    if ((rc = get_count(&x1, doc, "x1")) < 0 || (rc = get_count(&n1, doc, "n1")) < 0 ||
        (rc = get_count(&x2, doc, "x2")) < 0 || (rc = get_count(&n2, doc, "n2")) < 0 ||
        (rc = get_alternative(&alt, doc)) < 0 ||
        (rc = rg_stats_two_proportion(&r, x1, n1, x2, n2, alt)) < 0)
        return rc;
    *out = json_pack("{s:o,s:o}", "statistic", json_real(r.statistic), "p_value",
                     json_real(r.p_value));
    return 0;
}

static int run_fisher(json_t **out, json_t *doc)
{
    json_t *t = json_object_get(doc, "table");
    int64_t table[2][2];
    rg_stats_alternative alt;
    rg_stats_fisher_result r;
    int rc;

    if (!t)
        return rg_error_set(RG_EINVALID, "table: missing");
    if (!json_is_array(t) || json_array_size(t) != 2)
        return rg_error_set(RG_EINVALID, "table: expected [[a, b], [c, d]]");
    for (size_t i = 0; i < 2; i++) {
        json_t *row = json_array_get(t, i);
        if (!json_is_array(row) || json_array_size(row) != 2)
            return rg_error_set(RG_EINVALID, "table[%zu]: expected two counts", i);
        for (size_t j = 0; j < 2; j++) {
            json_t *cell = json_array_get(row, j);
            if (!json_is_integer(cell))
                return rg_error_set(RG_EINVALID, "table[%zu][%zu]: expected a whole number", i, j);
            table[i][j] = (int64_t)json_integer_value(cell);
        }
    }
    if ((rc = get_alternative(&alt, doc)) < 0 ||
        (rc = rg_stats_fisher(&r, (const int64_t(*)[2])table, alt)) < 0)
        return rc;
    *out = json_pack("{s:o,s:o}", "odds_ratio", real_or_null(r.odds_ratio), "p_value",
                     json_real(r.p_value));
    return 0;
}

static int run_boundaries(json_t **out, json_t *doc)
{
    double alpha = 0, fractions[RG_STATS_MAX_LOOKS], b[RG_STATS_MAX_LOOKS], *given = NULL, k = 0;
    rg_spending_kind spending = RG_SPENDING_OBRIEN_FLEMING;
    json_t *arr, *sv = json_object_get(doc, "spending");
    size_t n = 0;
    int rc;

    if ((rc = get_number(&alpha, doc, "alpha", 0, 0.025)) < 0)
        return rc;
    if (sv && (rc = rg_spending_kind_parse(&spending, json_string_value(sv))) < 0)
        return rc;
    if (json_object_get(doc, "fractions") && json_object_get(doc, "k"))
        return rg_error_set(RG_EINVALID, "k: give either k or fractions, not both");
    if (json_object_get(doc, "fractions")) {
        if ((rc = get_sample(&given, &n, doc, "fractions")) < 0)
            return rc;
        if (n == 0 || n > RG_STATS_MAX_LOOKS) {
            free(given);
            return rg_error_set(RG_EINVALID, "fractions: need 1 to %d values", RG_STATS_MAX_LOOKS);
        }
        memcpy(fractions, given, n * sizeof(double));
        free(given);
    } else {
        if ((rc = get_number(&k, doc, "k", 1, 0)) < 0)
            return rc;
        if (k != floor(k) || k < 1 || k > RG_STATS_MAX_LOOKS)
            return rg_error_set(RG_EINVALID, "k: expected a whole number from 1 to %d",
                                RG_STATS_MAX_LOOKS);
        n = (size_t)k;
        for (size_t i = 0; i < n; i++)
            fractions[i] = (double)(i + 1) / (double)n;
    }
    if ((rc = rg_stats_boundaries(b, fractions, n, alpha, spending)) < 0)
        return rc;
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_real(b[i]));
    *out = json_pack("{s:o}", "boundaries", arr);
    return 0;
}

/* One poll's estimate for `kind` from its running sums (keys named as in the help text). */
static int msprt_estimate(double *theta, double *v, json_t *doc, const char *kind)
{
    int rc;
    if (strcmp(kind, "mean") == 0) {
        static const char *keys[] = {"n_c", "sum_c", "sumsq_c", "n_b", "sum_b", "sumsq_b"};
        double val[6];
        for (int i = 0; i < 6; i++)
            if ((rc = get_number(&val[i], doc, keys[i], 1, 0)) < 0)
                return rc;
        rg_stats_moments c = {val[0], val[1], val[2]}, b = {val[3], val[4], val[5]};
        return rg_stats_mean_difference(theta, v, &c, &b);
    }
    if (strcmp(kind, "proportion") == 0) {
        int64_t xc = 0, nc = 0, xb = 0, nb = 0;
        if ((rc = get_count(&xc, doc, "x_c")) < 0 || (rc = get_count(&nc, doc, "n_c")) < 0 ||
            (rc = get_count(&xb, doc, "x_b")) < 0 || (rc = get_count(&nb, doc, "n_b")) < 0)
            return rc;
        return rg_stats_proportion_difference(theta, v, xc, nc, xb, nb);
    }
    if (strcmp(kind, "normal") == 0) {
        if ((rc = get_number(theta, doc, "theta", 1, 0)) < 0 ||
            (rc = get_number(v, doc, "v", 1, 0)) < 0)
            return rc;
        return 0;
    }
    return rg_error_set(RG_EINVALID, "kind: expected mean, proportion or normal");
}

static const char *const msprt_poll_keys[] = {"n_c", "sum_c", "sumsq_c", "n_b", "sum_b", "sumsq_b",
                                              "x_c", "x_b",   "theta",   "v",   NULL};

static int run_msprt(json_t **out, json_t *doc)
{
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    json_t *polls = json_object_get(doc, "polls"), *list = NULL, *poll;
    double tau2 = 0, alpha = 0, theta0 = 0, prev = 1, theta = 0, v = 0;
    rg_stats_msprt_result r = {0};
    size_t i, n = polls ? json_array_size(polls) : 1;
    int rc;

    if (!kind)
        return rg_error_set(RG_EINVALID, "kind: expected mean, proportion or normal");
    if ((rc = get_number(&tau2, doc, "tau2", 1, 0)) < 0 ||
        (rc = get_number(&alpha, doc, "alpha", 0, 0.05)) < 0 ||
        (rc = get_number(&theta0, doc, "theta0", 0, 0.0)) < 0 ||
        (rc = get_number(&prev, doc, "prev_p", 0, 1.0)) < 0)
        return rc;
    if (polls && (!json_is_array(polls) || n == 0))
        return rg_error_set(RG_EINVALID, "polls: expected a non-empty array of running sums");
    for (const char *const *k = msprt_poll_keys; polls && *k; k++)
        if (json_object_get(doc, *k))
            return rg_error_set(RG_EINVALID, "%s: give the running sums in polls only", *k);
    list = json_array();
    for (i = 0; i < n; i++) {
        poll = polls ? json_array_get(polls, i) : doc;
        if (polls && (!json_is_object(poll) || (rc = check_keys(poll, msprt_poll_keys)) < 0)) {
            rc = json_is_object(poll)
                     ? rg_error_prefix("polls[%zu]", i)
                     : rg_error_set(RG_EINVALID, "polls[%zu]: expected an object", i);
            goto cleanup;
        }
        if ((rc = msprt_estimate(&theta, &v, poll, kind)) < 0 ||
            (rc = rg_stats_msprt(&r, theta, v, theta0, tau2, alpha, prev)) < 0) {
            if (polls)
                rg_error_prefix("polls[%zu]", i);
            goto cleanup;
        }
        prev = r.p_value;
        json_array_append_new(
            list, json_pack("{s:o,s:o,s:o,s:o,s:[o,o]}", "theta", json_real(r.theta), "v",
                            json_real(r.v), "log_lambda", json_real(r.log_lambda), "p_value",
                            json_real(r.p_value), "ci", json_real(r.ci_lo), json_real(r.ci_hi)));
    }
    *out = json_pack("{s:o,s:[o,o],s:o,s:o,s:o,s:O}", "p_value", json_real(r.p_value), "ci",
                     json_real(r.ci_lo), json_real(r.ci_hi), "theta", json_real(r.theta), "v",
                     json_real(r.v), "log_lambda", json_real(r.log_lambda), "polls", list);
cleanup:
    json_decref(list);
    return rc;
}

typedef struct {
    const char *name;
    stats_runner run;
    const char *keys[16];
} stats_test;

static const stats_test stats_tests[] = {
    {"mann-whitney", run_mann_whitney, {"x", "y", "alternative", "method", "use_continuity"}},
    {"welch", run_welch, {"x", "y", "alternative"}},
    {"two-proportion", run_two_proportion, {"x1", "n1", "x2", "n2", "alternative"}},
    {"fisher", run_fisher, {"table", "alternative"}},
    {"hodges-lehmann", run_hodges_lehmann, {"x", "y", "confidence", "alternative"}},
    {"msprt",
     run_msprt,
     {"kind", "tau2", "alpha", "theta0", "prev_p", "polls", "n_c", "sum_c", "sumsq_c", "n_b",
      "sum_b", "sumsq_b", "x_c", "x_b", "theta", "v"}},
    {"boundaries", run_boundaries, {"alpha", "k", "fractions", "spending"}},
};

static int read_document(json_t **out)
{
    json_error_t err;
    json_t *doc = json_loadf(stdin, JSON_REJECT_DUPLICATES, &err);
    if (!doc)
        return rg_error_set(RG_EINVALID, "input: malformed JSON at line %d, column %d: %s",
                            err.line, err.column, err.text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return rg_error_set(RG_EINVALID, "input: expected a JSON object");
    }
    *out = doc;
    return 0;
}

static int run_test(rg_cli *cli, const stats_test *test)
{
    json_t *doc = NULL, *result = NULL;
    char *text = NULL;
    int rc;

    if ((rc = read_document(&doc)) < 0 || (rc = check_keys(doc, test->keys)) < 0 ||
        (rc = test->run(&result, doc)) < 0)
        goto cleanup;
    /* Reals in their shortest round-trip form: exact, and 0.05 reads as 0.05. */
    if (!result || !(text = rg_json_dumps(result, JSON_COMPACT))) {
        rc = rg_error_set(RG_ENOMEM, "stats: out of memory formatting the result");
        goto cleanup;
    }
    fprintf(cli->out, "%s\n", text);
    cli->printed = 1;
cleanup:
    free(text);
    json_decref(result);
    json_decref(doc);
    return rc < 0 ? rg_cli_fail(cli) : RG_EXIT_OK;
}

int rg_cmd_stats(rg_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {RG_CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    const rg_cli_command *self = &rg_cli_commands[0];
    int c, stop;

    for (const rg_cli_command *k = rg_cli_commands; k->name; k++)
        if (k->run == rg_cmd_stats)
            self = k;
    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1)
        if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0)
            return stop;
    if (optind + 1 != argc)
        return rg_cli_usage(cli, self, "stats takes exactly one TEST");
    for (size_t i = 0; i < sizeof(stats_tests) / sizeof(stats_tests[0]); i++)
        if (strcmp(stats_tests[i].name, argv[optind]) == 0)
            return run_test(cli, &stats_tests[i]);
    rg_cli_error(cli,
                 "TEST: unknown test '%s' (mann-whitney, welch, two-proportion, fisher, "
                 "hodges-lehmann, msprt, boundaries)",
                 argv[optind]);
    return RG_EXIT_USAGE;
}
