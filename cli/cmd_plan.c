/* cmd_plan.c - `rollgate plan MANIFEST --offline`: validate, resolve and print the plan */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/engine_cli.h"
#include "rollgate/engine.h"
#include "rollgate/manifest.h"
#include "rollgate/util.h"

int rg_cmd_plan(rg_cli *cli, int argc, char **argv);

#define RG_PLANNER_OFFLINE "needs telemetry: run plan without --offline to read analytics"
#define RG_PLANNER_BLOCKED "not run: pre-flight blocks this rollout"
/* cmd_env.c: plan --artifact ID. */
int rg_cli_artifact_diff(rg_cli *cli, const rg_manifest *m, const char *rollout_id);

static const rg_cli_command *self_command(void)
{
    for (const rg_cli_command *k = rg_cli_commands; k->name; k++)
        if (k->run == rg_cmd_plan)
            return k;
    return rg_cli_commands;
}

/* K=V from --var; the strings point into argv. */
static int add_var(rg_manifest_var *vars, size_t *count, char *arg)
{
    char *eq = strchr(arg, '=');

    if (*count >= RG_MANIFEST_MAX_VARS)
        return rg_error_set(RG_ELIMIT, "--var: more than %d variables", RG_MANIFEST_MAX_VARS);
    if (eq == NULL || eq == arg)
        return rg_error_set(RG_EINVALID, "--var '%.64s': expected NAME=VALUE", arg);
    *eq = '\0';
    vars[*count].name = arg;
    vars[*count].value = eq + 1;
    (*count)++;
    return 0;
}

/* A stage as the manifest wrote it: a percent, or {percent, approval, pause, min_offered}. */
static json_t *stage_json(const rg_manifest_stage *st)
{
    json_t *o;

    if (!st->approval_required && !st->pause && !st->min_offered)
        return json_integer(st->percent);
    o = json_pack("{s:s, s:b}", "approval", st->approval_required ? "required" : "none", "pause",
                  st->pause);
    if (o && st->percent)
        json_object_set_new(o, "percent", json_integer(st->percent));
    if (o && st->min_offered)
        json_object_set_new(o, "min_offered", json_integer(st->min_offered));
    return o;
}

static json_t *plan_json(const rg_manifest *m, const rg_resolution *r)
{
    json_t *policy = NULL, *stages = json_array(), *targets = json_array();

    if (rg_policy_to_json(&policy, m->policy) < 0 || stages == NULL || targets == NULL)
        goto fail;
    for (size_t i = 0; i < m->stages_count; i++)
        if (json_array_append_new(stages, stage_json(&m->stages[i])))
            goto fail;
    for (size_t i = 0; i < r->count; i++) {
        const rg_resolved_target *t = &r->targets[i];
        if (json_array_append_new(
                targets, json_pack("{s:I, s:s, s:s, s:i, s:I, s:s, s:O}", "seq", (json_int_t)t->seq,
                                   "org", t->org, "group", t->group, "tier", t->tier, "stage",
                                   (json_int_t)t->stage, "strategy", m->strategy, "body", t->body)))
            goto fail;
    }
    {
        json_t *doc = json_pack(
            "{s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:s?}", "name", m->name, "tenant", m->tenant,
            "resource", rg_resource_kind_name(m->resource.kind), "policy", policy, "stages", stages,
            "targets", targets, "digest", m->digest, "environment", m->environment);
        json_t *mj = NULL;
        /* The gates as stored (secrets by name only), when there are any. */
        if (doc && m->gates_count && rg_manifest_to_json(&mj, m) == 0)
            json_object_set(doc, "gates", json_object_get(mj, "gates"));
        json_decref(mj);
        return doc;
    }
fail:
    json_decref(policy);
    json_decref(stages);
    json_decref(targets);
    return NULL;
}

/* The manifest's gating webhooks, one line each (docs/gates.md); nothing without any. */
static void print_gates(rg_cli *cli, const rg_manifest *m)
{
    for (size_t i = 0; i < m->gates_count; i++) {
        const rg_manifest_gate *g = &m->gates[i];
        rg_buf timeout = RG_BUF_INIT;
        rg_format_duration(&timeout, g->timeout_ms);
        /* Without a query or fragment: they may hold a token. */
        fprintf(cli->out, "gate %s: %.*s (timeout %s, secret env:%s)\n", rg_gate_point_name(g->at),
                (int)strcspn(g->url, "?#"), g->url, rg_buf_cstr(&timeout), g->secret_env);
        rg_buf_dispose(&timeout);
    }
}

static int print_plan(rg_cli *cli, const rg_manifest *m, const rg_resolution *r)
{
    if (cli->json) {
        json_t *doc = plan_json(m, r);
        if (doc)
            json_object_set_new(doc, "planner", json_pack("{s:s}", "error", RG_PLANNER_OFFLINE));
        return rg_cli_print_json(cli, doc);
    }
    fprintf(cli->out, "plan %s for tenant %s: %zu organization%s, policy %s, %s %s\n", m->name,
            m->tenant, r->count, r->count == 1 ? "" : "s",
            m->policy->name ? m->policy->name : "(embedded)",
            m->resource.kind == RG_RESOURCE_DATATABLE_ROW ? "data-table row"
            : m->resource.kind == RG_RESOURCE_VERSIONED   ? "versioned resource"
                                                          : "strategy",
            m->strategy);
    fprintf(cli->out, "artifact %s%s%s\n", m->digest, m->environment ? ", environment " : "",
            m->environment ? m->environment : "");
    print_gates(cli, m);
    for (size_t k = 0, i = 0; k < r->stages_count; k++) {
        const rg_manifest_stage *st = &m->stages[k];
        if (st->min_offered)
            fprintf(cli->out,
                    "stage %zu (min_offered %lld: sized at start from analytics; "
                    "at least this organization):\n",
                    k + 1, (long long)st->min_offered);
        else
            fprintf(cli->out, "stage %zu (%d%%%s%s): %zu organization%s in total\n", k + 1,
                    st->percent, st->approval_required ? ", approval required" : "",
                    st->pause ? ", then paused until resumed" : "", r->stage_end[k],
                    r->stage_end[k] == 1 ? "" : "s");
        for (; i < r->stage_end[k]; i++) {
            const rg_resolved_target *t = &r->targets[i];
            char *body = json_dumps(t->body, JSON_COMPACT);
            fprintf(cli->out, "  %3zu  tier %d  %-16s %-20s %s\n", t->seq + 1, t->tier, t->group,
                    t->org, body ? body : "?");
            free(body);
        }
    }
    fprintf(cli->out, "offline: no platform or database was contacted\n");
    fprintf(cli->out, "planner: %s\n", RG_PLANNER_OFFLINE);
    return RG_EXIT_OK;
}

/* A finding's text without its "org ID: " lead, so one cause shared by many organizations
 * (a credentials file of the wrong mode) is printed once with the organizations it hits. */
static const char *finding_text(const json_t *f)
{
    const char *what = json_string_value(json_object_get(f, "what"));
    const char *org = json_string_value(json_object_get(f, "org"));
    size_t n = org ? strlen(org) : 0;

    if (what == NULL)
        return "";
    if (org && strncmp(what, "org ", 4) == 0 && strncmp(what + 4, org, n) == 0 &&
        strncmp(what + 4 + n, ": ", 2) == 0)
        return what + 4 + n + 2;
    return what;
}

static int same_finding(const json_t *a, const json_t *b)
{
    const char *sa = json_string_value(json_object_get(a, "severity"));
    const char *sb = json_string_value(json_object_get(b, "severity"));
    return sa && sb && strcmp(sa, sb) == 0 && strcmp(finding_text(a), finding_text(b)) == 0;
}

static void print_findings(rg_cli *cli, const json_t *findings)
{
    size_t n = json_array_size(findings);

    for (size_t i = 0; i < n; i++) {
        const json_t *f = json_array_get(findings, i);
        size_t count = 0, earlier = 0;
        for (size_t k = 0; k < i && !earlier; k++)
            earlier = same_finding(json_array_get(findings, k), f);
        if (earlier)
            continue; /* printed with the first organization it hit */
        for (size_t k = i; k < n; k++)
            count += same_finding(json_array_get(findings, k), f);
        if (count == 1) {
            fprintf(cli->out, "%s: %s: %s\n", json_string_value(json_object_get(f, "severity")),
                    json_string_value(json_object_get(f, "org")), finding_text(f));
            continue;
        }
        fprintf(cli->out,
                "%s: %s\n  (%zu organizations:", json_string_value(json_object_get(f, "severity")),
                finding_text(f), count);
        for (size_t k = i; k < n; k++)
            if (same_finding(json_array_get(findings, k), f))
                fprintf(cli->out, " %s",
                        json_string_value(json_object_get(json_array_get(findings, k), "org")));
        fputs(")\n", cli->out);
    }
}

void rg_cli_print_plan(rg_cli *cli, const json_t *plan)
{
    const char *resource = json_string_value(json_object_get(plan, "resource"));
    int is_row = resource != NULL && strcmp(resource, "datatable_row") == 0;
    const json_t *t, *c;
    size_t i, j;

    json_array_foreach(json_object_get(plan, "targets"), i, t)
    {
        int changed = 0;
        fprintf(cli->out, "%3lld  stage %lld  tier %lld  %-16s %s\n",
                (long long)json_integer_value(json_object_get(t, "seq")) + 1,
                (long long)json_integer_value(json_object_get(t, "stage")) + 1,
                (long long)json_integer_value(json_object_get(t, "tier")),
                json_string_value(json_object_get(t, "group")),
                json_string_value(json_object_get(t, "org")));
        json_array_foreach(json_object_get(t, "diff"), j, c)
        {
            const char *kind = json_string_value(json_object_get(c, "change"));
            char *from = json_dumps(json_object_get(c, "from"), JSON_ENCODE_ANY | JSON_COMPACT);
            char *to = json_dumps(json_object_get(c, "to"), JSON_ENCODE_ANY | JSON_COMPACT);
            if (strcmp(kind, "unchanged") != 0) {
                fprintf(cli->out, "       %-9s %s: %s -> %s\n", kind,
                        json_string_value(json_object_get(c, "path")), from ? from : "-",
                        to ? to : "-");
                changed = 1;
            }
            free(from);
            free(to);
        }
        if (!changed && json_object_get(t, "diff"))
            fprintf(cli->out, "       unchanged: the live %s already matches\n",
                    is_row ? "row" : "strategy");
    }
    print_findings(cli, json_object_get(plan, "findings"));
    fprintf(cli->out, "%s\n",
            json_is_true(json_object_get(plan, "blocked"))
                ? "pre-flight BLOCKS this rollout"
                : "pre-flight passed; nothing was written");
}

/* ---- the planner (docs/cli.md "plan"): what each stage's soak can decide ---- */

/* The planner's object for `plan --json`, or {"error"} when analytics could not be read. */
static json_t *planner_json(const rg_manifest *m, const char *dir)
{
    json_t *doc = NULL;

    if (rg_engine_plan_stats(&doc, m, dir, NULL, rg_time_now_ms()) < 0)
        return json_pack("{s:s}", "error", rg_error_last());
    return doc;
}

/* A value of a metric on its display scale: relative as a percentage, proportions in points,
 * means in seconds. */
static void print_value(rg_cli *cli, const json_t *metric, const char *key, int sign)
{
    const char *unit = json_string_value(json_object_get(metric, "unit"));
    const json_t *v = json_object_get(metric, key);
    double x = json_number_value(v);

    if (!json_is_number(v))
        fprintf(cli->out, "%-10s", "none");
    else if (strcmp(unit, "seconds") == 0)
        fprintf(cli->out, sign ? "%+.3g s    " : "±%.3g s    ", x);
    else if (strcmp(unit, "proportion") == 0)
        fprintf(cli->out, sign ? "%+.3g pp   " : "±%.3g pp   ", 100 * x);
    else
        fprintf(cli->out, sign ? "%+.3g%%     " : "±%.3g%%     ", 100 * x);
}

static void print_planner(rg_cli *cli, const json_t *pl)
{
    const json_t *s, *mt, *w;
    size_t i, j;

    if (json_object_get(pl, "error")) {
        const char *why = json_string_value(json_object_get(pl, "error"));
        fprintf(cli->out, "planner: %s%s\n",
                strcmp(why, RG_PLANNER_BLOCKED) == 0 ? "" : "cannot read analytics: ", why);
        return;
    }
    fprintf(cli->out, "planner (analytics of the last %.4g min; %lld paths):\n",
            json_number_value(json_object_get(pl, "analytics_minutes")),
            (long long)json_integer_value(json_object_get(pl, "paths")));
    json_array_foreach(json_object_get(pl, "stages"), i, s)
    {
        const json_t *min = json_object_get(s, "min_offered");
        fprintf(cli->out,
                "stage %lld (%lld%%%s%.0lld): %zu canary, %zu control (%s), %.0f "
                "offered calls expected over the soak\n",
                (long long)json_integer_value(json_object_get(s, "stage")),
                (long long)json_integer_value(json_object_get(s, "percent")),
                min ? ", sized by traffic: min_offered " : "", (long long)json_integer_value(min),
                json_array_size(json_object_get(s, "canary")),
                json_array_size(json_object_get(s, "control")),
                json_string_value(json_object_get(s, "control_kind")),
                json_number_value(json_object_get(s, "expected_offered")));
        if (json_object_get(s, "error"))
            continue;
        fprintf(cli->out, "  P(promote | healthy) %.3f  P(hold) %.3f  P(trip) %.3f\n",
                json_number_value(json_object_get(s, "p_promote")),
                json_number_value(json_object_get(s, "p_hold")),
                json_number_value(json_object_get(s, "p_trip")));
        json_array_foreach(json_object_get(s, "metrics"), j, mt)
        {
            fprintf(cli->out, "  %-20s half-width ",
                    json_string_value(json_object_get(mt, "name")));
            print_value(cli, mt, "half_width", 0);
            fputs(" MDE ", cli->out);
            print_value(cli, mt, "mde", 1);
            fprintf(cli->out, " P(trip | 1.5 x tolerance) %.3f  power at the tolerance %.3f\n",
                    json_number_value(json_object_get(mt, "p_trip_1_5")),
                    json_number_value(json_object_get(mt, "power")));
        }
        if (json_is_object(json_object_get(s, "recommended"))) {
            const json_t *rec = json_object_get(s, "recommended");
            fprintf(cli->out,
                    "  recommended soak: %lld polls (%.4g min): P(promote | healthy) %.3f, "
                    "power at every tolerance >= 0.9\n",
                    (long long)json_integer_value(json_object_get(rec, "polls")),
                    json_number_value(json_object_get(rec, "soak_minutes")),
                    json_number_value(json_object_get(rec, "p_promote")));
        }
    }
    json_array_foreach(json_object_get(pl, "warnings"), i, w)
        fprintf(cli->out, "warning: %s\n", json_string_value(w));
}

/* Traffic-sized stages: the pre-flight's targets take the stage the planner resolved. */
static void sized_stages_to_targets(json_t *plan)
{
    const json_t *pl = json_object_get(plan, "planner"), *s, *org;
    json_t *t;
    size_t i, j, k;

    json_array_foreach(json_object_get(pl, "stages"), i, s)
        json_array_foreach(json_object_get(s, "canary"), j, org) json_array_foreach(
            json_object_get(plan, "targets"), k, t) if (json_equal(json_object_get(t, "org"), org))
            json_object_set_new(t, "stage", json_integer((json_int_t)i));
}

/* Reads live strategies and checks queues and credentials; exit 1 when pre-flight blocks,
 * 4 when an organization could not be reached at all. */
static int live_plan(rg_cli *cli, const rg_manifest *m, const char *path)
{
    char dir[4096];
    char *slash;
    json_t *plan = NULL;
    size_t unreachable;
    int blocked;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    /* No directory part: paths in the manifest are taken as written (no "./" prefix). */
    if (rg_engine_plan(&plan, m, slash ? dir : NULL, NULL) < 0)
        return rg_cli_fail(cli);
    json_object_set_new(plan, "digest", json_string(m->digest));
    if (m->environment)
        json_object_set_new(plan, "environment", json_string(m->environment));
    blocked = json_is_true(json_object_get(plan, "blocked"));
    unreachable = json_array_size(json_object_get(plan, "unreachable"));
    if (unreachable == 0)
        json_object_set_new(plan, "planner",
                            blocked ? json_pack("{s:s}", "error", RG_PLANNER_BLOCKED)
                                    : planner_json(m, slash ? dir : NULL));
    sized_stages_to_targets(plan);
    if (cli->json) {
        int code = rg_cli_print_json(cli, plan); /* an outage is listed in "unreachable" */
        return code              ? code
               : unreachable > 0 ? RG_EXIT_INFRA
               : blocked         ? RG_EXIT_NEGATIVE
                                 : RG_EXIT_OK;
    }
    if (unreachable == 0 && !cli->json) {
        fprintf(cli->out, "artifact %s%s%s\n", m->digest, m->environment ? ", environment " : "",
                m->environment ? m->environment : "");
        print_gates(cli, m);
    }
    if (unreachable > 0) {
        /* An outage, not a verdict on the change: one line per org that could not be
         * reached, exit 4, and no diff a pipeline might mistake for a plan. */
        const json_t *u;
        size_t i;
        json_array_foreach(json_object_get(plan, "unreachable"), i, u)
            rg_cli_error(cli, "%s", json_string_value(json_object_get(u, "error")));
        json_decref(plan);
        return RG_EXIT_INFRA;
    }
    rg_cli_print_plan(cli, plan);
    print_planner(cli, json_object_get(plan, "planner"));
    json_decref(plan);
    return blocked ? RG_EXIT_NEGATIVE : RG_EXIT_OK;
}

int rg_cmd_plan(rg_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {{"offline", no_argument, NULL, 'O'},
                                            {"var", required_argument, NULL, 'V'},
                                            {"env", required_argument, NULL, 'E'},
                                            {"artifact", required_argument, NULL, 'I'},
                                            RG_CLI_COMMON_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    const rg_cli_command *self = self_command();
    rg_manifest_var vars[RG_MANIFEST_MAX_VARS];
    rg_manifest_options opts = {vars, 0, NULL};
    rg_manifest *m = NULL;
    rg_resolution *r = NULL;
    const char *artifact = NULL;
    int c, code = RG_EXIT_OK, offline = 0, stop;

    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        if (c == 'O') {
            offline = 1;
        } else if (c == 'E') {
            opts.environment = optarg;
        } else if (c == 'I') {
            artifact = optarg;
        } else if (c == 'V') {
            if (add_var(vars, &opts.vars_count, optarg) < 0)
                return rg_cli_usage(cli, self, rg_error_last());
        } else if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0) {
            return stop;
        }
    }
    if (optind + 1 != argc)
        return rg_cli_usage(cli, self, "plan takes exactly one MANIFEST");
    if (rg_manifest_load_file(&m, argv[optind], &opts) < 0 || rg_manifest_resolve(&r, m) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    if (artifact)
        code = rg_cli_artifact_diff(cli, m, artifact);
    else
        code = offline ? print_plan(cli, m, r) : live_plan(cli, m, argv[optind]);
cleanup:
    rg_resolution_free(r);
    rg_manifest_free(m);
    return code;
}
