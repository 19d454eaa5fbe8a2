/* cmd_status.c - `status`, `gate`, `explain`, `audit`: reading what the engine did and why */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/engine_cli.h"
#include "rollgate/util.h"

int rg_cmd_status(rg_cli *cli, int argc, char **argv);
int rg_cmd_gate(rg_cli *cli, int argc, char **argv);
int rg_cmd_explain(rg_cli *cli, int argc, char **argv);
int rg_cmd_audit(rg_cli *cli, int argc, char **argv);

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

/* ", min_offered N" for a traffic-sized stage (its percent is the share it reached), else "". */
static const char *sized_text(char *out, size_t outlen, const json_t *stage)
{
    out[0] = '\0';
    if (json_is_integer(json_object_get(stage, "min_offered")))
        snprintf(out, outlen, ", min_offered %lld",
                 (long long)json_integer_value(json_object_get(stage, "min_offered")));
    return out;
}

static void print_status(rg_cli *cli, const json_t *st)
{
    const json_t *stage = json_object_get(st, "stage"), *t, *v;
    char sized[64];
    size_t i;

    fprintf(cli->out, "%s %s (tenant %s): %s, stage %lld/%lld (%lld%%%s)\n", jstr(st, "id"),
            jstr(st, "name"), jstr(st, "tenant"), jstr(st, "state"),
            (long long)json_integer_value(json_object_get(stage, "index")) + 1,
            (long long)json_integer_value(json_object_get(stage, "count")),
            (long long)json_integer_value(json_object_get(stage, "percent")),
            sized_text(sized, sizeof(sized), stage));
    if (json_is_object(json_object_get(st, "soak"))) {
        const json_t *soak = json_object_get(st, "soak");
        fprintf(cli->out, "  soaking: poll %lld of %lld, %lld s left in the window\n",
                (long long)json_integer_value(json_object_get(soak, "poll")),
                (long long)json_integer_value(json_object_get(soak, "planned")),
                (long long)json_integer_value(json_object_get(soak, "left_ms")) / 1000);
    }
    if (json_is_string(json_object_get(st, "digest")))
        fprintf(cli->out, "  artifact: %s%s%s\n", jstr(st, "digest"),
                json_is_string(json_object_get(st, "environment")) ? " in environment " : "",
                json_is_string(json_object_get(st, "environment")) ? jstr(st, "environment") : "");
    if (json_is_string(json_object_get(st, "forced_reason")))
        fprintf(cli->out, "  FORCED past its environment's requirements: %s\n",
                jstr(st, "forced_reason"));
    if (json_is_string(json_object_get(st, "retry_of")))
        fprintf(cli->out, "  retry of rollout %s\n", jstr(st, "retry_of"));
    if (json_is_string(json_object_get(st, "retried_as")))
        fprintf(cli->out, "  retried as rollout %s\n", jstr(st, "retried_as"));
    if (json_is_object(json_object_get(st, "promote_full")))
        fprintf(cli->out, "  promoted through every stage (promote --full) by %s: %s\n",
                jstr(json_object_get(st, "promote_full"), "actor"),
                jstr(json_object_get(st, "promote_full"), "reason"));
    if (json_is_object(json_object_get(st, "undo")))
        fprintf(cli->out, "  undone by %s: %s\n", jstr(json_object_get(st, "undo"), "actor"),
                jstr(json_object_get(st, "undo"), "reason"));
    if (json_is_string(json_object_get(st, "hold_reason")))
        fprintf(cli->out, "  waiting for a person: %s\n", jstr(st, "hold_reason"));
    if (json_is_string(json_object_get(st, "verification")))
        fprintf(cli->out, "  verification: %s\n", jstr(st, "verification"));
    fprintf(cli->out, "  targets:\n");
    json_array_foreach(json_object_get(st, "targets"), i, t)
    {
        fprintf(cli->out, "    %-24s %-16s tier %lld stage %lld  %s%s%s\n", jstr(t, "org"),
                jstr(t, "group"), (long long)json_integer_value(json_object_get(t, "tier")),
                (long long)json_integer_value(json_object_get(t, "stage")) + 1, jstr(t, "state"),
                json_is_string(json_object_get(t, "last_error")) ? ": " : "",
                json_is_string(json_object_get(t, "last_error")) ? jstr(t, "last_error") : "");
    }
    if (json_array_size(json_object_get(st, "last_verdicts")))
        fprintf(cli->out, "  last verdicts:\n");
    json_array_foreach(json_object_get(st, "last_verdicts"), i, v)
        fprintf(cli->out, "    %-18s %-12s %s\n", jstr(v, "metric"), jstr(v, "decision"),
                jstr(v, "reason"));
}

/* Parses "[options] ID" for the read commands. Returns -1 to go on, else an exit code. */
static int parse_id_tenant(rg_cli *cli, int argc, char **argv, const rg_cli_command *self,
                           const char **out_id, int id_optional, int64_t *timeout, int *watch,
                           const char **tenant)
{
    static const struct option options[] = {{"timeout", required_argument, NULL, 'T'},
                                            {"watch", no_argument, NULL, 'W'},
                                            {"tenant", required_argument, NULL, 'N'},
                                            RG_CLI_COMMON_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    int c, stop;

    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        if (c == 'T' && timeout) {
            if (rg_parse_duration_ms(timeout, optarg) < 0) {
                rg_cli_error(cli, "--timeout: %s", rg_error_last());
                return RG_EXIT_USAGE;
            }
        } else if (c == 'W' && watch) {
            *watch = 1;
        } else if (c == 'N' && tenant) {
            *tenant = optarg;
        } else if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0) {
            return stop;
        }
    }
    if (optind == argc && id_optional) {
        *out_id = NULL;
        return -1;
    }
    if (optind + 1 != argc)
        return rg_cli_usage(cli, self, "expected one rollout ID");
    *out_id = argv[optind];
    return -1;
}

static int parse_id(rg_cli *cli, int argc, char **argv, const rg_cli_command *self,
                    const char **out_id, int id_optional, int64_t *timeout, int *watch)
{
    return parse_id_tenant(cli, argc, argv, self, out_id, id_optional, timeout, watch, NULL);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int rg_cmd_status(rg_cli *cli, int argc, char **argv)
{
    const char *id = NULL;
    rg_engine *engine = NULL;
    char *tenant = NULL;
    json_t *doc = NULL;
    int code, watch = 0;

    if ((code = parse_id(cli, argc, argv, rg_cli_self(rg_cmd_status), &id, 1, NULL, &watch)) >= 0)
        return code;
    if ((code = rg_cli_open_engine_readonly(cli, &engine)) != 0)
        return code;
    if (id == NULL) {
        size_t i;
        json_t *r;
        if (rg_engine_list_json(&doc, engine, NULL) < 0) {
            code = rg_cli_fail(cli);
        } else if (cli->json) {
            code = rg_cli_print_json(cli, doc);
            doc = NULL;
        } else if (json_array_size(doc) == 0) {
            json_t *recent = NULL;
            fprintf(cli->out, "no active rollouts\n");
            if (rg_cli_history(&recent, engine, 5) < 0) {
                code = rg_cli_fail(cli);
            } else if (json_array_size(recent) > 0) {
                fprintf(cli->out, "the last %zu (`rollgate list` shows more):\n",
                        json_array_size(recent));
                rg_cli_print_history(cli, recent);
            }
            json_decref(recent);
        } else {
            char sized[64];
            json_array_foreach(doc, i, r)
                fprintf(cli->out, "%s  %-24s %-8s %-20s stage %lld (%lld%%%s)\n", jstr(r, "id"),
                        jstr(r, "name"), jstr(r, "tenant"), jstr(r, "state"),
                        (long long)json_integer_value(json_object_get(r, "stage")) + 1,
                        (long long)json_integer_value(json_object_get(r, "percent")),
                        sized_text(sized, sizeof(sized), r));
        }
        goto cleanup;
    }
    if ((code = rg_cli_rollout_tenant(cli, engine, id, &tenant)) != 0)
        goto cleanup;
    for (;;) {
        rg_rollout_state state;
        if (rg_engine_status_json(&doc, engine, tenant, id) < 0) {
            code = rg_cli_fail(cli);
            goto cleanup;
        }
        if (watch && isatty(fileno(cli->out)))
            fputs("\033[H\033[2J", cli->out);
        if (cli->json) {
            rg_cli_print_json(cli, json_incref(doc));
        } else {
            print_status(cli, doc);
        }
        fflush(cli->out);
        rg_rollout_state_from_str(&state, jstr(doc, "state"));
        json_decref(doc);
        doc = NULL;
        if (!watch || rg_rollout_state_is_terminal(state))
            break;
        sleep_ms(1000);
    }
cleanup:
    json_decref(doc);
    free(tenant);
    rg_cli_close_engine(engine);
    return code;
}

int rg_cmd_gate(rg_cli *cli, int argc, char **argv)
{
    const char *id = NULL;
    rg_engine *engine = NULL;
    char *tenant = NULL;
    int64_t timeout = 0, deadline;
    rg_rollout_state state = RG_ROLLOUT_RUNNING;
    int code;

    if ((code = parse_id(cli, argc, argv, rg_cli_self(rg_cmd_gate), &id, 0, &timeout, NULL)) >= 0)
        return code;
    if ((code = rg_cli_open_engine_readonly(cli, &engine)) != 0)
        return code;
    if ((code = rg_cli_rollout_tenant(cli, engine, id, &tenant)) != 0)
        goto cleanup;
    deadline = rg_time_mono_ms() + timeout;
    for (;;) {
        rg_store_rollout row = {0};
        if (rg_engine_rollout_get(&row, engine, tenant, id) < 0) {
            code = rg_cli_fail(cli);
            goto cleanup;
        }
        state = row.state;
        rg_engine_rollout_dispose(&row);
        if (rg_rollout_state_is_terminal(state) || state == RG_ROLLOUT_HELD ||
            rg_time_mono_ms() >= deadline)
            break;
        sleep_ms(250);
    }
    code = rg_cli_outcome_exit(state);
    if (cli->json)
        rg_cli_print_json(cli, json_pack("{s:s, s:s, s:s}", "id", id, "outcome",
                                         rg_engine_outcome(state), "state",
                                         rg_rollout_state_to_str(state)));
    else /* the state itself: "paused" or "awaiting_approval" says more than "running" */
        fprintf(cli->out, "%s: %s\n", id, rg_rollout_state_to_str(state));
cleanup:
    free(tenant);
    rg_cli_close_engine(engine);
    return code;
}

static void print_number(rg_cli *cli, const json_t *v)
{
    if (json_is_number(v))
        fprintf(cli->out, "%.4g", json_number_value(v));
    else
        fputs("-", cli->out);
}

/* `explain` and `audit`: one rollout's document, as JSON or for people. */
static int show_document(rg_cli *cli, int argc, char **argv, int (*self)(rg_cli *, int, char **),
                         int (*get)(json_t **, rg_engine *, const char *, const char *),
                         void (*print)(rg_cli *, const json_t *, const char *))
{
    const char *id = NULL, *given_tenant = NULL;
    rg_engine *engine = NULL;
    char *tenant = NULL;
    json_t *doc = NULL;
    int code, whole_log = self == rg_cmd_audit;

    if ((code = parse_id_tenant(cli, argc, argv, rg_cli_self(self), &id, whole_log, NULL, NULL,
                                whole_log ? &given_tenant : NULL)) >= 0)
        return code;
    if (id == NULL && given_tenant == NULL)
        return rg_cli_usage(cli, rg_cli_self(self), "audit needs a rollout ID or --tenant T");
    if ((code = rg_cli_open_engine_readonly(cli, &engine)) != 0)
        return code;
    if (id == NULL)
        tenant = rg_strdup(given_tenant); /* the tenant's whole log */
    else if ((code = rg_cli_rollout_tenant(cli, engine, id, &tenant)) != 0)
        goto cleanup;
    if (get(&doc, engine, tenant, id) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    if (cli->json) {
        rg_cli_print_json(cli, doc);
        doc = NULL;
    } else {
        print(cli, doc, id);
    }
cleanup:
    json_decref(doc);
    free(tenant);
    rg_cli_close_engine(engine);
    return code;
}

static void print_explain(rg_cli *cli, const json_t *doc, const char *id)
{
    json_t *v, *e;
    size_t i;

    fprintf(cli->out, "%s: %s\n", id, jstr(doc, "state"));
    json_array_foreach(json_object_get(doc, "verdicts"), i, v)
    {
        fprintf(cli->out, "  stage %lld poll %2lld  %-18s %-12s test %-6s estimate ",
                (long long)json_integer_value(json_object_get(v, "stage")) + 1,
                (long long)json_integer_value(json_object_get(v, "poll")), jstr(v, "metric"),
                jstr(v, "decision"), jstr(v, "test"));
        print_number(cli, json_object_get(v, "estimate"));
        fputs(" ci [", cli->out);
        print_number(cli, json_array_get(json_object_get(v, "ci"), 0));
        fputs(", ", cli->out);
        print_number(cli, json_array_get(json_object_get(v, "ci"), 1));
        fputs("] z ", cli->out);
        print_number(cli, json_object_get(v, "z"));
        fputs(" boundary ", cli->out);
        print_number(cli, json_object_get(v, "boundary"));
        fputs(" p ", cli->out);
        print_number(cli, json_object_get(v, "p_value"));
        fprintf(cli->out, "\n      %s\n", jstr(v, "reason"));
    }
    fprintf(cli->out, "events:\n");
    json_array_foreach(json_object_get(doc, "events"), i, e)
    {
        const json_t *detail = json_object_get(e, "detail");
        if (strcmp(jstr(e, "kind"), "levels") == 0)
            continue; /* chart data */
        if (strcmp(jstr(e, "kind"), "state") == 0)
            fprintf(cli->out, "  %s %-16s %s -> %s%s%s\n", jstr(e, "at"), "state", jstr(e, "from"),
                    jstr(e, "to"), json_is_string(json_object_get(detail, "reason")) ? ": " : "",
                    json_is_string(json_object_get(detail, "reason")) ? jstr(detail, "reason")
                                                                      : "");
        else
            fprintf(cli->out, "  %s %-16s %s\n", jstr(e, "at"), jstr(e, "kind"),
                    jstr(detail, "line"));
    }
}

static void print_audit(rg_cli *cli, const json_t *doc, const char *id)
{
    json_t *a;
    size_t i;

    json_array_foreach(doc, i, a)
        fprintf(cli->out, "%s %s%s%-10s %-10s %s%s%s\n", jstr(a, "at"),
                id ? "" : jstr(a, "rollout"), id ? "" : " ", jstr(a, "actor"), jstr(a, "action"),
                jstr(a, "outcome"), json_is_string(json_object_get(a, "reason")) ? " — " : "",
                json_is_string(json_object_get(a, "reason")) ? jstr(a, "reason") : "");
}

int rg_cmd_explain(rg_cli *cli, int argc, char **argv)
{
    return show_document(cli, argc, argv, rg_cmd_explain, rg_engine_explain_json, print_explain);
}

int rg_cmd_audit(rg_cli *cli, int argc, char **argv)
{
    return show_document(cli, argc, argv, rg_cmd_audit, rg_engine_audit_json, print_audit);
}
