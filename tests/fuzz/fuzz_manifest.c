/* fuzz_manifest.c - libFuzzer target: manifest loading, normalised JSON round trip, resolution */
#include <jansson.h>

#include "fuzz.h"
#include "rollgate/manifest.h"

/* Relative policy paths resolve inside the shipped policies, never the fuzzer's cwd. */
#define FUZZ_BASE_DIR RG_SOURCE_DIR "/policies"

/* The stored form must load back to an equal manifest and render the same text again. */
static void check_round_trip(const rg_manifest *m)
{
    json_t *json = NULL, *json2 = NULL;
    char *text = NULL, *text2 = NULL;
    rg_manifest *back = NULL;
    int rc;

    FUZZ_CHECK(rg_manifest_to_json(&json, m) == 0, "a loaded manifest renders to JSON");
    text = json_dumps(json, JSON_COMPACT);
    FUZZ_CHECK(text != NULL, "the normalised JSON dumps");
    rc = rg_manifest_load_buffer(&back, "stored.json", text, strlen(text), FUZZ_BASE_DIR, NULL);
    if (rc < 0)
        fprintf(stderr, "stored form: %s\n", text);
    FUZZ_CHECK(rc == 0, "the normalised JSON loads again");
    FUZZ_CHECK(rg_manifest_equal(m, back), "the reloaded manifest is equal");
    FUZZ_CHECK(rg_manifest_to_json(&json2, back) == 0, "the reloaded manifest renders");
    text2 = json_dumps(json2, JSON_COMPACT);
    FUZZ_CHECK(text2 != NULL && strcmp(text, text2) == 0, "the normalised JSON is stable");
    free(text);
    free(text2);
    json_decref(json);
    json_decref(json2);
    rg_manifest_free(back);
}

/* Every resolved target has a stage and a body; stage ends never decrease. */
static void check_resolution(const rg_manifest *m)
{
    rg_resolution *res = NULL;
    int rc = rg_manifest_resolve(&res, m);

    if (rc < 0) {
        FUZZ_CHECK_ERROR(rc);
        return;
    }
    FUZZ_CHECK(res->stages_count == m->stages_count, "one stage end per stage");
    for (size_t i = 0; i < res->count; i++) {
        FUZZ_CHECK(res->targets[i].seq == i, "targets are in rollout order");
        FUZZ_CHECK(res->targets[i].stage < res->stages_count, "a target's stage exists");
        FUZZ_CHECK(json_is_object(res->targets[i].body), "a target has a rendered body");
    }
    for (size_t k = 0; k < res->stages_count; k++) {
        FUZZ_CHECK(res->stage_end[k] <= res->count, "a stage covers existing targets");
        FUZZ_CHECK(k == 0 || res->stage_end[k] >= res->stage_end[k - 1], "stages only grow");
    }
    FUZZ_CHECK(res->count == 0 || res->stage_end[res->stages_count - 1] == res->count,
               "the last stage covers every target");
    rg_resolution_free(res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rg_manifest *m = NULL;
    int rc;

    rg_error_clear();
    rc = rg_manifest_load_buffer(&m, "fuzz.yaml", (const char *)data, size, FUZZ_BASE_DIR, NULL);
    if (rc < 0) {
        FUZZ_CHECK_ERROR(rc);
        FUZZ_CHECK(m == NULL, "the out-parameter is untouched on failure");
        return 0;
    }
    FUZZ_CHECK(m != NULL && m->policy != NULL, "a loaded manifest has its policy");
    FUZZ_CHECK(m->stages_count > 0 && m->stages[m->stages_count - 1].percent == 100,
               "stages end at 100");
    check_round_trip(m);
    check_resolution(m);
    rg_manifest_free(m);
    return 0;
}
