/* control.c - the sim-only control plane under /sim/ (docs/platform-api.md) */
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

#define SIM_REQUESTS_PAGE 10000

static const char *const fault_on_names[] = {"all", "writes", "reads", NULL};

/* "latency_on": "writes" and the like. 1 when `key` is such a scope key. */
static int parse_scope(sim_faults *f, const char *key, json_t *v, int *err)
{
    static const char *const keys[] = {"error_on", "latency_on", "reset_on", NULL};
    sim_fault_on *slots[] = {&f->error_on, &f->latency_on, &f->reset_on};

    for (size_t k = 0; keys[k]; k++) {
        if (strcmp(key, keys[k]) != 0)
            continue;
        for (size_t i = 0; json_is_string(v) && fault_on_names[i]; i++)
            if (strcmp(json_string_value(v), fault_on_names[i]) == 0) {
                *slots[k] = (sim_fault_on)i;
                return 1;
            }
        *err = rg_error_set(RG_EINVALID,
                            "faults.%s: expected \"all\", \"writes\" or "
                            "\"reads\"",
                            key);
        return 1;
    }
    return 0;
}

int sim_faults_parse(sim_faults *out, json_t *doc)
{
    static const char *const numeric[] = {"error_rate",
                                          "reset_rate",
                                          "apply_drop_rate",
                                          "apply_reset_rate",
                                          "apply_error_rate",
                                          "error_status",
                                          "latency_ms",
                                          "rate_limit",
                                          "rate_window_s",
                                          "token_ttl_s",
                                          "version_conflict_status",
                                          "max_predicates",
                                          NULL};
    sim_faults f = {0};
    const char *key;
    json_t *v;
    int err = 0, known;

    if (!json_is_object(doc))
        return rg_error_set(RG_EINVALID, "faults: expected a JSON object");
    json_object_foreach(doc, key, v)
    {
        double x = json_number_value(v);
        int integer = json_is_integer(v);
        if (parse_scope(&f, key, v, &err)) {
            if (err < 0)
                return err;
            continue;
        }
        known = 0;
        for (size_t i = 0; numeric[i]; i++)
            known |= strcmp(key, numeric[i]) == 0;
        if (!known)
            return rg_error_set(RG_EINVALID, "faults: unknown key '%s'", key);
        if (!json_is_number(v))
            return rg_error_set(RG_EINVALID, "faults.%s: expected a number", key);
        if (strcmp(key, "error_rate") == 0 && x >= 0 && x <= 1)
            f.error_rate = x;
        else if (strcmp(key, "reset_rate") == 0 && x >= 0 && x <= 1)
            f.reset_rate = x;
        else if (strcmp(key, "apply_drop_rate") == 0 && x >= 0 && x <= 1)
            f.apply_drop_rate = x;
        else if (strcmp(key, "apply_reset_rate") == 0 && x >= 0 && x <= 1)
            f.apply_reset_rate = x;
        else if (strcmp(key, "apply_error_rate") == 0 && x >= 0 && x <= 1)
            f.apply_error_rate = x;
        else if (strcmp(key, "error_status") == 0 && integer && x >= 400 && x <= 599)
            f.error_status = (int)x;
        else if (strcmp(key, "latency_ms") == 0 && integer && x >= 0 && x <= 60000)
            f.latency_ms = (int64_t)x;
        else if (strcmp(key, "rate_limit") == 0 && integer && x >= 1 && x <= 1e9)
            f.rate_limit = (int64_t)x;
        else if (strcmp(key, "rate_window_s") == 0 && integer && x >= 1 && x <= 86400)
            f.rate_window_s = (int64_t)x;
        else if (strcmp(key, "token_ttl_s") == 0 && integer && x >= 1 && x <= 1e8)
            f.token_ttl_s = (int64_t)x;
        else if (strcmp(key, "version_conflict_status") == 0 && integer && (x == 409 || x == 400))
            f.version_conflict_status = (int)x;
        else if (strcmp(key, "max_predicates") == 0 && integer && x >= 1 && x <= 100000)
            f.max_predicates = (int64_t)x;
        else
            return rg_error_set(RG_EINVALID,
                                "faults.%s: out of range (rates 0..1, error_status "
                                "400..599, latency_ms 0..60000, "
                                "version_conflict_status 409 or 400, positive "
                                "integers otherwise)",
                                key);
    }
    *out = f;
    return 0;
}

json_t *sim_faults_json(const sim_faults *f)
{
    json_t *doc = json_object();

    if (f->error_rate > 0)
        json_object_set_new(doc, "error_rate", json_real(f->error_rate));
    if (f->error_status > 0)
        json_object_set_new(doc, "error_status", json_integer(f->error_status));
    if (f->error_on != SIM_ON_ALL)
        json_object_set_new(doc, "error_on", json_string(fault_on_names[f->error_on]));
    if (f->latency_ms > 0)
        json_object_set_new(doc, "latency_ms", json_integer(f->latency_ms));
    if (f->latency_on != SIM_ON_ALL)
        json_object_set_new(doc, "latency_on", json_string(fault_on_names[f->latency_on]));
    if (f->reset_rate > 0)
        json_object_set_new(doc, "reset_rate", json_real(f->reset_rate));
    if (f->reset_on != SIM_ON_ALL)
        json_object_set_new(doc, "reset_on", json_string(fault_on_names[f->reset_on]));
    if (f->apply_drop_rate > 0)
        json_object_set_new(doc, "apply_drop_rate", json_real(f->apply_drop_rate));
    if (f->apply_reset_rate > 0)
        json_object_set_new(doc, "apply_reset_rate", json_real(f->apply_reset_rate));
    if (f->apply_error_rate > 0)
        json_object_set_new(doc, "apply_error_rate", json_real(f->apply_error_rate));
    if (f->rate_limit > 0)
        json_object_set_new(doc, "rate_limit", json_integer(f->rate_limit));
    if (f->rate_window_s > 0)
        json_object_set_new(doc, "rate_window_s", json_integer(f->rate_window_s));
    if (f->token_ttl_s > 0)
        json_object_set_new(doc, "token_ttl_s", json_integer(f->token_ttl_s));
    if (f->max_predicates > 0)
        json_object_set_new(doc, "max_predicates", json_integer(f->max_predicates));
    if (f->version_conflict_status > 0)
        json_object_set_new(doc, "version_conflict_status",
                            json_integer(f->version_conflict_status));
    return doc;
}

static json_t *counts_json(const sim_status_count *counts, size_t n)
{
    json_t *doc = json_object();
    char key[16];

    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%d", counts[i].status);
        json_object_set_new(doc, key, json_integer(counts[i].count));
    }
    return doc;
}

static json_t *strategy_json(const sim_world *w, const sim_org *org, const sim_strategy *s)
{
    json_t *history = json_array();
    char iso[RG_TIME_ISO_LEN];

    for (size_t h = 0; h < s->nhistory; h++) {
        int64_t at = s->history[h].at_ms == INT64_MIN ? w->loaded_at_ms : s->history[h].at_ms;
        json_t *weights = json_object();
        for (size_t q = 0; q < org->nqueues; q++)
            json_object_set_new(weights, org->queues[q].id, json_integer(s->history[h].weight[q]));
        rg_time_format(iso, at);
        json_array_append_new(history,
                              json_pack("{s:I,s:s,s:s,s:o}", "at_ms", (json_int_t)at, "at", iso,
                                        "source", s->history[h].source, "weights", weights));
    }
    return json_pack("{s:s,s:s,s:I,s:f,s:O,s:o,s:I,s:I}", "id", s->id, "etag", s->etag, "version",
                     (json_int_t)s->version, "calls_per_min", s->calls_per_min, "body", s->body,
                     "history", history, "writes", (json_int_t)s->writes, "writes_unanswered",
                     (json_int_t)s->writes_unanswered);
}

static json_t *org_json(const sim_world *w, sim_org *org)
{
    json_t *queues = json_array(), *strategies = json_array(), *doc;

    for (size_t q = 0; q < org->nqueues; q++) {
        const sim_queue *qu = &org->queues[q];
        json_array_append_new(queues,
                              json_pack("{s:s,s:s,s:i,s:f,s:f,s:f}", "id", qu->id, "name", qu->name,
                                        "agents", qu->agents, "abandon_p", qu->abandon_p, "asa_s",
                                        qu->asa_s, "handle_s", qu->handle_s));
    }
    pthread_mutex_lock(&org->lock);
    for (size_t q = 0; q < org->nqueues; q++) /* a CXone brand's skill settings */
        if (org->queues[q].skill != NULL)
            json_object_set_new(json_array_get(queues, q), "skill",
                                json_deep_copy(org->queues[q].skill));
    for (size_t s = 0; s < org->nstrategies; s++)
        json_array_append_new(strategies, strategy_json(w, org, &org->strategies[s]));
    doc =
        json_pack("{s:s,s:s,s:I,s:o,s:o,s:o}", "id", org->id, "name", org->name, "token_count",
                  (json_int_t)org->token_count, "requests", counts_json(org->counts, org->ncounts),
                  "queues", queues, "strategies", strategies);
    if (org->ntables > 0)
        json_object_set_new(doc, "datatables", sim_datatables_json(org));
    if (org->nivrs > 0)
        json_object_set_new(doc, "ivrs", sim_ivrs_json(org));
    if (org->route.row != NULL)
        json_object_set_new(doc, "routing",
                            json_pack("{s:s,s:O,s:o}", "datatable", org->route.table->id, "row",
                                      json_object_get(org->route.row->fields, "key"), "history",
                                      strategy_json(w, org, &org->route.history)));
    pthread_mutex_unlock(&org->lock);
    return doc;
}

static int get_state(sim_reply *reply, sim_server *server)
{
    sim_world *w;
    json_t *orgs = json_array(), *faults, *unauth;
    char iso[RG_TIME_ISO_LEN];
    int64_t total;
    int rc;

    pthread_mutex_lock(&server->faults_lock);
    faults = sim_faults_json(&server->faults);
    pthread_mutex_unlock(&server->faults_lock);
    pthread_mutex_lock(&server->log.lock);
    total = server->log.next_seq - 1;
    pthread_mutex_unlock(&server->log.lock);
    pthread_rwlock_rdlock(&server->lock);
    w = server->world;
    for (size_t i = 0; i < w->norgs; i++)
        json_array_append_new(orgs, org_json(w, &w->orgs[i]));
    pthread_mutex_lock(&w->lock);
    unauth = counts_json(w->unauth_counts, w->nunauth);
    pthread_mutex_unlock(&w->lock);
    rg_time_format(iso, w->loaded_at_ms);
    rc = sim_reply_json(reply, 200,
                        json_pack("{s:I,s:s,s:I,s:f,s:I,s:{s:I,s:I},s:o,s:I,s:o,s:o}",
                                  "loaded_at_ms", (json_int_t)w->loaded_at_ms, "loaded_at", iso,
                                  "seed", (json_int_t)w->seed, "time_scale", w->time_scale,
                                  "token_ttl_s", (json_int_t)w->token_ttl_s, "rate_limit",
                                  "allowed", (json_int_t)w->rate_allowed, "window_s",
                                  (json_int_t)w->rate_window_s, "faults", faults, "requests_total",
                                  (json_int_t)total, "unauthenticated", unauth, "orgs", orgs));
    pthread_rwlock_unlock(&server->lock);
    return rc;
}

static int post_scenario(sim_reply *reply, sim_server *server, json_t *body)
{
    sim_world *fresh = NULL, *old;
    size_t norgs;

    if (sim_world_load(&fresh, body) < 0)
        return sim_reply_error(reply, 400, "invalid.value", "%s", rg_error_last());
    norgs = fresh->norgs;
    pthread_rwlock_wrlock(&server->lock);
    old = server->world;
    server->world = fresh;
    pthread_rwlock_unlock(&server->lock);
    sim_world_free(old);
    rg_log(RG_LOG_INFO, "sim", "scenario replaced: %zu organizations", norgs);
    return sim_reply_json(reply, 200,
                          json_pack("{s:b,s:I}", "loaded", 1, "orgs", (json_int_t)norgs));
}

static int post_edit(sim_reply *reply, sim_server *server, json_t *body, int64_t now_ms)
{
    const char *org_id = json_string_value(json_object_get(body, "org"));
    const char *strat_id = json_string_value(json_object_get(body, "strategy"));
    json_t *patch = json_object_get(body, "patch");
    sim_strategy *s;
    sim_org *org;
    int rc;

    if (!json_is_object(body) || json_object_size(body) != 3 || !org_id || !strat_id || !patch)
        return sim_reply_error(reply, 400, "invalid.value",
                               "edit: expected exactly {\"org\",\"strategy\",\"patch\"}");
    pthread_rwlock_rdlock(&server->lock);
    org = sim_world_org(server->world, org_id);
    s = org ? sim_org_strategy(org, strat_id) : NULL;
    if (s == NULL) {
        rc = sim_reply_error(reply, 404, "not.found", "no strategy %s in organization %s", strat_id,
                             org_id);
    } else {
        pthread_mutex_lock(&org->lock);
        if (sim_strategy_patch(org, s, patch, "edit", now_ms) < 0)
            rc = sim_reply_error(reply, 400, "invalid.value", "patch.%s", rg_error_last());
        else
            rc = sim_reply_json(reply, 200,
                                json_pack("{s:s,s:O}", "etag", s->etag, "body", s->body));
        pthread_mutex_unlock(&org->lock);
    }
    pthread_rwlock_unlock(&server->lock);
    return rc;
}

static int post_faults(sim_reply *reply, sim_server *server, json_t *body)
{
    sim_faults f;

    if (sim_faults_parse(&f, body) < 0)
        return sim_reply_error(reply, 400, "invalid.value", "%s", rg_error_last());
    pthread_mutex_lock(&server->faults_lock);
    server->faults = f;
    pthread_mutex_unlock(&server->faults_lock);
    return sim_reply_json(reply, 200, sim_faults_json(&f));
}

/* Per org and strategy: API writes the sim committed, and how many of them went unanswered
 * (apply_drop_rate / apply_reset_rate). Counted here, not by the client. */
static int get_writes(sim_reply *reply, sim_server *server)
{
    json_t *orgs = json_object();
    int64_t total = 0, unanswered = 0;
    sim_world *w;

    pthread_rwlock_rdlock(&server->lock);
    w = server->world;
    for (size_t i = 0; i < w->norgs; i++) {
        sim_org *org = &w->orgs[i];
        json_t *strategies = json_object();
        pthread_mutex_lock(&org->lock);
        for (size_t k = 0; k < org->nstrategies; k++) {
            const sim_strategy *s = &org->strategies[k];
            json_object_set_new(strategies, s->id,
                                json_pack("{s:I,s:I}", "applied", (json_int_t)s->writes,
                                          "unanswered", (json_int_t)s->writes_unanswered));
            total += s->writes;
            unanswered += s->writes_unanswered;
        }
        /* data-table rows as "<table>/<row key>" */
        for (size_t t = 0; t < org->ntables; t++) {
            for (size_t r = 0; r < org->tables[t].nrows; r++) {
                const sim_row *row = &org->tables[t].rows[r];
                char name[520];
                snprintf(name, sizeof(name), "%s/%s", org->tables[t].id,
                         json_string_value(json_object_get(row->fields, "key")));
                json_object_set_new(strategies, name,
                                    json_pack("{s:I,s:I}", "applied", (json_int_t)row->writes,
                                              "unanswered", (json_int_t)row->writes_unanswered));
                total += row->writes;
                unanswered += row->writes_unanswered;
            }
        }
        /* IVR configs as "ivr/<id>" */
        for (size_t k = 0; k < org->nivrs; k++) {
            const sim_ivr *ivr = &org->ivrs[k];
            char name[220];
            snprintf(name, sizeof(name), "ivr/%s", ivr->id);
            json_object_set_new(strategies, name,
                                json_pack("{s:I,s:I}", "applied", (json_int_t)ivr->doc.writes,
                                          "unanswered", (json_int_t)ivr->doc.writes_unanswered));
            total += ivr->doc.writes;
            unanswered += ivr->doc.writes_unanswered;
        }
        pthread_mutex_unlock(&org->lock);
        json_object_set_new(orgs, org->id, strategies);
    }
    pthread_rwlock_unlock(&server->lock);
    return sim_reply_json(reply, 200,
                          json_pack("{s:o,s:I,s:I}", "orgs", orgs, "total", (json_int_t)total,
                                    "unanswered", (json_int_t)unanswered));
}

static int get_requests(sim_reply *reply, sim_server *server, const sim_request *req)
{
    const char *since_s = req->query(req->conn, "since");
    const char *limit_s = req->query(req->conn, "limit");
    int64_t since = 0, limit = SIM_REQUESTS_PAGE, first, from, to, dropped;
    sim_log_entry *copy = NULL;
    json_t *list;
    char iso[RG_TIME_ISO_LEN];

    if ((since_s && rg_parse_int64(&since, since_s, 0, INT64_MAX - 1) < 0) ||
        (limit_s && rg_parse_int64(&limit, limit_s, 1, SIM_LOG_CAP) < 0))
        return sim_reply_error(reply, 400, "invalid.value", "since/limit: %s", rg_error_last());
    pthread_mutex_lock(&server->log.lock);
    first = server->log.next_seq > SIM_LOG_CAP ? server->log.next_seq - SIM_LOG_CAP : 1;
    from = since + 1 > first ? since + 1 : first;
    to = server->log.next_seq - 1;
    to = to - from + 1 > limit ? from + limit - 1 : to;
    if (to >= from && (copy = malloc((size_t)(to - from + 1) * sizeof(*copy))) != NULL)
        for (int64_t s = from; s <= to; s++)
            copy[s - from] = server->log.ring[(s - 1) % SIM_LOG_CAP];
    pthread_mutex_unlock(&server->log.lock);
    if (to >= from && copy == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    list = json_array();
    for (int64_t s = from; s <= to; s++) {
        const sim_log_entry *e = &copy[s - from];
        rg_time_format(iso, e->time_ms);
        json_t *entry =
            json_pack("{s:I,s:s,s:I,s:s?,s:s,s:s,s:i}", "seq", (json_int_t)e->seq, "time", iso,
                      "time_ms", (json_int_t)e->time_ms, "org", e->org[0] ? e->org : NULL, "method",
                      e->method, "path", e->path, "status", e->status);
        if (entry != NULL && e->applied)
            json_object_set_new(entry, "applied", json_true());
        json_array_append_new(list, entry);
    }
    free(copy);
    dropped = from > since + 1 ? from - since - 1 : 0;
    return sim_reply_json(reply, 200,
                          json_pack("{s:o,s:I,s:I}", "requests", list, "next",
                                    (json_int_t)(to >= from ? to : since), "dropped",
                                    (json_int_t)dropped));
}

int sim_control_handle(sim_reply *reply, sim_server *server, const sim_request *req, int64_t now_ms)
{
    const char *p = req->path;
    int post = strcmp(req->method, "POST") == 0, get = strcmp(req->method, "GET") == 0;
    json_t *body = NULL;
    int rc;

    if (get && strcmp(p, "/sim/state") == 0)
        return get_state(reply, server);
    if (get && strcmp(p, "/sim/requests") == 0)
        return get_requests(reply, server, req);
    if (get && strcmp(p, "/sim/writes") == 0)
        return get_writes(reply, server);
    if (get && strcmp(p, "/sim/queries") == 0)
        return sim_querylog_get(reply, &server->queries, req);
    if (get && strcmp(p, "/sim/faults") == 0) {
        sim_faults f;
        pthread_mutex_lock(&server->faults_lock);
        f = server->faults;
        pthread_mutex_unlock(&server->faults_lock);
        return sim_reply_json(reply, 200, sim_faults_json(&f));
    }
    if (!post || (strcmp(p, "/sim/scenario") != 0 && strcmp(p, "/sim/edit") != 0 &&
                  strcmp(p, "/sim/faults") != 0 && strcmp(p, "/sim/hook") != 0))
        return sim_reply_error(reply, 404, "not.found", "no such control call: %s %s", req->method,
                               p);
    if (sim__json_load(&body, req->body, req->body_len, "body") < 0)
        return sim_reply_error(reply, 400, "bad.request", "%s", rg_error_last());
    if (strcmp(p, "/sim/scenario") == 0)
        rc = post_scenario(reply, server, body);
    else if (strcmp(p, "/sim/edit") == 0 && json_object_get(body, "ivr") != NULL) {
        pthread_rwlock_rdlock(&server->lock);
        rc = sim_ivr_edit(reply, server->world, body, now_ms);
        pthread_rwlock_unlock(&server->lock);
    } else if (strcmp(p, "/sim/hook") == 0 && json_object_get(body, "ivr") != NULL) {
        pthread_rwlock_rdlock(&server->lock);
        rc = sim_ivr_hook(reply, server->world, body);
        pthread_rwlock_unlock(&server->lock);
    } else if (strcmp(p, "/sim/edit") == 0 && json_object_get(body, "datatable") != NULL) {
        pthread_rwlock_rdlock(&server->lock);
        rc = sim_datatable_edit(reply, server->world, body, now_ms);
        pthread_rwlock_unlock(&server->lock);
    } else if (strcmp(p, "/sim/edit") == 0)
        rc = post_edit(reply, server, body, now_ms);
    else if (strcmp(p, "/sim/hook") == 0) {
        pthread_rwlock_rdlock(&server->lock);
        rc = sim_datatable_hook(reply, server->world, body);
        pthread_rwlock_unlock(&server->lock);
    } else
        rc = post_faults(reply, server, body);
    json_decref(body);
    return rc;
}
