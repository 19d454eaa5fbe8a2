/* commands.c - the table of `rollgate` subcommands */
#include "cli/cli.h"

int rg_cmd_version(rg_cli *cli, int argc, char **argv);
int rg_cmd_plan(rg_cli *cli, int argc, char **argv);

const rg_cli_command rg_cli_commands[] = {
    {"version", "print the version and the library versions", "", NULL, rg_cmd_version},
    {"plan", "validate a manifest and print the per-organization plan",
     "MANIFEST [--offline] [--var K=V]",
     "Validates MANIFEST (YAML or JSON) and its policy, renders the template for every\n"
     "organization and prints the targets in rollout order with the stage that first covers\n"
     "each. --offline is required for now (no platform or database is touched); --var K=V\n"
     "sets a template variable for every group, overriding the group's own.",
     rg_cmd_plan},
    {NULL, NULL, NULL, NULL, NULL},
};
