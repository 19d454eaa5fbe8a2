/* plan_row.c - the live plan of a datatable_row change for one organization: pre-flight
 * (table, column types, weights, row, queues) and the diff of the live row against the
 * rendered template; reads only */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "rollgate/util.h"

static void finding(json_t *findings, const char *org, const char *severity, const char *what)
{
    json_array_append_new(
        findings, json_pack("{s:s, s:s, s:s}", "org", org, "severity", severity, "what", what));
}

/* An error of one of the org's calls: a blocker, and listed as unreachable when no HTTP
 * answer came at all. Returns 1 when the org was unreachable (nothing more to ask it). */
static int blocker(json_t *findings, json_t *unreachable, const char *org, int rc, const char *why)
{
    finding(findings, org, "blocker", why);
    if (rc == RG_EUNREACHABLE) {
        json_array_append_new(unreachable, json_pack("{s:s, s:s}", "org", org, "error", why));
        return 1;
    }
    return 0;
}

/* The fields as pre-flight types them: a `capacity` weight counts as an integer column, and
 * the capacity columns together take what the fixed ones leave of 100. */
static json_t *typed_fields(const json_t *body, const json_t *weights)
{
    json_t *fields = json_deep_copy(body), *q;
    const char *wcol;
    json_int_t fixed = 0;
    int first = 1;

    if (fields == NULL)
        return NULL;
    json_object_foreach((json_t *)weights, wcol,
                        q) if (json_is_integer(json_object_get(fields, wcol))) fixed +=
        json_integer_value(json_object_get(fields, wcol));
    json_object_foreach((json_t *)weights, wcol, q)
    {
        if (json_is_integer(json_object_get(fields, wcol)))
            continue;
        json_object_set_new(fields, wcol, json_integer(first ? 100 - fixed : 0));
        first = 0;
    }
    return fields;
}

static json_t *row_diff(const json_t *live, const json_t *body)
{
    json_t *diff = json_array(), *v;
    const char *name;

    json_object_foreach((json_t *)body, name, v)
    {
        const json_t *old = json_object_get(live, name);
        json_t *c = json_pack("{s:s, s:s}", "path", name, "change",
                              old == NULL          ? "added"
                              : json_equal(old, v) ? "unchanged"
                                                   : "modified");
        if (c == NULL)
            continue;
        if (old)
            json_object_set(c, "from", (json_t *)old);
        json_object_set(c, "to", v);
        json_array_append_new(diff, c);
    }
    return diff;
}

json_t *rg_engine__plan_row(rg_platform *pf, const rg_manifest *m, const rg_resolved_target *t,
                            const char *credentials_error, json_t *findings, json_t *unreachable,
                            int *blocked)
{
    const rg_manifest_resource *r = &m->resource;
    json_t *doc = json_pack("{s:I, s:s, s:s, s:i, s:I, s:O}", "seq", (json_int_t)t->seq, "org",
                            t->org, "group", t->group, "tier", t->tier, "stage",
                            (json_int_t)t->stage, "body", t->body);
    json_t *fields = NULL, *live = NULL;
    char what[768];
    int rc;

    if (credentials_error != NULL) {
        finding(findings, t->org, "blocker", credentials_error);
        *blocked = 1;
        return doc;
    }
    if ((rc = rg_platform_org_check(NULL, pf, t->org)) < 0) {
        *blocked = 1;
        blocker(findings, unreachable, t->org, rc, rg_error_last());
        return doc;
    }
    if ((fields = typed_fields(t->body, r->weights)) == NULL) {
        *blocked = 1;
        finding(findings, t->org, "blocker", "out of memory");
        return doc;
    }
    rc = rg_platform_row_preflight(pf, t->org, r->datatable, r->row, fields, r->weights, r->create);
    json_decref(fields);
    if (rc < 0) {
        *blocked = 1;
        if (blocker(findings, unreachable, t->org, rc, rg_error_last()))
            return doc;
    }
    if ((rc = rg_platform_row_get(&live, pf, t->org, r->datatable, r->row)) == 0) {
        char version[65];
        if (rg_platform_row_version(version, live) == 0)
            json_object_set_new(doc, "live_version", json_string(version));
        json_object_set_new(doc, "diff", row_diff(live, t->body));
        json_decref(live);
    } else if (rc == RG_ENOTFOUND && r->create) {
        snprintf(what, sizeof(what),
                 "data table %s has no row '%s': create: true, so the apply creates it "
                 "(POST) and a rollback deletes it",
                 r->datatable, r->row);
        finding(findings, t->org, "warning", what);
    } else if (rc == RG_EUNREACHABLE) {
        *blocked = 1;
        blocker(findings, unreachable, t->org, rc, rg_error_last());
        return doc;
    }
    for (size_t i = 0; i < m->watch_queues_count; i++) {
        rc = rg_platform_queue_exists(pf, t->org, m->watch_queues[i]);
        if (rc == RG_ENOTFOUND) {
            snprintf(what, sizeof(what), "watched queue %s does not exist in this organization",
                     m->watch_queues[i]);
            finding(findings, t->org, "blocker", what);
            *blocked = 1;
        } else if (rc < 0) {
            *blocked = 1;
            if (blocker(findings, unreachable, t->org, rc, rg_error_last()))
                return doc;
        }
    }
    return doc;
}
