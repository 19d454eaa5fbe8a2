# `rollgate stats` against scipy.stats on random samples (SKIPPED without SciPy; CI requires it).
rg_unit_test(test_stats_scipy ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_stats_scipy.c)
add_dependencies(test_stats_scipy rollgate)
set_tests_properties(test_stats_scipy PROPERTIES LABELS "e2e;stats" TIMEOUT 120)
