#!/usr/bin/env python3
"""Reference values for tests/unit/test_stats_planner.c, computed independently of the C code
(plain Python, statistics.NormalDist of the standard library): the planner of
docs/internals/stats.md "Planner" in closed form where it has one.

Run: python3 tests/data/stats/planner_reference.py > tests/data/stats/planner_reference.out

Closed form (sequential: none, variance: pooled; c = z_(1 - alpha / n_metrics)):
  sigma2_unit = (1 - p) / p (log scale) or p (1 - p) for a proportion; (sd / mean)^2 or sd^2
  u_i = sigma2_unit / (r_i pre) + sigma2_unit / (r_i post),  post = K poll - settle
  V   = sum over arms of 1 / sum_i (1 / u_i),  sd = sqrt(V),  half-width = c sd (display scale)
With one look (K = 1) each metric's estimate is N(theta, V) and independent of the others:
  fail  iff  est >= max(c sd, tol) = thr       -> P(trip | theta) = Q((thr - theta) / sd)
  pass  iff  est + c sd < tol                  -> P(pass | 0)     = Phi((tol - c sd) / sd)
  a stage (breaker 1 or critical): P(promote) = prod P(pass), P(trip) = 1 - prod (1 - P(fail | 0))
  P(trip | metric j at 1.5 tol) = 1 - (1 - Q((thr_j - 1.5 tol_j) / sd_j)) prod_(i != j) (1 - P(fail_i | 0))
  (the stage trips on any metric); MDE_j = thr_j + z_0.8 sd_j (the metric alone at power 0.8;
  with several metrics the C code's MDE is where the stage trips with 0.8, a little lower).
Display: relative metrics e^x - 1, others as they are.
"""
import json
import math
from statistics import NormalDist

N = NormalDist()


def unit_var(m):
    if m["kind"] == "proportion":
        p = m["level"]
        return (1 - p) / p if m["log"] else p * (1 - p)
    s = m["unit_sd"] / m["level"] if m["log"] else m["unit_sd"]
    return s * s


def variance(m, d):
    post = d["K"] * d["poll"] - d["settle"]
    v = 0.0
    for rates in (m["canary"], m["control"]):
        if not rates:
            continue
        w = sum(1 / (unit_var(m) / (r * d["pre"]) + unit_var(m) / (r * post)) for r in rates)
        v += 1 / w
    return v


def display(m, x):
    return math.expm1(x) if m["log"] else x


def case(name, metrics, d):
    c = N.inv_cdf(1 - d["alpha"] / d["n_metrics"])
    out = {"name": name, "design": d, "metrics": []}
    p_promote, p_no_trip = 1.0, 1.0
    for m in metrics:
        sd = math.sqrt(variance(m, d))
        tol = m["tolerance"]
        thr = max(c * sd, tol)
        r = {"spec": m, "sd": sd, "half_width": display(m, c * sd),
             "cannot_decide": not (c * sd < tol)}
        if d["K"] == 1:
            r["p_pass"] = N.cdf((tol - c * sd) / sd)
            r["p_trip_1_5"] = 1 - N.cdf((thr - 1.5 * tol) / sd)
            r["mde_theta"] = thr + N.inv_cdf(0.8) * sd
            r["mde"] = display(m, r["mde_theta"])
            p_promote *= r["p_pass"]
            p_no_trip *= N.cdf(thr / sd)
        r["p_fail_0"] = 1 - N.cdf(thr / sd)
        out["metrics"].append(r)
    if d["K"] == 1:
        for j, r in enumerate(out["metrics"]):
            others = 1.0
            for i, o in enumerate(out["metrics"]):
                if i != j:
                    others *= 1 - o["p_fail_0"]
            r["p_trip_1_5"] = 1 - (1 - r["p_trip_1_5"]) * others
            r["mde_alone"] = len(out["metrics"]) == 1
        out["p_promote"] = p_promote
        out["p_trip"] = 1 - p_no_trip
    return out


def design(K=1, poll=31.0, pre=30.0, settle=1.0, alpha=0.05, n_metrics=1):
    return {"K": K, "poll": poll, "pre": pre, "settle": settle, "alpha": alpha,
            "n_metrics": n_metrics}


ABANDON = {"kind": "proportion", "log": True, "tolerance": math.log1p(0.15), "level": 0.08,
           "unit_sd": 0, "canary": [40, 90], "control": [60, 30, 120]}
ABANDON_PP = {"kind": "proportion", "log": False, "tolerance": 0.02, "level": 0.1,
              "unit_sd": 0, "canary": [25, 35], "control": [100]}
ASA_S = {"kind": "mean", "log": False, "tolerance": 1.0, "level": 20.0,
         "unit_sd": 20.0 * math.sqrt(math.expm1(0.81)), "canary": [30], "control": [30, 50]}
ASA_REL = {"kind": "mean", "log": True, "tolerance": math.log1p(0.05), "level": 20.0,
           "unit_sd": 21.4, "canary": [12, 8], "control": []}

CASES = [
    case("abandonment relative, 2 canary + 3 control", [ABANDON], design()),
    case("abandonment in points", [ABANDON_PP], design(alpha=0.1)),
    case("speed of answer in seconds", [ASA_S], design(poll=20, pre=15, settle=2)),
    case("speed of answer relative, no control", [ASA_REL], design()),
    case("two metrics, one stage", [ABANDON, ASA_S], design(n_metrics=2)),
    case("six looks, half-width at the end", [ABANDON], design(K=6, poll=5)),
]

if __name__ == "__main__":
    print(json.dumps({"source": "tests/data/stats/planner_reference.py (Python "
                      "statistics.NormalDist, closed form in its docstring)",
                      "cases": CASES}, indent=1))
