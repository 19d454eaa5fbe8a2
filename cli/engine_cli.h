/* engine_cli.h - what the rollout commands share: opening the engine (and its store), ids,
 * output */
#ifndef RG_ENGINE_CLI_H
#define RG_ENGINE_CLI_H

#include <jansson.h>

#include "cli/cli.h"
#include "rollgate/engine.h"
#include "rollgate/records.h"

/* Opens the database named by --db / $ROLLGATE_DB and an engine on it. `opts` may be NULL.
 * Returns an exit code (0 on success) after printing the error. */
int rg_cli_open_engine(rg_cli *cli, rg_engine **out_engine, const rg_engine_options *opts);
/* As rg_cli_open_engine for commands that only read: no write lock, no migration when the
 * schema is current (they answer while another client holds the database). */
int rg_cli_open_engine_readonly(rg_cli *cli, rg_engine **out_engine);
void rg_cli_close_engine(rg_engine *engine);
/* The tenant of rollout `id`; prints "unknown rollout" and returns 3 when there is none. */
int rg_cli_rollout_tenant(rg_cli *cli, rg_engine *engine, const char *id, char **out_tenant);
/* --actor, else $ROLLGATE_ACTOR, else the OS user name, else "unknown". */
const char *rg_cli_actor(const char *given);
/* The command entry for a run function. */
const rg_cli_command *rg_cli_self(int (*run)(rg_cli *, int, char **));
/* The exit code for a rollout outcome: 0 completed, 1 rolled back / incomplete, 2 other. */
int rg_cli_outcome_exit(rg_rollout_state state);
/* Prints one narration line: "HH:MM:SS kind  line". */
void rg_cli_narrate(const char *rollout_id, const char *kind, const char *line, void *payload);

/* Prints a live plan (rg_engine_plan's document): per-organization diff and findings. */
void rg_cli_print_plan(rg_cli *cli, const json_t *plan);
/* The newest `limit` rollouts of every tenant, finished ones included, newest first, as a
 * JSON array of {id, tenant, name, state, stage, stages, created_at, ...} (cli/cmd_list.c). */
int rg_cli_history(json_t **out, rg_engine *engine, size_t limit);
/* One line per row of rg_cli_history. */
void rg_cli_print_history(rg_cli *cli, const json_t *rows);

#endif
