/* gates_fixture.h - what the gate e2e programs share (test_e2e_gates.c: refusals, retries,
 * timeouts, confirm-promotion and a missing secret; test_e2e_gates_recovery.c: a killed driver,
 * post-rollback and plan's listing): the receiver and the rollout helpers (gates_fixture.c) */
#ifndef RG_TEST_GATES_FIXTURE_H
#define RG_TEST_GATES_FIXTURE_H

#include <microhttpd.h>
#include <pthread.h>

#include <jansson.h>

#include "support/e2e.h"

#define SECRET "gate-test-secret-0123456789"
#define MAX_SCRIPT 8
#define DROP 0 /* close the connection without an answer: a transport failure */

/* ---- the receiver: answers from a script, records what it saw ---- */

typedef struct {
    unsigned status; /* DROP, or the HTTP status */
    const char *body;
} answer;

typedef struct {
    struct MHD_Daemon *daemon;
    char url[128];
    pthread_mutex_t lock;
    answer script[MAX_SCRIPT]; /* answers in order; the last repeats */
    size_t nscript;
    json_t *seen; /* [{body, signature_ok, event, delivery, at_ms}] */
    int bad_signatures;
} receiver;

/* Starts a receiver on a free loopback port answering `script` (n answers, the last repeats);
 * r->url is its gate URL. */
void receiver_start(receiver *r, const answer *script, size_t n);
void receiver_stop(receiver *r);
/* Requests seen so far; request i as seen (new reference). */
size_t receiver_count(receiver *r);
json_t *receiver_seen(receiver *r, size_t i);

/* ---- the rollout ---- */

/* The e2e policy with one gate at `at` appended (a static buffer, until the next call). */
const char *policy_with_gates(const char *at, const char *url, const char *timeout);
/* What asked() watches: the rollout, the receiver, and how many requests it waits for. */
extern rg_e2e *g_e;
extern receiver *g_r;
extern size_t g_want;
/* Predicates for rg_e2e_drive: held; the receiver saw g_want requests (or the rollout stopped);
 * the rollout promoted past stage 0 or stopped. */
int held(rg_e2e *e);
int asked(rg_e2e *e);
int promoted_or_stopped(rg_e2e *e);
/* The rollout's stage index (-1 when it cannot be read). */
int stage_index(rg_e2e *e);
/* The hold reason from the engine's status (caller frees), NULL when none. */
char *hold_reason(rg_e2e *e);
/* PATCHes of any org the sim answered 200; the sim's time of the first (0 when none). */
int patches_total(const rg_e2e *e);
int64_t first_patch_ms(const rg_e2e *e);
/* A command by "alice" that must be done. */
void command(rg_e2e *e, rg_command_kind kind);
/* The events of `kind` with their detail (new array). */
json_t *events_of(rg_e2e *e, const char *kind);
/* The gate secret is in none of the database's files. */
void assert_no_secret_stored(rg_e2e *e);

#endif
