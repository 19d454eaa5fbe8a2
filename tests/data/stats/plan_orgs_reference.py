#!/usr/bin/env python3
"""Reference values for tests/unit/test_stats_plan_orgs.c, computed independently of the C
code (NumPy and SciPy's Student's t): the planner of docs/internals/stats.md "Planner" with
variance: cluster and sequential: none, and the one-look closed form of fail_rule: interval.

Run: python3 tests/data/stats/plan_orgs_reference.py > tests/data/stats/plan_orgs_reference.out

Cluster model (Monte Carlo, 400,000 paths, vectorised over paths):
  u_ik = s2 / (r_i pre) + s2 / (r_i post_k), post_k = k poll - settle, s2 = phi (1 - p) / p
  v_ik = u_ik + tau2_k (tau2 made non-increasing in k); d_i(K) ~ N(theta_i, v_iK),
  d_i(k) = d_i(k + 1) + N(0, v_ik - v_i(k+1))   (theta_i = theta for canary orgs, else 0)
  at each look, as the verdict (cluster.c): w = 1/u, DerSimonian-Laird tau2^ pooled over the
  two arms (df0 = n - 2), w* = 1/(u + tau2^), theta^ = mean*_canary - mean*_control,
  V = max(1, q) sum_a 1/sum w*, q = sum w* (d - mean*_a)^2 / df0,
  df = min(df0, max(2, sum_a (sum w*)^2 / sum w*^2 - 2)), b = t_df.isf(alpha / M)
  fail: theta^/sqrt(V) >= b and (interval) theta^ + b sqrt(V) >= tol, or (estimate) theta^ >= tol
  pass: theta^ + b sqrt(V) < tol; the first fail trips (critical), else the first pass promotes.
One look, pooled, sequential none, fail_rule interval (closed form; c = z_(1 - alpha)):
  fail iff est >= max(c sd, tol - c sd) = thr -> P(trip | theta) = Q((thr - theta) / sd)
  pass iff est + c sd < tol                  -> P(promote) = Phi((tol - c sd) / sd)
"""
import json
import math

import numpy as np
from scipy import stats

PATHS = 400000


def cluster_case(name, canary, control, level, tol, tau2, K, poll, pre, settle, alpha, rule,
                 phi=1.0):
    rates = np.array(canary + control, dtype=float)
    nc, n = len(canary), len(canary) + len(control)
    s2 = phi * (1 - level) / level
    post = np.array([max((k + 1) * poll - settle, 1e-9) for k in range(K)])
    u = s2 / (rates[None, :] * pre) + s2 / (rates[None, :] * post[:, None])  # (K, n)
    t2 = list(tau2)
    for k in range(K - 2, -1, -1):
        t2[k] = max(t2[k], t2[k + 1])
    v = u + np.array(t2)[:, None]
    df0 = n - 2
    arm = np.array([0] * nc + [1] * (n - nc))
    out = {"name": name, "canary": canary, "control": control, "level": level, "tolerance": tol,
           "tau2": tau2, "K": K, "poll": poll, "pre": pre, "settle": settle, "alpha": alpha,
           "fail_rule": rule, "dispersion": phi}
    for label, theta in (("healthy", 0.0), ("at_tolerance", tol)):
        rng = np.random.default_rng(7)
        d = np.empty((PATHS, K, n))
        x = np.where(arm == 0, theta, 0.0)[None, :].repeat(PATHS, 0)
        for k in range(K - 1, -1, -1):
            nxt = v[k + 1] if k + 1 < K else 0.0
            x = x + rng.standard_normal((PATHS, n)) * np.sqrt(v[k] - nxt)
            d[:, k, :] = x
        state = np.zeros(PATHS, dtype=int)  # 0 soaking, 1 trip, 2 promote
        for k in range(K):
            dk, uk = d[:, k, :], u[k]
            w = 1 / uk
            means, c = [], 0.0
            for a in (0, 1):
                m = arm == a
                means.append((dk[:, m] * w[m]).sum(1) / w[m].sum())
                c += w[m].sum() - (w[m] ** 2).sum() / w[m].sum()
            mean = np.where(arm[None, :] == 0, means[0][:, None], means[1][:, None])
            Q = ((dk - mean) ** 2 * w).sum(1)
            tau = np.where(Q > df0, (Q - df0) / c, 0.0)
            ws = 1 / (uk[None, :] + tau[:, None])
            ms, v0, eff = [], 0.0, 0.0
            for a in (0, 1):
                m = arm == a
                sw = ws[:, m].sum(1)
                ms.append((dk[:, m] * ws[:, m]).sum(1) / sw)
                v0 = v0 + 1 / sw
                eff = eff + sw ** 2 / (ws[:, m] ** 2).sum(1)
            est = ms[0] - ms[1]
            mean = np.where(arm[None, :] == 0, ms[0][:, None], ms[1][:, None])
            q = ((dk - mean) ** 2 * ws).sum(1) / df0
            V = np.maximum(1, q) * v0
            df = np.minimum(df0, np.maximum(2, eff - 2))
            b = stats.t.isf(alpha, df)
            sd = np.sqrt(V)
            upper = est + b * sd
            fail = (est / sd >= b) & ((upper >= tol) if rule == "interval" else (est >= tol))
            pas = upper < tol
            soak = state == 0
            state[soak & fail] = 1
            state[soak & ~fail & pas] = 2
        out[label] = {"p_trip": float((state == 1).mean()), "p_promote": float((state == 2).mean())}
    return out


def interval_case(name, sd, tol, alpha):
    c = stats.norm.isf(alpha)
    thr = max(c * sd, tol - c * sd)
    return {"name": name, "sd": sd, "tolerance": tol, "alpha": alpha,
            "p_promote": float(stats.norm.cdf((tol - c * sd) / sd)),
            "p_trip_0": float(stats.norm.sf(thr / sd)),
            "p_trip_1_0": float(stats.norm.sf((thr - tol) / sd)),
            "p_trip_1_5": float(stats.norm.sf((thr - 1.5 * tol) / sd))}


TOL = math.log1p(0.15)
CLUSTER = [
    cluster_case("4 + 16 orgs, one look, no tau2", [120] * 4, [120] * 16, 0.08, TOL, [0.0],
                 1, 60, 30, 1, 0.05 / 6, "interval"),
    cluster_case("4 + 16 orgs, one look, tau2 0.004", [60, 90, 150, 240], [120] * 16, 0.08, TOL,
                 [0.004], 1, 60, 30, 1, 0.05 / 6, "interval"),
    cluster_case("3 + 5 orgs, 3 looks, tau2 falling, estimate rule", [200, 300, 400],
                 [250] * 5, 0.08, TOL, [0.004, 0.003, 0.0025], 3, 20, 30, 1, 0.01, "estimate",
                 1.3),
    cluster_case("6 + 12 orgs, 4 looks, tau2 rising (held)", [150] * 6, [150] * 12, 0.08, TOL,
                 [0.001, 0.0015, 0.002, 0.002], 4, 15, 30, 1, 0.01, "interval"),
]
INTERVAL = [
    interval_case("one look, interval rule, sd 0.05", 0.05, TOL, 0.05),
    interval_case("one look, interval rule, sd 0.02 (tol - c sd above c sd)", 0.02, TOL, 0.05),
]

if __name__ == "__main__":
    print(json.dumps({"source": "tests/data/stats/plan_orgs_reference.py (NumPy %s, SciPy %s; "
                      "model in its docstring)" % (np.__version__, __import__("scipy").__version__),
                      "cluster": CLUSTER, "interval": INTERVAL}, indent=1))
