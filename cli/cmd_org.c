/* cmd_org.c - `rollgate org`: the registry of tenants' organizations that `serve` takes
 * platform URLs, credentials and webhook secrets from; kept by the server's owner */
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli/engine_cli.h"
#include "rollgate/registry.h"
#include "rollgate/util.h"

int rg_cmd_org(rg_cli *cli, int argc, char **argv);

/* --registry, else $ROLLGATE_REGISTRY, else rollgate-registry.json beside the database
 * (also used by `serve`). */
const char *rg_cli_registry_path(rg_cli *cli, const char *given);

const char *rg_cli_registry_path(rg_cli *cli, const char *given)
{
    static char path[PATH_MAX];
    const char *env = getenv("ROLLGATE_REGISTRY");
    char db[PATH_MAX];

    if (given && *given)
        return given;
    if (env && *env)
        return env;
    snprintf(db, sizeof(db), "%s", cli->db_path ? cli->db_path : "rollgate.db");
    snprintf(path, sizeof(path), "%s/rollgate-registry.json", dirname(db));
    return path;
}

static int print_list(rg_cli *cli, const char *path, const char *tenant)
{
    rg_registry *reg = NULL;
    json_t *list, *e;
    size_t i;
    int rc = rg_registry_load(&reg, path);

    if (rc < 0)
        return rg_cli_fail(cli);
    list = rg_registry_list_json(reg, tenant);
    if (cli->json) {
        json_t *hooks = json_object();
        json_array_foreach(list, i, e)
        {
            const char *t = json_string_value(json_object_get(e, "tenant"));
            const char *src = rg_registry_webhook_source(reg, t);
            if (src)
                json_object_set_new(hooks, t, json_string(src));
        }
        rg_cli_print_json(cli, json_pack("{s:s, s:o, s:o}", "registry", path, "orgs", list,
                                         "webhook_secrets", hooks));
    } else {
        fprintf(cli->out, "%-20s %-24s %-16s %s\n", "TENANT", "ORG", "REGION", "CREDENTIALS");
        json_array_foreach(list, i, e) fprintf(
            cli->out, "%-20s %-24s %-16s %s\n", json_string_value(json_object_get(e, "tenant")),
            json_string_value(json_object_get(e, "org")),
            json_string_value(json_object_get(e, "region")),
            json_string_value(json_object_get(e, "credentials")));
        json_decref(list);
        if (tenant && rg_registry_webhook_source(reg, tenant))
            fprintf(cli->out, "webhook secret of %s: %s\n", tenant,
                    rg_registry_webhook_source(reg, tenant));
    }
    rg_registry_free(reg);
    return RG_EXIT_OK;
}

int rg_cmd_org(rg_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {{"tenant", required_argument, NULL, 't'},
                                            {"org", required_argument, NULL, 'o'},
                                            {"region", required_argument, NULL, 'r'},
                                            {"credentials", required_argument, NULL, 'c'},
                                            {"api-url", required_argument, NULL, 'a'},
                                            {"login-url", required_argument, NULL, 'L'},
                                            {"secret", required_argument, NULL, 's'},
                                            {"clear", no_argument, NULL, 'C'},
                                            {"registry", required_argument, NULL, 'R'},
                                            RG_CLI_COMMON_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    const rg_cli_command *self = rg_cli_self(rg_cmd_org);
    rg_registry_org org = {0};
    const char *registry = NULL, *secret = NULL, *verb, *path;
    int c, stop, clear = 0;

    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        switch (c) {
        case 't': org.tenant = optarg; break;
        case 'o': org.org = optarg; break;
        case 'r': org.region = optarg; break;
        case 'c': org.credentials = optarg; break;
        case 'a': org.api_url = optarg; break;
        case 'L': org.login_url = optarg; break;
        case 's': secret = optarg; break;
        case 'C': clear = 1; break;
        case 'R': registry = optarg; break;
        default:
            if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0)
                return stop;
        }
    }
    if (optind + 1 != argc)
        return rg_cli_usage(cli, self, "expected one of add, list, remove, webhook");
    verb = argv[optind];
    path = rg_cli_registry_path(cli, registry);
    if (strcmp(verb, "list") == 0)
        return print_list(cli, path, org.tenant);
    if (org.tenant == NULL)
        return rg_cli_usage(cli, self, "--tenant is required");
    if (strcmp(verb, "add") == 0) {
        if (org.org == NULL || org.region == NULL || org.credentials == NULL)
            return rg_cli_usage(cli, self, "add needs --org, --region and --credentials");
        if (rg_registry_add(path, &org) < 0)
            return rg_cli_fail(cli);
        fprintf(cli->err, "rollgate: org %s of tenant %s (region %s) registered in %s\n", org.org,
                org.tenant, org.region, path);
    } else if (strcmp(verb, "remove") == 0) {
        if (org.org == NULL)
            return rg_cli_usage(cli, self, "remove needs --org");
        if (rg_registry_remove(path, org.tenant, org.org) < 0)
            return rg_cli_fail(cli);
        fprintf(cli->err, "rollgate: org %s removed from tenant %s in %s\n", org.org, org.tenant,
                path);
    } else if (strcmp(verb, "webhook") == 0) {
        if ((secret == NULL) == (clear == 0))
            return rg_cli_usage(cli, self,
                                "webhook needs --secret env:NAME|file:PATH or "
                                "--clear");
        if (rg_registry_set_webhook(path, org.tenant, secret) < 0)
            return rg_cli_fail(cli);
        fprintf(cli->err, "rollgate: webhook secret of tenant %s %s in %s\n", org.tenant,
                secret ? "set" : "cleared", path);
    } else {
        return rg_cli_usage(cli, self, "expected one of add, list, remove, webhook");
    }
    if (cli->json)
        rg_cli_print_json(cli, json_pack("{s:s, s:s, s:s, s:s?}", "registry", path, "action", verb,
                                         "tenant", org.tenant, "org", org.org));
    return RG_EXIT_OK;
}
