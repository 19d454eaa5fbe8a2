/* querylog.c - the bodies of the analytics queries the sim answered, for tests to check what
 * a client asked (filters, granularity, how many queues per query): GET /sim/queries */
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

void sim_querylog_init(sim_querylog *q)
{
    memset(q, 0, sizeof(*q));
    pthread_mutex_init(&q->lock, NULL);
    q->next_seq = 1;
}

void sim_querylog_dispose(sim_querylog *q)
{
    for (size_t i = 0; q->ring != NULL && i < SIM_QUERY_CAP; i++)
        free(q->ring[i].body);
    free(q->ring);
    pthread_mutex_destroy(&q->lock);
    memset(q, 0, sizeof(*q));
}

void sim_querylog_add(sim_querylog *q, const char *org, const char *path, const char *body,
                      size_t len, int64_t now_ms)
{
    sim_query_entry *e;
    char *copy;

    if (len > SIM_QUERY_MAX_BODY)
        len = SIM_QUERY_MAX_BODY; /* kept cut: a test reads the queries it made small */
    if ((copy = malloc(len + 1)) == NULL)
        return;
    memcpy(copy, body ? body : "", body ? len : 0);
    copy[body ? len : 0] = '\0';
    pthread_mutex_lock(&q->lock);
    if (q->ring == NULL && (q->ring = calloc(SIM_QUERY_CAP, sizeof(*q->ring))) == NULL) {
        pthread_mutex_unlock(&q->lock);
        free(copy);
        return;
    }
    e = &q->ring[(q->next_seq - 1) % SIM_QUERY_CAP];
    free(e->body);
    e->body = copy;
    e->seq = q->next_seq++;
    e->time_ms = now_ms;
    snprintf(e->org, sizeof(e->org), "%s", org);
    snprintf(e->path, sizeof(e->path), "%s", path);
    pthread_mutex_unlock(&q->lock);
}

/* GET /sim/queries?since=N: {"queries":[{"seq","time_ms","org","path","body"}],"next"}; a
 * body that is JSON comes back parsed, anything else as a string. */
int sim_querylog_get(sim_reply *reply, sim_querylog *q, const sim_request *req)
{
    const char *since_s = req->query(req->conn, "since");
    int64_t since = 0, first, next = 0;
    json_t *list = json_array();

    if (list == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    if (since_s && rg_parse_int64(&since, since_s, 0, INT64_MAX - 1) < 0) {
        json_decref(list);
        return sim_reply_error(reply, 400, "invalid.value", "since: %s", rg_error_last());
    }
    pthread_mutex_lock(&q->lock);
    first = q->next_seq > SIM_QUERY_CAP ? q->next_seq - SIM_QUERY_CAP : 1;
    for (int64_t s = since + 1 > first ? since + 1 : first; q->ring && s < q->next_seq; s++) {
        const sim_query_entry *e = &q->ring[(s - 1) % SIM_QUERY_CAP];
        json_t *body = json_loads(e->body, 0, NULL);
        json_array_append_new(list,
                              json_pack("{s:I,s:I,s:s,s:s,s:o}", "seq", (json_int_t)e->seq,
                                        "time_ms", (json_int_t)e->time_ms, "org", e->org, "path",
                                        e->path, "body", body ? body : json_string(e->body)));
        next = s;
    }
    pthread_mutex_unlock(&q->lock);
    return sim_reply_json(
        reply, 200,
        json_pack("{s:o,s:I}", "queries", list, "next", (json_int_t)(next ? next : since)));
}

/* queueId predicates in a filter, its clauses included. */
static size_t queue_predicates(const json_t *filter, int depth)
{
    size_t n = 0, i;
    json_t *p;

    if (!json_is_object(filter) || depth > 8)
        return 0;
    json_array_foreach(json_object_get(filter, "predicates"), i, p)
    {
        const char *dim = json_string_value(json_object_get(p, "dimension"));
        n += dim != NULL && strcmp(dim, "queueId") == 0;
    }
    json_array_foreach(json_object_get(filter, "clauses"), i, p) n +=
        queue_predicates(p, depth + 1);
    return n;
}

int sim_query_over_limit(sim_reply *reply, const sim_faults *f, const sim_request *req)
{
    json_t *body;
    size_t n;

    if (f->max_predicates <= 0 || strncmp(req->path, "/api/v2/analytics/", 18) != 0)
        return 0;
    if ((body = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL)) == NULL)
        return 0; /* the query handler answers a malformed body */
    n = queue_predicates(json_object_get(body, "filter"), 0);
    json_decref(body);
    if ((int64_t)n <= f->max_predicates)
        return 0;
    sim_reply_error(reply, 400, "bad.request",
                    "the query has %zu queueId predicates; at most "
                    "%lld are allowed",
                    n, (long long)f->max_predicates);
    return 1;
}
