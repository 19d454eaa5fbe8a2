/* cmd_control.c - `approve`, `pause`, `resume`, `promote`, `rollback`: people's commands */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/engine_cli.h"
#include "rollgate/util.h"

int rg_cmd_approve(rg_cli *cli, int argc, char **argv);
int rg_cmd_pause(rg_cli *cli, int argc, char **argv);
int rg_cmd_resume(rg_cli *cli, int argc, char **argv);
int rg_cmd_promote(rg_cli *cli, int argc, char **argv);
int rg_cmd_rollback(rg_cli *cli, int argc, char **argv);
int rg_cmd_retry(rg_cli *cli, int argc, char **argv);
int rg_cmd_undo(rg_cli *cli, int argc, char **argv);

static volatile sig_atomic_t wait_stop;

static void on_interrupt(int sig)
{
    (void)sig;
    wait_stop = 1;
}

/* After a forced rollback this process executed: it restored at once (rg_engine_command);
 * now it drives the rollout through settle and verify_window, one progress line per
 * second, until it ends. SIGINT (Ctrl-C) stops waiting: the rollout stays rolling_back with
 * its restore recorded, and the next driver (`rollgate run`) verifies it. Returns the exit
 * code: 0 ended rolled_back, 1 rollback_incomplete, 2 interrupted, 4 a failure. */
static int wait_verification(rg_cli *cli, rg_engine *engine, const char *tenant, const char *id,
                             const char *what)
{
    struct sigaction sa, old_int;
    int64_t last_line = 0;
    int code = RG_EXIT_UNDECIDED;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_interrupt;
    wait_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    while (!wait_stop) {
        int64_t next = 0, now;
        json_t *st = NULL;
        const char *state;
        if (rg_engine_tick_rollout(engine, tenant, id, &next) < 0 ||
            rg_engine_status_json(&st, engine, tenant, id) < 0) {
            code = rg_cli_fail(cli);
            break;
        }
        state = json_string_value(json_object_get(st, "state"));
        if (state == NULL || strcmp(state, "rolling_back") != 0) {
            code = state && strcmp(state, "rolled_back") == 0 ? RG_EXIT_OK : RG_EXIT_NEGATIVE;
            if (!cli->json)
                fprintf(cli->out, "%s %s: %s (verification %s)\n", what, id, state ? state : "?",
                        json_string_value(json_object_get(st, "verification"))
                            ? json_string_value(json_object_get(st, "verification"))
                            : "none");
            json_decref(st);
            break;
        }
        json_decref(st);
        now = rg_time_now_ms();
        if (!cli->json && now - last_line >= 1000) {
            fprintf(cli->out,
                    "%s %s: restored; verifying by telemetry (next check in "
                    "%llds; Ctrl-C leaves it to the next driver)\n",
                    what, id, (long long)((next > now ? next - now : 0) + 999) / 1000);
            fflush(cli->out);
            last_line = now;
        }
        {
            int64_t wait = next - now;
            struct timespec ts;
            if (wait > 1000)
                wait = 1000;
            if (wait < 50)
                wait = 50;
            ts.tv_sec = wait / 1000;
            ts.tv_nsec = (wait % 1000) * 1000000L;
            nanosleep(&ts, NULL); /* a SIGINT ends it early */
        }
    }
    if (wait_stop && !cli->json)
        fprintf(cli->out,
                "%s %s: interrupted; restored, verification left to the next "
                "driver (rollgate run)\n",
                what, id);
    sigaction(SIGINT, &old_int, NULL);
    return code;
}

static int control(rg_cli *cli, int argc, char **argv, rg_command_kind kind,
                   int (*self_fn)(rg_cli *, int, char **))
{
    static const struct option options[] = {{"actor", required_argument, NULL, 'A'},
                                            {"reason", required_argument, NULL, 'R'},
                                            {"force", no_argument, NULL, 'F'},
                                            {"no-wait", no_argument, NULL, 'N'},
                                            {"full", no_argument, NULL, 'U'},
                                            RG_CLI_COMMON_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    const rg_cli_command *self = rg_cli_self(self_fn);
    const char *actor = NULL, *reason = NULL;
    rg_engine *engine = NULL;
    char *tenant = NULL, *outcome = NULL;
    int c, code = 0, force = 0, no_wait = 0, stop;

    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        if (c == 'A')
            actor = optarg;
        else if (c == 'R')
            reason = optarg;
        else if (c == 'F' && kind == RG_COMMAND_PROMOTE)
            force |= RG_ENGINE_FORCE;
        else if (c == 'U' && kind == RG_COMMAND_PROMOTE)
            force |= RG_ENGINE_FULL;
        else if (c == 'N' && kind == RG_COMMAND_ROLLBACK)
            no_wait = 1;
        else if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0)
            return stop;
    }
    if (optind + 1 != argc)
        return rg_cli_usage(cli, self, "expected one rollout ID");
    if (kind == RG_COMMAND_ROLLBACK && (reason == NULL || *reason == '\0'))
        return rg_cli_usage(cli, self, "a forced rollback needs --reason TEXT");
    if ((force & RG_ENGINE_FULL) &&
        (!(force & RG_ENGINE_FORCE) || reason == NULL || *reason == '\0'))
        return rg_cli_usage(cli, self, "promote --full needs --force and --reason TEXT");
    if ((code = rg_cli_open_engine(cli, &engine, NULL)) != 0)
        return code;
    if ((code = rg_cli_rollout_tenant(cli, engine, argv[optind], &tenant)) != 0)
        goto cleanup;
    if (rg_engine_command(&outcome, engine, tenant, argv[optind], kind, rg_cli_actor(actor), reason,
                          force) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    if (kind == RG_COMMAND_ROLLBACK && !no_wait && strcmp(outcome, "done") == 0) {
        json_t *st = NULL;
        int code2;
        if (rg_engine_status_json(&st, engine, tenant, argv[optind]) < 0) {
            code = rg_cli_fail(cli);
            goto cleanup;
        }
        if (!cli->json)
            fprintf(cli->out, "rollback %s: %s (rollout is %s)\n", argv[optind], outcome,
                    json_string_value(json_object_get(st, "state")));
        json_decref(st);
        st = NULL;
        code2 = wait_verification(cli, engine, tenant, argv[optind], "rollback");
        if (code2 == RG_EXIT_INFRA || code2 == RG_EXIT_USAGE) {
            code = code2;
            goto cleanup;
        }
        if (rg_engine_status_json(&st, engine, tenant, argv[optind]) < 0) {
            code = rg_cli_fail(cli);
            goto cleanup;
        }
        if (cli->json)
            rg_cli_print_json(cli, json_pack("{s:s, s:s, s:s, s:O, s:O, s:b}", "id", argv[optind],
                                             "command", "rollback", "outcome", outcome, "state",
                                             json_object_get(st, "state"), "verification",
                                             json_object_get(st, "verification")
                                                 ? json_object_get(st, "verification")
                                                 : json_null(),
                                             "interrupted", code2 == RG_EXIT_UNDECIDED));
        json_decref(st);
        code = code2;
        goto cleanup;
    }
    {
        json_t *st = NULL;
        if (rg_engine_status_json(&st, engine, tenant, argv[optind]) < 0) {
            code = rg_cli_fail(cli);
            goto cleanup;
        }
        if (cli->json)
            rg_cli_print_json(cli, json_pack("{s:s, s:s, s:s, s:O}", "id", argv[optind], "command",
                                             rg_command_kind_to_str(kind), "outcome", outcome,
                                             "state", json_object_get(st, "state")));
        else
            fprintf(cli->out, "%s %s: %s (rollout is %s)\n", rg_command_kind_to_str(kind),
                    argv[optind], outcome, json_string_value(json_object_get(st, "state")));
        json_decref(st);
    }
cleanup:
    free(tenant);
    free(outcome);
    rg_cli_close_engine(engine);
    return code;
}

int rg_cmd_approve(rg_cli *cli, int argc, char **argv)
{
    return control(cli, argc, argv, RG_COMMAND_APPROVE, rg_cmd_approve);
}

int rg_cmd_pause(rg_cli *cli, int argc, char **argv)
{
    return control(cli, argc, argv, RG_COMMAND_PAUSE, rg_cmd_pause);
}

int rg_cmd_resume(rg_cli *cli, int argc, char **argv)
{
    return control(cli, argc, argv, RG_COMMAND_RESUME, rg_cmd_resume);
}

int rg_cmd_promote(rg_cli *cli, int argc, char **argv)
{
    return control(cli, argc, argv, RG_COMMAND_PROMOTE, rg_cmd_promote);
}

int rg_cmd_rollback(rg_cli *cli, int argc, char **argv)
{
    return control(cli, argc, argv, RG_COMMAND_ROLLBACK, rg_cmd_rollback);
}

/* `retry ID`: a new rollout of a rolled-back one's recorded artifact, linked to it. */
int rg_cmd_retry(rg_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {{"actor", required_argument, NULL, 'A'},
                                            {"approve", no_argument, NULL, 'P'},
                                            RG_CLI_COMMON_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    const rg_cli_command *self = rg_cli_self(rg_cmd_retry);
    const char *actor = NULL;
    rg_engine *engine = NULL;
    char *tenant = NULL, id[RG_STORE_ROLLOUT_ID_LEN];
    json_t *st = NULL;
    int c, code = 0, approve = 0, stop;

    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        if (c == 'A')
            actor = optarg;
        else if (c == 'P')
            approve = 1;
        else if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0)
            return stop;
    }
    if (optind + 1 != argc)
        return rg_cli_usage(cli, self, "expected one rollout ID");
    if ((code = rg_cli_open_engine(cli, &engine, NULL)) != 0)
        return code;
    if ((code = rg_cli_rollout_tenant(cli, engine, argv[optind], &tenant)) != 0)
        goto cleanup;
    if (rg_engine_retry(id, engine, tenant, argv[optind], rg_cli_actor(actor), approve) < 0 ||
        rg_engine_status_json(&st, engine, tenant, id) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    if (cli->json)
        rg_cli_print_json(cli, json_pack("{s:s, s:s, s:s, s:O}", "id", id, "command", "retry",
                                         "retry_of", argv[optind], "state",
                                         json_object_get(st, "state")));
    else
        fprintf(cli->out, "%s\nretry %s: started rollout %s (rollout is %s)\n", id, argv[optind],
                id, json_string_value(json_object_get(st, "state")));
cleanup:
    json_decref(st);
    free(tenant);
    rg_cli_close_engine(engine);
    return code;
}

/* `undo ID --reason TEXT`: a completed rollout restored from its snapshots, then verified
 * by telemetry as after a trip (exit codes as `rollback`). */
int rg_cmd_undo(rg_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {{"actor", required_argument, NULL, 'A'},
                                            {"reason", required_argument, NULL, 'R'},
                                            {"force", no_argument, NULL, 'F'},
                                            {"no-wait", no_argument, NULL, 'N'},
                                            RG_CLI_COMMON_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    const rg_cli_command *self = rg_cli_self(rg_cmd_undo);
    const char *actor = NULL, *reason = NULL, *id;
    rg_engine *engine = NULL;
    char *tenant = NULL;
    json_t *st = NULL;
    int c, code = 0, force = 0, no_wait = 0, stop;

    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        if (c == 'A')
            actor = optarg;
        else if (c == 'R')
            reason = optarg;
        else if (c == 'F')
            force = 1;
        else if (c == 'N')
            no_wait = 1;
        else if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0)
            return stop;
    }
    if (optind + 1 != argc)
        return rg_cli_usage(cli, self, "expected one rollout ID");
    if (reason == NULL || *reason == '\0')
        return rg_cli_usage(cli, self, "undo needs --reason TEXT");
    id = argv[optind];
    if ((code = rg_cli_open_engine(cli, &engine, NULL)) != 0)
        return code;
    if ((code = rg_cli_rollout_tenant(cli, engine, id, &tenant)) != 0)
        goto cleanup;
    if (rg_engine_undo(engine, tenant, id, rg_cli_actor(actor), reason, force) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    if (!cli->json)
        fprintf(cli->out, "undo %s: restored from snapshots\n", id);
    if (!no_wait)
        code = wait_verification(cli, engine, tenant, id, "undo");
    if (code == RG_EXIT_INFRA || code == RG_EXIT_USAGE)
        goto cleanup;
    if (rg_engine_status_json(&st, engine, tenant, id) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    if (cli->json)
        rg_cli_print_json(
            cli, json_pack("{s:s, s:s, s:s, s:O, s:O, s:b}", "id", id, "command", "undo", "outcome",
                           "done", "state", json_object_get(st, "state"), "verification",
                           json_object_get(st, "verification") ? json_object_get(st, "verification")
                                                               : json_null(),
                           "interrupted", code == RG_EXIT_UNDECIDED));
    else if (no_wait)
        fprintf(cli->out, "undo %s: rollout is %s; verification left to the next driver\n", id,
                json_string_value(json_object_get(st, "state")));
cleanup:
    json_decref(st);
    free(tenant);
    rg_cli_close_engine(engine);
    return code;
}
