/* fuzz.h - what every fuzz target shares: the libFuzzer entry point and property checks */
#ifndef RG_FUZZ_H
#define RG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/error.h"

/* The entry point libFuzzer calls, and tests/fuzz/replay.c in the plain build. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken property is a finding: say which, then abort so the fuzzer keeps the input. */
#define FUZZ_CHECK(cond, what)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property broken: %s (last error: %s)\n", __FILE__, __LINE__,   \
                    (what), rg_error_last());                                                      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A failing call must say why: a negative code with an empty message is a bug. */
#define FUZZ_CHECK_ERROR(rc)                                                                       \
    do {                                                                                           \
        FUZZ_CHECK((rc) < 0 && (rc) >= RG_ETIMEOUT, "a failure returns a known RG_E* code");       \
        FUZZ_CHECK(rg_error_last()[0] != '\0', "a failure carries a message");                     \
    } while (0)

/* A NUL-terminated copy of the input (the parsers under test take C strings). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s != NULL) {
        if (size > 0)
            memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

#endif
