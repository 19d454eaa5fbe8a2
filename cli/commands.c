/* commands.c - the table of `rollgate` subcommands */
#include "cli/cli.h"

int rg_cmd_version(rg_cli *cli, int argc, char **argv);
int rg_cmd_plan(rg_cli *cli, int argc, char **argv);
int rg_cmd_stats(rg_cli *cli, int argc, char **argv);
int rg_cmd_start(rg_cli *cli, int argc, char **argv);
int rg_cmd_approve(rg_cli *cli, int argc, char **argv);
int rg_cmd_run(rg_cli *cli, int argc, char **argv);
int rg_cmd_status(rg_cli *cli, int argc, char **argv);
int rg_cmd_gate(rg_cli *cli, int argc, char **argv);
int rg_cmd_rollback(rg_cli *cli, int argc, char **argv);
int rg_cmd_pause(rg_cli *cli, int argc, char **argv);
int rg_cmd_resume(rg_cli *cli, int argc, char **argv);
int rg_cmd_promote(rg_cli *cli, int argc, char **argv);
int rg_cmd_retry(rg_cli *cli, int argc, char **argv);
int rg_cmd_undo(rg_cli *cli, int argc, char **argv);
int rg_cmd_explain(rg_cli *cli, int argc, char **argv);
int rg_cmd_audit(rg_cli *cli, int argc, char **argv);
int rg_cmd_demo(rg_cli *cli, int argc, char **argv);
int rg_cmd_serve(rg_cli *cli, int argc, char **argv);
int rg_cmd_token(rg_cli *cli, int argc, char **argv);
int rg_cmd_org(rg_cli *cli, int argc, char **argv);
int rg_cmd_list(rg_cli *cli, int argc, char **argv);
int rg_cmd_promote_env(rg_cli *cli, int argc, char **argv);
int rg_cmd_history(rg_cli *cli, int argc, char **argv);
int rg_cmd_may_promote(rg_cli *cli, int argc, char **argv);
int rg_cmd_db(rg_cli *cli, int argc, char **argv);

const rg_cli_command rg_cli_commands[] = {
    {"version", "print the version and the library versions", "", NULL, rg_cmd_version},
    {"plan", "validate a manifest and print the per-organization plan",
     "MANIFEST [--offline] [--var K=V] [--env NAME] [--artifact ID]",
     "Validates MANIFEST (YAML or JSON) and its policy, renders the template for every\n"
     "organization and prints the targets in rollout order with the stage that first covers\n"
     "each, then reads every organization's live strategy and prints a per-field diff and\n"
     "the pre-flight findings (credentials, queues that do not exist, queues without agents).\n"
     "Then the planner reads each organization's recent analytics and prints, per stage and\n"
     "metric, the interval half-width at the soak's end, the minimum detectable effect,\n"
     "P(promote | healthy), P(trip | 1.5 x tolerance) and the power at the tolerance, and the\n"
     "recommended soak (the fewest polls reaching 0.9 for both), with a warning when a stage\n"
     "cannot decide within its soak limit; traffic-sized stages ({min_offered: N}) are sized\n"
     "so.\n"
     "For a data-table row: the table's schema has every template field with its type, the\n"
     "weight columns sum to 100, the row and every queue named exist.\n"
     "Writes nothing anywhere; exit 1 when pre-flight blocks. --offline: no platform is\n"
     "contacted. --var K=V sets a template variable for every group, overriding the group's.\n"
     "Prints the manifest's artifact digest. --env NAME selects an environment (required\n"
     "when the manifest has them). --artifact ID: instead of a plan, how the file differs\n"
     "from the artifact recorded with rollout ID (exit 0 the same, 1 different).",
     rg_cmd_plan},
    {"start", "create a rollout from a manifest",
     "MANIFEST [--env NAME [--force --reason TEXT]] [--approve] [--actor NAME] [--var K=V]",
     "Stores the manifest, its policy and the ordered targets. The rollout waits for\n"
     "`approve` unless --approve is given or the manifest says `approval: none`.\n"
     "A manifest with environments needs --env NAME; the start is refused (exit 1) unless\n"
     "what that environment requires holds for the manifest's digest (docs/environments.md).\n"
     "--force --reason TEXT starts it anyway, audited and marked on the rollout.\n"
     "Prints the rollout id on the first line (--json: {\"id\",\"state\",\"digest\",...}).",
     rg_cmd_start},
    {"promote-env", "start the next environment from a rollout's recorded artifact",
     "ID --to ENVIRONMENT [--force --reason TEXT] [--approve] [--actor NAME]",
     "Starts ENVIRONMENT from the manifest recorded with rollout ID (every environment's\n"
     "entry is stored with it), not from any file on disk. Refused (exit 1) unless the\n"
     "environment's requirements hold for that digest; --force --reason TEXT overrides.",
     rg_cmd_promote_env},
    {"history", "an artifact's path through the environments", "DIGEST --tenant T",
     "Every rollout of DIGEST (sha256:...), oldest first: environment, state, who started\n"
     "and approved it, and any forced start. Exit 3 when the tenant has none.",
     rg_cmd_history},
    {"may-promote", "may an artifact go to an environment?", "DIGEST --env E --tenant T",
     "Exit 0 when E's requirements hold for DIGEST, 1 with the reason when not, 3 when the\n"
     "tenant has no rollout of DIGEST or the artifact has no environment E.",
     rg_cmd_may_promote},
    {"approve", "approve a rollout waiting for approval", "ID [--actor NAME] [--reason TEXT]", NULL,
     rg_cmd_approve},
    {"run", "drive every active rollout (the scheduler)",
     "[--once | --until-done] [--tick DUR] [--lease DUR] [--quiet]",
     "Without options it runs until SIGINT/SIGTERM. --once: one tick. --until-done: until\n"
     "every rollout is finished or waits for a person. --tick: how often each rollout is\n"
     "looked at (default 1s). --lease: the shortest lease on a rollout (default 30s; also at\n"
     "least 3 ticks and twice the slowest platform batch). Narrates each step on stdout\n"
     "unless --quiet.",
     rg_cmd_run},
    {"status", "show one rollout in detail, or all active ones", "[ID] [--watch]",
     "With ID: the state, the stage, where the soak stands, every target and the last\n"
     "verdicts; --watch refreshes every second until the rollout ends. Without: the active\n"
     "rollouts, or, with none, says so and shows the last five (`list` shows more).",
     rg_cmd_status},
    {"list", "rollout history, finished ones included, newest first",
     "[--state S[,S..]] [--since WHEN] [--tenant T] [--name PATTERN] [--digest D] [--limit N]",
     "--state: states (running, held, completed, rolled_back, ...), or active / finished.\n"
     "--since: created at or after an ISO-8601 time, or a duration ago (24h, 7d).\n"
     "--name: a shell pattern ('checkout-*'). --digest: the rollouts of one artifact\n"
     "(sha256:..., see `history`). --limit: at most N rows (default 20; 0 = all).",
     rg_cmd_list},
    {"gate", "wait for a rollout's outcome", "ID [--timeout DUR]",
     "Exit 0 completed; 1 rolled back or rollback incomplete; 2 held, or still undecided\n"
     "at the timeout (default 0: answer now); 3 unknown id; 4 database error.",
     rg_cmd_gate},
    {"rollback", "roll a rollout back now", "ID --reason TEXT [--actor NAME] [--no-wait]",
     "Trips the breaker at once: every touched organization is restored from its snapshot.\n"
     "With a live driver the command is queued and runs within one tick; otherwise this\n"
     "process restores now, then waits out verification (settle + verify_window) with a\n"
     "progress line a second. Ctrl-C stops waiting and leaves verification to the next\n"
     "driver; --no-wait returns right after the restore. Audited with actor and reason.\n"
     "Exit 0 rolled back (or queued, or --no-wait); 1 rollback incomplete or refused;\n"
     "2 interrupted before verification ended; 3 usage; 4 database error.",
     rg_cmd_rollback},
    {"pause", "pause a running rollout", "ID [--actor NAME] [--reason TEXT]", NULL, rg_cmd_pause},
    {"resume", "resume a paused rollout, or one held by a gate",
     "ID [--actor NAME] [--reason TEXT]",
     "A rollout held by a gating webhook asks the gate again (docs/gates.md). A pause step\n"
     "(`stages: [{percent, pause: true}]`) goes on to the next stage.",
     rg_cmd_resume},
    {"promote", "release a held rollout to its next stage, or through every stage",
     "ID [--force] [--full --force --reason TEXT] [--actor NAME] [--reason TEXT]",
     "Promotes a held rollout. --force promotes a running one without waiting for verdicts.\n"
     "--full --force --reason TEXT: every remaining stage after the current one, each still\n"
     "applied tier by tier (parents first) but with no soak, approval or pause step; audited.\n"
     "With no driver running this process applies them and returns when the rollout\n"
     "completed (or was held by a failed apply). Exit 0 done or queued; 1 refused; 3 usage.",
     rg_cmd_promote},
    {"retry", "start a rolled-back rollout again, as a new linked rollout",
     "ID [--approve] [--actor NAME]",
     "Starts a new rollout of the artifact recorded with rollout ID (its stored manifest,\n"
     "not a file) and links the two: the new one's status, list and history show\n"
     "`retry_of`, the old one's status `retried_as`. It snapshots the platform afresh and\n"
     "waits for approval unless --approve or the manifest says `approval: none`. Prints\n"
     "the new id on the first line. Exit 0 started; 1 refused (ID is not rolled_back, or\n"
     "an environment requirement fails); 3 usage, unknown id, or an org claimed by another\n"
     "active rollout; 4 database error.",
     rg_cmd_retry},
    {"undo", "restore a completed rollout from its snapshots",
     "ID --reason TEXT [--force] [--actor NAME] [--no-wait]",
     "Puts a completed rollout back to rolling_back and restores every organization it\n"
     "changed from its snapshot (sub-organizations first), then waits out verification by\n"
     "telemetry as after a trip (Ctrl-C / --no-wait leave it to the next driver). Refused\n"
     "when a snapshot is missing, another active rollout claims an org, or a person edited\n"
     "since the apply a field the rollout changed (--force restores the rest and keeps their\n"
     "edits). Audited. Exit 0 rolled back; 1 refused or rollback incomplete; 2 interrupted\n"
     "before verification ended; 3 usage or unknown id; 4 database or platform error.",
     rg_cmd_undo},
    {"explain", "every verdict and event of a rollout, with its numbers", "ID", NULL,
     rg_cmd_explain},
    {"audit", "who did what to a rollout, when and why", "ID | --tenant T",
     "With an ID: that rollout's audit. With --tenant T: the tenant's whole audit log.",
     rg_cmd_audit},
    {"demo", "a whole rollout against the bundled simulator, narrated", "",
     "Two stories against rollgate-sim on a free loopback port, with a temporary database\n"
     "and a short-window policy. 1 (sim/scenarios/healthy.json): the plan's diff, a\n"
     "person's approval, stages of 10/50/100% promoted, completed. 2 (demo.json): the same\n"
     "change where the new queue is bad: the breaker trips, every touched organization is\n"
     "restored from its snapshot and verified. Exit 0 when the first completed and the\n"
     "second was rolled back with every organization equal to its snapshot. --json: the\n"
     "story on stderr, {\"stories\":[{\"story\",\"rollout\",\"state\",...}]} on stdout.",
     rg_cmd_demo},
    {"serve", "the scheduler, HTTP API, events, /metrics, webhooks and dashboard",
     "[--listen 127.0.0.1:8080] [--tokens FILE] [--registry FILE] [--tick DUR] "
     "[--lease DUR] [--allow-remote] [--allow-loopback-platform] [--connection-limit N] "
     "[--per-address-limit N] [--webhook-allow CIDR ...] [--metrics-per-rollout]",
     "Drives every active rollout (as `run`) and serves the HTTP API of docs/serve.md.\n"
     "Prints `listening on http://ADDR:PORT` first (--listen 127.0.0.1:0 picks a free port).\n"
     "A non-loopback --listen is refused unless --allow-remote (no TLS in process).\n"
     "--tokens: the tokens file (default $ROLLGATE_TOKENS, else ./rollgate-tokens.json).\n"
     "--registry: the tenants' orgs (`rollgate org`; default $ROLLGATE_REGISTRY, else\n"
     "rollgate-registry.json beside the database): every org's URLs and credentials and\n"
     "each tenant's webhook secret come from there, never from a manifest.\n"
     "--lease: the shortest lease on a rollout (default 30s): hosts sharing one database\n"
     "take over a silent host's rollouts after it (docs/scale-out.md).\n"
     "--allow-loopback-platform: test mode, registry entries of region loopback are used.\n"
     "--connection-limit (4096), --per-address-limit (32): connections in all and per\n"
     "client address (behind a proxy every client has the proxy's address).\n"
     "--webhook-allow CIDR (repeatable, at most 64): a network webhooks may reach although\n"
     "it is not public (webhooks reach public addresses only: no loopback, link-local,\n"
     "private or reserved one), e.g. 10.20.0.0/16 for an internal receiver.\n"
     "--metrics-per-rollout: /metrics also labels each active rollout's stage with its\n"
     "tenant and rollout id (anyone reaching /metrics reads them; off, counts alone).\n"
     "Stops cleanly on SIGTERM or SIGINT.",
     rg_cmd_serve},
    {"org", "register tenants' organizations for serve",
     "add|list|remove|webhook [--tenant T] [--org O] [--region R] [--credentials SRC] "
     "[--api-url URL] [--login-url URL] [--secret SRC | --clear] [--registry FILE]",
     "The server owner's registry (0600 JSON) of which tenant owns which organizations:\n"
     "  org add --tenant T --org O --region R --credentials env|env:PREFIX|file:/PATH\n"
     "      R is a Genesys Cloud region (us-east-1, eu-west-1, ...); env:PREFIX reads\n"
     "      PREFIX_CLIENT_ID and PREFIX_CLIENT_SECRET from serve's environment. Region\n"
     "      loopback (tests, with --api-url and --login-url) works only under\n"
     "      serve in its loopback test mode.\n"
     "  org list [--tenant T] [--json]\n"
     "  org remove --tenant T --org O\n"
     "  org webhook --tenant T --secret env:NAME|file:/PATH | --clear\n"
     "--registry FILE (default $ROLLGATE_REGISTRY, else rollgate-registry.json beside the\n"
     "database). The registry holds names of variables and paths, never a secret.",
     rg_cmd_org},
    {"token", "make an API token for serve", "new --tenant T --role R --name N [--tokens FILE]",
     "Prints a new random token once and appends only its SHA-256 to the tokens file\n"
     "(created with mode 0600). Roles: viewer (read), operator (pause, resume, rollback),\n"
     "release (start, approve, promote).",
     rg_cmd_token},
    {"db", "copy the SQLite database into PostgreSQL (db migrate)",
     "migrate --to postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?PARAMS] [--replace]",
     "Copies every table of the SQLite database named by --db into the PostgreSQL database\n"
     "--to (created schema at the same version), ids kept, in one transaction; then compares\n"
     "each table's row count and every snapshot's etag and body byte for byte, and rolls the\n"
     "copy back unless all are equal. A target that has rows is refused (exit 1) unless\n"
     "--replace, which empties it first. Stop every rollgate process using --db first; then\n"
     "run `rollgate run` or `serve` with --db set to the URI: running rollouts continue\n"
     "there once their copied leases expire. The password is never printed (shown as ***).\n"
     "--json: {\"from\",\"to\",\"tables\":{name:{\"source\",\"target\"}},\"snapshots_compared\",\n"
     "\"snapshot_bytes\",\"verified\"}.",
     rg_cmd_db},
    {"stats", "run one statistical test on JSON from stdin", "TEST",
     "TEST and its input object (x = canary, y = baseline; alternative: two-sided | greater |\n"
     "less, default two-sided); the result is one JSON object on stdout:\n"
     "  mann-whitney    "
     "{\"x\":[..],\"y\":[..],\"method\":\"auto|exact|asymptotic\",\"use_continuity\":true}\n"
     "                  -> {\"statistic\":U_x,\"p_value\",\"method\"}\n"
     "  welch           {\"x\":[..],\"y\":[..]} -> {\"statistic\":t,\"df\",\"p_value\"}\n"
     "  two-proportion  {\"x1\",\"n1\",\"x2\",\"n2\"} -> {\"statistic\":z,\"p_value\"} (pooled z)\n"
     "  fisher          {\"table\":[[a,b],[c,d]]} -> {\"odds_ratio\",\"p_value\"}\n"
     "  hodges-lehmann  {\"x\":[..],\"y\":[..],\"confidence\":0.95} -> "
     "{\"estimate\",\"ci\":[lo,hi]}\n"
     "  boundaries      {\"alpha\":0.025,\"k\":12} or {\"alpha\":..,\"fractions\":[..]},\n"
     "                  \"spending\":\"obrien-fleming|quadratic|pocock\"\n"
     "                  -> {\"boundaries\":[c1..cK]} (one-sided Lan-DeMets spending)\n"
     "  msprt           "
     "{\"kind\":\"mean\",\"n_c\",\"sum_c\",\"sumsq_c\",\"n_b\",\"sum_b\",\"sumsq_b\",\n"
     "                   \"tau2\",\"alpha\":0.05,\"theta0\":0,\"prev_p\":1}\n"
     "                  or \"kind\":\"proportion\" with \"x_c\",\"n_c\",\"x_b\",\"n_b\",\n"
     "                  or \"kind\":\"normal\" with \"theta\",\"v\";\n"
     "                  or \"polls\":[{running sums at poll 1}, ..] for a running always-valid p\n"
     "                  -> "
     "{\"p_value\",\"ci\":[lo,hi],\"theta\",\"v\",\"log_lambda\",\"polls\":[..]}\n"
     "Invalid input (empty sample, non-number, count above its total, malformed JSON, unknown\n"
     "key or test) exits 3 with 'rollgate: <field>: <what>' and prints nothing on stdout.",
     rg_cmd_stats},
    {NULL, NULL, NULL, NULL, NULL},
};
