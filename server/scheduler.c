/* scheduler.c - the scheduler thread: rg_engine_tick over every active rollout, with its own
 * store handle, woken early by API commands, broadcasting `changed` after every committed
 * step it narrates (not after every tick: a thousand waiting gates would all re-read the
 * database at every tick for nothing) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server_private.h"

typedef struct {
    rg_server *server;
    rg_engine *engine;
} sched_state;

/* Every narrated step follows a committed store write: waiters may look now. */
static void on_narrate(const char *rollout_id, const char *kind, const char *line, void *payload)
{
    char hashed[13];
    rg_hash_id(hashed, rollout_id);
    rg_log(RG_LOG_DEBUG, "scheduler", "%s %s", kind, hashed);
    (void)line;
    rg_server__notify(payload, rollout_id, 0);
}

static void wait_tick(rg_server *s, int64_t next_ms)
{
    int64_t delay = next_ms - rg_time_now_ms(), deadline;
    struct timespec ts;

    if (delay > s->opts.tick_ms)
        delay = s->opts.tick_ms;
    if (delay < 0)
        delay = 0;
    deadline = rg_time_mono_ms() + delay;
    ts.tv_sec = (time_t)(deadline / 1000);
    ts.tv_nsec = (long)(deadline % 1000) * 1000000L;
    pthread_mutex_lock(&s->lock);
    while (!s->kicked && !s->stopping)
        if (pthread_cond_timedwait(&s->kick, &s->lock, &ts) == ETIMEDOUT)
            break;
    s->kicked = 0;
    pthread_mutex_unlock(&s->lock);
}

static void *sched_main(void *arg)
{
    sched_state *st = arg;
    rg_server *s = st->server;

    while (!rg_server__stopping(s)) {
        int64_t next = rg_time_now_ms() + s->opts.tick_ms;
        int rc;
        pthread_mutex_lock(&s->drive_lock);
        rc = rg_engine_tick(st->engine, &next);
        pthread_mutex_unlock(&s->drive_lock);
        if (rc < 0) {
            rg_log(rc == RG_EDB ? RG_LOG_ERROR : RG_LOG_WARN, "scheduler", "tick: %s",
                   rg_error_last());
            rg_server__notify(s, NULL, 0); /* whatever was half done, let waiters look */
        }
        wait_tick(s, next);
    }
    return NULL;
}

int rg_server__scheduler_start(rg_server *s)
{
    sched_state *st = calloc(1, sizeof(*st));
    rg_engine_options eo;
    int rc;

    if (st == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory");
    st->server = s;
    rg_engine_options_init(&eo);
    eo.tick_ms = s->opts.tick_ms;
    eo.lease_ms = s->opts.lease_ms;
    eo.narrate = on_narrate;
    eo.narrate_payload = s;
    eo.add_org = rg_server__add_org; /* URLs and credentials only from the registry */
    eo.add_org_payload = s;
    if ((rc = rg_engine_open(&st->engine, s->db_path, 0, &eo)) < 0) {
        char shown[1024];
        rg_engine_db_display(shown, sizeof(shown), s->db_path);
        rg_error_prefix("database %s", shown);
        free(st);
        return rc;
    }
    pthread_mutex_lock(&s->metrics_lock);
    s->sched_engine = st->engine;
    pthread_mutex_unlock(&s->metrics_lock);
    if (pthread_create(&s->sched_thread, NULL, sched_main, st) != 0) {
        pthread_mutex_lock(&s->metrics_lock);
        s->sched_engine = NULL;
        pthread_mutex_unlock(&s->metrics_lock);
        rg_engine_free(st->engine);
        free(st);
        return rg_error_set(RG_EIO, "cannot start the scheduler thread: %s", strerror(errno));
    }
    s->sched_started = 1;
    s->sched = st;
    return 0;
}

void rg_server__scheduler_join(rg_server *s)
{
    sched_state *st = s->sched;
    rg_engine_metrics m;

    if (!s->sched_started || st == NULL)
        return;
    pthread_join(s->sched_thread, NULL);
    s->sched_started = 0;
    rg_engine_get_metrics(&m, st->engine);
    pthread_mutex_lock(&s->metrics_lock);
    rg_server__metrics_add(&s->retired, &m);
    s->sched_engine = NULL;
    pthread_mutex_unlock(&s->metrics_lock);
    rg_engine_free(st->engine);
    free(st);
    s->sched = NULL;
}
