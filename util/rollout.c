/* rollout.c - the names of rollout, target and command states and command kinds (rollout.h) */
#include <string.h>

#include "rollgate/error.h"
#include "rollgate/rollout.h"

static const char *const rollout_states[] = {
    "awaiting_approval",   "running",   "paused", "held", "rolling_back", "rolled_back",
    "rollback_incomplete", "completed",
};

static const char *const target_states[] = {
    "pending", "snapshotted", "applied", "apply_failed", "restored", "restore_failed", "unchanged",
};

static const char *const command_kinds[] = {"rollback", "pause", "resume", "promote", "approve"};

static const char *const command_states[] = {"pending", "done", "failed"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t count, int value)
{
    if (value < 0 || (size_t)value >= count)
        return NULL;
    return names[value];
}

static int parse(int *out, const char *const *names, size_t count, const char *s, const char *what)
{
    if (s == NULL)
        return rg_error_set(RG_EINVALID, "%s is missing", what);
    for (size_t i = 0; i < count; i++) {
        if (strcmp(names[i], s) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return rg_error_set(RG_EINVALID, "unknown %s \"%.64s\"", what, s);
}

const char *rg_rollout_state_to_str(rg_rollout_state state)
{
    return name_of(rollout_states, COUNT(rollout_states), (int)state);
}

int rg_rollout_state_from_str(rg_rollout_state *out, const char *s)
{
    int v = 0, rc = parse(&v, rollout_states, COUNT(rollout_states), s, "rollout state");
    if (rc == 0)
        *out = (rg_rollout_state)v;
    return rc;
}

int rg_rollout_state_is_terminal(rg_rollout_state state)
{
    return state == RG_ROLLOUT_ROLLED_BACK || state == RG_ROLLOUT_ROLLBACK_INCOMPLETE ||
           state == RG_ROLLOUT_COMPLETED;
}

const char *rg_target_state_to_str(rg_target_state state)
{
    return name_of(target_states, COUNT(target_states), (int)state);
}

int rg_target_state_from_str(rg_target_state *out, const char *s)
{
    int v = 0, rc = parse(&v, target_states, COUNT(target_states), s, "target state");
    if (rc == 0)
        *out = (rg_target_state)v;
    return rc;
}

const char *rg_command_kind_to_str(rg_command_kind kind)
{
    return name_of(command_kinds, COUNT(command_kinds), (int)kind);
}

int rg_command_kind_from_str(rg_command_kind *out, const char *s)
{
    int v = 0, rc = parse(&v, command_kinds, COUNT(command_kinds), s, "command kind");
    if (rc == 0)
        *out = (rg_command_kind)v;
    return rc;
}

const char *rg_command_state_to_str(rg_command_state state)
{
    return name_of(command_states, COUNT(command_states), (int)state);
}

int rg_command_state_from_str(rg_command_state *out, const char *s)
{
    int v = 0, rc = parse(&v, command_states, COUNT(command_states), s, "command state");
    if (rc == 0)
        *out = (rg_command_state)v;
    return rc;
}
