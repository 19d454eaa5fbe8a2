/* decision_quality.c - benchmark: the engine's decisions on model telemetry, by Monte Carlo */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/dq_model.h"
#include "rollgate/util.h"

#define DQ_MAX_MODELS 32

/* Per judge: replications by the poll that tripped or promoted (0 unused), and holds. */
typedef struct {
    long trip_at[RG_STATS_MAX_LOOKS + 1];
    long promote_at[RG_STATS_MAX_LOOKS + 1];
    long hold;
} dq_tally;

typedef struct {
    const dq_model *model;
    const dq_policies *policies;
    int thread, nthreads, reps;
    rg_stats_cache *cache;
    dq_tally tally[DQ_JUDGES];
    int rc;
    char error[256];
} dq_worker;

static uint64_t rep_seed(const char *name, int rep)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)rep;
    for (const char *c = name; *c; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
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
    dq_telemetry t = {0};
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_taus2);

    if (rng == NULL || dq_telemetry_new(&t, w->model) < 0) {
        w->rc = RG_ENOMEM;
        snprintf(w->error, sizeof(w->error), "out of memory");
        goto cleanup;
    }
    for (int r = w->thread; r < w->reps && w->rc == 0; r += w->nthreads) {
        gsl_rng_set(rng, (unsigned long)rep_seed(w->model->name, r));
        dq_simulate(&t, w->model, rng);
        for (int j = 0; j < DQ_JUDGES; j++) {
            dq_outcome o;
            if ((w->rc = dq_judge(&o, &t, w->model, w->policies, (dq_judge_kind)j, w->cache)) < 0) {
                snprintf(w->error, sizeof(w->error), "%s", rg_error_last());
                break;
            }
            if (o.trip_poll)
                w->tally[j].trip_at[o.trip_poll]++;
            else if (o.promote_poll)
                w->tally[j].promote_at[o.promote_poll]++;
            else
                w->tally[j].hold++;
        }
    }
cleanup:
    dq_telemetry_dispose(&t);
    gsl_rng_free(rng);
    return NULL;
}

typedef struct {
    double trip, trip_lo, trip_hi, promote, hold, median_trip, mean_trip;
} dq_summary;

/* Wilson 95% interval for k of n. */
static void wilson(double *lo, double *hi, long k, long n)
{
    double z = 1.959963984540054, p = (double)k / (double)n, d = 1 + z * z / n;
    double c = (p + z * z / (2.0 * n)) / d;
    double h = z * sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) / d;
    *lo = c - h < 0 ? 0 : c - h;
    *hi = c + h > 1 ? 1 : c + h;
}

static void summarise(dq_summary *s, const dq_tally *t, int reps, int polls)
{
    long trips = 0, promotes = 0, seen = 0;
    double sum = 0;

    for (int k = 1; k <= polls; k++) {
        trips += t->trip_at[k];
        promotes += t->promote_at[k];
        sum += (double)k * (double)t->trip_at[k];
    }
    s->trip = (double)trips / reps;
    wilson(&s->trip_lo, &s->trip_hi, trips, reps);
    s->promote = (double)promotes / reps;
    s->hold = (double)t->hold / reps;
    s->mean_trip = trips ? sum / (double)trips : NAN;
    s->median_trip = NAN;
    for (int k = 1; k <= polls && trips; k++) {
        seen += t->trip_at[k];
        if (2 * seen >= trips) {
            s->median_trip = k;
            break;
        }
    }
}

static int healthy(const dq_model *m)
{
    return m->effect_abandon == 1.0 && m->effect_asa_s == 0.0;
}

static const char *const metric_names[2] = {"abandonment_rate", "speed_of_answer"};

/* Relative metrics in %, means in seconds. */
static void print_plan(const dq_plan *pl, int with_tau2)
{
    printf("\nPlanner forecast (%s): P(promote | healthy) %.3f, P(hold) %.3f, P(trip) %.3f",
           with_tau2 ? "traffic, dispersion and per-look between-org variance of placebo "
                       "contrasts on 8 histories of the model's orgs, the verdict's estimation "
                       "repeated per org"
                     : "traffic of one history, no between-org variance",
           pl->stage.p_promote, pl->stage.p_hold, pl->stage.p_trip);
    for (int j = 0; j < 2; j++) {
        double scale = j ? 1 : 100;
        const char *unit = j ? " s" : "%";
        printf("; %s: half-width %.3g%s, MDE %.3g%s, P(trip | 1.5 x tolerance) %.3f%s",
               metric_names[j], pl->metric[j].half_width * scale, unit, pl->metric[j].mde * scale,
               unit, pl->metric[j].p_trip_1_5,
               pl->metric[j].cannot_decide ? " (cannot decide)" : "");
    }
    printf(".\n");
}

/* The acceptance reads the planner's P(promote | healthy) against the study's (the engine's
 * group judge) on healthy models: within 0.05. */
static void print_plan_check(const dq_plan *pl, double study_promote, int is_healthy)
{
    if (!is_healthy) {
        printf("Planner vs study: not a healthy model (the forecast is for a healthy change).\n");
        return;
    }
    printf("Planner vs study: P(promote) predicted %.3f, study (group) %.3f, difference %+.3f "
           "(%s 0.05).\n",
           pl->stage.p_promote, study_promote, pl->stage.p_promote - study_promote,
           fabs(pl->stage.p_promote - study_promote) <= 0.05 ? "within" : "NOT within");
}

static json_t *plan_json(const dq_plan *pl)
{
    json_t *metrics = json_object();
    for (int j = 0; j < 2; j++)
        json_object_set_new(
            metrics, metric_names[j],
            json_pack("{s:f, s:o, s:f, s:b}", "half_width", pl->metric[j].half_width, "mde",
                      isfinite(pl->metric[j].mde) ? json_real(pl->metric[j].mde) : json_null(),
                      "p_trip_1_5x", pl->metric[j].p_trip_1_5, "cannot_decide",
                      pl->metric[j].cannot_decide));
    return json_pack("{s:f, s:f, s:f, s:o}", "p_promote", pl->stage.p_promote, "p_hold",
                     pl->stage.p_hold, "p_trip", pl->stage.p_trip, "metrics", metrics);
}

static void print_model(const dq_model *m, const dq_tally *tally, int reps, int canary, int control)
{
    printf("\n### %s\n\n%d orgs (%d canary, %d control by the engine's rule), stage %s of %d, "
           "%d polls x %d min, pre %d min; effect: abandonment x%.2f, ASA %+.0f s; %d "
           "replications.\n\n| judge | %s | 95%% MC interval | P(promote) | P(hold) | median "
           "polls to trip | mean trip poll |\n|---|---:|---|---:|---:|---:|---:|\n",
           m->name, m->orgs, canary, control,
           m->stage == 0 ? "first" : (m->stage == 1 ? "middle" : "last"), m->stages, m->polls,
           m->poll_minutes, m->pre_minutes, m->effect_abandon, m->effect_asa_s, reps,
           healthy(m) ? "false rollback" : "power");
    for (int j = 0; j < DQ_JUDGES; j++) {
        dq_summary s;
        summarise(&s, &tally[j], reps, m->polls);
        printf("| %s | %.3f | %.3f–%.3f | %.3f | %.3f | ", dq_judge_name(j), s.trip, s.trip_lo,
               s.trip_hi, s.promote, s.hold);
        if (isnan(s.median_trip))
            printf("– | – |\n");
        else
            printf("%.0f | %.2f |\n", s.median_trip, s.mean_trip);
    }
}

static json_t *model_json(const dq_model *m, const dq_tally *tally, int reps)
{
    json_t *judges = json_object();
    for (int j = 0; j < DQ_JUDGES; j++) {
        dq_summary s;
        summarise(&s, &tally[j], reps, m->polls);
        json_object_set_new(
            judges, dq_judge_name(j),
            json_pack("{s:f, s:f, s:f, s:f, s:f, s:o, s:o}",
                      healthy(m) ? "false_rollback" : "power", s.trip, "mc_lo", s.trip_lo, "mc_hi",
                      s.trip_hi, "p_promote", s.promote, "p_hold", s.hold, "median_trip_poll",
                      isnan(s.median_trip) ? json_null() : json_real(s.median_trip),
                      "mean_trip_poll", isnan(s.mean_trip) ? json_null() : json_real(s.mean_trip)));
    }
    return json_pack("{s:s, s:b, s:i, s:o}", "model", m->name, "healthy", healthy(m), "reps", reps,
                     "judges", judges);
}

/* What the planner forecast for the model at its recommended soak, and the study's value:
 * P(promote) on a healthy model; power on a model whose effect is one metric at 1 or 1.5 x
 * its tolerance (abandonment x1.15 / x1.225, ASA +10 s / +15 s). */
static int soak_compare(double *predicted, double *study, const char **what, const dq_model *m,
                        const dq_tally *tally, int reps, const dq_plan *pl)
{
    dq_summary s;
    summarise(&s, &tally[DQ_GROUP], reps, m->polls);
    if (healthy(m)) {
        *predicted = pl->stage.p_promote;
        *study = s.promote;
        *what = "P(promote | healthy)";
        return 1;
    }
    *study = s.trip;
    *what = "power";
    if (m->effect_asa_s == 0 && fabs(m->effect_abandon - 1.15) < 1e-9)
        *predicted = pl->metric[0].p_trip_1_0;
    else if (m->effect_asa_s == 0 && fabs(m->effect_abandon - 1.225) < 1e-9)
        *predicted = pl->metric[0].p_trip_1_5;
    else if (m->effect_abandon == 1 && fabs(m->effect_asa_s - 10) < 1e-9)
        *predicted = pl->metric[1].p_trip_1_0;
    else if (m->effect_abandon == 1 && fabs(m->effect_asa_s - 15) < 1e-9)
        *predicted = pl->metric[1].p_trip_1_5;
    else
        return 0;
    return 1;
}

static void print_soak(const dq_model *m, const dq_tally *tally, int reps, const dq_plan *pl,
                       int found)
{
    double predicted, study;
    const char *what;
    int canary = 0, control = 0;

    if (dq_arm_counts(&canary, &control, m) < 0)
        canary = control = -1;
    print_model(m, tally, reps, canary, control);
    if (found)
        printf("\nPlanner's recommended soak: %d polls x %d min, %d canary orgs (the fewest polls, "
               "then the fewest canary orgs, reaching P(promote) and power at the tolerance "
               "0.9).\n",
               m->polls, m->poll_minutes, m->canary);
    else
        printf("\nPlanner: cannot decide within the soak limit (%d polls, up to %d canary orgs); "
               "studied at that limit.\n",
               m->polls, m->canary);
    printf("Forecast: P(promote | healthy) %.3f, P(hold) %.3f, P(trip) %.3f; power at the "
           "tolerance: abandonment_rate %.3f, speed_of_answer %.3f.\n",
           pl->stage.p_promote, pl->stage.p_hold, pl->stage.p_trip, pl->metric[0].p_trip_1_0,
           pl->metric[1].p_trip_1_0);
    if (soak_compare(&predicted, &study, &what, m, tally, reps, pl))
        printf("Planner vs study: %s predicted %.3f, study (group) %.3f, difference %+.3f (%s "
               "0.05).\n",
               what, predicted, study, predicted - study,
               fabs(predicted - study) <= 0.05 ? "within" : "NOT within");
}

static json_t *soak_json(const dq_model *m, const dq_tally *tally, int reps, const dq_plan *pl,
                         int found)
{
    json_t *obj = model_json(m, tally, reps);
    double predicted, study;
    const char *what;

    json_object_set_new(obj, "soak",
                        json_pack("{s:b, s:i, s:i, s:f, s:f, s:f}", "recommended", found != 0,
                                  "polls", m->polls, "canary", m->canary, "p_promote",
                                  pl->stage.p_promote, "power_abandonment",
                                  pl->metric[0].p_trip_1_0, "power_asa", pl->metric[1].p_trip_1_0));
    if (soak_compare(&predicted, &study, &what, m, tally, reps, pl))
        json_object_set_new(json_object_get(obj, "soak"), "check",
                            json_pack("{s:s, s:f, s:f, s:f}", "what", what, "predicted", predicted,
                                      "study", study, "difference", predicted - study));
    return obj;
}

/* One model's line of the side-by-side table. */
typedef struct {
    char name[128];
    int healthy, polls, canary, soak, found, has_check;
    dq_summary s[DQ_JUDGES];
    double predicted, study;
} dq_row;

static void add_row(dq_row *row, const dq_model *m, const dq_tally *tally, int reps)
{
    memset(row, 0, sizeof(*row));
    snprintf(row->name, sizeof(row->name), "%s", m->name);
    row->healthy = healthy(m);
    row->polls = m->polls;
    row->canary = m->canary;
    for (int j = 0; j < DQ_JUDGES; j++)
        summarise(&row->s[j], &tally[j], reps, m->polls);
}

static void print_rows(const dq_row *rows, int n)
{
    static const dq_judge_kind shown[] = {DQ_GROUP, DQ_MSPRT, DQ_COUNTS, DQ_NAIVE, DQ_KAYENTA};
    printf("\n### Every model side by side\n\nEach cell: false rollback (healthy models) or "
           "power, its 95%% MC interval; P(promote); mean trip poll. Planner vs study: the "
           "planner's P(promote) (healthy) or power at the recommended soak against the group "
           "judge's.\n\n| model | soak | ");
    for (size_t j = 0; j < sizeof(shown) / sizeof(shown[0]); j++)
        printf("%s | ", dq_judge_name(shown[j]));
    printf("planner vs study |\n|---|---|");
    for (size_t j = 0; j < sizeof(shown) / sizeof(shown[0]); j++)
        printf("---|");
    printf("---|\n");
    for (int i = 0; i < n; i++) {
        const dq_row *r = &rows[i];
        printf("| %s | %s%d x %d canary | ", r->name,
               r->soak ? (r->found ? "planner: " : "none: ") : "", r->polls, r->canary);
        for (size_t j = 0; j < sizeof(shown) / sizeof(shown[0]); j++) {
            const dq_summary *s = &r->s[shown[j]];
            printf("%s %.3f (%.3f–%.3f); %.3f; ", r->healthy ? "FR" : "pow", s->trip, s->trip_lo,
                   s->trip_hi, s->promote);
            if (isnan(s->mean_trip))
                printf("– | ");
            else
                printf("%.2f | ", s->mean_trip);
        }
        if (r->has_check)
            printf("%.3f vs %.3f (%+.3f) |\n", r->predicted, r->study, r->predicted - r->study);
        else
            printf("– |\n");
    }
}

static int run_model(dq_tally *out, const dq_model *m, int reps, int nthreads,
                     rg_stats_cache *cache)
{
    dq_policies policies;
    dq_worker *workers = NULL;
    pthread_t threads[64];
    int started[64] = {0}, rc;

    if ((rc = dq_policies_load(&policies, m)) < 0)
        return rc;
    if ((workers = calloc((size_t)nthreads, sizeof(*workers))) == NULL) {
        dq_policies_free(&policies);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    memset(out, 0, DQ_JUDGES * sizeof(*out));
    for (int i = 0; i < nthreads; i++) {
        workers[i] = (dq_worker){.model = m,
                                 .policies = &policies,
                                 .thread = i,
                                 .nthreads = nthreads,
                                 .reps = reps,
                                 .cache = cache};
        started[i] = pthread_create(&threads[i], NULL, run_worker, &workers[i]) == 0;
        if (!started[i])
            workers[i].rc = RG_ENOMEM;
    }
    for (int i = 0; i < nthreads; i++) {
        if (started[i])
            pthread_join(threads[i], NULL);
        if (workers[i].rc < 0 && rc == 0)
            rc = rg_error_set(workers[i].rc, "%s: %s", m->name,
                              workers[i].error[0] ? workers[i].error : "thread start failed");
        for (int j = 0; j < DQ_JUDGES; j++) {
            for (int k = 0; k <= RG_STATS_MAX_LOOKS; k++) {
                out[j].trip_at[k] += workers[i].tally[j].trip_at[k];
                out[j].promote_at[k] += workers[i].tally[j].promote_at[k];
            }
            out[j].hold += workers[i].tally[j].hold;
        }
    }
    free(workers);
    dq_policies_free(&policies);
    return rc;
}

typedef struct {
    int planner;   /* --soak planner */
    int max_polls; /* --max-polls: the longest soak searched (0: the model's polls) */
} dq_soak_opts;

static int parse_args(int *reps, int *threads, int *json, const char **models, int *nmodels,
                      dq_soak_opts *so, int argc, char **argv)
{
    int64_t v;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            *json = 1;
            continue;
        }
        if (i + 1 >= argc)
            return rg_error_set(RG_EINVALID, "%s: needs a value", argv[i]);
        if (strcmp(argv[i], "--soak") == 0) {
            if (strcmp(argv[i + 1], "planner") == 0)
                so->planner = 1;
            else if (strcmp(argv[i + 1], "model") != 0)
                return rg_error_set(RG_EINVALID, "--soak: expected planner or model");
            i++;
            continue;
        }
        if (strcmp(argv[i], "--model") == 0) {
            if (*nmodels >= DQ_MAX_MODELS)
                return rg_error_set(RG_ELIMIT, "--model: at most %d", DQ_MAX_MODELS);
            models[(*nmodels)++] = argv[++i];
            continue;
        }
        if (rg_parse_int64(&v, argv[i + 1], 1, 10000000) < 0)
            return rg_error_set(RG_EINVALID, "%s: %s", argv[i], rg_error_last());
        if (strcmp(argv[i], "--reps") == 0)
            *reps = (int)v;
        else if (strcmp(argv[i], "--threads") == 0 && v <= 64)
            *threads = (int)v;
        else if (strcmp(argv[i], "--max-polls") == 0 && v <= RG_STATS_MAX_LOOKS)
            so->max_polls = (int)v;
        else
            return rg_error_set(RG_EINVALID, "%s: unknown option or out of range", argv[i]);
        i++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int reps = 500, nthreads = 2, json = 0, nmodels = 0, rc = 0, nrows = 0;
    static dq_row rows[DQ_MAX_MODELS];
    const char *files[DQ_MAX_MODELS];
    rg_stats_cache *cache = NULL;
    json_t *all = json_array();
    int64_t t0 = rg_time_mono_ms();

    dq_soak_opts so = {0, 0};

    if (parse_args(&reps, &nthreads, &json, files, &nmodels, &so, argc, argv) < 0) {
        fprintf(stderr,
                "decision_quality: %s\nusage: decision_quality [--model FILE.json]... "
                "[--reps N] [--threads T] [--soak model|planner] [--max-polls N] [--json]\n",
                rg_error_last());
        return 3;
    }
    if (rg_stats_cache_new(&cache) < 0 || all == NULL) {
        fprintf(stderr, "decision_quality: out of memory\n");
        return 4;
    }
    for (int i = 0; i < (nmodels ? nmodels : 1) && rc == 0; i++) {
        dq_model m;
        dq_tally tally[DQ_JUDGES];
        dq_plan soak_plan;
        int soak_found = -1;
        if (nmodels) {
            rc = dq_model_load(&m, files[i]);
        } else {
            json_t *empty = json_object();
            rc = dq_model_parse(&m, empty, "(defaults)");
            json_decref(empty);
        }
        if (rc == 0 && so.planner) {
            int maxp = so.max_polls ? so.max_polls : m.polls, polls = 0;
            while (maxp > 1 && m.pre_minutes + maxp * m.poll_minutes > DQ_MAX_MINUTES)
                maxp--;
            maxp = maxp > RG_STATS_MAX_LOOKS ? RG_STATS_MAX_LOOKS : maxp;
            if ((rc = dq_plan_soak(&soak_plan, &polls, &m, maxp)) == 0)
                soak_found = polls;
        }
        if (rc == 0)
            rc = run_model(tally, &m, reps, nthreads, cache);
        if (rc < 0) {
            fprintf(stderr, "decision_quality: %s\n", rg_error_last());
            break;
        }
        if (rc == 0)
            add_row(&rows[nrows++], &m, tally, reps);
        if (soak_found >= 0) {
            double pr, st;
            const char *what;
            rows[nrows - 1].soak = 1;
            rows[nrows - 1].found = soak_found > 0;
            rows[nrows - 1].has_check = soak_compare(&pr, &st, &what, &m, tally, reps, &soak_plan);
            rows[nrows - 1].predicted = pr;
            rows[nrows - 1].study = st;
            if (json)
                json_array_append_new(all, soak_json(&m, tally, reps, &soak_plan, soak_found));
            else
                print_soak(&m, tally, reps, &soak_plan, soak_found);
            fflush(stdout);
        } else if (json) {
            dq_plan pl;
            json_t *obj = model_json(&m, tally, reps);
            if ((rc = dq_plan_model(&pl, &m, 1)) < 0) {
                fprintf(stderr, "decision_quality: planner: %s\n", rg_error_last());
                json_decref(obj);
                break;
            }
            json_object_set_new(obj, "planner", plan_json(&pl));
            if (healthy(&m)) {
                dq_summary s;
                summarise(&s, &tally[DQ_GROUP], reps, m.polls);
                json_object_set_new(json_object_get(obj, "planner"), "study_p_promote",
                                    json_real(s.promote));
                json_object_set_new(json_object_get(obj, "planner"), "p_promote_gap",
                                    json_real(pl.stage.p_promote - s.promote));
            }
            json_array_append_new(all, obj);
        } else {
            int canary = 0, control = 0;
            if ((rc = dq_arm_counts(&canary, &control, &m)) < 0) {
                fprintf(stderr, "decision_quality: %s\n", rg_error_last());
                break;
            }
            print_model(&m, tally, reps, canary, control);
            for (int tau = 0; tau < 2 && rc == 0; tau++) {
                dq_plan pl;
                if ((rc = dq_plan_model(&pl, &m, tau)) < 0) {
                    fprintf(stderr, "decision_quality: planner: %s\n", rg_error_last());
                    break;
                }
                print_plan(&pl, tau);
                {
                    dq_summary s;
                    summarise(&s, &tally[DQ_GROUP], reps, m.polls);
                    print_plan_check(&pl, s.promote, healthy(&m));
                    if (tau && healthy(&m)) {
                        rows[nrows - 1].has_check = 1;
                        rows[nrows - 1].predicted = pl.stage.p_promote;
                        rows[nrows - 1].study = s.promote;
                    }
                }
            }
            fflush(stdout);
        }
    }
    if (rc == 0 && json) {
        char *text = json_dumps(all, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        printf("%s\n", text ? text : "null");
        free(text);
    } else if (rc == 0) {
        print_rows(rows, nrows);
        printf("\n%d models, %d threads, %.1f s.\n", nmodels ? nmodels : 1, nthreads,
               (double)(rg_time_mono_ms() - t0) / 1000.0);
    }
    json_decref(all);
    rg_stats_cache_free(cache);
    return rc < 0 ? 4 : 0;
}
