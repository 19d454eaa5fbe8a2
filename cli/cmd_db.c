/* cmd_db.c - `rollgate db migrate --to postgresql://...`: copy the SQLite database into
 * PostgreSQL, verified by row counts and snapshot bytes */
#include <stdlib.h>
#include <string.h>

#include "cli/engine_cli.h"
#include "rollgate/records.h"
#include "rollgate/util.h"

int rg_cmd_db(rg_cli *cli, int argc, char **argv);

static int print_report(rg_cli *cli, const rg_store_copy_report *r, const char *from,
                        const char *to)
{
    json_t *doc, *tables;

    if (!cli->json) {
        fprintf(cli->out, "copied %s into %s\n", from, to);
        for (size_t i = 0; i < r->count; i++)
            fprintf(cli->out, "  %-12s %8lld rows (target %lld)\n", r->tables[i].table,
                    (long long)r->tables[i].source_rows, (long long)r->tables[i].target_rows);
        fprintf(cli->out,
                "verified: every table's row count, and %lld snapshots (%lld bytes) equal\n",
                (long long)r->snapshots_compared, (long long)r->snapshot_bytes);
        return RG_EXIT_OK;
    }
    if ((tables = json_object()) == NULL)
        return rg_cli_print_json(cli, NULL);
    for (size_t i = 0; i < r->count; i++)
        json_object_set_new(tables, r->tables[i].table,
                            json_pack("{s:I, s:I}", "source", (json_int_t)r->tables[i].source_rows,
                                      "target", (json_int_t)r->tables[i].target_rows));
    doc = json_pack("{s:s, s:s, s:o, s:I, s:I, s:b}", "from", from, "to", to, "tables", tables,
                    "snapshots_compared", (json_int_t)r->snapshots_compared, "snapshot_bytes",
                    (json_int_t)r->snapshot_bytes, "verified", 1);
    return rg_cli_print_json(cli, doc);
}

int rg_cmd_db(rg_cli *cli, int argc, char **argv)
{
    static const struct option options[] = {{"to", required_argument, NULL, 't'},
                                            {"replace", no_argument, NULL, 'r'},
                                            RG_CLI_COMMON_OPTIONS,
                                            {NULL, 0, NULL, 0}};
    const rg_cli_command *self = rg_cli_self(rg_cmd_db);
    const char *to = NULL;
    char from_shown[1024], to_shown[1024];
    rg_store_copy_report report;
    int c, stop, replace = 0;

    while ((c = getopt_long(argc, argv, "hv", options, NULL)) != -1) {
        if (c == 't')
            to = optarg;
        else if (c == 'r')
            replace = 1;
        else if ((stop = rg_cli_other_option(cli, self, c, optarg)) >= 0)
            return stop;
    }
    if (optind + 1 != argc || strcmp(argv[optind], "migrate") != 0)
        return rg_cli_usage(cli, self, "expected `db migrate`");
    if (to == NULL)
        return rg_cli_usage(cli, self, "--to postgresql://... is required");
    if (!rg_engine_db_is_postgresql(to))
        return rg_cli_usage(cli, self, "--to must be a postgresql:// or postgres:// URI");
    if (rg_engine_db_is_postgresql(cli->db_path))
        return rg_cli_usage(cli, self, "--db must name the SQLite file to copy");
    rg_engine_db_display(from_shown, sizeof(from_shown), cli->db_path);
    rg_engine_db_display(to_shown, sizeof(to_shown), to);
    memset(&report, 0, sizeof(report));
    if (rg_engine_db_copy(&report, cli->db_path, to, replace) < 0)
        return rg_cli_fail(cli);
    return print_report(cli, &report, from_shown, to_shown);
}
