#!/usr/bin/env python3
"""Reference values for tests/unit/test_stats_counts.c, computed independently of the C code
(SciPy's betaln and brentq): the counts test of docs/internals/stats.md "sequential: counts".

Run: /usr/bin/python3 tests/data/stats/counts_reference.py > tests/data/stats/counts_reference.out

  a = c rho0, b = c (1 - rho0)
  ln M(rho) = betaln(a + x, b + y) - betaln(a, b) - x ln rho - y ln(1 - rho)
  E = M(rho0), p = min(1, 1/E)
  confidence sequence: the two roots of ln M(rho) = ln(1/alpha) around rho = x/(x+y) (brentq
  on the logit), reported as logit(rho) - logit(rho0)
  effect = ln((x + 1/2) / (y + 1/2)) - logit(rho0)
"""
import json
import math

from scipy.optimize import brentq
from scipy.special import betaln


def logit(r):
    return math.log(r) - math.log1p(-r)


def case(x, y, rho0, c, alpha):
    a, b = c * rho0, c * (1 - rho0)

    def lm(l):
        r = 1 / (1 + math.exp(-l))
        return betaln(a + x, b + y) - betaln(a, b) - x * math.log(r) - y * math.log1p(-r)

    level = math.log(1 / alpha)
    lhat = math.log(x) - math.log(y)
    lo = brentq(lambda l: lm(l) - level, lhat - 30, lhat, xtol=1e-14)
    hi = brentq(lambda l: lm(l) - level, lhat, lhat + 30, xtol=1e-14)
    log_e = lm(logit(rho0))
    return {"x": x, "y": y, "rho0": rho0, "concentration": c, "alpha": alpha, "log_e": log_e,
            "p_value": min(1.0, math.exp(-log_e)),
            "effect": math.log((x + 0.5) / (y + 0.5)) - logit(rho0),
            "ci_lo": lo - logit(rho0), "ci_hi": hi - logit(rho0)}


CASES = [
    case(120, 480, 0.2, 300.0, 0.05 / 6),
    case(160, 480, 0.2, 300.0, 0.05 / 6),
    case(30, 25, 0.5, 10.0, 0.05),
    case(1000, 1100, 0.45, 50.0, 0.01),
    case(3, 40, 0.1, 900.0, 0.05),
]

if __name__ == "__main__":
    import scipy
    print(json.dumps({"source": "tests/data/stats/counts_reference.py (SciPy %s betaln, brentq)"
                      % scipy.__version__, "cases": CASES}, indent=1))
