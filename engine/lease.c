/* lease.c - who drives a rollout: owner ids "host:pid:starttime", taking over dead owners */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine_private.h"
#include "rollgate/util.h"

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
    if (p == NULL || sscanf(p, " %llu", &start) != 1)
        return 0;
    return start;
}

void rg_engine__owner_self(char *out, size_t outlen)
{
    char host[128] = "localhost";

    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(out, outlen, "%s:%ld:%llu", host, (long)getpid(),
             proc_start_time((long)getpid()));
}

int rg_engine__owner_is_dead(const char *owner)
{
    char host[128] = "";
    long pid = 0;
    unsigned long long start = 0;
    const char *c1 = strchr(owner, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

    if (c1 == NULL || c2 == NULL || (size_t)(c1 - owner) >= sizeof(host))
        return 0;
    memcpy(host, owner, (size_t)(c1 - owner));
    host[c1 - owner] = '\0';
    if (sscanf(c1 + 1, "%ld", &pid) != 1 || sscanf(c2 + 1, "%llu", &start) != 1 || pid <= 0) {
        return 0;
    }
    {
        char me[128] = "";
        if (gethostname(me, sizeof(me) - 1) != 0 || strcmp(me, host) != 0)
            return 0; /* another host: only the expiry can tell */
    }
    return proc_start_time(pid) != start;
}

int rg_engine__lease(int *out_held, rg_engine *engine, const char *tenant_id,
                     const char *rollout_id)
{
    int64_t now = rg_time_now_ms(), ttl = engine->opts.tick_ms * engine->opts.lease_ticks;
    rg_store_lease lease = {0};
    int rc, held = 0;

    if ((rc = rg_store_lease_acquire(&held, engine->store, tenant_id, rollout_id, engine->owner,
                                     now, ttl)) < 0)
        return rc;
    if (!held && rg_store_lease_get(&lease, engine->store, tenant_id, rollout_id) == 0) {
        if (rg_engine__owner_is_dead(lease.owner)) {
            rc = rg_store_lease_take_over(&held, engine->store, tenant_id, rollout_id,
                                          engine->owner, lease.owner, now, ttl);
            if (rc == 0 && held)
                rg_log(RG_LOG_WARN, "engine", "%s: took over the lease of %s, which is gone",
                       rollout_id, lease.owner);
        }
        rg_store_lease_dispose(&lease);
    }
    *out_held = held;
    return rc;
}
