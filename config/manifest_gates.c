/* manifest_gates.c - the manifest's `gates`: HTTP receivers asked before a step (docs/gates.md) */
#include <stdlib.h>
#include <string.h>

#include "config/manifest_internal.h"
#include "config/schema.h"
#include "rollgate/util.h"

#define DEFAULT_TIMEOUT_MS 60000
#define MAX_TIMEOUT_MS (24LL * 3600 * 1000)

static const char *const point_names[] = {"pre-rollout", "pre-stage", "confirm-promotion",
                                          "post-rollback", NULL};

const char *rg_gate_point_name(rg_gate_point at)
{
    return at <= RG_GATE_POST_ROLLBACK ? point_names[at] : "?";
}

void rg_manifest__free_gates(rg_manifest *m)
{
    for (size_t i = 0; i < m->gates_count; i++) {
        free(m->gates[i].url);
        free(m->gates[i].secret_env);
    }
    free(m->gates);
    m->gates = NULL;
    m->gates_count = 0;
}

static int read_gate(rg_manifest_gate *g, const rg_doc *doc, const rg_doc_node *map,
                     const char *path)
{
    static const char *const keys[] = {"at", "url", "timeout", "secret", NULL};
    const rg_doc_node *node;
    char field[RG_SCHEMA_PATH];
    int at, loopback, rc;

    if ((rc = rg_schema__mapping(doc, map, path, keys)) < 0)
        return rc;
    rg_schema__join(field, sizeof(field), path, "at");
    if ((rc = rg_schema__require(&node, doc, map, path, "at")) < 0 ||
        (rc = rg_schema__enum(&at, doc, node, field, point_names)) < 0)
        return rc;
    g->at = (rg_gate_point)at;
    rg_schema__join(field, sizeof(field), path, "url");
    if ((rc = rg_schema__require(&node, doc, map, path, "url")) < 0 ||
        (rc = rg_schema__url(&g->url, &loopback, doc, node, field)) < 0)
        return rc;
    g->timeout_ms = DEFAULT_TIMEOUT_MS;
    rg_schema__join(field, sizeof(field), path, "timeout");
    if ((node = rg_schema__optional(map, "timeout")) != NULL) {
        if ((rc = rg_schema__duration(&g->timeout_ms, doc, node, field)) < 0)
            return rc;
        if (g->timeout_ms < 1000 || g->timeout_ms > MAX_TIMEOUT_MS)
            return rg_doc_error(RG_EINVALID, doc, node, field,
                                "out of range: expected between 1s and 24h");
    }
    /* A gate's answer decides whether the rollout moves: it must be signed. */
    rg_schema__join(field, sizeof(field), path, "secret");
    if ((rc = rg_schema__require(&node, doc, map, path, "secret")) < 0)
        return rc;
    return rg_manifest__read_secret(&g->secret_env, doc, node, field);
}

int rg_manifest__read_gates(rg_manifest *m, const rg_doc *doc, const rg_doc_node *root)
{
    const rg_doc_node *list = rg_schema__optional(root, "gates");
    char item[RG_SCHEMA_PATH];
    int rc;

    if (list == NULL)
        return 0;
    if ((rc = rg_schema__sequence(doc, list, "gates", 0, RG_MANIFEST_MAX_GATES)) < 0)
        return rc;
    if (rg_doc_count(list) == 0)
        return 0;
    if ((m->gates = calloc(rg_doc_count(list), sizeof(*m->gates))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < rg_doc_count(list); i++) {
        rg_schema__index(item, sizeof(item), "gates", i);
        m->gates_count = i + 1;
        if ((rc = read_gate(&m->gates[i], doc, rg_doc_item(list, i), item)) < 0)
            return rc;
    }
    return 0;
}

int rg_manifest__gates_json(json_t *obj, const rg_manifest *m)
{
    json_t *list;

    if (m->gates_count == 0)
        return 0;
    if ((list = json_array()) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->gates_count; i++) {
        const rg_manifest_gate *g = &m->gates[i];
        rg_buf secret = RG_BUF_INIT, timeout = RG_BUF_INIT;
        json_t *one = NULL;
        if (rg_buf_printf(&secret, "env:%s", g->secret_env) == 0 &&
            rg_format_duration(&timeout, g->timeout_ms) == 0)
            one = json_pack("{s:s, s:s, s:s, s:s}", "at", rg_gate_point_name(g->at), "url", g->url,
                            "timeout", rg_buf_cstr(&timeout), "secret", rg_buf_cstr(&secret));
        rg_buf_dispose(&secret);
        rg_buf_dispose(&timeout);
        if (one == NULL || json_array_append_new(list, one) < 0) {
            json_decref(list);
            return rg_error_set(RG_ENOMEM, "out of memory");
        }
    }
    if (json_object_set_new(obj, "gates", list) < 0)
        return rg_error_set(RG_ENOMEM, "out of memory");
    return 0;
}

int rg_manifest__gates_equal(const rg_manifest *a, const rg_manifest *b)
{
    if (a->gates_count != b->gates_count)
        return 0;
    for (size_t i = 0; i < a->gates_count; i++)
        if (a->gates[i].at != b->gates[i].at || strcmp(a->gates[i].url, b->gates[i].url) != 0 ||
            a->gates[i].timeout_ms != b->gates[i].timeout_ms ||
            strcmp(a->gates[i].secret_env, b->gates[i].secret_env) != 0)
            return 0;
    return 1;
}
