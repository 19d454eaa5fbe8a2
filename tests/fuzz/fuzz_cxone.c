/* fuzz_cxone.c - libFuzzer target: what a NICE CXone brand answers (token and discovery
 * replies, skill summary entries, durations as numbers or strings, the id_token's tenant) */
#include <jansson.h>
#include <math.h>

#include "fuzz.h"
#include "platform/client.h"

static void check_reply(const json_t *doc)
{
    char tenant[129];
    rg_buf url = RG_BUF_INIT;
    rg_platform_bucket bk;
    int rc;

    rc = rg_platform__cxone_auth_parse(tenant, sizeof(tenant), doc);
    if (rc < 0)
        FUZZ_CHECK_ERROR(rc);
    else
        FUZZ_CHECK(tenant[0] != '\0' && strlen(tenant) <= 128, "a tenant id of 1..128 bytes");
    rc = rg_platform__cxone_discovery_parse(&url, doc, "fuzz", "v31.0", 0);
    if (rc < 0)
        FUZZ_CHECK_ERROR(rc);
    else
        FUZZ_CHECK((strncmp(url.ptr, "https://", 8) == 0 || strncmp(url.ptr, "http://", 7) == 0) &&
                       strstr(url.ptr, "/incontactapi/services/v31.0") != NULL,
                   "the API base is http(s) (http only for loopback) and has the services path");
    rg_buf_dispose(&url);
    memset(&bk, 0, sizeof(bk));
    rc = rg_platform__cxone_bucket(&bk, doc, "skillSummaries[0]");
    if (rc < 0) {
        FUZZ_CHECK_ERROR(rc);
    } else {
        FUZZ_CHECK(bk.offered >= 0 && bk.abandoned >= 0 && bk.abandoned <= bk.offered &&
                       bk.answered >= 0 && bk.handled >= 0,
                   "counts are non-negative and abandoned <= offered");
        FUZZ_CHECK(isfinite(bk.answered_sum_ms) && bk.answered_sum_ms >= 0 &&
                       isfinite(bk.handle_sum_ms) && bk.handle_sum_ms >= 0,
                   "sums are finite and non-negative");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size), tenant[129];
    json_t *doc, *v;
    double d = -1;
    int rc;

    if (s == NULL)
        return 0;
    rg_error_clear();
    rc = rg_platform__cxone_tenant(tenant, sizeof(tenant), s);
    if (rc < 0)
        FUZZ_CHECK_ERROR(rc);
    if ((v = json_string(s)) != NULL) {
        rc = rg_platform__cxone_seconds(&d, v, "asa");
        if (rc < 0)
            FUZZ_CHECK_ERROR(rc);
        else
            FUZZ_CHECK(isfinite(d) && d >= 0, "a duration is finite and non-negative");
        json_decref(v);
    }
    if ((doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL)) != NULL) {
        check_reply(doc);
        json_decref(doc);
    }
    free(s);
    return 0;
}
