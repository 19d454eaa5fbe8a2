/* journal.c - append-only history: rollout events (state changes) and the audit of human actions */
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"
#include "store/rows.h"

/* ---- events ---- */

int rg_store_event_append(int64_t *out_id, rg_store *store, const rg_store_event_in *event)
{
    static const char sql[] = "INSERT INTO events (" RG_STORE__EVENT_COLUMNS ")"
                              " VALUES (NULL, ?, ?, ?, ?, ?, ?, ?) /*pg: RETURNING id*/";
    static const char op[] = "event append";
    rg_store__binder b;
    int rc;

    if (event == NULL)
        return rg_error_set(RG_EINVALID, "store: %s: no event", op);
    if ((rc = rg_store__require(event->tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(event->rollout_id, op, "rollout id")) < 0 ||
        (rc = rg_store__require(event->kind, op, "kind")) < 0 ||
        (rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, event->rollout_id);
    rg_store__bind_text(&b, event->tenant_id);
    rg_store__bind_text(&b, event->kind);
    rg_store__bind_text(&b, event->from_state);
    rg_store__bind_text(&b, event->to_state);
    rg_store__bind_text(&b, event->detail);
    rg_store__bind_int64(&b, event->at_ms ? event->at_ms : rg_time_now_ms());
    if ((rc = rg_store__binder_check(&b, store, op)) < 0 ||
        (rc = rg_store__step_done(store, b.stmt, op)) < 0) {
        if (rc == RG_ENOTFOUND)
            rg_error_set(rc, "store: %s: rollout %s not found", op, event->rollout_id);
        return rc;
    }
    if (out_id)
        *out_id = rg_store__last_id(store);
    return 0;
}

int rg_store_event_list(rg_store_events *out, rg_store *store, const char *tenant_id,
                        const char *rollout_id, int64_t after_id)
{
    static const char sql[] = "SELECT " RG_STORE__EVENT_COLUMNS " FROM events"
                              " WHERE tenant_id = ? AND rollout_id = ? AND id > ? ORDER BY id";
    static const char op[] = "event list";
    rg_store__binder b;
    rg_store__array a;
    int rc;

    if ((rc = rg_store__rollout_stmt(&b, store, sql, op, tenant_id, rollout_id)) < 0)
        return rc;
    rg_store__bind_int64(&b, after_id);
    if ((rc = rg_store__select_rows(&a, &rg_store__event_row, store, &b, op)) < 0)
        return rc;
    RG_STORE__LIST_TAKE(out, a);
    return 0;
}

/* ---- audit ---- */

int rg_store_audit_append(int64_t *out_id, rg_store *store, const rg_store_audit_in *entry)
{
    static const char sql[] = "INSERT INTO audit (" RG_STORE__AUDIT_COLUMNS ")"
                              " VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?) /*pg: RETURNING id*/";
    static const char op[] = "audit append";
    rg_store__binder b;
    int rc;

    if (entry == NULL)
        return rg_error_set(RG_EINVALID, "store: %s: no entry", op);
    if ((rc = rg_store__require(entry->tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(entry->actor, op, "actor")) < 0 ||
        (rc = rg_store__require(entry->action, op, "action")) < 0 ||
        (rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, entry->rollout_id);
    rg_store__bind_text(&b, entry->tenant_id);
    rg_store__bind_text(&b, entry->actor);
    rg_store__bind_text(&b, entry->action);
    rg_store__bind_text(&b, entry->reason);
    rg_store__bind_text(&b, entry->outcome);
    rg_store__bind_text(&b, entry->detail);
    rg_store__bind_int64(&b, entry->at_ms ? entry->at_ms : rg_time_now_ms());
    if ((rc = rg_store__binder_check(&b, store, op)) < 0 ||
        (rc = rg_store__step_done(store, b.stmt, op)) < 0) {
        if (rc == RG_ENOTFOUND)
            rg_error_set(rc, "store: %s: %s %s not found", op,
                         entry->rollout_id ? "rollout" : "tenant",
                         entry->rollout_id ? entry->rollout_id : entry->tenant_id);
        return rc;
    }
    if (out_id)
        *out_id = rg_store__last_id(store);
    return 0;
}

int rg_store_audit_list(rg_store_audits *out, rg_store *store, const char *tenant_id,
                        const char *rollout_id)
{
    static const char sql[] = "SELECT " RG_STORE__AUDIT_COLUMNS " FROM audit"
                              " WHERE tenant_id = ?1 AND (?2 IS NULL OR rollout_id = ?2)"
                              " ORDER BY id";
    static const char op[] = "audit list";
    rg_store__binder b;
    rg_store__array a;
    int rc;

    if ((rc = rg_store__tenant_stmt(&b, store, sql, op, tenant_id)) < 0)
        return rc;
    rg_store__bind_text(&b, rollout_id);
    if ((rc = rg_store__select_rows(&a, &rg_store__audit_row, store, &b, op)) < 0)
        return rc;
    RG_STORE__LIST_TAKE(out, a);
    return 0;
}
