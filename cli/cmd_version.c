/* cmd_version.c - `rollgate version`: this build and the libraries it runs on */
#include <curl/curl.h>
#include <gsl/gsl_version.h>
#include <jansson.h>
#include <microhttpd.h>
#include <sqlite3.h>
#include <yaml.h>

#include "cli/cli.h"
#include "rollgate/version.h"

int rg_cmd_version(rg_cli *cli, int argc, char **argv);

int rg_cmd_version(rg_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {RG_CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    const rg_cli_command *self = &rg_cli_commands[0];
    curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
    int c, stop;

    for (const rg_cli_command *k = rg_cli_commands; k->name; k++)
        if (k->run == rg_cmd_version)
            self = k;
    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1)
        if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0)
            return stop;
    if (optind != argc)
        return rg_cli_usage(cli, self, "version takes no arguments");

    if (cli->json)
        return rg_cli_print_json(
            cli, json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}}", "version", RG_VERSION,
                           "libraries", "libcurl", curl->version, "jansson", jansson_version_str(),
                           "gsl", GSL_VERSION, "sqlite", sqlite3_libversion(), "libmicrohttpd",
                           MHD_get_version(), "libyaml", yaml_get_version_string()));
    {
        fprintf(cli->out,
                "rollgate %s\n  libcurl %s\n  jansson %s\n  gsl %s\n  sqlite %s\n"
                "  libmicrohttpd %s\n  libyaml %s\n",
                RG_VERSION, curl->version, jansson_version_str(), GSL_VERSION, sqlite3_libversion(),
                MHD_get_version(), yaml_get_version_string());
    }
    return RG_EXIT_OK;
}
