/* cmd_demo.c - `rollgate demo`: a whole rollout against the bundled simulator, narrated */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/engine_cli.h"
#include "rollgate/body.h"
#include "rollgate/util.h"

int rg_cmd_demo(rg_cli *cli, int argc, char **argv);

/* A short-window policy so the whole story fits in well under two minutes. */
static const char demo_policy[] =
    "policy:\n"
    "  alpha: 0.05\n  sequential: group\n  stabilization_window: 6s\n  soak_limit: 24s\n"
    "  poll_interval: 3s\n  granularity: PT1S\n  settle: 1s\n  pre_window: 60s\n"
    "  breaker: {consecutive: 2}\n  on_inconclusive: hold\n  errors: {limit: 3}\n"
    "  verify_window: 10s\n  capacity: {min_ratio: 0.8}\n  metrics:\n"
    "    - {name: abandonment_rate, kind: proportion, events: tAbandon, trials: nOffered,\n"
    "       increase_is_bad: true, tolerance: {relative: 0.15}, critical: true}\n"
    "    - {name: speed_of_answer, kind: mean, source: tAnswered, increase_is_bad: true,\n"
    "       tolerance: {absolute: 10s}}\n";

typedef struct {
    pid_t pid;
    char url[256];
} demo_sim;

/* Finds a file next to this executable's build or install layout. */
static int find_beside_self(char *out, size_t outlen, const char *const *candidates)
{
    char self[PATH_MAX / 2];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    if (n <= 0)
        return -1;
    self[n] = '\0';
    if ((slash = strrchr(self, '/')) != NULL)
        *slash = '\0';
    for (size_t i = 0; candidates[i]; i++) {
        snprintf(out, outlen, "%s/%s", self, candidates[i]);
        if (access(out, R_OK) == 0)
            return 0;
    }
    return -1;
}

static int locate(char *sim, size_t simlen, char *scenario, size_t sclen)
{
    static const char *const sims[] = {"../sim/rollgate-sim", "rollgate-sim", NULL};
    static const char *const scenarios[] = {"../share/rollgate/scenarios/demo.json", NULL};
    const char *env_sim = getenv("ROLLGATE_SIM"), *env_sc = getenv("ROLLGATE_SCENARIO");

    if (env_sim && *env_sim)
        snprintf(sim, simlen, "%s", env_sim);
    else if (find_beside_self(sim, simlen, sims) < 0)
        return rg_error_set(RG_ENOTFOUND, "cannot find rollgate-sim beside this rollgate; "
                                          "set $ROLLGATE_SIM");
    if (env_sc && *env_sc)
        snprintf(scenario, sclen, "%s", env_sc);
    else if (snprintf(scenario, sclen, "%s/sim/scenarios/demo.json", RG_SOURCE_DIR) > 0 &&
             access(scenario, R_OK) != 0 && find_beside_self(scenario, sclen, scenarios) < 0)
        return rg_error_set(RG_ENOTFOUND, "cannot find the demo scenario; set "
                                          "$ROLLGATE_SCENARIO");
    return 0;
}

static int sim_start(demo_sim *sim, const char *binary, const char *scenario)
{
    int fds[2];
    char line[200];
    size_t len = 0;

    if (pipe(fds) != 0)
        return rg_error_set(RG_EIO, "pipe: %s", strerror(errno));
    sim->pid = fork();
    if (sim->pid < 0)
        return rg_error_set(RG_EIO, "fork: %s", strerror(errno));
    if (sim->pid == 0) {
        /* The simulator goes when the demo does (Ctrl-C, a closed pipe), never left behind. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1)
            _exit(127);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(binary, binary, "--scenario", scenario, "--port", "0", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    while (len + 1 < sizeof(line)) {
        ssize_t n = read(fds[0], line + len, 1);
        if (n <= 0 || line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(fds[0]);
    if (strncmp(line, "listening on ", 13) != 0)
        return rg_error_set(RG_EPLATFORM, "rollgate-sim did not start (%s)", binary);
    snprintf(sim->url, sizeof(sim->url), "%s", line + 13);
    return 0;
}

static void sim_stop(demo_sim *sim)
{
    int status;
    if (sim->pid > 0) {
        kill(sim->pid, SIGTERM);
        waitpid(sim->pid, &status, 0);
        sim->pid = 0;
    }
}

/* Credentials for every org of the scenario, in this process's environment only. */
static int demo_credentials(json_t **out_orgs, const char *scenario)
{
    json_error_t jerr;
    json_t *doc = json_load_file(scenario, 0, &jerr), *org, *ids = json_array();
    size_t i;
    int rc = 0;

    if (doc == NULL)
        return rg_error_set(RG_EINVALID, "%s:%d: %s", scenario, jerr.line, jerr.text);
    json_array_foreach(json_object_get(doc, "orgs"), i, org)
    {
        const char *id = json_string_value(json_object_get(org, "id"));
        char name[256];
        if (id == NULL)
            continue;
        json_array_append_new(ids, json_string(id));
        if ((rc = rg_engine_credentials_env_name(name, sizeof(name), id, "CLIENT_ID")) < 0)
            break;
        setenv(name, json_string_value(json_object_get(org, "client_id")), 1);
        if ((rc = rg_engine_credentials_env_name(name, sizeof(name), id, "CLIENT_SECRET")) < 0)
            break;
        setenv(name, json_string_value(json_object_get(org, "client_secret")), 1);
    }
    json_decref(doc);
    if (rc == 0 && json_array_size(ids) < 3)
        rc = rg_error_set(RG_EINVALID, "%s: the demo needs at least 3 organizations", scenario);
    if (rc < 0) {
        json_decref(ids);
        return rc;
    }
    *out_orgs = ids;
    return 0;
}

/* The parent first; the sub-organizations in two groups that depend on it. */
static int write_manifest(const char *path, const char *url, const json_t *orgs, const char *name,
                          const char *approval)
{
    rg_buf m = RG_BUF_INIT;
    size_t n = json_array_size(orgs), half = 1 + (n - 1) / 2;
    FILE *f;
    int rc = 0;

    rg_buf_printf(&m,
                  "name: %s\ntenant: demo\nstages: [10, 50, 100]\n"
                  "approval: %s\nplatform: {driver: genesys, api_url: \"%s\", "
                  "login_url: \"%s\", credentials: env}\ngroups:\n"
                  "  - {name: parent, orgs: [%s]}\n  - {name: region_a, depends_on: "
                  "[parent], orgs: [",
                  name, approval, url, url, json_string_value(json_array_get(orgs, 0)));
    for (size_t i = 1; i < half; i++)
        rg_buf_printf(&m, "%s%s", i > 1 ? ", " : "", json_string_value(json_array_get(orgs, i)));
    rg_buf_puts(&m, "]}\n  - {name: region_b, depends_on: [parent], orgs: [");
    for (size_t i = half; i < n; i++)
        rg_buf_printf(&m, "%s%s", i > half ? ", " : "", json_string_value(json_array_get(orgs, i)));
    rg_buf_puts(&m, "]}\nchange:\n  strategy: strat_main\n"
                    "  watch_queues: [queue_global_001, queue_v2]\n  template:\n"
                    "    name: Production_Routing_v2\n    targets:\n"
                    "      - {type: Queue, id: queue_global_001, weight: 0, priority: 1}\n"
                    "      - {type: Queue, id: queue_v2, weight: 100, priority: 1}\n");
    rg_buf_puts(&m, demo_policy);
    if ((f = fopen(path, "w")) == NULL || fputs(rg_buf_cstr(&m), f) < 0)
        rc = rg_error_set(RG_EIO, "cannot write %s: %s", path, strerror(errno));
    if (f && fclose(f) != 0 && rc == 0)
        rc = rg_error_set(RG_EIO, "cannot write %s", path);
    rg_buf_dispose(&m);
    return rc;
}

/* After the story: every touched organization's live strategy against its snapshot. */
static int check_restored(FILE *out, rg_engine *engine, const char *tenant, const char *id,
                          const char *url)
{
    rg_store_snapshots snaps = {0};
    int rc, bad = 0;

    if ((rc = rg_engine_snapshot_list(&snaps, engine, tenant, id)) < 0)
        goto cleanup;
    fprintf(out, "\nchecking every touched organization against its snapshot:\n");
    for (size_t i = 0; rc == 0 && i < snaps.count; i++) {
        const char *org_id = snaps.items[i].org_id;
        json_t *live = NULL, *snap = json_loads(snaps.items[i].body, 0, NULL);
        int same = 1;
        rc = rg_engine_strategy_read(&live, org_id, url, url, "env", snaps.items[i].strategy_id);
        for (size_t f = 0; rc == 0 && rg_body_fields[f]; f++)
            same &= json_equal(json_object_get(live, rg_body_fields[f]),
                               json_object_get(snap, rg_body_fields[f]));
        if (rc == 0)
            fprintf(out, "  %-20s %s\n", org_id,
                    same ? "name, settings and targets equal the snapshot"
                         : "DIFFERS from its snapshot");
        bad += rc == 0 && !same;
        json_decref(live);
        json_decref(snap);
    }
    if (rc == 0 && bad)
        rc = rg_error_set(RG_ECONFLICT, "%d organizations differ from their snapshots", bad);
cleanup:
    rg_engine_snapshots_dispose(&snaps);
    return rc;
}

/* Where the demo's two stories happen: one simulator, one temporary directory. */
typedef struct {
    rg_cli *cli;
    FILE *out; /* the story: stdout, or stderr under --json */
    char simbin[PATH_MAX];
    char dir[PATH_MAX];
    char db[PATH_MAX + 16];
    char mpath[PATH_MAX + 32];
    demo_sim sim;
    json_t *orgs;
    json_t *summary; /* --json: one object per story */
} demo;

/* The healthy scenario beside the demo scenario: the same organizations, no bad queue. */
static int healthy_beside(char *out, size_t outlen, const char *scenario)
{
    const char *slash = strrchr(scenario, '/');
    snprintf(out, outlen, "%.*s/healthy.json", slash ? (int)(slash - scenario) : 1,
             slash ? scenario : ".");
    if (access(out, R_OK) != 0)
        return rg_error_set(RG_ENOTFOUND, "%s: the healthy scenario is missing", out);
    return 0;
}

/* Every organization's live strategy carries the new name: the change is in place. */
static int check_applied(FILE *out, const json_t *orgs, const char *url)
{
    size_t i;
    json_t *v;
    int rc = 0, bad = 0;

    fprintf(out, "\nthe platform's view of every organization now:\n");
    json_array_foreach(orgs, i, v)
    {
        const char *org_id = json_string_value(v);
        json_t *live = NULL;
        if ((rc = rg_engine_strategy_read(&live, org_id, url, url, "env", "strat_main")) < 0)
            break;
        const char *name = json_string_value(json_object_get(live, "name"));
        int done = name && strcmp(name, "Production_Routing_v2") == 0;
        fprintf(out, "  %-20s %s\n", org_id,
                done ? "routes to queue_v2 (Production_Routing_v2)" : "NOT changed");
        bad += !done;
        json_decref(live);
    }
    if (rc == 0 && bad)
        rc = rg_error_set(RG_ECONFLICT, "%d organizations were not changed", bad);
    return rc;
}

static void remove_db(demo *d)
{
    char p[PATH_MAX + 32];
    unlink(d->db);
    snprintf(p, sizeof(p), "%s-wal", d->db);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", d->db);
    unlink(p);
}

/* One story: the simulator on `scenario`, a rollout of the change, the outcome checked on
 * the platform. `healthy`: plan diff, a person's approval, expected to complete; else
 * started approved, expected to trip and restore. Returns an exit code. */
static int story(demo *d, const char *scenario, int healthy)
{
    rg_cli *cli = d->cli;
    rg_engine_options opts;
    rg_manifest *manifest = NULL;
    rg_engine *engine = NULL;
    rg_store_rollout row = {0};
    char id[RG_STORE_ROLLOUT_ID_LEN] = "", *outcome = NULL;
    json_t *plan = NULL;
    int code = 0, ok = 0;

    if (sim_start(&d->sim, d->simbin, scenario) < 0 ||
        write_manifest(d->mpath, d->sim.url, d->orgs,
                       healthy ? "demo-queue-v2" : "demo-queue-v2-again",
                       healthy ? "required" : "none") < 0 ||
        rg_manifest_load_file(&manifest, d->mpath, NULL) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    rg_engine_options_init(&opts);
    opts.tick_ms = 500;
    opts.narrate = rg_cli_narrate;
    opts.narrate_payload = d->out;
    cli->db_path = d->db;
    if ((code = rg_cli_open_engine(cli, &engine, &opts)) != 0)
        goto cleanup;
    if (healthy) {
        rg_cli plan_cli = *cli;
        plan_cli.out = d->out;
        fprintf(d->out, "$ rollgate plan manifest.yaml    # what would change, per organization\n");
        if (rg_engine_plan(&plan, manifest, d->dir, NULL) < 0) {
            code = rg_cli_fail(cli);
            goto cleanup;
        }
        rg_cli_print_plan(&plan_cli, plan);
    }
    if (rg_engine_start(id, engine, manifest, d->dir, "demo", !healthy) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    if (healthy) {
        fprintf(d->out,
                "\n$ rollgate start manifest.yaml   # stored, awaiting approval: nothing "
                "touched yet\n%s\n$ rollgate approve %s --actor release-manager "
                "--reason \"plan reviewed\"\n",
                id, id);
        if (rg_engine_command(&outcome, engine, manifest->tenant, id, RG_COMMAND_APPROVE,
                              "release-manager", "plan reviewed", 0) < 0) {
            code = rg_cli_fail(cli);
            goto cleanup;
        }
        fprintf(d->out, "approve %s: %s\n\n$ rollgate run --until-done\n", id, outcome);
    }
    if (rg_engine_run(engine, RG_RUN_UNTIL_DONE, NULL) < 0 ||
        rg_engine_rollout_get(&row, engine, manifest->tenant, id) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    fprintf(d->out, "\nrollout %s ended %s%s%s\n", id, rg_rollout_state_to_str(row.state),
            row.verification ? ", verification " : "", row.verification ? row.verification : "");
    if (healthy ? check_applied(d->out, d->orgs, d->sim.url) < 0
                : check_restored(d->out, engine, manifest->tenant, id, d->sim.url) < 0) {
        code = rg_cli_fail(cli);
        goto cleanup;
    }
    ok = row.state == (healthy ? RG_ROLLOUT_COMPLETED : RG_ROLLOUT_ROLLED_BACK);
    code = ok ? RG_EXIT_OK : RG_EXIT_NEGATIVE;
cleanup:
    if (d->summary && id[0])
        json_array_append_new(d->summary,
                              json_pack("{s:s, s:s, s:s, s:s?, s:b}", "story",
                                        healthy ? "healthy" : "bad", "rollout", id, "state",
                                        rg_rollout_state_to_str(row.state), "verification",
                                        row.verification, "as_expected", ok));
    free(outcome);
    json_decref(plan);
    rg_engine_rollout_dispose(&row);
    rg_cli_close_engine(engine);
    rg_manifest_free(manifest);
    sim_stop(&d->sim);
    remove_db(d);
    unlink(d->mpath);
    return code;
}

int rg_cmd_demo(rg_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {RG_CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    const rg_cli_command *self = rg_cli_self(rg_cmd_demo);
    char scenario[PATH_MAX], healthy[PATH_MAX + 16];
    demo d;
    json_t *orgs2 = NULL;
    int c, code = 0, stop;
    const char *tmp = getenv("TMPDIR");

    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1)
        if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0)
            return stop;
    if (optind != argc)
        return rg_cli_usage(cli, self, "demo takes no arguments");
    memset(&d, 0, sizeof(d));
    d.cli = cli;
    d.out = cli->json ? cli->err : cli->out;
    snprintf(d.dir, sizeof(d.dir), "%s/rollgate-demo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (locate(d.simbin, sizeof(d.simbin), scenario, sizeof(scenario)) < 0 ||
        healthy_beside(healthy, sizeof(healthy), scenario) < 0 ||
        demo_credentials(&orgs2, healthy) < 0 || demo_credentials(&d.orgs, scenario) < 0) {
        json_decref(orgs2);
        return rg_cli_fail(cli);
    }
    json_decref(orgs2);
    if (mkdtemp(d.dir) == NULL) {
        rg_cli_error(cli, "cannot make a temporary directory: %s", strerror(errno));
        json_decref(d.orgs);
        return RG_EXIT_INFRA;
    }
    snprintf(d.db, sizeof(d.db), "%s/demo.db", d.dir);
    snprintf(d.mpath, sizeof(d.mpath), "%s/manifest.yaml", d.dir);
    d.summary = cli->json ? json_array() : NULL;
    fprintf(d.out,
            "rollgate demo: two stories against rollgate-sim, %zu organizations, one routing\n"
            "change: move each organization's main strategy from queue_global_001 to queue_v2,\n"
            "in stages of 10%% / 50%% / 100%%, the parent organization first. The gate polls\n"
            "every 3 s over 1-second buckets (the simulator runs 1200x faster than life).\n\n"
            "== 1. a healthy change (%s): plan, approval, three stages, completed ==\n\n",
            json_array_size(d.orgs), strrchr(healthy, '/') ? strrchr(healthy, '/') + 1 : healthy);
    code = story(&d, healthy, 1);
    if (code == 0) {
        fprintf(d.out,
                "\n== 2. the same change on a day queue_v2 is bad (%s): it abandons 1.5 times\n"
                "as many calls and answers 20 s slower. The breaker trips and every touched\n"
                "organization is restored from the snapshot taken before its change ==\n\n",
                strrchr(scenario, '/') ? strrchr(scenario, '/') + 1 : scenario);
        code = story(&d, scenario, 0);
    }
    if (code == 0)
        fprintf(d.out, "\nEvery line above is in the rollouts' database too (`rollgate explain`,\n"
                       "`rollgate audit`); this demo's database was temporary and is removed.\n");
    if (cli->json && d.summary)
        rg_cli_print_json(cli, json_pack("{s:o, s:i}", "stories", d.summary, "exit", code));
    else
        json_decref(d.summary);
    json_decref(d.orgs);
    rmdir(d.dir);
    return code;
}
