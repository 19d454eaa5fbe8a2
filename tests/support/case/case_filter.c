/* case_filter.c - run one cmocka case alone: RG_TEST_CASE=<glob> before any test program
 * (`cd build && RG_TEST_CASE=test_restart_does_not_resend ctest -R test_serve_flow -V`, or
 * the program itself) runs only the cases whose names match (cmocka_set_test_filter: `*`
 * and `?` wildcards). Compiled into every rg_unit_test program, before main. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

__attribute__((constructor)) static void rg_test_case_filter(void)
{
    const char *pattern = getenv("RG_TEST_CASE");

    if (pattern != NULL && pattern[0] != '\0')
        cmocka_set_test_filter(pattern);
}
