/* scenario.c - loads and strictly validates a simulator scenario (docs/platform-api.md) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

int sim__json_load(json_t **out, const char *text, size_t len, const char *what)
{
    json_error_t err;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);

    if (doc == NULL)
        return rg_error_set(RG_EINVALID, "%s: line %d column %d: %s", what, err.line, err.column,
                            err.text);
    *out = doc;
    return 0;
}

static int check_keys(json_t *obj, const char *path, const char *const *allowed)
{
    const char *key;
    json_t *value;

    if (!json_is_object(obj))
        return rg_error_set(RG_EINVALID, "%s: expected an object", path);
    json_object_foreach(obj, key, value)
    {
        int known = 0;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key) == 0;
        if (!known)
            return rg_error_set(RG_EINVALID, "%s: unknown key '%s'", path, key);
    }
    return 0;
}

/* A number in [min, max]; `dflt` when absent unless required. */
static int get_number(double *out, json_t *obj, const char *key, const char *path, double min,
                      double max, double dflt, int required)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL) {
        if (required)
            return rg_error_set(RG_EINVALID, "%s: missing key '%s'", path, key);
        *out = dflt;
        return 0;
    }
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < min ||
        json_number_value(v) > max)
        return rg_error_set(RG_EINVALID, "%s.%s: expected a number in %g..%g", path, key, min, max);
    *out = json_number_value(v);
    return 0;
}

static int get_int(int64_t *out, json_t *obj, const char *key, const char *path, int64_t min,
                   int64_t max, int64_t dflt, int required)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL) {
        if (required)
            return rg_error_set(RG_EINVALID, "%s: missing key '%s'", path, key);
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return rg_error_set(RG_EINVALID, "%s.%s: expected an integer in %lld..%lld", path, key,
                            (long long)min, (long long)max);
    *out = json_integer_value(v);
    return 0;
}

static int get_string(char **out, json_t *obj, const char *key, const char *path, const char *dflt)
{
    json_t *v = json_object_get(obj, key);
    const char *s = dflt;

    if (v != NULL) {
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 200)
            return rg_error_set(RG_EINVALID, "%s.%s: expected a non-empty string", path, key);
        s = json_string_value(v);
    } else if (s == NULL) {
        return rg_error_set(RG_EINVALID, "%s: missing key '%s'", path, key);
    }
    *out = rg_strdup(s);
    return *out ? 0 : RG_ENOMEM;
}

static int get_array(json_t **out, json_t *obj, const char *key, const char *path, int required)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL && !required) {
        *out = NULL;
        return 0;
    }
    if (!json_is_array(v))
        return rg_error_set(RG_EINVALID, "%s: '%s' must be an array", path, key);
    *out = v;
    return 0;
}

static int load_queue(sim_queue *q, json_t *doc, const char *path)
{
    static const char *const keys[] = {"id",    "name",     "agents", "abandon_p",
                                       "asa_s", "handle_s", "skill",  NULL};
    int64_t agents = 0;
    int rc;

    if ((rc = check_keys(doc, path, keys)) < 0 ||
        (rc = get_string(&q->id, doc, "id", path, NULL)) < 0)
        return rc;
    if ((rc = get_string(&q->name, doc, "name", path, q->id)) < 0 ||
        (rc = get_int(&agents, doc, "agents", path, 0, 1000000, 10, 0)) < 0 ||
        (rc = get_number(&q->abandon_p, doc, "abandon_p", path, 0, 1, 0.05, 0)) < 0 ||
        (rc = get_number(&q->asa_s, doc, "asa_s", path, 0.001, 86400, 20, 0)) < 0 ||
        (rc = get_number(&q->handle_s, doc, "handle_s", path, 0.001, 86400, 300, 0)) < 0)
        return rc;
    q->agents = (int)agents;
    if (json_object_get(doc, "skill") != NULL) {
        if (!json_is_object(json_object_get(doc, "skill")))
            return rg_error_set(RG_EINVALID, "%s.skill: expected an object of settings", path);
        q->skill = json_deep_copy(json_object_get(doc, "skill"));
    }
    return 0;
}

static int load_strategy(sim_org *org, sim_strategy *s, json_t *doc, const char *path)
{
    static const char *const keys[] = {"id", "name", "calls_per_min", "settings", "targets", NULL};
    json_t *blank = NULL, *body = NULL, *patch = NULL;
    char *id = NULL;
    int rc;

    if ((rc = check_keys(doc, path, keys)) < 0 || (rc = get_string(&id, doc, "id", path, NULL)) < 0)
        return rc;
    s->id = id;
    if ((rc = get_number(&s->calls_per_min, doc, "calls_per_min", path, 0, 1e7, 60, 0)) < 0)
        return rc;
    blank = json_pack("{s:s,s:s,s:I,s:{s:b,s:b},s:[]}", "id", id, "name", id, "version",
                      (json_int_t)1, "settings", "enabled", 1, "longRunning", 0, "targets");
    patch = json_deep_copy(doc);
    if (blank == NULL || patch == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    json_object_del(patch, "id");
    json_object_del(patch, "calls_per_min");
    if ((rc = sim_strategy_build(&body, org, blank, patch)) < 0) {
        rg_error_prefix("%s", path);
        goto cleanup;
    }
    /* The scenario's weights are in force since forever: past intervals are reproducible. */
    rc = sim_strategy_init(s, org, body, INT64_MIN, "scenario");
    body = NULL;
cleanup:
    json_decref(blank);
    json_decref(body);
    json_decref(patch);
    return rc;
}

static int load_org(sim_org *org, json_t *doc, const char *path)
{
    static const char *const keys[] = {
        "id",     "name",          "client_id",         "client_secret", "domain",
        "queues", "strategies",    "datatables",        "routing",       "ivrs",
        "driver", "access_key_id", "access_key_secret", "weight_field",  NULL};
    json_t *queues = NULL, *strategies = NULL, *v;
    char sub[256];
    size_t i;
    int rc;

    if ((rc = check_keys(doc, path, keys)) < 0 ||
        (rc = get_string(&org->id, doc, "id", path, NULL)) < 0 ||
        (rc = get_string(&org->name, doc, "name", path, org->id)) < 0 ||
        (rc = get_string(&org->domain, doc, "domain", path, org->id)) < 0 ||
        (rc = get_string(&org->client_id, doc, "client_id", path, NULL)) < 0 ||
        (rc = get_string(&org->client_secret, doc, "client_secret", path, NULL)) < 0 ||
        (rc = get_array(&queues, doc, "queues", path, 1)) < 0 ||
        (rc = get_array(&strategies, doc, "strategies", path, 0)) < 0)
        return rc;
    if ((v = json_object_get(doc, "driver")) != NULL) {
        if (!json_is_string(v) || (strcmp(json_string_value(v), "cxone") != 0 &&
                                   strcmp(json_string_value(v), "genesys") != 0))
            return rg_error_set(RG_EINVALID, "%s.driver: expected \"genesys\" or \"cxone\"", path);
        org->cxone = strcmp(json_string_value(v), "cxone") == 0;
    }
    if (org->cxone &&
        ((rc = get_string(&org->access_key_id, doc, "access_key_id", path, NULL)) < 0 ||
         (rc = get_string(&org->access_key_secret, doc, "access_key_secret", path, NULL)) < 0 ||
         (rc = get_string(&org->weight_field, doc, "weight_field", path, "notes")) < 0))
        return rc;
    org->queues = calloc(json_array_size(queues) + 1, sizeof(*org->queues));
    org->strategies = calloc(json_array_size(strategies) + 1, sizeof(*org->strategies));
    if (org->queues == NULL || org->strategies == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    json_array_foreach(queues, i, v)
    {
        snprintf(sub, sizeof(sub), "%s.queues[%zu]", path, i);
        if ((rc = load_queue(&org->queues[i], v, sub)) < 0)
            return rc;
        org->nqueues++;
        if (sim_org_queue_index(org, org->queues[i].id) != (int)i)
            return rg_error_set(RG_EINVALID, "%s.id: duplicate queue id '%s'", sub,
                                org->queues[i].id);
    }
    json_array_foreach(strategies, i, v)
    {
        snprintf(sub, sizeof(sub), "%s.strategies[%zu]", path, i);
        if ((rc = load_strategy(org, &org->strategies[i], v, sub)) < 0) {
            sim_strategy_dispose(&org->strategies[i]);
            return rc;
        }
        org->nstrategies++;
        if (sim_org_strategy(org, org->strategies[i].id) != &org->strategies[i])
            return rg_error_set(RG_EINVALID, "%s.id: duplicate strategy id '%s'", sub,
                                org->strategies[i].id);
    }
    if ((rc = sim_ivrs_load(org, json_object_get(doc, "ivrs"), path)) < 0)
        return rc;
    return sim_datatables_load(org, json_object_get(doc, "datatables"),
                               json_object_get(doc, "routing"), path);
}

static int load_effect(sim_effect *e, json_t *doc, const char *path, const sim_world *world)
{
    static const char *const keys[] = {"queue", "abandon_mult", "asa_add_s", "handle_mult", NULL};
    int rc, found = 0;

    if ((rc = check_keys(doc, path, keys)) < 0 ||
        (rc = get_string(&e->queue, doc, "queue", path, NULL)) < 0 ||
        (rc = get_number(&e->abandon_mult, doc, "abandon_mult", path, 0, 1000, 1, 0)) < 0 ||
        (rc = get_number(&e->asa_add_s, doc, "asa_add_s", path, -86400, 86400, 0, 0)) < 0 ||
        (rc = get_number(&e->handle_mult, doc, "handle_mult", path, 0.001, 1000, 1, 0)) < 0)
        return rc;
    for (size_t i = 0; i < world->norgs && !found; i++)
        found = sim_org_queue_index(&world->orgs[i], e->queue) >= 0;
    if (!found)
        return rg_error_set(RG_EINVALID, "%s.queue: no organization has a queue '%s'", path,
                            e->queue);
    return 0;
}

static int load_event_orgs(sim_event *e, json_t *orgs, const char *path, sim_world *world)
{
    size_t i;
    json_t *v;

    if (json_is_string(orgs) && strcmp(json_string_value(orgs), "*") == 0) {
        e->all = 1;
        return 0;
    }
    if (!json_is_array(orgs) || json_array_size(orgs) == 0)
        return rg_error_set(RG_EINVALID,
                            "%s.orgs: expected \"*\" or a non-empty array of "
                            "organization ids",
                            path);
    e->orgs = calloc(json_array_size(orgs), sizeof(char *));
    if (e->orgs == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    json_array_foreach(orgs, i, v)
    {
        if (!json_is_string(v) || sim_world_org(world, json_string_value(v)) == NULL)
            return rg_error_set(RG_EINVALID, "%s.orgs[%zu]: not an organization of the scenario",
                                path, i);
        if ((e->orgs[i] = rg_strdup(json_string_value(v))) == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        e->norgs++;
    }
    return 0;
}

static int load_event(sim_event *e, json_t *doc, const char *path, sim_world *world)
{
    static const char *const keys[] = {"orgs",      "from_s",     "to_s",        "abandon_mult",
                                       "asa_add_s", "calls_mult", "agents_mult", NULL};
    json_t *orgs = json_object_get(doc, "orgs");
    int rc;

    if ((rc = check_keys(doc, path, keys)) < 0)
        return rc;
    if (orgs == NULL)
        return rg_error_set(RG_EINVALID, "%s: missing key 'orgs'", path);
    if ((rc = load_event_orgs(e, orgs, path, world)) < 0 ||
        (rc = get_number(&e->from_s, doc, "from_s", path, 0, 1e9, 0, 1)) < 0 ||
        (rc = get_number(&e->to_s, doc, "to_s", path, 0, 1e9, 0, 1)) < 0 ||
        (rc = get_number(&e->abandon_mult, doc, "abandon_mult", path, 0, 1000, 1, 0)) < 0 ||
        (rc = get_number(&e->asa_add_s, doc, "asa_add_s", path, -86400, 86400, 0, 0)) < 0 ||
        (rc = get_number(&e->calls_mult, doc, "calls_mult", path, 0, 1000, 1, 0)) < 0 ||
        (rc = get_number(&e->agents_mult, doc, "agents_mult", path, 0, 1000, 1, 0)) < 0)
        return rc;
    if (e->to_s < e->from_s)
        return rg_error_set(RG_EINVALID, "%s.to_s: ends before from_s", path);
    return 0;
}

static int load_top(sim_world *w, json_t *doc)
{
    static const char *const keys[] = {"seed", "token_ttl_s", "rate_limit", "time_scale",
                                       "orgs", "effects",     "events",     NULL};
    static const char *const rate_keys[] = {"allowed", "window_s", NULL};
    json_t *rate = json_object_get(doc, "rate_limit");
    int64_t seed = 0;
    int rc;

    if ((rc = check_keys(doc, "scenario", keys)) < 0 ||
        (rc = get_int(&seed, doc, "seed", "scenario", 0, INT64_MAX, 1, 0)) < 0 ||
        (rc = get_int(&w->token_ttl_s, doc, "token_ttl_s", "scenario", 1, 100000000, 86400, 0)) <
            0 ||
        (rc = get_number(&w->time_scale, doc, "time_scale", "scenario", 0.001, 100000, 1, 0)) < 0)
        return rc;
    w->seed = (uint64_t)seed;
    w->rate_allowed = 300;
    w->rate_window_s = 60;
    if (rate != NULL && ((rc = check_keys(rate, "scenario.rate_limit", rate_keys)) < 0 ||
                         (rc = get_int(&w->rate_allowed, rate, "allowed", "scenario.rate_limit", 1,
                                       1000000000, 300, 0)) < 0 ||
                         (rc = get_int(&w->rate_window_s, rate, "window_s", "scenario.rate_limit",
                                       1, 86400, 60, 0)) < 0))
        return rc;
    return 0;
}

static int load_orgs(sim_world *w, json_t *orgs)
{
    char path[64];
    size_t i;
    json_t *v;
    int rc;

    if (!json_is_array(orgs) || json_array_size(orgs) == 0)
        return rg_error_set(RG_EINVALID, "scenario.orgs: expected a non-empty array");
    if ((w->orgs = calloc(json_array_size(orgs), sizeof(*w->orgs))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    json_array_foreach(orgs, i, v)
    {
        sim_org *org = &w->orgs[i];
        snprintf(path, sizeof(path), "scenario.orgs[%zu]", i);
        if (pthread_mutex_init(&org->lock, NULL) != 0)
            return rg_error_set(RG_ENOMEM, "cannot create a lock");
        org->lock_ready = 1;
        w->norgs++;
        if ((rc = load_org(org, v, path)) < 0)
            return rc;
        if (sim_world_org(w, org->id) != org)
            return rg_error_set(RG_EINVALID, "%s.id: duplicate organization id '%s'", path,
                                org->id);
        for (size_t j = 0; j < i; j++)
            if (strcmp(w->orgs[j].client_id, org->client_id) == 0)
                return rg_error_set(RG_EINVALID, "%s.client_id: already used by '%s'", path,
                                    w->orgs[j].id);
    }
    return 0;
}

int sim_world_load(sim_world **out, json_t *doc)
{
    sim_world *w = calloc(1, sizeof(*w));
    json_t *effects = NULL, *events = NULL, *v;
    char path[64];
    size_t i;
    int rc;

    if (w == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    pthread_mutex_init(&w->lock, NULL);
    w->loaded_at_ms = rg_time_now_ms();
    if (!json_is_object(doc)) {
        rc = rg_error_set(RG_EINVALID, "scenario: expected an object");
        goto cleanup;
    }
    if ((rc = load_top(w, doc)) < 0 || (rc = load_orgs(w, json_object_get(doc, "orgs"))) < 0 ||
        (rc = get_array(&effects, doc, "effects", "scenario", 0)) < 0 ||
        (rc = get_array(&events, doc, "events", "scenario", 0)) < 0)
        goto cleanup;
    w->effects = calloc(json_array_size(effects) + 1, sizeof(*w->effects));
    w->events = calloc(json_array_size(events) + 1, sizeof(*w->events));
    if (w->effects == NULL || w->events == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    json_array_foreach(effects, i, v)
    {
        snprintf(path, sizeof(path), "scenario.effects[%zu]", i);
        w->neffects++;
        if ((rc = load_effect(&w->effects[i], v, path, w)) < 0)
            goto cleanup;
    }
    json_array_foreach(events, i, v)
    {
        snprintf(path, sizeof(path), "scenario.events[%zu]", i);
        w->nevents++;
        if ((rc = load_event(&w->events[i], v, path, w)) < 0)
            goto cleanup;
    }
    *out = w;
    w = NULL;
    rc = 0;
cleanup:
    sim_world_free(w);
    return rc;
}

int sim_world_load_file(sim_world **out, const char *path)
{
    json_error_t err;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    int rc;

    if (doc == NULL)
        return rg_error_set(RG_EINVALID, "%s: line %d column %d: %s", path, err.line, err.column,
                            err.text);
    rc = sim_world_load(out, doc);
    json_decref(doc);
    if (rc < 0)
        rg_error_prefix("%s", path);
    return rc;
}

static void org_dispose(sim_org *org)
{
    for (size_t i = 0; i < org->nqueues; i++) {
        free(org->queues[i].id);
        free(org->queues[i].name);
        json_decref(org->queues[i].skill);
    }
    for (size_t i = 0; i < org->nstrategies; i++)
        sim_strategy_dispose(&org->strategies[i]);
    free(org->queues);
    free(org->strategies);
    sim_datatables_dispose(org);
    sim_ivrs_dispose(org);
    free(org->tokens);
    free(org->id);
    free(org->name);
    free(org->domain);
    free(org->client_id);
    free(org->client_secret);
    free(org->access_key_id);
    free(org->access_key_secret);
    free(org->weight_field);
    if (org->lock_ready)
        pthread_mutex_destroy(&org->lock);
}

void sim_world_free(sim_world *world)
{
    if (world == NULL)
        return;
    for (size_t i = 0; i < world->norgs; i++)
        org_dispose(&world->orgs[i]);
    for (size_t i = 0; i < world->neffects; i++)
        free(world->effects[i].queue);
    for (size_t i = 0; i < world->nevents; i++) {
        for (size_t j = 0; j < world->events[i].norgs; j++)
            free(world->events[i].orgs[j]);
        free(world->events[i].orgs);
    }
    free(world->orgs);
    free(world->effects);
    free(world->events);
    pthread_mutex_destroy(&world->lock);
    free(world);
}
