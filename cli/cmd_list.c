/* cmd_list.c - `rollgate list`: rollout history, finished ones included, filtered */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "cli/engine_cli.h"
#include "rollgate/util.h"

int rg_cmd_list(rg_cli *cli, int argc, char **argv);

#define STATE_SLOTS 16 /* more than rg_rollout_state has values */
_Static_assert(RG_ROLLOUT_COMPLETED < STATE_SLOTS, "a rollout state without a filter slot");

typedef struct {
    const char *tenant;
    const char *name;        /* fnmatch pattern */
    const char *digest;      /* an artifact digest (sha256:...), exact */
    int states[STATE_SLOTS]; /* by rg_rollout_state, when !any_state */
    int any_state;
    int64_t since_ms; /* created at or after; 0 = any time */
    size_t limit;     /* 0 = no limit */
} list_filter;

/* --state: a comma-separated list of states, or "active" / "finished". */
static int parse_states(list_filter *f, const char *arg)
{
    f->any_state = 0;
    if (*arg == '\0')
        return rg_error_set(RG_EINVALID, "--state: expected one state or more, comma-separated");
    for (const char *word = arg; *word;) {
        const char *comma = strchr(word, ',');
        size_t len = comma ? (size_t)(comma - word) : strlen(word);
        char one[32];
        rg_rollout_state st;

        snprintf(one, sizeof(one), "%.*s", (int)(len < sizeof(one) ? len : sizeof(one) - 1), word);
        if (strcmp(one, "active") == 0 || strcmp(one, "finished") == 0) {
            for (int k = 0; k < STATE_SLOTS; k++)
                if (rg_rollout_state_to_str((rg_rollout_state)k) != NULL &&
                    rg_rollout_state_is_terminal((rg_rollout_state)k) == (one[0] == 'f'))
                    f->states[k] = 1;
        } else if (len < sizeof(one) && rg_rollout_state_from_str(&st, one) == 0 && (int)st >= 0 &&
                   (int)st < STATE_SLOTS) {
            f->states[st] = 1;
        } else {
            return rg_error_set(RG_EINVALID,
                                "--state '%s': expected a state (awaiting_approval, running, "
                                "paused, held, rolling_back, rolled_back, rollback_incomplete, "
                                "completed), 'active' or 'finished'",
                                one);
        }
        word += len + (comma != NULL);
    }
    return 0;
}

/* --since: an ISO-8601 time, or a duration meaning that long ago ("24h", "7d"). */
static int parse_since(int64_t *out, const char *arg)
{
    int64_t ms;
    if (rg_time_parse(out, arg) == 0)
        return 0;
    if (rg_parse_duration_ms(&ms, arg) == 0) {
        *out = rg_time_now_ms() - ms;
        return 0;
    }
    return rg_error_set(RG_EINVALID,
                        "--since '%s': expected a duration ago (24h, 7d) or an "
                        "ISO-8601 time (2026-12-01T09:00:00Z)",
                        arg);
}

static int matches(const list_filter *f, const rg_store_rollout *r)
{
    if (!f->any_state &&
        ((int)r->state < 0 || (int)r->state >= STATE_SLOTS || !f->states[r->state]))
        return 0;
    if (f->tenant && strcmp(f->tenant, r->tenant_id) != 0)
        return 0;
    if (f->name && fnmatch(f->name, r->name, 0) != 0)
        return 0;
    if (f->digest && (r->digest == NULL || strcmp(f->digest, r->digest) != 0))
        return 0;
    return r->created_at_ms >= f->since_ms;
}

/* The rollout a retry was started from (its book's "retry_of"), or NULL. */
static json_t *retry_of(const rg_store_rollout *r)
{
    json_t *book = r->baseline ? json_loads(r->baseline, 0, NULL) : NULL;
    json_t *v = json_object_get(book, "retry_of");

    v = json_is_string(v) ? json_string(json_string_value(v)) : NULL;
    json_decref(book);
    return v;
}

static json_t *row_json(const rg_store_rollout *r)
{
    char created[32], updated[32];
    rg_time_format(created, r->created_at_ms);
    rg_time_format(updated, r->updated_at_ms);
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, "
                     "s:s?, s:o?}",
                     "id", r->id, "tenant", r->tenant_id, "name", r->name, "state",
                     rg_rollout_state_to_str(r->state), "stage", r->stage_index + 1, "stages",
                     r->stage_count, "created_at", created, "updated_at", updated, "created_by",
                     r->created_by, "verification", r->verification, "hold_reason", r->hold_reason,
                     "digest", r->digest, "environment", r->environment, "forced_reason",
                     r->forced_reason, "retry_of", retry_of(r));
}

/* Rows matching `f`, newest first, at most f->limit. */
static int collect(json_t **out, rg_engine *engine, const list_filter *f)
{
    rg_store_rollouts all = {0};
    json_t *arr = json_array();
    int rc;

    if (arr == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if (f->tenant)
        rc = rg_engine_rollout_list(&all, engine, f->tenant);
    else
        rc = rg_engine_rollout_list_all_tenants(&all, engine);
    for (size_t i = all.count; rc == 0 && i-- > 0;) {
        if (f->limit && json_array_size(arr) >= f->limit)
            break;
        if (matches(f, &all.items[i]) && json_array_append_new(arr, row_json(&all.items[i])) < 0)
            rc = rg_error_set(RG_ENOMEM, "out of memory");
    }
    rg_engine_rollouts_dispose(&all);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

int rg_cli_history(json_t **out, rg_engine *engine, size_t limit)
{
    list_filter f = {0};
    f.any_state = 1;
    f.limit = limit;
    return collect(out, engine, &f);
}

void rg_cli_print_history(rg_cli *cli, const json_t *rows)
{
    const json_t *r;
    size_t i;
    json_array_foreach(rows, i, r) fprintf(
        cli->out, "%s  %-24s %-10s %-19s stage %lld/%lld  %s%s%s\n",
        json_string_value(json_object_get(r, "id")), json_string_value(json_object_get(r, "name")),
        json_string_value(json_object_get(r, "tenant")),
        json_string_value(json_object_get(r, "state")),
        (long long)json_integer_value(json_object_get(r, "stage")),
        (long long)json_integer_value(json_object_get(r, "stages")),
        json_string_value(json_object_get(r, "created_at")),
        json_is_string(json_object_get(r, "verification")) ? "  verification " : "",
        json_is_string(json_object_get(r, "verification"))
            ? json_string_value(json_object_get(r, "verification"))
            : "");
    /* The artifact of environment rollouts, and a forced start, on a line of their own. */
    json_array_foreach(rows, i, r)
    {
        const json_t *env = json_object_get(r, "environment"), *forced;
        if (!json_is_string(env))
            continue;
        forced = json_object_get(r, "forced_reason");
        fprintf(cli->out, "  %s: environment %s, artifact %s%s%s\n",
                json_string_value(json_object_get(r, "id")), json_string_value(env),
                json_is_string(json_object_get(r, "digest"))
                    ? json_string_value(json_object_get(r, "digest"))
                    : "-",
                json_is_string(forced) ? ", FORCED: " : "",
                json_is_string(forced) ? json_string_value(forced) : "");
    }
    json_array_foreach(rows, i, r)
    {
        if (json_is_string(json_object_get(r, "retry_of")))
            fprintf(cli->out, "  %s: retry of %s\n", json_string_value(json_object_get(r, "id")),
                    json_string_value(json_object_get(r, "retry_of")));
    }
}

int rg_cmd_list(rg_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {{"state", required_argument, NULL, 's'},
                                            {"since", required_argument, NULL, 'S'},
                                            {"tenant", required_argument, NULL, 't'},
                                            {"name", required_argument, NULL, 'n'},
                                            {"limit", required_argument, NULL, 'l'},
                                            {"digest", required_argument, NULL, 'd'},
                                            RG_CLI_COMMON_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    const rg_cli_command *self = rg_cli_self(rg_cmd_list);
    list_filter f = {0};
    rg_engine *engine = NULL;
    json_t *rows = NULL;
    int64_t limit = 20;
    int c, stop, code = 0;

    f.any_state = 1;
    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        if (c == 's') {
            if (parse_states(&f, optarg) < 0)
                return rg_cli_usage(cli, self, rg_error_last());
        } else if (c == 'S') {
            if (parse_since(&f.since_ms, optarg) < 0)
                return rg_cli_usage(cli, self, rg_error_last());
        } else if (c == 't') {
            f.tenant = optarg;
        } else if (c == 'n') {
            f.name = optarg;
        } else if (c == 'd') {
            f.digest = optarg;
        } else if (c == 'l') {
            if (rg_parse_int64(&limit, optarg, 0, 1000000) < 0)
                return rg_cli_usage(cli, self, "--limit: expected a count (0 = all)");
        } else if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0) {
            return stop;
        }
    }
    if (optind != argc)
        return rg_cli_usage(cli, self, "list takes no arguments");
    f.limit = (size_t)limit;
    if ((code = rg_cli_open_engine(cli, &engine, NULL)) != 0)
        return code;
    if (collect(&rows, engine, &f) < 0) {
        code = rg_cli_fail(cli);
    } else if (cli->json) {
        code = rg_cli_print_json(cli, rows);
        rows = NULL;
    } else if (json_array_size(rows) == 0) {
        fprintf(cli->out, "no rollouts match\n");
    } else {
        rg_cli_print_history(cli, rows);
    }
    json_decref(rows);
    rg_cli_close_engine(engine);
    return code;
}
