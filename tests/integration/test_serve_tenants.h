/* test_serve_tenants.h - what the files of test_serve_tenants share: the fixture of two
 * hostile tenants on one server (setup in test_serve_tenants.c), its helpers, and the cases
 * of test_serve_tenants_conn.c (connections) and test_serve_tenants_files.c (the owner's
 * files), registered in test_serve_tenants.c's main. */
#ifndef RG_TEST_SERVE_TENANTS_H
#define RG_TEST_SERVE_TENANTS_H

#include <limits.h>

#include "integration/test_serve_support.h"
#include "rollgate/util.h"
#include "support/simproc.h"

#define ACME_HOOK "acme-webhook-secret"
#define EVIL_HOOK "evil-webhook-secret"
#define SECRET_LINE "root:$6$SECRETLINE$hash:19000:0:99999:7:::"

typedef struct {
    char dir[PATH_MAX], db[PATH_MAX + 16], tokens[PATH_MAX + 16], policies[PATH_MAX + 16];
    rg_simproc sim;
    serve_proc srv;
    json_t *orgs;                    /* every org of the scenario */
    json_t *acme_orgs;               /* all but the last */
    json_t *wait_orgs, *matrix_orgs; /* the first and second half of acme's: claims differ */
    char evil_org[128];
    char *acme_viewer, *acme_operator, *acme_release, *evil_release, *evil_viewer;
    int capture_fd; /* a listener no request may ever reach */
    char capture_url[64];
    char acme_rollout[64]; /* awaiting approval */
} fixture;

/* `rollgate --db DB ARGS` with output discarded; 0 when it exits 0. */
int cli(const char *db, const char *fmt, ...) RG_PRINTF(2, 3);
/* One request to the server; the HTTP status, or -1. `resp` gets the body. */
long call(fixture *f, const char *method, const char *path, const char *token,
          const char *content_type, const char *body, rg_buf *resp);
/* A YAML manifest for one org with extra platform keys and/or a policy line; caller frees. */
char *manifest_for(const char *tenant, const char *org, const char *platform_extra,
                   const char *policy);

/* test_serve_tenants_conn.c */
void test_token_before_body(void **state);
void test_streams_per_token(void **state);
void test_idle_flood(void **state);
/* test_serve_tenants_files.c */
void test_private_files(void **state);
void test_registry_rules(void **state);

#endif
