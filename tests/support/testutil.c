/* testutil.c - paths, temporary directories and file helpers for the tests */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/testutil.h"

const char *rg_test_source_dir(void)
{
    const char *s = getenv("RG_SOURCE_DIR");
    return s && *s ? s : RG_SOURCE_DIR;
}

const char *rg_test_binary_dir(void)
{
    const char *s = getenv("RG_BINARY_DIR");
    return s && *s ? s : ".";
}

void rg_test_path(char *out, size_t outlen, const char *rel)
{
    snprintf(out, outlen, "%s/%s", rg_test_source_dir(), rel);
}

int rg_test_mkdtemp(char *out, size_t outlen)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(out, outlen, "%s/rollgate-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(out) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int rg_test_rmtree(const char *path)
{
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *rg_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long size;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        data = malloc((size_t)size + 1);
        if (data && fread(data, 1, (size_t)size, f) == (size_t)size) {
            data[size] = '\0';
            if (len)
                *len = (size_t)size;
        } else {
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    return data;
}

int rg_test_write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "wb");
    int rc;
    if (f == NULL)
        return -1;
    rc = fputs(content, f) < 0 ? -1 : 0;
    return fclose(f) == 0 ? rc : -1;
}
