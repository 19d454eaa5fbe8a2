/* test_cli_behaviour.c - the `rollgate` binary as an operator meets it: --help for every
 * command, conflicting options, --json errors, gate's state, list and status on history,
 * audit rows with rollout ids, and no lease takeover after a clean `run --once` */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include "rollgate/util.h"
#include "support/testutil.h"

typedef struct {
    int status;
    char *out;
    char *err;
} run_result;

static char dir[4096]; /* scratch: captured output, databases, manifests */

static int setup(void **state)
{
    (void)state;
    return rg_test_mkdtemp(dir, sizeof(dir));
}

static int teardown(void **state)
{
    (void)state;
    return dir[0] ? rg_test_rmtree(dir) : 0;
}

/* Runs `rollgate ARGS` (already shell-quoted) in the scratch directory with `db`. */
static run_result run_in(const char *db, const char *fmt, ...) RG_PRINTF(2, 3);
static run_result run_in(const char *db, const char *fmt, ...)
{
    char outp[4200], errp[4200], args[8192];
    rg_buf cmd = RG_BUF_INIT;
    run_result r = {-1, NULL, NULL};
    va_list ap;
    int status;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(outp, sizeof(outp), "%s/out", dir);
    snprintf(errp, sizeof(errp), "%s/err", dir);
    rg_buf_printf(&cmd,
                  "cd '%s' && ROLLGATE_DB='%s/%s' '%s/cli/rollgate' %s </dev/null >'%s' "
                  "2>'%s'",
                  dir, dir, db, rg_test_binary_dir(), args, outp, errp);
    status = system(rg_buf_cstr(&cmd));
    assert_true(status != -1 && WIFEXITED(status));
    r.status = WEXITSTATUS(status);
    r.out = rg_test_read_file(outp, NULL);
    r.err = rg_test_read_file(errp, NULL);
    assert_non_null(r.out);
    assert_non_null(r.err);
    rg_buf_dispose(&cmd);
    return r;
}

#define EXPECT_EXIT(r, code)                                                                       \
    do {                                                                                           \
        if ((r).status != (code))                                                                  \
            fail_msg("exit %d, not %d; stderr: %s", (r).status, (code), (r).err);                  \
    } while (0)

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

/* The command names `rollgate --help` lists under "commands:". */
static json_t *command_names(void)
{
    run_result r = run_in("help.db", "--help");
    json_t *names = json_array();
    char *p = strstr(r.out, "\ncommands:\n");

    EXPECT_EXIT(r, 0);
    assert_non_null(p);
    for (p += strlen("\ncommands:\n"); strncmp(p, "  ", 2) == 0;) {
        char name[64];
        char *nl = strchr(p, '\n');
        assert_int_equal(sscanf(p, " %63s", name), 1);
        json_array_append_new(names, json_string(name));
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    run_free(&r);
    assert_true(json_array_size(names) >= 17);
    return names;
}

/* Every --option a command's help names is in its usage line or is a common option. */
static void check_usage_lists_options(const char *name, const char *help)
{
    const char *nl = strchr(help, '\n');
    size_t usage_len = nl ? (size_t)(nl - help) : strlen(help);
    const char *common = strstr(help, "\ncommon options:");

    for (const char *p = help + usage_len; (p = strstr(p, "--")) != NULL;) {
        char opt[64];
        size_t n = 2;
        while (n < sizeof(opt) - 1 && ((p[n] >= 'a' && p[n] <= 'z') || p[n] == '-'))
            n++;
        snprintf(opt, sizeof(opt), "%.*s", (int)n, p);
        if (common && p > common)
            break; /* the common options' own list */
        if (n > 2 && strcmp(opt, "--json") != 0 && strcmp(opt, "--db") != 0 &&
            strcmp(opt, "--verbose") != 0 && strcmp(opt, "--help") != 0) {
            char *usage = rg_strndup(help, usage_len);
            if (strstr(usage, opt) == NULL)
                fail_msg("`rollgate %s --help` mentions %s, which its usage line lacks: %s", name,
                         opt, usage);
            free(usage);
        }
        p += n;
    }
}

static void test_every_command_help_exits_0_on_stdout(void **state)
{
    json_t *names = command_names(), *v;
    size_t i;
    (void)state;

    json_array_foreach(names, i, v)
    {
        const char *name = json_string_value(v);
        char want[128];
        run_result r = run_in("help.db", "%s --help", name);
        if (r.status != 0 || r.err[0] != '\0')
            fail_msg("`rollgate %s --help`: exit %d, stderr '%s'", name, r.status, r.err);
        snprintf(want, sizeof(want), "usage: rollgate [--db PATH] %s ", name);
        if (strncmp(r.out, want, strlen(want)) != 0)
            fail_msg("`rollgate %s --help` starts '%.80s'", name, r.out);
        check_usage_lists_options(name, r.out);
        run_free(&r);
        r = run_in("help.db", "help %s", name); /* the same text */
        EXPECT_EXIT(r, 0);
        assert_int_equal(strncmp(r.out, want, strlen(want)), 0);
        run_free(&r);
    }
    json_decref(names);
}

static json_t *json_of(const run_result *r)
{
    json_error_t err;
    json_t *doc = json_loads(r->out, 0, &err);
    if (doc == NULL)
        fail_msg("stdout is not one JSON document (%s): '%s'", err.text, r->out);
    return doc;
}

static void expect_json_error(const run_result *r, int exit_code, const char *code,
                              const char *message_part)
{
    json_t *doc = json_of(r), *e = json_object_get(doc, "error");
    assert_int_equal(r->status, exit_code);
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    assert_int_equal(json_integer_value(json_object_get(e, "exit")), exit_code);
    if (strstr(json_string_value(json_object_get(e, "message")), message_part) == NULL)
        fail_msg("error message '%s' lacks '%s'", json_string_value(json_object_get(e, "message")),
                 message_part);
    json_decref(doc);
}

static void test_conflicts_and_errors_exit_3_with_json(void **state)
{
    run_result r;
    (void)state;

    r = run_in("e.db", "run --once --until-done");
    EXPECT_EXIT(r, 3);
    assert_non_null(strstr(r.err, "--once and --until-done exclude each other"));
    assert_string_equal(r.out, "");
    run_free(&r);
    r = run_in("e.db", "run --until-done --once --json");
    expect_json_error(&r, 3, "usage", "exclude each other");
    run_free(&r);

    r = run_in("e.db", "gate ro_000000000000 --json");
    expect_json_error(&r, 3, "not_found", "unknown rollout 'ro_000000000000'");
    run_free(&r);
    r = run_in("e.db", "--json nonsense");
    expect_json_error(&r, 3, "usage", "unknown command 'nonsense'");
    run_free(&r);
    r = run_in("e.db", "pause --force ro_000000000000 --json"); /* --force is promote's */
    expect_json_error(&r, 3, "usage", "");
    run_free(&r);

    /* A directory given as the manifest is an input error, for plan and start alike. */
    r = run_in("e.db", "plan '%s' --offline", dir);
    EXPECT_EXIT(r, 3);
    assert_non_null(strstr(r.err, "a directory, not a file"));
    run_free(&r);
    r = run_in("e.db", "start '%s' --json", dir);
    expect_json_error(&r, 3, "invalid", "a directory");
    run_free(&r);

    /* A database that cannot be opened: the path once, and why. */
    r = run_in("e.db", "--db '%s/no/such/dir/x.db' status", dir);
    EXPECT_EXIT(r, 4);
    assert_non_null(strstr(r.err, "No such file or directory"));
    {
        const char *first = strstr(r.err, "/no/such/dir/x.db");
        assert_non_null(first);
        assert_null(strstr(first + 1, "/no/such/dir/x.db"));
    }
    run_free(&r);
}

/* A copy of tests/data/good/routing.yaml named `name` (the policy is the shipped default). */
static void write_manifest(const char *file, const char *name)
{
    char src[4096], path[4200];
    char *text, *at;
    rg_buf out = RG_BUF_INIT;

    rg_test_path(src, sizeof(src), "tests/data/good/routing.yaml");
    text = rg_test_read_file(src, NULL);
    assert_non_null(text);
    at = strstr(text, "name: routing-v2.1\n");
    assert_non_null(at);
    rg_buf_printf(&out, "%.*sname: %s\n%s", (int)(at - text), text, name,
                  at + strlen("name: routing-v2.1\n"));
    /* Each rollout changes a strategy of its own: two active rollouts may not claim the
     * same (org, strategy). */
    {
        char *st = strstr(out.ptr, "strategy: strat_main");
        assert_non_null(st);
        rg_buf tail = RG_BUF_INIT;
        rg_buf_puts(&tail, st + strlen("strategy: strat_main"));
        out.len = (size_t)(st - out.ptr);
        out.ptr[out.len] = '\0';
        rg_buf_printf(&out, "strategy: strat_%s%s", name, rg_buf_cstr(&tail));
        rg_buf_dispose(&tail);
    }
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    assert_int_equal(rg_test_write_file(path, rg_buf_cstr(&out)), 0);
    rg_buf_dispose(&out);
    free(text);
}

static char *start_rollout(const char *db, const char *file)
{
    run_result r = run_in(db, "start %s --actor ana", file);
    char *nl;
    if (r.status != 0)
        fail_msg("start %s: exit %d: %s", file, r.status, r.err);
    nl = strchr(r.out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    free(r.err);
    return r.out;
}

static void test_history_gate_state_and_audit(void **state)
{
    run_result r;
    char *first, *second;
    json_t *doc;
    (void)state;

    r = run_in("h.db", "status");
    EXPECT_EXIT(r, 0);
    assert_string_equal(r.out, "no active rollouts\n");
    run_free(&r);

    write_manifest("checkout.yaml", "checkout-routing");
    write_manifest("billing.yaml", "billing-routing");
    first = start_rollout("h.db", "checkout.yaml");
    second = start_rollout("h.db", "billing.yaml");

    /* gate answers with the state, not "running" */
    r = run_in("h.db", "gate %s", first);
    EXPECT_EXIT(r, 2);
    {
        char want[128];
        snprintf(want, sizeof(want), "%s: awaiting_approval\n", first);
        assert_string_equal(r.out, want);
    }
    run_free(&r);
    r = run_in("h.db", "gate %s --json", first);
    doc = json_of(&r);
    assert_string_equal(json_string_value(json_object_get(doc, "state")), "awaiting_approval");
    EXPECT_EXIT(r, 2);
    json_decref(doc);
    run_free(&r);

    /* list: newest first, filtered */
    r = run_in("h.db", "list --json");
    doc = json_of(&r);
    assert_int_equal(json_array_size(doc), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(doc, 0), "id")), second);
    json_decref(doc);
    run_free(&r);
    r = run_in("h.db", "list --name 'checkout-*' --json");
    doc = json_of(&r);
    assert_int_equal(json_array_size(doc), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(doc, 0), "id")), first);
    json_decref(doc);
    run_free(&r);
    r = run_in("h.db", "list --state completed,rolled_back");
    EXPECT_EXIT(r, 0);
    assert_string_equal(r.out, "no rollouts match\n");
    run_free(&r);
    r = run_in("h.db", "list --state active --tenant acme --since 1h --json");
    doc = json_of(&r);
    assert_int_equal(json_array_size(doc), 2);
    json_decref(doc);
    run_free(&r);
    r = run_in("h.db", "list --tenant other --json");
    doc = json_of(&r);
    assert_int_equal(json_array_size(doc), 0);
    json_decref(doc);
    run_free(&r);
    r = run_in("h.db", "list --since 2999-01-01T00:00:00Z");
    assert_string_equal(r.out, "no rollouts match\n");
    run_free(&r);
    r = run_in("h.db", "list --state bogus --json");
    expect_json_error(&r, 3, "usage", "--state 'bogus'");
    run_free(&r);

    /* the tenant's audit names the rollout of every row */
    r = run_in("h.db", "audit --tenant acme");
    EXPECT_EXIT(r, 0);
    assert_non_null(strstr(r.out, first));
    assert_non_null(strstr(r.out, second));
    run_free(&r);

    /* a clean `run --once` hands its leases back: the next one takes over nothing */
    r = run_in("h.db", "run --once --quiet");
    EXPECT_EXIT(r, 0);
    run_free(&r);
    r = run_in("h.db", "run --once --quiet");
    EXPECT_EXIT(r, 0);
    if (strstr(r.err, "took over the lease") != NULL)
        fail_msg("a second run --once logged a takeover: %s", r.err);
    run_free(&r);

    /* status without an id lists what is active (test_quickstart sees it with none) */
    r = run_in("h.db", "status");
    EXPECT_EXIT(r, 0);
    assert_non_null(strstr(r.out, first));
    assert_non_null(strstr(r.out, second));
    assert_null(strstr(r.out, "no active rollouts"));
    run_free(&r);
    free(first);
    free(second);
}

/* Every command under --json prints one JSON document on stdout, result or error. Commands
 * that would run on get arguments that end them at once. */
static void test_every_command_speaks_json(void **state)
{
    json_t *names = command_names(), *v;
    size_t i;
    (void)state;

    json_array_foreach(names, i, v)
    {
        const char *name = json_string_value(v), *args = "";
        run_result r;
        json_t *doc;
        if (strcmp(name, "run") == 0)
            args = "--once";
        else if (strcmp(name, "serve") == 0)
            args = "--listen 192.0.2.1:1"; /* not loopback: refused */
        else if (strcmp(name, "demo") == 0)
            args = "extra";
        r = run_in("json.db", "%s --json %s", name, args);
        doc = json_loads(r.out, 0, NULL);
        if (doc == NULL || strchr(r.out, '\n') != r.out + strlen(r.out) - 1)
            fail_msg("`rollgate %s --json %s` (exit %d) printed '%s'", name, args, r.status, r.out);
        if (r.status != 0 && json_object_get(doc, "error") == NULL)
            fail_msg("`rollgate %s --json %s` exit %d without an error object", name, args,
                     r.status);
        json_decref(doc);
        run_free(&r);
    }
    json_decref(names);
}

static int count_of(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

/* One unsafe credentials file is one cause: said once, with the organizations it hits. */
static void test_one_credentials_error_not_one_per_org(void **state)
{
    char cmd[9000];
    run_result r;
    (void)state;

    snprintf(cmd, sizeof(cmd),
             "set -e; cd '%s'; rm -rf qs; cp -R '%s/examples/quickstart' qs; chmod 644 "
             "qs/credentials.json; sed -i 's/127.0.0.1:47611/127.0.0.1:9/' qs/routing.yaml",
             dir, rg_test_source_dir());
    assert_int_equal(system(cmd), 0);
    r = run_in("c.db", "plan qs/routing.yaml");
    EXPECT_EXIT(r, 1);
    assert_int_equal(count_of(r.out, "has mode 0644"), 1);
    assert_non_null(strstr(r.out, "(7 organizations: org_parent_001 org_sub_002"));
    assert_non_null(strstr(r.out, "pre-flight BLOCKS this rollout"));
    run_free(&r);
    r = run_in("c.db", "start qs/routing.yaml --approve");
    EXPECT_EXIT(r, 0);
    run_free(&r);
    r = run_in("c.db", "run --once --quiet");
    assert_int_equal(count_of(r.err, "has mode 0644"), 2); /* the first org, then "6 more" */
    assert_non_null(strstr(r.err, "6 more organizations: credentials file"));
    run_free(&r);
}

/* A misspelt analytics metric is refused by plan at its position; paths relative to a
 * manifest in the working directory print as written, without "././". */
static void test_errors_name_positions_and_clean_paths(void **state)
{
    char cmd[9000];
    run_result r;
    (void)state;

    snprintf(cmd, sizeof(cmd),
             "set -e; cd '%s'; rm -rf pos; mkdir pos; cp '%s/examples/quickstart/'* pos/; "
             "sed -i 's/events: tAbandon$/events: tAbandonX/' pos/try.yaml; "
             "sed 's|policy: try.yaml |policy: ./none.yaml|' pos/routing.yaml >pos/missing.yaml",
             dir, rg_test_source_dir());
    assert_int_equal(system(cmd), 0);
    r = run_in("p.db", "plan pos/routing.yaml --offline");
    EXPECT_EXIT(r, 3);
    assert_non_null(strstr(r.err, "pos/try.yaml:22:13: metrics[0].events: unknown analytics "
                                  "metric 'tAbandonX'"));
    run_free(&r);
    r = run_in("p.db", "start pos/routing.yaml");
    EXPECT_EXIT(r, 3);
    assert_non_null(strstr(r.err, "unknown analytics metric 'tAbandonX'"));
    run_free(&r);
    snprintf(cmd, sizeof(cmd),
             "cd '%s/pos' && '%s/cli/rollgate' plan missing.yaml --offline "
             ">out 2>err; test $? -eq 3 && grep -q 'policy: ./none.yaml: ' "
             "err && ! grep -q '\\./\\./' err",
             dir, rg_test_binary_dir());
    if (system(cmd) != 0) {
        snprintf(cmd, sizeof(cmd), "%s/pos/err", dir);
        fail_msg("plan missing.yaml: %s", rg_test_read_file(cmd, NULL));
    }
}

static void test_json_reals_are_shortest(void **state)
{
    char path[4096];
    run_result r;
    (void)state;

    rg_test_path(path, sizeof(path), "tests/data/good/routing.yaml");
    r = run_in("j.db", "plan '%s' --offline --json", path);
    EXPECT_EXIT(r, 0);
    assert_non_null(strstr(r.out, "\"alpha\":0.05"));
    assert_null(strstr(r.out, "0.050000000000000003"));
    run_free(&r);
    r = run_in("j.db", "version --json");
    EXPECT_EXIT(r, 0);
    json_decref(json_of(&r));
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_command_help_exits_0_on_stdout),
        cmocka_unit_test(test_conflicts_and_errors_exit_3_with_json),
        cmocka_unit_test(test_history_gate_state_and_audit),
        cmocka_unit_test(test_every_command_speaks_json),
        cmocka_unit_test(test_one_credentials_error_not_one_per_org),
        cmocka_unit_test(test_errors_name_positions_and_clean_paths),
        cmocka_unit_test(test_json_reals_are_shortest),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
