/* promotion.c - environments: what an environment requires of an artifact, starting the next
 * environment from the recorded artifact, and an artifact's path through the environments */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "rollgate/util.h"

static json_t *time_json(int64_t ms)
{
    char buf[RG_TIME_ISO_LEN];
    if (ms == 0)
        return json_null();
    rg_time_format(buf, ms);
    return json_string(buf);
}

/* Whether environment `req` completed one of `runs` (the rollouts of one digest) within
 * max_age: 1, else 0 with why not in `why`. */
static int requirement_met(rg_buf *why, rg_engine *engine, const char *tenant, const char *req,
                           int64_t max_age_ms, const rg_store_rollouts *runs, int64_t now)
{
    const rg_store_rollout *newest = NULL;
    rg_store_rollout last = {0};
    rg_buf age = RG_BUF_INIT;

    for (size_t i = 0; i < runs->count; i++) {
        const rg_store_rollout *r = &runs->items[i];
        if (r->environment == NULL || strcmp(r->environment, req) != 0)
            continue;
        if (r->state == RG_ROLLOUT_COMPLETED &&
            (max_age_ms == 0 || now - r->updated_at_ms <= max_age_ms))
            return 1;
        newest = r;
    }
    if (newest && newest->state == RG_ROLLOUT_COMPLETED) {
        rg_format_duration(&age, max_age_ms);
        rg_buf_printf(why, "%s rollout %s completed longer ago than max_age %s", req, newest->id,
                      rg_buf_cstr(&age));
    } else if (newest) {
        rg_buf_printf(why, "%s rollout %s is %s", req, newest->id,
                      rg_rollout_state_to_str(newest->state));
    } else if (rg_store_rollout_last_in_environment(&last, engine->store, tenant, req) == 0) {
        rg_buf_printf(why, "no %s rollout of this digest; the last %s rollout %s ran %s (%s)", req,
                      req, last.id, last.digest ? last.digest : "no recorded digest",
                      rg_rollout_state_to_str(last.state));
    } else {
        rg_error_clear();
        rg_buf_printf(why, "no %s rollout of this digest", req);
    }
    rg_buf_dispose(&age);
    rg_store_rollout_dispose(&last);
    return 0;
}

int rg_engine__check_environment(rg_engine *engine, const rg_manifest *m, const char *env_name)
{
    const rg_manifest_env *env = rg_manifest_env_find(m, env_name);
    rg_store_rollouts runs = {0};
    rg_buf why = RG_BUF_INIT;
    int64_t now = rg_time_now_ms();
    int rc;

    if (env == NULL)
        return rg_error_set(RG_EINVALID, "unknown environment '%.128s'", env_name);
    if (env->requires_count == 0)
        return 0;
    if ((rc = rg_store_rollout_list_digest(&runs, engine->store, m->tenant, m->digest)) < 0)
        return rc;
    for (size_t i = 0; i < env->requires_count; i++) {
        rg_buf_clear(&why);
        if (requirement_met(&why, engine, m->tenant, env->requires[i], env -> max_age_ms, &runs,
                            now))
            continue;
        rc = rg_error_set(RG_ECONFLICT,
                          "environment %s requires %s completed for digest %s: %s (--force "
                          "--reason TEXT overrides)",
                          env->name, env->requires[i], m -> digest, rg_buf_cstr(&why));
        break;
    }
    rg_buf_dispose(&why);
    rg_store_rollouts_dispose(&runs);
    return rc;
}

int rg_engine_promote_env(char out_id[RG_STORE_ROLLOUT_ID_LEN], rg_engine *engine,
                          const char *tenant_id, const char *rollout_id, const char *to_env,
                          const char *actor, int approve, const char *force_reason)
{
    rg_store_rollout row = {0};
    rg_manifest *m = NULL;
    rg_manifest_options opts = {NULL, 0, to_env};
    int rc;

    if (to_env == NULL)
        return rg_error_set(RG_EINVALID, "promote-env: no target environment");
    if ((rc = rg_store_rollout_get(&row, engine->store, tenant_id, rollout_id)) < 0)
        return rc;
    if (row.environment == NULL) {
        rc = rg_error_set(RG_EINVALID,
                          "rollout %s has no environment: its manifest has no "
                          "environments to promote to",
                          rollout_id);
        goto cleanup;
    }
    /* The artifact recorded with the rollout, never the file on disk. */
    if ((rc = rg_manifest_load_buffer(&m, "stored manifest", row.manifest, strlen(row.manifest),
                                      NULL, &opts)) < 0) {
        rg_error_prefix("rollout %s", rollout_id);
        goto cleanup;
    }
    if (row.digest && strcmp(row.digest, m->digest) != 0) {
        rc = rg_error_set(RG_EDB,
                          "rollout %s: the stored manifest's digest %s is not the "
                          "recorded %s",
                          rollout_id, m->digest, row.digest);
        goto cleanup;
    }
    rc = rg_engine_start_forced(out_id, engine, m, NULL, actor, approve, force_reason);
cleanup:
    rg_manifest_free(m);
    rg_store_rollout_dispose(&row);
    return rc;
}

/* Who approved a rollout: the starter when it started approved, and every done approve. */
static json_t *approvers_json(rg_engine *engine, const rg_store_rollout *r)
{
    rg_store_audits audits = {0};
    json_t *list = json_array();

    if (rg_store_audit_list(&audits, engine->store, r->tenant_id, r->id) < 0) {
        rg_error_clear();
        return list;
    }
    for (size_t i = 0; i < audits.count; i++) {
        const rg_store_audit *a = &audits.items[i];
        json_t *d = NULL;
        if (strcmp(a->action, "approve") == 0 && a->outcome && strcmp(a->outcome, "done") == 0)
            json_array_append_new(list, json_string(a->actor));
        if (strcmp(a->action, "start") == 0 && a->detail &&
            (d = json_loads(a->detail, 0, NULL)) != NULL &&
            json_is_true(json_object_get(d, "approved")))
            json_array_append_new(list, json_string(a->actor));
        json_decref(d);
    }
    rg_store_audits_dispose(&audits);
    return list;
}

int rg_engine_history_json(json_t **out, rg_engine *engine, const char *tenant_id,
                           const char *digest)
{
    rg_store_rollouts runs = {0};
    json_t *list;
    int rc;

    if ((rc = rg_store_rollout_list_digest(&runs, engine->store, tenant_id, digest)) < 0)
        return rc;
    if (runs.count == 0) {
        rg_store_rollouts_dispose(&runs);
        return rg_error_set(RG_ENOTFOUND, "no rollout of digest %.80s", digest);
    }
    list = json_array();
    for (size_t i = 0; i < runs.count; i++) {
        const rg_store_rollout *r = &runs.items[i];
        json_array_append_new(
            list,
            json_pack("{s:s, s:s?, s:s, s:s, s:s, s:o, s:o, s:s?, s:o}", "id", r->id, "environment",
                      r->environment, "state", rg_rollout_state_to_str(r->state), "outcome",
                      rg_engine_outcome(r->state), "created_by", r->created_by, "created_at",
                      time_json(r->created_at_ms), "updated_at", time_json(r->updated_at_ms),
                      "forced_reason", r->forced_reason, "approvers", approvers_json(engine, r)));
        json_object_set_new(json_array_get(list, json_array_size(list) - 1), "retry_of",
                            rg_engine__book_member(r->baseline, "retry_of"));
    }
    *out = json_pack("{s:s, s:s, s:o}", "digest", digest, "name", runs.items[0].name, "rollouts",
                     list);
    rg_store_rollouts_dispose(&runs);
    return *out ? 0 : rg_error_set(RG_ENOMEM, "out of memory");
}

int rg_engine_may_promote_json(json_t **out, rg_engine *engine, const char *tenant_id,
                               const char *digest, const char *env_name)
{
    rg_store_rollouts runs = {0};
    rg_manifest *m = NULL;
    rg_manifest_options opts = {NULL, 0, env_name};
    const rg_store_rollout *r;
    int rc, ok;

    if ((rc = rg_store_rollout_list_digest(&runs, engine->store, tenant_id, digest)) < 0)
        return rc;
    if (runs.count == 0) {
        rc = rg_error_set(RG_ENOTFOUND, "no rollout of digest %.80s", digest);
        goto cleanup;
    }
    /* The artifact as recorded (every rollout of one digest holds the same environments'
     * requirements; the newest is read). */
    r = &runs.items[runs.count - 1];
    if ((rc = rg_manifest_load_buffer(&m, "stored manifest", r->manifest, strlen(r->manifest), NULL,
                                      &opts)) < 0)
        goto cleanup;
    rc = rg_engine__check_environment(engine, m, env_name);
    if (rc < 0 && rc != RG_ECONFLICT)
        goto cleanup;
    ok = rc == 0;
    *out = json_pack("{s:s, s:s, s:b, s:s?}", "digest", digest, "environment", env_name, "allowed",
                     ok, "reason", ok ? NULL : rg_error_last());
    rc = *out ? 0 : rg_error_set(RG_ENOMEM, "out of memory");
cleanup:
    rg_manifest_free(m);
    rg_store_rollouts_dispose(&runs);
    return rc;
}

/* Paths where two JSON values differ, depth first, at most `max`. */
static void json_diff(json_t *out, const char *path, const json_t *a, const json_t *b, size_t max)
{
    char sub[512];

    if (json_array_size(out) >= max || json_equal(a, b))
        return;
    if (json_is_object(a) && json_is_object(b)) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)a, key, v)
        {
            snprintf(sub, sizeof(sub), "%s.%s", path, key);
            json_diff(out, sub, v, json_object_get(b, key), max);
        }
        json_object_foreach((json_t *)b, key, v) if (json_object_get(a, key) == NULL)
        {
            snprintf(sub, sizeof(sub), "%s.%s", path, key);
            json_diff(out, sub, NULL, v, max);
        }
        return;
    }
    if (json_is_array(a) && json_is_array(b) && json_array_size(a) == json_array_size(b)) {
        for (size_t i = 0; i < json_array_size(a); i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            json_diff(out, sub, json_array_get(a, i), json_array_get(b, i), max);
        }
        return;
    }
    json_array_append_new(out,
                          json_pack("{s:s, s:O?, s:O?}", "path", path, "artifact", a, "file", b));
}

int rg_engine_artifact_diff_json(json_t **out, rg_engine *engine, const char *tenant_id,
                                 const char *rollout_id, const rg_manifest *file)
{
    /* What the digest covers. */
    static const char *const keys[] = {"name",   "tenant",  "policy", "stages",
                                       "change", "holdout", NULL};
    rg_store_rollout row = {0};
    json_t *stored = NULL, *mine = NULL, *diffs = NULL;
    int rc;

    if ((rc = rg_store_rollout_get(&row, engine->store, tenant_id, rollout_id)) < 0 ||
        (rc = rg_manifest_to_json(&mine, file)) < 0)
        goto cleanup;
    if ((stored = json_loads(row.manifest, 0, NULL)) == NULL || (diffs = json_array()) == NULL) {
        rc = rg_error_set(RG_EDB, "rollout %s: its stored manifest is not JSON", rollout_id);
        goto cleanup;
    }
    for (size_t i = 0; keys[i]; i++)
        json_diff(diffs, keys[i], json_object_get(stored, keys[i]), json_object_get(mine, keys[i]),
                  50);
    *out = json_pack("{s:s, s:s?, s:s, s:b, s:O}", "rollout", rollout_id, "artifact_digest",
                     row.digest, "file_digest", file->digest, "same",
                     row.digest && strcmp(row.digest, file->digest) == 0, "differences", diffs);
    rc = *out ? 0 : rg_error_set(RG_ENOMEM, "out of memory");
cleanup:
    json_decref(stored);
    json_decref(mine);
    json_decref(diffs);
    rg_store_rollout_dispose(&row);
    return rc;
}
