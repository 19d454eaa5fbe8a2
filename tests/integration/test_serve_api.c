/* test_serve_api.c - `rollgate serve` over real loopback HTTP: tokens (401), roles (403),
 * tenants (404, never 403), manifests (201, 400 with file:line:col, 413, 415), paths (404,
 * 405), commands (audited, 409), /metrics (strict Prometheus text, no secrets), the tokens
 * file rules and the listen-address rule */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "integration/test_serve_support.h"
#include "rollgate/server.h"
#include "rollgate/store.h"
#include "support/simproc.h"
#include "support/testutil.h"

typedef struct {
    char dir[PATH_MAX], db[PATH_MAX + 16], tokens[PATH_MAX + 16];
    rg_simproc sim;
    serve_proc srv;
    json_t *orgs;
    char *viewer, *operator, * release, *other_viewer, *other_operator;
    char rollout[64]; /* demo's rollout, awaiting approval */
} fixture;

/* Each body changes a strategy of its own: active rollouts claim (org, strategy), and these
 * rollouts are never applied, so the names need not exist in the simulator. */
static char *start_body(fixture *f, const char *tenant, int yaml)
{
    static int serial;
    char *text = serve_manifest("api-test", tenant, f->sim.url, f->orgs, NULL, "required", yaml);
    char *at = text ? strstr(text, "strat_main") : NULL, *out;
    size_t n;

    if (at == NULL)
        return text;
    n = strlen(text) + 16;
    if ((out = malloc(n)) == NULL) {
        free(text);
        return NULL;
    }
    snprintf(out, n, "%.*sstrat_api%d%s", (int)(at - text), text, serial++,
             at + strlen("strat_main"));
    free(text);
    return out;
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
    if ((f->orgs = serve_scenario_credentials("sim/scenarios/healthy.json")) == NULL ||
        rg_simproc_start(&f->sim, "sim/scenarios/healthy.json") < 0)
        return -1;
    f->viewer = serve_token_new(f->tokens, "demo", "viewer", "watcher");
    f->operator= serve_token_new(f->tokens, "demo", "operator", "oncall");
    f->release = serve_token_new(f->tokens, "demo", "release", "ci-bot");
    f->other_viewer = serve_token_new(f->tokens, "other", "viewer", "other-watcher");
    f->other_operator = serve_token_new(f->tokens, "other", "operator", "other-oncall");
    if (!f->viewer ||
        !f->operator|| !f->release || !f->other_viewer || !f->other_operator ||
            serve_register(f->db, "demo", f->orgs, f->sim.url, NULL) < 0 ||
        serve_start(&f->srv, f->db, f->tokens) < 0)
        return -1;
    body = start_body(f, "demo", 0);
    doc = serve_http_json(f->srv.url, "POST", "/api/v1/rollouts", f->release, body, &status);
    free(body);
    if (status != 201 || !json_is_string(json_object_get(doc, "id")))
        return -1;
    snprintf(f->rollout, sizeof(f->rollout), "%s", json_string_value(json_object_get(doc, "id")));
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
    json_decref(f->orgs);
    free(f->viewer);
    free(f->operator);
    free(f->release);
    free(f->other_viewer);
    free(f->other_operator);
    rg_test_rmtree(f->dir);
    free(f);
    return 0;
}

static long call(fixture *f, const char *method, const char *path, const char *token,
                 const char *body, rg_buf *resp)
{
    long status = 0;
    rg_buf_clear(resp);
    assert_int_equal(serve_http(f->srv.url, method, path, token, NULL, body, &status, resp, NULL),
                     0);
    return status;
}

static const char *error_code(const rg_buf *resp, char *out, size_t outlen)
{
    json_t *doc = json_loads(rg_buf_cstr(resp), 0, NULL);
    snprintf(out, outlen, "%s",
             json_string_value(json_object_get(json_object_get(doc, "error"), "code"))
                 ? json_string_value(json_object_get(json_object_get(doc, "error"), "code"))
                 : "(none)");
    json_decref(doc);
    return out;
}

static void test_unauthenticated(void **state)
{
    fixture *f = *state;
    rg_buf resp = RG_BUF_INIT, headers = RG_BUF_INIT;
    char code[64], hv[128];
    long status = 0;

    assert_int_equal(serve_http(f->srv.url, "GET", "/api/v1/rollouts", NULL, NULL, NULL, &status,
                                &resp, &headers),
                     0);
    assert_int_equal(status, 401);
    assert_string_equal(error_code(&resp, code, sizeof(code)), "unauthorized");
    assert_non_null(rg_simproc_header(hv, sizeof(hv), &headers, "WWW-Authenticate"));
    assert_int_equal(strncmp(hv, "Bearer", 6), 0);
    assert_int_equal(call(f, "GET", "/api/v1/rollouts",
                          "rg_0000000000000000000000000000000000000000", NULL, &resp),
                     401);
    assert_int_equal(call(f, "GET", "/api/v1/rollouts/whatever", "not-even-a-token", NULL, &resp),
                     401);
    /* The secret is never echoed back. */
    assert_null(strstr(rg_buf_cstr(&resp), "not-even-a-token"));
    assert_int_equal(call(f, "GET", "/healthz", NULL, NULL, &resp), 200);
    assert_string_equal(rg_buf_cstr(&resp), "{\"status\":\"ok\"}");
    rg_buf_dispose(&resp);
    rg_buf_dispose(&headers);
}

static void test_roles(void **state)
{
    fixture *f = *state;
    rg_buf resp = RG_BUF_INIT;
    char path[256], code[64], *body = start_body(f, "demo", 0);

    assert_int_equal(call(f, "POST", "/api/v1/rollouts", f->viewer, body, &resp), 403);
    assert_string_equal(error_code(&resp, code, sizeof(code)), "forbidden");
    assert_int_equal(call(f, "POST", "/api/v1/rollouts", f->operator, body, &resp), 403);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/rollback", f->rollout);
    assert_int_equal(call(f, "POST", path, f->viewer, "{\"reason\":\"x\"}", &resp), 403);
    /* Release may do what operator may (docs/serve.md): a pause of a rollout awaiting
     * approval passes the role check and is refused by the state (409), not the role. */
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/pause", f->rollout);
    assert_int_equal(call(f, "POST", path, f->release, "{}", &resp), 409);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/approve", f->rollout);
    assert_int_equal(call(f, "POST", path, f->operator, "{}", &resp), 403);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s", f->rollout);
    assert_int_equal(call(f, "GET", path, f->viewer, NULL, &resp), 200);
    {
        json_t *doc = json_loads(rg_buf_cstr(&resp), 0, NULL);
        assert_string_equal(json_string_value(json_object_get(doc, "id")), f->rollout);
        assert_string_equal(json_string_value(json_object_get(doc, "state")), "awaiting_approval");
        assert_string_equal(json_string_value(json_object_get(doc, "created_by")), "ci-bot");
        assert_int_equal(json_array_size(json_object_get(doc, "targets")),
                         json_array_size(f->orgs));
        json_decref(doc);
    }
    free(body);
    rg_buf_dispose(&resp);
}

static void test_tenants_are_invisible(void **state)
{
    fixture *f = *state;
    rg_buf resp = RG_BUF_INIT;
    char path[256], code[64];
    static const char *const subs[] = {"", "/gate?timeout=0", "/verdicts", "/events", NULL};

    for (size_t i = 0; subs[i]; i++) {
        snprintf(path, sizeof(path), "/api/v1/rollouts/%s%s", f->rollout, subs[i]);
        assert_int_equal(call(f, "GET", path, f->other_viewer, NULL, &resp), 404);
        assert_string_equal(error_code(&resp, code, sizeof(code)), "not_found");
        /* (The owner's event stream stays open while the rollout waits; test_serve_flow
         * reads it.) */
        if (strcmp(subs[i], "/events") != 0)
            assert_int_equal(call(f, "GET", path, f->viewer, NULL, &resp), 200);
    }
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/rollback", f->rollout);
    assert_int_equal(call(f, "POST", path, f->other_operator, "{\"reason\":\"cross\"}", &resp),
                     404);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/pause", f->rollout);
    assert_int_equal(call(f, "POST", path, f->other_operator, "{}", &resp), 404);
    assert_int_equal(call(f, "GET", "/api/v1/rollouts", f->other_viewer, NULL, &resp), 200);
    {
        json_t *doc = json_loads(rg_buf_cstr(&resp), 0, NULL);
        assert_string_equal(json_string_value(json_object_get(doc, "tenant")), "other");
        assert_int_equal(json_array_size(json_object_get(doc, "rollouts")), 0);
        json_decref(doc);
    }
    /* The rollout is untouched by the other tenant's attempts. */
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s", f->rollout);
    assert_int_equal(call(f, "GET", path, f->viewer, NULL, &resp), 200);
    assert_non_null(strstr(rg_buf_cstr(&resp), "\"state\":\"awaiting_approval\""));
    rg_buf_dispose(&resp);
}

static void test_manifest_bodies(void **state)
{
    fixture *f = *state;
    rg_buf resp = RG_BUF_INIT;
    long status = 0;
    char *yaml = start_body(f, "demo", 1), *other = start_body(f, "other", 0);
    char *big = malloc(1024 * 1024 + 2), *bad;
    json_t *doc;

    /* YAML with its content type. */
    assert_int_equal(serve_http(f->srv.url, "POST", "/api/v1/rollouts", f->release,
                                "application/yaml", yaml, &status, &resp, NULL),
                     0);
    assert_int_equal(status, 201);
    doc = json_loads(rg_buf_cstr(&resp), 0, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "state")), "awaiting_approval");
    assert_int_equal(strncmp(json_string_value(json_object_get(doc, "id")), "ro_", 3), 0);
    json_decref(doc);
    /* An unknown key: 400 with the position. */
    bad = malloc(strlen(yaml) + 32);
    snprintf(bad, strlen(yaml) + 32, "%sbogus: 1\n", yaml);
    rg_buf_clear(&resp);
    assert_int_equal(serve_http(f->srv.url, "POST", "/api/v1/rollouts", f->release,
                                "application/yaml", bad, &status, &resp, NULL),
                     0);
    assert_int_equal(status, 400);
    assert_non_null(strstr(rg_buf_cstr(&resp), "request.yaml:"));
    assert_non_null(strstr(rg_buf_cstr(&resp), "bogus"));
    /* Malformed JSON: jansson's position. */
    assert_int_equal(call(f, "POST", "/api/v1/rollouts", f->release, "{\"name\": ", &resp), 400);
    assert_non_null(strstr(rg_buf_cstr(&resp), "request.json:1:"));
    /* YAML sent as JSON is refused with the reason. */
    assert_int_equal(call(f, "POST", "/api/v1/rollouts", f->release, yaml, &resp), 400);
    assert_non_null(strstr(rg_buf_cstr(&resp), "application/yaml"));
    /* Another tenant's manifest. */
    assert_int_equal(call(f, "POST", "/api/v1/rollouts", f->release, other, &resp), 403);
    /* Unsupported media type. */
    rg_buf_clear(&resp);
    assert_int_equal(serve_http(f->srv.url, "POST", "/api/v1/rollouts", f->release, "text/plain",
                                "x", &status, &resp, NULL),
                     0);
    assert_int_equal(status, 415);
    /* Over 1 MiB. */
    memset(big, ' ', 1024 * 1024 + 1);
    big[0] = '{';
    big[1024 * 1024 + 1] = '\0';
    assert_int_equal(call(f, "POST", "/api/v1/rollouts", f->release, big, &resp), 413);
    assert_non_null(strstr(rg_buf_cstr(&resp), "too_large"));
    free(big);
    free(bad);
    free(yaml);
    free(other);
    rg_buf_dispose(&resp);
}

static void test_paths_and_methods(void **state)
{
    fixture *f = *state;
    rg_buf resp = RG_BUF_INIT, headers = RG_BUF_INIT;
    char path[256], hv[128];
    long status = 0;

    assert_int_equal(call(f, "GET", "/nope", NULL, NULL, &resp), 404);
    assert_int_equal(call(f, "GET", "/api/v1/nope", f->viewer, NULL, &resp), 404);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/bogus", f->rollout);
    assert_int_equal(call(f, "GET", path, f->viewer, NULL, &resp), 404);
    assert_int_equal(call(f, "GET", "/api/v1/rollouts/ro_doesnotexist", f->viewer, NULL, &resp),
                     404);
    assert_int_equal(call(f, "GET", "/api/v1/rollouts/..%2f..%2fetc", f->viewer, NULL, &resp), 404);
    assert_int_equal(serve_http(f->srv.url, "DELETE", "/api/v1/rollouts", f->viewer, NULL, NULL,
                                &status, &resp, &headers),
                     0);
    assert_int_equal(status, 405);
    assert_non_null(rg_simproc_header(hv, sizeof(hv), &headers, "Allow"));
    assert_string_equal(hv, "GET, POST");
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/pause", f->rollout);
    assert_int_equal(call(f, "GET", path, f->operator, NULL, &resp), 405);
    assert_int_equal(call(f, "POST", "/healthz", NULL, "{}", &resp), 405);
    rg_buf_dispose(&resp);
    rg_buf_dispose(&headers);
}

static void test_commands(void **state)
{
    fixture *f = *state;
    rg_buf resp = RG_BUF_INIT;
    rg_store *store = NULL;
    rg_store_audits audits = {0};
    char path[256], *body = start_body(f, "demo", 0), id[64];
    json_t *doc;
    int found = 0;

    /* A fresh rollout of our own, awaiting approval. */
    assert_int_equal(call(f, "POST", "/api/v1/rollouts", f->release, body, &resp), 201);
    doc = json_loads(rg_buf_cstr(&resp), 0, NULL);
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/pause", id);
    assert_int_equal(call(f, "POST", path, f->operator, "{}", &resp), 409);
    assert_non_null(strstr(rg_buf_cstr(&resp), "awaiting_approval"));
    assert_int_equal(call(f, "POST", path, f->operator, "{\"why\":\"x\"}", &resp), 400);
    assert_non_null(strstr(rg_buf_cstr(&resp), "body.why"));
    assert_int_equal(call(f, "POST", path, f->operator, "[1", &resp), 400);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/rollback", id);
    assert_int_equal(call(f, "POST", path, f->operator, "{}", &resp), 400);
    assert_non_null(strstr(rg_buf_cstr(&resp), "reason"));
    assert_int_equal(call(f, "POST", path, f->operator, "{\"reason\":\"test abort\"}", &resp), 200);
    doc = json_loads(rg_buf_cstr(&resp), 0, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "command")), "rollback");
    assert_string_equal(json_string_value(json_object_get(doc, "outcome")), "done");
    json_decref(doc);
    assert_int_equal(call(f, "POST", path, f->operator, "{\"reason\":\"again\"}", &resp), 409);
    /* The rolled-back rollout: retry needs release and gives a new linked rollout; undo
     * (operator) needs a reason and a completed rollout; promote full needs force. */
    {
        char retry[256], undo[256], again[256], next[64];
        snprintf(retry, sizeof(retry), "/api/v1/rollouts/%s/retry", id);
        snprintf(undo, sizeof(undo), "/api/v1/rollouts/%s/undo", id);
        assert_int_equal(call(f, "POST", retry, f->operator, "{}", &resp), 403);
        assert_int_equal(call(f, "GET", retry, f->release, NULL, &resp), 405);
        assert_int_equal(call(f, "POST", retry, f->release, "{\"why\":1}", &resp), 400);
        assert_int_equal(call(f, "POST", undo, f->viewer, "{\"reason\":\"x\"}", &resp), 403);
        assert_int_equal(call(f, "POST", undo, f->operator, "{}", &resp), 400);
        assert_int_equal(call(f, "POST", undo, f->operator, "{\"reason\":\"x\"}", &resp), 409);
        assert_non_null(strstr(rg_buf_cstr(&resp), "undo is for a completed rollout"));
        assert_int_equal(call(f, "POST", retry, f->release, "{}", &resp), 201);
        doc = json_loads(rg_buf_cstr(&resp), 0, NULL);
        assert_string_equal(json_string_value(json_object_get(doc, "retry_of")), id);
        assert_string_equal(json_string_value(json_object_get(doc, "state")), "awaiting_approval");
        snprintf(next, sizeof(next), "%s", json_string_value(json_object_get(doc, "id")));
        json_decref(doc);
        assert_string_not_equal(next, id);
        snprintf(again, sizeof(again), "/api/v1/rollouts/%s/retry", next);
        assert_int_equal(call(f, "POST", again, f->release, "{}", &resp), 409);
        snprintf(again, sizeof(again), "/api/v1/rollouts/%s", next);
        assert_int_equal(call(f, "GET", again, f->viewer, NULL, &resp), 200);
        doc = json_loads(rg_buf_cstr(&resp), 0, NULL);
        assert_string_equal(json_string_value(json_object_get(doc, "retry_of")), id);
        json_decref(doc);
        snprintf(again, sizeof(again), "/api/v1/rollouts/%s/promote", next);
        assert_int_equal(
            call(f, "POST", again, f->release, "{\"full\":true,\"reason\":\"x\"}", &resp), 400);
        snprintf(again, sizeof(again), "/api/v1/rollouts/%s/rollback", next);
        assert_int_equal(call(f, "POST", again, f->operator, "{\"reason\":\"done\"}", &resp), 200);
    }
    /* Audited with the token's name as the actor and the reason given. */
    assert_int_equal(rg_store_open(&store, f->db), 0);
    assert_int_equal(rg_store_audit_list(&audits, store, "demo", id), 0);
    for (size_t i = 0; i < audits.count; i++)
        if (strcmp(audits.items[i].action, "rollback") == 0 && audits.items[i].reason &&
            strcmp(audits.items[i].reason, "test abort") == 0) {
            assert_string_equal(audits.items[i].actor, "oncall");
            found = 1;
        }
    assert_true(found);
    rg_store_audits_dispose(&audits);
    rg_store_free(store);
    free(body);
    rg_buf_dispose(&resp);
}

/* ---- /metrics: a small strict parser of the Prometheus text format 0.0.4 ---- */

static int metric_name_ok(const char *s, size_t n)
{
    if (n == 0 || !(s[0] == '_' || s[0] == ':' || (s[0] >= 'a' && s[0] <= 'z') ||
                    (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(s[i] == '_' || s[i] == ':' || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

/* Parses `{a="x",b="y"}`; returns the length consumed or -1. */
static int parse_labels(const char *s)
{
    const char *p = s + 1;
    if (*s != '{')
        return 0;
    while (*p != '}') {
        const char *name = p;
        while (*p && *p != '=')
            p++;
        if (*p != '=' || !metric_name_ok(name, (size_t)(p - name)) || p[1] != '"')
            return -1;
        p += 2;
        while (*p && *p != '"') {
            if (*p == '\\') {
                if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                    return -1;
                p++;
            }
            p++;
        }
        if (*p != '"')
            return -1;
        p++;
        if (*p == ',')
            p++;
        else if (*p != '}')
            return -1;
    }
    return (int)(p + 1 - s);
}

/* The family a sample belongs to: histograms own _bucket, _sum and _count. */
static int family_of(json_t *types, const char *name, char *family, size_t len)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count", NULL};
    if (json_object_get(types, name)) {
        snprintf(family, len, "%s", name);
        return 0;
    }
    for (size_t i = 0; suffixes[i]; i++) {
        size_t n = strlen(name), k = strlen(suffixes[i]);
        if (n > k && strcmp(name + n - k, suffixes[i]) == 0) {
            snprintf(family, len, "%.*s", (int)(n - k), name);
            if (json_is_string(json_object_get(types, family)) &&
                strcmp(json_string_value(json_object_get(types, family)), "histogram") == 0)
                return 0;
        }
    }
    return -1;
}

/* Parses the whole text; fills `samples` {"name{labels}": value}. 0 or the failing line. */
static int parse_prometheus(const char *text, json_t *samples)
{
    json_t *types = json_object(), *helps = json_object();
    int lineno = 0, bad = 0;
    char *copy = strdup(text), *save = NULL;

    for (char *line = strtok_r(copy, "\n", &save); line && !bad;
         line = strtok_r(NULL, "\n", &save)) {
        char name[128], family[128], type[32];
        lineno++;
        if (strncmp(line, "# HELP ", 7) == 0) {
            if (sscanf(line + 7, "%127s", name) != 1 || json_object_get(helps, name) ||
                !metric_name_ok(name, strlen(name)) || strlen(line + 7) <= strlen(name) + 1)
                bad = lineno;
            json_object_set_new(helps, name, json_true());
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            if (sscanf(line + 7, "%127s %31s", name, type) != 2 || json_object_get(types, name) ||
                (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0 &&
                 strcmp(type, "histogram") != 0 && strcmp(type, "summary") != 0 &&
                 strcmp(type, "untyped") != 0))
                bad = lineno;
            json_object_set_new(types, name, json_string(type));
        } else if (line[0] == '#') {
            bad = lineno;
        } else {
            size_t n = strcspn(line, "{ ");
            int lab;
            double v;
            char *end;
            memcpy(name, line, n < sizeof(name) ? n : sizeof(name) - 1);
            name[n < sizeof(name) ? n : sizeof(name) - 1] = '\0';
            lab = parse_labels(line + n);
            if (!metric_name_ok(line, n) || lab < 0 || line[n + (size_t)lab] != ' ' ||
                family_of(types, name, family, sizeof(family)) < 0) {
                bad = lineno;
                break;
            }
            if (strcmp(line + n + lab + 1, "+Inf") == 0)
                v = INFINITY;
            else if ((v = strtod(line + n + lab + 1, &end)),
                     *end != '\0' || end == line + n + lab + 1)
                bad = lineno;
            line[n + (size_t)lab] = '\0';
            if (json_object_get(samples, line))
                bad = lineno; /* duplicate series */
            json_object_set_new(samples, line, json_real(v));
        }
    }
    free(copy);
    json_decref(types);
    json_decref(helps);
    return bad;
}

static double sample(json_t *samples, const char *key)
{
    json_t *v = json_object_get(samples, key);
    return v ? json_real_value(v) : -1;
}

static void test_metrics(void **state)
{
    fixture *f = *state;
    rg_buf resp = RG_BUF_INIT, headers = RG_BUF_INIT;
    json_t *samples = json_object();
    char hv[128], hex[65];
    const char *secrets[] = {f->viewer,         f->operator, f->release, f->other_viewer,
                             f->other_operator, "secret-org_parent_001", NULL};
    long status = 0;
    double prev = 0;

    assert_int_equal(
        serve_http(f->srv.url, "GET", "/metrics", NULL, NULL, NULL, &status, &resp, &headers), 0);
    assert_int_equal(status, 200);
    assert_non_null(rg_simproc_header(hv, sizeof(hv), &headers, "Content-Type"));
    assert_non_null(strstr(hv, "text/plain; version=0.0.4"));
    assert_int_equal(parse_prometheus(rg_buf_cstr(&resp), samples), 0);
    /* Values that the fixture fixes: demo's rollouts awaiting approval (the commands test
     * may have rolled one back, so at least the fixture's and the YAML one). */
    assert_true(sample(samples, "rollgate_rollouts{state=\"awaiting_approval\"}") >= 2);
    assert_true(sample(samples, "rollgate_rollouts{state=\"completed\"}") == 0);
    assert_true(sample(samples, "rollgate_organizations") == (double)json_array_size(f->orgs));
    assert_true(sample(samples, "rollgate_platform_requests_total{class=\"2xx\"}") >= 0);
    for (size_t i = 0; i < 8; i++) {
        const char *les[] = {"0.05", "0.1", "0.25", "0.5", "1", "2.5", "10", "+Inf"};
        char key[128];
        double v;
        snprintf(key, sizeof(key), "rollgate_poll_latency_seconds_bucket{le=\"%s\"}", les[i]);
        v = sample(samples, key);
        assert_true(v >= prev);
        prev = v;
    }
    assert_true(prev == sample(samples, "rollgate_poll_latency_seconds_count"));
    /* Without --metrics-per-rollout, anyone who reaches /metrics learns counts alone: no
     * tenant or rollout id. With it, each active rollout's stage is labelled with them. */
    assert_null(strstr(rg_buf_cstr(&resp), f->rollout));
    assert_null(strstr(rg_buf_cstr(&resp), "tenant=\"demo\""));
    assert_null(strstr(rg_buf_cstr(&resp), "rollgate_rollout_stage"));
    {
        char key[160];
        serve_proc detailed;
        rg_buf more = RG_BUF_INIT;
        json_t *s2 = json_object();
        assert_int_equal(serve_start_extra(&detailed, f->db, f->tokens, 1, "--metrics-per-rollout"),
                         0);
        assert_int_equal(
            serve_http(detailed.url, "GET", "/metrics", NULL, NULL, NULL, &status, &more, NULL), 0);
        assert_int_equal(serve_stop(&detailed), 0);
        assert_int_equal(status, 200);
        assert_int_equal(parse_prometheus(rg_buf_cstr(&more), s2), 0);
        snprintf(key, sizeof(key),
                 "rollgate_rollout_stage{tenant=\"demo\",rollout=\"%s\","
                 "state=\"awaiting_approval\"}",
                 f->rollout);
        assert_true(sample(s2, key) == 1);
        json_decref(s2);
        rg_buf_dispose(&more);
    }
    for (size_t i = 0; secrets[i]; i++) {
        assert_null(strstr(rg_buf_cstr(&resp), secrets[i]));
        rg_sha256_hex(hex, secrets[i], strlen(secrets[i]));
        assert_null(strstr(rg_buf_cstr(&resp), hex));
    }
    /* The parser itself refuses what is not the format. */
    {
        json_t *s2 = json_object();
        assert_int_not_equal(parse_prometheus("x 1\n", s2), 0); /* no TYPE */
        assert_int_not_equal(parse_prometheus("# TYPE x gauge\nx{a=\"1} 1\n", s2), 0);
        assert_int_not_equal(parse_prometheus("# TYPE x gauge\nx one\n", s2), 0);
        json_decref(s2);
    }
    json_decref(samples);
    rg_buf_dispose(&resp);
    rg_buf_dispose(&headers);
}

/* ---- the tokens file and the listen rule ---- */

static int run_rollgate(const char *args, char *err, size_t errlen)
{
    char cmd[PATH_MAX * 4], errfile[PATH_MAX];
    char *text;
    int st;

    snprintf(errfile, sizeof(errfile), "%s/serve-err-%d.txt",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", getpid());
    snprintf(cmd, sizeof(cmd), "'%s/cli/rollgate' %s >/dev/null 2>'%s'", rg_test_binary_dir(), args,
             errfile);
    st = system(cmd);
    text = rg_test_read_file(errfile, NULL);
    snprintf(err, errlen, "%s", text ? text : "");
    free(text);
    unlink(errfile);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_tokens_file(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX + 32], args[PATH_MAX * 3], err[1024];
    rg_tokens *t = NULL;
    char *tok = NULL;
    struct stat st;

    snprintf(path, sizeof(path), "%s/t2.json", f->dir);
    assert_int_equal(rg_tokens_new(&tok, path, "acme", RG_ROLE_OPERATOR, "bot"), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(strlen(tok), 43);
    assert_int_equal(strncmp(tok, "rg_", 3), 0);
    assert_int_equal(rg_tokens_load(&t, path), 0);
    assert_non_null(rg_tokens_find(t, tok));
    assert_string_equal(rg_tokens_find(t, tok)->tenant, "acme");
    assert_null(rg_tokens_find(t, "rg_0000000000000000000000000000000000000000"));
    rg_tokens_free(t);
    t = NULL;
    {
        char *text = rg_test_read_file(path, NULL);
        assert_null(strstr(text, tok)); /* only the hash is stored */
        free(text);
    }
    /* A readable-by-others file is refused with the reason, by the library and by serve. */
    chmod(path, 0644);
    assert_int_equal(rg_tokens_load(&t, path), RG_EAUTH);
    assert_non_null(strstr(rg_error_last(), "0600"));
    snprintf(args, sizeof(args), "--db '%s/x.db' serve --listen 127.0.0.1:0 --tokens '%s'", f->dir,
             path);
    assert_int_equal(run_rollgate(args, err, sizeof(err)), 3);
    assert_non_null(strstr(err, "mode 0644"));
    /* Strict entries. */
    {
        static const char *const bad[] = {
            "{}",
            "[{\"sha256\":\"ab\",\"tenant\":\"a\",\"role\":\"viewer\",\"name\":\"n\"}]",
            "[{\"sha256\":\"%s\",\"tenant\":\"a\",\"role\":\"admin\",\"name\":\"n\"}]",
            "[{\"sha256\":\"%s\",\"tenant\":\"a b\",\"role\":\"viewer\",\"name\":\"n\"}]",
            "[{\"sha256\":\"%s\",\"tenant\":\"a\",\"role\":\"viewer\",\"name\":\"n\",\"x\":1}]",
            "[{\"sha256\":\"%s\",\"tenant\":\"a\",\"role\":\"viewer\"}]",
            NULL};
        static const char *const expect[] = {
            "expected a JSON list", "[0].sha256",        "[0].role",
            "[0].tenant",           "unknown key \"x\"", "missing \"name\""};
        char hash[65], text[1024];
        rg_sha256_hex(hash, "x", 1);
        for (size_t i = 0; bad[i]; i++) {
            snprintf(text, sizeof(text), bad[i], hash);
            assert_int_equal(rg_test_write_file(path, text), 0);
            chmod(path, 0600);
            assert_int_equal(rg_tokens_load(&t, path), RG_EINVALID);
            assert_non_null(strstr(rg_error_last(), expect[i]));
        }
    }
    /* A non-loopback address needs --allow-remote, and says why. */
    snprintf(args, sizeof(args), "--db '%s/x.db' serve --listen 0.0.0.0:0 --tokens '%s'", f->dir,
             f->tokens);
    assert_int_equal(run_rollgate(args, err, sizeof(err)), 3);
    assert_non_null(strstr(err, "--allow-remote"));
    assert_non_null(strstr(err, "TLS"));
    /* A webhook network with host bits past its prefix, or not an address, is refused. */
    snprintf(args, sizeof(args),
             "--db '%s/x.db' serve --listen 127.0.0.1:0 --tokens '%s' --webhook-allow 10.1.2.3/8",
             f->dir, f->tokens);
    assert_int_equal(run_rollgate(args, err, sizeof(err)), 3);
    assert_non_null(strstr(err, "--webhook-allow"));
    assert_non_null(strstr(err, "past the /8 prefix"));
    snprintf(args, sizeof(args),
             "--db '%s/x.db' serve --listen 127.0.0.1:0 --tokens '%s' --webhook-allow intranet",
             f->dir, f->tokens);
    assert_int_equal(run_rollgate(args, err, sizeof(err)), 3);
    assert_non_null(strstr(err, "'intranet' is not an IPv4 or IPv6 address"));
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unauthenticated),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_tenants_are_invisible),
        cmocka_unit_test(test_manifest_bodies),
        cmocka_unit_test(test_paths_and_methods),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_tokens_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
