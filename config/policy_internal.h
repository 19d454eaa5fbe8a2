/* policy_internal.h - helpers shared by the policy files of config/ */
#ifndef RG_ENGINE_POLICY_INTERNAL_H
#define RG_ENGINE_POLICY_INTERNAL_H

#include "rollgate/policy.h"

/* Fills every field with the docs/statistics.md default (metrics left empty). */
void rg_policy__defaults(rg_policy *policy);
/* Reads the required `metrics` list of a policy mapping into policy->metrics. */
int rg_policy__read_metrics(rg_policy *policy, const rg_doc *doc, const rg_doc_node *map,
                            const char *path);

#endif
