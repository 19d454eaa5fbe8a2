/* crashpoint.c - named points where the crash tests kill the engine (test-only, off unless
 * $ROLLGATE_TEST_CRASH_AT names one) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine_private.h"

/*
 * ROLLGATE_TEST_CRASH_AT=POINT[:N] makes the process SIGKILL itself the N-th time (default 1)
 * it reaches POINT, so tests/e2e can land a crash between any two steps that a random
 * instant would rarely hit; POINT "any" counts every point. The points are listed in
 * docs/internals/engine.md (one at every durable step). With ROLLGATE_TEST_CRASH_LOG=FILE
 * the point's name is written there just before the kill, so a test can report where it
 * landed. Read from the environment each time so nothing global is kept; the count lives in
 * a static counter that only ever matters in a process that is about to die.
 */
void rg_engine__crash_point(const char *point)
{
    static int reached;
    const char *want = getenv("ROLLGATE_TEST_CRASH_AT"), *log;
    size_t n;
    int nth = 1;

    if (want == NULL || *want == '\0')
        return;
    n = strcspn(want, ":");
    if (!(n == 3 && strncmp(want, "any", 3) == 0) &&
        (strlen(point) != n || strncmp(want, point, n) != 0))
        return;
    if (want[n] == ':')
        /* Test-only crash hook (ROLLGATE_TEST_CRASH); a bad count crashes at the first point, as 0
         * does. */
        // NOLINTNEXTLINE(cert-err34-c)
        nth = atoi(want + n + 1);
    if (++reached < nth)
        return;
    if ((log = getenv("ROLLGATE_TEST_CRASH_LOG")) != NULL && *log) {
        FILE *f = fopen(log, "w");
        if (f) {
            fputs(point, f);
            fclose(f);
        }
    }
    kill(getpid(), SIGKILL);
}
