/* test_platform.h - what the files of test_platform share: the fixture (a rollgate-sim with
 * N orgs and a client on it, in test_platform.c), its helpers, and the cases of
 * test_platform_write.c (the 412 path) and test_platform_queries.c, registered in
 * test_platform.c's main. */
#ifndef RG_TEST_PLATFORM_H
#define RG_TEST_PLATFORM_H

#include <stddef.h>

#include <jansson.h>

#include "rollgate/platform.h"
#include "rollgate/util.h"
#include "support/simproc.h"

typedef struct fixture {
    char dir[4096];
    char scenario[4200];
    char creds[4200];
    json_t *doc;
    rg_simproc sim;
    rg_platform *platform;
    size_t norgs;
} fixture;

/* Everything logged at debug level during the whole program (test_no_secrets_logged). */
extern rg_buf captured;

/* Starts rollgate-sim with `norgs` orgs and a client on it with `opts`. */
void fixture_start(fixture *fx, size_t norgs, const rg_platform_options *opts);
void fixture_stop(fixture *fx);
/* Fast timeouts and backoff for tests. */
void test_options(rg_platform_options *o);
/* The simulator's request log (GET /sim/requests); new reference. */
json_t *sim_requests(const rg_simproc *sim);
/* A client secret handed to the client, for test_no_secrets_logged. */
void remember_secret(const char *secret);

/* test_platform_write.c */
void test_conditional_patch_412(void **state);
/* test_platform_queries.c */
void test_analytics_and_bad_credentials(void **state);

#endif
