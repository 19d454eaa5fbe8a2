/* doc.h - a read-only document tree with source positions, loaded from YAML or JSON */
#ifndef RG_DOC_H
#define RG_DOC_H

#include <stddef.h>

#include "rollgate/error.h"

/* Limits applied while loading outside input; exceeding one is RG_ELIMIT. */
#define RG_DOC_MAX_BYTES (1024 * 1024) /* whole document */
#define RG_DOC_MAX_DEPTH 32            /* nested sequences and mappings */
#define RG_DOC_MAX_ITEMS 10000         /* entries of one sequence or mapping */
#define RG_DOC_MAX_SCALAR 65536        /* bytes of one scalar */

typedef enum {
    RG_DOC_AUTO = 0, /* JSON when the first non-blank byte is '{' or '[', else YAML */
    RG_DOC_YAML = 1,
    RG_DOC_JSON = 2,
} rg_doc_format;

typedef enum {
    RG_DOC_SCALAR = 1,
    RG_DOC_SEQUENCE = 2,
    RG_DOC_MAPPING = 3,
} rg_doc_kind;

typedef struct rg_doc rg_doc;
typedef struct rg_doc_node rg_doc_node;

/* Parses `len` bytes named `name` (used in every message: "name:line:col: ...").
 * JSON is first checked by jansson (strict syntax, its line:col on error), then read
 * through libyaml, whose flow syntax covers JSON, for per-node positions.
 * Anchors/aliases, tags other than the core ones, and multiple documents are refused.
 * @param[out] out the document; free with rg_doc_free. */
int rg_doc_parse(rg_doc **out, const char *name, const char *data, size_t len,
                 rg_doc_format format);
/* Reads and parses a file (RG_ENOTFOUND when absent, RG_ELIMIT past RG_DOC_MAX_BYTES);
 * the format comes from the extension (.json) or the content. */
int rg_doc_load_file(rg_doc **out, const char *path);
void rg_doc_free(rg_doc *doc);

/* The root node (never NULL for a parsed document; an empty document is an empty mapping
 * at 1:1). Nodes live as long as the document. */
const rg_doc_node *rg_doc_root(const rg_doc *doc);
/* The name given at parse time. */
const char *rg_doc_name(const rg_doc *doc);
rg_doc_format rg_doc_format_of(const rg_doc *doc);

rg_doc_kind rg_doc_node_kind(const rg_doc_node *node);
/* 1-based line and column of the node's first character. */
unsigned rg_doc_node_line(const rg_doc_node *node);
unsigned rg_doc_node_col(const rg_doc_node *node);
/* Scalar text (NUL-terminated; NULL for non-scalars) and its length. */
const char *rg_doc_scalar(const rg_doc_node *node);
size_t rg_doc_scalar_len(const rg_doc_node *node);
/* 1 when the scalar was quoted (so it is a string, never null/bool/number). */
int rg_doc_scalar_quoted(const rg_doc_node *node);
/* 1 for a plain null scalar: "", "~", "null". */
int rg_doc_is_null(const rg_doc_node *node);
/* Entries of a sequence or mapping (0 for a scalar). */
size_t rg_doc_count(const rg_doc_node *node);
/* Sequence item i, or mapping value i; NULL when out of range. */
const rg_doc_node *rg_doc_item(const rg_doc_node *node, size_t i);
/* Mapping key i (a scalar node); NULL when out of range or not a mapping. */
const rg_doc_node *rg_doc_key(const rg_doc_node *node, size_t i);
/* The value for `key` in a mapping; NULL when absent. */
const rg_doc_node *rg_doc_get(const rg_doc_node *map, const char *key);

/* Sets an RG_EINVALID (or `code`) error "name:line:col: path: message". `path` may be
 * NULL or "" for the root. Returns `code`. */
int rg_doc_error(int code, const rg_doc *doc, const rg_doc_node *node, const char *path,
                 const char *fmt, ...) RG_PRINTF(5, 6);

#endif
