/* tokens.c - API tokens: the hashes file (strictly validated, mode 0600), lookup in constant
 * time, and making a new token with an atomic rewrite of the file */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "rollgate/server.h"
#include "rollgate/util.h"

#define TOKENS_MAX_BYTES (4 * 1024 * 1024)
#define TOKENS_MAX_ENTRIES 10000
#define FIELD_MAX 128

struct rg_tokens {
    rg_token_entry *items;
    size_t count;
};

static const char *const role_names[] = {"viewer", "operator", "release", NULL};

const char *rg_role_name(rg_role role)
{
    return (unsigned)role <= RG_ROLE_RELEASE ? role_names[role] : NULL;
}

int rg_role_parse(rg_role *out, const char *s)
{
    for (int i = 0; role_names[i]; i++)
        if (s && strcmp(s, role_names[i]) == 0) {
            /* Analyzer false positive: every caller passes a non-NULL out. */
            // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
            *out = (rg_role)i;
            return 0;
        }
    return rg_error_set(RG_EINVALID, "role '%s': expected viewer, operator or release", s ? s : "");
}

void rg_tokens_free(rg_tokens *tokens)
{
    if (tokens == NULL)
        return;
    for (size_t i = 0; i < tokens->count; i++) {
        /* Analyzer false positive: the array is allocated with the count's entries and filled
         * before the count grows. */
        // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
        free(tokens->items[i].tenant);
        free(tokens->items[i].name);
    }
    free(tokens->items);
    free(tokens);
}

size_t rg_tokens_count(const rg_tokens *tokens)
{
    return tokens ? tokens->count : 0;
}

const rg_token_entry *rg_tokens_get(const rg_tokens *tokens, size_t i)
{
    return tokens && i < tokens->count ? &tokens->items[i] : NULL;
}

/* Tenants are ids ([A-Za-z0-9_.:-]{1,128}, as the manifest's); names are printable text. */
static int check_text(const char *s, int id_only)
{
    size_t n = strlen(s);
    if (n == 0 || n > FIELD_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (id_only ? !(c == '_' || c == '.' || c == ':' || c == '-' || (c >= '0' && c <= '9') ||
                        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
                    : (c < 0x20 || c == 0x7f))
            return -1;
    }
    return 0;
}

static int check_hex64(const char *s)
{
    if (strlen(s) != 64)
        return -1;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return -1;
    return 0;
}

static int string_field(const char **out, const char *path, size_t i, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return rg_error_set(RG_EINVALID, "%s: [%zu]: missing \"%s\"", path, i, key);
    if (!json_is_string(v))
        return rg_error_set(RG_EINVALID, "%s: [%zu].%s: expected a string", path, i, key);
    *out = json_string_value(v);
    return 0;
}

static int parse_entry(rg_token_entry *e, const char *path, size_t i, json_t *obj)
{
    const char *hash = NULL, *tenant = NULL, *role = NULL, *name = NULL, *key = NULL;
    json_t *v;
    int rc;

    if (!json_is_object(obj))
        return rg_error_set(RG_EINVALID, "%s: [%zu]: expected an object", path, i);
    json_object_foreach(obj, key, v)
    {
        if (strcmp(key, "sha256") != 0 && strcmp(key, "tenant") != 0 && strcmp(key, "role") != 0 &&
            strcmp(key, "name") != 0)
            return rg_error_set(RG_EINVALID,
                                "%s: [%zu]: unknown key \"%s\" (expected sha256, "
                                "tenant, role, name)",
                                path, i, key);
    }
    if ((rc = string_field(&hash, path, i, obj, "sha256")) < 0 ||
        (rc = string_field(&tenant, path, i, obj, "tenant")) < 0 ||
        (rc = string_field(&role, path, i, obj, "role")) < 0 ||
        (rc = string_field(&name, path, i, obj, "name")) < 0)
        return rc;
    if (check_hex64(hash) < 0)
        return rg_error_set(RG_EINVALID, "%s: [%zu].sha256: expected 64 lowercase hex digits", path,
                            i);
    if (check_text(tenant, 1) < 0)
        return rg_error_set(RG_EINVALID, "%s: [%zu].tenant: expected 1-128 of A-Z a-z 0-9 _ . : -",
                            path, i);
    if (check_text(name, 0) < 0)
        return rg_error_set(RG_EINVALID, "%s: [%zu].name: expected 1-128 printable characters",
                            path, i);
    if (rg_role_parse(&e->role, role) < 0)
        return rg_error_prefix("%s: [%zu].role", path, i);
    memcpy(e->sha256, hash, 65);
    e->tenant = rg_strdup(tenant);
    e->name = rg_strdup(name);
    if (e->tenant == NULL || e->name == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    return 0;
}

static int parse_tokens(rg_tokens *t, const char *path, json_t *doc)
{
    size_t i;
    json_t *item;
    int rc;

    if (!json_is_array(doc))
        return rg_error_set(RG_EINVALID, "%s: expected a JSON list of token entries", path);
    if (json_array_size(doc) > TOKENS_MAX_ENTRIES)
        return rg_error_set(RG_ELIMIT, "%s: more than %d entries", path, TOKENS_MAX_ENTRIES);
    if (json_array_size(doc) &&
        (t->items = calloc(json_array_size(doc), sizeof(*t->items))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    json_array_foreach(doc, i, item)
    {
        t->count = i + 1;
        if ((rc = parse_entry(&t->items[i], path, i, item)) < 0)
            return rc;
        for (size_t j = 0; j < i; j++)
            /* Analyzer false positive: entries before i were read successfully, so they are set. */
            // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker)
            if (strcmp(t->items[j].sha256, t->items[i].sha256) == 0)
                return rg_error_set(RG_EINVALID, "%s: [%zu].sha256: the same hash as [%zu]", path,
                                    i, j);
    }
    return 0;
}

/* rg_file_read_private (one descriptor, so the mode checked is the file read; 0600, ours,
 * at most TOKENS_MAX_BYTES), with the way to make the file when it is absent. */
static int read_private_file(char **out, const char *path)
{
    int rc = rg_file_read_private(out, NULL, path, (size_t)TOKENS_MAX_BYTES, "tokens file");

    if (rc == RG_ENOTFOUND)
        return rg_error_set(RG_ENOTFOUND,
                            "tokens file %s does not exist (make a token with "
                            "`rollgate token new --tokens %s ...`)",
                            path, path);
    return rc;
}

int rg_tokens_load(rg_tokens **out, const char *path)
{
    rg_tokens *t = NULL;
    json_error_t jerr;
    json_t *doc = NULL;
    char *text = NULL;
    int rc;

    if ((rc = read_private_file(&text, path)) < 0)
        return rc;
    if ((doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
        rc = rg_error_set(RG_EINVALID, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        goto cleanup;
    }
    if ((t = calloc(1, sizeof(*t))) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = parse_tokens(t, path, doc)) < 0)
        goto cleanup;
    *out = t;
    t = NULL;
cleanup:
    rg_tokens_free(t);
    json_decref(doc);
    free(text);
    return rc;
}

const rg_token_entry *rg_tokens_find(const rg_tokens *tokens, const char *token)
{
    const rg_token_entry *found = NULL;
    char hex[65];

    if (tokens == NULL || token == NULL)
        return NULL;
    rg_sha256_hex(hex, token, strlen(token));
    /* Every entry is compared, so the time taken does not depend on which one matched. */
    for (size_t i = 0; i < tokens->count; i++)
        if (rg_consttime_eq(hex, tokens->items[i].sha256, 64))
            found = &tokens->items[i];
    return found;
}

static json_t *tokens_json(const rg_tokens *t)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && t && i < t->count; i++)
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:s, s:s}", "sha256", t->items[i].sha256,
                                        "tenant", t->items[i].tenant, "role",
                                        rg_role_name(t->items[i].role), "name", t->items[i].name));
    return arr;
}

/* Writes `text` to a fresh 0600 file beside `path`, syncs it and renames it over `path`. */
static int write_atomic(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    size_t len = strlen(text), off = 0;
    int fd, rc = 0;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp))
        return rg_error_set(RG_EINVALID, "tokens file path too long");
    if ((fd = mkstemp(tmp)) < 0)
        return rg_error_set(RG_EIO, "cannot create a file beside %s: %s", path, strerror(errno));
    if (fchmod(fd, 0600) != 0)
        rc = rg_error_set(RG_EIO, "chmod %s: %s", tmp, strerror(errno));
    while (rc == 0 && off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = rg_error_set(RG_EIO, "write %s: %s", tmp, strerror(errno));
        else
            off += (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = rg_error_set(RG_EIO, "fsync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = rg_error_set(RG_EIO, "close %s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = rg_error_set(RG_EIO, "rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    return rc;
}

int rg_tokens_new(char **out_token, const char *path, const char *tenant, rg_role role,
                  const char *name)
{
    static const char hexdig[] = "0123456789abcdef";
    unsigned char raw[20];
    char token[3 + 40 + 1], hash[65];
    rg_tokens *existing = NULL;
    json_t *doc = NULL;
    char *text = NULL;
    int rc;

    if (tenant == NULL || check_text(tenant, 1) < 0)
        return rg_error_set(RG_EINVALID, "--tenant: expected 1-128 of A-Z a-z 0-9 _ . : -");
    if (name == NULL || check_text(name, 0) < 0)
        return rg_error_set(RG_EINVALID, "--name: expected 1-128 printable characters");
    if (rg_role_name(role) == NULL)
        return rg_error_set(RG_EINVALID, "role: out of range");
    rc = rg_tokens_load(&existing, path);
    if (rc < 0 && rc != RG_ENOTFOUND)
        return rc;
    if (RAND_bytes(raw, (int)sizeof(raw)) != 1) {
        rg_tokens_free(existing);
        return rg_error_set(RG_EIO, "the OpenSSL random generator failed");
    }
    memcpy(token, "rg_", 3);
    for (size_t i = 0; i < sizeof(raw); i++) {
        token[3 + 2 * i] = hexdig[raw[i] >> 4];
        token[3 + 2 * i + 1] = hexdig[raw[i] & 15];
    }
    token[sizeof(token) - 1] = '\0';
    rg_sha256_hex(hash, token, strlen(token));
    doc = tokens_json(existing);
    if (doc == NULL ||
        json_array_append_new(doc, json_pack("{s:s, s:s, s:s, s:s}", "sha256", hash, "tenant",
                                             tenant, "role", rg_role_name(role), "name", name)) !=
            0 ||
        (text = json_dumps(doc, JSON_INDENT(2))) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if ((rc = write_atomic(path, text)) < 0)
        goto cleanup;
    if ((*out_token = rg_strdup(token)) == NULL)
        rc = rg_error_set(RG_ENOMEM, "out of memory");
cleanup:
    rg_tokens_free(existing);
    json_decref(doc);
    free(text);
    return rc;
}
