/* commands.c - the queue of human requests (rollback, pause, ...) waiting for a rollout's driver */
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"
#include "store/rows.h"

int rg_store_command_enqueue(int64_t *out_id, rg_store *store, const rg_store_command_in *command)
{
    static const char sql[] =
        "INSERT INTO commands (" RG_STORE__COMMAND_COLUMNS ")"
        " VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, 'pending', NULL, NULL, ?) /*pg: RETURNING id*/";
    static const char op[] = "command enqueue";
    rg_store__binder b;
    int rc;

    if (command == NULL)
        return rg_error_set(RG_EINVALID, "store: %s: no command", op);
    if ((rc = rg_store__require(command->tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(command->rollout_id, op, "rollout id")) < 0 ||
        (rc = rg_store__require(command->actor, op, "actor")) < 0)
        return rc;
    if (rg_command_kind_to_str(command->kind) == NULL)
        return rg_error_set(RG_EINVALID, "store: %s: invalid command kind %d", op,
                            (int)command->kind);
    if ((rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, command->rollout_id);
    rg_store__bind_text(&b, command->tenant_id);
    rg_store__bind_text(&b, rg_command_kind_to_str(command->kind));
    rg_store__bind_text(&b, command->actor);
    rg_store__bind_text(&b, command->reason);
    rg_store__bind_int64(&b, command->force ? 1 : 0);
    rg_store__bind_int64(&b, command->created_at_ms ? command->created_at_ms : rg_time_now_ms());
    rg_store__bind_int64(&b, command->full ? 1 : 0);
    if ((rc = rg_store__binder_check(&b, store, op)) < 0 ||
        (rc = rg_store__step_done(store, b.stmt, op)) < 0) {
        if (rc == RG_ENOTFOUND)
            rg_error_set(rc, "store: %s: rollout %s not found", op, command->rollout_id);
        return rc;
    }
    if (out_id)
        *out_id = rg_store__last_id(store);
    return 0;
}

int rg_store_command_get(rg_store_command *out, rg_store *store, const char *tenant_id,
                         int64_t command_id)
{
    static const char sql[] = "SELECT " RG_STORE__COMMAND_COLUMNS " FROM commands"
                              " WHERE tenant_id = ? AND id = ?";
    static const char op[] = "command get";
    rg_store_command c;
    rg_store__binder b;
    int rc;

    memset(&c, 0, sizeof(c));
    if ((rc = rg_store__tenant_stmt(&b, store, sql, op, tenant_id)) < 0)
        return rc;
    rg_store__bind_int64(&b, command_id);
    if ((rc = rg_store__select_row(&c, &rg_store__command_row, store, &b, op)) < 0)
        return rc;
    *out = c;
    return 0;
}

int rg_store_command_list_pending(rg_store_commands *out, rg_store *store, const char *tenant_id,
                                  const char *rollout_id)
{
    static const char sql[] = "SELECT " RG_STORE__COMMAND_COLUMNS " FROM commands"
                              " WHERE tenant_id = ? AND rollout_id = ? AND state = 'pending'"
                              " ORDER BY id";
    static const char op[] = "command list pending";
    rg_store__binder b;
    rg_store__array a;
    int rc;

    if ((rc = rg_store__rollout_stmt(&b, store, sql, op, tenant_id, rollout_id)) < 0)
        return rc;
    if ((rc = rg_store__select_rows(&a, &rg_store__command_row, store, &b, op)) < 0)
        return rc;
    RG_STORE__LIST_TAKE(out, a);
    return 0;
}

int rg_store_command_complete(rg_store *store, const char *tenant_id, int64_t command_id,
                              rg_command_state state, const char *outcome, int64_t now_ms)
{
    static const char sql[] = "UPDATE commands SET state = ?, outcome = ?, done_at = ?"
                              " WHERE id = ? AND tenant_id = ? AND state = 'pending'";
    static const char op[] = "command complete";
    rg_store_command current;
    rg_store__binder b;
    int rc;

    if ((rc = rg_store__require(tenant_id, op, "tenant id")) < 0)
        return rc;
    if (state != RG_COMMAND_DONE && state != RG_COMMAND_FAILED)
        return rg_error_set(RG_EINVALID, "store: %s: a command completes as done or failed", op);
    if ((rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, rg_command_state_to_str(state));
    rg_store__bind_text(&b, outcome);
    rg_store__bind_int64(&b, now_ms ? now_ms : rg_time_now_ms());
    rg_store__bind_int64(&b, command_id);
    rg_store__bind_text(&b, tenant_id);
    if ((rc = rg_store__binder_check(&b, store, op)) < 0 ||
        (rc = rg_store__step_done(store, b.stmt, op)) < 0)
        return rc;
    if (rg_store__changes(store) > 0)
        return 0;
    /* Nothing matched: absent (or another tenant's), or already completed. */
    memset(&current, 0, sizeof(current));
    if ((rc = rg_store_command_get(&current, store, tenant_id, command_id)) < 0)
        return rc;
    rc = rg_error_set(RG_ECONFLICT, "store: %s: command %lld is already %s", op,
                      (long long)command_id, rg_command_state_to_str(current.state));
    rg_store_command_dispose(&current);
    return rc;
}
