/* cmd_token.c - `rollgate token new`: make an API token for `serve`; only its hash is kept */
#include <stdlib.h>
#include <string.h>

#include "cli/engine_cli.h"
#include "rollgate/server.h"
#include "rollgate/util.h"

int rg_cmd_token(rg_cli *cli, int argc, char **argv);
const char *rg_cli_tokens_path(const char *given);

int rg_cmd_token(rg_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {{"tenant", required_argument, NULL, 't'},
                                            {"role", required_argument, NULL, 'r'},
                                            {"name", required_argument, NULL, 'n'},
                                            {"tokens", required_argument, NULL, 'T'},
                                            RG_CLI_COMMON_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    const rg_cli_command *self = rg_cli_self(rg_cmd_token);
    const char *tenant = NULL, *role_text = NULL, *name = NULL, *tokens = NULL, *path;
    char *token = NULL;
    rg_role role;
    int c, stop;

    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        if (c == 't')
            tenant = optarg;
        else if (c == 'r')
            role_text = optarg;
        else if (c == 'n')
            name = optarg;
        else if (c == 'T')
            tokens = optarg;
        else if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0)
            return stop;
    }
    if (optind + 1 != argc || strcmp(argv[optind], "new") != 0)
        return rg_cli_usage(cli, self, "expected `token new`");
    if (tenant == NULL || role_text == NULL || name == NULL)
        return rg_cli_usage(cli, self, "--tenant, --role and --name are required");
    if (rg_role_parse(&role, role_text) < 0)
        return rg_cli_fail(cli);
    path = rg_cli_tokens_path(tokens);
    if (rg_tokens_new(&token, path, tenant, role, name) < 0)
        return rg_cli_fail(cli);
    if (cli->json)
        rg_cli_print_json(cli,
                          json_pack("{s:s, s:s, s:s, s:s, s:s}", "token", token, "tenant", tenant,
                                    "role", role_text, "name", name, "tokens_file", path));
    else
        fprintf(cli->out, "%s\n", token);
    fprintf(cli->err,
            "rollgate: token for %s (%s, tenant %s) added to %s; it is shown only "
            "now: only its SHA-256 is kept\n",
            name, role_text, tenant, path);
    free(token);
    return RG_EXIT_OK;
}
