/* dq_model.c - decision-quality study: simulated telemetry per org-minute and the judges */
#include <math.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#include "bench/dq_model.h"

/* The demo scenario (sim/scenarios/demo.json) and the simulator's load model. */
#define DQ_CALLS_PER_MIN 120.0
#define DQ_ABANDON_P 0.08
#define DQ_ASA_S 20.0
#define DQ_AGENTS 800.0
#define DQ_HANDLE_S 300.0
#define DQ_UTIL_KNEE 0.85
#define DQ_WAIT_SIGMA 0.9
/* spike.json's event: calls x2, abandonment x1.6, +10 s speed of answer. */
#define DQ_SPIKE_FROM 10
#define DQ_SPIKE_TO 30
/* Kayenta's Mann-Whitney classifier defaults. */
#define DQ_KAYENTA_CONFIDENCE 0.98
#define DQ_KAYENTA_TOLERANCE 0.25

#define DQ_METRICS 2 /* abandonment_rate (critical), speed_of_answer */

const char *dq_method_name(dq_method m)
{
    static const char *const names[DQ_METHODS] = {"group", "msprt", "none", "kayenta"};
    return m < DQ_METHODS ? names[m] : "?";
}

typedef struct {
    double lambda; /* expected calls in the bucket */
    double p;      /* abandonment probability */
    double asa_s;  /* mean wait of an answered call */
} bucket_model;

static void bucket_params(bucket_model *b, const dq_cell *cell, int canary, int minute)
{
    int pm = minute - DQ_PRE_MIN; /* minutes since the stage was applied */
    double calls_mult = 1, abandon_mult = 1, asa_add = 0, rate, capacity, over;

    if (cell->spike && pm >= DQ_SPIKE_FROM && pm < DQ_SPIKE_TO) {
        calls_mult = 2.0;
        abandon_mult = 1.6;
        asa_add = 10.0;
    }
    if (canary && pm >= 0) {
        abandon_mult *= cell->abandon_mult;
        asa_add += cell->asa_add_s;
    }
    rate = DQ_CALLS_PER_MIN * calls_mult / 60.0;
    capacity = DQ_AGENTS / DQ_HANDLE_S;
    over = rate / capacity - DQ_UTIL_KNEE;
    over = over < 0 ? 0 : (over > 10 ? 10 : over);
    b->lambda = DQ_CALLS_PER_MIN * calls_mult;
    b->p = DQ_ABANDON_P * abandon_mult * (1 + 3 * over);
    b->p = b->p > 0.95 ? 0.95 : b->p;
    b->asa_s = (DQ_ASA_S + asa_add) * (1 + 4 * over);
    b->asa_s = b->asa_s < 0.5 ? 0.5 : b->asa_s;
}

void dq_simulate(dq_telemetry *t, const dq_cell *cell, gsl_rng *rng)
{
    for (int org = 0; org < DQ_ORGS; org++) {
        for (int m = 0; m < DQ_MINUTES; m++) {
            bucket_model b;
            unsigned int n, ab;
            double zeta, sum = 0;

            bucket_params(&b, cell, org < DQ_CANARY, m);
            n = gsl_ran_poisson(rng, b.lambda);
            ab = gsl_ran_binomial(rng, b.p, n);
            zeta = log(b.asa_s) - DQ_WAIT_SIGMA * DQ_WAIT_SIGMA / 2;
            for (unsigned int i = ab; i < n; i++) {
                double w = llround(gsl_ran_lognormal(rng, zeta, DQ_WAIT_SIGMA) * 1000.0);
                sum += w < 1 ? 1 : w;
            }
            t->offered[org][m] = n;
            t->abandoned[org][m] = ab;
            t->answered[org][m] = n - ab;
            t->wait_ms[org][m] = sum;
        }
    }
}

/* Cells of orgs [lo, hi) over minutes [from, to) of one metric. Returns the count. */
static size_t window(rg_stats_cell *out, const dq_telemetry *t, int metric, int lo, int hi,
                     int from, int to)
{
    size_t n = 0;
    for (int org = lo; org < hi; org++)
        for (int m = from; m < to; m++) {
            out[n].count = metric == 0 ? t->offered[org][m] : t->answered[org][m];
            out[n].value = metric == 0 ? t->abandoned[org][m] : t->wait_ms[org][m];
            n++;
        }
    return n;
}

typedef struct {
    rg_stats_cell cpre[DQ_CANARY * DQ_PRE_MIN], cpost[DQ_CANARY * DQ_POST_MIN];
    rg_stats_cell kpre[DQ_CONTROL * DQ_PRE_MIN], kpost[DQ_CONTROL * DQ_POST_MIN];
} dq_windows;

/* The engine's verdict of one metric at poll k: difference-in-differences windows. */
static int verdict_at(rg_decision *out, double *prev_p, const dq_telemetry *t, int metric,
                      int k, dq_method method, rg_stats_cache *cache)
{
    dq_windows w;
    rg_stats_metric_input in = {0};
    rg_stats_verdict_params params = {0};
    rg_stats_verdict v;
    int post_from = DQ_PRE_MIN + DQ_SETTLE_MIN, post_to = DQ_PRE_MIN + k * DQ_POLL_MIN, rc;

    in.name = metric == 0 ? "abandonment_rate" : "speed_of_answer";
    in.kind = metric == 0 ? RG_METRIC_PROPORTION : RG_METRIC_MEAN;
    in.increase_is_bad = 1;
    in.tolerance_kind = metric == 0 ? RG_TOLERANCE_RELATIVE : RG_TOLERANCE_ABSOLUTE;
    in.tolerance = metric == 0 ? 0.15 : 10000.0;
    in.critical = metric == 0;
    in.canary_pre.cells = w.cpre;
    in.canary_pre.n = window(w.cpre, t, metric, 0, DQ_CANARY, 0, DQ_PRE_MIN);
    in.canary_post.cells = w.cpost;
    in.canary_post.n = window(w.cpost, t, metric, 0, DQ_CANARY, post_from, post_to);
    in.has_control = 1;
    in.control_pre.cells = w.kpre;
    in.control_pre.n = window(w.kpre, t, metric, DQ_CANARY, DQ_ORGS, 0, DQ_PRE_MIN);
    in.control_post.cells = w.kpost;
    in.control_post.n = window(w.kpost, t, metric, DQ_CANARY, DQ_ORGS, post_from, post_to);
    in.msprt_prev_p = *prev_p;
    params.poll = k;
    params.planned_polls = DQ_POLLS;
    params.alpha = 0.05;
    params.n_metrics = DQ_METRICS;
    params.sequential = method == DQ_GROUP ? RG_SEQUENTIAL_GROUP
                        : method == DQ_MSPRT ? RG_SEQUENTIAL_MSPRT : RG_SEQUENTIAL_NONE;
    params.min_soak_reached = k * DQ_POLL_MIN >= DQ_STABILIZE_MIN;
    params.cache = cache;
    if ((rc = rg_stats_verdict_compute(&v, &in, &params)) < 0)
        return rc;
    if (method == DQ_MSPRT && v.has_estimate)
        *prev_p = v.p_value;
    *out = v.decision;
    return 0;
}

/* Kayenta's judge: the canary's and the control's pooled time series (one value a minute)
 * compared by Mann-Whitney with the Hodges-Lehmann 98% interval; High (fail) when the whole
 * interval lies above tolerance x the control's mean. Kayenta has no early pass. */
static int kayenta_at(rg_decision *out, const dq_telemetry *t, int metric, int k)
{
    double x[DQ_POST_MIN], y[DQ_POST_MIN], ymean = 0;
    size_t nx = 0, ny = 0;
    rg_stats_hl_result hl;

    for (int m = DQ_PRE_MIN + DQ_SETTLE_MIN; m < DQ_PRE_MIN + k * DQ_POLL_MIN; m++) {
        double num[2] = {0, 0}, den[2] = {0, 0};
        for (int org = 0; org < DQ_ORGS; org++) {
            int arm = org < DQ_CANARY ? 0 : 1;
            num[arm] += metric == 0 ? t->abandoned[org][m] : t->wait_ms[org][m] / 1000.0;
            den[arm] += metric == 0 ? t->offered[org][m] : t->answered[org][m];
        }
        if (den[0] > 0)
            x[nx++] = num[0] / den[0];
        if (den[1] > 0) {
            y[ny] = num[1] / den[1];
            ymean += y[ny++];
        }
    }
    *out = RG_DECISION_INCONCLUSIVE;
    if (nx < 2 || ny < 2)
        return 0;
    ymean /= (double)ny;
    if (rg_stats_hodges_lehmann(&hl, x, nx, y, ny, DQ_KAYENTA_CONFIDENCE, RG_ALT_TWO_SIDED) < 0)
        return 0; /* every value tied: no evidence either way */
    if (hl.ci_lo > DQ_KAYENTA_TOLERANCE * fabs(ymean))
        *out = RG_DECISION_FAIL;
    return 0;
}

int dq_judge(dq_outcome *out, const dq_telemetry *t, dq_method method, rg_stats_cache *cache)
{
    double prev_p[DQ_METRICS] = {1.0, 1.0};
    int consecutive[DQ_METRICS] = {0, 0}, rc;

    memset(out, 0, sizeof(*out));
    for (int k = 1; k <= DQ_POLLS && out->trip_poll == 0; k++) {
        int passes = 0;
        for (int metric = 0; metric < DQ_METRICS; metric++) {
            rg_decision d;
            if (method == DQ_KAYENTA)
                rc = kayenta_at(&d, t, metric, k);
            else
                rc = verdict_at(&d, &prev_p[metric], t, metric, k, method, cache);
            if (rc < 0)
                return rc;
            consecutive[metric] = d == RG_DECISION_FAIL ? consecutive[metric] + 1 : 0;
            passes += d == RG_DECISION_PASS;
            /* abandonment is critical: one fail trips; the others need 2 in a row */
            if (consecutive[metric] >= (metric == 0 ? 1 : 2))
                out->trip_poll = k;
        }
        if (passes == DQ_METRICS && out->trip_poll == 0 && out->promote_poll == 0)
            out->promote_poll = k;
    }
    return 0;
}
