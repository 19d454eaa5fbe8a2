/* test_serve_envs.c - environment promotion over `rollgate serve`'s API: a start refused
 * until staging completed the digest, may-promote 200/409, promote-env from the recorded
 * artifact, and tenant scoping (another tenant's artifact is 404) */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "integration/test_serve_support.h"
#include "rollgate/util.h"
#include "support/e2e.h"
#include "support/simproc.h"
#include "support/testutil.h"

static const char manifest_fmt[] =
    "name: served-envs\ntenant: acme\nstages: [100]\napproval: none\n"
    "platform: {driver: genesys}\n"
    "environments:\n"
    "  staging: {groups: [{name: stg, orgs: [org_sub_002]}]}\n"
    "  production:\n"
    "    requires: {staging: completed}\n"
    "    groups: [{name: prod, orgs: [org_sub_003]}]\n"
    "change:\n  strategy: strat_main\n  watch_queues: [queue_global_001, queue_v2]\n"
    "  template:\n    name: Routing_served\n    targets:\n"
    "      - {type: Queue, id: queue_global_001, weight: 0, priority: 1}\n"
    "      - {type: Queue, id: queue_v2, weight: 100, priority: 1}\n";

static const char *message(const json_t *doc)
{
    const char *m = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
    return m ? m : "";
}

static json_t *post_yaml(const char *base, const char *path, const char *token, const char *body,
                         long *status)
{
    rg_buf resp = RG_BUF_INIT;
    json_t *doc = NULL;
    if (serve_http(base, "POST", path, token, "application/yaml", body, status, &resp, NULL) == 0)
        doc = json_loads(rg_buf_cstr(&resp), 0, NULL);
    rg_buf_dispose(&resp);
    return doc;
}

static int wait_state(const char *base, const char *token, const char *id, const char *want)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s", id);
    for (int i = 0; i < 300; i++) {
        long status = 0;
        json_t *st = serve_http_json(base, "GET", path, token, NULL, &status);
        const char *s = json_string_value(json_object_get(st, "state"));
        int done = s && strcmp(s, want) == 0;
        json_decref(st);
        if (done)
            return 0;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void test_promotion_over_the_api(void **state)
{
    char dir[PATH_MAX], db[PATH_MAX + 16], tokens[PATH_MAX + 16], path[256], id[64];
    char digest[RG_MANIFEST_DIGEST_LEN];
    rg_simproc sim;
    serve_proc srv;
    json_t *orgs, *acme, *other, *doc, *log;
    char *release, *viewer, *intruder;
    rg_buf body = RG_BUF_INIT;
    long status = 0;
    (void)state;

    assert_int_equal(rg_simproc_start(&sim, "sim/scenarios/healthy.json"), 0);
    orgs = serve_scenario_credentials("sim/scenarios/healthy.json");
    assert_non_null(orgs);
    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(db, sizeof(db), "%s/serve.db", dir);
    snprintf(tokens, sizeof(tokens), "%s/tokens.json", dir);
    acme = json_pack("[s, s]", "org_sub_002", "org_sub_003");
    other = json_pack("[s]", "org_sub_005");
    assert_int_equal(serve_register(db, "acme", acme, sim.url, NULL), 0);
    assert_int_equal(serve_register(db, "other", other, sim.url, NULL), 0);
    release = serve_token_new(tokens, "acme", "release", "rm");
    viewer = serve_token_new(tokens, "acme", "viewer", "pipeline");
    intruder = serve_token_new(tokens, "other", "release", "intruder");
    assert_non_null(release);
    assert_non_null(viewer);
    assert_non_null(intruder);
    assert_int_equal(serve_start(&srv, db, tokens), 0);
    rg_buf_puts(&body, manifest_fmt);
    rg_buf_puts(&body, rg_e2e_policy);

    /* Production first: 409 naming staging; the production org is never written. */
    doc = post_yaml(srv.url, "/api/v1/rollouts?env=production", release, body.ptr, &status);
    assert_int_equal(status, 409);
    assert_non_null(strstr(message(doc), "requires staging completed"));
    json_decref(doc);
    /* A start without --env is bad input naming the place. */
    doc = post_yaml(srv.url, "/api/v1/rollouts", release, body.ptr, &status);
    assert_int_equal(status, 400);
    assert_non_null(strstr(message(doc), "choose one with --env NAME"));
    json_decref(doc);
    doc = post_yaml(srv.url, "/api/v1/rollouts?env=production&force=true", release, body.ptr,
                    &status);
    assert_int_equal(status, 400);
    json_decref(doc);

    /* Staging completes. */
    doc = post_yaml(srv.url, "/api/v1/rollouts?env=staging", release, body.ptr, &status);
    assert_int_equal(status, 201);
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(doc, "id")));
    snprintf(digest, sizeof(digest), "%s", json_string_value(json_object_get(doc, "digest")));
    assert_string_equal(json_string_value(json_object_get(doc, "environment")), "staging");
    json_decref(doc);
    assert_int_equal(strlen(digest), 71);
    snprintf(path, sizeof(path), "/api/v1/artifacts/%s/may-promote?env=production", digest);
    doc = serve_http_json(srv.url, "GET", path, viewer, NULL, &status);
    assert_int_equal(status, 409); /* staging still running */
    assert_false(json_is_true(json_object_get(doc, "allowed")));
    assert_non_null(strstr(json_string_value(json_object_get(doc, "reason")), id));
    json_decref(doc);
    assert_int_equal(wait_state(srv.url, viewer, id, "completed"), 0);
    doc = serve_http_json(srv.url, "GET", path, viewer, NULL, &status);
    assert_int_equal(status, 200);
    assert_true(json_is_true(json_object_get(doc, "allowed")));
    json_decref(doc);

    /* Another tenant: the artifact does not exist for it. */
    doc = serve_http_json(srv.url, "GET", path, intruder, NULL, &status);
    assert_int_equal(status, 404);
    json_decref(doc);
    snprintf(path, sizeof(path), "/api/v1/artifacts/%s", digest);
    doc = serve_http_json(srv.url, "GET", path, intruder, NULL, &status);
    assert_int_equal(status, 404);
    json_decref(doc);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/promote-env", id);
    doc = serve_http_json(srv.url, "POST", path, intruder, "{\"to\": \"production\"}", &status);
    assert_int_equal(status, 404);
    json_decref(doc);
    doc = serve_http_json(srv.url, "POST", path, viewer, "{\"to\": \"production\"}", &status);
    assert_int_equal(status, 403);
    json_decref(doc);

    /* Promotion from the recorded artifact: production's org receives the change. */
    doc = serve_http_json(srv.url, "POST", path, release, "{\"to\": \"production\"}", &status);
    assert_int_equal(status, 201);
    assert_string_equal(json_string_value(json_object_get(doc, "digest")), digest);
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
    assert_int_equal(wait_state(srv.url, viewer, id, "completed"), 0);
    log = rg_e2e_requests(&sim);
    assert_true(rg_e2e_patches(log, "org_sub_003") >= 1);
    assert_int_equal(rg_e2e_patches(log, "org_sub_005"), 0);
    json_decref(log);

    /* The history: staging then production. */
    snprintf(path, sizeof(path), "/api/v1/artifacts/%s", digest);
    doc = serve_http_json(srv.url, "GET", path, viewer, NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(doc, "rollouts")), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(doc, "rollouts"), 1), "environment")),
                        "production");
    json_decref(doc);
    doc = serve_http_json(srv.url, "GET",
                          "/api/v1/artifacts/sha256:"
                          "0000000000000000000000000000000000000000000000000000000000000000",
                          viewer, NULL, &status);
    assert_int_equal(status, 404);
    json_decref(doc);

    assert_int_equal(serve_stop(&srv), 0);
    rg_simproc_stop(&sim);
    rg_buf_dispose(&body);
    free(release);
    free(viewer);
    free(intruder);
    json_decref(orgs);
    json_decref(acme);
    json_decref(other);
    rg_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_promotion_over_the_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
