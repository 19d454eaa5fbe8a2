/* schema.c - typed, position-aware reads of document fields for manifests and policies */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/schema.h"
#include "rollgate/util.h"

static const char *kind_name(const rg_doc_node *node)
{
    switch (rg_doc_node_kind(node)) {
    case RG_DOC_MAPPING: return "a mapping";
    case RG_DOC_SEQUENCE: return "a sequence";
    default: return rg_doc_is_null(node) ? "null" : "a scalar";
    }
}

void rg_schema__join(char *out, size_t outlen, const char *parent, const char *key)
{
    if (parent == NULL || *parent == '\0')
        snprintf(out, outlen, "%s", key);
    else
        snprintf(out, outlen, "%s.%s", parent, key);
}

void rg_schema__index(char *out, size_t outlen, const char *parent, size_t i)
{
    snprintf(out, outlen, "%s[%zu]", parent ? parent : "", i);
}

/* [A-Za-z0-9_-]{1,64}: every key rollgate knows, and what a typo of one looks like. */
static int plain_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
              (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-'))
            return 0;
    return n > 0 && n <= 64;
}

int rg_schema__mapping(const rg_doc *doc, const rg_doc_node *node, const char *path,
                       const char *const *allowed)
{
    rg_buf list = RG_BUF_INIT;
    int rc;

    if (rg_doc_node_kind(node) != RG_DOC_MAPPING)
        return rg_doc_error(RG_EINVALID, doc, node, path, "expected a mapping, got %s",
                            kind_name(node));
    for (size_t i = 0; i < rg_doc_count(node); i++) {
        const rg_doc_node *key = rg_doc_key(node, i);
        const char *name = rg_doc_scalar(key);
        size_t k = 0;
        char field[RG_SCHEMA_PATH];

        while (allowed[k] && strcmp(allowed[k], name) != 0)
            k++;
        if (allowed[k])
            continue;
        for (k = 0; allowed[k]; k++)
            if (rg_buf_printf(&list, "%s%s", k ? ", " : "", allowed[k]) < 0)
                break;
        /* A key is quoted only when it reads as a field name: a file that is not YAML at
         * all (a password file, a key) can parse as one long key, and its line must not
         * come back in an error. */
        if (plain_name(name))
            rg_schema__join(field, sizeof(field), path, name);
        else
            snprintf(field, sizeof(field), "%s%s(a key that is not a field name)", path,
                     path && *path ? "." : "");
        rc = rg_doc_error(RG_EINVALID, doc, key, field, "unknown key (expected one of: %s)",
                          rg_buf_cstr(&list));
        rg_buf_dispose(&list);
        return rc;
    }
    return 0;
}

int rg_schema__sequence(const rg_doc *doc, const rg_doc_node *node, const char *path, size_t min,
                        size_t max)
{
    size_t n;

    if (rg_doc_node_kind(node) != RG_DOC_SEQUENCE)
        return rg_doc_error(RG_EINVALID, doc, node, path, "expected a sequence, got %s",
                            kind_name(node));
    n = rg_doc_count(node);
    if (n < min)
        return rg_doc_error(RG_EINVALID, doc, node, path, "expected at least %zu entr%s, got %zu",
                            min, min == 1 ? "y" : "ies", n);
    if (n > max)
        return rg_doc_error(RG_ELIMIT, doc, node, path, "%zu entries exceed the limit of %zu", n,
                            max);
    return 0;
}

int rg_schema__require(const rg_doc_node **out, const rg_doc *doc, const rg_doc_node *map,
                       const char *path, const char *key)
{
    const rg_doc_node *value = rg_doc_get(map, key);
    char field[RG_SCHEMA_PATH];

    rg_schema__join(field, sizeof(field), path, key);
    if (value == NULL)
        return rg_doc_error(RG_EINVALID, doc, map, field, "required field is missing");
    if (rg_doc_is_null(value))
        return rg_doc_error(RG_EINVALID, doc, value, field, "required field is empty");
    *out = value;
    return 0;
}

const rg_doc_node *rg_schema__optional(const rg_doc_node *map, const char *key)
{
    const rg_doc_node *value = rg_doc_get(map, key);
    return value == NULL || rg_doc_is_null(value) ? NULL : value;
}

int rg_schema__string(char **out, const rg_doc *doc, const rg_doc_node *node, const char *path,
                      size_t max_len)
{
    char *copy;

    if (rg_doc_node_kind(node) != RG_DOC_SCALAR || rg_doc_is_null(node))
        return rg_doc_error(RG_EINVALID, doc, node, path, "expected a string, got %s",
                            kind_name(node));
    if (rg_doc_scalar_len(node) == 0)
        return rg_doc_error(RG_EINVALID, doc, node, path, "expected a non-empty string");
    if (rg_doc_scalar_len(node) > max_len)
        return rg_doc_error(RG_ELIMIT, doc, node, path, "longer than %zu bytes", max_len);
    if ((copy = rg_strdup(rg_doc_scalar(node))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    *out = copy;
    return 0;
}

int rg_schema__is_id(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return 0;
    }
    /* "." and ".." would be dot segments in the platform URL an id goes into (curl
     * resolves /strategies/.. to /routing/): another endpoint than the one named. */
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    return n >= 1 && n <= 128;
}

int rg_schema__id(char **out, const rg_doc *doc, const rg_doc_node *node, const char *path)
{
    if (rg_doc_node_kind(node) != RG_DOC_SCALAR || rg_doc_is_null(node))
        return rg_doc_error(RG_EINVALID, doc, node, path, "expected an id, got %s",
                            kind_name(node));
    if (!rg_schema__is_id(rg_doc_scalar(node)))
        return rg_doc_error(RG_EINVALID, doc, node, path,
                            "'%.64s' is not an id: expected [A-Za-z0-9_.:-]{1,128}",
                            rg_doc_scalar(node));
    return rg_schema__string(out, doc, node, path, 128);
}

static int plain_scalar(const rg_doc *doc, const rg_doc_node *node, const char *path,
                        const char *what)
{
    if (rg_doc_node_kind(node) != RG_DOC_SCALAR || rg_doc_is_null(node))
        return rg_doc_error(RG_EINVALID, doc, node, path, "expected %s, got %s", what,
                            kind_name(node));
    if (rg_doc_scalar_quoted(node))
        return rg_doc_error(RG_EINVALID, doc, node, path, "expected %s, got the string '%.64s'",
                            what, rg_doc_scalar(node));
    return 0;
}

int rg_schema__int(int64_t *out, const rg_doc *doc, const rg_doc_node *node, const char *path,
                   int64_t min, int64_t max)
{
    char what[96];
    int64_t v;
    int rc;

    snprintf(what, sizeof(what), "an integer in %lld..%lld", (long long)min, (long long)max);
    if ((rc = plain_scalar(doc, node, path, what)) < 0)
        return rc;
    if (rg_parse_int64(&v, rg_doc_scalar(node), min, max) < 0)
        return rg_doc_error(RG_EINVALID, doc, node, path, "expected %s, got '%.64s'", what,
                            rg_doc_scalar(node));
    *out = v;
    return 0;
}

int rg_schema__number(double *out, const rg_doc *doc, const rg_doc_node *node, const char *path)
{
    double v;
    int rc;

    if ((rc = plain_scalar(doc, node, path, "a number")) < 0)
        return rc;
    if (rg_parse_double(&v, rg_doc_scalar(node)) < 0)
        return rg_doc_error(RG_EINVALID, doc, node, path, "expected a number, got '%.64s'",
                            rg_doc_scalar(node));
    *out = v;
    return 0;
}

int rg_schema__bool(int *out, const rg_doc *doc, const rg_doc_node *node, const char *path)
{
    int rc;

    if ((rc = plain_scalar(doc, node, path, "true or false")) < 0)
        return rc;
    if (strcmp(rg_doc_scalar(node), "true") == 0)
        *out = 1;
    else if (strcmp(rg_doc_scalar(node), "false") == 0)
        *out = 0;
    else
        return rg_doc_error(RG_EINVALID, doc, node, path, "expected true or false, got '%.64s'",
                            rg_doc_scalar(node));
    return 0;
}

int rg_schema__duration(int64_t *out, const rg_doc *doc, const rg_doc_node *node, const char *path)
{
    int64_t v;

    if (rg_doc_node_kind(node) != RG_DOC_SCALAR || rg_doc_is_null(node))
        return rg_doc_error(RG_EINVALID, doc, node, path,
                            "expected a duration such as 15m or PT1M, got %s", kind_name(node));
    if (rg_parse_duration_ms(&v, rg_doc_scalar(node)) < 0)
        return rg_doc_error(RG_EINVALID, doc, node, path,
                            "expected a duration such as 15m, 10s or PT1M, got '%.64s'",
                            rg_doc_scalar(node));
    if (v <= 0)
        return rg_doc_error(RG_EINVALID, doc, node, path, "must be greater than zero");
    *out = v;
    return 0;
}

int rg_schema__enum(int *out, const rg_doc *doc, const rg_doc_node *node, const char *path,
                    const char *const *names)
{
    rg_buf list = RG_BUF_INIT;
    const char *text = rg_doc_scalar(node);
    int rc;

    for (int i = 0; text && !rg_doc_is_null(node) && names[i]; i++) {
        if (strcmp(names[i], text) == 0) {
            *out = i;
            return 0;
        }
    }
    for (int i = 0; names[i]; i++)
        rg_buf_printf(&list, "%s%s", i ? " | " : "", names[i]);
    if (text && !rg_doc_is_null(node))
        rc = rg_doc_error(RG_EINVALID, doc, node, path, "expected %s, got '%.64s'",
                          rg_buf_cstr(&list), text);
    else
        rc = rg_doc_error(RG_EINVALID, doc, node, path, "expected %s, got %s", rg_buf_cstr(&list),
                          kind_name(node));
    rg_buf_dispose(&list);
    return rc;
}

static int is_loopback(const char *host, size_t len)
{
    if ((len == 9 && strncmp(host, "localhost", 9) == 0) ||
        (len == 5 && strncmp(host, "[::1]", 5) == 0))
        return 1;
    if (len < 9 || len > 15 || strncmp(host, "127.", 4) != 0)
        return 0;
    for (size_t i = 4; i < len; i++)
        if (!((host[i] >= '0' && host[i] <= '9') || host[i] == '.'))
            return 0;
    return 1;
}

int rg_schema__url(char **out, int *loopback, const rg_doc *doc, const rg_doc_node *node,
                   const char *path)
{
    const char *url, *host, *end;
    size_t hostlen;
    int rc;

    if ((rc = rg_schema__string(out, doc, node, path, 2048)) < 0)
        return rc;
    url = *out;
    if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else
        goto bad;
    end = host + strcspn(host, "/?#");
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            goto bad;
    if (memchr(host, '@', (size_t)(end - host)) != NULL) {
        free(*out);
        *out = NULL;
        return rg_doc_error(RG_EINVALID, doc, node, path, "a URL must not carry user information");
    }
    hostlen = (size_t)(end - host);
    if (host[0] == '[') {
        const char *close = memchr(host, ']', hostlen);
        hostlen = close ? (size_t)(close - host) + 1 : 0;
    } else {
        const char *colon = memchr(host, ':', hostlen);
        if (colon)
            hostlen = (size_t)(colon - host);
    }
    if (hostlen == 0)
        goto bad;
    *loopback = is_loopback(host, hostlen);
    return 0;
bad:
    rc = rg_doc_error(RG_EINVALID, doc, node, path, "expected an http(s) URL, got '%.64s'", *out);
    free(*out);
    *out = NULL;
    return rc;
}

static json_t *plain_to_json(const char *s)
{
    int64_t i;
    double d;

    if (strcmp(s, "true") == 0)
        return json_true();
    if (strcmp(s, "false") == 0)
        return json_false();
    if (strcmp(s, "null") == 0 || strcmp(s, "~") == 0 || *s == '\0')
        return json_null();
    if (rg_parse_int64(&i, s, INT64_MIN, INT64_MAX) == 0)
        return json_integer((json_int_t)i);
    if (rg_parse_double(&d, s) == 0)
        return json_real(d);
    rg_error_clear();
    return json_string(s);
}

int rg_schema__to_json(json_t **out, const rg_doc_node *node)
{
    json_t *value = NULL, *child = NULL;
    int rc = 0;

    switch (rg_doc_node_kind(node)) {
    case RG_DOC_SCALAR:
        value = rg_doc_scalar_quoted(node) ? json_string(rg_doc_scalar(node))
                                           : plain_to_json(rg_doc_scalar(node));
        break;
    case RG_DOC_SEQUENCE: value = json_array(); break;
    case RG_DOC_MAPPING: value = json_object(); break;
    }
    if (value == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < rg_doc_count(node); i++) {
        if ((rc = rg_schema__to_json(&child, rg_doc_item(node, i))) < 0)
            goto cleanup;
        if (json_is_array(value)
                ? json_array_append_new(value, child)
                : json_object_set_new(value, rg_doc_scalar(rg_doc_key(node, i)), child)) {
            child = NULL;
            rc = rg_error_set(RG_ENOMEM, "out of memory");
            goto cleanup;
        }
        child = NULL;
    }
    *out = value;
    value = NULL;
cleanup:
    json_decref(value);
    return rc;
}
