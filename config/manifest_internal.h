/* manifest_internal.h - helpers shared by the manifest files of config/ */
#ifndef RG_ENGINE_MANIFEST_INTERNAL_H
#define RG_ENGINE_MANIFEST_INTERNAL_H

#include "rollgate/doc.h"
#include "rollgate/manifest.h"

/* Reads `groups` (names, orgs, vars, depends_on), folds in the option vars, rejects
 * duplicates, unknown dependencies and cycles, and computes each group's tier. */
int rg_manifest__read_groups(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root,
                             const rg_manifest_options *opts);
/* manifest_env.c. Reads `environments` (or, without it, `groups`): each environment's
 * groups, requires and approval; selects opts->environment (or the `environment` key) into
 * m->groups; refuses unknown environments, cycles in requires and an org in two. */
int rg_manifest__read_environments(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root,
                                   const rg_manifest_options *opts);
/* After the change is read: every environment's groups render the template; the digest. */
int rg_manifest__finish_environments(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root);
void rg_manifest__free_environments(rg_manifest *m);
/* Adds "environment" and "environments" to a manifest's JSON and drops its "groups". */
int rg_manifest__environments_json(json_t *obj, const rg_manifest *m);
int rg_manifest__environments_equal(const rg_manifest *a, const rg_manifest *b);
/* manifest_json.c: one group as stored. New reference, NULL on out of memory. */
json_t *rg_manifest__group_json(const rg_manifest_group *g);
/* A stage as stored: its percent, or an object when it has approval or pause (manifest.c). */
json_t *rg_manifest__stage_json(const rg_manifest_stage *st);
int rg_manifest__group_equal(const rg_manifest_group *a, const rg_manifest_group *b);

/* manifest.c: "env:NAME" into the NAME (the value itself is never echoed in errors). */
int rg_manifest__read_secret(char **out, const rg_doc *doc, const rg_doc_node *node,
                             const char *path);
/* manifest_gates.c: `gates`; their JSON as stored; equality; free. */
int rg_manifest__read_gates(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root);
int rg_manifest__gates_json(json_t *obj, const rg_manifest *m);
int rg_manifest__gates_equal(const rg_manifest *a, const rg_manifest *b);
void rg_manifest__free_gates(rg_manifest *m);

/* Reads change.template into m->template_json and m->targets, and checks that every
 * {{VAR}} in it is defined for every group (groups must be read first). */
int rg_manifest__read_template(rg_manifest *m, const rg_doc *doc, const rg_doc_node *node,
                               const char *path);
/* manifest_resource.c. Reads change.strategy or change.resource (kind routing_strategy or
 * datatable_row), the template and, for a row, change.weights (groups must be read first). */
int rg_manifest__read_resource(rg_manifest *m, const rg_doc *doc, const rg_doc_node *change);
void rg_manifest__free_resource(rg_manifest *m);
/* The stored `change` object; steals watch_queues. New reference, NULL on out of memory. */
json_t *rg_manifest__change_json(const rg_manifest *m, json_t *watch_queues);
int rg_manifest__resource_equal(const rg_manifest *a, const rg_manifest *b);
/* Substitutes {{VAR}} in text. On an undefined variable or bad syntax returns
 * RG_EINVALID with a message naming it (no position: callers prefix one). */
int rg_manifest__render_text(char **out, const char *text, const rg_manifest_var *vars,
                             size_t vars_count);
/* The same over every string of a JSON value. @param[out] out a new reference. */
int rg_manifest__render_json(json_t **out, const json_t *value, const rg_manifest_var *vars,
                             size_t vars_count);
/* 1 when name is a valid variable name: [A-Za-z_][A-Za-z0-9_]{0,63}. */
int rg_manifest__is_var_name(const char *name);

#endif
