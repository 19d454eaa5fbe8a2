/* fuzz_analytics.c - libFuzzer target: analytics aggregates and observations response parsing */
#include <jansson.h>
#include <math.h>

#include "fuzz.h"
#include "platform/client.h"

/* The parse functions are platform-internal (rg_platform__*_parse, taking an op for the
 * query): platform exports no parse function, so this target builds the op fields the
 * parsers read (query, queue ids) exactly as rg_platform_queue_aggregates would. */

static const char *const queue_ids[] = {"05f1c285-6777-4ccc-806f-8db085ae0793",
                                        "d7b99d1c-4833-4ad6-aa87-d1a23dba13d4", "queue_global_001",
                                        "queue_v2"};
#define NQUEUES (sizeof(queue_ids) / sizeof(queue_ids[0]))

/* 2026-05-01T10:00:00Z .. 11:00:00Z, the reference example's interval. */
#define START_MS INT64_C(1777629600000)
#define END_MS (START_MS + 3600000)

static void check_aggregates(const rg_platform_aggregates *agg, int64_t granularity)
{
    size_t nb = (size_t)((END_MS - START_MS + granularity - 1) / granularity);

    FUZZ_CHECK(agg->nqueues == NQUEUES, "one series per queried queue");
    for (size_t q = 0; q < agg->nqueues; q++) {
        const rg_platform_queue_series *s = &agg->queues[q];
        FUZZ_CHECK(strcmp(s->queue_id, queue_ids[q]) == 0, "series are in query order");
        FUZZ_CHECK(s->nbuckets == nb, "every bucket of the interval is present");
        for (size_t b = 0; b < s->nbuckets; b++) {
            const rg_platform_bucket *k = &s->buckets[b];
            FUZZ_CHECK(k->start_ms == START_MS + (int64_t)b * granularity, "bucket start");
            FUZZ_CHECK(k->end_ms > k->start_ms && k->end_ms <= END_MS, "bucket end");
            FUZZ_CHECK(k->offered >= 0 && k->abandoned >= 0 && k->answered >= 0 && k->handled >= 0,
                       "counts are non-negative");
            FUZZ_CHECK(isfinite(k->answered_sum_ms) && k->answered_sum_ms >= 0 &&
                           isfinite(k->handle_sum_ms) && k->handle_sum_ms >= 0,
                       "sums are finite and non-negative");
        }
    }
}

static void fuzz_aggregates(const json_t *body, int64_t granularity)
{
    rg_platform_op op;
    rg_platform_aggregates agg = {0};
    int rc;

    memset(&op, 0, sizeof(op));
    op.kind = RG_OP_AGGREGATES;
    op.query.start_ms = START_MS;
    op.query.end_ms = END_MS;
    op.query.granularity_ms = granularity;
    op.query.queue_ids = queue_ids;
    op.query.nqueues = NQUEUES;
    rc = rg_platform__aggregates_parse(&agg, &op, body);
    if (rc < 0) {
        FUZZ_CHECK_ERROR(rc);
        FUZZ_CHECK(agg.queues == NULL, "nothing is handed out on failure");
        return;
    }
    check_aggregates(&agg, granularity);
    rg_platform__aggregates_dispose(&agg);
}

static void fuzz_observations(const json_t *body)
{
    rg_platform_op op;
    rg_platform_observation *obs = NULL;
    int rc;

    memset(&op, 0, sizeof(op));
    op.kind = RG_OP_OBSERVATIONS;
    op.queue_ids = (char **)queue_ids; /* read only by the parser */
    op.nqueues = NQUEUES;
    rc = rg_platform__observations_parse(&obs, &op, body);
    if (rc < 0) {
        FUZZ_CHECK_ERROR(rc);
        FUZZ_CHECK(obs == NULL, "nothing is handed out on failure");
        return;
    }
    FUZZ_CHECK(obs != NULL, "observations are handed out");
    for (size_t i = 0; i < NQUEUES; i++) {
        FUZZ_CHECK(strcmp(obs[i].queue_id, queue_ids[i]) == 0, "observations in query order");
        FUZZ_CHECK(obs[i].on_queue >= 0 && obs[i].active >= 0 && obs[i].waiting >= 0,
                   "observation counts are non-negative");
    }
    free(obs);
}

/* Input: one selector byte, then the response body as the client receives it.
 * 'o' = observations; anything else = aggregates at granularity 30m, 1m, 7m (the last
 * bucket short) or 1h by the selector's low two bits. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t granularities[] = {1800000, 60000, 420000, 3600000};
    json_t *body;

    if (size < 1)
        return 0;
    rg_error_clear();
    /* the same decoding the client applies to every response (platform/loop.c) */
    body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    if (body == NULL)
        return 0;
    if (data[0] == 'o')
        fuzz_observations(body);
    else
        fuzz_aggregates(body, granularities[data[0] & 3]);
    json_decref(body);
    return 0;
}
