/* test_dashboard.c - the dashboard end to end: `rollgate serve` with a finished bad rollout,
 * opened in headless Chromium with a viewer token in the URL fragment; the dumped DOM must
 * list the rollout and hold one SVG chart per policy metric with its polls; a screenshot is
 * written under the build folder */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "integration/test_serve_support.h"
#include "support/simproc.h"
#include "support/skip.h"
#include "support/testutil.h"

typedef struct {
    char dir[PATH_MAX], db[PATH_MAX + 16], tokens[PATH_MAX + 16], chromium[PATH_MAX];
    rg_simproc sim;
    serve_proc srv;
    json_t *orgs;
    char *viewer, *release;
    char id[64];
} fixture;

static int find_chromium(char *out, size_t outlen)
{
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome", NULL};
    const char *env = getenv("CHROMIUM"), *path = getenv("PATH");
    char dirs[4096];

    if (env && *env && access(env, X_OK) == 0) {
        snprintf(out, outlen, "%s", env);
        return 0;
    }
    snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
        for (size_t i = 0; names[i]; i++) {
            snprintf(out, outlen, "%s/%s", d, names[i]);
            if (access(out, X_OK) == 0)
                return 0;
        }
    return -1;
}

/* Runs chromium headless on `url` with `extra` flags; stdout to `out_path`. Exit status. */
static int chromium(fixture *f, const char *extra, const char *url, const char *out_path)
{
    char cmd[PATH_MAX * 4], profile[PATH_MAX + 32];
    int st;

    snprintf(profile, sizeof(profile), "%s/profile-XXXXXX", f->dir);
    if (mkdtemp(profile) == NULL)
        return -1;
    snprintf(cmd, sizeof(cmd),
             "'%s' --headless --no-sandbox --disable-gpu --disable-quic "
             "--no-first-run --disable-background-networking --disable-component-update "
             "--disable-sync --disable-dev-shm-usage --user-data-dir='%s' %s '%s' >'%s' "
             "2>/dev/null",
             f->chromium, profile, extra, url, out_path);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    json_t *doc;
    long status = 0;
    char *body, path[256];

    if (f == NULL || rg_test_mkdtemp(f->dir, sizeof(f->dir)) < 0)
        return -1;
    *state = f;
    if (find_chromium(f->chromium, sizeof(f->chromium)) < 0)
        return 0; /* the test skips */
    snprintf(f->db, sizeof(f->db), "%s/serve.db", f->dir);
    snprintf(f->tokens, sizeof(f->tokens), "%s/tokens.json", f->dir);
    if ((f->orgs = serve_scenario_credentials("sim/scenarios/demo.json")) == NULL ||
        rg_simproc_start(&f->sim, "sim/scenarios/demo.json") < 0)
        return -1;
    f->viewer = serve_token_new(f->tokens, "demo", "viewer", "dash-viewer");
    f->release = serve_token_new(f->tokens, "demo", "release", "ci-bot");
    if (!f->viewer || !f->release || serve_register(f->db, "demo", f->orgs, f->sim.url, NULL) < 0 ||
        serve_start(&f->srv, f->db, f->tokens) < 0)
        return -1;
    body = serve_manifest("dash-bad-change", "demo", f->sim.url, f->orgs, NULL, "none", 0);
    doc = serve_http_json(f->srv.url, "POST", "/api/v1/rollouts", f->release, body, &status);
    free(body);
    if (status != 201)
        return -1;
    snprintf(f->id, sizeof(f->id), "%s", json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/gate?timeout=150", f->id);
    doc = serve_http_json(f->srv.url, "GET", path, f->viewer, NULL, &status);
    json_decref(doc);
    return status == 200 ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f == NULL)
        return 0;
    if (f->srv.pid)
        serve_stop(&f->srv);
    if (f->sim.pid)
        rg_simproc_stop(&f->sim);
    json_decref(f->orgs);
    free(f->viewer);
    free(f->release);
    rg_test_rmtree(f->dir);
    free(f);
    return 0;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_dashboard_in_chromium(void **state)
{
    fixture *f = *state;
    char url[512], dom_path[PATH_MAX + 16], shot[PATH_MAX], shot_flag[PATH_MAX + 128];
    char *dom;
    size_t len = 0;

    if (f->chromium[0] == '\0') {
        rg_test_skip("chromium is not installed (scripts/deps.sh --with-chromium)");
    }
    snprintf(url, sizeof(url), "%s/#token=%s", f->srv.url, f->viewer);
    snprintf(dom_path, sizeof(dom_path), "%s/dom.html", f->dir);
    if (chromium(f, "--virtual-time-budget=15000 --dump-dom", url, dom_path) != 0 ||
        (dom = rg_test_read_file(dom_path, &len)) == NULL || len == 0) {
        rg_test_skip("chromium (%s) cannot run here", f->chromium);
        return;
    }
    /* The page loaded its data with the token from the fragment... */
    assert_non_null(strstr(dom, "data-loaded=\"1\""));
    assert_non_null(strstr(dom, "tenant demo"));
    /* ...lists the rollout... */
    assert_non_null(strstr(dom, "dash-bad-change"));
    assert_non_null(strstr(dom, f->id));
    assert_non_null(strstr(dom, "rolled_back"));
    /* ...its targets with their states... */
    assert_int_equal(count(dom, "<tr class=\"target\">"), json_array_size(f->orgs));
    assert_non_null(strstr(dom, "restored"));
    /* ...and one chart per metric of the policy, each with its polls and the tolerance. */
    assert_non_null(strstr(dom, "data-count=\"2\""));
    assert_int_equal(count(dom, "class=\"chart\""), 2);
    assert_non_null(strstr(dom, "data-metric=\"abandonment_rate\""));
    assert_non_null(strstr(dom, "data-metric=\"speed_of_answer\""));
    /* One dot per stored verdict with an estimate, as the verdicts API reports them. */
    {
        char path[256];
        long status = 0;
        size_t i, points = 0, fails = 0;
        json_t *doc, *v;
        snprintf(path, sizeof(path), "/api/v1/rollouts/%s/verdicts", f->id);
        doc = serve_http_json(f->srv.url, "GET", path, f->viewer, NULL, &status);
        assert_int_equal(status, 200);
        json_array_foreach(json_object_get(doc, "verdicts"), i, v)
        {
            points += json_is_number(json_object_get(v, "estimate"));
            fails += json_is_number(json_object_get(v, "estimate")) &&
                     strcmp(json_string_value(json_object_get(v, "decision")), "fail") == 0;
        }
        json_decref(doc);
        assert_true(points >= 1);
        assert_true(fails >= 1); /* the breaker tripped on a failing poll */
        assert_int_equal(count(dom, "class=\"point decision-"), points);
        assert_int_equal(count(dom, "class=\"point decision-fail\""), fails);
    }
    assert_int_equal(count(dom, "class=\"tolerance\""), 2);
    /* ...and beside each, canary against control per poll from the recorded levels. */
    assert_int_equal(count(dom, "class=\"levels\""), 2);
    assert_int_equal(count(dom, "class=\"level-canary_post\""), 2);
    assert_int_equal(count(dom, "class=\"level-control_post\""), 2);
    /* The token left the address bar and is not in the page. */
    assert_null(strstr(dom, f->viewer));
    free(dom);
    /* A screenshot for people, under the build folder. */
    snprintf(shot, sizeof(shot), "%s/dashboard.png", rg_test_binary_dir());
    snprintf(shot_flag, sizeof(shot_flag),
             "--virtual-time-budget=15000 --window-size=1400,1100 "
             "--screenshot='%s'",
             shot);
    unlink(shot);
    assert_int_equal(chromium(f, shot_flag, url, "/dev/null"), 0);
    {
        char *png = rg_test_read_file(shot, &len);
        assert_non_null(png);
        assert_true(len > 1000);
        assert_memory_equal(png, "\x89PNG", 4);
        free(png);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_dashboard_in_chromium)};
    return rg_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
