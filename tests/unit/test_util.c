/* test_util.c - buffers, checked parsing, durations, ISO-8601 time, SHA-256, errors */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "rollgate/util.h"

static void test_buf_grows_and_detaches(void **state)
{
    rg_buf b = RG_BUF_INIT;
    char *s;
    (void)state;
    assert_string_equal(rg_buf_cstr(&b), "");
    for (int i = 0; i < 1000; i++)
        assert_int_equal(rg_buf_printf(&b, "%d,", i % 10), 0);
    assert_int_equal(b.len, 2000);
    assert_memory_equal(b.ptr, "0,1,2,", 6);
    s = rg_buf_detach(&b);
    assert_null(b.ptr);
    assert_int_equal(strlen(s), 2000);
    free(s);
    s = rg_buf_detach(&b);
    assert_string_equal(s, "");
    free(s);
}

static void test_parse_int64_checks_everything(void **state)
{
    int64_t v = 7;
    (void)state;
    assert_int_equal(rg_parse_int64(&v, "42", 0, 100), 0);
    assert_int_equal(v, 42);
    assert_int_equal(rg_parse_int64(&v, "-5", -10, 10), 0);
    assert_int_equal(v, -5);
    v = 7;
    assert_int_equal(rg_parse_int64(&v, "101", 0, 100), RG_EINVALID);
    assert_non_null(strstr(rg_error_last(), "out of range"));
    assert_int_equal(rg_parse_int64(&v, "12x", 0, 100), RG_EINVALID);
    assert_int_equal(rg_parse_int64(&v, "", 0, 100), RG_EINVALID);
    assert_int_equal(rg_parse_int64(&v, " 1", 0, 100), RG_EINVALID);
    assert_int_equal(rg_parse_int64(&v, "99999999999999999999", INT64_MIN, INT64_MAX), RG_EINVALID);
    assert_int_equal(v, 7); /* untouched on failure */
}

static void test_parse_double(void **state)
{
    double d = 0;
    (void)state;
    assert_int_equal(rg_parse_double(&d, "0.25"), 0);
    assert_true(d == 0.25);
    assert_int_equal(rg_parse_double(&d, "nan"), RG_EINVALID);
    assert_int_equal(rg_parse_double(&d, "inf"), RG_EINVALID);
    assert_int_equal(rg_parse_double(&d, "1e999"), RG_EINVALID);
    assert_int_equal(rg_parse_double(&d, "1.5kg"), RG_EINVALID);
}

static void test_durations(void **state)
{
    static const struct {
        const char *in;
        int64_t ms;
    } good[] = {{"15m", 900000},      {"10s", 10000},        {"1h30m", 5400000}, {"250ms", 250},
                {"2d", 172800000},    {"PT1M", 60000},       {"PT30S", 30000},   {"PT0.5S", 500},
                {"P1DT2H", 93600000}, {"PT1H1M1S", 3661000}, {"1.5s", 1500},     {"0s", 0}};
    static const char *bad[] = {"",
                                "15",
                                "m",
                                "15x",
                                "-5m",
                                "PT",
                                "P1H",
                                "PT1D",
                                "P",
                                "1m5",
                                "PTM",
                                "15 m",
                                "77777777777709m",
                                "P999999999999D"};
    int64_t ms;
    rg_buf b = RG_BUF_INIT;
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(rg_parse_duration_ms(&ms, good[i].in), 0);
        assert_int_equal(ms, good[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(rg_parse_duration_ms(&ms, bad[i]), RG_EINVALID);
        assert_non_null(strstr(rg_error_last(), "duration"));
    }
    assert_int_equal(rg_format_duration(&b, 5400000), 0);
    assert_string_equal(rg_buf_cstr(&b), "1h30m");
    /* the largest exact duration round-trips through its text */
    assert_int_equal(rg_parse_duration_ms(&ms, "104249991d"), 0);
    rg_buf_clear(&b);
    assert_int_equal(rg_format_duration(&b, ms), 0);
    {
        int64_t again = 0;
        assert_int_equal(rg_parse_duration_ms(&again, rg_buf_cstr(&b)), 0);
        assert_int_equal(again, ms);
    }
    rg_buf_clear(&b);
    assert_int_equal(rg_format_iso_duration(&b, 60000), 0);
    assert_string_equal(rg_buf_cstr(&b), "PT1M");
    rg_buf_clear(&b);
    assert_int_equal(rg_format_iso_duration(&b, 1500), 0);
    assert_string_equal(rg_buf_cstr(&b), "PT1.500S");
    rg_buf_clear(&b);
    assert_int_equal(rg_format_iso_duration(&b, 5000), 0);
    assert_string_equal(rg_buf_cstr(&b), "PT5S");
    rg_buf_dispose(&b);
}

static void test_time_roundtrip(void **state)
{
    char out[RG_TIME_ISO_LEN];
    int64_t t, a, b;
    (void)state;
    assert_int_equal(rg_time_parse(&t, "2026-11-22T10:00:00.000Z"), 0);
    assert_int_equal(t, INT64_C(1795341600000));
    rg_time_format(out, t + 1234);
    assert_string_equal(out, "2026-11-22T10:00:01.234Z");
    assert_int_equal(rg_time_parse(&t, "1970-01-01T00:00:00Z"), 0);
    assert_int_equal(t, 0);
    assert_int_equal(rg_time_parse(&t, "2024-02-29T12:00:00+02:00"), 0);
    rg_time_format(out, t);
    assert_string_equal(out, "2024-02-29T10:00:00.000Z");
    assert_int_equal(rg_time_parse(&t, "2023-02-29T12:00:00Z"), RG_EINVALID);
    assert_int_equal(rg_time_parse(&t, "2023-13-01T12:00:00Z"), RG_EINVALID);
    assert_int_equal(rg_time_parse(&t, "2023-01-01 12:00:00Z"), RG_EINVALID);
    assert_int_equal(rg_time_parse(&t, "2023-01-01T12:00:00"), RG_EINVALID);
    assert_int_equal(rg_time_parse(&t, "2023-01-01T12:00:00Zjunk"), RG_EINVALID);
    assert_int_equal(rg_interval_parse(&a, &b, "2026-11-22T10:00:00.000Z/2026-11-22T10:15:00.000Z"),
                     0);
    assert_int_equal(b - a, 900000);
    assert_int_equal(rg_interval_parse(&a, &b, "2026-11-22T10:15:00Z/2026-11-22T10:00:00Z"),
                     RG_EINVALID);
    rg_interval_format(out, sizeof(out), 0, 1000); /* truncated safely, NUL-terminated */
    assert_int_equal(strlen(out), sizeof(out) - 1);
}

static void test_sha256_known_vectors(void **state)
{
    char hex[65];
    uint8_t mac[RG_SHA256_LEN];
    char id[13];
    (void)state;
    rg_sha256_hex(hex, "", 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    rg_sha256_hex(hex, "abc", 3);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* RFC 4231 test case 2 */
    rg_hmac_sha256(mac, "Jefe", 4, "what do ya want for nothing?", 28);
    assert_int_equal(mac[0], 0x5b);
    assert_int_equal(mac[1], 0xdc);
    assert_int_equal(mac[31], 0x43);
    rg_hash_id(id, "org_parent_001");
    assert_int_equal(strlen(id), 12);
    assert_true(strstr(id, "org") == NULL);
}

static void test_error_record(void **state)
{
    (void)state;
    rg_error_clear();
    assert_string_equal(rg_error_last(), "");
    assert_int_equal(rg_error_set(RG_ENOTFOUND, "rollout %s", "r1"), RG_ENOTFOUND);
    assert_int_equal(rg_error_prefix("status"), RG_ENOTFOUND);
    assert_string_equal(rg_error_last(), "status: rollout r1");
    assert_int_equal(rg_error_code(), RG_ENOTFOUND);
    assert_string_equal(rg_error_name(RG_EDB), "EDB");
}

static void test_shortest_round_trip_reals(void **state)
{
    static const struct {
        double value;
        const char *text;
    } cases[] = {{0.05, "0.05"},  {0.1 + 0.2, "0.30000000000000004"},
                 {5.0, "5.0"},    {-2.5, "-2.5"},
                 {1e-7, "1e-07"}, {1e300, "1e+300"},
                 {0.0, "0.0"},    {123456789012.0, "123456789012.0"}};
    char out[64];
    json_t *doc;
    char *text;
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(rg_format_double(out, sizeof(out), cases[i].value), 0);
        assert_string_equal(out, cases[i].text);
    }
    /* Any double reads back exactly (xorshift over the bit patterns of finite doubles). */
    for (int i = 0; i < 20000; i++) {
        double v;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy(&v, &x, sizeof(v));
        if (!isfinite(v))
            continue;
        assert_int_equal(rg_format_double(out, sizeof(out), v), 0);
        assert_true(strtod(out, NULL) == v);
    }
    assert_int_equal(rg_format_double(out, sizeof(out), NAN), RG_EINVALID);
    assert_int_equal(rg_format_double(out, 4, 0.30000000000000004), RG_ELIMIT);

    doc = json_pack("{s:f, s:[f, i, s, n, b], s:{}}", "b", 0.05, "a", 1.5, 7, "q\"", 1, "c");
    text = rg_json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"a\":[1.5,7,\"q\\\"\",null,true],\"b\":0.05,\"c\":{}}");
    free(text);
    text = rg_json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    assert_string_equal(text, "{\n  \"a\": [\n    1.5,\n    7,\n    \"q\\\"\",\n    null,\n"
                              "    true\n  ],\n  \"b\": 0.05,\n  \"c\": {}\n}");
    free(text);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_grows_and_detaches),
        cmocka_unit_test(test_shortest_round_trip_reals),
        cmocka_unit_test(test_parse_int64_checks_everything),
        cmocka_unit_test(test_parse_double),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_time_roundtrip),
        cmocka_unit_test(test_sha256_known_vectors),
        cmocka_unit_test(test_error_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
