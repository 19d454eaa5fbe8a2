/* cmd_serve.c - `rollgate serve`: the scheduler, the HTTP API, events, metrics, webhooks and
 * the dashboard in one process, until SIGTERM or SIGINT */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/engine_cli.h"
#include "rollgate/server.h"
#include "rollgate/util.h"

int rg_cmd_serve(rg_cli *cli, int argc, char **argv);

/* --tokens, else $ROLLGATE_TOKENS, else ./rollgate-tokens.json (also used by `token new`). */
const char *rg_cli_tokens_path(const char *given);
/* cmd_org.c */
const char *rg_cli_registry_path(rg_cli *cli, const char *given);

const char *rg_cli_tokens_path(const char *given)
{
    const char *env = getenv("ROLLGATE_TOKENS");
    if (given && *given)
        return given;
    return env && *env ? env : "rollgate-tokens.json";
}

int rg_cmd_serve(rg_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {{"listen", required_argument, NULL, 'l'},
                                            {"tokens", required_argument, NULL, 'T'},
                                            {"tick", required_argument, NULL, 't'},
                                            {"lease", required_argument, NULL, 'L'},
                                            {"allow-remote", no_argument, NULL, 'R'},
                                            {"registry", required_argument, NULL, 'G'},
                                            {"allow-loopback-platform", no_argument, NULL, 'P'},
                                            {"connection-limit", required_argument, NULL, 'C'},
                                            {"per-address-limit", required_argument, NULL, 'A'},
                                            {"webhook-allow", required_argument, NULL, 'W'},
                                            {"metrics-per-rollout", no_argument, NULL, 'M'},
                                            RG_CLI_COMMON_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    const rg_cli_command *self = rg_cli_self(rg_cmd_serve);
    rg_server_options opts;
    const char *nets[64];
    size_t net_count = 0;
    rg_server *server = NULL;
    const char *tokens = NULL, *registry = NULL;
    sigset_t stop_signals;
    int c, code = 0, sig = 0, stop;
    int64_t tick, lease;

    rg_server_options_init(&opts);
    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        if (c == 'l') {
            opts.listen = optarg;
        } else if (c == 'T') {
            tokens = optarg;
        } else if (c == 'R') {
            opts.allow_remote = 1;
        } else if (c == 'G') {
            registry = optarg;
        } else if (c == 'P') {
            opts.allow_loopback_platform = 1;
        } else if (c == 'M') {
            opts.metrics_per_rollout = 1;
        } else if (c == 'W') {
            if (net_count == sizeof(nets) / sizeof(nets[0])) {
                rg_cli_error(cli, "--webhook-allow: at most 64 networks");
                return RG_EXIT_USAGE;
            }
            nets[net_count++] = optarg; /* parsed by rg_server_new */
        } else if (c == 'C' || c == 'A') {
            int64_t n;
            if (rg_parse_int64(&n, optarg, 1, 100000) < 0) {
                rg_cli_error(cli, "--%s '%s': expected a number from 1 to 100000",
                             c == 'C' ? "connection-limit" : "per-address-limit", optarg);
                return RG_EXIT_USAGE;
            }
            if (c == 'C')
                opts.connection_limit = (unsigned)n;
            else
                opts.per_ip_limit = (unsigned)n;
        } else if (c == 't') {
            if (rg_parse_duration_ms(&tick, optarg) < 0 || tick < 10 || tick > 3600000) {
                rg_cli_error(cli, "--tick '%s': expected a duration between 10ms and 1h", optarg);
                return RG_EXIT_USAGE;
            }
            opts.tick_ms = tick;
        } else if (c == 'L') {
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
        return rg_cli_usage(cli, self, "serve takes no arguments");
    opts.db_path = cli->db_path;
    opts.webhook_allow = nets;
    opts.webhook_allow_count = net_count;
    opts.tokens_path = rg_cli_tokens_path(tokens);
    opts.registry_path = rg_cli_registry_path(cli, registry);
    /* Every thread inherits this mask; the signals are taken with sigwait below. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rg_server_new(&server, &opts) < 0 || rg_server_start(server) < 0) {
        int rc = rg_error_code();
        code = rg_cli_fail(cli);
        if (rc == RG_EAUTH || rc == RG_ENOTFOUND || (rc == RG_EINVALID && server == NULL))
            code = RG_EXIT_USAGE;
        goto cleanup;
    }
    if (cli->json) /* one line a supervisor can parse; the logs stay on stderr */
        rg_cli_print_json(cli, json_pack("{s:s}", "listening", rg_server_url(server)));
    else
        fprintf(cli->out, "listening on %s\n", rg_server_url(server));
    fflush(cli->out);
    while (sigwait(&stop_signals, &sig) != 0 || (sig != SIGINT && sig != SIGTERM))
        ;
    rg_log(RG_LOG_INFO, "serve", "signal %d: stopping", sig);
cleanup:
    rg_server_free(server);
    curl_global_cleanup();
    return code;
}
