/* cmd_start.c - `rollgate start MANIFEST`: create a rollout */
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli/engine_cli.h"
#include "rollgate/util.h"

int rg_cmd_start(rg_cli *cli, int argc, char **argv);

int rg_cmd_start(rg_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {{"approve", no_argument, NULL, 'a'},
                                            {"actor", required_argument, NULL, 'A'},
                                            {"var", required_argument, NULL, 'V'},
                                            {"env", required_argument, NULL, 'E'},
                                            {"force", no_argument, NULL, 'F'},
                                            {"reason", required_argument, NULL, 'R'},
                                            RG_CLI_COMMON_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    const rg_cli_command *self = rg_cli_self(rg_cmd_start);
    rg_manifest_var vars[RG_MANIFEST_MAX_VARS];
    rg_manifest_options mopts = {vars, 0, NULL};
    rg_manifest *manifest = NULL;
    rg_engine *engine = NULL;
    const char *actor = NULL, *reason = NULL;
    char id[RG_STORE_ROLLOUT_ID_LEN], dir[PATH_MAX];
    int c, code = 0, approve = 0, force = 0, rc, stop;

    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        if (c == 'a') {
            approve = 1;
        } else if (c == 'A') {
            actor = optarg;
        } else if (c == 'E') {
            mopts.environment = optarg;
        } else if (c == 'F') {
            force = 1;
        } else if (c == 'R') {
            reason = optarg;
        } else if (c == 'V') {
            char *eq = strchr(optarg, '=');
            if (eq == NULL || eq == optarg || mopts.vars_count >= RG_MANIFEST_MAX_VARS)
                return rg_cli_usage(cli, self, "--var expects NAME=VALUE");
            *eq = '\0';
            vars[mopts.vars_count++] = (rg_manifest_var){optarg, eq + 1};
        } else if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0) {
            return stop;
        }
    }
    if (optind + 1 != argc)
        return rg_cli_usage(cli, self, "start takes one MANIFEST");
    if (force != (reason != NULL) || (reason && *reason == '\0'))
        return rg_cli_usage(cli, self, "--force and --reason TEXT go together");
    if (rg_manifest_load_file(&manifest, argv[optind], &mopts) < 0)
        return rg_cli_fail(cli);
    snprintf(dir, sizeof(dir), "%s", argv[optind]);
    if ((code = rg_cli_open_engine(cli, &engine, NULL)) != 0)
        goto cleanup;
    rc = rg_engine_start_forced(id, engine, manifest, dirname(dir), rg_cli_actor(actor), approve,
                                force ? reason : NULL);
    if (rc < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    {
        json_t *st = NULL;
        char *tenant = manifest->tenant;
        if (rg_engine_status_json(&st, engine, tenant, id) < 0) {
            code = rg_cli_fail(cli);
            goto cleanup;
        }
        if (cli->json)
            rg_cli_print_json(cli,
                              json_pack("{s:s, s:O, s:s, s:O, s:O}", "id", id, "state",
                                        json_object_get(st, "state"), "digest", manifest->digest,
                                        "environment", json_object_get(st, "environment"),
                                        "forced_reason", json_object_get(st, "forced_reason")));
        else
            fprintf(cli->out, "%s\n%s: %s, %zu targets, artifact %s%s%s%s\n", id, manifest->name,
                    json_string_value(json_object_get(st, "state")),
                    json_array_size(json_object_get(st, "targets")), manifest->digest,
                    manifest->environment ? " in " : "",
                    manifest->environment ? manifest->environment : "",
                    json_is_string(json_object_get(st, "forced_reason"))
                        ? " (FORCED past its requirements)"
                        : "");
        json_decref(st);
    }
cleanup:
    rg_manifest_free(manifest);
    rg_cli_close_engine(engine);
    return code;
}
