#!/usr/bin/env python3
"""Reference boundaries for tests/unit/test_stats_spending.c, computed independently of the C
code: the one-sided Lan-DeMets boundary c_k solves
    P(Z_1 < c_1, ..., Z_{k-1} < c_{k-1}) - P(Z_1 < c_1, ..., Z_k < c_k) = alpha(t_k) - alpha(t_{k-1})
with corr(Z_i, Z_j) = sqrt(t_i / t_j), each orthant probability from SciPy's multivariate normal
CDF (Genz's quasi-Monte Carlo integration, absolute error 1e-10) and c_k from Brent's root finder.
The C code integrates the Brownian motion's sub-density on a grid instead.

Run: /usr/bin/python3 tests/data/stats/spending_reference.py > tests/data/stats/spending_reference.out
(Debian's python3-scipy; SciPy 1.10.1).
"""
import math

import numpy as np
from scipy import optimize, stats

ALPHA = 0.025

SPENDING = {
    "obrien-fleming": lambda a, t: 2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - a / 2) / math.sqrt(t)),
    "quadratic": lambda a, t: a * t * t,
    "pocock": lambda a, t: a * math.log(1 + (math.e - 1) * t),
}

DESIGNS = {
    "K4": [0.25, 0.5, 0.75, 1.0],
    "K6": [i / 6 for i in range(1, 7)],
    "observed6": [0.24, 0.47, 0.65, 0.79, 0.90, 1.0],
}


def below(c, t):
    """P(Z_1 < c_1, ..., Z_k < c_k) under H0."""
    k = len(c)
    if k == 1:
        return stats.norm.cdf(c[0])
    cov = np.array([[math.sqrt(min(t[i], t[j]) / max(t[i], t[j])) for j in range(k)] for i in range(k)])
    np.random.seed(17)  # Genz's lattice is randomised: the same draws every time
    return stats.multivariate_normal.cdf(np.array(c), mean=np.zeros(k), cov=cov,
                                         maxpts=2000000 * k, abseps=1e-10, releps=1e-10)


def boundaries(name, t):
    f = SPENDING[name]
    c, spent, prev_below = [], 0.0, 1.0
    for k in range(len(t)):
        now = f(ALPHA, t[k])
        target = now - spent
        g = lambda x: prev_below - below(c + [x], t[: k + 1]) - target
        ck = optimize.brentq(g, 0.5, 8.0, xtol=1e-9)
        c.append(ck)
        prev_below = below(c, t[: k + 1])
        spent = now
    return c


for name in SPENDING:
    for design, t in DESIGNS.items():
        print(name, design, " ".join("%.6f" % x for x in boundaries(name, t)))
