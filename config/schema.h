/* schema.h - typed, position-aware reads of document fields for manifests and policies */
#ifndef RG_ENGINE_SCHEMA_H
#define RG_ENGINE_SCHEMA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "rollgate/doc.h"

/* Longest field path kept in messages ("groups[12].orgs[3].api_url"). */
#define RG_SCHEMA_PATH 256

/* "parent.key" (or "key" at the root) into out. */
void rg_schema__join(char *out, size_t outlen, const char *parent, const char *key);
/* "parent[i]" into out. */
void rg_schema__index(char *out, size_t outlen, const char *parent, size_t i);

/* node must be a mapping whose keys are all in `allowed` (NULL-terminated); an unknown
 * key is an error at that key naming what is allowed. */
int rg_schema__mapping(const rg_doc *doc, const rg_doc_node *node, const char *path,
                       const char *const *allowed);
/* node must be a sequence of at most max items (RG_ELIMIT beyond; min items too). */
int rg_schema__sequence(const rg_doc *doc, const rg_doc_node *node, const char *path, size_t min,
                        size_t max);
/* The value of a required key (error at the mapping when it is missing). */
int rg_schema__require(const rg_doc_node **out, const rg_doc *doc, const rg_doc_node *map,
                       const char *path, const char *key);
/* An optional key: NULL when absent or a plain null. */
const rg_doc_node *rg_schema__optional(const rg_doc_node *map, const char *key);

/* Scalars. Each names `path` and the expectation on error. */
int rg_schema__string(char **out, const rg_doc *doc, const rg_doc_node *node, const char *path,
                      size_t max_len);
/* A string matching [A-Za-z0-9_.:-]{1,128}. */
int rg_schema__id(char **out, const rg_doc *doc, const rg_doc_node *node, const char *path);
int rg_schema__int(int64_t *out, const rg_doc *doc, const rg_doc_node *node, const char *path,
                   int64_t min, int64_t max);
int rg_schema__number(double *out, const rg_doc *doc, const rg_doc_node *node, const char *path);
int rg_schema__bool(int *out, const rg_doc *doc, const rg_doc_node *node, const char *path);
/* A duration (15m, 10s, PT1M) that must be > 0. */
int rg_schema__duration(int64_t *out, const rg_doc *doc, const rg_doc_node *node, const char *path);
/* One of `names` (NULL-terminated); *out is its index. */
int rg_schema__enum(int *out, const rg_doc *doc, const rg_doc_node *node, const char *path,
                    const char *const *names);
/* An http(s) URL with a host and no user info; `*loopback` says whether the host is
 * localhost, 127.0.0.0/8 or [::1]. */
int rg_schema__url(char **out, int *loopback, const rg_doc *doc, const rg_doc_node *node,
                   const char *path);

/* 1 when s matches [A-Za-z0-9_.:-]{1,128}. */
int rg_schema__is_id(const char *s);
/* The JSON value of a node: plain true/false/null/integers/reals typed, everything else
 * a string. @param[out] out a new reference. */
int rg_schema__to_json(json_t **out, const rg_doc_node *node);

#endif
