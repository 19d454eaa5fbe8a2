/* cli.h - what every `rollgate` subcommand shares: options, output, exit codes */
#ifndef RG_CLI_H
#define RG_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "rollgate/error.h"

/* Exit codes everywhere (INTERFACES.md). */
enum {
    RG_EXIT_OK = 0,        /* success */
    RG_EXIT_NEGATIVE = 1,  /* negative outcome: rolled back, failed, pre-flight blocked */
    RG_EXIT_UNDECIDED = 2, /* still undecided at a timeout, or held */
    RG_EXIT_USAGE = 3,     /* usage or input error, unknown id */
    RG_EXIT_INFRA = 4,     /* database, network, platform unreachable */
};

typedef struct rg_cli {
    const char *db_path; /* --db, else $ROLLGATE_DB, else ./rollgate.db */
    int json;            /* --json: one JSON document on stdout */
    int verbose;         /* -v: log level info (debug with -vv) to stderr */
    FILE *out;
    FILE *err;
} rg_cli;

typedef struct rg_cli_command {
    const char *name;
    const char *summary;
    const char *usage; /* the arguments after the command name */
    const char *help;  /* the longer text for `rollgate COMMAND --help` */
    int (*run)(rg_cli *cli, int argc, char **argv);
} rg_cli_command;

/* Options every command accepts after its name; append to a command's own table. */
#define RG_CLI_COMMON_OPTIONS                                                                 \
    {"json", no_argument, NULL, 'J'}, {"db", required_argument, NULL, 'D'},                    \
        {"help", no_argument, NULL, 'h'}, {"verbose", no_argument, NULL, 'v'}

/* Handles the common options inside a command's getopt loop. Returns 1 when handled,
 * 0 when `c` is not a common option, -1 when the command must stop now with *exit_code
 * (help printed: 0; unknown option: 3 after the usage line). */
int rg_cli_common_option(rg_cli *cli, const rg_cli_command *cmd, int c, const char *arg,
                         int *exit_code);

/* Prints "rollgate: <message>" to stderr. */
void rg_cli_error(rg_cli *cli, const char *fmt, ...) RG_PRINTF(2, 3);
/* Prints the usage line for cmd and returns RG_EXIT_USAGE. */
int rg_cli_usage(rg_cli *cli, const rg_cli_command *cmd, const char *problem);
/* Prints the last library error and returns the exit code its code maps to. */
int rg_cli_fail(rg_cli *cli);
/* The exit code for a library error code. */
int rg_cli_exit_for(int rc);
/* Prints `rollgate COMMAND --help`. */
void rg_cli_help(rg_cli *cli, const rg_cli_command *cmd);

/* Installs the stderr log sink at the level -v/-vv asks for (warnings otherwise). */
void rg_cli_install_log(rg_cli *cli);

/* The registered commands (cli/commands.c), terminated by a NULL name. */
extern const rg_cli_command rg_cli_commands[];

#endif
