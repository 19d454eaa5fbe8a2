/* cmd_env.c - `promote-env`, `history`, `may-promote`: an artifact through environments */
#include <stdlib.h>
#include <string.h>

#include "cli/engine_cli.h"
#include "rollgate/util.h"

int rg_cmd_promote_env(rg_cli *cli, int argc, char **argv);
int rg_cmd_history(rg_cli *cli, int argc, char **argv);
int rg_cmd_may_promote(rg_cli *cli, int argc, char **argv);
int rg_cli_artifact_diff(rg_cli *cli, const rg_manifest *m, const char *rollout_id);

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

int rg_cmd_promote_env(rg_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {{"to", required_argument, NULL, 'T'},
                                            {"approve", no_argument, NULL, 'a'},
                                            {"actor", required_argument, NULL, 'A'},
                                            {"force", no_argument, NULL, 'F'},
                                            {"reason", required_argument, NULL, 'R'},
                                            RG_CLI_COMMON_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    const rg_cli_command *self = rg_cli_self(rg_cmd_promote_env);
    const char *to = NULL, *actor = NULL, *reason = NULL;
    rg_engine *engine = NULL;
    json_t *st = NULL;
    char *tenant = NULL, id[RG_STORE_ROLLOUT_ID_LEN];
    int c, code = 0, approve = 0, force = 0, stop;

    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        if (c == 'T')
            to = optarg;
        else if (c == 'a')
            approve = 1;
        else if (c == 'A')
            actor = optarg;
        else if (c == 'F')
            force = 1;
        else if (c == 'R')
            reason = optarg;
        else if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0)
            return stop;
    }
    if (optind + 1 != argc || to == NULL)
        return rg_cli_usage(cli, self, "expected a rollout ID and --to ENVIRONMENT");
    if (force != (reason != NULL) || (reason && *reason == '\0'))
        return rg_cli_usage(cli, self, "--force and --reason TEXT go together");
    if ((code = rg_cli_open_engine(cli, &engine, NULL)) != 0)
        return code;
    if ((code = rg_cli_rollout_tenant(cli, engine, argv[optind], &tenant)) != 0)
        goto cleanup;
    if (rg_engine_promote_env(id, engine, tenant, argv[optind], to, rg_cli_actor(actor), approve,
                              force ? reason : NULL) < 0 ||
        rg_engine_status_json(&st, engine, tenant, id) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    if (cli->json)
        rg_cli_print_json(cli, json_pack("{s:s, s:s, s:O, s:O, s:O, s:O}", "id", id, "from",
                                         argv[optind], "state", json_object_get(st, "state"),
                                         "digest", json_object_get(st, "digest"), "environment",
                                         json_object_get(st, "environment"), "forced_reason",
                                         json_object_get(st, "forced_reason")));
    else
        fprintf(cli->out, "%s\n%s: %s in %s from the artifact of %s (%s)%s\n", id, jstr(st, "name"),
                jstr(st, "state"), jstr(st, "environment"), argv[optind], jstr(st, "digest"),
                json_is_string(json_object_get(st, "forced_reason"))
                    ? ", FORCED past its requirements"
                    : "");
cleanup:
    json_decref(st);
    free(tenant);
    rg_cli_close_engine(engine);
    return code;
}

/* DIGEST --tenant T: the arguments history and may-promote share. */
static int digest_args(rg_cli *cli, const rg_cli_command *self, int argc, char **argv,
                       const char **tenant, const char **env, int want_env)
{
    static const struct option options[] = {{"tenant", required_argument, NULL, 'T'},
                                            {"env", required_argument, NULL, 'E'},
                                            RG_CLI_COMMON_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    int c, stop;

    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        if (c == 'T')
            *tenant = optarg;
        else if (c == 'E' && want_env)
            *env = optarg;
        else if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0)
            return stop;
    }
    if (optind + 1 != argc || *tenant == NULL || (want_env && *env == NULL))
        return rg_cli_usage(cli, self,
                            want_env ? "expected DIGEST --env E --tenant T"
                                     : "expected DIGEST --tenant T");
    return -1;
}

int rg_cmd_history(rg_cli *cli, int argc, char **argv)
{
    const rg_cli_command *self = rg_cli_self(rg_cmd_history);
    const char *tenant = NULL, *env = NULL;
    rg_engine *engine = NULL;
    json_t *doc = NULL, *r;
    size_t i;
    int code;

    if ((code = digest_args(cli, self, argc, argv, &tenant, &env, 0)) >= 0)
        return code;
    if ((code = rg_cli_open_engine_readonly(cli, &engine)) != 0)
        return code;
    if (rg_engine_history_json(&doc, engine, tenant, argv[optind]) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    if (cli->json) {
        rg_cli_print_json(cli, doc);
        doc = NULL;
        goto cleanup;
    }
    fprintf(cli->out, "%s %s\n", jstr(doc, "name"), jstr(doc, "digest"));
    json_array_foreach(json_object_get(doc, "rollouts"), i, r)
    {
        json_t *a;
        size_t k;
        fprintf(cli->out, "  %s  %-12s %-20s %s by %s  approved by:", jstr(r, "id"),
                jstr(r, "environment"), jstr(r, "state"), jstr(r, "created_at"),
                jstr(r, "created_by"));
        json_array_foreach(json_object_get(r, "approvers"), k, a)
            fprintf(cli->out, " %s", json_string_value(a));
        if (json_array_size(json_object_get(r, "approvers")) == 0)
            fprintf(cli->out, " -");
        if (json_is_string(json_object_get(r, "forced_reason")))
            fprintf(cli->out, "  FORCED: %s", jstr(r, "forced_reason"));
        fprintf(cli->out, "\n");
    }
cleanup:
    json_decref(doc);
    rg_cli_close_engine(engine);
    return code;
}

int rg_cmd_may_promote(rg_cli *cli, int argc, char **argv)
{
    const rg_cli_command *self = rg_cli_self(rg_cmd_may_promote);
    const char *tenant = NULL, *env = NULL;
    rg_engine *engine = NULL;
    json_t *doc = NULL;
    int code;

    if ((code = digest_args(cli, self, argc, argv, &tenant, &env, 1)) >= 0)
        return code;
    if ((code = rg_cli_open_engine_readonly(cli, &engine)) != 0)
        return code;
    if (rg_engine_may_promote_json(&doc, engine, tenant, argv[optind], env) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    code = json_is_true(json_object_get(doc, "allowed")) ? RG_EXIT_OK : RG_EXIT_NEGATIVE;
    if (cli->json) {
        rg_cli_print_json(cli, doc);
        doc = NULL;
    } else if (code == RG_EXIT_OK) {
        fprintf(cli->out, "%s may go to %s\n", argv[optind], env);
    } else {
        fprintf(cli->out, "refused: %s\n", jstr(doc, "reason"));
    }
cleanup:
    json_decref(doc);
    rg_cli_close_engine(engine);
    return code;
}

/* `plan MANIFEST --artifact ID`: exit 0 when the file is the artifact rollout ID recorded,
 * 1 with what differs when it is not. */
int rg_cli_artifact_diff(rg_cli *cli, const rg_manifest *m, const char *rollout_id)
{
    rg_engine *engine = NULL;
    json_t *doc = NULL, *d;
    char *tenant = NULL;
    size_t i;
    int code;

    if ((code = rg_cli_open_engine_readonly(cli, &engine)) != 0)
        return code;
    if ((code = rg_cli_rollout_tenant(cli, engine, rollout_id, &tenant)) != 0)
        goto cleanup;
    if (rg_engine_artifact_diff_json(&doc, engine, tenant, rollout_id, m) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    code = json_is_true(json_object_get(doc, "same")) ? RG_EXIT_OK : RG_EXIT_NEGATIVE;
    if (cli->json) {
        rg_cli_print_json(cli, doc);
        doc = NULL;
        goto cleanup;
    }
    fprintf(cli->out, "file     %s\nartifact %s (rollout %s)\n", m->digest,
            jstr(doc, "artifact_digest"), rollout_id);
    if (code == RG_EXIT_OK)
        fprintf(cli->out, "the file is the recorded artifact\n");
    json_array_foreach(json_object_get(doc, "differences"), i, d)
    {
        char *a = json_dumps(json_object_get(d, "artifact"), JSON_COMPACT | JSON_ENCODE_ANY);
        char *f = json_dumps(json_object_get(d, "file"), JSON_COMPACT | JSON_ENCODE_ANY);
        fprintf(cli->out, "  %s: %s -> %s\n", jstr(d, "path"), a ? a : "(absent)",
                f ? f : "(absent)");
        free(a);
        free(f);
    }
cleanup:
    json_decref(doc);
    free(tenant);
    rg_cli_close_engine(engine);
    return code;
}
