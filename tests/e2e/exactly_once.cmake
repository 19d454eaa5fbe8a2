rg_unit_test(test_e2e_exactly_once ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_exactly_once.c)
set_tests_properties(test_e2e_exactly_once PROPERTIES LABELS "e2e" TIMEOUT 900)
