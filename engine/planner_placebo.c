/* planner_placebo.c - the planner's between-org variance from history: the verdict run on
 * placebo contrasts of the analytics read, where nothing changed (docs/internals/stats.md
 * "Planner") */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/planner.h"
#include "engine/verdict_inputs.h"

/* The series column of an analytics name: its count, or (sum) its sum in ms; -1 for none. */
static int column(const char *name, int sum)
{
    if (name == NULL)
        return -1;
    if (strcmp(name, "nOffered") == 0)
        return sum ? -1 : 0;
    if (strcmp(name, "tAbandon") == 0)
        return sum ? -1 : 1;
    if (strcmp(name, "tAnswered") == 0)
        return sum ? 3 : 2;
    if (strcmp(name, "tHandle") == 0)
        return sum ? 5 : 4;
    return -1;
}

typedef struct {
    rg_stats_cell *cells[4];
    uint32_t *keys[4];
    size_t n[4];
} placebo_cells;

/* The cells of one org's buckets [from, to) into window w. */
static void add_cells(placebo_cells *c, int w, const rg_org_traffic *t, int count_col,
                      int value_col, size_t from, size_t to, uint32_t key)
{
    for (size_t b = from; b < to && b < t->nbuckets; b++) {
        const double *row = t->series + b * RG_TRAFFIC_FIELDS;
        c->cells[w][c->n[w]].count = row[count_col];
        c->cells[w][c->n[w]].value = row[value_col];
        c->keys[w][c->n[w]] = key;
        c->n[w]++;
    }
}

int rg_engine__plan_placebo(double *tau2, double *dispersion, const rg_policy *p,
                            const rg_policy_metric *q, const rg_org_traffic *traffic,
                            const int *role, size_t n, int stage_index, int stage_count, int looks)
{
    int64_t g = p->granularity_ms > 0 ? p->granularity_ms : 60000;
    size_t pre_b = (size_t)(p->pre_window_ms / g), settle_b = (size_t)((p->settle_ms + g - 1) / g);
    size_t poll_b = (size_t)(p->poll_interval_ms / g), most = 0;
    int ccol = column(q->kind == RG_METRIC_PROPORTION ? q->trials : q->source, 0);
    int vcol = q->kind == RG_METRIC_PROPORTION ? column(q->events, 0) : column(q->source, 1);
    rg_policy fixed = *p; /* shallow: the test kind only, tau^2 needs no boundary */
    placebo_cells c;
    int rc = 0;

    for (int k = 0; k < looks; k++)
        tau2[k] = 0;
    *dispersion = 0;
    if (ccol < 0 || vcol < 0 || pre_b < 1 || poll_b < 1)
        return 0;
    for (size_t i = 0; i < n; i++)
        most += role[i] && traffic[i].series ? traffic[i].nbuckets : 0;
    memset(&c, 0, sizeof(c));
    for (int w = 0; w < 4; w++) {
        c.cells[w] = malloc((most ? most : 1) * sizeof(rg_stats_cell));
        c.keys[w] = malloc((most ? most : 1) * sizeof(uint32_t));
        if (!c.cells[w] || !c.keys[w])
            rc = rg_error_set(RG_ENOMEM, "out of memory");
    }
    fixed.sequential = RG_SEQUENTIAL_NONE;
    fixed.variance = RG_VARIANCE_CLUSTER;
    for (int k = 1; rc == 0 && k <= looks; k++) {
        rg_verdict_windows w;
        rg_verdict_state st = {stage_index, stage_count, 1, 1, 1.0, NULL, 1.0, NULL, 0};
        rg_stats_verdict v;
        memset(c.n, 0, sizeof(c.n));
        for (size_t i = 0; i < n; i++) {
            int arm = role[i] == RG_SOAK_CANARY ? 0 : 2;
            if (!role[i] || !traffic[i].series)
                continue;
            add_cells(&c, arm, &traffic[i], ccol, vcol, 0, pre_b, (uint32_t)i);
            add_cells(&c, arm + 1, &traffic[i], ccol, vcol, pre_b + settle_b,
                      pre_b + (size_t)k * poll_b, (uint32_t)i);
        }
        if (c.n[1] == 0)
            break; /* the read does not reach this look */
        memset(&w, 0, sizeof(w));
        w.canary_pre = (rg_stats_window){c.cells[0], c.n[0]};
        w.canary_post = (rg_stats_window){c.cells[1], c.n[1]};
        w.control_pre = (rg_stats_window){c.cells[2], c.n[2]};
        w.control_post = (rg_stats_window){c.cells[3], c.n[3]};
        for (int j = 0; j < 4; j++)
            w.orgs[j] = c.keys[j];
        w.has_control = c.n[2] > 0;
        if ((rc = rg_engine__verdict(&v, &fixed, q, &w, &st)) < 0)
            break;
        if (!v.has_estimate)
            continue;
        tau2[k - 1] = v.tau2_between;
        if (k == looks || *dispersion == 0)
            *dispersion = v.dispersion;
    }
    for (int w = 0; w < 4; w++) {
        free(c.cells[w]);
        free(c.keys[w]);
    }
    return rc;
}
