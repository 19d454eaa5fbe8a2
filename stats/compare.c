/* compare.c - pooled window estimates and their variances from per-org per-bucket aggregates */
#include <math.h>
#include <stdio.h>

#include "stats/stats_internal.h"

int rg_stats__check_window(const rg_stats_window *w, rg_metric_kind kind, const char *label)
{
    if (w->n > 0 && !w->cells)
        return rg_error_set(RG_EINVALID, "%s: %zu cells but no array", label, w->n);
    for (size_t i = 0; i < w->n; i++) {
        const rg_stats_cell *c = &w->cells[i];
        if (!isfinite(c->count) || !isfinite(c->value))
            return rg_error_set(RG_EINVALID, "%s[%zu]: not a finite number", label, i);
        if (c->count < 0.0 || c->value < 0.0)
            return rg_error_set(RG_EINVALID, "%s[%zu]: negative %s", label, i,
                                c->count < 0.0 ? "count" : "value");
        if (kind == RG_METRIC_PROPORTION && c->value > c->count)
            return rg_error_set(RG_EINVALID, "%s[%zu]: %g events above their total %g trials",
                                label, i, c->value, c->count);
        if (kind == RG_METRIC_MEAN && c->count == 0.0 && c->value > 0.0)
            return rg_error_set(RG_EINVALID, "%s[%zu]: a sum with no measurements", label, i);
    }
    return 0;
}

/* Var(ln p) ~ (1-p)/e and Var(p) = p(1-p)/n, with 1/2 added to e and n when there is no event. */
static void proportion_estimate(rg_stats__window_estimate *out, double events, double trials,
                                int log_scale)
{
    double p;
    if (events == 0.0) {
        events = 0.5;
        trials += 0.5;
    }
    p = events / trials;
    out->estimate = log_scale ? log(p) : p;
    out->variance = log_scale ? (1.0 - p) / events : p * (1.0 - p) / trials;
}

/* Per-call variance from the spread of bucket means: sum c_b (mean_b - mean)^2 / (B - 1). */
static int mean_estimate(rg_stats__window_estimate *out, const rg_stats_window *w, double count,
                         double sum, int log_scale, const char *label, char *why, size_t whylen)
{
    double mean = sum / count, ss = 0.0, var_mean;
    size_t buckets = 0;

    for (size_t i = 0; i < w->n; i++) {
        const rg_stats_cell *c = &w->cells[i];
        if (c->count > 0.0) {
            double d = c->value / c->count - mean;
            ss += c->count * d * d;
            buckets++;
        }
    }
    if (buckets < 2) {
        /* verdict.c words it for people: "not enough buckets yet for M (1 of 2) in ..." */
        snprintf(why, whylen, "not enough buckets yet (%zu of 2) in the %s", buckets, label);
        return 1;
    }
    var_mean = ss / (double)(buckets - 1) / count;
    if (log_scale) {
        if (!(mean > 0.0)) {
            snprintf(why, whylen, "mean is 0 in %s: no relative change is defined", label);
            return 1;
        }
        out->estimate = log(mean);
        out->variance = var_mean / (mean * mean);
    } else {
        out->estimate = mean / 1000.0; /* ms -> s */
        out->variance = var_mean / 1e6;
    }
    return 0;
}

int rg_stats__estimate_window(rg_stats__window_estimate *out, const rg_stats_window *w,
                              rg_metric_kind kind, int log_scale, const char *label, char *why,
                              size_t whylen)
{
    double count = 0.0, value = 0.0;

    for (size_t i = 0; i < w->n; i++) {
        count += w->cells[i].count;
        value += w->cells[i].value;
    }
    out->count = count;
    if (count == 0.0) {
        snprintf(why, whylen, "no data in %s", label);
        return 1;
    }
    if (kind == RG_METRIC_PROPORTION) {
        proportion_estimate(out, value, count, log_scale);
        return 0;
    }
    return mean_estimate(out, w, count, value, log_scale, label, why, whylen);
}
