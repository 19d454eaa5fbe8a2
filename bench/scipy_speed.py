#!/usr/bin/env python3
"""scipy_speed.py - SciPy's side of the statistics benchmark (bench/stats_speed.c runs it).

Reads two float64 little-endian files, times scipy.stats.mannwhitneyu (asymptotic, continuity,
two-sided) and scipy.stats.ttest_ind (equal_var=False) RUNS times each, and prints
"mwu <median_ms> <min_ms> <max_ms> <p>" and "welch ..." lines. Exit 2 when SciPy is absent.
"""
import statistics
import sys
import time

try:
    import numpy
    import scipy
    import scipy.stats
except ImportError as exc:
    print(f"scipy unavailable: {exc}", file=sys.stderr)
    sys.exit(2)


def timed(fn, runs):
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times), min(times), max(times), float(result.pvalue)


def main():
    if len(sys.argv) != 4:
        print("usage: scipy_speed.py X.f64 Y.f64 RUNS", file=sys.stderr)
        return 3
    x = numpy.fromfile(sys.argv[1], dtype="<f8")
    y = numpy.fromfile(sys.argv[2], dtype="<f8")
    runs = int(sys.argv[3])
    print(f"scipy {scipy.__version__} numpy {numpy.__version__}")
    mwu = timed(lambda: scipy.stats.mannwhitneyu(x, y, use_continuity=True,
                                                  alternative="two-sided",
                                                  method="asymptotic"), runs)
    welch = timed(lambda: scipy.stats.ttest_ind(x, y, equal_var=False), runs)
    print("mwu %.3f %.3f %.3f %.17g" % mwu)
    print("welch %.3f %.3f %.3f %.17g" % welch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
