/* bench_util.c - small helpers the benchmarks share: run summaries and peak RSS */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "bench/bench_util.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_summarize(bench_summary *out, double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    out->min = v[0];
    out->max = v[n - 1];
    out->median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

const char *bench_format(char *out, size_t outlen, const bench_summary *s, int decimals)
{
    snprintf(out, outlen, "%.*f (%.*f–%.*f)", decimals, s->median, decimals, s->min, decimals,
             s->max);
    return out;
}

double bench_peak_rss_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}
