/* common.c - shared option handling, error printing and exit-code mapping for the CLI */
#include <stdarg.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "rollgate/util.h"

void rg_cli_error(rg_cli *cli, const char *fmt, ...)
{
    va_list ap;
    fputs("rollgate: ", cli->err);
    va_start(ap, fmt);
    vfprintf(cli->err, fmt, ap);
    va_end(ap);
    fputc('\n', cli->err);
}

void rg_cli_help(rg_cli *cli, const rg_cli_command *cmd)
{
    fprintf(cli->out, "usage: rollgate [--db PATH] %s %s\n\n%s\n", cmd->name, cmd->usage,
            cmd->summary);
    if (cmd->help && *cmd->help)
        fprintf(cli->out, "\n%s\n", cmd->help);
    fprintf(cli->out, "\ncommon options:\n"
                      "  --db PATH    database (default $ROLLGATE_DB, else ./rollgate.db)\n"
                      "  --json       print one JSON document on stdout\n"
                      "  --verbose    log progress to stderr\n"
                      "  --help       this text\n");
}

int rg_cli_usage(rg_cli *cli, const rg_cli_command *cmd, const char *problem)
{
    if (problem)
        rg_cli_error(cli, "%s", problem);
    fprintf(cli->err, "usage: rollgate %s %s\n", cmd->name, cmd->usage);
    return RG_EXIT_USAGE;
}

int rg_cli_exit_for(int rc)
{
    switch (rc) {
    case RG_OK: return RG_EXIT_OK;
    case RG_EINVALID:
    case RG_ENOTFOUND:
    case RG_ELIMIT:
    case RG_ECLAIMED: return RG_EXIT_USAGE;
    case RG_ECONFLICT: return RG_EXIT_NEGATIVE;
    default: return RG_EXIT_INFRA;
    }
}

int rg_cli_fail(rg_cli *cli)
{
    const char *msg = rg_error_last();
    rg_cli_error(cli, "%s", *msg ? msg : "unknown error");
    return rg_cli_exit_for(rg_error_code());
}

int rg_cli_common_option(rg_cli *cli, const rg_cli_command *cmd, int c, const char *arg,
                         int *exit_code)
{
    switch (c) {
    case 'J': cli->json = 1; return 1;
    case 'D': cli->db_path = arg; return 1;
    case 'v':
        cli->verbose++;
        rg_cli_install_log(cli);
        return 1;
    case 'h':
        rg_cli_help(cli, cmd);
        *exit_code = RG_EXIT_OK;
        return -1;
    case '?':
    case ':':
        *exit_code = rg_cli_usage(cli, cmd, NULL);
        return -1;
    default: return 0;
    }
}

void rg_cli_install_log(rg_cli *cli)
{
    rg_log_level level = RG_LOG_WARN;
    if (cli->verbose)
        level = cli->verbose > 1 ? RG_LOG_DEBUG : RG_LOG_INFO;
    rg_log_set_sink(rg_log_stderr_sink, NULL, level);
}
