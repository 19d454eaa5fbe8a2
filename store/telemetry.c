/* telemetry.c - measurement buckets (upserted as re-polled) and per-poll metric verdicts */
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"
#include "store/rows.h"

/* ---- measurements ---- */

static int put_one(rg_store *store, const rg_store_measurement_in *m, int check_rollout);

int rg_store_measurement_put(rg_store *store, const rg_store_measurement_in *m)
{
    return put_one(store, m, 1);
}

int rg_store_measurement_put_many(rg_store *store, const rg_store_measurement_in *rows, size_t n)
{
    int rc = 0;

    if (n > 0 && rows == NULL)
        return rg_error_set(RG_EINVALID, "store: measurement put: no rows");
    /* The rollout is looked up once per run of rows that share it, not once per row. */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const rg_store_measurement_in *p = i ? &rows[i - 1] : NULL;
        int same = p && p->tenant_id && rows[i].tenant_id && p->rollout_id && rows[i].rollout_id &&
                   strcmp(p->tenant_id, rows[i].tenant_id) == 0 &&
                   strcmp(p->rollout_id, rows[i].rollout_id) == 0;
        rc = put_one(store, &rows[i], !same);
    }
    return rc;
}

static int put_one(rg_store *store, const rg_store_measurement_in *m, int check_rollout)
{
    static const char sql[] =
        "INSERT INTO measurements (" RG_STORE__MEASUREMENT_COLUMNS ")"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (rollout_id, org_id, queue_id, metric, bucket_start_ms, bucket_len_ms)"
        " DO UPDATE SET count = excluded.count, sum = excluded.sum"
        " WHERE measurements.tenant_id = excluded.tenant_id";
    static const char op[] = "measurement put";
    rg_store__binder b;
    int rc;

    if (m == NULL)
        return rg_error_set(RG_EINVALID, "store: %s: no measurement", op);
    if ((rc = rg_store__require(m->tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(m->rollout_id, op, "rollout id")) < 0 ||
        (rc = rg_store__require(m->org_id, op, "org id")) < 0 ||
        (rc = rg_store__require(m->queue_id, op, "queue id")) < 0 ||
        (rc = rg_store__require(m->metric, op, "metric")) < 0 ||
        (check_rollout &&
         (rc = rg_store__rollout_exists(store, m->tenant_id, m->rollout_id, op)) < 0) ||
        (rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, m->rollout_id);
    rg_store__bind_text(&b, m->tenant_id);
    rg_store__bind_text(&b, m->org_id);
    rg_store__bind_text(&b, m->queue_id);
    rg_store__bind_text(&b, m->metric);
    rg_store__bind_int64(&b, m->bucket_start_ms);
    rg_store__bind_int64(&b, m->bucket_len_ms);
    rg_store__bind_int64(&b, m->count);
    rg_store__bind_double(&b, m->sum);
    if ((rc = rg_store__binder_check(&b, store, op)) < 0)
        return rc;
    return rg_store__step_done(store, b.stmt, op);
}

int rg_store_measurement_list(rg_store_measurements *out, rg_store *store, const char *tenant_id,
                              const char *rollout_id, const char *metric, int64_t from_ms,
                              int64_t to_ms)
{
    /* ?3 IS NULL selects every metric: one statement, no SQL built from input. */
    static const char sql[] = "SELECT " RG_STORE__MEASUREMENT_COLUMNS " FROM measurements"
                              " WHERE tenant_id = ?1 AND rollout_id = ?2"
                              " AND (?3 IS NULL OR metric = ?3)"
                              " AND bucket_start_ms >= ?4 AND bucket_start_ms < ?5"
                              " ORDER BY org_id, queue_id, metric, bucket_start_ms";
    static const char op[] = "measurement list";
    rg_store__binder b;
    rg_store__array a;
    int rc;

    if ((rc = rg_store__rollout_stmt(&b, store, sql, op, tenant_id, rollout_id)) < 0)
        return rc;
    rg_store__bind_text(&b, metric);
    rg_store__bind_int64(&b, from_ms);
    rg_store__bind_int64(&b, to_ms);
    if ((rc = rg_store__select_rows(&a, &rg_store__measurement_row, store, &b, op)) < 0)
        return rc;
    RG_STORE__LIST_TAKE(out, a);
    return 0;
}

int rg_store_measurement_sums(rg_store *store, const char *tenant_id, const char *rollout_id,
                              const char *metric_a, int a_use_sum, const char *metric_b,
                              int b_use_sum, rg_store_sum_fn fn, void *payload)
{
    /* ?4 / ?6 choose count or sum per metric; a NULL sum (NaN on the way in) adds 0. */
    static const char sql[] =
        "SELECT org_id, bucket_start_ms,"
        " COALESCE(SUM(CASE WHEN metric = ?3 THEN (CASE WHEN ?4 <> 0 THEN sum ELSE count END)"
        "  END), 0.0),"
        " COALESCE(SUM(CASE WHEN metric = ?5 THEN (CASE WHEN ?6 <> 0 THEN sum ELSE count END)"
        "  END), 0.0)"
        " FROM measurements WHERE tenant_id = ?1 AND rollout_id = ?2 AND metric IN (?3, ?5)"
        " GROUP BY org_id, bucket_start_ms ORDER BY org_id, bucket_start_ms";
    static const char op[] = "measurement sums";
    rg_store__query *stmt = NULL;
    rg_store__binder b;
    int rc, step;

    if (fn == NULL)
        return rg_error_set(RG_EINVALID, "store: %s: no callback", op);
    if ((rc = rg_store__require(tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(rollout_id, op, "rollout id")) < 0 ||
        (rc = rg_store__require(metric_a, op, "metric")) < 0 ||
        (rc = rg_store__require(metric_b, op, "metric")) < 0 ||
        (rc = rg_store__rollout_stmt(&b, store, sql, op, tenant_id, rollout_id)) < 0)
        return rc;
    stmt = b.stmt;
    rg_store__bind_text(&b, metric_a);
    rg_store__bind_int64(&b, a_use_sum != 0);
    rg_store__bind_text(&b, metric_b);
    rg_store__bind_int64(&b, b_use_sum != 0);
    if ((rc = rg_store__binder_check(&b, store, op)) < 0)
        return rc;
    while ((step = rg_store__step(store, stmt, op)) == 1) {
        size_t len = 0;
        const char *org = rg_store__col_text(stmt, 0, &len);
        if (org == NULL) {
            rg_store__reset(store, stmt);
            return rg_error_set(RG_EDB, "store: %s: out of memory reading a row", op);
        }
        if ((rc = fn(org, rg_store__col_int64(stmt, 1), rg_store__col_double(stmt, 2),
                     rg_store__col_double(stmt, 3), payload)) != 0) {
            rg_store__reset(store, stmt);
            return rc;
        }
    }
    rc = step < 0 ? step : 0;
    rg_store__reset(store, stmt);
    return rc;
}

/* ---- verdicts ---- */

int rg_store_verdict_insert(int64_t *out_id, rg_store *store, const rg_store_verdict_in *verdict)
{
    /* One verdict per (rollout, stage, poll, metric). A failed poll's "error" rows give way
     * to the verdicts of its retry; anything else already there is a second verdict for
     * one look, refused. */
    static const char sql[] = "INSERT INTO verdicts (" RG_STORE__VERDICT_COLUMNS ")"
                              " VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                              " ON CONFLICT (rollout_id, tenant_id, stage, poll, metric)"
                              " DO UPDATE SET"
                              " test = excluded.test, estimate = excluded.estimate,"
                              " ci_lo = excluded.ci_lo, ci_hi = excluded.ci_hi,"
                              " z = excluded.z, boundary = excluded.boundary,"
                              " p_value = excluded.p_value, decision = excluded.decision,"
                              " reason = excluded.reason, at = excluded.at"
                              " WHERE verdicts.test = 'error' /*pg: RETURNING id*/";
    static const char op[] = "verdict insert";
    const rg_store_verdict_in *v = verdict;
    rg_store__binder b;
    int rc;

    if (v == NULL)
        return rg_error_set(RG_EINVALID, "store: %s: no verdict", op);
    if ((rc = rg_store__require(v->tenant_id, op, "tenant id")) < 0 ||
        (rc = rg_store__require(v->rollout_id, op, "rollout id")) < 0 ||
        (rc = rg_store__require(v->metric, op, "metric")) < 0 ||
        (rc = rg_store__require(v->test, op, "test")) < 0 ||
        (rc = rg_store__require(v->decision, op, "decision")) < 0 ||
        (rc = rg_store__prepare(&b, store, sql, op)) < 0)
        return rc;
    rg_store__bind_text(&b, v->rollout_id);
    rg_store__bind_text(&b, v->tenant_id);
    rg_store__bind_int64(&b, v->stage);
    rg_store__bind_int64(&b, v->poll);
    rg_store__bind_text(&b, v->metric);
    rg_store__bind_text(&b, v->test);
    rg_store__bind_double(&b, v->estimate);
    rg_store__bind_double(&b, v->ci_lo);
    rg_store__bind_double(&b, v->ci_hi);
    rg_store__bind_double(&b, v->z);
    rg_store__bind_double(&b, v->boundary);
    rg_store__bind_double(&b, v->p_value);
    rg_store__bind_text(&b, v->decision);
    rg_store__bind_text(&b, v->reason);
    rg_store__bind_int64(&b, v->at_ms ? v->at_ms : rg_time_now_ms());
    if ((rc = rg_store__binder_check(&b, store, op)) < 0 ||
        (rc = rg_store__step_done(store, b.stmt, op)) < 0) {
        if (rc == RG_ENOTFOUND)
            rg_error_set(rc, "store: %s: rollout %s not found", op, v->rollout_id);
        return rc;
    }
    if (rg_store__changes(store) == 0)
        return rg_error_set(RG_ECONFLICT,
                            "store: %s: rollout %s stage %d poll %d already has "
                            "a verdict for %s",
                            op, v->rollout_id, v->stage, v->poll, v->metric);
    if (out_id)
        *out_id = rg_store__last_id(store);
    return 0;
}

int rg_store_verdict_list(rg_store_verdicts *out, rg_store *store, const char *tenant_id,
                          const char *rollout_id, int stage)
{
    static const char sql[] = "SELECT " RG_STORE__VERDICT_COLUMNS " FROM verdicts"
                              " WHERE tenant_id = ?1 AND rollout_id = ?2"
                              " AND (?3 < 0 OR stage = ?3) ORDER BY id";
    static const char op[] = "verdict list";
    rg_store__binder b;
    rg_store__array a;
    int rc;

    if ((rc = rg_store__rollout_stmt(&b, store, sql, op, tenant_id, rollout_id)) < 0)
        return rc;
    rg_store__bind_int64(&b, stage);
    if ((rc = rg_store__select_rows(&a, &rg_store__verdict_row, store, &b, op)) < 0)
        return rc;
    RG_STORE__LIST_TAKE(out, a);
    return 0;
}
