/* fuzz_policy.c - libFuzzer target: policy loading, normalised JSON round trip, deep copy */
#include <jansson.h>
#include <math.h>

#include "fuzz.h"
#include "rollgate/policy.h"

static void check_policy(const rg_policy *p)
{
    FUZZ_CHECK(p->alpha > 0 && p->alpha < 0.5, "alpha is in (0, 0.5)");
    FUZZ_CHECK(p->breaker_consecutive >= 1 && p->errors_limit >= 1, "counts are positive");
    FUZZ_CHECK(p->capacity_min_ratio >= 0 && p->capacity_min_ratio <= 1, "min_ratio in [0,1]");
    FUZZ_CHECK(p->poll_interval_ms > 0 && p->granularity_ms > 0, "poll and granularity > 0");
    FUZZ_CHECK(p->metrics_count >= 1 && p->metrics_count <= RG_POLICY_MAX_METRICS,
               "metric count within bounds");
    for (size_t i = 0; i < p->metrics_count; i++) {
        FUZZ_CHECK(p->metrics[i].name != NULL, "a metric has a name");
        FUZZ_CHECK(isfinite(p->metrics[i].tolerance) && p->metrics[i].tolerance > 0,
                   "a tolerance is finite and positive");
    }
}

static void check_round_trip(const rg_policy *p)
{
    json_t *json = NULL, *json2 = NULL;
    char *text = NULL, *text2 = NULL;
    rg_policy *back = NULL, *copy = NULL;
    int rc;

    FUZZ_CHECK(rg_policy_to_json(&json, p) == 0, "a loaded policy renders to JSON");
    text = json_dumps(json, JSON_COMPACT);
    FUZZ_CHECK(text != NULL, "the normalised JSON dumps");
    rc = rg_policy_load_buffer(&back, "stored.json", text, strlen(text));
    if (rc < 0)
        fprintf(stderr, "stored form: %s\n", text);
    FUZZ_CHECK(rc == 0, "the normalised JSON loads again");
    FUZZ_CHECK(rg_policy_equal(p, back), "the reloaded policy is equal");
    FUZZ_CHECK(rg_policy_to_json(&json2, back) == 0, "the reloaded policy renders");
    text2 = json_dumps(json2, JSON_COMPACT);
    FUZZ_CHECK(text2 != NULL && strcmp(text, text2) == 0, "the normalised JSON is stable");
    FUZZ_CHECK(rg_policy_dup(&copy, p) == 0 && rg_policy_equal(p, copy), "a copy is equal");
    free(text);
    free(text2);
    json_decref(json);
    json_decref(json2);
    rg_policy_free(back);
    rg_policy_free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rg_policy *p = NULL;
    int rc;

    rg_error_clear();
    rc = rg_policy_load_buffer(&p, "fuzz.yaml", (const char *)data, size);
    if (rc < 0) {
        FUZZ_CHECK_ERROR(rc);
        FUZZ_CHECK(p == NULL, "the out-parameter is untouched on failure");
        return 0;
    }
    check_policy(p);
    check_round_trip(p);
    rg_policy_free(p);
    return 0;
}
