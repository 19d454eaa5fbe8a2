/* manifest_resolve.c - the ordered target list: tiers, groups, orgs, stages, rendered bodies */
#include <stdlib.h>
#include <string.h>

#include "config/manifest_internal.h"
#include "rollgate/util.h"

void rg_resolution_free(rg_resolution *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->count; i++)
        json_decref(r->targets[i].body);
    free(r->targets);
    free(r->stage_end);
    free(r);
}

/* Stage k covers the first max(1, ceil(p_k * N / 100)) targets; with a holdout every stage
 * but the last stops short of the final floor(holdout * N) targets (never below 1). A
 * traffic-sized stage (min_offered) takes targets in order until their `offered` (expected
 * offered calls over the soak, per target) reach min_offered, at least one, at most its own
 * percent or else the next percent's coverage less one; without `offered`, exactly one. */
static size_t traffic_sized_end(const rg_manifest *m, size_t k, size_t start, size_t n,
                                const double *offered)
{
    const rg_manifest_stage *st = &m->stages[k];
    size_t cap, end = start;
    double sum = 0;

    if (st->percent) {
        cap = ((size_t)st->percent * n + 99) / 100;
    } else {
        size_t next = k + 1;
        while (next + 1 < m->stages_count && m->stages[next].percent == 0)
            next++;
        cap = ((size_t)m->stages[next].percent * n + 99) / 100;
        if (cap > start + 1)
            cap--; /* the next stage still changes an organization */
    }
    while (offered && end < cap && end < n && sum < (double)st->min_offered)
        sum += offered[end++];
    return end > start ? end : start + 1;
}

static int assign_stages(rg_resolution *r, const rg_manifest *m, const double *offered)
{
    size_t n = r->count, held = m->has_holdout ? (size_t)(m->holdout * (double)n) : 0;

    if (r->stage_end == NULL && (r->stage_end = calloc(m->stages_count, sizeof(size_t))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    r->stages_count = m->stages_count;
    for (size_t k = 0; k < m->stages_count; k++) {
        size_t end = ((size_t)m->stages[k].percent * n + 99) / 100;
        if (m->stages[k].min_offered)
            end = traffic_sized_end(m, k, k > 0 ? r->stage_end[k - 1] : 0, n, offered);
        if (k + 1 < m->stages_count && end > n - held)
            end = n - held;
        if (end < 1)
            end = 1;
        if (end > n)
            end = n;
        if (k > 0 && end < r->stage_end[k - 1])
            end = r->stage_end[k - 1];
        r->stage_end[k] = end;
    }
    for (size_t i = 0, k = 0; i < n; i++) {
        while (i >= r->stage_end[k])
            k++;
        r->targets[i].stage = k;
    }
    return 0;
}

int rg_resolution_size_stages(rg_resolution *r, const rg_manifest *m, const double *offered)
{
    if (r == NULL || m == NULL || r->count == 0 || r->stages_count != m->stages_count)
        return rg_error_set(RG_EINVALID, "rg_resolution_size_stages: invalid arguments");
    return assign_stages(r, m, offered);
}

int rg_manifest_traffic_sized(const rg_manifest *m)
{
    for (size_t k = 0; k < m->stages_count; k++)
        if (m->stages[k].min_offered)
            return 1;
    return 0;
}

static int fill_target(rg_resolved_target *t, const rg_manifest *m, size_t g, size_t o)
{
    const rg_manifest_group *group = &m->groups[g];
    const rg_manifest_org *org = &group->orgs[o];

    t->group_index = g;
    t->group = group->name;
    t->tier = group->tier;
    t->org = org->id;
    /* a CXone brand's "URL" is the platform layer's descriptor (docs/cxone.md) */
    if (org->cxone || strcmp(m->platform.driver, "cxone") == 0) {
        t->api_url = m->platform.cxone_descriptor;
        t->login_url = m->platform.cxone_login_url;
    } else {
        t->api_url = org->api_url ? org->api_url : m->platform.api_url;
        t->login_url = org->login_url ? org->login_url : m->platform.login_url;
    }
    if (rg_manifest__render_json(&t->body, m->template_json, group->vars, group->vars_count) < 0)
        return rg_error_prefix("group '%s', org '%s'", group->name, org->id);
    return 0;
}

int rg_manifest_resolve(rg_resolution **out, const rg_manifest *m)
{
    rg_resolution *r = NULL;
    size_t total = 0, seq = 0;
    int max_tier = 0, rc = 0;

    if (out == NULL || m == NULL || m->groups_count == 0)
        return rg_error_set(RG_EINVALID, "rg_manifest_resolve: invalid arguments");
    for (size_t g = 0; g < m->groups_count; g++) {
        total += m->groups[g].orgs_count;
        if (m->groups[g].tier > max_tier)
            max_tier = m->groups[g].tier;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL ||
        (r->targets = calloc(total, sizeof(*r->targets))) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    /* Tier first (groups others depend on lead), then group order, then listed order. */
    for (int tier = 0; tier <= max_tier; tier++) {
        for (size_t g = 0; g < m->groups_count; g++) {
            if (m->groups[g].tier != tier)
                continue;
            for (size_t o = 0; o < m->groups[g].orgs_count; o++) {
                r->targets[seq].seq = seq;
                r->count = seq + 1;
                if ((rc = fill_target(&r->targets[seq], m, g, o)) < 0)
                    goto cleanup;
                seq++;
            }
        }
    }
    if ((rc = assign_stages(r, m, NULL)) < 0)
        goto cleanup;
    *out = r;
    r = NULL;
cleanup:
    rg_resolution_free(r);
    return rc;
}
