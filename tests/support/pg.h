/* pg.h - a throwaway PostgreSQL server for a test: initdb + pg_ctl from Debian's postgresql
 * package in a temporary directory, reachable only on a unix socket there */
#ifndef RG_TEST_PG_H
#define RG_TEST_PG_H

#include <stddef.h>

/* Starts the server once per process (later calls return at once); it is stopped and its
 * directory removed at exit (atexit). 0 when it runs; RG_TEST_SKIP_CODE (77) when the
 * binaries are missing, with the reason in `why`; -1 when they are there but the server
 * did not start (reason in `why`, the server's log on stderr). */
int rg_test_pg_start(char *why, size_t whylen);
/* Creates a fresh database `name` (letters, digits, '_') on the started server and writes
 * its conninfo URI, "postgresql:///<name>?host=<dir>&port=<port>&user=rollgate", to `uri`.
 * 0 or -1 (reason on stderr). */
int rg_test_pg_create_db(char *uri, size_t urilen, const char *name);
/* A fresh database with a generated name ("rg_<pid>_<n>"); as rg_test_pg_create_db. */
int rg_test_pg_new_db(char *uri, size_t urilen);
/* The directory holding the socket (and data/, server.log); "" before a start. */
const char *rg_test_pg_dir(void);
/* Whether this run of a test program is its PostgreSQL one ($RG_TEST_STORE_BACKEND is
 * "postgresql": the ctest variants named *_pg). */
int rg_test_pg_backend(void);
/* On the PostgreSQL run: 1 when PostgreSQL is not installed, the skip noted with its reason
 * (main then returns rg_test_exit(0): SKIPPED, or a failure under $RG_REQUIRE); 0 otherwise,
 * the server started. */
int rg_test_pg_backend_missing(void);
/* Stops the server and removes its directory; a no-op when none runs. */
void rg_test_pg_stop(void);

#endif
