/* commands.c - the table of `rollgate` subcommands */
#include "cli/cli.h"

int rg_cmd_version(rg_cli *cli, int argc, char **argv);
int rg_cmd_plan(rg_cli *cli, int argc, char **argv);
int rg_cmd_stats(rg_cli *cli, int argc, char **argv);

const rg_cli_command rg_cli_commands[] = {
    {"version", "print the version and the library versions", "", NULL, rg_cmd_version},
    {"plan", "validate a manifest and print the per-organization plan",
     "MANIFEST [--offline] [--var K=V]",
     "Validates MANIFEST (YAML or JSON) and its policy, renders the template for every\n"
     "organization and prints the targets in rollout order with the stage that first covers\n"
     "each. --offline is required for now (no platform or database is touched); --var K=V\n"
     "sets a template variable for every group, overriding the group's own.",
     rg_cmd_plan},
    {"stats", "run one statistical test on JSON from stdin", "TEST",
     "TEST and its input object (x = canary, y = baseline; alternative: two-sided | greater |\n"
     "less, default two-sided); the result is one JSON object on stdout:\n"
     "  mann-whitney    {\"x\":[..],\"y\":[..],\"method\":\"auto|exact|asymptotic\",\"use_continuity\":true}\n"
     "                  -> {\"statistic\":U_x,\"p_value\",\"method\"}\n"
     "  welch           {\"x\":[..],\"y\":[..]} -> {\"statistic\":t,\"df\",\"p_value\"}\n"
     "  two-proportion  {\"x1\",\"n1\",\"x2\",\"n2\"} -> {\"statistic\":z,\"p_value\"} (pooled z)\n"
     "  fisher          {\"table\":[[a,b],[c,d]]} -> {\"odds_ratio\",\"p_value\"}\n"
     "  hodges-lehmann  {\"x\":[..],\"y\":[..],\"confidence\":0.95} -> {\"estimate\",\"ci\":[lo,hi]}\n"
     "  boundaries      {\"alpha\":0.025,\"k\":12} or {\"alpha\":..,\"fractions\":[..]}\n"
     "                  -> {\"boundaries\":[c1..cK]} (one-sided Lan-DeMets O'Brien-Fleming)\n"
     "  msprt           {\"kind\":\"mean\",\"n_c\",\"sum_c\",\"sumsq_c\",\"n_b\",\"sum_b\",\"sumsq_b\",\n"
     "                   \"tau2\",\"alpha\":0.05,\"theta0\":0,\"prev_p\":1}\n"
     "                  or \"kind\":\"proportion\" with \"x_c\",\"n_c\",\"x_b\",\"n_b\",\n"
     "                  or \"kind\":\"normal\" with \"theta\",\"v\";\n"
     "                  or \"polls\":[{running sums at poll 1}, ..] for a running always-valid p\n"
     "                  -> {\"p_value\",\"ci\":[lo,hi],\"theta\",\"v\",\"log_lambda\",\"polls\":[..]}\n"
     "Invalid input (empty sample, non-number, count above its total, malformed JSON, unknown\n"
     "key or test) exits 3 with 'rollgate: <field>: <what>' and prints nothing on stdout.",
     rg_cmd_stats},
    {NULL, NULL, NULL, NULL, NULL},
};
