/* world.c - live strategy state: validated patches, versions, ETags and weight history */
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

sim_org *sim_world_org(sim_world *world, const char *id)
{
    for (size_t i = 0; i < world->norgs; i++)
        if (world->orgs[i].id && strcmp(world->orgs[i].id, id) == 0)
            return &world->orgs[i];
    return NULL;
}

sim_strategy *sim_org_strategy(sim_org *org, const char *id)
{
    for (size_t i = 0; i < org->nstrategies; i++)
        if (strcmp(org->strategies[i].id, id) == 0)
            return &org->strategies[i];
    return NULL;
}

int sim_org_queue_index(const sim_org *org, const char *id)
{
    for (size_t i = 0; i < org->nqueues; i++)
        if (strcmp(org->queues[i].id, id) == 0)
            return (int)i;
    return -1;
}

static int check_target(const sim_org *org, json_t *t, size_t i, int *seen)
{
    const char *key;
    json_t *v;
    int q;

    if (!json_is_object(t))
        return rg_error_set(RG_EINVALID, "targets[%zu]: expected an object", i);
    json_object_foreach(t, key, v)
    {
        if (strcmp(key, "type") != 0 && strcmp(key, "id") != 0 && strcmp(key, "weight") != 0 &&
            strcmp(key, "priority") != 0)
            return rg_error_set(RG_EINVALID, "targets[%zu]: unknown key '%s'", i, key);
    }
    v = json_object_get(t, "type");
    if (v != NULL && (!json_is_string(v) || strcmp(json_string_value(v), "Queue") != 0))
        return rg_error_set(RG_EINVALID, "targets[%zu].type: expected \"Queue\"", i);
    v = json_object_get(t, "id");
    if (!json_is_string(v))
        return rg_error_set(RG_EINVALID, "targets[%zu].id: expected a queue id", i);
    if ((q = sim_org_queue_index(org, json_string_value(v))) < 0)
        return rg_error_set(RG_EINVALID, "targets[%zu].id: unknown queue '%s'", i,
                            json_string_value(v));
    if (seen[q]++)
        return rg_error_set(RG_EINVALID, "targets[%zu].id: queue '%s' is targeted twice", i,
                            json_string_value(v));
    v = json_object_get(t, "weight");
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100)
        return rg_error_set(RG_EINVALID, "targets[%zu].weight: expected an integer 0..100", i);
    v = json_object_get(t, "priority");
    if (v != NULL &&
        (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000))
        return rg_error_set(RG_EINVALID, "targets[%zu].priority: expected an integer 0..1000000",
                            i);
    return 0;
}

/* The normalized target list: type, id, weight, priority (default: position). */
static int build_targets(json_t **out, const sim_org *org, json_t *targets)
{
    int *seen = calloc(org->nqueues + 1, sizeof(int));
    json_t *list = json_array(), *t;
    size_t i;
    int rc = 0;

    if (seen == NULL || list == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (!json_is_array(targets) || json_array_size(targets) > 1000) {
        rc = rg_error_set(RG_EINVALID, "targets: expected an array of at most 1000 targets");
        goto cleanup;
    }
    json_array_foreach(targets, i, t)
    {
        json_t *prio = json_object_get(t, "priority");
        if ((rc = check_target(org, t, i, seen)) < 0)
            goto cleanup;
        json_array_append_new(
            list, json_pack("{s:s,s:O,s:O,s:I}", "type", "Queue", "id", json_object_get(t, "id"),
                            "weight", json_object_get(t, "weight"), "priority",
                            prio ? json_integer_value(prio) : (json_int_t)(i + 1)));
    }
    *out = list;
    list = NULL;
cleanup:
    free(seen);
    json_decref(list);
    return rc;
}

static int merge_settings(json_t *settings, json_t *patch)
{
    const char *key;
    json_t *v;

    if (!json_is_object(patch))
        return rg_error_set(RG_EINVALID, "settings: expected an object");
    json_object_foreach(patch, key, v)
    {
        if (strcmp(key, "enabled") != 0 && strcmp(key, "longRunning") != 0)
            return rg_error_set(RG_EINVALID, "settings: unknown key '%s'", key);
        if (!json_is_boolean(v))
            return rg_error_set(RG_EINVALID, "settings.%s: expected true or false", key);
        json_object_set(settings, key, v);
    }
    return 0;
}

static int check_patch_keys(json_t *body, json_t *patch)
{
    const char *key;
    json_t *v;

    if (!json_is_object(patch))
        return rg_error_set(RG_EINVALID, "body: expected a JSON object");
    json_object_foreach(patch, key, v)
    {
        if (strcmp(key, "id") == 0) {
            if (!json_equal(v, json_object_get(body, "id")))
                return rg_error_set(RG_EINVALID, "id: does not match the strategy");
        } else if (strcmp(key, "version") == 0) {
            if (!json_is_integer(v))
                return rg_error_set(RG_EINVALID, "version: expected an integer");
        } else if (strcmp(key, "name") != 0 && strcmp(key, "settings") != 0 &&
                   strcmp(key, "targets") != 0) {
            return rg_error_set(RG_EINVALID, "unknown key '%s'", key);
        }
    }
    v = json_object_get(patch, "name");
    if (v != NULL &&
        (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 256))
        return rg_error_set(RG_EINVALID, "name: expected a string of 1..256 characters");
    return 0;
}

int sim_strategy_build(json_t **out, const sim_org *org, json_t *current, json_t *patch)
{
    json_t *body = json_deep_copy(current), *targets = NULL, *t;
    json_int_t sum = 0;
    size_t i;
    int rc;

    if (body == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if ((rc = check_patch_keys(body, patch)) < 0)
        goto cleanup;
    if (json_object_get(patch, "name"))
        json_object_set(body, "name", json_object_get(patch, "name"));
    if (json_object_get(patch, "settings") &&
        (rc = merge_settings(json_object_get(body, "settings"),
                             json_object_get(patch, "settings"))) < 0)
        goto cleanup;
    if (json_object_get(patch, "targets")) {
        if ((rc = build_targets(&targets, org, json_object_get(patch, "targets"))) < 0)
            goto cleanup;
        json_object_set_new(body, "targets", targets);
    }
    json_array_foreach(json_object_get(body, "targets"), i, t) sum +=
        json_integer_value(json_object_get(t, "weight"));
    if (json_is_true(json_object_get(json_object_get(body, "settings"), "enabled")) && sum == 0) {
        rc = rg_error_set(RG_EINVALID, "targets: an enabled strategy needs a weight above 0");
        goto cleanup;
    }
    *out = body;
    body = NULL;
cleanup:
    json_decref(body);
    return rc;
}

static void compute_etag(sim_strategy *s, const sim_org *org)
{
    char *dump = json_dumps(s->body, JSON_COMPACT | JSON_SORT_KEYS);
    rg_buf text = RG_BUF_INIT;
    char hex[65];

    rg_buf_printf(&text, "%s\n%s\n%lld\n%s", org->id, s->id, (long long)s->version,
                  dump ? dump : "");
    rg_sha256_hex(hex, text.ptr ? text.ptr : "", text.len);
    snprintf(s->etag, sizeof(s->etag), "\"%.24s\"", hex);
    rg_buf_dispose(&text);
    free(dump);
}

static int push_history(sim_strategy *s, const sim_org *org, int64_t at_ms, const char *source)
{
    sim_weights *w;
    size_t i;
    json_t *t;

    if (s->nhistory == s->caphistory) {
        size_t cap = s->caphistory ? s->caphistory * 2 : 4;
        sim_weights *grown = realloc(s->history, cap * sizeof(*grown));
        if (grown == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        s->history = grown;
        s->caphistory = cap;
    }
    w = &s->history[s->nhistory];
    if ((w->weight = calloc(org->nqueues + 1, sizeof(int))) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    w->at_ms = at_ms;
    w->source = source;
    json_array_foreach(json_object_get(s->body, "targets"), i, t)
    {
        int q = sim_org_queue_index(org, json_string_value(json_object_get(t, "id")));
        if (q >= 0)
            w->weight[q] = (int)json_integer_value(json_object_get(t, "weight"));
    }
    s->nhistory++;
    return 0;
}

int sim_strategy_init(sim_strategy *s, const sim_org *org, json_t *body, int64_t at_ms,
                      const char *source)
{
    s->body = body;
    s->version = json_integer_value(json_object_get(body, "version"));
    compute_etag(s, org);
    return push_history(s, org, at_ms, source);
}

int sim_strategy_patch(sim_org *org, sim_strategy *s, json_t *patch, const char *source,
                       int64_t now_ms)
{
    json_t *body = NULL, *old;
    int64_t old_version = s->version;
    char old_etag[sizeof(s->etag)];
    int rc;

    if ((rc = sim_strategy_build(&body, org, s->body, patch)) < 0)
        return rc;
    json_object_set_new(body, "version", json_integer(s->version + 1));
    old = s->body;
    memcpy(old_etag, s->etag, sizeof(old_etag));
    s->body = body;
    s->version++;
    compute_etag(s, org);
    if (s->nhistory > 0 && s->history[s->nhistory - 1].at_ms > now_ms)
        now_ms = s->history[s->nhistory - 1].at_ms;
    if ((rc = push_history(s, org, now_ms, source)) < 0) {
        s->body = old;
        s->version = old_version;
        memcpy(s->etag, old_etag, sizeof(old_etag));
        json_decref(body);
        return rc;
    }
    json_decref(old);
    return 0;
}

void sim_strategy_dispose(sim_strategy *s)
{
    for (size_t i = 0; i < s->nhistory; i++)
        free(s->history[i].weight);
    free(s->history);
    json_decref(s->body);
    free(s->id);
    memset(s, 0, sizeof(*s));
}

void sim_counts_add(sim_status_count *counts, size_t *ncounts, int status)
{
    for (size_t i = 0; i < *ncounts; i++) {
        if (counts[i].status == status) {
            counts[i].count++;
            return;
        }
    }
    if (*ncounts < 32) {
        counts[*ncounts].status = status;
        counts[*ncounts].count = 1;
        (*ncounts)++;
    }
}

void sim_org_count_status(sim_org *org, int status)
{
    sim_counts_add(org->counts, &org->ncounts, status);
}
