/* replay.c - runs saved fuzz inputs through a target's LLVMFuzzerTestOneInput without libFuzzer */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"
#include "rollgate/util.h"

/* Usage: replay [--expect-crash] PATH...
 * Every regular file under each PATH (a file or a directory, not recursive) is one input.
 * Normal mode: each input runs in this process; a broken property aborts, so any finding
 * fails the test. --expect-crash: each input runs in a child that must die or fail; the
 * test fails once an input no longer reproduces (its bug was fixed: move the file from
 * regressions/open/ to regressions/<target>/ so it guards the fix from then on).
 * Exit 0 when at least one input ran and every input behaved; 1 otherwise. */

static int read_input(uint8_t **out, size_t *len, const char *path)
{
    FILE *f = fopen(path, "rb");
    rg_buf buf = RG_BUF_INIT;
    char chunk[65536];
    size_t got;
    int rc = 0;

    if (f == NULL) {
        fprintf(stderr, "replay: %s: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0 && rc == 0)
        rc = rg_buf_put(&buf, chunk, got);
    if (ferror(f) || rc < 0) {
        fprintf(stderr, "replay: %s: read failed\n", path);
        rc = -1;
    }
    fclose(f);
    *len = buf.len;
    *out = (uint8_t *)rg_buf_detach(&buf);
    return rc < 0 || *out == NULL ? -1 : 0;
}

/* 1 when the input crashed or failed in a child process, 0 when it ran clean. */
static int crashes(const uint8_t *data, size_t len)
{
    int status = 0;
    pid_t pid;

    fflush(NULL);
    if ((pid = fork()) < 0)
        return -1;
    if (pid == 0) {
        LLVMFuzzerTestOneInput(data, len);
        _exit(0);
    }
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
}

static int run_file(const char *path, int expect_crash, size_t *ran)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = 0;

    if (read_input(&data, &len, path) < 0)
        return -1;
    if (expect_crash) {
        rc = crashes(data, len);
        if (rc == 0)
            fprintf(stderr, "replay: %s no longer reproduces: move it out of open/\n", path);
        rc = rc == 1 ? 0 : -1;
    } else {
        LLVMFuzzerTestOneInput(data, len);
    }
    free(data);
    (*ran)++;
    return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_path(const char *path, int expect_crash, size_t *ran)
{
    struct dirent **names = NULL;
    struct stat st;
    int n, failed = 0;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path, expect_crash, ran);
    if ((n = scandir(path, &names, NULL, by_name)) < 0) {
        fprintf(stderr, "replay: %s: cannot list: %s\n", path, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        rg_buf file = RG_BUF_INIT;
        if (names[i]->d_name[0] != '.' &&
            rg_buf_printf(&file, "%s/%s", path, names[i]->d_name) == 0 &&
            stat(rg_buf_cstr(&file), &st) == 0 && S_ISREG(st.st_mode) &&
            run_file(rg_buf_cstr(&file), expect_crash, ran) < 0)
            failed = 1;
        rg_buf_dispose(&file);
        free(names[i]);
    }
    free(names);
    return failed ? -1 : 0;
}

int main(int argc, char **argv)
{
    int expect_crash = 0, failed = 0, first = 1;
    size_t ran = 0;

    if (argc > 1 && strcmp(argv[1], "--expect-crash") == 0) {
        expect_crash = 1;
        first = 2;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: %s [--expect-crash] PATH...\n", argv[0]);
        return 1;
    }
    for (int i = first; i < argc; i++)
        if (run_path(argv[i], expect_crash, &ran) < 0)
            failed = 1;
    printf("%s: replayed %zu inputs%s\n", argv[0], ran, failed ? ", some failed" : "");
    if (ran == 0)
        fprintf(stderr, "replay: no inputs found: the corpus is missing\n");
    return failed || ran == 0 ? 1 : 0;
}
