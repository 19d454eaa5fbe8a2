# The `rollgate` binary as an operator meets it: --help, conflicts, --json errors, history.
rg_unit_test(test_cli_behaviour ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_cli_behaviour.c)
add_dependencies(test_cli_behaviour rollgate)
set_tests_properties(test_cli_behaviour PROPERTIES LABELS "e2e;cli" TIMEOUT 120)
