/* body.c - routing-strategy bodies: desired PATCH, three-way restore, capacity weights */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/body.h"
#include "rollgate/error.h"

const char *const rg_body_fields[] = {"name", "settings", "targets", NULL};

static int is_field(const char *key)
{
    for (size_t i = 0; rg_body_fields[i]; i++)
        if (strcmp(rg_body_fields[i], key) == 0)
            return 1;
    return 0;
}

static json_t *copy_or_null(const json_t *v)
{
    return v ? json_deep_copy(v) : json_null();
}

int rg_body_desired_patch(json_t **out, const json_t *live, const json_t *template_body)
{
    json_t *patch = NULL;
    const char *key;
    json_t *value;

    if (!json_is_object(live) || !json_is_object(template_body))
        return rg_error_set(RG_EINVALID, "a strategy body and a template must be JSON objects");
    if ((patch = json_object()) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    json_object_foreach((json_t *)template_body, key, value)
    {
        json_t *v;
        if (!is_field(key))
            continue; /* the manifest loader refuses unknown template keys */
        if (strcmp(key, "settings") == 0 && json_is_object(value)) {
            /* settings merge key by key onto the live ones, so keys the template leaves out keep
             * their live value instead of being dropped by a whole-object replace. */
            const json_t *cur = json_object_get(live, "settings");
            v = json_is_object(cur) ? json_deep_copy(cur) : json_object();
            if (v == NULL || json_object_update(v, value) < 0) {
                json_decref(v);
                json_decref(patch);
                return rg_error_set(RG_ENOMEM, "out of memory");
            }
        } else {
            v = json_deep_copy(value);
        }
        if (v == NULL || json_object_set_new(patch, key, v) < 0) {
            json_decref(patch);
            return rg_error_set(RG_ENOMEM, "out of memory");
        }
    }
    *out = patch;
    return 0;
}

int rg_body_patch_applied(const json_t *live, const json_t *patch)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)patch, key, value)
    {
        if (!rg_body_same(json_object_get(live, key), value))
            return 0;
    }
    return 1;
}

static int note_kept(json_t *kept, const char *field, const char *subkey)
{
    char path[256];
    if (subkey)
        snprintf(path, sizeof(path), "%s.%s", field, subkey);
    else
        snprintf(path, sizeof(path), "%s", field);
    return json_array_append_new(kept, json_string(path));
}

/* settings: each key on its own, so a person's edit of one key does not pin the others. */
static int restore_object(json_t *patch, json_t *kept, const char *field, const json_t *snap,
                          const json_t *applied, const json_t *live)
{
    json_t *merged = json_is_object(live) ? json_deep_copy(live) : json_object();
    const char *key;
    json_t *value;
    int changed = 0;

    if (merged == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    json_object_foreach((json_t *)snap, key, value)
    {
        json_t *a = json_object_get(applied, key), *l = json_object_get(live, key);
        if (rg_body_same(l, value))
            continue;
        if (l != NULL && !rg_body_same(l, a)) {
            note_kept(kept, field, key);
            continue;
        }
        json_object_set_new(merged, key, json_deep_copy(value));
        changed = 1;
    }
    /* Keys the change added that the snapshot never had: drop them unless a person edited. */
    json_object_foreach((json_t *)applied, key, value)
    {
        json_t *l = json_object_get(live, key);
        if (json_object_get(snap, key) != NULL || l == NULL)
            continue;
        if (!rg_body_same(l, value)) {
            note_kept(kept, field, key);
            continue;
        }
        json_object_del(merged, key);
        changed = 1;
    }
    if (changed)
        json_object_set_new(patch, field, merged);
    else
        json_decref(merged);
    return 0;
}

int rg_body_restore_patch(json_t **out_patch, json_t **out_kept, const json_t *snapshot,
                          const json_t *applied, const json_t *live)
{
    json_t *patch = json_object(), *kept = json_array();

    if (patch == NULL || kept == NULL)
        goto nomem;
    for (size_t i = 0; rg_body_fields[i]; i++) {
        const char *f = rg_body_fields[i];
        const json_t *s = json_object_get(snapshot, f), *a = json_object_get(applied, f),
                     *l = json_object_get(live, f);
        if (s == NULL || rg_body_same(l, s))
            continue; /* already the snapshot's value, or nothing to restore it to */
        if (json_is_object(s) && json_is_object(l)) {
            if (restore_object(patch, kept, f, s, a, l) < 0)
                goto fail;
            continue;
        }
        if (l != NULL && !rg_body_same(l, a)) {
            if (note_kept(kept, f, NULL) < 0)
                goto nomem;
            continue;
        }
        if (json_object_set_new(patch, f, copy_or_null(s)) < 0)
            goto nomem;
    }
    *out_patch = patch;
    *out_kept = kept;
    return 0;
nomem:
    rg_error_set(RG_ENOMEM, "out of memory");
fail:
    json_decref(patch);
    json_decref(kept);
    return rg_error_code();
}

int rg_body_capacity_weights(int *out, const double *agents, size_t n, int total)
{
    double sum = 0, max = 0, *rem = NULL;
    int given = 0;

    if (n == 0 || total < 0)
        return rg_error_set(RG_EINVALID, "capacity weights need at least one queue");
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(agents[i]) || agents[i] < 0)
            return rg_error_set(RG_EINVALID, "agents on queue must be a count >= 0");
        if (agents[i] > max)
            max = agents[i];
    }
    /* Shares are taken of values scaled to at most 1, so no sum can overflow. */
    for (size_t i = 0; i < n && max > 0; i++)
        sum += agents[i] / max;
    if ((rem = malloc(n * sizeof(*rem))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        double exact = sum > 0 ? total * (agents[i] / max) / sum : (double)total / (double)n;
        out[i] = (int)floor(exact);
        rem[i] = exact - out[i];
        given += out[i];
    }
    /* Largest remainder: hand out what flooring left over, biggest fraction first. */
    while (given < total) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (rem[i] > rem[best])
                best = i;
        out[best]++;
        rem[best] = -1;
        given++;
    }
    free(rem);
    return 0;
}

char *rg_body_canonical(const json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (s == NULL)
        rg_error_set(RG_ENOMEM, "out of memory rendering a strategy body");
    return s;
}
