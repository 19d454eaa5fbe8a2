/* leases.c - the lease that names the one process driving a rollout: atomic upserts, epochs
 * that fence a lost holder's writes, expiry by the database's clock */
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"
#include "store/rows.h"

/* The database's clock in epoch ms (store_private.h): one clock for every process writing
 * the database, never a host's; PostgreSQL's now() in its driver. */
#define DB_NOW RG_STORE__DB_NOW
/* ?5 when a caller gave a time (tests), else the database's. */
#define NOW_5 "COALESCE(NULLIF(?5, 0), " DB_NOW ")"

/* One statement decides: insert when absent; otherwise take over only when the row is ours,
 * released, expired, or held by the named dead owner (?6, NULL for none). changes() says
 * who won. A new holder gets the next epoch; the same holder keeps its own. */
#define SAME_HOLDER "leases.owner = excluded.owner AND leases.released = 0"
static const char lease_take_sql[] =
    "INSERT INTO leases (rollout_id, tenant_id, owner, expires_at_ms, acquired_at_ms, epoch,"
    " ttl_ms) VALUES (?1, ?2, ?3, " NOW_5 " + ?4, " NOW_5 ", 1, ?4)"
    " ON CONFLICT (rollout_id) DO UPDATE SET owner = excluded.owner,"
    " expires_at_ms = excluded.expires_at_ms, ttl_ms = excluded.ttl_ms, released = 0,"
    " epoch = CASE WHEN " SAME_HOLDER " THEN leases.epoch ELSE leases.epoch + 1 END,"
    " batch_ms = CASE WHEN " SAME_HOLDER " THEN leases.batch_ms ELSE 0 END,"
    " acquired_at_ms = CASE WHEN " SAME_HOLDER " THEN leases.acquired_at_ms"
    "  ELSE excluded.acquired_at_ms END"
    " WHERE leases.tenant_id = excluded.tenant_id AND (leases.owner = excluded.owner"
    "  OR leases.released = 1 OR leases.expires_at_ms <= excluded.acquired_at_ms"
    "  OR leases.owner = ?6)";

static int check_args(const char *tenant_id, const char *rollout_id, const char *owner,
                      int64_t now_ms, int64_t ttl_ms, const char *op)
{
    int rc;

    if ((rc = rg_store__require(tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(rollout_id, op, "rollout id")) < 0 ||
        (rc = rg_store__require(owner, op, "owner")) < 0)
        return rc;
    if (now_ms < 0 || ttl_ms <= 0 || now_ms > INT64_MAX - ttl_ms)
        return rg_error_set(RG_EINVALID, "store: %s: bad time %lld or ttl %lld", op,
                            (long long)now_ms, (long long)ttl_ms);
    return 0;
}

static int take(int *out_held, rg_store *store, const char *tenant_id, const char *rollout_id,
                const char *owner, const char *dead_owner, int64_t now_ms, int64_t ttl_ms,
                const char *op)
{
    rg_store__binder b;
    int rc;

    if ((rc = check_args(tenant_id, rollout_id, owner, now_ms, ttl_ms, op)) < 0 ||
        (rc = rg_store__rollout_exists(store, tenant_id, rollout_id, op)) < 0 ||
        (rc = rg_store__prepare(&b, store, lease_take_sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, rollout_id);
    rg_store__bind_text(&b, tenant_id);
    rg_store__bind_text(&b, owner);
    rg_store__bind_int64(&b, ttl_ms);
    rg_store__bind_int64(&b, now_ms);
    rg_store__bind_text(&b, dead_owner);
    if ((rc = rg_store__binder_check(&b, store, op)) < 0 ||
        (rc = rg_store__step_unfenced(store, b.stmt, op)) < 0)
        return rc;
    *out_held = rg_store__changes(store) > 0;
    return 0;
}

int rg_store_lease_acquire(int *out_held, rg_store *store, const char *tenant_id,
                           const char *rollout_id, const char *owner, int64_t now_ms,
                           int64_t ttl_ms)
{
    return take(out_held, store, tenant_id, rollout_id, owner, NULL, now_ms, ttl_ms,
                "lease acquire");
}

int rg_store_lease_take_over(int *out_held, rg_store *store, const char *tenant_id,
                             const char *rollout_id, const char *owner, const char *dead_owner,
                             int64_t now_ms, int64_t ttl_ms)
{
    int rc = rg_store__require(dead_owner, "lease take over", "dead owner");
    if (rc < 0)
        return rc;
    return take(out_held, store, tenant_id, rollout_id, owner, dead_owner, now_ms, ttl_ms,
                "lease take over");
}

/* Runs a bound statement keyed by the lease's owner. @param[out] out_matched 1 when it
 * changed the row, 0 when it matched nothing: a lease held by someone else is an answer,
 * a missing rollout an error (RG_ENOTFOUND). */
static int step_owned(int *out_matched, rg_store *store, rg_store__binder *b, const char *tenant_id,
                      const char *rollout_id, const char *op)
{
    int rc;

    if ((rc = rg_store__binder_check(b, store, op)) < 0 ||
        (rc = rg_store__step_unfenced(store, b->stmt, op)) < 0)
        return rc;
    *out_matched = rg_store__changes(store) > 0;
    if (!*out_matched)
        return rg_store__rollout_exists(store, tenant_id, rollout_id, op);
    return 0;
}

int rg_store_lease_renew(int *out_held, rg_store *store, const char *tenant_id,
                         const char *rollout_id, const char *owner, int64_t now_ms, int64_t ttl_ms)
{
    static const char sql[] = "UPDATE leases SET expires_at_ms = COALESCE(NULLIF(?, 0), " DB_NOW
                              ") + ?, ttl_ms = ? WHERE rollout_id = ?"
                              " AND tenant_id = ? AND owner = ? AND released = 0";
    static const char op[] = "lease renew";
    rg_store__binder b;
    int rc, held;

    if ((rc = check_args(tenant_id, rollout_id, owner, now_ms, ttl_ms, op)) < 0 ||
        (rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_int64(&b, now_ms);
    rg_store__bind_int64(&b, ttl_ms);
    rg_store__bind_int64(&b, ttl_ms);
    rg_store__bind_text(&b, rollout_id);
    rg_store__bind_text(&b, tenant_id);
    rg_store__bind_text(&b, owner);
    if ((rc = step_owned(&held, store, &b, tenant_id, rollout_id, op)) < 0)
        return rc;
    *out_held = held;
    return 0;
}

int rg_store_lease_extend(rg_store *store, const char *tenant_id, const char *rollout_id,
                          const char *owner, int64_t epoch, int64_t ttl_ms, int64_t batch_ms)
{
    static const char sql[] = "UPDATE leases SET expires_at_ms = " DB_NOW " + ?1, ttl_ms = ?1,"
                              " batch_ms = CASE WHEN ?2 < 0 THEN batch_ms ELSE ?2 END"
                              " WHERE rollout_id = ?3 AND tenant_id = ?4 AND owner = ?5"
                              " AND epoch = ?6 AND released = 0";
    static const char op[] = "lease extend";
    rg_store__binder b;
    int rc, held;

    if ((rc = check_args(tenant_id, rollout_id, owner, 0, ttl_ms, op)) < 0 ||
        (rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_int64(&b, ttl_ms);
    rg_store__bind_int64(&b, batch_ms);
    rg_store__bind_text(&b, rollout_id);
    rg_store__bind_text(&b, tenant_id);
    rg_store__bind_text(&b, owner);
    rg_store__bind_int64(&b, epoch);
    if ((rc = step_owned(&held, store, &b, tenant_id, rollout_id, op)) < 0 || held)
        return rc;
    return rg_error_set(RG_ELEASE,
                        "store: %s: lease lost: rollout %s is no longer held by "
                        "this process at epoch %lld",
                        op, rollout_id, (long long)epoch);
}

int rg_store_lease_release(int *out_released, rg_store *store, const char *tenant_id,
                           const char *rollout_id, const char *owner)
{
    static const char sql[] = "UPDATE leases SET released = 1, expires_at_ms = " DB_NOW
                              " WHERE rollout_id = ? AND tenant_id = ? AND owner = ?"
                              " AND released = 0";
    static const char op[] = "lease release";
    rg_store__binder b;
    int rc, released;

    if ((rc = rg_store__require(tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(rollout_id, op, "rollout id")) < 0 ||
        (rc = rg_store__require(owner, op, "owner")) < 0 ||
        (rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, rollout_id);
    rg_store__bind_text(&b, tenant_id);
    rg_store__bind_text(&b, owner);
    if ((rc = step_owned(&released, store, &b, tenant_id, rollout_id, op)) < 0)
        return rc;
    if (out_released)
        *out_released = released;
    return 0;
}

int rg_store_lease_get(rg_store_lease *out, rg_store *store, const char *tenant_id,
                       const char *rollout_id)
{
    static const char sql[] = "SELECT rollout_id, tenant_id, owner, expires_at_ms,"
                              " acquired_at_ms, epoch, ttl_ms, batch_ms, " DB_NOW
                              " FROM leases WHERE tenant_id = ? AND rollout_id = ?"
                              " AND released = 0";
    static const char op[] = "lease get";
    rg_store_lease l;
    rg_store__binder b;
    int rc;

    memset(&l, 0, sizeof(l));
    if ((rc = rg_store__rollout_stmt(&b, store, sql, op, tenant_id, rollout_id)) < 0)
        return rc;
    if ((rc = rg_store__select_row(&l, &rg_store__lease_row, store, &b, op)) < 0)
        return rc;
    *out = l;
    return 0;
}

/* The states rg_store_rollout_list_active_all_tenants lists: the ones a scheduler drives. */
#define ACTIVE_STATES "('awaiting_approval', 'running', 'paused', 'held', 'rolling_back')"

void rg_store_lease_census_dispose(rg_store_lease_census *census)
{
    if (census == NULL)
        return;
    for (size_t i = 0; i < census->claimable_count; i++) {
        free(census->claimable[i].tenant_id);
        free(census->claimable[i].rollout_id);
    }
    free(census->claimable);
    memset(census, 0, sizeof(*census));
}

static int census_claimable(rg_store_lease_census *c, rg_store *store, const char *op)
{
    static const char sql[] =
        "SELECT r.tenant_id, r.id FROM rollouts r LEFT JOIN leases l"
        " ON l.rollout_id = r.id AND l.tenant_id = r.tenant_id"
        " WHERE r.state IN " ACTIVE_STATES " AND (l.rollout_id IS NULL OR l.released = 1"
        "  OR l.expires_at_ms <= " RG_STORE__DB_NOW ") ORDER BY r.created_at, r.id";
    rg_store__binder b;
    int rc, step;
    size_t cap = 0;

    if ((rc = rg_store__prepare(&b, store, sql, op)) < 0 ||
        (rc = rg_store__binder_check(&b, store, op)) < 0)
        return rc;
    while ((step = rg_store__step(store, b.stmt, op)) == 1) {
        rg_store__reader r;
        rg_store_rollout_key k;
        if (c->claimable_count == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            rg_store_rollout_key *n = realloc(c->claimable, ncap * sizeof(*n));
            if (n == NULL) {
                rg_store__reset(store, b.stmt);
                return rg_error_set(RG_ENOMEM, "store: %s: out of memory", op);
            }
            c->claimable = n;
            cap = ncap;
        }
        rg_store__reader_init(&r, b.stmt);
        k.tenant_id = rg_store__read_text(&r);
        k.rollout_id = rg_store__read_text(&r);
        if (r.rc < 0 || k.tenant_id == NULL || k.rollout_id == NULL) {
            free(k.tenant_id);
            free(k.rollout_id);
            rg_store__reset(store, b.stmt);
            return r.rc < 0 ? r.rc : rg_error_set(RG_EINVALID, "store: %s: a NULL key", op);
        }
        c->claimable[c->claimable_count++] = k;
    }
    rg_store__reset(store, b.stmt);
    return step < 0 ? step : 0;
}

static int census_holders(rg_store_lease_census *c, rg_store *store, const char *owner,
                          const char *op)
{
    static const char sql[] =
        "SELECT COUNT(DISTINCT l.owner),"
        " COALESCE(SUM(CASE WHEN l.owner = ?1 THEN 1 ELSE 0 END), 0) FROM leases l"
        " JOIN rollouts r ON r.id = l.rollout_id AND r.tenant_id = l.tenant_id"
        " WHERE r.state IN " ACTIVE_STATES
        " AND l.released = 0 AND l.expires_at_ms > " RG_STORE__DB_NOW;
    rg_store__binder b;
    int rc, step;

    if ((rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, owner);
    if ((rc = rg_store__binder_check(&b, store, op)) < 0)
        return rc;
    step = rg_store__step(store, b.stmt, op);
    if (step == 1) {
        c->holders = (size_t)rg_store__col_int64(b.stmt, 0);
        c->held_by_owner = (size_t)rg_store__col_int64(b.stmt, 1);
        rc = 0;
    } else {
        rc = step < 0 ? step : rg_error_set(RG_EDB, "store: %s: no row", op);
    }
    rg_store__reset(store, b.stmt);
    return rc;
}

int rg_store_lease_census_all_tenants(rg_store_lease_census *out, rg_store *store,
                                      const char *owner)
{
    static const char op[] = "lease census (all tenants)";
    rg_store_lease_census c;
    int rc, own;

    memset(&c, 0, sizeof(c));
    if (out == NULL || store == NULL)
        return rg_error_set(RG_EINVALID, "store: %s: no store or result", op);
    if ((rc = rg_store__require(owner, op, "owner")) < 0)
        return rc;
    /* Two reads, one snapshot: a lease taken between them is not counted twice (on
     * PostgreSQL a repeatable-read transaction; its default gives each statement its own). */
    own = !rg_store_in_transaction(store);
    if (own && (rc = rg_store__exec(
                    store, store->pg ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN",
                    op)) < 0)
        return rc;
    if ((rc = census_claimable(&c, store, op)) == 0)
        rc = census_holders(&c, store, owner, op);
    if (own && rg_store_in_transaction(store))
        rg_store__exec(store, rc == 0 ? "COMMIT" : "ROLLBACK", op);
    if (rc < 0) {
        rg_store_lease_census_dispose(&c);
        return rc;
    }
    *out = c;
    return 0;
}

/* The oldest active rollout nobody leases, for rg_store_lease_claim_next. PostgreSQL locks
 * the rollout row it returns and skips the rows other schedulers hold: two hosts asking at
 * once get two rollouts. */
static int pick_unleased(char **out_tenant, char **out_rollout, rg_store *store, const char *op)
{
    static const char sql[] =
        "SELECT r.tenant_id, r.id FROM rollouts r LEFT JOIN leases l ON l.rollout_id = r.id"
        " WHERE r.state IN ('awaiting_approval', 'running', 'paused', 'held', 'rolling_back')"
        " AND (l.rollout_id IS NULL OR l.released = 1 OR l.expires_at_ms <= " DB_NOW ")"
        " ORDER BY r.created_at, r.id LIMIT 1 /*pg: FOR UPDATE OF r SKIP LOCKED*/";
    rg_store__binder b;
    rg_store__reader r;
    int rc, step;

    *out_tenant = *out_rollout = NULL;
    if ((rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    step = rg_store__step(store, b.stmt, op);
    if (step == 1) {
        rg_store__reader_init(&r, b.stmt);
        *out_tenant = rg_store__read_text(&r);
        *out_rollout = rg_store__read_text(&r);
        step = r.rc < 0 ? r.rc : 1;
    }
    rg_store__reset(store, b.stmt);
    if (step < 0) {
        free(*out_tenant);
        free(*out_rollout);
        *out_tenant = *out_rollout = NULL;
    }
    return step;
}

int rg_store_lease_claim_next(rg_store_lease *out, int *out_found, rg_store *store,
                              const char *owner, int64_t ttl_ms)
{
    static const char op[] = "lease claim next";
    char *tenant = NULL, *rollout = NULL;
    int rc = 0, held = 0;

    if (out == NULL || out_found == NULL || store == NULL)
        return rg_error_set(RG_EINVALID, "store: %s: missing argument", op);
    if ((rc = rg_store__require(owner, op, "owner")) < 0)
        return rc;
    if (ttl_ms <= 0)
        return rg_error_set(RG_EINVALID, "store: %s: bad ttl %lld", op, (long long)ttl_ms);
    if (rg_store_in_transaction(store))
        return rg_error_set(RG_EINVALID, "store: %s: a transaction is already open", op);
    *out_found = 0;
    /* Another driver may take the picked rollout's lease directly between the pick and the
     * take (it is not locked by the pick): then the next one is tried. */
    for (int attempt = 0; attempt < 8 && !held; attempt++) {
        if ((rc = rg_store__begin_write(store, op)) < 0)
            return rc;
        if ((rc = pick_unleased(&tenant, &rollout, store, op)) <= 0) {
            rg_store__exec(store, "ROLLBACK", op);
            return rc;
        }
        rc = take(&held, store, tenant, rollout, owner, NULL, 0, ttl_ms, op);
        if (rc == 0 && held && (rc = rg_store_lease_get(out, store, tenant, rollout)) == 0)
            rc = rg_store__exec(store, "COMMIT", op);
        else if (rc == 0)
            rc = rg_store__exec(store, "ROLLBACK", op);
        if (rc < 0 && rg_store_in_transaction(store))
            rg_store__exec(store, "ROLLBACK", op);
        free(tenant);
        free(rollout);
        tenant = rollout = NULL;
        if (rc < 0) {
            if (held)
                rg_store_lease_dispose(out);
            return rc;
        }
    }
    *out_found = held;
    return 0;
}
