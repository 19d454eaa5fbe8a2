/* plan_versioned.c - the live plan of a versioned change for one organization: pre-flight
 * (the resource exists with an integer version, every template field is one of its fields,
 * the watched queues exist) and the diff of the live body against the rendered template;
 * reads only */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "rollgate/util.h"

static void finding(json_t *findings, const char *org, const char *severity, const char *what)
{
    json_array_append_new(
        findings, json_pack("{s:s, s:s, s:s}", "org", org, "severity", severity, "what", what));
}

/* A blocker; 1 when no HTTP answer came at all (the org is listed as unreachable). */
static int blocker(json_t *findings, json_t *unreachable, const char *org, int rc, const char *why)
{
    finding(findings, org, "blocker", why);
    if (rc == RG_EUNREACHABLE) {
        json_array_append_new(unreachable, json_pack("{s:s, s:s}", "org", org, "error", why));
        return 1;
    }
    return 0;
}

static json_t *field_diff(const json_t *live, const json_t *body)
{
    json_t *diff = json_array(), *v;
    const char *name;

    json_object_foreach((json_t *)body, name, v)
    {
        const json_t *old = json_object_get(live, name);
        json_t *c = json_pack("{s:s, s:s, s:O}", "path", name, "change",
                              json_equal(old, v) ? "unchanged" : "modified", "to", v);
        if (c == NULL)
            continue;
        json_object_set(c, "from", (json_t *)old);
        json_array_append_new(diff, c);
    }
    return diff;
}

/* The live resource's findings: every template field must be one of its fields (rollgate sets
 * fields, it never adds one it could not restore the absence of). */
static void check_fields(const json_t *live, const json_t *body, const char *org, const char *path,
                         json_t *findings, int *blocked)
{
    const char *name;
    json_t *v;
    char what[768];

    json_object_foreach((json_t *)body, name, v)
    {
        const json_t *old = json_object_get(live, name);
        if (old == NULL) {
            snprintf(what, sizeof(what),
                     "%s has no field '%s': a versioned change sets existing fields only", path,
                     name);
            finding(findings, org, "blocker", what);
            *blocked = 1;
        } else if (json_typeof(old) != json_typeof(v) &&
                   !(json_is_number(old) && json_is_number(v))) {
            snprintf(what, sizeof(what), "%s field '%s' holds a %s, the template gives a %s", path,
                     name,
                     json_is_object(old)   ? "object"
                     : json_is_array(old)  ? "array"
                     : json_is_string(old) ? "string"
                                           : "scalar",
                     json_is_object(v)   ? "object"
                     : json_is_array(v)  ? "array"
                     : json_is_string(v) ? "string"
                                         : "scalar");
            finding(findings, org, "blocker", what);
            *blocked = 1;
        }
    }
}

json_t *rg_engine__plan_versioned(rg_platform *pf, const rg_manifest *m,
                                  const rg_resolved_target *t, const char *credentials_error,
                                  json_t *findings, json_t *unreachable, int *blocked)
{
    const char *path = m->resource.path;
    json_t *doc = json_pack("{s:I, s:s, s:s, s:i, s:I, s:O}", "seq", (json_int_t)t->seq, "org",
                            t->org, "group", t->group, "tier", t->tier, "stage",
                            (json_int_t)t->stage, "body", t->body);
    json_t *live = NULL;
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
    if ((rc = rg_platform_versioned_get(&live, pf, t->org, path)) == 0) {
        json_object_set_new(doc, "live_version",
                            json_integer(json_integer_value(json_object_get(live, "version"))));
        json_object_set_new(doc, "diff", field_diff(live, t->body));
        check_fields(live, t->body, t->org, path, findings, blocked);
        json_decref(live);
    } else {
        *blocked = 1;
        if (rc == RG_ENOTFOUND) {
            snprintf(what, sizeof(what), "%s does not exist in this organization: %s", path,
                     rg_error_last());
            finding(findings, t->org, "blocker", what);
        } else if (blocker(findings, unreachable, t->org, rc, rg_error_last())) {
            return doc;
        }
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
