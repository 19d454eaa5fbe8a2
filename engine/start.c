/* start.c - creating a rollout: the normalised manifest, its policy and ordered targets */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine_private.h"
#include "engine/planner.h"
#include "rollgate/util.h"

/* The analytics metrics the platform client parses (docs/platform-api.md). */
static int metric_known(const char *name)
{
    static const char *const known[] = {"nOffered", "tAbandon", "tAnswered", "tHandle", NULL};
    for (size_t i = 0; name && known[i]; i++)
        if (strcmp(name, known[i]) == 0)
            return 1;
    return 0;
}

static int check_policy(const rg_policy *p)
{
    for (size_t i = 0; i < p->metrics_count; i++) {
        const rg_policy_metric *m = &p->metrics[i];
        const char *a = m->kind == RG_METRIC_PROPORTION ? m->events : m->source;
        const char *b = m->kind == RG_METRIC_PROPORTION ? m->trials : "nOffered";
        if (!metric_known(a) || !metric_known(b))
            return rg_error_set(RG_EINVALID,
                                "policy metrics[%zu] (%s): the platform metrics it reads must be "
                                "nOffered, tAbandon, tAnswered or tHandle",
                                i, m->name);
    }
    if (p->poll_interval_ms <= 0 || p->soak_limit_ms < p->poll_interval_ms)
        return rg_error_set(RG_EINVALID, "policy: soak_limit must hold at least one poll");
    return 0;
}

/* A relative file: credentials path is pinned to where the manifest was given. */
static int pin_credentials(json_t *manifest_json, const rg_manifest *m, const char *base_dir)
{
    json_t *platform = json_object_get(manifest_json, "platform");
    char cwd[PATH_MAX];
    rg_buf path = RG_BUF_INIT;
    int rc;

    if (m->platform.credentials != RG_CREDENTIALS_FILE || m->platform.credentials_path[0] == '/')
        return 0;
    if (base_dir == NULL) {
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return rg_error_set(RG_EIO, "cannot read the working directory");
        base_dir = cwd;
    }
    rc = rg_buf_printf(&path, "file:%s/%s", base_dir, m->platform.credentials_path);
    if (rc == 0 && json_object_set_new(platform, "credentials", json_string(path.ptr)) < 0)
        rc = rg_error_set(RG_ENOMEM, "out of memory");
    rg_buf_dispose(&path);
    return rc;
}

/* The rollout claims what it changes in an org, so two active rollouts never write the
 * same platform object. The key is "<kind>:<id>" so other kinds of change fit beside. */
static int claim(rg_engine *e, const char *tenant, const char *id, const char *org,
                 const rg_manifest *m)
{
    char resource[512];
    int rc;

    /* "datatable_row:<table>/<row>" and "versioned:<path>" beside "strategy:<id>" */
    snprintf(resource, sizeof(resource), "%s:%s",
             m->resource.kind == RG_RESOURCE_DATATABLE_ROW ? "datatable_row"
             : m->resource.kind == RG_RESOURCE_VERSIONED   ? "versioned"
                                                           : "strategy",
             m->strategy);
    rc = rg_store_claim(e->store, tenant, id, org, resource);
    if (rc == RG_ECLAIMED)
        rg_error_prefix("cannot start");
    return rc;
}

/* The targets of the rollout `rollout` (just inserted), with their claims. The strings the
 * resolution borrows from the manifest are const; rg_store_target_insert takes the row type
 * that reads fill, hence the casts (a const _in type would be the store's change). */
static int insert_targets(rg_engine *e, const rg_store_rollout *rollout, const rg_manifest *m,
                          const rg_resolution *res)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < res->count; i++) {
        const rg_resolved_target *r = &res->targets[i];
        rg_store_target t = {0};
        t.rollout_id = rollout->id;
        t.tenant_id = rollout->tenant_id;
        t.seq = (int64_t)r->seq;
        t.org_id = (char *)r->org;
        t.group_name = (char *)r->group;
        t.tier = r->tier;
        t.stage_index = (int)r->stage;
        t.strategy_id = m->strategy;
        t.api_url = (char *)r->api_url;
        t.login_url = (char *)r->login_url;
        t.state = RG_TARGET_PENDING;
        rc = rg_store_target_insert(e->store, &t);
        if (rc == 0)
            rc = claim(e, rollout->tenant_id, rollout->id, r->org, m);
    }
    return rc;
}

int rg_engine_start(char out_id[RG_STORE_ROLLOUT_ID_LEN], rg_engine *engine,
                    const rg_manifest *manifest, const char *base_dir, const char *actor,
                    int approve)
{
    return rg_engine_start_forced(out_id, engine, manifest, base_dir, actor, approve, NULL);
}

/* An environment's requirements, checked in the start's transaction. Unmet with a reason
 * given: *out_refusal holds why, and the start goes on (recorded and audited). */
static int check_environment(char **out_refusal, rg_engine *engine, const rg_manifest *m,
                             const char *force_reason)
{
    int rc;

    if (m->environment == NULL)
        return 0;
    rc = rg_engine__check_environment(engine, m, m->environment);
    if (rc != RG_ECONFLICT || force_reason == NULL)
        return rc;
    if ((*out_refusal = rg_strdup(rg_error_last())) == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    rg_error_clear();
    return 0;
}

int rg_engine_start_forced(char out_id[RG_STORE_ROLLOUT_ID_LEN], rg_engine *engine,
                           const rg_manifest *manifest, const char *base_dir, const char *actor,
                           int approve, const char *force_reason)
{
    return rg_engine__start_linked(out_id, engine, manifest, base_dir, actor, approve, force_reason,
                                   NULL);
}

/* A retry's link, in the new rollout's book and in the old one's audit (retry.c). */
static int link_retry(rg_engine *engine, const rg_manifest *m, const char *id, const char *retry_of,
                      const char *actor, char **out_book)
{
    json_t *book = json_pack("{s:s}", "retry_of", retry_of);

    if (book == NULL || (*out_book = json_dumps(book, JSON_COMPACT)) == NULL) {
        json_decref(book);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    json_decref(book);
    return rg_engine__audit(engine, m->tenant, retry_of, actor, "retry", NULL,
                            "retried as a new rollout", json_pack("{s:s}", "retried_as", id));
}

/* The planner's numbers at start (planner.c, read before the transaction) into the book as
 * "planner" (the book takes a reference), for status and the console; *io_book is the retry
 * link's book or NULL. The start's audit gets a summary. */
static int record_planner(char **io_book, json_t **out_summary, json_t *planner)
{
    json_t *book = *io_book ? json_loads(*io_book, 0, NULL) : json_object();
    char *text = NULL;

    if (book == NULL || json_object_set(book, "planner", planner) < 0 ||
        (text = json_dumps(book, JSON_COMPACT)) == NULL) {
        json_decref(book);
        return rg_error_set(RG_ENOMEM, "out of memory");
    }
    json_decref(book);
    free(*io_book);
    *io_book = text;
    *out_summary = json_object_get(planner, "error")
                       ? json_pack("{s:O}", "error", json_object_get(planner, "error"))
                       : json_pack("{s:O?, s:O?, s:O?}", "analytics_minutes",
                                   json_object_get(planner, "analytics_minutes"), "cannot_decide",
                                   json_object_get(planner, "cannot_decide"), "warnings",
                                   json_object_get(planner, "warnings"));
    return *out_summary ? 0 : rg_error_set(RG_ENOMEM, "out of memory");
}

int rg_engine__start_linked(char out_id[RG_STORE_ROLLOUT_ID_LEN], rg_engine *engine,
                            const rg_manifest *manifest, const char *base_dir, const char *actor,
                            int approve, const char *force_reason, const char *retry_of)
{
    rg_store_rollout row = {0};
    rg_resolution *res = NULL;
    json_t *mjson = NULL, *pjson = NULL, *sized = NULL, *planner = NULL, *planned = NULL;
    char id[RG_STORE_ROLLOUT_ID_LEN];
    char *mtext = NULL, *ptext = NULL;
    char *refusal = NULL, *book = NULL;
    /* A first stage with approval: required waits for approval as the rollout does. */
    int rc, running = approve || (manifest->approval == RG_APPROVAL_NONE &&
                                  !manifest->stages[0].approval_required);
    int64_t now = rg_time_now_ms();

    if ((rc = check_policy(manifest->policy)) < 0 ||
        (rc = rg_manifest_resolve(&res, manifest)) < 0 ||
        /* traffic-sized stages are resolved once, here: the targets keep their stage */
        (rc = rg_engine__size_stages(&sized, &planner, engine, res, manifest, base_dir,
                                     manifest->tenant, now)) < 0 ||
        (rc = rg_manifest_to_json(&mjson, manifest)) < 0 ||
        (rc = pin_credentials(mjson, manifest, base_dir)) < 0 ||
        (rc = rg_policy_to_json(&pjson, manifest->policy)) < 0 ||
        (rc = rg_store_rollout_id_new(id)) < 0 ||
        /* outside the transaction; an analytics failure is recorded, never the start's */
        (planner == NULL && (rc = rg_engine__plan_at_start(&planner, engine, manifest, base_dir,
                                                           manifest->tenant, now)) < 0))
        goto cleanup;
    mtext = json_dumps(mjson, JSON_COMPACT);
    ptext = json_dumps(pjson, JSON_COMPACT);
    if (mtext == NULL || ptext == NULL) {
        rc = rg_error_set(RG_ENOMEM, "out of memory");
        goto cleanup;
    }
    row.id = id;
    row.tenant_id = manifest->tenant;
    row.name = manifest->name;
    row.manifest = mtext;
    row.policy = ptext;
    row.state = running ? RG_ROLLOUT_RUNNING : RG_ROLLOUT_AWAITING_APPROVAL;
    row.stage_count = (int)manifest->stages_count;
    /* borrowed for the insert; the row type is the one reads fill (see insert_targets) */
    row.created_by = (char *)actor;
    row.stage_started_at_ms = running ? now : 0;
    row.baseline = "{}";
    row.digest = (char *)manifest->digest;
    row.environment = manifest->environment;
    if (force_reason != NULL && *force_reason == '\0') {
        rc = rg_error_set(RG_EINVALID, "--force needs a reason");
        goto cleanup;
    }
    if ((rc = rg_store_begin(engine->store)) < 0)
        goto cleanup;
    if ((rc = rg_store_tenant_ensure(engine->store, manifest->tenant, manifest->tenant)) < 0 ||
        (rc = check_environment(&refusal, engine, manifest, force_reason)) < 0) {
        rg_store_rollback(engine->store);
        goto cleanup;
    }
    row.forced_reason = refusal ? (char *)force_reason : NULL;
    if (retry_of && (rc = link_retry(engine, manifest, id, retry_of, actor, &book)) < 0) {
        rg_store_rollback(engine->store);
        goto cleanup;
    }
    if ((rc = record_planner(&book, &planned, planner)) < 0) {
        rg_store_rollback(engine->store);
        goto cleanup;
    }
    row.baseline = book;
    if ((rc = rg_store_rollout_insert(engine->store, &row)) < 0 ||
        (refusal &&
         (rc = rg_engine__audit(engine, manifest->tenant, id, actor, "force_environment",
                                force_reason, "started although the requirements were not met",
                                json_pack("{s:s, s:s, s:s}", "environment", manifest->environment,
                                          "digest", manifest->digest, "refusal", refusal))) < 0) ||
        (rc = insert_targets(engine, &row, manifest, res)) < 0 ||
        (rc = rg_engine__audit(engine, manifest->tenant, id, actor, "start", NULL,
                               running ? "running" : "awaiting_approval",
                               json_pack("{s:i, s:b, s:s, s:s?, s:b, s:s?, s:O?, s:O}", "targets",
                                         (int)res->count, "approved", running, "digest",
                                         manifest->digest, "environment", manifest->environment,
                                         "forced", refusal != NULL, "retry_of", retry_of,
                                         "sized_stages", sized, "planner", planned))) < 0 ||
        (rc = rg_store_commit(engine->store)) < 0) {
        rg_store_rollback(engine->store);
        goto cleanup;
    }
    memcpy(out_id, id, sizeof(id));
cleanup:
    rg_resolution_free(res);
    json_decref(sized);
    json_decref(planner);
    json_decref(planned);
    json_decref(mjson);
    json_decref(pjson);
    free(mtext);
    free(ptext);
    free(refusal);
    free(book);
    return rc;
}
