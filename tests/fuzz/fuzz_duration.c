/* fuzz_duration.c - libFuzzer target: durations, ISO-8601 times and intervals */
#include <math.h>

#include "fuzz.h"
#include "rollgate/util.h"

/* Doubles carry integers exactly up to 2^53; the parsers sum in doubles. */
#define EXACT_MS (INT64_C(1) << 50)
/* 0001-01-01T00:00:00Z .. 9999-01-01T00:00:00Z: what rg_time_format writes faithfully. */
#define TIME_MIN_MS INT64_C(-62135596800000)
#define TIME_MAX_MS INT64_C(253370764800000)

static void check_duration(const char *s)
{
    rg_buf buf = RG_BUF_INIT;
    int64_t ms = -1, back = -1;
    int rc = rg_parse_duration_ms(&ms, s);

    if (rc < 0) {
        FUZZ_CHECK_ERROR(rc);
        return;
    }
    FUZZ_CHECK(ms >= 0, "a duration is never negative");
    if (ms > EXACT_MS)
        return;
    FUZZ_CHECK(rg_format_duration(&buf, ms) == 0, "format a duration");
    FUZZ_CHECK(rg_parse_duration_ms(&back, rg_buf_cstr(&buf)) == 0 && back == ms,
               "the short form parses back to the same duration");
    if (ms > 0) {
        rg_buf_clear(&buf);
        FUZZ_CHECK(rg_format_iso_duration(&buf, ms) == 0, "format an ISO duration");
        FUZZ_CHECK(rg_parse_duration_ms(&back, rg_buf_cstr(&buf)) == 0 && back == ms,
                   "the ISO form parses back to the same duration");
    }
    rg_buf_dispose(&buf);
}

static void check_time(const char *s)
{
    char text[RG_TIME_ISO_LEN];
    int64_t t = 0, back = 0;
    int rc = rg_time_parse(&t, s);

    if (rc < 0) {
        FUZZ_CHECK_ERROR(rc);
        return;
    }
    if (t < TIME_MIN_MS || t >= TIME_MAX_MS)
        return;
    rg_time_format(text, t);
    FUZZ_CHECK(rg_time_parse(&back, text) == 0 && back == t,
               "a formatted time parses back to the same instant");
}

static void check_interval(const char *s)
{
    char text[2 * RG_TIME_ISO_LEN + 2];
    int64_t a = 0, b = 0, a2 = 0, b2 = 0;
    int rc = rg_interval_parse(&a, &b, s);

    if (rc < 0) {
        FUZZ_CHECK_ERROR(rc);
        return;
    }
    FUZZ_CHECK(b > a, "an interval ends after it starts");
    if (a < TIME_MIN_MS || b >= TIME_MAX_MS)
        return;
    rg_interval_format(text, sizeof(text), a, b);
    FUZZ_CHECK(rg_interval_parse(&a2, &b2, text) == 0 && a2 == a && b2 == b,
               "a formatted interval parses back to the same instants");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    int64_t i;
    double d;

    if (s == NULL)
        return 0;
    rg_error_clear();
    check_duration(s);
    check_time(s);
    check_interval(s);
    if (rg_parse_int64(&i, s, INT64_MIN, INT64_MAX) < 0)
        FUZZ_CHECK_ERROR(rg_error_code());
    if (rg_parse_double(&d, s) == 0)
        FUZZ_CHECK(isfinite(d), "a parsed number is finite");
    free(s);
    return 0;
}
