/* manifest_json.c - a manifest as normalised JSON for storage, and manifest equality */
#include <stdlib.h>
#include <string.h>

#include "config/manifest_internal.h"
#include "rollgate/util.h"

static json_t *string_array(char **list, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, json_string(list[i]))) {
            json_decref(arr);
            return NULL;
        }
    return arr;
}

static json_t *platform_json(const rg_manifest_platform *p)
{
    rg_buf cred = RG_BUF_INIT;
    json_t *obj;

    if (p->credentials == RG_CREDENTIALS_FILE)
        rg_buf_printf(&cred, "file:%s", p->credentials_path);
    else
        rg_buf_puts(&cred, "env");
    obj = json_pack("{s:s, s:s, s:s, s:s, s:b}", "driver", p->driver, "api_url", p->api_url,
                    "login_url", p->login_url, "credentials", rg_buf_cstr(&cred), "insecure",
                    p->insecure);
    if (obj != NULL && p->cxone_descriptor != NULL) {
        int own = strcmp(p->driver, "cxone") == 0;
        json_t *cx =
            own ? obj
                : json_pack("{s:s,s:s}", "api_url", p->cxone_url, "login_url", p->cxone_login_url);
        json_object_set_new(cx, "api_version", json_string(p->api_version));
        json_object_set_new(cx, "rate_budget", json_integer(p->rate_budget));
        json_object_set_new(cx, "weight_field", json_string(p->weight_field));
        if (p->weight_store != NULL)
            json_object_set_new(cx, "weight_store", json_string(p->weight_store));
        if (!own)
            json_object_set_new(obj, "cxone", cx);
    }
    rg_buf_dispose(&cred);
    return obj;
}

json_t *rg_manifest__group_json(const rg_manifest_group *g)
{
    json_t *orgs = json_array(), *vars = json_object(), *obj = NULL;

    for (size_t i = 0; orgs && i < g->orgs_count; i++) {
        const rg_manifest_org *o = &g->orgs[i];
        json_t *org = json_pack("{s:s}", "id", o->id);
        if (org == NULL ||
            (o->api_url && json_object_set_new(org, "api_url", json_string(o->api_url))) ||
            (o->login_url && json_object_set_new(org, "login_url", json_string(o->login_url))) ||
            (o->cxone && json_object_set_new(org, "driver", json_string("cxone"))) ||
            json_array_append_new(orgs, org))
            goto fail;
    }
    for (size_t i = 0; vars && i < g->vars_count; i++)
        if (json_object_set_new(vars, g->vars[i].name, json_string(g->vars[i].value)))
            goto fail;
    if (orgs == NULL || vars == NULL)
        goto fail;
    obj = json_pack("{s:s, s:o, s:o, s:o}", "name", g->name, "depends_on",
                    string_array(g->depends_on, g->depends_on_count), "orgs", orgs, "vars", vars);
    return obj;
fail:
    json_decref(orgs);
    json_decref(vars);
    return NULL;
}

static json_t *notify_json(const rg_manifest_notify *n)
{
    rg_buf secret = RG_BUF_INIT;
    json_t *obj;

    rg_buf_printf(&secret, "env:%s", n->secret_env);
    obj = json_pack("{s:s, s:o, s:s}", "url", n->url, "events",
                    string_array(n->events, n->events_count), "secret", rg_buf_cstr(&secret));
    rg_buf_dispose(&secret);
    return obj;
}

static json_t *lists_json(const rg_manifest *m, json_t **groups, json_t **notify)
{
    json_t *stages = json_array();

    *groups = json_array();
    *notify = json_array();
    for (size_t i = 0; stages && i < m->stages_count; i++)
        if (json_array_append_new(stages, rg_manifest__stage_json(&m->stages[i])))
            goto fail;
    for (size_t i = 0; *groups && i < m->groups_count; i++)
        if (json_array_append_new(*groups, rg_manifest__group_json(&m->groups[i])))
            goto fail;
    for (size_t i = 0; *notify && i < m->notify_count; i++)
        if (json_array_append_new(*notify, notify_json(&m->notify[i])))
            goto fail;
    if (stages && *groups && *notify)
        return stages;
fail:
    json_decref(stages);
    json_decref(*groups);
    json_decref(*notify);
    return NULL;
}

int rg_manifest_to_json(json_t **out, const rg_manifest *m)
{
    json_t *policy = NULL, *stages, *groups = NULL, *notify = NULL, *obj;
    int rc;

    if (out == NULL || m == NULL)
        return rg_error_set(RG_EINVALID, "rg_manifest_to_json: invalid arguments");
    if ((rc = rg_policy_to_json(&policy, m->policy)) < 0)
        return rc;
    if ((stages = lists_json(m, &groups, &notify)) == NULL) {
        json_decref(policy);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    obj = json_pack(
        "{s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o}", "name", m->name, "tenant", m->tenant,
        "policy", policy, "stages", stages, "approval", rg_approval_name(m->approval), "platform",
        platform_json(&m->platform), "groups", groups, "change",
        rg_manifest__change_json(m, string_array(m->watch_queues, m->watch_queues_count)), "notify",
        notify);
    if (obj == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory building the manifest JSON");
    if ((rc = rg_manifest__gates_json(obj, m)) < 0) {
        json_decref(obj);
        return rc;
    }
    if (m->has_holdout && json_object_set_new(obj, "holdout", json_real(m->holdout))) {
        json_decref(obj);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    if ((rc = rg_manifest__environments_json(obj, m)) < 0) {
        json_decref(obj);
        return rc;
    }
    *out = obj;
    return 0;
}

static int str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static int strings_eq(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i], b[i]))
            return 0;
    return 1;
}

int rg_manifest__group_equal(const rg_manifest_group *a, const rg_manifest_group *b)
{
    if (!str_eq(a->name, b->name) || a->tier != b->tier || a->orgs_count != b->orgs_count ||
        a->vars_count != b->vars_count ||
        !strings_eq(a->depends_on, a->depends_on_count, b->depends_on, b->depends_on_count))
        return 0;
    for (size_t i = 0; i < a->orgs_count; i++)
        if (!str_eq(a->orgs[i].id, b->orgs[i].id) ||
            !str_eq(a->orgs[i].api_url, b->orgs[i].api_url) ||
            !str_eq(a->orgs[i].login_url, b->orgs[i].login_url) ||
            a->orgs[i].cxone != b->orgs[i].cxone)
            return 0;
    for (size_t i = 0; i < a->vars_count; i++)
        if (!str_eq(a->vars[i].name, b->vars[i].name) ||
            !str_eq(a->vars[i].value, b->vars[i].value))
            return 0;
    return 1;
}

static int platform_equal(const rg_manifest_platform *a, const rg_manifest_platform *b)
{
    return str_eq(a->driver, b->driver) && str_eq(a->api_url, b->api_url) &&
           str_eq(a->login_url, b->login_url) && a->credentials == b->credentials &&
           str_eq(a->credentials_path, b->credentials_path) && a->insecure == b->insecure &&
           str_eq(a->cxone_descriptor, b->cxone_descriptor) &&
           str_eq(a->cxone_login_url, b->cxone_login_url);
}

static int lists_equal(const rg_manifest *a, const rg_manifest *b)
{
    for (size_t i = 0; i < a->stages_count; i++)
        if (a->stages[i].percent != b->stages[i].percent ||
            a->stages[i].approval_required != b->stages[i].approval_required ||
            a->stages[i].pause != b->stages[i].pause ||
            a->stages[i].min_offered != b->stages[i].min_offered)
            return 0;
    for (size_t i = 0; i < a->groups_count; i++)
        if (!rg_manifest__group_equal(&a->groups[i], &b->groups[i]))
            return 0;
    for (size_t i = 0; i < a->targets_count; i++)
        if (!str_eq(a->targets[i].type, b->targets[i].type) ||
            !str_eq(a->targets[i].id, b->targets[i].id) ||
            a->targets[i].weight != b->targets[i].weight ||
            a->targets[i].priority != b->targets[i].priority)
            return 0;
    for (size_t i = 0; i < a->notify_count; i++)
        if (!str_eq(a->notify[i].url, b->notify[i].url) ||
            !str_eq(a->notify[i].secret_env, b->notify[i].secret_env) ||
            !strings_eq(a->notify[i].events, a->notify[i].events_count, b->notify[i].events,
                        b->notify[i].events_count))
            return 0;
    return 1;
}

/* policy_ref is provenance (a name, a path, or embedded) and is not compared. */
int rg_manifest_equal(const rg_manifest *a, const rg_manifest *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return str_eq(a->name, b->name) && str_eq(a->tenant, b->tenant) &&
           rg_policy_equal(a->policy, b->policy) && a->stages_count == b->stages_count &&
           a->approval == b->approval && platform_equal(&a->platform, &b->platform) &&
           a->groups_count == b->groups_count && str_eq(a->strategy, b->strategy) &&
           rg_manifest__resource_equal(a, b) &&
           strings_eq(a->watch_queues, a->watch_queues_count, b->watch_queues,
                      b->watch_queues_count) &&
           json_equal(a->template_json, b->template_json) && a->targets_count == b->targets_count &&
           a->notify_count == b->notify_count && a->has_holdout == b->has_holdout &&
           (!a->has_holdout || a->holdout == b->holdout) && lists_equal(a, b) &&
           rg_manifest__environments_equal(a, b) && rg_manifest__gates_equal(a, b);
}
