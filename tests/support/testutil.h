/* testutil.h - helpers shared by the test programs: paths, temp dirs, files */
#ifndef RG_TESTUTIL_H
#define RG_TESTUTIL_H

#include <stddef.h>

/* The source tree (RG_SOURCE_DIR from the environment or the build). */
const char *rg_test_source_dir(void);
/* The build tree (RG_BINARY_DIR from the environment, else "."). */
const char *rg_test_binary_dir(void);
/* "<source>/<rel>" in a static buffer of the caller's (PATH_MAX). */
void rg_test_path(char *out, size_t outlen, const char *rel);
/* A fresh private directory under $TMPDIR; the caller removes it with rg_test_rmtree. */
int rg_test_mkdtemp(char *out, size_t outlen);
int rg_test_rmtree(const char *path);
/* Reads a whole file; NULL when absent. Caller frees. */
char *rg_test_read_file(const char *path, size_t *len);
int rg_test_write_file(const char *path, const char *content);

#endif
