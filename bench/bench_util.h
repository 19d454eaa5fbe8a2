/* bench_util.h - small helpers the benchmarks share: run summaries and peak RSS */
#ifndef RG_BENCH_UTIL_H
#define RG_BENCH_UTIL_H

#include <stddef.h>

/* Median, min and max of n >= 1 values (sorts `v` in place). */
typedef struct {
    double median, min, max;
} bench_summary;

void bench_summarize(bench_summary *out, double *v, size_t n);
/* "12.3 (11.9–13.0)" with `decimals` digits, into out. */
const char *bench_format(char *out, size_t outlen, const bench_summary *s, int decimals);
/* This process's peak resident set size in MiB (getrusage ru_maxrss). */
double bench_peak_rss_mib(void);

#endif
