/* cmd_run.c - `rollgate run`: the scheduler in the foreground */
#include <signal.h>
#include <string.h>

#include "cli/engine_cli.h"
#include "rollgate/util.h"

int rg_cmd_run(rg_cli *cli, int argc, char **argv);

static volatile sig_atomic_t run_stop;

static void on_signal(int sig)
{
    (void)sig;
    run_stop = 1;
}

/* After --until-done: the rollouts this run left held because the platform could not be
 * reached (the hold reason says "platform unreachable"), one line each. 1 when any. */
static int report_outage(rg_cli *cli, rg_engine *engine, int64_t since_ms)
{
    rg_store_rollouts active = {0};
    int found = 0;

    if (rg_engine_rollout_list_active_all_tenants(&active, engine) < 0)
        return 0; /* the run itself succeeded; its outcome is in status */
    for (size_t i = 0; i < active.count; i++) {
        const rg_store_rollout *r = &active.items[i];
        /* anywhere in the reason: an analytics hold quotes the last error after its count */
        if (r->state != RG_ROLLOUT_HELD || r->updated_at_ms < since_ms || !r->hold_reason ||
            strstr(r->hold_reason, "platform unreachable") == NULL)
            continue;
        rg_cli_error(cli, "rollout %s held: %s", r->id, r->hold_reason);
        found = 1;
    }
    rg_engine_rollouts_dispose(&active);
    return found;
}

/* --json: {"rollouts":[{"id","tenant","name","state"}]} for every rollout that was active
 * when the run began, with the state it has now. */
static int print_driven(rg_cli *cli, rg_engine *engine, const json_t *driven)
{
    json_t *rows = json_array(), *r;
    size_t i;

    json_array_foreach(driven, i, r)
    {
        const char *id = json_string_value(json_object_get(r, "id"));
        const char *tenant = json_string_value(json_object_get(r, "tenant"));
        json_t *st = NULL;
        if (rg_engine_status_json(&st, engine, tenant, id) < 0) {
            json_decref(rows);
            return rg_cli_fail(cli);
        }
        json_array_append_new(rows, json_pack("{s:s, s:s, s:O, s:O}", "id", id, "tenant", tenant,
                                              "name", json_object_get(st, "name"), "state",
                                              json_object_get(st, "state")));
        json_decref(st);
    }
    return rg_cli_print_json(cli, json_pack("{s:o}", "rollouts", rows));
}

int rg_cmd_run(rg_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {{"once", no_argument, NULL, 'o'},
                                            {"until-done", no_argument, NULL, 'u'},
                                            {"tick", required_argument, NULL, 't'},
                                            {"lease", required_argument, NULL, 'l'},
                                            {"quiet", no_argument, NULL, 'q'},
                                            RG_CLI_COMMON_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    const rg_cli_command *self = rg_cli_self(rg_cmd_run);
    rg_engine_options opts;
    rg_run_mode mode = RG_RUN_FOREVER;
    rg_engine *engine = NULL;
    struct sigaction sa;
    json_t *driven = NULL;
    int c, code = 0, rc, quiet = 0, stop;
    int64_t tick, lease, started;

    rg_engine_options_init(&opts);
    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        if (c == 'o' || c == 'u') {
            rg_run_mode want = c == 'o' ? RG_RUN_ONCE : RG_RUN_UNTIL_DONE;
            if (mode != RG_RUN_FOREVER && mode != want)
                return rg_cli_conflict(cli, self, "--once", "--until-done");
            mode = want;
        } else if (c == 'q') {
            quiet = 1;
        } else if (c == 't') {
            if (rg_parse_duration_ms(&tick, optarg) < 0 || tick < 10 || tick > 3600000) {
                rg_cli_error(cli, "--tick '%s': expected a duration between 10ms and 1h", optarg);
                return RG_EXIT_USAGE;
            }
            opts.tick_ms = tick;
        } else if (c == 'l') {
            if (rg_parse_duration_ms(&lease, optarg) < 0 || lease < 100 || lease > 86400000) {
                rg_cli_error(cli, "--lease '%s': expected a duration between 100ms and 24h",
                             optarg);
                return RG_EXIT_USAGE;
            }
            opts.lease_ms = lease;
        } else if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0) {
            return stop;
        }
    }
    if (optind != argc)
        return rg_cli_usage(cli, self, "run takes no arguments");
    if (!quiet) { /* under --json the narration goes to stderr: stdout holds one document */
        opts.narrate = rg_cli_narrate;
        opts.narrate_payload = cli->json ? cli->err : cli->out;
    }
    if ((code = rg_cli_open_engine(cli, &engine, &opts)) != 0)
        return code;
    if (cli->json && rg_engine_list_json(&driven, engine, NULL) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    started = rg_time_now_ms();
    rc = rg_engine_run(engine, mode, (volatile int *)&run_stop);
    if (rc < 0)
        code = rg_cli_fail(cli);
    else if (mode == RG_RUN_UNTIL_DONE && report_outage(cli, engine, started))
        code = RG_EXIT_INFRA; /* "platform down" is not "held": a pipeline must tell */

    else if (cli->json)
        code = print_driven(cli, engine, driven);
cleanup:
    json_decref(driven);
    rg_cli_close_engine(engine);
    return code;
}
