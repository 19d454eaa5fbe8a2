/* policy_internal.h - helpers shared by the policy files of config/ */
#ifndef RG_ENGINE_POLICY_INTERNAL_H
#define RG_ENGINE_POLICY_INTERNAL_H

#include "rollgate/policy.h"

/* Fills every field with the docs/statistics.md default (metrics left empty). */
void rg_policy__defaults(rg_policy *policy);
/* Reads the required `metrics` list of a policy mapping into policy->metrics. */
int rg_policy__read_metrics(rg_policy *policy, const rg_doc *doc, const rg_doc_node *map,
                            const char *path);

/* policy_analytics.c: the `analytics` section (media type, predicate batch). */
void rg_policy__analytics_defaults(rg_policy *policy);
int rg_policy__read_analytics(rg_policy *policy, const rg_doc *doc, const rg_doc_node *map,
                              const char *path);
/* Adds "analytics" to a policy's JSON when it is not the default. */
int rg_policy__analytics_json(json_t *obj, const rg_policy *policy);
int rg_policy__analytics_equal(const rg_policy *a, const rg_policy *b);

#endif
