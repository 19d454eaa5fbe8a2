/* bench_util.c - small helpers the benchmarks share: run summaries and peak RSS */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "bench/bench_util.h"
#include "rollgate/util.h"

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

int bench_write_manifest(const char *path, const char *url, const json_t *orgs, const char *policy)
{
    return bench_write_manifest_stages(path, url, orgs, "[100]", policy);
}

int bench_write_manifest_stages(const char *path, const char *url, const json_t *orgs,
                                const char *stages, const char *policy)
{
    rg_buf m = RG_BUF_INIT;
    size_t n = json_array_size(orgs);
    FILE *f = NULL;
    int rc = 0;

    rg_buf_printf(&m,
                  "name: bench-routing\ntenant: bench\nstages: %s\napproval: none\n"
                  "platform: {driver: genesys, api_url: \"%s\", login_url: \"%s\", "
                  "credentials: env}\ngroups:\n",
                  stages, url, url);
    for (size_t i = 0; i < n; i++) {
        if (i % 1000 == 0)
            rg_buf_printf(&m, "%s  - {name: g%zu, orgs: [", i ? "]}\n" : "", i / 1000);
        rg_buf_printf(&m, "%s%s", i % 1000 ? ", " : "", json_string_value(json_array_get(orgs, i)));
    }
    rg_buf_puts(&m, "]}\nchange:\n  strategy: strat_main\n"
                    "  watch_queues: [queue_global_001, queue_v2]\n  template:\n"
                    "    name: Production_Routing_v2\n    targets:\n"
                    "      - {type: Queue, id: queue_global_001, weight: 0, priority: 1}\n"
                    "      - {type: Queue, id: queue_v2, weight: 100, priority: 1}\n");
    rg_buf_puts(&m, policy);
    if ((f = fopen(path, "w")) == NULL || fwrite(rg_buf_cstr(&m), 1, m.len, f) != m.len)
        rc = rg_error_set(RG_EIO, "%s: cannot write the manifest", path);
    if (f && fclose(f) != 0 && rc == 0)
        rc = rg_error_set(RG_EIO, "%s: cannot write the manifest", path);
    rg_buf_dispose(&m);
    return rc;
}
