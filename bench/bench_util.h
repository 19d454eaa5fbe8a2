/* bench_util.h - small helpers the benchmarks share: run summaries and peak RSS */
#ifndef RG_BENCH_UTIL_H
#define RG_BENCH_UTIL_H

#include <stddef.h>

#include <jansson.h>

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

/* Writes a one-stage manifest ("stages: [100]", approval none) for the orgs in `orgs` (JSON
 * array of ids), in groups of at most 1,000, against `url` with env credentials; the change
 * moves all weight to queue_v2. `policy` is the policy block. 0 or RG_E*. */
int bench_write_manifest(const char *path, const char *url, const json_t *orgs, const char *policy);
/* The same with `stages` (a YAML flow list, e.g. "[10, 100]"). */
int bench_write_manifest_stages(const char *path, const char *url, const json_t *orgs,
                                const char *stages, const char *policy);
