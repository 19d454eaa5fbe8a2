/* skip.h - skips that ctest sees: a test program whose prerequisite is missing exits 77
 * (SKIP_RETURN_CODE of every rg_unit_test), so ctest reports SKIPPED, never PASSED */
#ifndef RG_TEST_SKIP_H
#define RG_TEST_SKIP_H

#include "rollgate/error.h"

/* The exit code ctest's SKIP_RETURN_CODE is set to (tests/CMakeLists.txt). */
#define RG_TEST_SKIP_CODE 77

/* Records why the current test cannot run (printed on stderr as "SKIP: ..."). A program
 * named in $RG_REQUIRE (space- or comma-separated test names, or "all") fails instead. */
void rg_test_note_skip(const char *fmt, ...) RG_PRINTF(1, 2);

/* Skips the current cmocka test with a reason; needs <cmocka.h> included first. */
#define rg_test_skip(...)                                                                          \
    do {                                                                                           \
        rg_test_note_skip(__VA_ARGS__);                                                            \
        skip();                                                                                    \
    } while (0)

/* The program's exit code from cmocka_run_group_tests' result: 1 when a test failed
 * (or a required test skipped), RG_TEST_SKIP_CODE when one skipped, else 0. */
int rg_test_exit(int failed);

/* Whether this program is listed in $RG_REQUIRE (it must not skip). */
int rg_test_required(void);

#endif
