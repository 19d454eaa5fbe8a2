/* json.c - JSON text with every real in its shortest round-trip form (0.05, not
 * 0.050000000000000003, which jansson's JSON_REAL_PRECISION(17) gives) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rollgate/util.h"

int rg_format_double(char *out, size_t outlen, double value)
{
    int n = 0;

    if (!isfinite(value))
        return rg_error_set(RG_EINVALID, "%g has no JSON form", value);
    /* The fewest significant digits that read back as the same double: at most 17. */
    for (int precision = 1; precision <= 17; precision++) {
        n = snprintf(out, outlen, "%.*g", precision, value);
        if (n < 0 || (size_t)n >= outlen)
            return rg_error_set(RG_ELIMIT, "a %zu-byte buffer cannot hold %.17g", outlen, value);
        if (strtod(out, NULL) == value)
            break;
    }
    /* A real stays a real when read back: 5 -> 5.0, as jansson writes it. */
    if (strpbrk(out, ".eE") == NULL) {
        if ((size_t)n + 2 >= outlen)
            return rg_error_set(RG_ELIMIT, "a %zu-byte buffer cannot hold %s.0", outlen, out);
        memcpy(out + n, ".0", 3);
    }
    return 0;
}

typedef struct {
    rg_buf *out;
    size_t flags;
    int indent; /* spaces per level; 0 = compact */
} writer;

static int newline(const writer *w, int depth)
{
    if (w->indent == 0)
        return 0;
    if (rg_buf_put(w->out, "\n", 1) < 0)
        return -1;
    for (int i = 0; i < depth * w->indent; i++)
        if (rg_buf_put(w->out, " ", 1) < 0)
            return -1;
    return 0;
}

static int put_string(const writer *w, const char *s, size_t len)
{
    json_t *str = json_stringn(s, len);
    char *text = str ? json_dumps(str, JSON_ENCODE_ANY | (w->flags & JSON_ENSURE_ASCII)) : NULL;
    int rc = text ? rg_buf_puts(w->out, text) : rg_error_set(RG_ENOMEM, "out of memory");
    free(text);
    json_decref(str);
    return rc;
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int put_value(const writer *w, const json_t *v, int depth);

static int put_object(const writer *w, const json_t *v, int depth)
{
    size_t n = json_object_size(v), i = 0;
    const char **keys = n ? calloc(n, sizeof(*keys)) : NULL;
    const char *key;
    json_t *member;
    int rc = 0;

    if (n && keys == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    /* Analyzer false positive: keys has the object's n entries, allocated when n > 0. */
    // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
    json_object_foreach((json_t *)v, key, member) keys[i++] = key;
    if ((w->flags & JSON_SORT_KEYS) && n > 1)
        qsort(keys, n, sizeof(*keys), compare_keys);
    rc = rg_buf_put(w->out, "{", 1);
    for (i = 0; i < n && rc == 0; i++) {
        if ((i && (rc = rg_buf_put(w->out, ",", 1)) < 0) || (rc = newline(w, depth + 1)) < 0 ||
            /* Analyzer false positive: keys has the object's n entries, allocated when n > 0. */
            // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker)
            (rc = put_string(w, keys[i], strlen(keys[i]))) < 0 ||
            (rc = rg_buf_puts(w->out, w->indent ? ": " : ":")) < 0)
            break;
        rc = put_value(w, json_object_get(v, keys[i]), depth + 1);
    }
    if (rc == 0 && n)
        rc = newline(w, depth);
    if (rc == 0)
        rc = rg_buf_put(w->out, "}", 1);
    free(keys);
    return rc;
}

static int put_array(const writer *w, const json_t *v, int depth)
{
    size_t n = json_array_size(v);
    int rc = rg_buf_put(w->out, "[", 1);

    for (size_t i = 0; i < n && rc == 0; i++) {
        if ((i && (rc = rg_buf_put(w->out, ",", 1)) < 0) || (rc = newline(w, depth + 1)) < 0)
            break;
        rc = put_value(w, json_array_get(v, i), depth + 1);
    }
    if (rc == 0 && n)
        rc = newline(w, depth);
    return rc == 0 ? rg_buf_put(w->out, "]", 1) : rc;
}

static int put_value(const writer *w, const json_t *v, int depth)
{
    char number[64];

    if (depth > 2048)
        return rg_error_set(RG_ELIMIT, "JSON nested deeper than 2048 levels");
    switch (json_typeof(v)) {
    case JSON_OBJECT: return put_object(w, v, depth);
    case JSON_ARRAY: return put_array(w, v, depth);
    case JSON_STRING: return put_string(w, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: return rg_buf_printf(w->out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        if (rg_format_double(number, sizeof(number), json_real_value(v)) < 0)
            return -1;
        return rg_buf_puts(w->out, number);
    case JSON_TRUE: return rg_buf_puts(w->out, "true");
    case JSON_FALSE: return rg_buf_puts(w->out, "false");
    case JSON_NULL: return rg_buf_puts(w->out, "null");
    }
    return rg_error_set(RG_EINVALID, "unknown JSON type");
}

char *rg_json_dumps(const json_t *doc, size_t flags)
{
    rg_buf out = RG_BUF_INIT;
    writer w = {&out, flags, (int)(flags & 0x1F)};

    if (doc == NULL) {
        rg_error_set(RG_EINVALID, "no JSON document to write");
        return NULL;
    }
    if (put_value(&w, doc, 0) < 0) {
        rg_buf_dispose(&out);
        return NULL;
    }
    return rg_buf_detach(&out);
}

int rg_body_same(const json_t *a, const json_t *b)
{
    const char *key;
    json_t *v;

    if (a == NULL || b == NULL)
        return a == b;
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b) &&
               (!json_is_integer(a) || !json_is_integer(b) ||
                json_integer_value(a) == json_integer_value(b));
    if (json_typeof(a) != json_typeof(b))
        return 0;
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_foreach((json_t *)a, key,
                            v) if (!rg_body_same(v, json_object_get(b, key))) return 0;
        return 1;
    }
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!rg_body_same(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    return json_equal(a, b);
}
