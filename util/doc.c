/* doc.c - a document tree with line:col per node, read from YAML or JSON via libyaml */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <yaml.h>

#include "rollgate/doc.h"
#include "rollgate/util.h"

struct rg_doc_node {
    rg_doc_kind kind;
    unsigned line, col;
    int quoted;
    char *text; /* scalar */
    size_t len;
    rg_doc_node **keys;  /* mapping keys (scalars) */
    rg_doc_node **items; /* sequence items or mapping values */
    size_t count, cap;
};

struct rg_doc {
    char *name;
    rg_doc_format format;
    rg_doc_node *root;
};

/* The parse in progress: a stack of open containers and a pending mapping key. */
typedef struct {
    rg_doc *doc;
    rg_doc_node *stack[RG_DOC_MAX_DEPTH + 1];
    rg_doc_node *pending_key[RG_DOC_MAX_DEPTH + 1];
    size_t depth;
} builder;

static void node_free(rg_doc_node *node)
{
    if (node == NULL)
        return;
    for (size_t i = 0; i < node->count; i++) {
        node_free(node->items[i]);
        if (node->keys)
            node_free(node->keys[i]);
    }
    free(node->items);
    free(node->keys);
    free(node->text);
    free(node);
}

void rg_doc_free(rg_doc *doc)
{
    if (doc == NULL)
        return;
    node_free(doc->root);
    free(doc->name);
    free(doc);
}

static int vdoc_error(int code, const char *name, unsigned line, unsigned col, const char *path,
                      const char *fmt, va_list ap)
{
    rg_buf msg = RG_BUF_INIT;
    char text[1024];

    vsnprintf(text, sizeof(text), fmt, ap);
    if (rg_buf_printf(&msg, "%s:%u:%u: ", name, line, col) < 0 ||
        (path && *path && rg_buf_printf(&msg, "%s: ", path) < 0) || rg_buf_puts(&msg, text) < 0) {
        rg_buf_dispose(&msg);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    rg_error_set(code, "%s", rg_buf_cstr(&msg));
    rg_buf_dispose(&msg);
    return code;
}

static int pos_error(int code, const char *name, unsigned line, unsigned col, const char *fmt, ...)
    RG_PRINTF(5, 6);
static int pos_error(int code, const char *name, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = vdoc_error(code, name, line, col, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

int rg_doc_error(int code, const rg_doc *doc, const rg_doc_node *node, const char *path,
                 const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = vdoc_error(code, doc ? doc->name : "<document>", node ? node->line : 1,
                    node ? node->col : 1, path, fmt, ap);
    va_end(ap);
    return rc;
}

static rg_doc_node *node_new(rg_doc_kind kind, const yaml_mark_t *mark)
{
    rg_doc_node *node = calloc(1, sizeof(*node));
    if (node == NULL)
        return NULL;
    node->kind = kind;
    node->line = (unsigned)mark->line + 1;
    node->col = (unsigned)mark->column + 1;
    return node;
}

static int node_append(builder *b, rg_doc_node *parent, rg_doc_node *key, rg_doc_node *value)
{
    if (parent->count >= RG_DOC_MAX_ITEMS)
        return pos_error(RG_ELIMIT, b->doc->name, value->line, value->col,
                         "more than %d entries in one %s", RG_DOC_MAX_ITEMS,
                         parent->kind == RG_DOC_MAPPING ? "mapping" : "sequence");
    if (parent->count == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        rg_doc_node **items = realloc(parent->items, cap * sizeof(rg_doc_node *));
        if (items == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        parent->items = items;
        if (parent->kind == RG_DOC_MAPPING) {
            rg_doc_node **keys = realloc(parent->keys, cap * sizeof(rg_doc_node *));
            if (keys == NULL)
                return rg_error_set(RG_ENOMEM, "out of memory");
            parent->keys = keys;
        }
        parent->cap = cap;
    }
    parent->items[parent->count] = value;
    if (parent->kind == RG_DOC_MAPPING)
        parent->keys[parent->count] = key;
    parent->count++;
    return 0;
}

/* Hands a finished node to its parent (as a key or a value) or makes it the root.
 * Takes ownership of `node` in every case. */
static int builder_attach(builder *b, rg_doc_node *node)
{
    rg_doc_node *parent, *key;
    int rc;

    if (b->depth == 0) {
        b->doc->root = node;
        return 0;
    }
    parent = b->stack[b->depth - 1];
    /* Analyzer false positive: the stack's entries below depth are the non-NULL open nodes. */
    // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
    if (parent->kind == RG_DOC_SEQUENCE) {
        if ((rc = node_append(b, parent, NULL, node)) < 0)
            node_free(node);
        return rc;
    }
    key = b->pending_key[b->depth - 1];
    if (key == NULL) {
        if (node->kind != RG_DOC_SCALAR) {
            rc = pos_error(RG_EINVALID, b->doc->name, node->line, node->col,
                           "a mapping key must be a scalar");
            node_free(node);
            return rc;
        }
        if (rg_doc_get(parent, node->text) != NULL) {
            rc = pos_error(RG_EINVALID, b->doc->name, node->line, node->col, "duplicate key '%s'",
                           node->text);
            node_free(node);
            return rc;
        }
        b->pending_key[b->depth - 1] = node;
        return 0;
    }
    b->pending_key[b->depth - 1] = NULL;
    if ((rc = node_append(b, parent, key, node)) < 0) {
        node_free(key);
        node_free(node);
    }
    return rc;
}

static int builder_scalar(builder *b, const yaml_event_t *ev)
{
    rg_doc_node *node;

    if (ev->data.scalar.length > RG_DOC_MAX_SCALAR)
        return pos_error(RG_ELIMIT, b->doc->name, (unsigned)ev->start_mark.line + 1,
                         (unsigned)ev->start_mark.column + 1,
                         "a scalar of %zu bytes is over the %d-byte limit", ev->data.scalar.length,
                         RG_DOC_MAX_SCALAR);
    if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL)
        return pos_error(RG_EINVALID, b->doc->name, (unsigned)ev->start_mark.line + 1,
                         (unsigned)ev->start_mark.column + 1, "a scalar holds a NUL byte");
    if ((node = node_new(RG_DOC_SCALAR, &ev->start_mark)) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    node->text = rg_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
    if (node->text == NULL) {
        node_free(node);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    node->len = ev->data.scalar.length;
    node->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    return builder_attach(b, node);
}

static int builder_open(builder *b, rg_doc_kind kind, const yaml_event_t *ev)
{
    rg_doc_node *node;

    if (b->depth >= RG_DOC_MAX_DEPTH)
        return pos_error(RG_ELIMIT, b->doc->name, (unsigned)ev->start_mark.line + 1,
                         (unsigned)ev->start_mark.column + 1, "nesting deeper than %d levels",
                         RG_DOC_MAX_DEPTH);
    if (b->depth > 0 && b->stack[b->depth - 1]->kind == RG_DOC_MAPPING &&
        b->pending_key[b->depth - 1] == NULL)
        return pos_error(RG_EINVALID, b->doc->name, (unsigned)ev->start_mark.line + 1,
                         (unsigned)ev->start_mark.column + 1, "a mapping key must be a scalar");
    if ((node = node_new(kind, &ev->start_mark)) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    b->stack[b->depth] = node;
    b->pending_key[b->depth] = NULL;
    b->depth++;
    return 0;
}

static int builder_close(builder *b)
{
    rg_doc_node *node = b->stack[--b->depth];
    node_free(b->pending_key[b->depth]);
    b->pending_key[b->depth] = NULL;
    return builder_attach(b, node);
}

static void builder_dispose(builder *b)
{
    while (b->depth > 0) {
        b->depth--;
        node_free(b->pending_key[b->depth]);
        node_free(b->stack[b->depth]);
    }
}

/* Refuses what this project never needs and what makes documents hazardous: aliases
 * (exponential expansion), anchors, explicit tags. */
static int check_event(builder *b, const yaml_event_t *ev)
{
    const yaml_char_t *anchor = NULL, *tag = NULL;
    unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;

    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return pos_error(RG_EINVALID, b->doc->name, line, col, "aliases are not supported");
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        break;
    default: return 0;
    }
    if (anchor != NULL)
        return pos_error(RG_EINVALID, b->doc->name, line, col, "anchors are not supported");
    if (tag != NULL)
        return pos_error(RG_EINVALID, b->doc->name, line, col, "tags are not supported");
    return 0;
}

static int handle_event(builder *b, const yaml_event_t *ev, int *documents)
{
    int rc = check_event(b, ev);
    if (rc < 0)
        return rc;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*documents > 1)
            return pos_error(RG_EINVALID, b->doc->name, (unsigned)ev->start_mark.line + 1,
                             (unsigned)ev->start_mark.column + 1,
                             "more than one document in the stream");
        return 0;
    case YAML_SCALAR_EVENT: return builder_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT: return builder_open(b, RG_DOC_SEQUENCE, ev);
    case YAML_MAPPING_START_EVENT: return builder_open(b, RG_DOC_MAPPING, ev);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: return builder_close(b);
    default: return 0;
    }
}

static int parse_yaml(rg_doc *doc, const char *data, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    builder b = {0};
    int rc = 0, documents = 0, done = 0;

    b.doc = doc;
    if (!yaml_parser_initialize(&parser))
        return rg_error_set(RG_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = pos_error(RG_EINVALID, doc->name, (unsigned)parser.problem_mark.line + 1,
                           (unsigned)parser.problem_mark.column + 1, "%s syntax: %s%s%s",
                           doc->format == RG_DOC_JSON ? "JSON" : "YAML",
                           parser.problem ? parser.problem : "malformed document",
                           parser.context ? " " : "", parser.context ? parser.context : "");
            goto cleanup;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = handle_event(&b, &ev, &documents);
        yaml_event_delete(&ev);
        if (rc < 0)
            goto cleanup;
    }
    if (doc->root == NULL) {
        yaml_mark_t start = {0, 0, 0};
        if ((doc->root = node_new(RG_DOC_MAPPING, &start)) == NULL)
            rc = rg_error_set(RG_ENOMEM, "out of memory");
    }
cleanup:
    builder_dispose(&b);
    yaml_parser_delete(&parser);
    return rc;
}

/* jansson is the strict judge of JSON syntax; its line and column name the fault. */
static int check_json(const rg_doc *doc, const char *data, size_t len)
{
    json_error_t err;
    json_t *value = json_loadb(data, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);

    if (value != NULL) {
        json_decref(value);
        return 0;
    }
    /* Too deep for jansson's own bound is a limit, like RG_DOC_MAX_DEPTH, not a typo. */
    if (json_error_code(&err) == json_error_stack_overflow)
        return pos_error(RG_ELIMIT, doc->name, err.line > 0 ? (unsigned)err.line : 1,
                         err.column > 0 ? (unsigned)err.column : 1, "nesting deeper than %d levels",
                         RG_DOC_MAX_DEPTH);
    return pos_error(RG_EINVALID, doc->name, err.line > 0 ? (unsigned)err.line : 1,
                     err.column > 0 ? (unsigned)err.column : 1, "JSON syntax: %s", err.text);
}

static rg_doc_format sniff(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        return c == '{' || c == '[' ? RG_DOC_JSON : RG_DOC_YAML;
    }
    return RG_DOC_YAML;
}

int rg_doc_parse(rg_doc **out, const char *name, const char *data, size_t len, rg_doc_format format)
{
    rg_doc *doc = NULL;
    int rc;

    if (out == NULL || name == NULL || (data == NULL && len > 0))
        return rg_error_set(RG_EINVALID, "rg_doc_parse: invalid arguments");
    if (len > (size_t)RG_DOC_MAX_BYTES)
        return rg_error_set(RG_ELIMIT, "%s: the document is %zu bytes, over the %d-byte limit",
                            name, len, RG_DOC_MAX_BYTES);
    if ((doc = calloc(1, sizeof(*doc))) == NULL || (doc->name = rg_strdup(name)) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    doc->format = format == RG_DOC_AUTO ? sniff(data ? data : "", len) : format;
    if (doc->format == RG_DOC_JSON && (rc = check_json(doc, data ? data : "", len)) < 0)
        goto cleanup;
    if ((rc = parse_yaml(doc, data ? data : "", len)) < 0)
        goto cleanup;
    *out = doc;
    doc = NULL;
cleanup:
    rg_doc_free(doc);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int read_file(char **out, size_t *outlen, const char *path)
{
    FILE *f = NULL;
    struct stat st;
    char *data = NULL;
    size_t got;
    int rc = 0;

    if ((f = fopen(path, "rb")) == NULL)
        return rg_error_set(errno == ENOENT ? RG_ENOTFOUND : RG_EIO, "%s: cannot open: %s", path,
                            strerror(errno));
    if (fstat(fileno(f), &st) != 0) {
        rc = rg_error_set(RG_EIO, "%s: cannot read: %s", path, strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) { /* a directory given as a manifest: the input is wrong */
        rc = rg_error_set(RG_EINVALID, "%s: %s, not a file", path,
                          S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
        goto cleanup;
    }
    if (st.st_size > (off_t)RG_DOC_MAX_BYTES) {
        rc = rg_error_set(RG_ELIMIT, "%s: the document is %lld bytes, over the %d-byte limit", path,
                          (long long)st.st_size, RG_DOC_MAX_BYTES);
        goto cleanup;
    }
    if ((data = malloc((size_t)st.st_size + 1)) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    got = fread(data, 1, (size_t)st.st_size + 1, f);
    if (ferror(f) || got > (size_t)st.st_size) {
        rc = rg_error_set(RG_EIO, "%s: read failed or the file grew while read", path);
        goto cleanup;
    }
    data[got] = '\0';
    *out = data;
    *outlen = got;
    data = NULL;
cleanup:
    free(data);
    fclose(f);
    return rc;
}

int rg_doc_load_file(rg_doc **out, const char *path)
{
    char *data = NULL;
    size_t len = 0;
    rg_doc_format format = RG_DOC_AUTO;
    int rc;

    if (out == NULL || path == NULL)
        return rg_error_set(RG_EINVALID, "rg_doc_load_file: invalid arguments");
    if ((rc = read_file(&data, &len, path)) < 0)
        return rc;
    if (ends_with(path, ".json"))
        format = RG_DOC_JSON;
    else if (ends_with(path, ".yaml") || ends_with(path, ".yml"))
        format = RG_DOC_YAML;
    rc = rg_doc_parse(out, path, data, len, format);
    free(data);
    return rc;
}

const rg_doc_node *rg_doc_root(const rg_doc *doc)
{
    return doc ? doc->root : NULL;
}
const char *rg_doc_name(const rg_doc *doc)
{
    return doc ? doc->name : NULL;
}
rg_doc_format rg_doc_format_of(const rg_doc *doc)
{
    return doc ? doc->format : RG_DOC_AUTO;
}
rg_doc_kind rg_doc_node_kind(const rg_doc_node *node)
{
    return node->kind;
}
unsigned rg_doc_node_line(const rg_doc_node *node)
{
    return node->line;
}
unsigned rg_doc_node_col(const rg_doc_node *node)
{
    return node->col;
}

const char *rg_doc_scalar(const rg_doc_node *node)
{
    return node && node->kind == RG_DOC_SCALAR ? node->text : NULL;
}

size_t rg_doc_scalar_len(const rg_doc_node *node)
{
    return node && node->kind == RG_DOC_SCALAR ? node->len : 0;
}

int rg_doc_scalar_quoted(const rg_doc_node *node)
{
    return node && node->kind == RG_DOC_SCALAR && node->quoted;
}

int rg_doc_is_null(const rg_doc_node *node)
{
    if (node == NULL || node->kind != RG_DOC_SCALAR || node->quoted)
        return 0;
    return node->len == 0 || strcmp(node->text, "~") == 0 || strcmp(node->text, "null") == 0 ||
           strcmp(node->text, "Null") == 0 || strcmp(node->text, "NULL") == 0;
}

size_t rg_doc_count(const rg_doc_node *node)
{
    return node && node->kind != RG_DOC_SCALAR ? node->count : 0;
}

const rg_doc_node *rg_doc_item(const rg_doc_node *node, size_t i)
{
    return node && node->kind != RG_DOC_SCALAR && i < node->count ? node->items[i] : NULL;
}

const rg_doc_node *rg_doc_key(const rg_doc_node *node, size_t i)
{
    return node && node->kind == RG_DOC_MAPPING && i < node->count ? node->keys[i] : NULL;
}

const rg_doc_node *rg_doc_get(const rg_doc_node *map, const char *key)
{
    if (map == NULL || map->kind != RG_DOC_MAPPING || key == NULL)
        return NULL;
    for (size_t i = 0; i < map->count; i++)
        if (strcmp(map->keys[i]->text, key) == 0)
            return map->items[i];
    return NULL;
}
