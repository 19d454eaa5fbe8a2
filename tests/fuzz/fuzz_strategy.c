/* fuzz_strategy.c - libFuzzer target: strategy bodies through the rg_body_* merge functions */
#include <jansson.h>

#include "fuzz.h"
#include "rollgate/body.h"

#define MAX_QUEUES 64

/* What the platform holds after a PATCH: the patch's fields replace the live ones. */
static json_t *apply(const json_t *live, const json_t *patch)
{
    json_t *out = json_deep_copy(live);
    FUZZ_CHECK(out != NULL && json_object_update(out, (json_t *)patch) == 0, "apply a patch");
    return out;
}

/* Desired patch: once applied, the live body must count as applied. */
static void check_desired(const json_t *live, const json_t *template_body)
{
    json_t *patch = NULL, *after;

    FUZZ_CHECK(rg_body_desired_patch(&patch, live, template_body) == 0, "desired patch");
    after = apply(live, patch);
    FUZZ_CHECK(rg_body_patch_applied(after, patch), "an applied patch counts as applied");
    json_decref(after);
    json_decref(patch);
}

/* A live object field whose keys all come from the snapshot or the change. */
static int keys_within(const json_t *live, const json_t *snap, const json_t *applied)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)live, key, value)
    {
        if (json_object_get(snap, key) == NULL && json_object_get(applied, key) == NULL)
            return 0;
    }
    return 1;
}

/* Three-way restore: with nothing kept, every writable field is the snapshot's again. */
static void check_restore(const json_t *snap, const json_t *applied, const json_t *live)
{
    json_t *patch = NULL, *kept = NULL, *after, *item;
    size_t i;

    FUZZ_CHECK(rg_body_restore_patch(&patch, &kept, snap, applied, live) == 0, "restore");
    FUZZ_CHECK(json_is_object(patch) && json_is_array(kept), "restore output types");
    json_array_foreach(kept, i, item) FUZZ_CHECK(json_is_string(item), "kept paths are strings");
    after = apply(live, patch);
    for (i = 0; rg_body_fields[i] && json_array_size(kept) == 0; i++) {
        const char *f = rg_body_fields[i];
        json_t *s = json_object_get(snap, f), *l = json_object_get(live, f);
        if (s == NULL || (json_is_object(s) && json_is_object(l) &&
                          !keys_within(l, s, json_object_get(applied, f))))
            continue;
        FUZZ_CHECK(json_equal(json_object_get(after, f), s), "restored to the snapshot");
    }
    if (json_equal((json_t *)live, (json_t *)applied))
        FUZZ_CHECK(json_array_size(kept) == 0, "nothing is kept when nobody edited");
    json_decref(after);
    json_decref(patch);
    json_decref(kept);
}

/* Capacity weights over the targets' numeric weights taken as agent counts. */
static void check_capacity(const json_t *live)
{
    json_t *targets = json_object_get(live, "targets"), *t;
    double agents[MAX_QUEUES];
    int weights[MAX_QUEUES], sum = 0, rc;
    size_t n = 0, i;

    json_array_foreach(targets, i, t)
    {
        json_t *w = json_object_get(t, "weight");
        if (n < MAX_QUEUES && json_is_number(w))
            agents[n++] = json_number_value(w);
    }
    if (n == 0)
        return;
    rc = rg_body_capacity_weights(weights, agents, n, 100);
    if (rc < 0) {
        FUZZ_CHECK_ERROR(rc);
        return;
    }
    for (i = 0; i < n; i++) {
        FUZZ_CHECK(weights[i] >= 0 && weights[i] <= 100, "a weight is within 0..100");
        sum += weights[i];
    }
    FUZZ_CHECK(sum == 100, "capacity weights sum to the total");
}

static void check_canonical(const json_t *body)
{
    char *a = rg_body_canonical(body), *b;
    json_t *back;

    FUZZ_CHECK(a != NULL, "canonical rendering");
    back = json_loads(a, JSON_DECODE_ANY, NULL);
    FUZZ_CHECK(back != NULL, "the canonical rendering parses");
    b = rg_body_canonical(back);
    FUZZ_CHECK(b != NULL && strcmp(a, b) == 0, "canonical rendering is a fixed point");
    free(a);
    free(b);
    json_decref(back);
}

/* Input: a JSON object (the live body, also snapshot and change) or an array
 * [snapshot, applied, live] of strategy bodies. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    json_t *snap, *applied, *live;

    if (doc == NULL)
        return 0;
    rg_error_clear();
    if (json_is_array(doc)) {
        snap = json_array_get(doc, 0);
        applied = json_array_get(doc, 1);
        live = json_array_get(doc, 2);
    } else {
        snap = applied = live = doc;
    }
    if (!json_is_object(snap) || !json_is_object(applied) || !json_is_object(live)) {
        json_decref(doc);
        return 0;
    }
    check_desired(snap, applied);
    check_desired(live, applied);
    check_restore(snap, applied, live);
    check_restore(snap, applied, applied);
    check_capacity(live);
    check_canonical(doc);
    json_decref(doc);
    return 0;
}
