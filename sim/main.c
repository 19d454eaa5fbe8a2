/* main.c - rollgate-sim: serves docs/platform-api.md for a scenario's organizations on loopback */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "sim/sim.h"

#define EXIT_USAGE 3
#define EXIT_INFRA 4

static void usage(FILE *out)
{
    fputs("usage: rollgate-sim --scenario FILE [--port N|0] [--bind ADDR] [--verbose]\n"
          "  Serves the platform API (tokens, analytics, queues, routing strategies) and the\n"
          "  /sim/ control plane for every organization of FILE. Binds 127.0.0.1 unless\n"
          "  --bind names another IPv4 address. The first stdout line is\n"
          "  'listening on http://ADDR:PORT'. SIGTERM or SIGINT stops it (exit 0).\n",
          out);
}

typedef struct {
    const char *scenario;
    const char *bind;
    int port;
    int verbose;
} sim_options;

static int parse_options(sim_options *o, int argc, char **argv)
{
    static const struct option options[] = {
        {"scenario", required_argument, NULL, 's'}, {"port", required_argument, NULL, 'p'},
        {"bind", required_argument, NULL, 'b'},     {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    int64_t port;
    int c;

    o->bind = "127.0.0.1";
    while ((c = getopt_long(argc, argv, "s:p:b:vh", options, NULL)) != -1) {
        switch (c) {
        case 's': o->scenario = optarg; break;
        case 'b': o->bind = optarg; break;
        case 'v': o->verbose = 1; break;
        case 'p':
            if (rg_parse_int64(&port, optarg, 0, 65535) < 0) {
                fprintf(stderr, "rollgate-sim: --port: %s\n", rg_error_last());
                return -1;
            }
            o->port = (int)port;
            break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return -1;
        }
    }
    if (optind != argc || o->scenario == NULL) {
        fprintf(stderr, "rollgate-sim: %s\n",
                o->scenario ? "unexpected arguments" : "--scenario FILE is required");
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    sim_options opt = {0};
    sim_world *world = NULL;
    sim_server server;
    struct MHD_Daemon *daemon = NULL;
    sigset_t stop;
    int port = 0, sig = 0, rc;

    if ((rc = parse_options(&opt, argc, argv)) != 0)
        return rc > 0 ? 0 : EXIT_USAGE;
    rg_log_set_sink(rg_log_stderr_sink, NULL, opt.verbose ? RG_LOG_DEBUG : RG_LOG_WARN);
    if (sim_world_load_file(&world, opt.scenario) < 0) {
        fprintf(stderr, "rollgate-sim: %s\n", rg_error_last());
        return EXIT_USAGE;
    }
    if (strcmp(opt.bind, "127.0.0.1") != 0)
        rg_log(RG_LOG_WARN, "sim", "binding %s as asked: the simulator has no real security",
               opt.bind);
    if (sim_server_init(&server, world) < 0) {
        fprintf(stderr, "rollgate-sim: %s\n", rg_error_last());
        sim_world_free(world);
        return EXIT_INFRA;
    }
    /* Block the stop signals before any thread starts, so only sigwait sees them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (sim_http_start(&daemon, &port, &server, opt.bind, opt.port) < 0) {
        fprintf(stderr, "rollgate-sim: %s\n", rg_error_last());
        sim_server_dispose(&server);
        return EXIT_INFRA;
    }
    printf("listening on http://%s:%d\n", opt.bind, port);
    fflush(stdout);
    rg_log(RG_LOG_INFO, "sim", "serving %zu organizations", world->norgs);
    while (sigwait(&stop, &sig) != 0)
        ;
    rg_log(RG_LOG_INFO, "sim", "stopping on signal %d", sig);
    MHD_stop_daemon(daemon);
    sim_server_dispose(&server);
    return 0;
}
