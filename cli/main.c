/* main.c - `rollgate`: global options, command dispatch, top-level help */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "rollgate/util.h"

static void top_help(FILE *f)
{
    fprintf(f, "usage: rollgate [--db PATH] [--json] COMMAND [ARGS]\n\n"
               "Canary rollouts of routing changes across many contact-center organizations,\n"
               "gated by telemetry, with automatic rollback.\n\ncommands:\n");
    for (const rg_cli_command *c = rg_cli_commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fprintf(f, "\n`rollgate COMMAND --help` describes one command.\n"
               "exit codes: 0 success, 1 negative outcome, 2 undecided, 3 usage or input "
               "error, 4 infrastructure error\n");
}

/* A usage error before any command ran: on stderr, and as the --json error object. */
static int top_usage(rg_cli *cli, const char *fmt, const char *what)
{
    rg_cli_error(cli, fmt, what);
    fprintf(stderr, "usage: rollgate [--db PATH] [--json] COMMAND [ARGS]; "
                    "`rollgate --help` lists the commands\n");
    cli->error_code = "usage";
    if (cli->json)
        rg_cli_json_error(cli, RG_EXIT_USAGE);
    return RG_EXIT_USAGE;
}

static const rg_cli_command *find_command(const char *name)
{
    for (const rg_cli_command *c = rg_cli_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

int main(int argc, char **argv)
{
    rg_cli cli = {0};
    const rg_cli_command *cmd;
    int i = 1, rc;

    cli.out = stdout;
    cli.err = stderr;
    cli.db_path = getenv("ROLLGATE_DB");

    /* Global options before the command name. */
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            cli.json = 1;
        } else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            cli.db_path = argv[++i];
        } else if (strncmp(argv[i], "--db=", 5) == 0) {
            cli.db_path = argv[i] + 5;
        } else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
            cli.verbose++;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            top_help(stdout);
            return RG_EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            argv[i] = "version";
            break;
        } else {
            return top_usage(&cli, "unknown option '%s'", argv[i]);
        }
    }
    if (i >= argc) {
        top_help(stderr);
        return RG_EXIT_USAGE;
    }
    if (strcmp(argv[i], "help") == 0) {
        if (i + 1 < argc && (cmd = find_command(argv[i + 1])) != NULL) {
            rg_cli_help(&cli, cmd);
            return RG_EXIT_OK;
        }
        top_help(stdout);
        return RG_EXIT_OK;
    }
    cmd = find_command(argv[i]);
    if (cmd == NULL)
        return top_usage(&cli, "unknown command '%s'", argv[i]);
    if (cli.db_path == NULL || *cli.db_path == '\0')
        cli.db_path = "rollgate.db";

    /* --json anywhere asks for the error object too, even when an earlier option fails. */
    for (int k = i + 1; k < argc && strcmp(argv[k], "--") != 0; k++)
        if (strcmp(argv[k], "--json") == 0)
            cli.json = 1;
    /* Commands see argv starting at their own name, as getopt expects. */
    optind = 1;
    rg_cli_install_log(&cli);
    rc = cmd->run(&cli, argc - i, argv + i);
    if (cli.json && rc != RG_EXIT_OK && !cli.printed)
        rg_cli_json_error(&cli, rc);
    fflush(stdout);
    return rc;
}
