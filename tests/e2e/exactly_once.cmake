rg_unit_test(test_e2e_exactly_once ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_exactly_once.c)
set_tests_properties(test_e2e_exactly_once PROPERTIES LABELS "e2e" TIMEOUT 900)
# The same on PostgreSQL (a server of its own, tests/support/pg.c); SKIPPED without it.
add_test(NAME test_e2e_exactly_once_pg COMMAND test_e2e_exactly_once)
set_property(GLOBAL APPEND PROPERTY rg_tests_e2e test_e2e_exactly_once_pg)
set_tests_properties(test_e2e_exactly_once_pg PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900
    ENVIRONMENT "RG_SOURCE_DIR=${CMAKE_SOURCE_DIR};RG_BINARY_DIR=${CMAKE_BINARY_DIR};RG_TEST_STORE_BACKEND=postgresql;RG_TEST_NAME=test_e2e_exactly_once_pg"
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
