/* report.c - what people read: status, the rollout list, explain (verdicts), audit */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_private.h"
#include "rollgate/util.h"

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *time_or_null(int64_t ms)
{
    char buf[RG_TIME_ISO_LEN];
    if (ms == 0)
        return json_null();
    rg_time_format(buf, ms);
    return json_string(buf);
}

static json_t *verdict_json(const rg_store_verdict *v)
{
    return json_pack("{s:i, s:i, s:s, s:s, s:s, s:o, s:[o,o], s:o, s:o, s:o, s:s?, s:o}", "stage",
                     v->stage, "poll", v->poll, "metric", v->metric, "test", v->test, "decision",
                     v->decision, "estimate", num_or_null(v->estimate), "ci", num_or_null(v->ci_lo),
                     num_or_null(v->ci_hi), "z", num_or_null(v->z), "boundary",
                     num_or_null(v->boundary), "p_value", num_or_null(v->p_value), "reason",
                     v->reason, "at", time_or_null(v->at_ms));
}

static json_t *target_json(const rg_store_target *t)
{
    json_t *kept = t->kept_fields ? json_loads(t->kept_fields, 0, NULL) : NULL;
    return json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:s?, s:i, s:o, s:o, s:o}", "org", t->org_id,
                     "group", t->group_name, "tier", t->tier, "stage", t->stage_index, "state",
                     rg_target_state_to_str(t->state), "strategy", t->strategy_id, "last_error",
                     t->last_error, "attempts", t->attempts, "applied_at",
                     time_or_null(t->applied_at_ms), "restored_at", time_or_null(t->restored_at_ms),
                     "kept_fields", kept ? kept : json_array());
}

/* The current stage as the manifest wrote it: its percent (0 when it has none) and, for a
 * traffic-sized stage ({min_offered: N}, a percent then only its cap), N (else 0). */
static void stage_of(const rg_store_rollout *row, int *out_percent, int64_t *out_min_offered)
{
    json_t *m = json_loads(row->manifest, 0, NULL);
    json_t *st = json_array_get(json_object_get(m, "stages"), (size_t)row->stage_index);
    json_t *pct = json_is_object(st) ? json_object_get(st, "percent") : st;

    *out_percent = json_is_integer(pct) ? (int)json_integer_value(pct) : 0;
    *out_min_offered = json_integer_value(json_object_get(st, "min_offered"));
    json_decref(m);
}

/* A traffic-sized stage's percent: the share of targets it covers as it was sized at start
 * (the manifest's percent is only its cap). */
static int covered_percent(const rg_store_rollout *row, const rg_store_targets *targets)
{
    size_t covered = 0;

    if (targets->count == 0)
        return 0;
    for (size_t i = 0; i < targets->count; i++)
        covered += targets->items[i].stage_index <= row->stage_index;
    return (int)((100 * covered + targets->count / 2) / targets->count);
}

/* A member of the rollout's book (retry_of, undo, promote_full), a new reference or null. */
json_t *rg_engine__book_member(const char *baseline, const char *key)
{
    json_t *book = baseline ? json_loads(baseline, 0, NULL) : NULL;
    json_t *v = json_object_get(book, key);

    v = v ? json_incref(v) : json_null();
    json_decref(book);
    return v;
}

/* The rollout that retried this one (its audit's "retry" entry), or null. */
static json_t *retried_as(rg_engine *engine, const rg_store_rollout *row)
{
    rg_store_audits audits = {0};
    json_t *id = NULL;

    if (rg_store_audit_list(&audits, engine->store, row->tenant_id, row->id) < 0) {
        rg_error_clear();
        return json_null();
    }
    for (size_t i = 0; i < audits.count; i++) {
        const rg_store_audit *a = &audits.items[i];
        json_t *d =
            strcmp(a->action, "retry") == 0 && a->detail ? json_loads(a->detail, 0, NULL) : NULL;
        if (json_is_string(json_object_get(d, "retried_as"))) {
            json_decref(id);
            id = json_incref(json_object_get(d, "retried_as")); /* the newest */
        }
        json_decref(d);
    }
    rg_store_audits_dispose(&audits);
    return id ? id : json_null();
}

static int64_t policy_ms(const json_t *policy, const char *key)
{
    int64_t ms = 0;
    const char *text = json_string_value(json_object_get(policy, key));
    if (text == NULL || rg_parse_duration_ms(&ms, text) < 0)
        return 0;
    return ms;
}

/* Where the current stage's soak stands: poll k of K, the next poll, time left. */
static json_t *soak_json(const rg_store_rollout *row)
{
    json_t *policy = json_loads(row->policy, 0, NULL), *doc;
    int64_t poll = policy_ms(policy, "poll_interval"), limit = policy_ms(policy, "soak_limit");
    int64_t now = rg_time_now_ms(), elapsed = now - row->stage_applied_at_ms, k, planned;

    json_decref(policy);
    if (row->state != RG_ROLLOUT_RUNNING || row->stage_applied_at_ms == 0 || poll <= 0 ||
        limit < poll)
        return json_null();
    planned = limit / poll;
    k = elapsed / poll;
    if (k > planned)
        k = planned;
    doc = json_pack("{s:I, s:I, s:o, s:I}", "poll", (json_int_t)k, "planned", (json_int_t)planned,
                    "next_poll_at", time_or_null(row->stage_applied_at_ms + (k + 1) * poll),
                    "left_ms", (json_int_t)(limit - elapsed > 0 ? limit - elapsed : 0));
    return doc;
}

/* Who drives the rollout, at which epoch, for how much longer (by the database's clock),
 * and how long its last platform batch took (ms; 0 before the first); null when nobody holds
 * it. */
static json_t *lease_json(rg_engine *engine, const char *tenant_id, const char *rollout_id)
{
    rg_store_lease l = {0};
    json_t *doc;

    if (rg_store_lease_get(&l, engine->store, tenant_id, rollout_id) < 0) {
        rg_error_clear();
        return json_null();
    }
    doc = json_pack("{s:s, s:I, s:I, s:I, s:I}", "owner", l.owner, "epoch", (json_int_t)l.epoch,
                    "expires_in_ms", (json_int_t)(l.expires_at_ms - l.now_ms), "ttl_ms",
                    (json_int_t)l.ttl_ms, "batch_ms", (json_int_t)l.batch_ms);
    rg_store_lease_dispose(&l);
    return doc ? doc : json_null();
}

int rg_engine_status_json(json_t **out, rg_engine *engine, const char *tenant_id,
                          const char *rollout_id)
{
    rg_store_rollout row = {0};
    rg_store_targets targets = {0};
    rg_store_verdicts verdicts = {0};
    json_t *doc = NULL, *tlist, *vlist;
    int rc, last_poll = -1, last_stage = -1, percent;
    int64_t min_offered;

    if ((rc = rg_store_rollout_get(&row, engine->store, tenant_id, rollout_id)) < 0 ||
        (rc = rg_store_target_list(&targets, engine->store, tenant_id, rollout_id)) < 0 ||
        (rc = rg_store_verdict_list(&verdicts, engine->store, tenant_id, rollout_id, -1)) < 0)
        goto cleanup;
    tlist = json_array();
    vlist = json_array();
    for (size_t i = 0; i < targets.count; i++)
        json_array_append_new(tlist, target_json(&targets.items[i]));
    if (verdicts.count) {
        last_stage = verdicts.items[verdicts.count - 1].stage;
        last_poll = verdicts.items[verdicts.count - 1].poll;
    }
    for (size_t i = 0; i < verdicts.count; i++)
        if (verdicts.items[i].stage == last_stage && verdicts.items[i].poll == last_poll)
            json_array_append_new(vlist, verdict_json(&verdicts.items[i]));
    stage_of(&row, &percent, &min_offered);
    if (min_offered)
        percent = covered_percent(&row, &targets);
    doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i, s:i}, s:s?, s:s?, s:s?, s:o, s:o,"
                    " s:o, s:o, s:I}",
                    "id", row.id, "name", row.name, "tenant", row.tenant_id, "state",
                    rg_rollout_state_to_str(row.state), "outcome", rg_engine_outcome(row.state),
                    "stage", "index", row.stage_index, "percent", percent, "count", row.stage_count,
                    "verification", row.verification, "hold_reason", row.hold_reason, "created_by",
                    row.created_by, "created_at", time_or_null(row.created_at_ms),
                    "stage_applied_at", time_or_null(row.stage_applied_at_ms), "targets", tlist,
                    "last_verdicts", vlist, "revision", (json_int_t)row.revision);
    if (doc && min_offered)
        json_object_set_new(json_object_get(doc, "stage"), "min_offered",
                            json_integer(min_offered));
    if (doc)
        json_object_set_new(doc, "soak", soak_json(&row));
    if (doc)
        json_object_set_new(doc, "lease", lease_json(engine, tenant_id, rollout_id));
    if (doc) {
        json_object_set_new(doc, "digest", row.digest ? json_string(row.digest) : json_null());
        json_object_set_new(doc, "environment",
                            row.environment ? json_string(row.environment) : json_null());
        json_object_set_new(doc, "forced_reason",
                            row.forced_reason ? json_string(row.forced_reason) : json_null());
        json_object_set_new(doc, "retry_of", rg_engine__book_member(row.baseline, "retry_of"));
        json_object_set_new(doc, "retried_as", retried_as(engine, &row));
        json_object_set_new(doc, "undo", rg_engine__book_member(row.baseline, "undo"));
        json_object_set_new(doc, "promote_full",
                            rg_engine__book_member(row.baseline, "promote_full"));
        json_object_set_new(doc, "planner", rg_engine__book_member(row.baseline, "planner"));
    }
    if (doc == NULL)
        rc = rg_error_set(RG_ENOMEM, "out of memory building status");
    else
        *out = doc;
cleanup:
    rg_store_rollout_dispose(&row);
    rg_store_targets_dispose(&targets);
    rg_store_verdicts_dispose(&verdicts);
    return rc;
}

/* "percent" is what the stage reaches (covered_percent for a traffic-sized one, whose
 * "min_offered" is there too). */
static int list_into(rg_engine *engine, json_t *arr, rg_store_rollouts *list)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < list->count; i++) {
        rg_store_rollout *r = &list->items[i];
        rg_store_targets targets = {0};
        int64_t min_offered;
        int percent;
        json_t *entry;

        stage_of(r, &percent, &min_offered);
        if (min_offered) {
            if ((rc = rg_store_target_list(&targets, engine->store, r->tenant_id, r->id)) < 0)
                break;
            percent = covered_percent(r, &targets);
            rg_store_targets_dispose(&targets);
        }
        entry = json_pack(
            "{s:s, s:s, s:s, s:s, s:i, s:i, s:o, s:s?, s:s?, s:s?}", "id", r->id, "name", r->name,
            "tenant", r->tenant_id, "state", rg_rollout_state_to_str(r->state), "stage",
            r->stage_index, "percent", percent, "created_at", time_or_null(r->created_at_ms),
            "digest", r->digest, "environment", r->environment, "forced_reason", r->forced_reason);
        if (entry == NULL || json_array_append_new(arr, entry) < 0)
            return rg_error_set(RG_ENOMEM, "out of memory listing rollouts");
        json_object_set_new(entry, "retry_of", rg_engine__book_member(r->baseline, "retry_of"));
        if (min_offered)
            json_object_set_new(entry, "min_offered", json_integer(min_offered));
    }
    return rc;
}

int rg_engine_list_json(json_t **out, rg_engine *engine, const char *tenant_id)
{
    rg_store_rollouts list = {0};
    json_t *arr = json_array();
    int rc;

    if (tenant_id)
        rc = rg_store_rollout_list(&list, engine->store, tenant_id);
    else
        rc = rg_store_rollout_list_active_all_tenants(&list, engine->store);
    if (rc == 0)
        rc = list_into(engine, arr, &list);
    rg_store_rollouts_dispose(&list);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

int rg_engine_explain_json(json_t **out, rg_engine *engine, const char *tenant_id,
                           const char *rollout_id)
{
    rg_store_rollout row = {0};
    rg_store_verdicts verdicts = {0};
    rg_store_events events = {0};
    json_t *vlist = json_array(), *elist = json_array();
    int rc;

    if ((rc = rg_store_rollout_get(&row, engine->store, tenant_id, rollout_id)) < 0 ||
        (rc = rg_store_verdict_list(&verdicts, engine->store, tenant_id, rollout_id, -1)) < 0 ||
        (rc = rg_store_event_list(&events, engine->store, tenant_id, rollout_id, 0)) < 0)
        goto cleanup;
    for (size_t i = 0; i < verdicts.count; i++) {
        json_t *vj = verdict_json(&verdicts.items[i]);
        /* The pooled canary and control levels of the same poll, when recorded. */
        for (size_t k = events.count; vj && k-- > 0;) {
            rg_store_event *e = &events.items[k];
            json_t *d;
            if (strcmp(e->kind, "levels") != 0 || e->detail == NULL)
                continue;
            d = json_loads(e->detail, 0, NULL);
            if (json_integer_value(json_object_get(d, "stage")) == verdicts.items[i].stage &&
                json_integer_value(json_object_get(d, "poll")) == verdicts.items[i].poll) {
                json_t *lv =
                    json_object_get(json_object_get(d, "metrics"), verdicts.items[i].metric);
                if (lv)
                    json_object_set(vj, "levels", lv);
                json_decref(d);
                break;
            }
            json_decref(d);
        }
        json_array_append_new(vlist, vj);
    }
    for (size_t i = 0; i < events.count; i++) {
        rg_store_event *e = &events.items[i];
        json_t *detail = e->detail ? json_loads(e->detail, 0, NULL) : NULL;
        json_array_append_new(
            elist, json_pack("{s:I, s:s, s:s?, s:s?, s:o, s:o}", "id", (json_int_t)e->id, "kind",
                             e->kind, "from", e->from_state, "to", e->to_state, "detail",
                             detail ? detail : json_null(), "at", time_or_null(e->at_ms)));
    }
    *out = json_pack("{s:s, s:s, s:s?, s:O, s:O}", "id", row.id, "state",
                     rg_rollout_state_to_str(row.state), "verification", row.verification,
                     "verdicts", vlist, "events", elist);
    if (*out == NULL)
        rc = rg_error_set(RG_ENOMEM, "out of memory building explain");
cleanup:
    json_decref(vlist);
    json_decref(elist);
    rg_store_rollout_dispose(&row);
    rg_store_verdicts_dispose(&verdicts);
    rg_store_events_dispose(&events);
    return rc;
}

int rg_engine_audit_json(json_t **out, rg_engine *engine, const char *tenant_id,
                         const char *rollout_id)
{
    rg_store_audits list = {0};
    json_t *arr;
    int rc;

    if ((rc = rg_store_audit_list(&list, engine->store, tenant_id, rollout_id)) < 0)
        return rc;
    arr = json_array();
    for (size_t i = 0; i < list.count; i++) {
        rg_store_audit *a = &list.items[i];
        json_t *detail = a->detail ? json_loads(a->detail, 0, NULL) : NULL;
        json_array_append_new(
            arr, json_pack("{s:I, s:s?, s:s, s:s, s:s?, s:s?, s:o, s:o}", "id", (json_int_t)a->id,
                           "rollout", a->rollout_id, "actor", a->actor, "action", a->action,
                           "reason", a->reason, "outcome", a->outcome, "detail",
                           detail ? detail : json_null(), "at", time_or_null(a->at_ms)));
    }
    rg_store_audits_dispose(&list);
    *out = arr;
    return 0;
}
