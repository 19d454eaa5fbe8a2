/* body.h - routing-strategy bodies: the desired body, the three-way restore, capacity weights */
#ifndef RG_BODY_H
#define RG_BODY_H

#include <jansson.h>
#include <stddef.h>

#include "rollgate/util.h"

/* The writable fields of a strategy (docs/platform-api.md). A PATCH names any of them. */
extern const char *const rg_body_fields[];

/* The PATCH body that turns `live` into what `template_body` asks for: every writable field
 * the template sets (name, settings merged key by key, targets replaced whole). Fields the
 * template does not name are left out, so a person's value for them stays.
 * @param[out] out  new reference; caller json_decref. */
int rg_body_desired_patch(json_t **out, const json_t *live, const json_t *template_body);

/* True when every field of `patch` already holds that value in `live` (the apply is done). */
int rg_body_patch_applied(const json_t *live, const json_t *patch);
/* rg_body_same (util.h, defined in util/json.c: the platform layer uses it too). */

/* The three-way restore. For each writable field, and for each key of an object field:
 * - live equals what the engine applied -> back to the snapshot's value;
 * - live differs from what the engine applied -> a person edited it since: keep live's value
 *   and name the field in `kept` (a JSON array of dotted paths, e.g. "settings.longRunning").
 * @param[out] out_patch  the PATCH body that restores (may be {} when nothing to do)
 * @param[out] out_kept   new array of kept paths */
int rg_body_restore_patch(json_t **out_patch, json_t **out_kept, const json_t *snapshot,
                          const json_t *applied, const json_t *live);

/* Weights in proportion to `agents` that sum exactly to `total` (largest remainder; ties go to
 * the earlier entry). All-zero agents give an equal split. */
int rg_body_capacity_weights(int *out, const double *agents, size_t n, int total);

/* A canonical compact rendering (sorted keys) for comparisons and hashes; caller frees. */
char *rg_body_canonical(const json_t *body);

#endif
