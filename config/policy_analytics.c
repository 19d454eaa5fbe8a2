/* policy_analytics.c - the policy's `analytics` section: how telemetry is queried (the
 * aggregates' mediaType filter and the most queue predicates per query) */
#include <stdio.h>
#include <string.h>

#include "config/policy_internal.h"
#include "config/schema.h"

/* "none" is written for no filter; the platform client takes "" for it. */
static const char *const media_names[] = {"voice",   "chat", "email", "callback",
                                          "message", "none", NULL};

#define DEFAULT_MEDIA "voice"
#define DEFAULT_BATCH 100
#define MAX_BATCH 1000 /* the platform client's bound (rg_platform_options.predicate_batch) */

void rg_policy__analytics_defaults(rg_policy *p)
{
    snprintf(p->media_type, sizeof(p->media_type), "%s", DEFAULT_MEDIA);
    p->predicate_batch = DEFAULT_BATCH;
}

int rg_policy__read_analytics(rg_policy *p, const rg_doc *doc, const rg_doc_node *map,
                              const char *path)
{
    static const char *const keys[] = {"media_type", "predicate_batch", NULL};
    const rg_doc_node *node = rg_schema__optional(map, "analytics"), *v;
    char spath[RG_SCHEMA_PATH], field[RG_SCHEMA_PATH];
    int64_t batch;
    int e, rc;

    if (node == NULL)
        return 0;
    rg_schema__join(spath, sizeof(spath), path, "analytics");
    if ((rc = rg_schema__mapping(doc, node, spath, keys)) < 0)
        return rc;
    if ((v = rg_schema__optional(node, "media_type")) != NULL) {
        rg_schema__join(field, sizeof(field), spath, "media_type");
        if ((rc = rg_schema__enum(&e, doc, v, field, media_names)) < 0)
            return rc;
        snprintf(p->media_type, sizeof(p->media_type), "%s",
                 strcmp(media_names[e], "none") == 0 ? "" : media_names[e]);
    }
    if ((v = rg_schema__optional(node, "predicate_batch")) != NULL) {
        rg_schema__join(field, sizeof(field), spath, "predicate_batch");
        if ((rc = rg_schema__int(&batch, doc, v, field, 1, MAX_BATCH)) < 0)
            return rc;
        p->predicate_batch = (int)batch;
    }
    return 0;
}

int rg_policy__analytics_json(json_t *obj, const rg_policy *p)
{
    json_t *section;

    /* written only when not the default, so older normalised policies stay byte-identical */
    if (strcmp(p->media_type, DEFAULT_MEDIA) == 0 && p->predicate_batch == DEFAULT_BATCH)
        return 0;
    section = json_pack("{s:s, s:i}", "media_type", p->media_type[0] ? p->media_type : "none",
                        "predicate_batch", p->predicate_batch);
    if (section == NULL || json_object_set_new(obj, "analytics", section) != 0)
        return rg_error_set(RG_ENOMEM, "out of memory");
    return 0;
}

int rg_policy__analytics_equal(const rg_policy *a, const rg_policy *b)
{
    return strcmp(a->media_type, b->media_type) == 0 && a->predicate_batch == b->predicate_batch;
}
