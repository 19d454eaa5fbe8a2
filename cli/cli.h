/* cli.h - what every `rollgate` subcommand shares: options, output, exit codes */
#ifndef RG_CLI_H
#define RG_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "rollgate/error.h"

/* Exit codes everywhere (docs/cli.md). */
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
    /* For --json: the first error printed, its code, and whether a document was printed;
     * main prints {"error":{"code","exit","message"}} when a command failed without one. */
    char error[1024];
    const char *error_code;
    int printed;
} rg_cli;

typedef struct rg_cli_command {
    const char *name;
    const char *summary;
    const char *usage; /* the arguments after the command name */
    const char *help;  /* the longer text for `rollgate COMMAND --help` */
    int (*run)(rg_cli *cli, int argc, char **argv);
} rg_cli_command;

/* Options every command accepts after its name; append to a command's own table. */
#define RG_CLI_COMMON_OPTIONS                                                                      \
    {"json", no_argument, NULL, 'J'}, {"db", required_argument, NULL, 'D'},                        \
        {"help", no_argument, NULL, 'h'},                                                          \
    {                                                                                              \
        "verbose", no_argument, NULL, 'v'                                                          \
    }

/* Handles the common options inside a command's getopt loop. Returns 1 when handled,
 * 0 when `c` is not a common option, -1 when the command must stop now with *exit_code
 * (help printed: 0; unknown option: 3 after the usage line). Prefer rg_cli_other_option. */
int rg_cli_common_option(rg_cli *cli, const rg_cli_command *cmd, int c, const char *arg,
                         int *exit_code);

/* The end of a command's getopt loop: handles the common options for a `c` the command
 * does not take. Returns -1 when handled (go on), else the exit code to return now
 * (0 after --help, 3 after an unknown option or one this command does not take). */
int rg_cli_other_option(rg_cli *cli, const rg_cli_command *cmd, int c, const char *arg);

/* Prints "rollgate: <message>" to stderr (and keeps it for the --json error object). */
void rg_cli_error(rg_cli *cli, const char *fmt, ...) RG_PRINTF(2, 3);
/* Refuses two options that exclude each other: a message and RG_EXIT_USAGE. */
int rg_cli_conflict(rg_cli *cli, const rg_cli_command *cmd, const char *a, const char *b);
/* Prints one JSON document on stdout (pretty on a terminal, reals in their shortest form).
 * Steals `doc`; a NULL doc is an out-of-memory error (exit 4). Returns an exit code. */
struct json_t;
int rg_cli_print_json(rg_cli *cli, struct json_t *doc);
/* Prints {"error":{"code","exit","message"}} for a failed --json command that printed no
 * document (main calls it). */
void rg_cli_json_error(rg_cli *cli, int exit_code);
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
