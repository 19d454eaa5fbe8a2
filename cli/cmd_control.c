/* cmd_control.c - `approve`, `pause`, `resume`, `promote`, `rollback`: people's commands */
#include <stdlib.h>
#include <string.h>

#include "cli/engine_cli.h"
#include "rollgate/util.h"

int rg_cmd_approve(rg_cli *cli, int argc, char **argv);
int rg_cmd_pause(rg_cli *cli, int argc, char **argv);
int rg_cmd_resume(rg_cli *cli, int argc, char **argv);
int rg_cmd_promote(rg_cli *cli, int argc, char **argv);
int rg_cmd_rollback(rg_cli *cli, int argc, char **argv);

static int control(rg_cli *cli, int argc, char **argv, rg_command_kind kind,
                   int (*self_fn)(rg_cli *, int, char **))
{
    static const struct option options[] = {{"actor", required_argument, NULL, 'A'},
                                            {"reason", required_argument, NULL, 'R'},
                                            {"force", no_argument, NULL, 'F'},
                                            RG_CLI_COMMON_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    const rg_cli_command *self = rg_cli_self(self_fn);
    const char *actor = NULL, *reason = NULL;
    rg_store *store = NULL;
    rg_engine *engine = NULL;
    char *tenant = NULL, *outcome = NULL;
    int c, code = 0, force = 0, stop;

    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        if (c == 'A')
            actor = optarg;
        else if (c == 'R')
            reason = optarg;
        else if (c == 'F' && kind == RG_COMMAND_PROMOTE)
            force = 1;
        else if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0)
            return stop;
    }
    if (optind + 1 != argc)
        return rg_cli_usage(cli, self, "expected one rollout ID");
    if (kind == RG_COMMAND_ROLLBACK && (reason == NULL || *reason == '\0'))
        return rg_cli_usage(cli, self, "a forced rollback needs --reason TEXT");
    if ((code = rg_cli_open_engine(cli, &store, &engine, NULL)) != 0)
        return code;
    if ((code = rg_cli_rollout_tenant(cli, engine, argv[optind], &tenant)) != 0)
        goto cleanup;
    if (rg_engine_command(&outcome, engine, tenant, argv[optind], kind, rg_cli_actor(actor),
                          reason, force) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    {
        json_t *st = NULL;
        if (rg_engine_status_json(&st, engine, tenant, argv[optind]) < 0) {
            code = rg_cli_fail(cli);
            goto cleanup;
        }
        if (cli->json)
            rg_cli_print_json(cli, json_pack("{s:s, s:s, s:s, s:O}", "id", argv[optind],
                                             "command", rg_command_kind_to_str(kind), "outcome",
                                             outcome, "state", json_object_get(st, "state")));
        else
            fprintf(cli->out, "%s %s: %s (rollout is %s)\n", rg_command_kind_to_str(kind),
                    argv[optind], outcome, json_string_value(json_object_get(st, "state")));
        json_decref(st);
    }
cleanup:
    free(tenant);
    free(outcome);
    rg_cli_close_engine(store, engine);
    return code;
}

int rg_cmd_approve(rg_cli *cli, int argc, char **argv)
{
    return control(cli, argc, argv, RG_COMMAND_APPROVE, rg_cmd_approve);
}

int rg_cmd_pause(rg_cli *cli, int argc, char **argv)
{
    return control(cli, argc, argv, RG_COMMAND_PAUSE, rg_cmd_pause);
}

int rg_cmd_resume(rg_cli *cli, int argc, char **argv)
{
    return control(cli, argc, argv, RG_COMMAND_RESUME, rg_cmd_resume);
}

int rg_cmd_promote(rg_cli *cli, int argc, char **argv)
{
    return control(cli, argc, argv, RG_COMMAND_PROMOTE, rg_cmd_promote);
}

int rg_cmd_rollback(rg_cli *cli, int argc, char **argv)
{
    return control(cli, argc, argv, RG_COMMAND_ROLLBACK, rg_cmd_rollback);
}
