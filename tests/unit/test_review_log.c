/* test_review_log.c - a logged message cannot forge a log line or drive a terminal: the
 * bytes a platform's error text or a tenant's value carries are escaped at rg_log */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollgate/util.h"

static rg_buf seen = RG_BUF_INIT;

static void capture(rg_log_level level, const char *component, const char *message, void *payload)
{
    (void)level, (void)component, (void)payload;
    rg_buf_puts(&seen, message);
}

static void test_controls_are_escaped(void **state)
{
    /* What a platform's 400 quoting a tenant's field value could carry. */
    const char *quoted = "bad name 'x\n2026-12-01T00:00:00.000Z error serve: forged\r"
                         "\x1b[2J\x7f'";
    const char *text;
    (void)state;
    rg_log_set_sink(capture, NULL, RG_LOG_DEBUG);
    rg_log(RG_LOG_WARN, "platform", "org o1: PATCH strategy s: HTTP 400: %s", quoted);
    rg_log_set_sink(NULL, NULL, RG_LOG_ERROR);
    text = rg_buf_cstr(&seen);
    for (const char *p = text; *p; p++)
        assert_false((unsigned char)*p < 0x20 || *p == 0x7f);
    assert_non_null(strstr(text, "bad name 'x\\x0a2026-12-01T00:00:00.000Z error serve: "
                                 "forged\\x0d\\x1b[2J\\x7f'"));
    rg_buf_dispose(&seen);
}

static void test_long_message_stays_terminated(void **state)
{
    char big[3000];
    (void)state;
    memset(big, '\n', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    rg_log_set_sink(capture, NULL, RG_LOG_DEBUG);
    rg_log(RG_LOG_WARN, "t", "%s", big);
    rg_log_set_sink(NULL, NULL, RG_LOG_ERROR);
    assert_true(seen.len > 1000 && seen.len < 2048);
    assert_int_equal(seen.len % 4, 0); /* whole escapes only */
    assert_null(strchr(rg_buf_cstr(&seen), '\n'));
    rg_buf_dispose(&seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_controls_are_escaped),
        cmocka_unit_test(test_long_message_stays_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
