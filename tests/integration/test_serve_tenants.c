/* test_serve_tenants.c - `rollgate serve` among hostile tenants (issue 14): each attack a
 * tenant holding only its own tokens could make, and what must stop it. Two tenants share
 * one server and one rollgate-sim: acme (most orgs) and evil (one org, credentials under
 * env:EVIL_ORG). Every test asserts on what the other side saw: the simulator's request
 * log, a capturing listener, a webhook receiver, file modes on disk. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "integration/test_serve_support.h"
#include "rollgate/platform.h"
#include "rollgate/store.h"
#include "support/simproc.h"
#include "support/testutil.h"

#include "integration/test_serve_tenants.h"

int cli(const char *db, const char *fmt, ...)
{
    char args[2048], cmd[PATH_MAX * 3];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "'%s/cli/rollgate' --db '%s' %s >/dev/null 2>&1",
             rg_test_binary_dir(), db, args);
    return system(cmd) == 0 ? 0 : -1;
}

static int listen_capture(fixture *f)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((f->capture_fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        bind(f->capture_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(f->capture_fd, 16) != 0 ||
        getsockname(f->capture_fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    snprintf(f->capture_url, sizeof(f->capture_url), "http://127.0.0.1:%u",
             (unsigned)ntohs(sa.sin_port));
    return 0;
}

/* Sets EVIL_ORG_CLIENT_ID/_SECRET to the last org's client and removes that org's
 * ROLLGATE_<ORG>_CLIENT_*: the server can reach it only through the registry's source. */
static int evil_credentials(fixture *f)
{
    char path[PATH_MAX], name[256];
    json_t *doc, *org;

    rg_test_path(path, sizeof(path), "sim/scenarios/healthy.json");
    if ((doc = json_load_file(path, 0, NULL)) == NULL)
        return -1;
    org = json_array_get(json_object_get(doc, "orgs"),
                         json_array_size(json_object_get(doc, "orgs")) - 1);
    snprintf(f->evil_org, sizeof(f->evil_org), "%s", json_string_value(json_object_get(org, "id")));
    setenv("EVIL_ORG_CLIENT_ID", json_string_value(json_object_get(org, "client_id")), 1);
    setenv("EVIL_ORG_CLIENT_SECRET", json_string_value(json_object_get(org, "client_secret")), 1);
    rg_platform_env_name(name, sizeof(name), f->evil_org, "CLIENT_ID");
    unsetenv(name);
    rg_platform_env_name(name, sizeof(name), f->evil_org, "CLIENT_SECRET");
    unsetenv(name);
    json_decref(doc);
    return 0;
}

static int policy_dir(fixture *f)
{
    char src[PATH_MAX], path[PATH_MAX * 2], *text;
    size_t len = 0;

    snprintf(f->policies, sizeof(f->policies), "%s/policies", f->dir);
    if (mkdir(f->policies, 0700) != 0)
        return -1;
    rg_test_path(src, sizeof(src), "policies/contact-center.yaml");
    if ((text = rg_test_read_file(src, &len)) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/contact-center.yaml", f->policies);
    if (rg_test_write_file(path, text) < 0)
        return -1;
    free(text);
    /* A file in the policy directory that is not a policy: its content must never show. */
    snprintf(path, sizeof(path), "%s/broken.yaml", f->policies);
    if (rg_test_write_file(path, SECRET_LINE "\n") < 0)
        return -1;
    setenv("ROLLGATE_POLICY_DIR", f->policies, 1); /* inherited by the server */
    return 0;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    json_t *doc;
    long status = 0;
    char *body;

    if (f == NULL || rg_test_mkdtemp(f->dir, sizeof(f->dir)) < 0)
        return -1;
    snprintf(f->db, sizeof(f->db), "%s/serve.db", f->dir);
    snprintf(f->tokens, sizeof(f->tokens), "%s/tokens.json", f->dir);
    setenv("ACME_HOOK", ACME_HOOK, 1);
    setenv("EVIL_HOOK", EVIL_HOOK, 1);
    if ((f->orgs = serve_scenario_credentials("sim/scenarios/healthy.json")) == NULL ||
        evil_credentials(f) < 0 || policy_dir(f) < 0 || listen_capture(f) < 0 ||
        rg_simproc_start(&f->sim, "sim/scenarios/healthy.json") < 0)
        return -1;
    f->acme_orgs = json_deep_copy(f->orgs);
    json_array_remove(f->acme_orgs, json_array_size(f->acme_orgs) - 1);
    f->acme_viewer = serve_token_new(f->tokens, "acme", "viewer", "acme-watcher");
    f->acme_operator = serve_token_new(f->tokens, "acme", "operator", "acme-oncall");
    f->acme_release = serve_token_new(f->tokens, "acme", "release", "acme-ci");
    f->evil_release = serve_token_new(f->tokens, "evil", "release", "evil-ci");
    f->evil_viewer = serve_token_new(f->tokens, "evil", "viewer", "evil-watcher");
    if (!f->acme_viewer || !f->acme_operator || !f->acme_release || !f->evil_release ||
        !f->evil_viewer ||
        serve_register(f->db, "acme", f->acme_orgs, f->sim.url, "ACME_HOOK") < 0 ||
        cli(f->db,
            "org add --tenant evil --org '%s' --region loopback --api-url '%s' "
            "--login-url '%s' --credentials env:EVIL_ORG",
            f->evil_org, f->sim.url, f->sim.url) < 0 ||
        cli(f->db, "org webhook --tenant evil --secret env:EVIL_HOOK") < 0 ||
        serve_start(&f->srv, f->db, f->tokens) < 0)
        return -1;
    /* The waiting rollout claims its orgs until the end; the role matrix needs others. */
    f->wait_orgs = json_array();
    f->matrix_orgs = json_array();
    for (size_t i = 0; i < json_array_size(f->acme_orgs); i++)
        json_array_append(i < json_array_size(f->acme_orgs) / 2 ? f->wait_orgs : f->matrix_orgs,
                          json_array_get(f->acme_orgs, i));
    if (json_array_size(f->wait_orgs) < 3 || json_array_size(f->matrix_orgs) < 3)
        return -1;
    body = serve_manifest("acme-wait", "acme", f->sim.url, f->wait_orgs, NULL, "required", 0);
    doc = serve_http_json(f->srv.url, "POST", "/api/v1/rollouts", f->acme_release, body, &status);
    free(body);
    if (status != 201 || !json_is_string(json_object_get(doc, "id")))
        return -1;
    snprintf(f->acme_rollout, sizeof(f->acme_rollout), "%s",
             json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f == NULL)
        return 0;
    serve_stop(&f->srv);
    rg_simproc_stop(&f->sim);
    close(f->capture_fd);
    json_decref(f->orgs);
    json_decref(f->acme_orgs);
    json_decref(f->wait_orgs);
    json_decref(f->matrix_orgs);
    free(f->acme_viewer);
    free(f->acme_operator);
    free(f->acme_release);
    free(f->evil_release);
    free(f->evil_viewer);
    rg_test_rmtree(f->dir);
    free(f);
    return 0;
}

long call(fixture *f, const char *method, const char *path, const char *token,
          const char *content_type, const char *body, rg_buf *resp)
{
    long status = 0;
    rg_buf_clear(resp);
    if (serve_http(f->srv.url, method, path, token, content_type, body, &status, resp, NULL) < 0)
        return -1;
    return status;
}

static const char *message(const rg_buf *resp, char *out, size_t outlen)
{
    json_t *doc = json_loads(rg_buf_cstr(resp), 0, NULL);
    const char *m = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
    snprintf(out, outlen, "%s", m ? m : "");
    json_decref(doc);
    return out;
}

/* A YAML manifest for one org with extra platform keys and/or a policy line. */
char *manifest_for(const char *tenant, const char *org, const char *platform_extra,
                   const char *policy)
{
    rg_buf m = RG_BUF_INIT;
    rg_buf_printf(&m,
                  "name: attack\ntenant: %s\nstages: [100]\napproval: required\n"
                  "platform: {driver: genesys%s}\ngroups:\n  - {name: g, orgs: [\"%s\"]}\n"
                  "change:\n  strategy: strat_main\n  template:\n    name: stolen\n"
                  "    targets: [{type: Queue, id: queue_v2, weight: 100, priority: 1}]\n"
                  "policy: %s\n",
                  tenant, platform_extra ? platform_extra : "", org,
                  policy ? policy : "contact-center");
    return rg_buf_detach(&m);
}

/* Rolls back the rollout whose 201 reply is in `resp` and waits (bounded) until it is
 * terminal, so the orgs it claims are free for the next test. */
static void end_rollout(fixture *f, const char *token, const rg_buf *resp)
{
    json_t *doc = json_loads(rg_buf_cstr(resp), 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "id"));
    int64_t deadline = rg_time_mono_ms() + 20000;
    rg_buf r = RG_BUF_INIT;
    char path[256];
    int terminal = 0;

    assert_non_null(id);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/rollback", id);
    {
        long st = call(f, "POST", path, token, NULL, "{\"reason\":\"test done\"}", &r);
        assert_true(st == 200 || st == 409); /* 409: already rolling back or ended */
    }
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s", id);
    while (!terminal && rg_time_mono_ms() < deadline) {
        json_t *st;
        rg_buf_clear(&r);
        assert_int_equal(call(f, "GET", path, token, NULL, NULL, &r), 200);
        st = json_loads(rg_buf_cstr(&r), 0, NULL);
        terminal = json_is_string(json_object_get(st, "state")) &&
                   (strcmp(json_string_value(json_object_get(st, "state")), "rolled_back") == 0 ||
                    strcmp(json_string_value(json_object_get(st, "state")), "completed") == 0);
        json_decref(st);
        if (!terminal)
            poll(NULL, 0, 50);
    }
    assert_true(terminal);
    json_decref(doc);
    rg_buf_dispose(&r);
}

/* Requests the simulator logged for `org` since `since` (path filter NULL: all). */
static size_t sim_requests(fixture *f, int64_t since, const char *org, int64_t *out_next)
{
    char path[64];
    long status = 0;
    rg_buf resp = RG_BUF_INIT;
    json_t *doc, *r;
    size_t i, n = 0;

    snprintf(path, sizeof(path), "/sim/requests?since=%lld", (long long)since);
    assert_int_equal(rg_simproc_request(&f->sim, "GET", path, NULL, NULL, &status, &resp, NULL), 0);
    assert_int_equal(status, 200);
    doc = json_loads(rg_buf_cstr(&resp), 0, NULL);
    assert_non_null(doc);
    json_array_foreach(json_object_get(doc, "requests"), i, r)
    {
        const char *o = json_string_value(json_object_get(r, "org"));
        n += org == NULL || (o && strcmp(o, org) == 0);
    }
    if (out_next)
        *out_next = json_integer_value(json_object_get(doc, "next"));
    json_decref(doc);
    rg_buf_dispose(&resp);
    return n;
}

/* Nothing connected to the capturing listener (it is polled for a second, long enough for
 * several 200 ms scheduler ticks to have acted on a rollout that should not exist). */
static void assert_capture_untouched(fixture *f)
{
    struct pollfd p = {f->capture_fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 1000), 0);
}

/* ---- 1. another tenant's org ---- */

static void test_other_tenants_org(void **state)
{
    fixture *f = *state;
    rg_buf resp = RG_BUF_INIT;
    const char *acme_org = json_string_value(json_array_get(f->acme_orgs, 0));
    char m1[1024], m2[1024], want[256], *body;
    int64_t since = 0;

    sim_requests(f, 0, NULL, &since);
    /* Evil names acme's org: refused, naming the org. */
    body = manifest_for("evil", acme_org, NULL, NULL);
    assert_int_equal(
        call(f, "POST", "/api/v1/rollouts", f->evil_release, "application/yaml", body, &resp), 400);
    free(body);
    message(&resp, m1, sizeof(m1));
    snprintf(want, sizeof(want), "org %s is not registered to tenant evil", acme_org);
    assert_non_null(strstr(m1, want));
    assert_non_null(strstr(m1, "rollgate org add"));
    assert_null(strstr(m1, "acme"));
    /* An org nobody has reads the same: no oracle of which orgs other tenants own. */
    {
        char fake[128];
        snprintf(fake, sizeof(fake), "%s", acme_org);
        fake[0] = fake[0] == 'x' ? 'y' : 'x'; /* same length, registered to no one */
        body = manifest_for("evil", fake, NULL, NULL);
        assert_int_equal(
            call(f, "POST", "/api/v1/rollouts", f->evil_release, "application/yaml", body, &resp),
            400);
        free(body);
        message(&resp, m2, sizeof(m2));
        for (char *p = strstr(m2, fake); p; p = strstr(p + 1, fake))
            memcpy(p, acme_org, strlen(acme_org));
        assert_string_equal(m1, m2);
    }
    /* No rollout for evil, and the platform never heard of acme's org from this. */
    assert_int_equal(call(f, "GET", "/api/v1/rollouts", f->evil_viewer, NULL, NULL, &resp), 200);
    assert_non_null(strstr(rg_buf_cstr(&resp), "\"rollouts\":[]"));
    assert_capture_untouched(f);
    assert_int_equal(sim_requests(f, since, acme_org, NULL), 0);
    rg_buf_dispose(&resp);
}

/* ---- 2. tenant-chosen URLs and credentials ---- */

static void test_tenant_urls_and_credentials(void **state)
{
    fixture *f = *state;
    rg_buf resp = RG_BUF_INIT;
    char extra[256], msg[1024], *body;
    const char *acme_org = json_string_value(json_array_get(f->acme_orgs, 0));
    const char *orgs[] = {f->evil_org, acme_org, NULL};
    int64_t since = 0;

    sim_requests(f, 0, NULL, &since);
    for (size_t i = 0; orgs[i]; i++) {
        /* The capturing listener as the platform: the server would send the org's client
         * id and secret there. */
        snprintf(extra, sizeof(extra), ", api_url: \"%s\", login_url: \"%s\", credentials: env",
                 f->capture_url, f->capture_url);
        body = manifest_for("evil", orgs[i], extra, NULL);
        assert_int_equal(
            call(f, "POST", "/api/v1/rollouts", f->evil_release, "application/yaml", body, &resp),
            400);
        free(body);
        message(&resp, msg, sizeof(msg));
        assert_non_null(strstr(msg, "request.yaml:5:"));
        assert_non_null(strstr(msg, "platform.api_url"));
        assert_non_null(strstr(msg, "rollgate org add --tenant evil"));
    }
    /* Each key alone, and per-org URLs, are refused the same way. */
    {
        static const char *const extras[] = {", credentials: \"file:/etc/shadow\"",
                                             ", insecure: true",
                                             ", login_url: \"http://127.0.0.1:1\"", NULL};
        for (size_t i = 0; extras[i]; i++) {
            body = manifest_for("evil", f->evil_org, extras[i], NULL);
            assert_int_equal(call(f, "POST", "/api/v1/rollouts", f->evil_release,
                                  "application/yaml", body, &resp),
                             400);
            free(body);
            assert_non_null(strstr(message(&resp, msg, sizeof(msg)), "rollgate org add"));
        }
    }
    {
        rg_buf m = RG_BUF_INIT;
        rg_buf_printf(&m,
                      "{\"name\":\"x\",\"tenant\":\"evil\",\"stages\":[100],\"platform\":"
                      "{\"driver\":\"genesys\"},\"groups\":[{\"name\":\"g\",\"orgs\":"
                      "[{\"id\":\"%s\",\"api_url\":\"%s\"}]}],\"change\":{\"strategy\":"
                      "\"s\",\"template\":{\"name\":\"n\",\"targets\":[]}}}",
                      f->evil_org, f->capture_url);
        assert_int_equal(call(f, "POST", "/api/v1/rollouts", f->evil_release, NULL, m.ptr, &resp),
                         400);
        message(&resp, msg, sizeof(msg));
        assert_non_null(strstr(msg, "groups[0].orgs[0].api_url"));
        assert_non_null(strstr(msg, "rollgate org add"));
        rg_buf_dispose(&m);
    }
    assert_capture_untouched(f);
    assert_int_equal(sim_requests(f, since, acme_org, NULL), 0);
    rg_buf_dispose(&resp);
}

/* ---- 3. policy paths: no content, no oracle ---- */

static void test_policy_paths(void **state)
{
    fixture *f = *state;
    rg_buf resp = RG_BUF_INIT, first = RG_BUF_INIT;
    char secret[PATH_MAX + 16], missing[PATH_MAX + 16], *body;

    snprintf(secret, sizeof(secret), "%s/shadow", f->dir);
    snprintf(missing, sizeof(missing), "%s/shadoX", f->dir); /* same length, absent */
    assert_int_equal(rg_test_write_file(secret, SECRET_LINE "\n"), 0);
    /* A path: refused before any file is touched, so existing and missing read the same. */
    body = manifest_for("evil", f->evil_org, NULL, secret);
    assert_int_equal(
        call(f, "POST", "/api/v1/rollouts", f->evil_release, "application/yaml", body, &first),
        400);
    free(body);
    assert_null(strstr(rg_buf_cstr(&first), "SECRETLINE"));
    assert_non_null(strstr(rg_buf_cstr(&first), "paths are not read"));
    body = manifest_for("evil", f->evil_org, NULL, missing);
    assert_int_equal(
        call(f, "POST", "/api/v1/rollouts", f->evil_release, "application/yaml", body, &resp), 400);
    free(body);
    assert_string_equal(rg_buf_cstr(&resp), rg_buf_cstr(&first));
    body = manifest_for("evil", f->evil_org, NULL, "../../../../etc/passwd");
    assert_int_equal(
        call(f, "POST", "/api/v1/rollouts", f->evil_release, "application/yaml", body, &resp), 400);
    free(body);
    assert_non_null(strstr(rg_buf_cstr(&resp), "paths are not read"));
    /* Names: a broken file of the policy directory reads as one that does not exist. */
    body = manifest_for("evil", f->evil_org, NULL, "broken");
    assert_int_equal(
        call(f, "POST", "/api/v1/rollouts", f->evil_release, "application/yaml", body, &first),
        400);
    free(body);
    assert_null(strstr(rg_buf_cstr(&first), "SECRETLINE"));
    body = manifest_for("evil", f->evil_org, NULL, "nosuch");
    assert_int_equal(
        call(f, "POST", "/api/v1/rollouts", f->evil_release, "application/yaml", body, &resp), 400);
    free(body);
    {
        char *p = strstr(resp.ptr, "nosuch");
        assert_non_null(p);
        /* Overwrites bytes inside an already terminated string. */
        // NOLINTNEXTLINE(bugprone-not-null-terminated-result)
        memcpy(p, "broken", 6);
        assert_string_equal(rg_buf_cstr(&resp), rg_buf_cstr(&first));
    }
    /* A name of the policy directory works. */
    body = manifest_for("evil", f->evil_org, NULL, "contact-center");
    assert_int_equal(
        call(f, "POST", "/api/v1/rollouts", f->evil_release, "application/yaml", body, &resp), 201);
    end_rollout(f, f->evil_release, &resp);
    free(body);
    rg_buf_dispose(&resp);
    rg_buf_dispose(&first);
}

/* ---- 4. webhook secrets are the tenant's ---- */

static void test_webhook_secret(void **state)
{
    fixture *f = *state;
    hook_receiver as_acme, as_evil;
    rg_buf resp = RG_BUF_INIT;
    char msg[1024], *body, *at;
    rg_buf m = RG_BUF_INIT;
    int64_t deadline;

    assert_int_equal(hook_receiver_start(&as_acme, ACME_HOOK, 0), 0);
    assert_int_equal(hook_receiver_start(&as_evil, EVIL_HOOK, 0), 0);
    body = manifest_for("evil", f->evil_org, NULL, NULL);
    /* Naming acme's variable: refused. */
    rg_buf_printf(&m,
                  "%snotify:\n  - {url: \"%s\", events: [started], secret: \"env:ACME_HOOK\"}\n",
                  body, as_acme.url);
    assert_int_equal(
        call(f, "POST", "/api/v1/rollouts", f->evil_release, "application/yaml", m.ptr, &resp),
        400);
    assert_non_null(strstr(message(&resp, msg, sizeof(msg)), "notify[0].secret"));
    /* Gates: refused (a gate's secret would come from the server's environment). */
    rg_buf_clear(&m);
    rg_buf_printf(&m, "%sgates:\n  - {at: pre-stage, url: \"%s\", secret: \"env:ACME_HOOK\"}\n",
                  body, as_acme.url);
    assert_int_equal(
        call(f, "POST", "/api/v1/rollouts", f->evil_release, "application/yaml", m.ptr, &resp),
        400);
    assert_non_null(strstr(message(&resp, msg, sizeof(msg)), "gates: refused"));
    /* Without a secret: both receivers are sent evil's own signature. */
    rg_buf_clear(&m);
    rg_buf_printf(&m,
                  "%snotify:\n  - {url: \"%s\", events: [started]}\n"
                  "  - {url: \"%s\", events: [started]}\n",
                  body, as_acme.url, as_evil.url);
    at = strstr(m.ptr, "name: attack");
    /* Overwrites bytes inside an already terminated string. */
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result)
    memcpy(at, "name: hooked", 12);
    assert_int_equal(
        call(f, "POST", "/api/v1/rollouts", f->evil_release, "application/yaml", m.ptr, &resp),
        201);
    deadline = rg_time_mono_ms() + 15000;
    for (;;) {
        int done;
        pthread_mutex_lock(&as_evil.lock);
        pthread_mutex_lock(&as_acme.lock);
        done = json_array_size(as_evil.received) >= 1 && as_acme.requests >= 1;
        pthread_mutex_unlock(&as_acme.lock);
        pthread_mutex_unlock(&as_evil.lock);
        if (done || rg_time_mono_ms() > deadline)
            break;
        poll(NULL, 0, 50);
    }
    pthread_mutex_lock(&as_evil.lock);
    assert_int_equal(json_array_size(as_evil.received), 1); /* signature and timestamp good */
    assert_int_equal(as_evil.bad_signatures, 0);
    pthread_mutex_unlock(&as_evil.lock);
    pthread_mutex_lock(&as_acme.lock);
    assert_true(as_acme.requests >= 1);
    assert_int_equal(json_array_size(as_acme.received), 0); /* never signed with acme's key */
    assert_int_equal(as_acme.bad_signatures, as_acme.requests);
    pthread_mutex_unlock(&as_acme.lock);
    end_rollout(f, f->evil_release, &resp); /* resp still holds the 201 */
    hook_receiver_stop(&as_acme);
    hook_receiver_stop(&as_evil);
    free(body);
    rg_buf_dispose(&m);
    rg_buf_dispose(&resp);
}

/* ---- 4b. a tenant whose receiver hangs holds one delivery worker, not the others' ---- */

static int wait_hook(hook_receiver *r, int requests, int received, int64_t ms)
{
    int64_t deadline = rg_time_mono_ms() + ms;
    for (;;) {
        int done;
        pthread_mutex_lock(&r->lock);
        done = r->requests >= requests && (int)json_array_size(r->received) >= received;
        pthread_mutex_unlock(&r->lock);
        if (done)
            return 1;
        if (rg_time_mono_ms() > deadline)
            return 0;
        poll(NULL, 0, 50);
    }
}

static void test_webhook_isolation(void **state)
{
    fixture *f = *state;
    hook_receiver as_acme, as_evil;
    rg_buf evil = RG_BUF_INIT, acme = RG_BUF_INIT, m = RG_BUF_INIT;
    char *body;

    assert_int_equal(hook_receiver_start(&as_acme, ACME_HOOK, 0), 0);
    assert_int_equal(hook_receiver_start(&as_evil, EVIL_HOOK, 0), 0);
    as_evil.hold = 1; /* before any request can come */
    body = manifest_for("evil", f->evil_org, NULL, NULL);
    rg_buf_printf(&m, "%snotify:\n  - {url: \"%s\", events: [started]}\n", body, as_evil.url);
    free(body);
    assert_int_equal(
        call(f, "POST", "/api/v1/rollouts", f->evil_release, "application/yaml", m.ptr, &evil),
        201);
    assert_true(wait_hook(&as_evil, 1, 0, 15000)); /* evil's delivery is in flight, held */
    body = manifest_for("acme", json_string_value(json_array_get(f->matrix_orgs, 0)), NULL, NULL);
    rg_buf_clear(&m);
    rg_buf_printf(&m, "%snotify:\n  - {url: \"%s\", events: [started]}\n", body, as_acme.url);
    free(body);
    assert_int_equal(
        call(f, "POST", "/api/v1/rollouts", f->acme_release, "application/yaml", m.ptr, &acme),
        201);
    /* Acme's delivery arrives while evil's still hangs: well before the 10 s a hanging POST
     * takes to time out, which is when a single delivery thread would get to it. */
    assert_true(wait_hook(&as_acme, 1, 1, 8000));
    pthread_mutex_lock(&as_evil.lock);
    assert_int_equal(json_array_size(as_evil.received), 0); /* still unanswered */
    pthread_mutex_unlock(&as_evil.lock);
    pthread_mutex_lock(&as_acme.lock);
    assert_int_equal(as_acme.bad_signatures, 0);
    pthread_mutex_unlock(&as_acme.lock);
    hook_receiver_release(&as_evil);
    assert_true(wait_hook(&as_evil, 1, 1, 15000)); /* and evil's own is delivered after all */
    end_rollout(f, f->evil_release, &evil);
    end_rollout(f, f->acme_release, &acme);
    hook_receiver_stop(&as_acme);
    hook_receiver_stop(&as_evil);
    rg_buf_dispose(&m);
    rg_buf_dispose(&evil);
    rg_buf_dispose(&acme);
}

/* ---- 5. the role matrix of docs/serve.md ---- */

static char *start_acme(fixture *f)
{
    char *body = serve_manifest("matrix", "acme", f->sim.url, f->matrix_orgs, NULL, "required", 0);
    long status = 0;
    json_t *doc =
        serve_http_json(f->srv.url, "POST", "/api/v1/rollouts", f->acme_release, body, &status);
    char *id = status == 201 ? rg_strdup(json_string_value(json_object_get(doc, "id"))) : NULL;
    if (id == NULL)
        fprintf(stderr, "start_acme: HTTP %ld\n", status);
    free(body);
    json_decref(doc);
    return id;
}

static void test_role_matrix(void **state)
{
    fixture *f = *state;
    static const char *const actions[] = {"start",  "approve",  "promote", "pause",
                                          "resume", "rollback", NULL};
    /* 1: allowed (the answer is the state's, never 403), 0: 403. Rows viewer, operator,
     * release. */
    static const int may[3][6] = {{0, 0, 0, 0, 0, 0}, {0, 0, 0, 1, 1, 1}, {1, 1, 1, 1, 1, 1}};
    const char *tokens[3] = {f->acme_viewer, f->acme_operator, f->acme_release};
    rg_buf resp = RG_BUF_INIT;
    char path[256],
        *body = serve_manifest("matrix", "acme", f->sim.url, f->matrix_orgs, NULL, "required", 0);

    for (int r = 0; r < 3; r++) {
        char *id = start_acme(f);
        assert_non_null(id);
        for (int a = 0; actions[a]; a++) {
            long status;
            /* Reads are every role's. */
            snprintf(path, sizeof(path), "/api/v1/rollouts/%s", id);
            assert_int_equal(call(f, "GET", path, tokens[r], NULL, NULL, &resp), 200);
            if (a == 0) {
                status = call(f, "POST", "/api/v1/rollouts", tokens[r], NULL, body, &resp);
            } else {
                snprintf(path, sizeof(path), "/api/v1/rollouts/%s/%s", id, actions[a]);
                status = call(f, "POST", path, tokens[r], NULL, "{\"reason\":\"matrix\"}", &resp);
            }
            if (may[r][a])
                assert_true(status != 403 && status >= 200 && status < 500);
            else
                assert_int_equal(status, 403);
        }
        /* The next row starts a rollout on the same orgs: this one must end first. */
        rg_buf_clear(&resp);
        rg_buf_printf(&resp, "{\"id\":\"%s\"}", id);
        end_rollout(f, f->acme_release, &resp);
        free(id);
    }
    free(body);
    rg_buf_dispose(&resp);
}

/* ---- 6. a rollout of evil's own org runs on the registry's credentials ---- */

static void test_registered_org_runs(void **state)
{
    fixture *f = *state;
    rg_buf resp = RG_BUF_INIT;
    char path[256], *body = manifest_for("evil", f->evil_org, NULL, NULL);
    int64_t since = 0, deadline = rg_time_mono_ms() + 20000;
    json_t *doc;
    size_t seen = 0;

    sim_requests(f, 0, NULL, &since);
    /* Overwrites bytes inside an already terminated string. */
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result)
    memcpy(strstr(body, "name: attack"), "name: legit1", 12);
    assert_int_equal(call(f, "POST", "/api/v1/rollouts?approve=true", f->evil_release,
                          "application/yaml", body, &resp),
                     201);
    doc = json_loads(rg_buf_cstr(&resp), 0, NULL);
    /* The platform saw evil's org, reached with env:EVIL_ORG (its ROLLGATE_<ORG>_* are
     * unset): the registry's source, not the org id's. */
    while ((seen = sim_requests(f, since, f->evil_org, NULL)) == 0 && rg_time_mono_ms() < deadline)
        poll(NULL, 0, 100);
    assert_true(seen > 0);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/rollback",
             json_string_value(json_object_get(doc, "id")));
    assert_int_equal(call(f, "POST", path, f->evil_release, NULL, "{\"reason\":\"done\"}", &resp),
                     200);
    json_decref(doc);
    free(body);
    rg_buf_dispose(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_other_tenants_org),
        cmocka_unit_test(test_tenant_urls_and_credentials),
        cmocka_unit_test(test_policy_paths),
        cmocka_unit_test(test_webhook_secret),
        cmocka_unit_test(test_webhook_isolation),
        cmocka_unit_test(test_role_matrix),
        cmocka_unit_test(test_registered_org_runs),
        cmocka_unit_test(test_token_before_body),
        cmocka_unit_test(test_streams_per_token),
        cmocka_unit_test(test_idle_flood),
        cmocka_unit_test(test_private_files),
        cmocka_unit_test(test_registry_rules),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
