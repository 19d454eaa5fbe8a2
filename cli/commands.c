/* commands.c - the table of `rollgate` subcommands */
#include "cli/cli.h"

int rg_cmd_version(rg_cli *cli, int argc, char **argv);

const rg_cli_command rg_cli_commands[] = {
    {"version", "print the version and the library versions", "", NULL, rg_cmd_version},
    {NULL, NULL, NULL, NULL, NULL},
};
