/* decision_quality.c - benchmark: false rollbacks and power of the four judges, by Monte Carlo */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/dq_model.h"
#include "rollgate/util.h"

static const dq_cell cells[] = {
    {"healthy", 1.0, 0, 0},
    {"healthy, spike in every org", 1.0, 0, 1},
    {"abandonment +15%", 1.15, 0, 0},
    {"abandonment +30%", 1.30, 0, 0},
    {"abandonment +50%", 1.50, 0, 0},
    {"speed of answer +10 s", 1.0, 10, 0},
    {"speed of answer +20 s", 1.0, 20, 0},
};
#define NCELLS (sizeof(cells) / sizeof(cells[0]))

/* Per cell and judge: replications by the poll that tripped (0: never), and rollbacks when
 * a promotion ends the soak first. */
typedef struct {
    long trip_at[DQ_POLLS + 1];
    long rolled_back_with_promotion;
} dq_tally;

typedef struct {
    int thread, nthreads, reps;
    rg_stats_cache *cache;
    dq_tally tally[NCELLS][DQ_METHODS];
    int rc;
    char error[256];
} dq_worker;

static uint64_t rep_seed(size_t cell, int rep)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)cell << 32) ^ (uint64_t)rep;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h ? h : 1;
}

static void *run_worker(void *arg)
{
    dq_worker *w = arg;
    dq_telemetry *t = malloc(sizeof(*t));
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);

    if (t == NULL || rng == NULL) {
        w->rc = RG_ENOMEM;
        snprintf(w->error, sizeof(w->error), "out of memory");
        goto cleanup;
    }
    for (size_t c = 0; c < NCELLS && w->rc == 0; c++) {
        for (int r = w->thread; r < w->reps && w->rc == 0; r += w->nthreads) {
            gsl_rng_set(rng, (unsigned long)rep_seed(c, r));
            dq_simulate(t, &cells[c], rng);
            for (int m = 0; m < DQ_METHODS; m++) {
                dq_outcome o;
                if ((w->rc = dq_judge(&o, t, (dq_method)m, w->cache)) < 0) {
                    snprintf(w->error, sizeof(w->error), "%s", rg_error_last());
                    break;
                }
                w->tally[c][m].trip_at[o.trip_poll]++;
                if (o.trip_poll && (o.promote_poll == 0 || o.trip_poll < o.promote_poll))
                    w->tally[c][m].rolled_back_with_promotion++;
            }
        }
    }
cleanup:
    free(t);
    gsl_rng_free(rng);
    return NULL;
}

/* Share of replications that tripped by poll k. */
static double rate_by(const dq_tally *t, int k, int reps)
{
    long n = 0;
    for (int i = 1; i <= k; i++)
        n += t->trip_at[i];
    return (double)n / reps;
}

/* Median poll of the replications that tripped; 0 when none did. */
static double median_trip(const dq_tally *t)
{
    long total = 0, seen = 0;
    for (int i = 1; i <= DQ_POLLS; i++)
        total += t->trip_at[i];
    if (total == 0)
        return 0;
    for (int i = 1; i <= DQ_POLLS; i++) {
        seen += t->trip_at[i];
        if (2 * seen > total)
            return i;
        if (2 * seen == total) {
            int j = i + 1;
            while (t->trip_at[j] == 0)
                j++;
            return (i + j) / 2.0;
        }
    }
    return DQ_POLLS;
}

static void print_tables(const dq_tally tally[NCELLS][DQ_METHODS], int reps)
{
    printf("| cell | judge | rolled back by poll 12 | 95%% MC interval | with promotion on pass "
           "| median polls to trip |\n|---|---|---:|---|---:|---:|\n");
    for (size_t c = 0; c < NCELLS; c++)
        for (int m = 0; m < DQ_METHODS; m++) {
            const dq_tally *t = &tally[c][m];
            double p = rate_by(t, DQ_POLLS, reps), hw = 1.96 * sqrt(p * (1 - p) / reps);
            double med = median_trip(t);
            printf("| %s | %s | %.4f | %.4f–%.4f | ", cells[c].name, dq_method_name(m), p,
                   p - hw < 0 ? 0 : p - hw, p + hw > 1 ? 1 : p + hw);
            if (m == DQ_KAYENTA)
                printf("(no early pass) | ");
            else
                printf("%.4f | ", (double)t->rolled_back_with_promotion / reps);
            if (med > 0)
                printf("%.1f |\n", med);
            else
                printf("– |\n");
        }
    printf("\nFalse-rollback rate by number of polls (healthy change; soak runs every poll):\n\n"
           "| judge | spike |");
    for (int k = 1; k <= DQ_POLLS; k++)
        printf(" %d |", k);
    printf("\n|---|---|");
    for (int k = 1; k <= DQ_POLLS; k++)
        printf("---:|");
    printf("\n");
    for (int m = 0; m < DQ_METHODS; m++)
        for (int c = 0; c < 2; c++) {
            printf("| %s | %s |", dq_method_name(m), c ? "yes" : "no");
            for (int k = 1; k <= DQ_POLLS; k++)
                printf(" %.3f |", rate_by(&tally[c][m], k, reps));
            printf("\n");
        }
}

static const char *const colors[DQ_METHODS] = {"#1b6ca8", "#d1495b", "#edae49", "#00798c"};

static void svg_lines(FILE *f, const dq_tally tally[NCELLS][DQ_METHODS], int reps,
                      double ymax)
{
    for (int c = 0; c < 2; c++)
        for (int m = 0; m < DQ_METHODS; m++) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"",
                    colors[m], c ? " stroke-dasharray=\"6,4\"" : "");
            for (int k = 1; k <= DQ_POLLS; k++)
                fprintf(f, "%.1f,%.1f ", 70 + (k - 1) * 50.0,
                        370 - rate_by(&tally[c][m], k, reps) / ymax * 320);
            fprintf(f, "\"/>\n");
        }
}

static int write_svg(const char *path, const dq_tally tally[NCELLS][DQ_METHODS], int reps)
{
    FILE *f = fopen(path, "w");
    double ymax = 0.1;

    if (f == NULL)
        return rg_error_set(RG_EIO, "%s: cannot write the plot", path);
    for (int c = 0; c < 2; c++)
        for (int m = 0; m < DQ_METHODS; m++)
            while (rate_by(&tally[c][m], DQ_POLLS, reps) > ymax)
                ymax += 0.05;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"860\" height=\"430\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"860\" "
               "height=\"430\" fill=\"white\"/>\n<text x=\"70\" y=\"24\" font-size=\"14\">"
               "False-rollback rate vs polls (healthy change, %d replications; dashed: spike "
               "in every org)</text>\n", reps);
    for (int i = 0; i <= 4; i++) {
        double y = 370 - i * 80.0;
        fprintf(f, "<line x1=\"70\" x2=\"620\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#ddd\"/>"
                   "<text x=\"62\" y=\"%.0f\" text-anchor=\"end\">%.3f</text>\n",
                y, y, y + 4, ymax * i / 4);
    }
    for (int k = 1; k <= DQ_POLLS; k++)
        fprintf(f, "<text x=\"%.0f\" y=\"388\" text-anchor=\"middle\">%d</text>\n",
                70 + (k - 1) * 50.0, k);
    fprintf(f, "<text x=\"345\" y=\"410\" text-anchor=\"middle\">poll</text>\n");
    if (0.05 <= ymax)
        fprintf(f, "<line x1=\"70\" x2=\"620\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" "
                   "stroke-dasharray=\"2,3\"/><text x=\"625\" y=\"%.1f\">target 0.05</text>\n",
                370 - 0.05 / ymax * 320, 370 - 0.05 / ymax * 320, 374 - 0.05 / ymax * 320);
    svg_lines(f, tally, reps, ymax);
    for (int m = 0; m < DQ_METHODS; m++)
        fprintf(f, "<line x1=\"700\" x2=\"730\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" "
                   "stroke-width=\"2\"/><text x=\"736\" y=\"%d\">%s</text>\n",
                80 + m * 22, 80 + m * 22, colors[m], 84 + m * 22, dq_method_name(m));
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : rg_error_set(RG_EIO, "%s: write failed", path);
}

static int parse_args(int *reps, int *threads, const char **svg, int argc, char **argv)
{
    int64_t v;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            return rg_error_set(RG_EINVALID, "%s: needs a value", argv[i]);
        if (strcmp(argv[i], "--svg") == 0) {
            *svg = argv[i + 1];
            continue;
        }
        if (rg_parse_int64(&v, argv[i + 1], 1, 10000000) < 0)
            return rg_error_set(RG_EINVALID, "%s: %s", argv[i], rg_error_last());
        if (strcmp(argv[i], "--reps") == 0)
            *reps = (int)v;
        else if (strcmp(argv[i], "--threads") == 0 && v <= 64)
            *threads = (int)v;
        else
            return rg_error_set(RG_EINVALID, "%s: unknown option or out of range", argv[i]);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int reps = 2000, nthreads = 2, rc = 0;
    const char *svg = NULL;
    rg_stats_cache *cache = NULL;
    dq_worker *workers = NULL;
    pthread_t threads[64];
    int started[64] = {0};
    static dq_tally tally[NCELLS][DQ_METHODS];
    int64_t t0 = rg_time_mono_ms();

    if (parse_args(&reps, &nthreads, &svg, argc, argv) < 0) {
        fprintf(stderr, "decision_quality: %s\nusage: decision_quality [--reps N] "
                        "[--threads T] [--svg FILE]\n", rg_error_last());
        return 3;
    }
    if (rg_stats_cache_new(&cache) < 0 ||
        (workers = calloc((size_t)nthreads, sizeof(*workers))) == NULL) {
        fprintf(stderr, "decision_quality: out of memory\n");
        rg_stats_cache_free(cache);
        return 4;
    }
    for (int i = 0; i < nthreads; i++) {
        workers[i] = (dq_worker){.thread = i, .nthreads = nthreads, .reps = reps,
                                 .cache = cache};
        started[i] = pthread_create(&threads[i], NULL, run_worker, &workers[i]) == 0;
        if (!started[i])
            workers[i].rc = RG_ENOMEM;
    }
    for (int i = 0; i < nthreads; i++) {
        if (started[i])
            pthread_join(threads[i], NULL);
        if (workers[i].rc < 0) {
            fprintf(stderr, "decision_quality: %s\n",
                    workers[i].error[0] ? workers[i].error : "thread start failed");
            rc = 4;
        }
        for (size_t c = 0; c < NCELLS; c++)
            for (int m = 0; m < DQ_METHODS; m++) {
                for (int k = 0; k <= DQ_POLLS; k++)
                    tally[c][m].trip_at[k] += workers[i].tally[c][m].trip_at[k];
                tally[c][m].rolled_back_with_promotion +=
                    workers[i].tally[c][m].rolled_back_with_promotion;
            }
    }
    if (rc == 0) {
        print_tables((const dq_tally(*)[DQ_METHODS])tally, reps);
        printf("\n%d replications per cell, %d threads, %.1f s.\n", reps, nthreads,
               (double)(rg_time_mono_ms() - t0) / 1000.0);
        if (svg && write_svg(svg, (const dq_tally(*)[DQ_METHODS])tally, reps) < 0) {
            fprintf(stderr, "decision_quality: %s\n", rg_error_last());
            rc = 4;
        }
    }
    free(workers);
    rg_stats_cache_free(cache);
    return rc;
}
