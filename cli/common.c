/* common.c - shared option handling, error printing and exit-code mapping for the CLI */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

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
    if (cli->error[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(cli->error, sizeof(cli->error), fmt, ap);
        va_end(ap);
    }
}

void rg_cli_help(rg_cli *cli, const rg_cli_command *cmd)
{
    fprintf(cli->out, "usage: rollgate [--db PATH] %s %s\n\n%s\n", cmd->name, cmd->usage,
            cmd->summary);
    if (cmd->help && *cmd->help)
        fprintf(cli->out, "\n%s\n", cmd->help);
    fprintf(cli->out, "\ncommon options:\n"
                      "  --db PATH    database (default $ROLLGATE_DB, else ./rollgate.db)\n"
                      "  --json       print one JSON document on stdout (errors too:\n"
                      "               {\"error\":{\"code\",\"exit\",\"message\"}})\n"
                      "  --verbose    log progress to stderr (-vv: debug)\n"
                      "  --help       this text\n"
                      "\nexit codes: 0 success, 1 negative outcome, 2 undecided, 3 usage or "
                      "input error,\n4 infrastructure error\n");
}

int rg_cli_usage(rg_cli *cli, const rg_cli_command *cmd, const char *problem)
{
    if (problem)
        rg_cli_error(cli, "%s", problem);
    else if (cli->error[0] == '\0')
        snprintf(cli->error, sizeof(cli->error), "usage: rollgate %s %s", cmd->name, cmd->usage);
    fprintf(cli->err, "usage: rollgate %s %s\n", cmd->name, cmd->usage);
    if (cli->error_code == NULL)
        cli->error_code = "usage";
    return RG_EXIT_USAGE;
}

int rg_cli_conflict(rg_cli *cli, const rg_cli_command *cmd, const char *a, const char *b)
{
    char problem[256];
    snprintf(problem, sizeof(problem), "%s and %s exclude each other", a, b);
    return rg_cli_usage(cli, cmd, problem);
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

/* The --json error code for a library error code (the names `serve` answers with). */
static const char *code_name(int rc)
{
    switch (rc) {
    case RG_EINVALID: return "invalid";
    case RG_ENOTFOUND: return "not_found";
    case RG_ECONFLICT: return "conflict";
    case RG_EPLATFORM: return "platform";
    case RG_EDB: return "database";
    case RG_ENOMEM: return "out_of_memory";
    case RG_EIO: return "io";
    case RG_EAUTH: return "auth";
    case RG_ELIMIT: return "limit";
    case RG_ETIMEOUT: return "timeout";
    default: return "error";
    }
}

int rg_cli_fail(rg_cli *cli)
{
    const char *msg = rg_error_last();
    int rc = rg_error_code();
    rg_cli_error(cli, "%s", *msg ? msg : "unknown error");
    if (cli->error_code == NULL)
        cli->error_code = code_name(rc);
    return rg_cli_exit_for(rc);
}

int rg_cli_print_json(rg_cli *cli, json_t *doc)
{
    size_t flags = JSON_SORT_KEYS | (isatty(fileno(cli->out)) ? JSON_INDENT(2) : JSON_COMPACT);
    char *text = doc ? rg_json_dumps(doc, flags) : NULL;

    json_decref(doc);
    if (text == NULL) {
        rg_cli_error(cli, "printing the JSON result: %s", doc ? rg_error_last() : "out of memory");
        cli->error_code = "out_of_memory";
        return RG_EXIT_INFRA;
    }
    fprintf(cli->out, "%s\n", text);
    free(text);
    cli->printed = 1;
    return RG_EXIT_OK;
}

void rg_cli_json_error(rg_cli *cli, int exit_code)
{
    const char *code = cli->error_code;

    if (code == NULL)
        code = exit_code == RG_EXIT_USAGE   ? "usage"
               : exit_code == RG_EXIT_INFRA ? "error"
                                            : "negative";
    cli->printed = 0;
    rg_cli_print_json(cli, json_pack("{s:{s:s, s:i, s:s}}", "error", "code", code, "exit",
                                     exit_code, "message", cli->error[0] ? cli->error : "failed"));
}

int rg_cli_other_option(rg_cli *cli, const rg_cli_command *cmd, int c, const char *arg)
{
    switch (c) {
    case 'J': cli->json = 1; return -1;
    case 'D': cli->db_path = arg; return -1;
    case 'v':
        cli->verbose++;
        rg_cli_install_log(cli);
        return -1;
    case 'h': rg_cli_help(cli, cmd); return RG_EXIT_OK;
    case '?':
    case ':': return rg_cli_usage(cli, cmd, NULL);
    default: return rg_cli_usage(cli, cmd, "an option this command does not take");
    }
}

int rg_cli_common_option(rg_cli *cli, const rg_cli_command *cmd, int c, const char *arg,
                         int *exit_code)
{
    switch (c) {
    case 'J':
    case 'D':
    case 'v': rg_cli_other_option(cli, cmd, c, arg); return 1;
    case 'h':
    case '?':
    case ':': *exit_code = rg_cli_other_option(cli, cmd, c, arg); return -1;
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
