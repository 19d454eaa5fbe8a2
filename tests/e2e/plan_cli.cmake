# `rollgate plan --offline` end to end: the real binary, its exit codes and its JSON.
rg_unit_test(test_plan_cli ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_plan_cli.c)
add_dependencies(test_plan_cli rollgate)
