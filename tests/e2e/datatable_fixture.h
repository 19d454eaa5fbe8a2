/* datatable_fixture.h - what the data-table e2e programs share (test_e2e_datatable.c: the
 * apply, merge, claim and plan; test_e2e_datatable_restore.c: trips, rollbacks, kills and a
 * created row): rollgate-sim in data-table mode with NORGS orgs (datatable_fixture.c) */
#ifndef RG_TEST_DATATABLE_FIXTURE_H
#define RG_TEST_DATATABLE_FIXTURE_H

#include <jansson.h>

#include "support/e2e.h"

#define NORGS 4
#define TABLE "dt-routing"
#define ROW "main"

/* The row moves to q-v2 (healthy), to q-bad (its abandonment trips), or a missing row "canary"
 * is created (create: true). */
extern const char healthy_change[];
extern const char bad_change[];
extern const char create_change[];
/* What the next begin() uses: the manifest's policy (rg_e2e_fast_policy unless a test sets
 * another), the agents on q-v2 in every org (200), the scenario's events (JSON, NULL: none). */
extern const char *policy_text;
extern int v2_agents;
extern const char *scenario_events;

typedef struct {
    rg_e2e e;
    json_t *seed; /* the scenario's row, as every org starts */
} dt;

/* The sim, credentials and manifest; the rollout starts unless `start` is 0. */
void begin(dt *d, const char *change, const char *hook, int start);
void end(dt *d);
/* Writes the manifest of `change` for the sim at `url` (with policy_text). */
void write_manifest(const char *path, const char *url, const char *change);
/* Drives the rollout until it is settled (fails the test when it is not). */
void run_to_end(rg_e2e *e);
/* Fails the test on an empty log or a request for a routing strategy. */
void assert_no_strategy_requests(const json_t *log);
/* The org's row `key` (NULL: the routing row) as the sim holds it (new reference), NULL when
 * there is none; sim_row: the routing row, which must be there. */
json_t *sim_row_by_key(rg_e2e *e, const char *org, const char *key);
json_t *sim_row(rg_e2e *e, const char *org);
/* Answered (200) requests of `method` on the org's routing row in the sim's log. */
int row_requests(const json_t *log, const char *org, const char *method);
/* Fails the test unless `live` has exactly `want`'s fields and values. */
void assert_rows_equal(const json_t *live, const json_t *want, const char *org);
/* Every org's routing row was PUT exactly once (committed; `unanswered` of those PUTs lost
 * their reply, -1: any) and holds the change (weight_b 100). */
void assert_each_row_written_once(rg_e2e *e, json_int_t unanswered);

#endif
