# `rollgate stats` driven as a process: JSON on stdin, JSON on stdout, exit codes.
rg_unit_test(test_stats_cli ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_stats_cli.c)
add_dependencies(test_stats_cli rollgate)
