/* lease.c - who drives a rollout: owner ids "host:pid:starttime", taking over dead owners */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine_private.h"
#include "rollgate/util.h"

/* The unsigned decimal at s (after blanks, as sscanf's %llu); -1 when there is none or it
 * does not fit. */
static int read_ull(unsigned long long *out, const char *s)
{
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return end == s || errno != 0 ? -1 : 0;
}

/* The process start time in clock ticks since boot (field 22 of /proc/PID/stat), so a pid
 * reused by another process is not mistaken for the lease holder. */
static unsigned long long proc_start_time(long pid)
{
    char path[64], buf[1024];
    unsigned long long start = 0;
    FILE *f;
    char *p;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields resume after the last ')'. */
    if ((p = strrchr(buf, ')')) == NULL)
        return 0;
    p++;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p + 1, ' ');
    }
    if (p == NULL || read_ull(&start, p) < 0)
        return 0;
    return start;
}

void rg_engine__owner_self(char *out, size_t outlen)
{
    char host[128] = "localhost";

    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(out, outlen, "%s:%ld:%llu", host, (long)getpid(), proc_start_time((long)getpid()));
}

int rg_engine__owner_is_dead(const char *owner)
{
    char host[128] = "";
    long pid = 0;
    unsigned long long start = 0;
    const char *c1 = strchr(owner, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    char *end;

    if (c1 == NULL || c2 == NULL || (size_t)(c1 - owner) >= sizeof(host))
        return 0;
    memcpy(host, owner, (size_t)(c1 - owner));
    host[c1 - owner] = '\0';
    errno = 0;
    pid = strtol(c1 + 1, &end, 10);
    if (end == c1 + 1 || errno != 0 || pid <= 0 || read_ull(&start, c2 + 1) < 0)
        return 0; /* not an owner this code wrote: treated as alive */
    {
        char me[128] = "";
        if (gethostname(me, sizeof(me) - 1) != 0 || strcmp(me, host) != 0)
            return 0; /* another host: only the expiry can tell */
    }
    return proc_start_time(pid) != start;
}

int64_t rg_engine__lease_ttl(const rg_engine *engine)
{
    int64_t ttl = engine->opts.tick_ms * engine->opts.lease_ticks;
    int64_t floor = engine->opts.lease_ms > 0 ? engine->opts.lease_ms : RG_ENGINE_LEASE_MS;

    if (ttl < floor)
        ttl = floor;
    /* A batch must end before the lease does, or a second driver could take over while the
     * first is still writing to the platform. */
    if (engine->batch_max_ms > 0 && ttl < 2 * engine->batch_max_ms + engine->opts.tick_ms)
        ttl = 2 * engine->batch_max_ms + engine->opts.tick_ms;
    return ttl;
}

/* The epoch of the lease just taken, when it is ours. */
static int held_epoch(int *out_held, rg_engine *engine, const char *tenant_id,
                      const char *rollout_id)
{
    rg_store_lease lease = {0};
    int rc = rg_store_lease_get(&lease, engine->store, tenant_id, rollout_id);

    if (rc == RG_ENOTFOUND) {
        *out_held = 0;
        return 0;
    }
    if (rc < 0)
        return rc;
    *out_held = strcmp(lease.owner, engine->owner) == 0;
    if (*out_held && (rc = rg_store_fence(engine->store, tenant_id, rollout_id, engine->owner,
                                          lease.epoch)) == 0)
        engine->epoch = lease.epoch;
    rg_store_lease_dispose(&lease);
    return rc;
}

int rg_engine__lease(int *out_held, rg_engine *engine, const char *tenant_id,
                     const char *rollout_id)
{
    int64_t ttl = rg_engine__lease_ttl(engine);
    rg_store_lease lease = {0};
    int rc, held = 0;

    rg_engine__lease_end(engine);
    /* Time 0: the database's clock decides expiry, at the moment of the statement. */
    if ((rc = rg_store_lease_acquire(&held, engine->store, tenant_id, rollout_id, engine->owner, 0,
                                     ttl)) < 0)
        return rc;
    if (!held && rg_store_lease_get(&lease, engine->store, tenant_id, rollout_id) == 0) {
        if (rg_engine__owner_is_dead(lease.owner)) {
            rc = rg_store_lease_take_over(&held, engine->store, tenant_id, rollout_id,
                                          engine->owner, lease.owner, 0, ttl);
            if (rc == 0 && held)
                rg_log(RG_LOG_WARN, "engine", "%s: took over the lease of %s, which is gone",
                       rollout_id, lease.owner);
        }
        rg_store_lease_dispose(&lease);
    }
    if (rc == 0 && held)
        rc = held_epoch(&held, engine, tenant_id, rollout_id);
    *out_held = rc == 0 && held;
    return rc;
}

void rg_engine__lease_end(rg_engine *engine)
{
    rg_store_unfence(engine->store);
    engine->epoch = 0;
}

int rg_engine__lease_confirm(rg_rollout_ctx *ctx)
{
    rg_engine *e = ctx->engine;

    if (e->epoch <= 0)
        return 0;
    return rg_store_lease_extend(e->store, ctx->row.tenant_id, ctx->row.id, e->owner, e->epoch,
                                 rg_engine__lease_ttl(e), -1);
}

int rg_engine__platform_run(rg_rollout_ctx *ctx, rg_platform *pf)
{
    rg_engine *e = ctx->engine;
    int64_t began;
    int rc;

    if (e->epoch > 0 &&
        (rc = rg_store_lease_extend(e->store, ctx->row.tenant_id, ctx->row.id, e->owner, e->epoch,
                                    rg_engine__lease_ttl(e), e->batch_last_ms)) < 0)
        return rc;
    began = rg_time_mono_ms();
    rc = rg_platform_run(pf);
    e->batch_last_ms = rg_time_mono_ms() - began;
    if (e->batch_last_ms > e->batch_max_ms) {
        e->batch_max_ms = e->batch_last_ms;
        if (2 * e->batch_max_ms + e->opts.tick_ms > e->opts.lease_ms &&
            2 * e->batch_max_ms + e->opts.tick_ms > RG_ENGINE_LEASE_MS)
            rg_log(RG_LOG_WARN, "engine",
                   "%s: a platform batch took %lld ms; leases now last "
                   "%lld ms",
                   ctx->row.id, (long long)e->batch_max_ms, (long long)rg_engine__lease_ttl(e));
    }
    return rc;
}
