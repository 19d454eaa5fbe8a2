/* test_quickstart.c - runs the README's "Your first rollout in five minutes" as written: the
 * shell block between <!-- quickstart:begin --> and <!-- quickstart:end --> runs in a scratch
 * tree laid out like the repository, and the simulator must end with every organization on
 * the new routing, each patched once (what the platform saw, not what rollgate recorded) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "support/e2e.h"
#include "support/simproc.h"
#include "support/skip.h"
#include "support/testutil.h"

#define QUICKSTART_PORT 47611 /* the port examples/quickstart/routing.yaml names */

static char dir[4096];

/* The simulator the block started, stopped here when the test failed before its last line. */
static int sim_pid_from(const char *pidfile)
{
    char *text = rg_test_read_file(pidfile, NULL);
    int64_t pid = 0;
    if (text) {
        text[strcspn(text, "\n")] = '\0';
        if (rg_parse_int64(&pid, text, 1, INT32_MAX) < 0)
            pid = 0;
    }
    free(text);
    return (int)pid;
}

static int teardown(void **state)
{
    char pidfile[4200];
    int pid;
    (void)state;
    if (dir[0] == '\0')
        return 0;
    snprintf(pidfile, sizeof(pidfile), "%s/sim.pid", dir);
    if ((pid = sim_pid_from(pidfile)) > 0)
        kill(pid, SIGTERM); /* already gone after a passing run */
    return rg_test_rmtree(dir);
}

/* The fenced block between the README's quickstart markers, without the fences. */
static char *quickstart_block(void)
{
    char path[4096];
    char *readme, *begin, *end, *fence, *block;

    rg_test_path(path, sizeof(path), "README.md");
    readme = rg_test_read_file(path, NULL);
    assert_non_null(readme);
    begin = strstr(readme, "<!-- quickstart:begin -->");
    end = begin ? strstr(begin, "<!-- quickstart:end -->") : NULL;
    if (begin == NULL || end == NULL)
        fail_msg("README.md: the quickstart markers are missing");
    /* Analyzer false positive: cmocka's fail_msg/skip do not return. */
    // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker)
    fence = strstr(begin, "```sh\n");
    if (fence == NULL || fence > end)
        fail_msg("README.md: no ```sh block between the quickstart markers");
    fence += strlen("```sh\n");
    block = rg_strndup(fence, (size_t)(end - fence));
    free(readme);
    assert_non_null(block);
    if ((end = strstr(block, "```")) == NULL)
        fail_msg("README.md: the quickstart block is not closed");
    /* Analyzer false positive: cmocka's fail_msg/skip do not return. */
    // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
    *end = '\0';
    return block;
}

static int port_free(int port)
{
    struct sockaddr_in a = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void run(const char *what, const char *cmd)
{
    int status = system(cmd);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s failed (status %d): %s", what, status, cmd);
}

/* A tree like the repository's: build/{cli,sim} link to this build's binaries, sim/ to the
 * source's scenarios, examples/ a copy (the block chmods a file in it). */
static void lay_out_tree(void)
{
    rg_buf cmd = RG_BUF_INIT;
    const char *src = rg_test_source_dir(), *bin = rg_test_binary_dir();

    assert_int_equal(rg_test_mkdtemp(dir, sizeof(dir)), 0);
    rg_buf_printf(&cmd,
                  "set -e; cd '%s'; mkdir -p build/cli build/sim examples; "
                  "ln -s '%s/cli/rollgate' build/cli/rollgate; "
                  "ln -s '%s/sim/rollgate-sim' build/sim/rollgate-sim; ln -s '%s/sim' sim; "
                  "cp -R '%s/examples/quickstart' examples/; chmod 644 "
                  "examples/quickstart/credentials.json",
                  dir, bin, bin, src, src);
    run("laying out the scratch tree", rg_buf_cstr(&cmd));
    rg_buf_dispose(&cmd);
}

static void test_readme_quickstart_completes_a_rollout(void **state)
{
    char *block = quickstart_block(), *last, pidfile[4200], script[4200];
    rg_buf cmd = RG_BUF_INIT;
    rg_simproc sim = {0};
    json_t *st = NULL, *o;
    size_t i;
    (void)state;

    if (!port_free(QUICKSTART_PORT)) {
        free(block);
        rg_test_skip("port %d (examples/quickstart/routing.yaml) is in use", QUICKSTART_PORT);
    }
    /* The block ends by stopping the simulator; the platform's view is read just before. */
    /* Analyzer false positive: cmocka's fail_msg/skip do not return. */
    // NOLINTNEXTLINE(clang-analyzer-unix.Malloc)
    last = strstr(block, "kill \"$sim\"\n");
    if (last == NULL || last[strlen("kill \"$sim\"\n")] != '\0')
        fail_msg("README.md: the quickstart block must end with kill \"$sim\"");
    /* Analyzer false positive: cmocka's fail_msg/skip do not return. */
    // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
    *last = '\0';
    lay_out_tree();
    snprintf(pidfile, sizeof(pidfile), "%s/sim.pid", dir);
    snprintf(script, sizeof(script), "%s/quickstart.sh", dir);
    rg_buf_printf(&cmd, "%s\necho \"$sim\" >'%s'\n", block, pidfile);
    assert_int_equal(rg_test_write_file(script, rg_buf_cstr(&cmd)), 0);
    rg_buf_clear(&cmd);
    rg_buf_printf(&cmd,
                  "cd '%s' && bash -e quickstart.sh >quickstart.out 2>&1 || "
                  "{ cat quickstart.out; exit 1; }",
                  dir);
    run("the README quickstart", rg_buf_cstr(&cmd));

    sim.pid = sim_pid_from(pidfile);
    assert_true(sim.pid > 0);
    sim.port = QUICKSTART_PORT;
    snprintf(sim.url, sizeof(sim.url), "http://127.0.0.1:%d", QUICKSTART_PORT);
    assert_int_equal(rg_simproc_state(&sim, &st), 0);
    {
        json_t *log = rg_e2e_requests(&sim);
        assert_int_equal(json_array_size(json_object_get(st, "orgs")), 7);
        json_array_foreach(json_object_get(st, "orgs"), i, o)
        {
            const char *org = json_string_value(json_object_get(o, "id"));
            json_t *body = rg_e2e_live(&sim, org), *t;
            size_t k;
            int v2 = -1;
            assert_non_null(body);
            assert_string_equal(json_string_value(json_object_get(body, "name")),
                                "Production_Routing_v2");
            json_array_foreach(
                json_object_get(body, "targets"), k,
                t) if (strcmp(json_string_value(json_object_get(t, "id")), "queue_v2") == 0) v2 =
                (int)json_integer_value(json_object_get(t, "weight"));
            assert_int_equal(v2, 100);
            assert_int_equal(rg_e2e_patches(log, org), 1);
            json_decref(body);
        }
        json_decref(log);
    }
    json_decref(st);

    /* The block's last line, as written. */
    rg_buf_clear(&cmd);
    rg_buf_printf(&cmd, "sim=%d; kill \"$sim\"", sim.pid);
    run("the quickstart's last line", rg_buf_cstr(&cmd));
    unlink(pidfile);
    {
        char out[4300];
        char *text;
        snprintf(out, sizeof(out), "%s/quickstart.out", dir);
        text = rg_test_read_file(out, NULL);
        assert_non_null(text);
        assert_non_null(strstr(text, "pre-flight passed"));
        assert_non_null(strstr(text, ": completed\n"));
        assert_non_null(strstr(text, "no active rollouts\nthe last 1 "));
        free(text);
        snprintf(out, sizeof(out), "%s/explain.txt", dir);
        text = rg_test_read_file(out, NULL);
        assert_non_null(text);
        assert_non_null(strstr(text, "stage 3 poll"));
        free(text);
    }
    rg_buf_dispose(&cmd);
    free(block);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readme_quickstart_completes_a_rollout),
    };
    return rg_test_exit(cmocka_run_group_tests(tests, NULL, teardown));
}
