/* rollout.h - the domain's states and kinds: rollout and target states, people's commands
 * and their states, with the lowercase names stored, sent and shown for each. Every layer
 * uses these (the store keeps them as text, the engine decides on them, the server and the
 * CLI print them); the names are defined in util/rollout.c. */
#ifndef RG_ROLLOUT_H
#define RG_ROLLOUT_H

/* A rollout id: "ro_" + 12 lowercase hex digits from the OS random source, NUL-terminated. */
#define RG_STORE_ROLLOUT_ID_LEN 16

typedef enum {
    RG_ROLLOUT_AWAITING_APPROVAL = 0,
    RG_ROLLOUT_RUNNING,
    RG_ROLLOUT_PAUSED,
    RG_ROLLOUT_HELD,
    RG_ROLLOUT_ROLLING_BACK,
    RG_ROLLOUT_ROLLED_BACK,
    RG_ROLLOUT_ROLLBACK_INCOMPLETE,
    RG_ROLLOUT_COMPLETED,
} rg_rollout_state;

typedef enum {
    RG_TARGET_PENDING = 0,
    RG_TARGET_SNAPSHOTTED, /* snapshot committed, apply not yet confirmed */
    RG_TARGET_APPLIED,
    RG_TARGET_APPLY_FAILED,
    RG_TARGET_RESTORED,
    RG_TARGET_RESTORE_FAILED,
    RG_TARGET_UNCHANGED, /* never touched */
} rg_target_state;

typedef enum {
    RG_COMMAND_ROLLBACK = 0,
    RG_COMMAND_PAUSE,
    RG_COMMAND_RESUME,
    RG_COMMAND_PROMOTE,
    RG_COMMAND_APPROVE,
} rg_command_kind;

typedef enum {
    RG_COMMAND_PENDING = 0,
    RG_COMMAND_DONE,
    RG_COMMAND_FAILED,
} rg_command_state;

/* Lowercase names as stored ("awaiting_approval", "snapshotted", "rollback", "pending");
 * NULL for a value outside the enum. The parsers return RG_EINVALID naming the text. */
const char *rg_rollout_state_to_str(rg_rollout_state state);
int rg_rollout_state_from_str(rg_rollout_state *out, const char *s);
/* 1 for rolled_back, rollback_incomplete and completed: nothing more will happen. */
int rg_rollout_state_is_terminal(rg_rollout_state state);
const char *rg_target_state_to_str(rg_target_state state);
int rg_target_state_from_str(rg_target_state *out, const char *s);
const char *rg_command_kind_to_str(rg_command_kind kind);
int rg_command_kind_from_str(rg_command_kind *out, const char *s);
const char *rg_command_state_to_str(rg_command_state state);
int rg_command_state_from_str(rg_command_state *out, const char *s);

#endif
