/* datatable.c - Architect data tables as the real API serves them: schema, rows with
 * showbrief, whole-row PUT (no ETag, last writer wins), and the routing row the org's
 * inbound flow reads (a weighted random choice by its weight columns) */
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

static const char *const type_names[] = {"string", "integer", "number", "boolean", NULL};

static int type_of(const char *name)
{
    for (int i = 0; type_names[i]; i++)
        if (strcmp(type_names[i], name) == 0)
            return i;
    return -1;
}

static int value_has_type(json_t *v, int type)
{
    switch (type) {
    case SIM_COL_STRING: return json_is_string(v);
    case SIM_COL_INTEGER: return json_is_integer(v);
    case SIM_COL_NUMBER: return json_is_number(v);
    default: return json_is_boolean(v);
    }
}

sim_datatable *sim_org_datatable(sim_org *org, const char *id)
{
    for (size_t i = 0; i < org->ntables; i++)
        if (strcmp(org->tables[i].id, id) == 0)
            return &org->tables[i];
    return NULL;
}

sim_row *sim_datatable_row(sim_datatable *t, const char *key)
{
    for (size_t i = 0; i < t->nrows; i++)
        if (strcmp(json_string_value(json_object_get(t->rows[i].fields, "key")), key) == 0)
            return &t->rows[i];
    return NULL;
}

static const sim_column *column(const sim_datatable *t, const char *name)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return &t->cols[i];
    return NULL;
}

/* A whole row (with key) checked against the table's schema; `partial` allows a subset
 * of the fields and no key (an edit). */
int sim_datatable_check(const sim_datatable *t, json_t *row, const char *key, int partial)
{
    const char *name;
    json_t *v;

    if (!json_is_object(row))
        return rg_error_set(RG_EINVALID, "the row must be a JSON object");
    v = json_object_get(row, "key");
    if (!partial || v != NULL) {
        if (!json_is_string(v))
            return rg_error_set(RG_EINVALID, "the row is missing its required field 'key' "
                                             "(string)");
        if (key && strcmp(json_string_value(v), key) != 0)
            return rg_error_set(RG_EINVALID, "the row's key '%s' does not match the row id '%s'",
                                json_string_value(v), key);
    }
    json_object_foreach(row, name, v)
    {
        const sim_column *c;
        if (strcmp(name, "key") == 0)
            continue;
        if ((c = column(t, name)) == NULL)
            return rg_error_set(RG_EINVALID, "field '%s' is not in the schema of data table %s",
                                name, t->id);
        if (!value_has_type(v, c->type))
            return rg_error_set(RG_EINVALID, "field '%s' of data table %s must be of type %s", name,
                                t->id, type_names[c->type]);
    }
    return 0;
}

/* The per-queue weights of the org's routing row, as the flow draws them. Caller holds
 * org->lock. */
static void route_weights(int *w, const sim_org *org)
{
    const sim_route *r = &org->route;
    json_t *row = r->row->fields;

    memset(w, 0, (org->nqueues + 1) * sizeof(int));
    for (size_t i = 0; i < r->npairs; i++) {
        json_t *wv = json_object_get(row, r->pairs[i].weight_col);
        json_t *qv = json_object_get(row, r->pairs[i].queue_col);
        int q = json_is_string(qv) ? sim_org_queue_index(org, json_string_value(qv)) : -1;
        if (q >= 0 && json_is_integer(wv) && json_integer_value(wv) > 0 &&
            json_integer_value(wv) <= 100)
            w[q] += (int)json_integer_value(wv);
    }
}

/* Appends the routing row's current weights to the route's history. Caller holds org->lock. */
int sim_route_push(sim_org *org, int64_t at_ms, const char *source)
{
    sim_strategy *h = &org->route.history;
    sim_weights *e;

    if (org->route.row == NULL)
        return 0;
    if (h->nhistory > 0 && h->history[h->nhistory - 1].at_ms > at_ms)
        at_ms = h->history[h->nhistory - 1].at_ms;
    if (h->nhistory == h->caphistory) {
        size_t cap = h->caphistory ? h->caphistory * 2 : 8;
        sim_weights *grown = realloc(h->history, cap * sizeof(*grown));
        if (grown == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        h->history = grown;
        h->caphistory = cap;
    }
    e = &h->history[h->nhistory];
    if ((e->weight = malloc((org->nqueues + 1) * sizeof(int))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    e->at_ms = at_ms;
    e->source = source;
    route_weights(e->weight, org);
    h->nhistory++;
    return 0;
}

/* Replaces (`partial` 0) or edits (`partial` 1) a row; validated whole before anything
 * changes. Caller holds org->lock. */
int sim_row_write(sim_org *org, sim_datatable *t, sim_row *r, json_t *fields, int partial,
                  const char *source, int64_t now_ms)
{
    json_t *next;
    int rc;

    if ((rc = sim_datatable_check(t, fields, json_string_value(json_object_get(r->fields, "key")),
                                  partial)) < 0)
        return rc;
    if ((next = partial ? json_deep_copy(r->fields) : json_deep_copy(fields)) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if (partial && json_object_update(next, fields) < 0) {
        json_decref(next);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    json_decref(r->fields);
    r->fields = next;
    if (org->route.row == r)
        return sim_route_push(org, now_ms, source);
    return 0;
}

static json_t *schema_json(const sim_datatable *t)
{
    json_t *props = json_object();

    json_object_set_new(props, "key",
                        json_pack("{s:s,s:s,s:s,s:i}", "title", "key", "type", "string", "$id",
                                  "/properties/key", "displayOrder", 0));
    for (size_t i = 0; i < t->ncols; i++) {
        char id[300];
        snprintf(id, sizeof(id), "/properties/%s", t->cols[i].name);
        json_object_set_new(props, t->cols[i].name,
                            json_pack("{s:s,s:s,s:s,s:i}", "title", t->cols[i].name, "type",
                                      type_names[t->cols[i].type], "$id", id, "displayOrder",
                                      (int)i + 1));
    }
    return json_pack("{s:s,s:s,s:[s],s:o,s:b}", "$schema",
                     "http://json-schema.org/draft-04/schema#", "type", "object", "required", "key",
                     "properties", props, "additionalProperties", 0);
}

/* One-shot hook: a person's edit applied right after the next GET or PUT of a row is
 * answered. Caller holds org->lock. */
static void run_hook(sim_org *org, int on_put, const sim_datatable *t, const char *key,
                     int64_t now_ms)
{
    sim_row_hook *h = &org->hook;
    sim_datatable *ht;
    sim_row *hr;

    if (h->fields == NULL || h->on_put != on_put || strcmp(h->datatable, t->id) != 0 ||
        strcmp(h->row, key) != 0)
        return;
    ht = sim_org_datatable(org, h->datatable);
    hr = ht ? sim_datatable_row(ht, h->row) : NULL;
    if (hr == NULL || sim_row_write(org, ht, hr, h->fields, 1, "edit", now_ms) < 0)
        rg_log(RG_LOG_WARN, "sim", "row hook on %s/%s failed: %s", h->datatable, h->row,
               rg_error_last());
    else
        hr->hook_edits++;
    sim_row_hook_clear(h);
}

void sim_row_hook_clear(sim_row_hook *h)
{
    json_decref(h->fields);
    free(h->datatable);
    free(h->row);
    memset(h, 0, sizeof(*h));
}

static int parse_put(json_t **out, sim_reply *reply, const sim_request *req)
{
    if (sim__json_load(out, req->body, req->body_len, "body") < 0)
        return sim_reply_error(reply, 400, "bad.request", "%s", rg_error_last()) < 0 ? -1 : 1;
    return 0;
}

/* POST .../rows: a new row, the whole row with its key (validated as a PUT's); a key the
 * table has is refused 409 (the real status is unverified). Caller holds no lock. */
static int create_row(sim_reply *reply, sim_org *org, sim_datatable *t, const sim_request *req)
{
    json_t *body = NULL, *key;
    sim_row *grown;
    int rc;

    if (strcmp(req->method, "POST") != 0)
        return sim_reply_error(reply, 405, "method.not.allowed", "%s is not allowed here",
                               req->method);
    if ((rc = parse_put(&body, reply, req)) != 0)
        return rc < 0 ? rc : 0;
    key = json_object_get(body, "key");
    pthread_mutex_lock(&org->lock);
    if (!json_is_object(body) || !json_is_string(key) || json_string_length(key) == 0 ||
        json_string_length(key) > 256) {
        rc = sim_reply_error(reply, 400, "bad.request",
                             "the row must be an object with a key of 1..256 characters");
    } else if (sim_datatable_row(t, json_string_value(key)) != NULL) {
        rc = sim_reply_error(reply, 409, "conflict",
                             "a row with key %s already exists in data table %s",
                             json_string_value(key), t->id);
    } else if (t->nrows >= 5000) {
        rc = sim_reply_error(reply, 400, "bad.request", "data table %s is full (5000 rows)", t->id);
    } else if (sim_datatable_check(t, body, json_string_value(key), 0) < 0) {
        rc = sim_reply_error(reply, 400, "bad.request", "%s", rg_error_last());
    } else if ((grown = realloc(t->rows, (t->nrows + 1) * sizeof(*grown))) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
    } else {
        /* the routing row moves with the array */
        if (org->route.table == t && org->route.row != NULL)
            org->route.row = grown + (org->route.row - t->rows);
        t->rows = grown;
        memset(&t->rows[t->nrows], 0, sizeof(t->rows[0]));
        t->rows[t->nrows].fields = json_incref(body);
        t->rows[t->nrows].writes = 1;
        t->nrows++;
        rc = sim_reply_json(reply, 200, json_deep_copy(body));
    }
    pthread_mutex_unlock(&org->lock);
    json_decref(body);
    return rc;
}

/* DELETE .../rows/{key}: 204. The routing row cannot be deleted (sim-only: its flow would
 * read nothing). Caller holds org->lock. */
static int delete_row(sim_reply *reply, sim_org *org, sim_datatable *t, sim_row *r)
{
    size_t i = (size_t)(r - t->rows);

    if (org->route.row == r)
        return sim_reply_error(reply, 409, "conflict",
                               "sim-only: the routing row of data table %s cannot be deleted",
                               t->id);
    json_decref(r->fields);
    memmove(&t->rows[i], &t->rows[i + 1], (t->nrows - i - 1) * sizeof(t->rows[0]));
    t->nrows--;
    if (org->route.table == t && org->route.row != NULL && org->route.row > r)
        org->route.row--;
    free(reply->body);
    reply->body = NULL;
    reply->status = 204;
    return 0;
}

static int row_route(sim_reply *reply, sim_org *org, sim_datatable *t, const char *key,
                     const sim_request *req, int64_t now_ms)
{
    int get = strcmp(req->method, "GET") == 0, put = strcmp(req->method, "PUT") == 0;
    const char *brief = req->query(req->conn, "showbrief");
    json_t *body = NULL;
    sim_row *r;
    int rc;

    if (strcmp(req->method, "DELETE") == 0) {
        pthread_mutex_lock(&org->lock);
        if ((r = sim_datatable_row(t, key)) == NULL)
            rc = sim_reply_error(reply, 404, "not.found",
                                 "Unable to find a row with key %s in data table %s", key, t->id);
        else
            rc = delete_row(reply, org, t, r);
        pthread_mutex_unlock(&org->lock);
        return rc;
    }
    if (!get && !put)
        return sim_reply_error(reply, 405, "method.not.allowed", "%s is not allowed here",
                               req->method);
    if (get && brief && strcmp(brief, "true") != 0 && strcmp(brief, "false") != 0)
        return sim_reply_error(reply, 400, "invalid.value",
                               "showbrief: expected true or false, got '%s'", brief);
    if (put && (rc = parse_put(&body, reply, req)) != 0)
        return rc < 0 ? rc : 0;
    pthread_mutex_lock(&org->lock);
    if ((r = sim_datatable_row(t, key)) == NULL) {
        rc = sim_reply_error(reply, 404, "not.found",
                             "Unable to find a row with key %s in data table %s", key, t->id);
    } else if (get) {
        /* showbrief defaults to true: only the key comes back */
        rc = sim_reply_json(reply, 200,
                            brief && strcmp(brief, "false") == 0
                                ? json_deep_copy(r->fields)
                                : json_pack("{s:O}", "key", json_object_get(r->fields, "key")));
        run_hook(org, 0, t, key, now_ms);
    } else if (sim_row_write(org, t, r, body, 0, "api", now_ms) < 0) {
        rc = sim_reply_error(reply, 400, "bad.request", "%s", rg_error_last());
    } else {
        reply->written_row = r; /* counted by dispatch, with whether the reply was hidden */
        rc = sim_reply_json(reply, 200, json_deep_copy(r->fields));
        run_hook(org, 1, t, key, now_ms);
    }
    pthread_mutex_unlock(&org->lock);
    json_decref(body);
    return rc;
}

/* /api/v2/flows/datatables/{id}[/rows/{key}]; `rest` is what follows the prefix. */
int sim_datatable_route(sim_reply *reply, sim_org *org, const char *rest, const sim_request *req,
                        int64_t now_ms)
{
    const char *slash = strchr(rest, '/');
    char id[256];
    size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
    sim_datatable *t;

    if (idlen == 0 || idlen >= sizeof(id))
        return sim_reply_error(reply, 404, "not.found", "no such resource: %s %s", req->method,
                               req->path);
    memcpy(id, rest, idlen);
    id[idlen] = '\0';
    if ((t = sim_org_datatable(org, id)) == NULL)
        return sim_reply_error(reply, 404, "not.found", "Unable to find a data table with id %s",
                               id);
    if (slash == NULL) {
        const char *expand = req->query(req->conn, "expand");
        char self[320];
        json_t *doc;
        if (strcmp(req->method, "GET") != 0)
            return sim_reply_error(reply, 405, "method.not.allowed", "%s is not allowed here",
                                   req->method);
        snprintf(self, sizeof(self), "/api/v2/flows/datatables/%s", t->id);
        doc = json_pack("{s:s,s:s,s:{s:s,s:s},s:s}", "id", t->id, "name", t->name, "division", "id",
                        "home", "name", "Home", "selfUri", self);
        if (expand && strcmp(expand, "schema") == 0)
            json_object_set_new(doc, "schema", schema_json(t));
        return sim_reply_json(reply, 200, doc);
    }
    if (strcmp(slash, "/rows") == 0)
        return create_row(reply, org, t, req);
    if (strncmp(slash, "/rows/", 6) == 0 && slash[6] && !strchr(slash + 6, '/'))
        return row_route(reply, org, t, slash + 6, req, now_ms);
    return sim_reply_error(reply, 404, "not.found", "no such resource: %s %s", req->method,
                           req->path);
}

/* --- scenario loading ---------------------------------------------------------------- */

static int dup_str(char **out, const char *s)
{
    /* Analyzer false positive: json_string_value of a value json_is_string accepted is non-NULL. */
    // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker)
    if ((*out = strdup(s)) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    return 0;
}

static int load_table(sim_datatable *t, json_t *doc, const char *path)
{
    json_t *id = json_object_get(doc, "id"), *name = json_object_get(doc, "name");
    json_t *cols = json_object_get(doc, "columns"), *rows = json_object_get(doc, "rows"), *v;
    const char *key;
    size_t i;
    int rc;

    json_object_foreach(doc, key, v)
    {
        if (strcmp(key, "id") != 0 && strcmp(key, "name") != 0 && strcmp(key, "columns") != 0 &&
            strcmp(key, "rows") != 0)
            return rg_error_set(RG_EINVALID, "%s: unknown key '%s'", path, key);
    }
    if (!json_is_string(id) || json_string_length(id) == 0 || json_string_length(id) > 200)
        return rg_error_set(RG_EINVALID, "%s.id: expected a data table id", path);
    if ((rc = dup_str(&t->id, json_string_value(id))) < 0 ||
        (rc = dup_str(&t->name, json_is_string(name) ? json_string_value(name) : t->id)) < 0)
        return rc;
    if (!json_is_object(cols) || json_object_size(cols) == 0 || json_object_size(cols) > 50)
        return rg_error_set(RG_EINVALID,
                            "%s.columns: expected an object of 1..50 columns "
                            "(name: string|integer|number|boolean)",
                            path);
    if ((t->cols = calloc(json_object_size(cols), sizeof(*t->cols))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    json_object_foreach(cols, key, v)
    {
        int type = json_is_string(v) ? type_of(json_string_value(v)) : -1;
        if (type < 0 || strcmp(key, "key") == 0 || strlen(key) > 200)
            return rg_error_set(RG_EINVALID,
                                "%s.columns.%s: expected string, integer, number "
                                "or boolean (and not 'key')",
                                path, key);
        if ((rc = dup_str(&t->cols[t->ncols].name, key)) < 0)
            return rc;
        t->cols[t->ncols++].type = type;
    }
    if (!json_is_array(rows) || json_array_size(rows) > 5000)
        return rg_error_set(RG_EINVALID, "%s.rows: expected an array of at most 5000 rows", path);
    if ((t->rows = calloc(json_array_size(rows) + 1, sizeof(*t->rows))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    json_array_foreach(rows, i, v)
    {
        json_t *k = json_object_get(v, "key");
        if ((rc = sim_datatable_check(t, v, NULL, 0)) < 0) {
            rg_error_prefix("%s.rows[%zu]", path, i);
            return rc;
        }
        if (json_string_length(k) == 0 || json_string_length(k) > 256 ||
            sim_datatable_row(t, json_string_value(k)) != NULL)
            return rg_error_set(RG_EINVALID,
                                "%s.rows[%zu].key: expected a unique key of "
                                "1..256 characters",
                                path, i);
        t->rows[t->nrows++].fields = json_deep_copy(v);
    }
    return 0;
}

static int load_route(sim_org *org, json_t *doc, const char *path)
{
    sim_route *r = &org->route;
    json_t *dt = json_object_get(doc, "datatable"), *row = json_object_get(doc, "row");
    json_t *weights = json_object_get(doc, "weights"), *cpm = json_object_get(doc, "calls_per_min");
    json_t *v;
    const char *key;
    sim_datatable *t;

    json_object_foreach(doc, key, v)
    {
        if (strcmp(key, "datatable") != 0 && strcmp(key, "row") != 0 &&
            strcmp(key, "weights") != 0 && strcmp(key, "calls_per_min") != 0)
            return rg_error_set(RG_EINVALID, "%s: unknown key '%s'", path, key);
    }
    if (!json_is_string(dt) || (t = sim_org_datatable(org, json_string_value(dt))) == NULL)
        return rg_error_set(RG_EINVALID, "%s.datatable: expected one of the org's data tables",
                            path);
    if (!json_is_string(row) || (r->row = sim_datatable_row(t, json_string_value(row))) == NULL)
        return rg_error_set(RG_EINVALID, "%s.row: expected a row key of data table %s", path,
                            t->id);
    r->table = t;
    r->history.calls_per_min = 60;
    if (cpm != NULL) {
        if (!json_is_number(cpm) || json_number_value(cpm) < 0 || json_number_value(cpm) > 1e7)
            return rg_error_set(RG_EINVALID, "%s.calls_per_min: expected a number in 0..1e7", path);
        r->history.calls_per_min = json_number_value(cpm);
    }
    if (!json_is_object(weights) || json_object_size(weights) == 0)
        return rg_error_set(RG_EINVALID, "%s.weights: expected {weight column: queue column}",
                            path);
    if ((r->pairs = calloc(json_object_size(weights), sizeof(*r->pairs))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    json_object_foreach(weights, key, v)
    {
        const sim_column *wc = column(t, key);
        const sim_column *qc = json_is_string(v) ? column(t, json_string_value(v)) : NULL;
        if (wc == NULL || wc->type != SIM_COL_INTEGER || qc == NULL || qc->type != SIM_COL_STRING)
            return rg_error_set(RG_EINVALID,
                                "%s.weights.%s: expected an integer column mapped "
                                "to a string column of data table %s",
                                path, key, t->id);
        r->pairs[r->npairs].weight_col = wc->name;
        r->pairs[r->npairs++].queue_col = qc->name;
    }
    if (dup_str(&r->history.id, "route") < 0 ||
        (r->history.body =
             json_pack("{s:s,s:s}", "datatable", t->id, "row", json_string_value(row))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    /* The scenario's row is in force since forever, like a strategy's weights. */
    return sim_route_push(org, INT64_MIN, "scenario");
}

int sim_datatables_load(sim_org *org, json_t *tables, json_t *route, const char *path)
{
    char sub[300];
    size_t i;
    json_t *v;
    int rc;

    if (tables != NULL) {
        if (!json_is_array(tables) || json_array_size(tables) > 200)
            return rg_error_set(RG_EINVALID,
                                "%s.datatables: expected an array of at most 200 "
                                "data tables",
                                path);
        if ((org->tables = calloc(json_array_size(tables) + 1, sizeof(*org->tables))) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        json_array_foreach(tables, i, v)
        {
            snprintf(sub, sizeof(sub), "%s.datatables[%zu]", path, i);
            if (!json_is_object(v))
                return rg_error_set(RG_EINVALID, "%s: expected an object", sub);
            org->ntables++;
            if ((rc = load_table(&org->tables[i], v, sub)) < 0)
                return rc;
            if (sim_org_datatable(org, org->tables[i].id) != &org->tables[i])
                return rg_error_set(RG_EINVALID, "%s.id: duplicate data table id '%s'", sub,
                                    org->tables[i].id);
        }
    }
    if (route != NULL) {
        snprintf(sub, sizeof(sub), "%s.routing", path);
        if (!json_is_object(route))
            return rg_error_set(RG_EINVALID, "%s: expected an object", sub);
        return load_route(org, route, sub);
    }
    return 0;
}

void sim_datatables_dispose(sim_org *org)
{
    for (size_t i = 0; i < org->ntables; i++) {
        sim_datatable *t = &org->tables[i];
        for (size_t c = 0; c < t->ncols; c++)
            free(t->cols[c].name);
        for (size_t r = 0; r < t->nrows; r++)
            json_decref(t->rows[r].fields);
        free(t->cols);
        free(t->rows);
        free(t->id);
        free(t->name);
    }
    free(org->tables);
    free(org->route.pairs);
    sim_strategy_dispose(&org->route.history);
    sim_row_hook_clear(&org->hook);
}

/* --- control plane ------------------------------------------------------------------- */

json_t *sim_datatables_json(const sim_org *org)
{
    json_t *tables = json_array();

    for (size_t i = 0; i < org->ntables; i++) {
        const sim_datatable *t = &org->tables[i];
        json_t *rows = json_array();
        for (size_t r = 0; r < t->nrows; r++)
            json_array_append_new(
                rows, json_pack("{s:O,s:I,s:I,s:I,s:b}", "fields", t->rows[r].fields, "writes",
                                (json_int_t)t->rows[r].writes, "writes_unanswered",
                                (json_int_t)t->rows[r].writes_unanswered, "hook_edits",
                                (json_int_t)t->rows[r].hook_edits, "routing",
                                org->route.row == &t->rows[r]));
        json_array_append_new(tables, json_pack("{s:s,s:o,s:o}", "id", t->id, "schema",
                                                schema_json(t), "rows", rows));
    }
    return tables;
}

/* {"org","datatable","row","fields"}: a person's edit of some cells (not a write). */
int sim_datatable_edit(sim_reply *reply, sim_world *world, json_t *body, int64_t now_ms)
{
    const char *org_id = json_string_value(json_object_get(body, "org"));
    const char *dt = json_string_value(json_object_get(body, "datatable"));
    const char *key = json_string_value(json_object_get(body, "row"));
    json_t *fields = json_object_get(body, "fields");
    sim_org *org = org_id ? sim_world_org(world, org_id) : NULL;
    sim_datatable *t = org && dt ? sim_org_datatable(org, dt) : NULL;
    sim_row *r;
    int rc;

    if (json_object_size(body) != 4 || !org_id || !dt || !key || !json_is_object(fields))
        return sim_reply_error(reply, 400, "invalid.value",
                               "edit: expected exactly "
                               "{\"org\",\"datatable\",\"row\",\"fields\"}");
    if (t == NULL)
        return sim_reply_error(reply, 404, "not.found", "no data table %s in organization %s", dt,
                               org_id);
    pthread_mutex_lock(&org->lock);
    if ((r = sim_datatable_row(t, key)) == NULL)
        rc = sim_reply_error(reply, 404, "not.found", "no row %s in data table %s", key, dt);
    else if (sim_row_write(org, t, r, fields, 1, "edit", now_ms) < 0)
        rc = sim_reply_error(reply, 400, "invalid.value", "fields: %s", rg_error_last());
    else
        rc = sim_reply_json(reply, 200, json_pack("{s:O}", "row", r->fields));
    pthread_mutex_unlock(&org->lock);
    return rc;
}

/* {"org","on":"get"|"put","datatable","row","fields"}: the edit is applied once, right
 * after the next GET (showbrief or not) or PUT of that row is answered. Replaces the
 * org's pending hook. */
int sim_datatable_hook(sim_reply *reply, sim_world *world, json_t *body)
{
    const char *org_id = json_string_value(json_object_get(body, "org"));
    const char *on = json_string_value(json_object_get(body, "on"));
    const char *dt = json_string_value(json_object_get(body, "datatable"));
    const char *key = json_string_value(json_object_get(body, "row"));
    json_t *fields = json_object_get(body, "fields");
    sim_org *org = org_id ? sim_world_org(world, org_id) : NULL;
    sim_datatable *t = org && dt ? sim_org_datatable(org, dt) : NULL;
    sim_row_hook h = {0};

    if (json_object_size(body) != 5 || !org_id || !on ||
        (strcmp(on, "get") != 0 && strcmp(on, "put") != 0) || !dt || !key ||
        !json_is_object(fields))
        return sim_reply_error(reply, 400, "invalid.value",
                               "hook: expected exactly {\"org\",\"on\":\"get\"|\"put\","
                               "\"datatable\",\"row\",\"fields\"}");
    if (t == NULL || sim_datatable_row(t, key) == NULL)
        return sim_reply_error(reply, 404, "not.found", "no row %s/%s in organization %s", dt, key,
                               org_id);
    if (sim_datatable_check(t, fields, NULL, 1) < 0)
        return sim_reply_error(reply, 400, "invalid.value", "fields: %s", rg_error_last());
    h.on_put = strcmp(on, "put") == 0;
    h.datatable = strdup(dt);
    h.row = strdup(key);
    h.fields = json_deep_copy(fields);
    if (!h.datatable || !h.row || !h.fields) {
        sim_row_hook_clear(&h);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&org->lock);
    sim_row_hook_clear(&org->hook);
    org->hook = h;
    pthread_mutex_unlock(&org->lock);
    return sim_reply_json(reply, 200, json_pack("{s:b}", "armed", 1));
}
