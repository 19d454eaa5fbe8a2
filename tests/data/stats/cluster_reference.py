#!/usr/bin/env python3
"""Reference values for tests/unit/test_stats_cluster.c, computed independently of the C code
(plain Python floats, the formulas of docs/internals/stats.md "Cluster variance").

Run: /usr/bin/python3 tests/data/stats/cluster_reference.py  (prints the values the test
pins; SciPy 1.10, Debian python3-scipy, only for Student's t quantile).
Two cases: od = 0 (between-org spread: tau^2 > 0, q > 1) and od = 1 (block-to-block
overdispersion: phi > 1). Cells: integer formulas shared with the C test (cell()); 3 canary and 5 control orgs,
10 pre and 10 post 1-minute buckets, blocks of 5 buckets.
"""
import math

from scipy import stats

BLOCK = 5


def cells(arm, org, window, bucket, od):
    """(trials, events) of one cell: the same integers as the C test's cell()."""
    n = 100 + 20 * org + 5 * (bucket % 2) + 7 * arm
    rate = 8 + org + 2 * (bucket % 3) + 3 * ((org * 7 + bucket * 3 + window) % 4)
    rate += 4 * od * ((bucket // 5 + org) % 2)  # block-to-block variation: overdispersion
    if arm == 0 and window == 1:
        rate += 1 + 3 * org  # the canary's post window: uneven worsening across orgs
    if arm == 1 and window == 1:
        rate += 2 * ((org % 3) - 1)  # the control drifts a little, unevenly
    return n, (n * rate) // 100


ARMS = [(0, 3), (1, 5)]  # (arm, orgs)


def window_cells(arm, org, window, od):
    return [cells(arm, org, window, b, od) for b in range(10)]


def case(od):
    ss, df = 0.0, 0
    levels = {}
    for arm, norgs in ARMS:
        for org in range(norgs):
            for w in (0, 1):
                cs = window_cells(arm, org, w, od)
                n = sum(c[0] for c in cs)
                e = sum(c[1] for c in cs)
                p = e / n
                levels[(arm, org, w)] = (n, e)
                blocks = [cs[i:i + BLOCK] for i in range(0, len(cs), BLOCK)]
                for bl in blocks:
                    bn = sum(c[0] for c in bl)
                    be = sum(c[1] for c in bl)
                    ss += (be - p * bn) ** 2 / (bn * p * (1 - p))
                df += len(blocks) - 1
    phi = max(1.0, ss / df)
    d, u, arm_of = [], [], []
    for arm, norgs in ARMS:
        for org in range(norgs):
            est, var = [], []
            for w in (0, 1):
                n, e = levels[(arm, org, w)]
                p = e / n
                est.append(math.log(p))
                var.append(phi * (1 - p) / e)
            d.append(est[1] - est[0])
            u.append(var[0] + var[1])
            arm_of.append(arm)
    k = len(d)
    dfq = k - 2

    def arm_means(weights):
        means = {}
        for a in (0, 1):
            wsum = sum(w for w, g in zip(weights, arm_of) if g == a)
            means[a] = sum(w * x for w, x, g in zip(weights, d, arm_of) if g == a) / wsum
        return means

    w = [1 / x for x in u]
    m = arm_means(w)
    q = sum(wi * (di - m[g]) ** 2 for wi, di, g in zip(w, d, arm_of))
    c = 0.0
    for a in (0, 1):
        ws = [wi for wi, g in zip(w, arm_of) if g == a]
        c += sum(ws) - sum(x * x for x in ws) / sum(ws)
    tau2 = max(0.0, (q - dfq) / c)
    ws = [1 / (x + tau2) for x in u]
    m = arm_means(ws)
    theta = m[0] - m[1]
    v0 = sum(1 / sum(wi for wi, g in zip(ws, arm_of) if g == a) for a in (0, 1))
    hk = sum(wi * (di - m[g]) ** 2 for wi, di, g in zip(ws, d, arm_of)) / dfq
    v = max(1.0, hk) * v0
    # Kish's effective number of orgs per arm, (sum w)^2 / sum w^2, for the t reference
    eff = 0.0
    for a in (0, 1):
        wa = [wi for wi, g in zip(ws, arm_of) if g == a]
        eff += sum(wa) ** 2 / sum(x * x for x in wa)
    df_t = min(dfq, max(2.0, eff - 2))
    z = theta / math.sqrt(v)
    print(f"case od={od}")
    print(f"phi      {phi:.17g}")
    print(f"tau2     {tau2:.17g}")
    print(f"q_hk     {hk:.17g}")
    print(f"theta    {theta:.17g}")
    print(f"v        {v:.17g}")
    print(f"z        {z:.17g}")
    print(f"df       {df_t:.17g}")
    print(f"t_bound  {stats.t.ppf(1 - 0.025, df_t):.17g}  (sequential none, alpha/2)")
    print(f"p        {stats.t.sf(z, df_t):.17g}")


if __name__ == "__main__":
    case(0)
    case(1)
