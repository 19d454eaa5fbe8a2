/* gates_fixture.c - the gate e2e programs' fixture: a webhook receiver (libmicrohttpd, in the
 * test process) that answers from a script and records what it saw with its signature checked,
 * and the rollout helpers the gate cases share */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "e2e/gates_fixture.h"
#include "rollgate/util.h"
#include "support/testutil.h"

/* ---- the receiver: answers from a script, records what it saw ---- */

typedef struct {
    rg_buf body;
} pending_request;

static int signature_ok(const char *sig, const char *ts, const char *body)
{
    uint8_t mac[RG_SHA256_LEN];
    char hex[2 * RG_SHA256_LEN + 1];
    rg_buf text = RG_BUF_INIT;
    if (sig == NULL || ts == NULL || strncmp(sig, "sha256=", 7) != 0)
        return 0;
    rg_buf_printf(&text, "%s.%s", ts, body);
    rg_hmac_sha256(mac, SECRET, strlen(SECRET), rg_buf_cstr(&text), text.len);
    rg_buf_dispose(&text);
    for (size_t i = 0; i < RG_SHA256_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    return strcmp(hex, sig + 7) == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    receiver *r = cls;
    pending_request *req = *con_cls;
    const char *sig, *ts, *ev, *dk;
    struct MHD_Response *resp;
    answer a;
    enum MHD_Result ret;
    size_t n;
    int ok;

    (void)url, (void)version;
    if (req == NULL) {
        *con_cls = req = calloc(1, sizeof(*req));
        return req ? MHD_YES : MHD_NO;
    }
    if (*size) {
        rg_buf_put(&req->body, data, *size);
        *size = 0;
        return MHD_YES;
    }
    sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Rollgate-Signature");
    ts = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Rollgate-Timestamp");
    ev = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Rollgate-Event");
    dk = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Rollgate-Delivery");
    ok = strcmp(method, "POST") == 0 && signature_ok(sig, ts, rg_buf_cstr(&req->body));
    pthread_mutex_lock(&r->lock);
    n = json_array_size(r->seen);
    a = r->script[n < r->nscript ? n : r->nscript - 1];
    json_array_append_new(r->seen, json_pack("{s:o?, s:b, s:s?, s:s?, s:I}", "body",
                                             json_loads(rg_buf_cstr(&req->body), 0, NULL),
                                             "signature_ok", ok, "event", ev, "delivery", dk,
                                             "at_ms", (json_int_t)rg_time_now_ms()));
    r->bad_signatures += !ok;
    pthread_mutex_unlock(&r->lock);
    if (a.status == DROP)
        return MHD_NO;
    resp = MHD_create_response_from_buffer(a.body ? strlen(a.body) : 0, (void *)a.body,
                                           MHD_RESPMEM_MUST_COPY);
    ret = MHD_queue_response(conn, a.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    pending_request *req = *con_cls;
    (void)cls, (void)conn, (void)toe;
    if (req) {
        rg_buf_dispose(&req->body);
        free(req);
    }
    *con_cls = NULL;
}

void receiver_start(receiver *r, const answer *script, size_t n)
{
    const union MHD_DaemonInfo *info;
    struct sockaddr_in sa;

    memset(r, 0, sizeof(*r));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(n > 0 && n <= MAX_SCRIPT);
    memcpy(r->script, script, n * sizeof(*script));
    r->nscript = n;
    r->seen = json_array();
    pthread_mutex_init(&r->lock, NULL);
    r->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
                                 on_request, r, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_done, r, MHD_OPTION_END);
    assert_non_null(r->daemon);
    info = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%u/gate", info->port);
}

void receiver_stop(receiver *r)
{
    MHD_stop_daemon(r->daemon);
    json_decref(r->seen);
    pthread_mutex_destroy(&r->lock);
}

size_t receiver_count(receiver *r)
{
    size_t n;
    pthread_mutex_lock(&r->lock);
    n = json_array_size(r->seen);
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* Request i as seen (new reference). */
json_t *receiver_seen(receiver *r, size_t i)
{
    json_t *v;
    pthread_mutex_lock(&r->lock);
    v = json_incref(json_array_get(r->seen, i));
    pthread_mutex_unlock(&r->lock);
    return v;
}

/* ---- the rollout ---- */

static char g_policy[4096];

/* The e2e policy with `gates` appended (it is the manifest's last top-level key). */
const char *policy_with_gates(const char *at, const char *url, const char *timeout)
{
    snprintf(g_policy, sizeof(g_policy),
             "%sgates:\n  - {at: %s, url: \"%s\", timeout: %s, secret: env:RG_TEST_GATE_SECRET}\n",
             rg_e2e_policy, at, url, timeout);
    return g_policy;
}

rg_e2e *g_e;
receiver *g_r;
size_t g_want;

int held(rg_e2e *e)
{
    return rg_e2e_state(e) == RG_ROLLOUT_HELD;
}

int asked(rg_e2e *e)
{
    (void)e;
    return receiver_count(g_r) >= g_want || rg_e2e_state(g_e) == RG_ROLLOUT_HELD ||
           rg_rollout_state_is_terminal(rg_e2e_state(g_e));
}

int stage_index(rg_e2e *e)
{
    rg_store_rollout row = {0};
    int k = -1;
    if (rg_store_rollout_get(&row, e->store, e->tenant, e->id) == 0)
        k = row.stage_index;
    rg_store_rollout_dispose(&row);
    return k;
}

int promoted_or_stopped(rg_e2e *e)
{
    return stage_index(e) >= 1 || rg_e2e_state(e) != RG_ROLLOUT_RUNNING;
}

char *hold_reason(rg_e2e *e)
{
    json_t *st = NULL;
    char *why = NULL;
    assert_int_equal(rg_engine_status_json(&st, e->engine, e->tenant, e->id), 0);
    if (json_is_string(json_object_get(st, "hold_reason")))
        why = rg_strdup(json_string_value(json_object_get(st, "hold_reason")));
    json_decref(st);
    return why;
}

/* PATCHes of any org the sim answered 200. */
int patches_total(const rg_e2e *e)
{
    json_t *log = rg_e2e_requests(&e->sim);
    int n = 0;
    for (size_t i = 0; i < json_array_size(e->orgs); i++)
        n += rg_e2e_patches(log, json_string_value(json_array_get(e->orgs, i)));
    json_decref(log);
    return n;
}

/* The sim's time of its first successful PATCH (0 when none). */
int64_t first_patch_ms(const rg_e2e *e)
{
    json_t *log = rg_e2e_requests(&e->sim), *r;
    int64_t first = 0;
    size_t i;
    json_array_foreach(json_object_get(log, "requests"), i,
                       r) if (strcmp(json_string_value(json_object_get(r, "method")), "PATCH") ==
                                  0 &&
                              json_integer_value(json_object_get(r, "status")) == 200)
    {
        first = json_integer_value(json_object_get(r, "time_ms"));
        break;
    }
    json_decref(log);
    return first;
}

void command(rg_e2e *e, rg_command_kind kind)
{
    char *outcome = NULL;
    assert_int_equal(
        rg_engine_command(&outcome, e->engine, e->tenant, e->id, kind, "alice", "gates test", 0),
        0);
    assert_string_equal(outcome, "done");
    free(outcome);
}

/* The events of `kind` with their detail (new array). */
json_t *events_of(rg_e2e *e, const char *kind)
{
    rg_store_events ev = {0};
    json_t *out = json_array();
    assert_int_equal(rg_store_event_list(&ev, e->store, e->tenant, e->id, 0), 0);
    for (size_t i = 0; i < ev.count; i++)
        if (strcmp(ev.items[i].kind, kind) == 0)
            json_array_append_new(out, json_loads(ev.items[i].detail ? ev.items[i].detail : "null",
                                                  JSON_DECODE_ANY, NULL));
    rg_store_events_dispose(&ev);
    return out;
}

static int contains(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return 1;
    return 0;
}

void assert_no_secret_stored(rg_e2e *e)
{
    const char *suffix[] = {"", "-wal", "-journal"};
    for (size_t i = 0; i < 3; i++) {
        char path[700];
        size_t len = 0;
        char *db;
        snprintf(path, sizeof(path), "%s%s", e->db, suffix[i]);
        if ((db = rg_test_read_file(path, &len)) == NULL) {
            assert_true(i > 0); /* the database itself exists */
            continue;
        }
        assert_false(contains(db, len, SECRET));
        free(db);
    }
}
