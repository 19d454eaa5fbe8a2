/* hooks.c - webhook delivery: a thread of its own that turns stored events into POSTs to the
 * manifest's `notify` URLs, made by a few worker threads (one delivery in flight per tenant),
 * signed with HMAC-SHA-256 over "timestamp.body" with the tenant's secret from the owner's
 * registry, retried with bounded exponential backoff; each (event, url) outcome is written to the
 * audit, which is read back on start so a delivered event is not sent again. It never touches a
 * rollout. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollgate/http.h"
#include "server/server_private.h"

typedef struct {
    char *tenant, *id;
    int64_t cursor; /* last event id examined */
    int loaded, finished;
    int saw_terminal_event;   /* the last event examined was a terminal state change */
    int64_t terminal_seen_ms; /* when the row was first seen terminal (mono), or 0 */
    json_t *notify;           /* the manifest's notify list */
    json_t *done;             /* keys with a final outcome (delivered or given up) or queued */
} hook_rollout;

typedef enum { JOB_WAITING, JOB_IN_FLIGHT, JOB_DONE } job_state;

typedef struct {
    char *tenant, *rollout, *key, *event, *url, *secret_env, *body;
    int notify_index, attempt;
    int64_t due_mono_ms;
    /* Under work_lock: a worker's POST and its result, read back by the hooks thread. */
    job_state state;
    long status;
    char err[256];
} hook_job;

/* Workers that POST; a tenant has at most one delivery in flight, so a tenant whose
 * receivers hang holds one worker, never the others' deliveries. */
#define HOOK_WORKERS 4

struct rg_server__hooks {
    rg_server *server;
    rg_engine *engine; /* the thread's own, with its own store */
    hook_rollout *rollouts;
    size_t nrollouts, rcap;
    hook_job **jobs; /* in the order they were queued; a worker holds a pointer */
    size_t njobs, jcap;
    json_t *track; /* [[tenant, id], …] handed over by API threads, under track_lock */
    pthread_mutex_t track_lock;

    pthread_mutex_t work_lock;
    pthread_cond_t work_cond; /* a job was handed over, or quit */
    hook_job *handed[HOOK_WORKERS];
    size_t nhanded;
    int in_flight, quit;
    pthread_t workers[HOOK_WORKERS];
    int nworkers;
    int results; /* under server->lock: a worker finished a job since the thread looked */
};

static void job_dispose(hook_job *j)
{
    if (j == NULL)
        return;
    free(j->tenant);
    free(j->rollout);
    free(j->key);
    free(j->event);
    free(j->url);
    free(j->secret_env);
    free(j->body);
    free(j);
}

static void rollout_dispose(hook_rollout *r)
{
    free(r->tenant);
    free(r->id);
    json_decref(r->notify);
    json_decref(r->done);
}

static void track(rg_server__hooks *h, const char *tenant, const char *id)
{
    for (size_t i = 0; i < h->nrollouts; i++)
        if (strcmp(h->rollouts[i].id, id) == 0 && strcmp(h->rollouts[i].tenant, tenant) == 0)
            return;
    if (h->nrollouts == h->rcap) {
        size_t cap = h->rcap ? h->rcap * 2 : 8;
        hook_rollout *grown = realloc(h->rollouts, cap * sizeof(*grown));
        if (grown == NULL)
            return;
        h->rollouts = grown;
        h->rcap = cap;
    }
    memset(&h->rollouts[h->nrollouts], 0, sizeof(hook_rollout));
    h->rollouts[h->nrollouts].tenant = rg_strdup(tenant);
    h->rollouts[h->nrollouts].id = rg_strdup(id);
    h->rollouts[h->nrollouts].done = json_object();
    h->nrollouts++;
}

void rg_server__hooks_track(rg_server *s, const char *tenant, const char *rollout_id)
{
    rg_server__hooks *h = s->hooks;
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->track_lock);
    json_array_append_new(h->track, json_pack("[s,s]", tenant, rollout_id));
    pthread_mutex_unlock(&h->track_lock);
}

/* The subscribed names an event maps to (at most two). */
static size_t hook_names(const char *names[2], const rg_store_event *e)
{
    static const char *const same[] = {
        "rolling_back", "rolled_back", "rollback_incomplete", "held", "paused", "completed", NULL};
    size_t n = 0;

    if (strcmp(e->kind, "tripped") == 0 || strcmp(e->kind, "stage_applied") == 0 ||
        strcmp(e->kind, "promoted") == 0) {
        names[n++] = e->kind;
        return n;
    }
    if (strcmp(e->kind, "state") != 0 || e->to_state == NULL)
        return 0;
    for (size_t i = 0; same[i]; i++)
        if (strcmp(e->to_state, same[i]) == 0)
            names[n++] = same[i];
    if (strcmp(e->to_state, "running") == 0 && e->from_state) {
        if (strcmp(e->from_state, "awaiting_approval") == 0)
            names[n++] = "approved";
        else if (strcmp(e->from_state, "paused") == 0)
            names[n++] = "resumed";
    }
    if (strcmp(e->to_state, "rolled_back") == 0 && e->detail) {
        json_t *d = json_loads(e->detail, 0, NULL);
        const char *why = json_string_value(json_object_get(d, "reason"));
        if (why && strcmp(why, "failed") == 0)
            names[n++] = "failed"; /* the restore's verification failed */
        json_decref(d);
    }
    return n;
}

static int subscribed(const json_t *notify, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(notify, "events"), i,
                       v) if (json_is_string(v) &&
                              strcmp(json_string_value(v), name) == 0) return 1;
    return 0;
}

static void enqueue(rg_server__hooks *h, hook_rollout *r, const char *key_base, const char *name,
                    int stage, const char *reason, int64_t at_ms)
{
    size_t i;
    json_t *n;
    char at[RG_TIME_ISO_LEN];

    rg_time_format(at, at_ms);
    json_array_foreach(r->notify, i, n)
    {
        char key[96];
        const char *secret = json_string_value(json_object_get(n, "secret"));
        json_t *payload;
        hook_job *j;
        if (!subscribed(n, name))
            continue;
        snprintf(key, sizeof(key), "%s:%s#%zu", key_base, name, i);
        if (json_object_get(r->done, key))
            continue;
        if (h->njobs == h->jcap) {
            size_t cap = h->jcap ? h->jcap * 2 : 16;
            hook_job **grown = realloc(h->jobs, cap * sizeof(hook_job *));
            if (grown == NULL)
                return;
            h->jobs = grown;
            h->jcap = cap;
        }
        if ((j = calloc(1, sizeof(*j))) == NULL)
            return;
        json_object_set_new(r->done, key, json_true());
        payload = json_pack("{s:s, s:s, s:s, s:i, s:s?, s:s}", "event", name, "rollout", r->id,
                            "tenant", r->tenant, "stage", stage, "reason", reason, "at", at);
        h->jobs[h->njobs++] = j;
        j->tenant = rg_strdup(r->tenant);
        j->rollout = rg_strdup(r->id);
        j->key = rg_strdup(key);
        j->event = rg_strdup(name);
        j->url = rg_strdup(json_string_value(json_object_get(n, "url")));
        j->secret_env = rg_strdup(secret && strncmp(secret, "env:", 4) == 0 ? secret + 4 : "");
        j->body = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
        j->notify_index = (int)i;
        j->due_mono_ms = rg_time_mono_ms();
        json_decref(payload);
    }
}

/* First sight of a rollout: its notify list and what the audit says was already done. */
static int load_rollout(rg_server__hooks *h, hook_rollout *r, const rg_store_rollout *row)
{
    rg_store_audits audits = {0};
    json_t *manifest = json_loads(row->manifest, 0, NULL);
    int rc;

    r->notify = json_incref(json_object_get(manifest, "notify"));
    json_decref(manifest);
    r->loaded = 1;
    if (!json_is_array(r->notify) || json_array_size(r->notify) == 0) {
        r->finished = 1;
        return 0;
    }
    if ((rc = rg_engine_audit_list(&audits, h->engine, r->tenant, r->id)) < 0)
        return rc;
    for (size_t i = 0; i < audits.count; i++) {
        rg_store_audit *a = &audits.items[i];
        if (strcmp(a->action, "webhook") == 0 && a->outcome && a->detail &&
            (strncmp(a->outcome, "delivered", 9) == 0 || strncmp(a->outcome, "failed", 6) == 0)) {
            json_t *d = json_loads(a->detail, 0, NULL);
            const char *key = json_string_value(json_object_get(d, "key"));
            if (key)
                json_object_set_new(r->done, key, json_true());
            json_decref(d);
        } else if (strcmp(a->action, "start") == 0) {
            char base[40];
            snprintf(base, sizeof(base), "audit:%lld", (long long)a->id);
            enqueue(h, r, base, "started", 0, NULL, a->at_ms);
        }
    }
    rg_engine_audits_dispose(&audits);
    return 0;
}

static int scan_rollout(rg_server__hooks *h, hook_rollout *r)
{
    rg_store_rollout row = {0};
    rg_store_events events = {0};
    int rc;

    if ((rc = rg_engine_rollout_get(&row, h->engine, r->tenant, r->id)) < 0)
        goto cleanup;
    if (!r->loaded && ((rc = load_rollout(h, r, &row)) < 0 || r->finished))
        goto cleanup;
    if ((rc = rg_engine_event_list(&events, h->engine, r->tenant, r->id, r->cursor)) < 0)
        goto cleanup;
    for (size_t i = 0; i < events.count; i++) {
        const rg_store_event *e = &events.items[i];
        const char *names[2];
        size_t n = hook_names(names, e);
        json_t *d = e->detail ? json_loads(e->detail, 0, NULL) : NULL;
        const char *why = json_string_value(json_object_get(d, "reason"));
        char base[40];
        snprintf(base, sizeof(base), "event:%lld", (long long)e->id);
        for (size_t k = 0; k < n; k++)
            enqueue(h, r, base, names[k], row.stage_index, why, e->at_ms);
        json_decref(d);
        r->cursor = e->id;
        r->saw_terminal_event = strcmp(e->kind, "state") == 0 && e->to_state &&
                                (strcmp(e->to_state, "rolled_back") == 0 ||
                                 strcmp(e->to_state, "rollback_incomplete") == 0 ||
                                 strcmp(e->to_state, "completed") == 0);
    }
    /* The row turns terminal a statement before its state event is appended: finish after
     * that event, or when none came for a while (it was written by an older version). */
    if (rg_rollout_state_is_terminal(row.state) && events.count == 0) {
        if (r->terminal_seen_ms == 0)
            r->terminal_seen_ms = rg_time_mono_ms();
        if (r->saw_terminal_event || rg_time_mono_ms() - r->terminal_seen_ms > 5000)
            r->finished = 1;
    }
cleanup:
    if (rc == RG_ENOTFOUND)
        r->finished = 1;
    rg_engine_rollout_dispose(&row);
    rg_engine_events_dispose(&events);
    return rc;
}

/* ---- delivery ---- */

static int stop_requested(void *server)
{
    return rg_server__stopping(server);
}

/* One POST through the HTTP layer (rollgate/http.h). A served rollout's webhook may reach
 * public addresses only, not the server's own host, the cloud metadata service or a private
 * network: a tenant writes the URL. The operator opens networks with --webhook-allow; test
 * mode allows loopback. @return the HTTP status, 0 for a transport error, -1
 * when retrying cannot help. */
static long post(rg_server__hooks *h, const hook_job *j, char *err, size_t errlen)
{
    char sig[RG_HTTP_SIGNATURE_LEN + 32], ev[96], dk[160], ts[64], stamp[40], *secret = NULL;
    const char *headers[6];
    rg_http_options opts;
    rg_http_response resp = {0};
    int served, rc;
    long status;

    /* A served manifest is signed with the tenant's secret from the registry (it cannot
     * name any other); one the owner started from the CLI with the variable it names. */
    served = j->secret_env == NULL || strcmp(j->secret_env, RG_SERVER__REGISTRY_SECRET) == 0;
    if (served) {
        if (rg_server__webhook_secret(&secret, h->server, j->tenant) < 0) {
            snprintf(err, errlen, "%s", rg_error_last());
            return -1;
        }
    } else {
        const char *v = *j->secret_env ? getenv(j->secret_env) : NULL;
        if (v == NULL || *v == '\0') {
            snprintf(err, errlen, "the secret's environment variable %s is not set", j->secret_env);
            return -1;
        }
        if ((secret = rg_strdup(v)) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    if (j->body == NULL || j->url == NULL) {
        snprintf(err, errlen, "out of memory");
        explicit_bzero(secret, strlen(secret));
        free(secret);
        return -1;
    }
    /* The signature covers the time it was made, so a receiver can refuse a replay. */
    snprintf(stamp, sizeof(stamp), "%lld", (long long)(rg_time_now_ms() / 1000));
    memcpy(sig, "X-Rollgate-Signature: ", 23);
    rc = rg_http_signature(sig + 22, sizeof(sig) - 22, secret, stamp, j->body);
    explicit_bzero(secret, strlen(secret));
    free(secret);
    if (rc < 0) {
        snprintf(err, errlen, "%s", rg_error_last());
        return -1;
    }
    snprintf(ev, sizeof(ev), "X-Rollgate-Event: %s", j->event);
    snprintf(ts, sizeof(ts), "X-Rollgate-Timestamp: %s", stamp);
    snprintf(dk, sizeof(dk), "X-Rollgate-Delivery: %s/%s", j->rollout, j->key);
    headers[0] = sig;
    headers[1] = ev;
    headers[2] = ts;
    headers[3] = dk;
    headers[4] = NULL;
    rg_http_options_init(&opts);
    opts.connect_timeout_ms = 3000;
    opts.timeout_ms = 10000;
    opts.user_agent = "rollgate-webhook/1";
    opts.guard_internal = served;
    opts.allow_loopback = h->server->opts.allow_loopback_platform;
    opts.allow = h->server->webhook_allow;
    opts.allow_count = h->server->opts.webhook_allow_count;
    opts.cancel = stop_requested;
    opts.cancel_payload = h->server;
    rc = rg_http_post_json(&resp, j->url, headers, j->body, &opts);
    status = resp.status;
    if (status)
        snprintf(err, errlen, "HTTP %ld", status);
    else if (rc < 0)
        snprintf(err, errlen, "%s", rg_error_last());
    if (resp.refused) {
        snprintf(err, errlen,
                 "refused: a webhook of a served rollout may reach public addresses only "
                 "(not loopback, link-local, private or reserved ones; see serve --webhook-allow)");
        status = -1;
    }
    rg_http_response_dispose(&resp);
    rg_error_clear();
    return status;
}

static void audit(rg_server__hooks *h, const hook_job *j, const char *outcome)
{
    char url[512];
    json_t *detail;
    char *text;
    rg_store_audit_in a = {0};

    rg_http_url_for_log(url, sizeof(url), j->url ? j->url : "");
    detail = json_pack("{s:s, s:s, s:i, s:s, s:i}", "key", j->key, "event", j->event, "notify",
                       j->notify_index, "url", url, "attempt", j->attempt);
    text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(detail);
    a.rollout_id = j->rollout;
    a.tenant_id = j->tenant;
    a.actor = "rollgate-webhook";
    a.action = "webhook";
    a.reason = j->event;
    a.outcome = outcome;
    a.detail = text;
    if (rg_engine_audit_append(NULL, h->engine, &a) < 0)
        rg_log(RG_LOG_ERROR, "webhook", "cannot audit a delivery: %s", rg_error_last());
    free(text);
}

/* The result of a worker's POST: 1 when the job is finished (delivered or given up), 0
 * when it waits for a retry (or for the next start, when the server stops). */
static int finish(rg_server__hooks *h, hook_job *j)
{
    const rg_server_options *o = &h->server->opts;
    char outcome[384];
    long status = j->status;
    int64_t wait;

    j->state = JOB_WAITING;
    if (status >= 200 && status < 300) {
        snprintf(outcome, sizeof(outcome), "delivered (HTTP %ld, attempt %d)", status, j->attempt);
        audit(h, j, outcome);
        return 1;
    }
    if (rg_server__stopping(h->server))
        return 0; /* not an outcome: the next start delivers it */
    if (status < 0 || j->attempt >= o->webhook_attempts) {
        snprintf(outcome, sizeof(outcome), "failed after %d attempt%s: %s", j->attempt,
                 j->attempt == 1 ? "" : "s", j->err);
        audit(h, j, outcome);
        rg_log(RG_LOG_WARN, "webhook", "%s for %s: %s", j->event, j->rollout, outcome);
        return 1;
    }
    snprintf(outcome, sizeof(outcome), "retrying (%s, attempt %d)", j->err, j->attempt);
    audit(h, j, outcome);
    wait = o->webhook_backoff_ms;
    for (int k = 1; k < j->attempt && wait < 30000; k++)
        wait *= 2;
    j->due_mono_ms = rg_time_mono_ms() + (wait < 30000 ? wait : 30000);
    return 0;
}

static void *worker_main(void *arg)
{
    rg_server__hooks *h = arg;
    rg_server *s = h->server;

    pthread_mutex_lock(&h->work_lock);
    for (;;) {
        hook_job *j;
        while (!h->quit && h->nhanded == 0)
            pthread_cond_wait(&h->work_cond, &h->work_lock);
        if (h->nhanded == 0) /* quit, and nothing handed over is left */
            break;
        j = h->handed[--h->nhanded];
        pthread_mutex_unlock(&h->work_lock);
        j->err[0] = '\0';
        j->status = post(h, j, j->err, sizeof(j->err));
        pthread_mutex_lock(&h->work_lock);
        j->state = JOB_DONE;
        h->in_flight--;
        pthread_mutex_unlock(&h->work_lock);
        /* Wakes the hooks thread; the generation does not move, so long-polls sleep on. */
        pthread_mutex_lock(&s->lock);
        h->results = 1;
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->lock);
        pthread_mutex_lock(&h->work_lock);
    }
    pthread_mutex_unlock(&h->work_lock);
    return NULL;
}

static int tenant_busy(const char *const *busy, size_t n, const char *tenant)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(busy[i], tenant) == 0)
            return 1;
    return 0;
}

/* Takes the workers' results, then hands due jobs to free workers, in queue order, one per
 * tenant at a time. @return when the next waiting job is due (mono ms), or INT64_MAX. */
static int64_t deliver_due(rg_server__hooks *h)
{
    const char *busy[HOOK_WORKERS];
    size_t nbusy = 0, i = 0;
    int64_t next = INT64_MAX, now = rg_time_mono_ms();

    while (i < h->njobs) {
        hook_job *j = h->jobs[i];
        job_state st;
        pthread_mutex_lock(&h->work_lock);
        st = j->state;
        pthread_mutex_unlock(&h->work_lock);
        if (st == JOB_DONE && finish(h, j)) {
            job_dispose(j);
            memmove(&h->jobs[i], &h->jobs[i + 1], (h->njobs - i - 1) * sizeof(hook_job *));
            h->njobs--;
            continue;
        }
        if (st == JOB_IN_FLIGHT && nbusy < HOOK_WORKERS)
            busy[nbusy++] = j->tenant;
        i++;
    }
    for (i = 0; i < h->njobs && !rg_server__stopping(h->server); i++) {
        hook_job *j = h->jobs[i];
        pthread_mutex_lock(&h->work_lock);
        if (j->state == JOB_WAITING && j->due_mono_ms <= now &&
            !tenant_busy(busy, nbusy, j->tenant) && h->in_flight < h->nworkers) {
            j->state = JOB_IN_FLIGHT;
            j->attempt++;
            h->handed[h->nhanded++] = j;
            h->in_flight++;
            busy[nbusy++] = j->tenant;
            pthread_cond_signal(&h->work_cond);
        } else if (j->state == JOB_WAITING && j->due_mono_ms > now && j->due_mono_ms < next) {
            next = j->due_mono_ms; /* a due job that waits for a worker is woken by its result */
        }
        pthread_mutex_unlock(&h->work_lock);
    }
    return next;
}

static void collect(rg_server__hooks *h)
{
    rg_store_rollouts active = {0};
    json_t *pending, *pair;
    size_t i;

    pthread_mutex_lock(&h->track_lock);
    pending = h->track;
    h->track = json_array();
    pthread_mutex_unlock(&h->track_lock);
    json_array_foreach(pending, i, pair) track(h, json_string_value(json_array_get(pair, 0)),
                                               json_string_value(json_array_get(pair, 1)));
    json_decref(pending);
    if (rg_engine_rollout_list_active_all_tenants(&active, h->engine) == 0)
        for (i = 0; i < active.count; i++)
            track(h, active.items[i].tenant_id, active.items[i].id);
    rg_engine_rollouts_dispose(&active);
}

/* Until the generation moves past `gen`, a worker finishes, the server stops, or the
 * deadline. */
static void wait_work(rg_server__hooks *h, uint64_t gen, int64_t deadline_mono_ms)
{
    rg_server *s = h->server;
    struct timespec ts;

    ts.tv_sec = (time_t)(deadline_mono_ms / 1000); /* CLOCK_MONOTONIC, as the condition's */
    ts.tv_nsec = (long)(deadline_mono_ms % 1000) * 1000000L;
    pthread_mutex_lock(&s->lock);
    while (s->generation == gen && !s->stopping && !h->results &&
           rg_time_mono_ms() < deadline_mono_ms)
        if (pthread_cond_timedwait(&s->changed, &s->lock, &ts) == ETIMEDOUT)
            break;
    h->results = 0;
    pthread_mutex_unlock(&s->lock);
}

static void *hooks_main(void *arg)
{
    rg_server__hooks *h = arg;
    rg_server *s = h->server;

    while (!rg_server__stopping(s)) {
        uint64_t gen;
        int64_t next, cap = rg_time_mono_ms() + 1000;
        pthread_mutex_lock(&s->lock);
        gen = s->generation;
        pthread_mutex_unlock(&s->lock);
        collect(h);
        for (size_t i = 0; i < h->nrollouts; i++)
            if (!h->rollouts[i].finished && scan_rollout(h, &h->rollouts[i]) < 0)
                rg_log(RG_LOG_WARN, "webhook", "scan: %s", rg_error_last());
        next = deliver_due(h);
        wait_work(h, gen, next < cap ? next : cap);
    }
    /* The workers end their POST (cancelled by the stop), then what was delivered is
     * audited; the rest is sent again by the next start. */
    pthread_mutex_lock(&h->work_lock);
    h->quit = 1;
    pthread_cond_broadcast(&h->work_cond);
    pthread_mutex_unlock(&h->work_lock);
    for (int i = 0; i < h->nworkers; i++)
        pthread_join(h->workers[i], NULL);
    h->nworkers = 0;
    for (size_t i = 0; i < h->njobs; i++)
        if (h->jobs[i]->state == JOB_DONE)
            finish(h, h->jobs[i]);
    return NULL;
}

int rg_server__hooks_start(rg_server *s)
{
    rg_server__hooks *h = calloc(1, sizeof(*h));
    int rc;

    if (h == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    h->server = s;
    h->track = json_array();
    pthread_mutex_init(&h->track_lock, NULL);
    pthread_mutex_init(&h->work_lock, NULL);
    pthread_cond_init(&h->work_cond, NULL);
    if ((rc = rg_engine_open(&h->engine, s->db_path, 0, NULL)) < 0) {
        pthread_mutex_destroy(&h->track_lock);
        json_decref(h->track);
        free(h);
        return rc;
    }
    s->hooks = h;
    while (h->nworkers < HOOK_WORKERS &&
           pthread_create(&h->workers[h->nworkers], NULL, worker_main, h) == 0)
        h->nworkers++;
    if (h->nworkers == 0 || pthread_create(&s->hook_thread, NULL, hooks_main, h) != 0) {
        pthread_mutex_lock(&h->work_lock);
        h->quit = 1;
        pthread_cond_broadcast(&h->work_cond);
        pthread_mutex_unlock(&h->work_lock);
        for (int i = 0; i < h->nworkers; i++)
            pthread_join(h->workers[i], NULL);
        s->hooks = NULL;
        rg_engine_free(h->engine);
        pthread_cond_destroy(&h->work_cond);
        pthread_mutex_destroy(&h->work_lock);
        pthread_mutex_destroy(&h->track_lock);
        json_decref(h->track);
        free(h);
        return rg_error_set(RG_EIO, "cannot start the webhook threads");
    }
    s->hook_started = 1;
    return 0;
}

void rg_server__hooks_stop(rg_server *s)
{
    rg_server__hooks *h = s->hooks;

    if (h == NULL)
        return;
    if (s->hook_started)
        pthread_join(s->hook_thread, NULL);
    s->hook_started = 0;
    s->hooks = NULL;
    for (size_t i = 0; i < h->njobs; i++)
        job_dispose(h->jobs[i]);
    for (size_t i = 0; i < h->nrollouts; i++)
        rollout_dispose(&h->rollouts[i]);
    free(h->jobs);
    free(h->rollouts);
    json_decref(h->track);
    pthread_cond_destroy(&h->work_cond);
    pthread_mutex_destroy(&h->work_lock);
    pthread_mutex_destroy(&h->track_lock);
    rg_engine_free(h->engine);
    free(h);
}
