/* test_serve_tenants_files.c - `rollgate serve` among hostile tenants (test_serve_tenants):
 * the owner's files: modes, owners and the registry's rules */
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

/* ---- 8. the owner's files ---- */

static unsigned mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 0777) : 01000;
}

void test_private_files(void **state)
{
    char dir[PATH_MAX], db[PATH_MAX + 16], tokens[PATH_MAX + 16], reg[PATH_MAX + 32],
        side[PATH_MAX + 32];
    serve_proc sp = {0};
    mode_t old = umask(022);
    char *token;
    int64_t deadline;
    (void)state;

    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(db, sizeof(db), "%s/state.db", dir);
    snprintf(tokens, sizeof(tokens), "%s/tokens.json", dir);
    serve_registry_path(reg, sizeof(reg), db);
    token = serve_token_new(tokens, "acme", "viewer", "v");
    assert_non_null(token);
    assert_int_equal(cli(db, "org add --tenant acme --org o1 --region eu-west-1 "
                             "--credentials env:ACME_O1"),
                     0);
    assert_int_equal(mode_of(reg), 0600);
    assert_int_equal(mode_of(tokens), 0600);
    assert_int_equal(serve_start(&sp, db, tokens), 0);
    /* The server made the database under umask 022: it and its -wal and -shm are 0600. */
    assert_int_equal(mode_of(db), 0600);
    snprintf(side, sizeof(side), "%s-wal", db);
    deadline = rg_time_mono_ms() + 5000;
    while (mode_of(side) == 01000 && rg_time_mono_ms() < deadline)
        poll(NULL, 0, 50);
    assert_int_equal(mode_of(side), 0600);
    snprintf(side, sizeof(side), "%s-shm", db);
    assert_int_equal(mode_of(side), 0600);
    assert_int_equal(serve_stop(&sp), 0);
    /* A registry others can write (or read) is refused: the server does not start. */
    assert_int_equal(chmod(reg, 0620), 0);
    assert_true(serve_start(&sp, db, tokens) < 0);
    assert_int_equal(chmod(reg, 0600), 0);
    assert_int_equal(chmod(tokens, 0660), 0);
    assert_true(serve_start(&sp, db, tokens) < 0);
    umask(old);
    free(token);
    rg_test_rmtree(dir);
}

/* A loopback registry entry is a test platform: without --allow-loopback-platform it is not
 * used, and the owner's CLI refuses what the registry must never hold. */
void test_registry_rules(void **state)
{
    fixture *f = *state;
    char dir[PATH_MAX], db[PATH_MAX + 16], tokens[PATH_MAX + 16], out[PATH_MAX * 3];
    serve_proc sp = {0};
    rg_buf resp = RG_BUF_INIT;
    long status = 0;
    char *token, *body, *text;
    FILE *p;
    size_t n;

    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    snprintf(db, sizeof(db), "%s/state.db", dir);
    snprintf(tokens, sizeof(tokens), "%s/tokens.json", dir);
    token = serve_token_new(tokens, "acme", "release", "r");
    assert_int_equal(serve_register(db, "acme", f->acme_orgs, f->sim.url, NULL), 0);
    /* One org, one tenant; real regions only; URLs only for loopback, and loopback only. */
    assert_int_equal(cli(db,
                         "org add --tenant other --org '%s' --region us-east-1 "
                         "--credentials env",
                         json_string_value(json_array_get(f->acme_orgs, 0))),
                     -1);
    assert_int_equal(cli(db, "org add --tenant acme --org o2 --region mars --credentials env"), -1);
    assert_int_equal(cli(db, "org add --tenant acme --org o2 --region us-east-1 --api-url "
                             "https://evil.example --login-url https://evil.example "
                             "--credentials env"),
                     -1);
    assert_int_equal(cli(db, "org add --tenant acme --org o2 --region loopback --api-url "
                             "https://evil.example --login-url https://evil.example "
                             "--credentials env"),
                     -1);
    assert_int_equal(cli(db, "org add --tenant acme --org o2 --region ap-southeast-2 "
                             "--credentials env:ACME_O2"),
                     0);
    snprintf(out, sizeof(out), "'%s/cli/rollgate' --db '%s' org list --tenant acme --json",
             rg_test_binary_dir(), db);
    assert_non_null(p = popen(out, "r"));
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "\"api_url\":\"https://api.mypurecloud.com.au\""));
    assert_non_null(strstr(out, "\"login_url\":\"https://login.mypurecloud.com.au\""));
    assert_int_equal(cli(db, "org remove --tenant acme --org o2"), 0);
    assert_int_equal(cli(db, "org remove --tenant acme --org o2"), -1);
    assert_int_equal(cli(db, "org add --tenant acme --org real_org --region us-east-1 "
                             "--credentials env:ACME_REAL"),
                     0);
    assert_int_equal(cli(db, "org webhook --tenant acme --secret env:ACME_HOOK"), 0);
    /* No test mode: the loopback entries are refused with the reason. */
    assert_int_equal(serve_start_mode(&sp, db, tokens, 0), 0);
    body = serve_manifest("no-test-mode", "acme", f->sim.url, f->acme_orgs, NULL, "required", 0);
    assert_int_equal(
        serve_http(sp.url, "POST", "/api/v1/rollouts", token, NULL, body, &status, &resp, NULL), 0);
    assert_int_equal(status, 400);
    assert_non_null(strstr(rg_buf_cstr(&resp), "--allow-loopback-platform"));
    /* Outside test mode a served webhook may not reach the host itself: the receiver on
     * 127.0.0.1 hears nothing and the audit says why. */
    {
        hook_receiver rx;
        rg_buf m = RG_BUF_INIT;
        rg_store *store = NULL;
        json_t *doc;
        char id[64], *mb = manifest_for("acme", "real_org", NULL, NULL);
        int failed = 0;
        int64_t deadline = rg_time_mono_ms() + 10000;

        assert_int_equal(hook_receiver_start(&rx, ACME_HOOK, 0), 0);
        rg_buf_printf(&m, "%snotify:\n  - {url: \"%s\", events: [started]}\n", mb, rx.url);
        rg_buf_clear(&resp);
        assert_int_equal(serve_http(sp.url, "POST", "/api/v1/rollouts", token, "application/yaml",
                                    m.ptr, &status, &resp, NULL),
                         0);
        assert_int_equal(status, 201);
        doc = json_loads(rg_buf_cstr(&resp), 0, NULL);
        snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(doc, "id")));
        json_decref(doc);
        assert_int_equal(rg_store_open(&store, db), 0);
        while (!failed && rg_time_mono_ms() < deadline) {
            rg_store_audits audits = {0};
            assert_int_equal(rg_store_audit_list(&audits, store, "acme", id), 0);
            for (size_t i = 0; i < audits.count; i++)
                failed |= strcmp(audits.items[i].action, "webhook") == 0 &&
                          audits.items[i].outcome &&
                          strstr(audits.items[i].outcome, "loopback") != NULL;
            rg_store_audits_dispose(&audits);
            if (!failed)
                poll(NULL, 0, 100);
        }
        assert_true(failed);
        pthread_mutex_lock(&rx.lock);
        assert_int_equal(rx.requests, 0);
        pthread_mutex_unlock(&rx.lock);
        rg_store_free(store);
        hook_receiver_stop(&rx);
        rg_buf_dispose(&m);
        free(mb);
    }
    assert_int_equal(serve_stop(&sp), 0);
    /* The registry holds names and paths, never a secret value. */
    {
        char reg[PATH_MAX + 32];
        serve_registry_path(reg, sizeof(reg), db);
        text = rg_test_read_file(reg, NULL);
        assert_non_null(text);
        assert_null(strstr(text, "secret-"));
        free(text);
    }
    free(body);
    free(token);
    rg_buf_dispose(&resp);
    rg_test_rmtree(dir);
}
