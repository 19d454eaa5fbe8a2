/* plan.c - the live plan: pre-flight against the platform and a per-organization diff of the
 * live strategy against the rendered template; writes nothing anywhere */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "rollgate/body.h"
#include "rollgate/util.h"

typedef struct {
    const rg_resolved_target *target;
    rg_platform_op *org;
    rg_platform_op *strategy;
    rg_platform_op **queues;
    const char **queue_ids;
    size_t nqueues;
    rg_platform_op *obs;
    int credentials_ok;
    char credentials_error[512];
} plan_item;

static int add_change(json_t *diff, const char *path, const char *change, const json_t *from,
                      const json_t *to)
{
    json_t *c = json_pack("{s:s, s:s}", "path", path, "change", change);
    if (c == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if (from)
        json_object_set(c, "from", (json_t *)from);
    if (to)
        json_object_set(c, "to", (json_t *)to);
    return json_array_append_new(diff, c);
}

static const json_t *find_target(const json_t *targets, const char *id)
{
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t) if (id && json_string_value(json_object_get(t, "id")) &&
                                          strcmp(json_string_value(json_object_get(t, "id")), id) ==
                                              0) return t;
    return NULL;
}

/* Targets are compared by queue id: added, removed, or each key modified / unchanged. */
static void diff_targets(json_t *diff, const json_t *live, const json_t *want)
{
    size_t i;
    json_t *t;
    char path[300];

    json_array_foreach(want, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        const json_t *old = find_target(live, id);
        const char *key;
        json_t *v;
        if (old == NULL) {
            snprintf(path, sizeof(path), "targets[%s]", id ? id : "?");
            add_change(diff, path, "added", NULL, t);
            continue;
        }
        json_object_foreach(t, key, v)
        {
            const json_t *ov = json_object_get(old, key);
            snprintf(path, sizeof(path), "targets[%s].%s", id, key);
            add_change(diff, path, json_equal(ov, v) ? "unchanged" : "modified", ov, v);
        }
    }
    json_array_foreach(live, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        if (find_target(want, id) == NULL) {
            snprintf(path, sizeof(path), "targets[%s]", id ? id : "?");
            add_change(diff, path, "removed", t, NULL);
        }
    }
}

static json_t *diff_bodies(const json_t *live, const json_t *patch)
{
    json_t *diff = json_array(), *v;
    const char *key;

    json_object_foreach((json_t *)patch, key, v)
    {
        const json_t *old = json_object_get(live, key);
        if (strcmp(key, "targets") == 0) {
            diff_targets(diff, json_object_get(live, "targets"), v);
        } else if (json_is_object(v)) {
            const char *k;
            json_t *sv;
            json_object_foreach(v, k, sv)
            {
                char path[300];
                const json_t *ov = json_object_get(old, k);
                snprintf(path, sizeof(path), "%s.%s", key, k);
                add_change(diff, path,
                           ov == NULL           ? "added"
                           : json_equal(ov, sv) ? "unchanged"
                                                : "modified",
                           ov, sv);
            }
        } else {
            add_change(diff, key,
                       old == NULL          ? "added"
                       : json_equal(old, v) ? "unchanged"
                                            : "modified",
                       old, v);
        }
    }
    return diff;
}

static void finding(json_t *findings, const char *org, const char *severity, const char *what)
{
    json_array_append_new(
        findings, json_pack("{s:s, s:s, s:s}", "org", org, "severity", severity, "what", what));
}

static int queue_items(plan_item *items, size_t n, rg_platform *pf, const rg_manifest *m)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        plan_item *it = &items[i];
        const json_t *targets = json_object_get(it->target->body, "targets");
        size_t k = 0, j;
        json_t *t;
        if (!it->credentials_ok)
            continue;
        it->queue_ids = calloc(json_array_size(targets) + 1, sizeof(char *));
        it->queues = calloc(json_array_size(targets) + 1, sizeof(rg_platform_op *));
        if (it->queue_ids == NULL || it->queues == NULL)
            return rg_error_set(RG_ENOMEM, "out of memory");
        if ((rc = rg_platform_queue_org_check(&it->org, pf, it->target->org, NULL, NULL)) < 0 ||
            (rc = rg_platform_queue_strategy_get(&it->strategy, pf, it->target->org, m->strategy,
                                                 NULL, NULL)) < 0)
            break;
        json_array_foreach(targets, j, t)
        {
            const char *q = json_string_value(json_object_get(t, "id"));
            if (q == NULL)
                continue;
            it->queue_ids[k] = q;
            rc = rg_platform_queue_queue_get(&it->queues[k], pf, it->target->org, q, NULL, NULL);
            k++;
        }
        it->nqueues = k;
        if (rc == 0 && k)
            rc = rg_platform_queue_observations(&it->obs, pf, it->target->org, it->queue_ids, k,
                                                NULL, NULL);
    }
    return rc;
}

/* The first of an org's calls that got no HTTP answer at all, or NULL. One is enough: the
 * others failed for the same reason, and the org is reported once. */
static const rg_platform_op *unreachable_op(const plan_item *it)
{
    if (rg_platform_op_unreachable(it->org))
        return it->org;
    if (rg_platform_op_unreachable(it->strategy))
        return it->strategy;
    for (size_t k = 0; k < it->nqueues; k++)
        if (rg_platform_op_unreachable(it->queues[k]))
            return it->queues[k];
    if (rg_platform_op_unreachable(it->obs))
        return it->obs;
    return NULL;
}

static json_t *item_json(plan_item *it, json_t *findings, json_t *unreachable, int *blocked)
{
    const rg_resolved_target *t = it->target;
    json_t *doc = json_pack("{s:I, s:s, s:s, s:i, s:I, s:O}", "seq", (json_int_t)t->seq, "org",
                            t->org, "group", t->group, "tier", t->tier, "stage",
                            (json_int_t)t->stage, "body", t->body);
    const rg_platform_observation *obs = NULL;
    size_t nobs = 0;
    char what[768];

    if (!it->credentials_ok) {
        finding(findings, t->org, "blocker", it->credentials_error);
        *blocked = 1;
        return doc;
    }
    if (unreachable_op(it) != NULL) {
        const char *why = rg_platform_op_error(unreachable_op(it));
        finding(findings, t->org, "blocker", why);
        json_array_append_new(unreachable, json_pack("{s:s, s:s}", "org", t->org, "error", why));
        *blocked = 1;
        return doc;
    }
    if (rg_platform_op_status(it->org) < 0) {
        /* The organization is unreachable: its other calls failed for the same reason. */
        finding(findings, t->org, "blocker", rg_platform_op_error(it->org));
        *blocked = 1;
        return doc;
    }
    if (rg_platform_op_status(it->strategy) < 0) {
        finding(findings, t->org, "blocker", rg_platform_op_error(it->strategy));
        *blocked = 1;
    } else {
        json_t *patch = NULL;
        const json_t *live = rg_platform_op_body(it->strategy);
        json_object_set_new(doc, "live_etag", json_string(rg_platform_op_etag(it->strategy)));
        if (rg_body_desired_patch(&patch, live, t->body) == 0)
            json_object_set_new(doc, "diff", diff_bodies(live, patch));
        json_decref(patch);
    }
    if (it->obs && rg_platform_op_status(it->obs) == 0)
        obs = rg_platform_op_observations(it->obs, &nobs);
    for (size_t k = 0; k < it->nqueues; k++) {
        int st = rg_platform_op_status(it->queues[k]);
        if (st == RG_ENOTFOUND) {
            snprintf(what, sizeof(what), "queue %s does not exist in this organization",
                     it->queue_ids[k]);
            finding(findings, t->org, "blocker", what);
            *blocked = 1;
        } else if (st < 0) {
            finding(findings, t->org, "blocker", rg_platform_op_error(it->queues[k]));
            *blocked = 1;
        } else if (obs && k < nobs && obs[k].on_queue == 0) {
            snprintf(what, sizeof(what), "queue %s has no agents on queue", it->queue_ids[k]);
            finding(findings, t->org, "warning", what);
        }
    }
    return doc;
}

int rg_engine_plan(json_t **out, const rg_manifest *manifest, const char *base_dir,
                   const rg_platform_options *popts)
{
    rg_resolution *res = NULL;
    rg_platform *pf = NULL;
    plan_item *items = NULL;
    json_t *targets = json_array(), *findings = json_array(), *unreachable = json_array();
    rg_platform_options opts;
    rg_buf cred = RG_BUF_INIT;
    int rc, blocked = 0;

    if (popts)
        opts = *popts;
    else
        rg_platform_options_init(&opts);
    opts.insecure = manifest->platform.insecure;
    rg_engine__analytics_options(&opts, manifest);
    if ((rc = rg_manifest_resolve(&res, manifest)) < 0 || (rc = rg_platform_new(&pf, &opts)) < 0)
        goto cleanup;
    if ((items = calloc(res->count + 1, sizeof(*items))) == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (manifest->platform.credentials == RG_CREDENTIALS_FILE)
        rg_buf_printf(&cred, "file:%s%s%s",
                      base_dir && manifest->platform.credentials_path[0] != '/' ? base_dir : "",
                      base_dir && manifest->platform.credentials_path[0] != '/' ? "/" : "",
                      manifest->platform.credentials_path);
    else
        rg_buf_puts(&cred, "env");
    rg_platform_credentials_begin(pf);
    for (size_t i = 0; i < res->count; i++) {
        rg_platform_org org = {res->targets[i].org, res->targets[i].api_url,
                               res->targets[i].login_url, rg_buf_cstr(&cred)};
        items[i].target = &res->targets[i];
        items[i].credentials_ok =
            rg_platform_has_org(pf, org.id) || rg_platform_add_org(pf, &org) == 0;
        if (!items[i].credentials_ok)
            snprintf(items[i].credentials_error, sizeof(items[i].credentials_error), "%s",
                     rg_error_last());
    }
    rg_platform_credentials_end(pf);
    if (manifest->resource.kind == RG_RESOURCE_DATATABLE_ROW) {
        /* rows: each org's pre-flight and diff in turn (no strategy is read) */
        for (size_t i = 0; i < res->count; i++)
            json_array_append_new(
                targets,
                rg_engine__plan_row(pf, manifest, &res->targets[i],
                                    items[i].credentials_ok ? NULL : items[i].credentials_error,
                                    findings, unreachable, &blocked));
    } else if (manifest->resource.kind == RG_RESOURCE_VERSIONED) {
        for (size_t i = 0; i < res->count; i++)
            json_array_append_new(targets,
                                  rg_engine__plan_versioned(
                                      pf, manifest, &res->targets[i],
                                      items[i].credentials_ok ? NULL : items[i].credentials_error,
                                      findings, unreachable, &blocked));
    } else {
        if ((rc = queue_items(items, res->count, pf, manifest)) < 0 ||
            (rc = rg_platform_run(pf)) < 0)
            goto cleanup;
        for (size_t i = 0; i < res->count; i++)
            json_array_append_new(targets, item_json(&items[i], findings, unreachable, &blocked));
    }
    *out = json_pack("{s:s, s:s, s:s, s:s, s:b, s:O, s:O, s:O}", "name", manifest->name, "tenant",
                     manifest->tenant, "resource", rg_resource_kind_name(manifest->resource.kind),
                     "strategy", manifest->strategy, "blocked", blocked, "findings", findings,
                     "targets", targets, "unreachable", unreachable);
    if (*out == NULL)
        rc = rg_error_set(RG_ENOMEM, "out of memory");
cleanup:
    for (size_t i = 0; items && res && i < res->count; i++) {
        rg_platform_op_free(items[i].org);
        rg_platform_op_free(items[i].strategy);
        rg_platform_op_free(items[i].obs);
        for (size_t k = 0; k < items[i].nqueues; k++)
            rg_platform_op_free(items[i].queues[k]);
        free(items[i].queues);
        free(items[i].queue_ids);
    }
    free(items);
    rg_buf_dispose(&cred);
    rg_platform_free(pf);
    rg_resolution_free(res);
    json_decref(targets);
    json_decref(findings);
    json_decref(unreachable);
    return rc;
}
