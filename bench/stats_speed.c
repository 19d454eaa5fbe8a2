/* stats_speed.c - benchmark: Mann-Whitney and Welch on 2 x 10^6 values, against SciPy */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "bench/bench_util.h"
#include "rollgate/stats.h"
#include "rollgate/util.h"

#define N_EACH 1000000
#define MAX_RUNS 50

typedef struct {
    bench_summary ms;
    double p;
    int ok;
} timing;

/* Two samples: standard normal and a shift of 0.002 sd, rounded to 1e-3 so ties occur
 * (the tie correction is part of the work), p in a range where 1e-9 is a real check. */
static int make_samples(double **x, double **y)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);
    *x = malloc(N_EACH * sizeof(double));
    *y = malloc(N_EACH * sizeof(double));
    if (rng == NULL || *x == NULL || *y == NULL) {
        gsl_rng_free(rng);
        return rg_error_set(RG_ENOMEM, "out of memory for the samples");
    }
    gsl_rng_set(rng, 20240610);
    for (size_t i = 0; i < N_EACH; i++) {
        (*x)[i] = round((gsl_ran_gaussian_ziggurat(rng, 1.0) + 0.002) * 1000.0) / 1000.0;
        (*y)[i] = round(gsl_ran_gaussian_ziggurat(rng, 1.0) * 1000.0) / 1000.0;
    }
    gsl_rng_free(rng);
    return 0;
}

static int time_rollgate(timing *mwu, timing *welch, const double *x, const double *y, int runs)
{
    double tm[MAX_RUNS], tw[MAX_RUNS];
    int rc;

    for (int r = 0; r < runs; r++) {
        rg_stats_mwu_result m;
        rg_stats_welch_result w;
        struct timespec a, b, c;

        clock_gettime(CLOCK_MONOTONIC, &a);
        if ((rc = rg_stats_mann_whitney(&m, x, N_EACH, y, N_EACH, RG_ALT_TWO_SIDED,
                                        RG_MWU_ASYMPTOTIC, 1)) < 0)
            return rc;
        clock_gettime(CLOCK_MONOTONIC, &b);
        if ((rc = rg_stats_welch(&w, x, N_EACH, y, N_EACH, RG_ALT_TWO_SIDED)) < 0)
            return rc;
        clock_gettime(CLOCK_MONOTONIC, &c);
        tm[r] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        tw[r] = (double)(c.tv_sec - b.tv_sec) * 1e3 + (double)(c.tv_nsec - b.tv_nsec) / 1e6;
        mwu->p = m.p_value;
        welch->p = w.p_value;
    }
    bench_summarize(&mwu->ms, tm, (size_t)runs);
    bench_summarize(&welch->ms, tw, (size_t)runs);
    mwu->ok = welch->ok = 1;
    return 0;
}

static int write_f64(const char *path, const double *v)
{
    FILE *f = fopen(path, "wb");
    size_t n;
    if (f == NULL)
        return rg_error_set(RG_EIO, "%s: cannot write", path);
    n = fwrite(v, sizeof(double), N_EACH, f); /* x86-64 / aarch64: little-endian doubles */
    if (fclose(f) != 0 || n != N_EACH)
        return rg_error_set(RG_EIO, "%s: short write", path);
    return 0;
}

static int parse_line(timing *t, const char *line, const char *name)
{
    char key[16];
    timing v = {0};
    /* Bench command line typed by hand; a bad value shows in the output. */
    // NOLINTNEXTLINE(cert-err34-c)
    if (sscanf(line, "%15s %lf %lf %lf %lf", key, &v.ms.median, &v.ms.min, &v.ms.max, &v.p) != 5 ||
        strcmp(key, name) != 0)
        return -1;
    v.ok = 1;
    *t = v;
    return 0;
}

/* Runs bench/scipy_speed.py with `python`; a missing SciPy leaves both timings !ok and
 * puts the reason in `note`. */
static void time_scipy(timing *mwu, timing *welch, char *note, size_t notelen, const char *python,
                       const char *script, const char *dir, const double *x, const double *y,
                       int runs)
{
    char xs[4200], ys[4200], cmd[13000], line[512];
    FILE *p;
    int status;

    snprintf(xs, sizeof(xs), "%s/x.f64", dir);
    snprintf(ys, sizeof(ys), "%s/y.f64", dir);
    if (write_f64(xs, x) < 0 || write_f64(ys, y) < 0) {
        snprintf(note, notelen, "%s", rg_error_last());
        return;
    }
    snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s' '%s' %d 2>&1", python, script, xs, ys, runs);
    if ((p = popen(cmd, "r")) == NULL) {
        snprintf(note, notelen, "cannot run %s", python);
        return;
    }
    while (fgets(line, sizeof(line), p)) {
        if (parse_line(mwu, line, "mwu") == 0 || parse_line(welch, line, "welch") == 0)
            continue;
        line[strcspn(line, "\n")] = '\0';
        snprintf(note, notelen, "%s", line); /* the version line, or SciPy's absence */
    }
    status = pclose(p);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        mwu->ok = welch->ok = 0;
    remove(xs);
    remove(ys);
}

static void print_row(const char *name, const timing *rg, const timing *sp)
{
    char a[96], b[96];
    printf("| %s | %s | ", name, bench_format(a, sizeof(a), &rg->ms, 1));
    if (!sp->ok) {
        printf("skipped | – | %.12g | – |\n", rg->p);
        return;
    }
    printf("%s | %.1fx | %.12g / %.12g | %.2e %s |\n", bench_format(b, sizeof(b), &sp->ms, 1),
           sp->ms.median / rg->ms.median, rg->p, sp->p, fabs(rg->p - sp->p),
           fabs(rg->p - sp->p) <= 1e-9 ? "(within 1e-9)" : "(NOT within 1e-9)");
}

int main(int argc, char **argv)
{
    const char *python = argc > 1 ? argv[1] : NULL, *script = argc > 2 ? argv[2] : NULL;
    const char *dir = argc > 3 ? argv[3] : "/tmp";
    double *x = NULL, *y = NULL;
    timing rm = {0}, rw = {0}, sm = {0}, sw = {0};
    char note[512] = "";
    int runs = 5, rc = 0;

    if (argc != 1 && argc != 4) {
        fprintf(stderr, "usage: stats_speed [PYTHON SCIPY_SCRIPT SCRATCH_DIR]\n");
        return 3;
    }
    if (make_samples(&x, &y) < 0 || time_rollgate(&rm, &rw, x, y, runs) < 0) {
        fprintf(stderr, "stats_speed: %s\n", rg_error_last());
        rc = 4;
        goto cleanup;
    }
    if (python)
        time_scipy(&sm, &sw, note, sizeof(note), python, script, dir, x, y, runs);
    else
        snprintf(note, sizeof(note), "no python given");
    printf("Two samples of %d values each (2 x 10^6 in all), normal with a 0.002 sd shift, "
           "rounded to 1e-3 (ties); two-sided; %d runs each. Times in ms, median (min–max).\n\n"
           "| test | rollgate | SciPy | SciPy / rollgate | p rollgate / SciPy | |Δp| |\n"
           "|---|---:|---:|---:|---|---|\n",
           N_EACH, runs);
    print_row("Mann-Whitney U (asymptotic, tie + continuity correction)", &rm, &sm);
    print_row("Welch t", &rw, &sw);
    printf("\nSciPy: %s%s\n", note[0] ? note : "(no output)",
           sm.ok ? "" : " — the SciPy column is skipped. Install Debian's python3-scipy.");
cleanup:
    free(x);
    free(y);
    return rc;
}
