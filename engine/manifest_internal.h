/* manifest_internal.h - helpers shared by the manifest files of the engine */
#ifndef RG_ENGINE_MANIFEST_INTERNAL_H
#define RG_ENGINE_MANIFEST_INTERNAL_H

#include "rollgate/doc.h"
#include "rollgate/manifest.h"

/* Reads `groups` (names, orgs, vars, depends_on), folds in the option vars, rejects
 * duplicates, unknown dependencies and cycles, and computes each group's tier. */
int rg_manifest__read_groups(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root,
                             const rg_manifest_options *opts);
/* Reads change.template into m->template_json and m->targets, and checks that every
 * {{VAR}} in it is defined for every group (groups must be read first). */
int rg_manifest__read_template(rg_manifest *m, const rg_doc *doc, const rg_doc_node *node,
                               const char *path);
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
