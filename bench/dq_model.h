/* dq_model.h - decision-quality study: simulated contact-center telemetry and four judges */
#ifndef RG_BENCH_DQ_MODEL_H
#define RG_BENCH_DQ_MODEL_H

#include <gsl/gsl_rng.h>

#include "rollgate/stats.h"

/* The study's design (the demo scenario's volumes, the default policy's windows). */
#define DQ_CANARY 4           /* canary organizations */
#define DQ_CONTROL 16         /* control organizations */
#define DQ_ORGS (DQ_CANARY + DQ_CONTROL)
#define DQ_PRE_MIN 30         /* pre window, 1-minute buckets */
#define DQ_POLLS 12           /* planned polls */
#define DQ_POLL_MIN 5         /* poll interval, minutes */
#define DQ_SETTLE_MIN 1       /* settle after the stage was applied */
#define DQ_POST_MIN (DQ_POLLS * DQ_POLL_MIN)
#define DQ_MINUTES (DQ_PRE_MIN + DQ_POST_MIN)
#define DQ_STABILIZE_MIN 15   /* stabilization window: a pass is allowed from here */

typedef enum { DQ_GROUP = 0, DQ_MSPRT, DQ_NONE, DQ_KAYENTA, DQ_METHODS } dq_method;

/* One cell of the study: what the change does to the canary after it is applied, and
 * whether a traffic spike hits every organization during the soak. */
typedef struct {
    const char *name;
    double abandon_mult; /* canary abandonment probability x this (1: healthy) */
    double asa_add_s;    /* canary speed of answer + this many seconds */
    int spike;           /* spike.json's event in every org, post minutes [10, 30) */
} dq_cell;

/* One replication's telemetry: per org and 1-minute bucket. */
typedef struct {
    double offered[DQ_ORGS][DQ_MINUTES];
    double abandoned[DQ_ORGS][DQ_MINUTES];
    double answered[DQ_ORGS][DQ_MINUTES];
    double wait_ms[DQ_ORGS][DQ_MINUTES]; /* sum of answered calls' waits */
} dq_telemetry;

/* What one judge did over the 12 polls of one replication. */
typedef struct {
    int trip_poll;    /* first poll at which the engine's rule trips (0: never) */
    int promote_poll; /* first poll at which every metric passes (0: never) */
} dq_outcome;

const char *dq_method_name(dq_method m);

/* Draws one replication: Poisson calls per bucket, Bernoulli abandonment, lognormal waits,
 * as rollgate-sim does for the demo scenario (120 calls/min, p 0.08, ASA 20 s, 800 agents,
 * 300 s handle time, utilization knee 0.85). */
void dq_simulate(dq_telemetry *t, const dq_cell *cell, gsl_rng *rng);

/* Runs one judge over the 12 polls with the engine's rule: a fail on 2 consecutive polls,
 * or once for the critical abandonment metric. 0 or RG_E*. */
int dq_judge(dq_outcome *out, const dq_telemetry *t, dq_method method, rg_stats_cache *cache);

#endif
