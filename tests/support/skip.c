/* skip.c - the skip record behind rg_test_skip and the exit code ctest reads */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/skip.h"

static int skipped;          /* tests of this program that skipped */
static int required_skipped; /* of those, skips that $RG_REQUIRE forbids */

int rg_test_required(void)
{
    /* $RG_TEST_NAME: the ctest name when one program runs as several tests (the store
     * suite on SQLite and on PostgreSQL). */
    const char *list = getenv("RG_REQUIRE"), *name = getenv("RG_TEST_NAME"), *p;
    size_t n;

    if (name == NULL || *name == '\0')
        name = program_invocation_short_name;
    n = strlen(name);
    if (list == NULL || *list == '\0')
        return 0;
    if (strcmp(list, "all") == 0)
        return 1;
    for (p = list; (p = strstr(p, name)) != NULL; p += n) {
        int starts = p == list || p[-1] == ' ' || p[-1] == ',';
        int ends = p[n] == '\0' || p[n] == ' ' || p[n] == ',';
        if (starts && ends)
            return 1;
    }
    return 0;
}

void rg_test_note_skip(const char *fmt, ...)
{
    va_list ap;
    int required = rg_test_required();

    fprintf(stderr, "%s: ", required ? "FAIL (required by $RG_REQUIRE, but skipped)" : "SKIP");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    skipped++;
    required_skipped += required;
}

int rg_test_exit(int failed)
{
    if (failed || required_skipped)
        return 1;
    return skipped ? RG_TEST_SKIP_CODE : 0;
}
