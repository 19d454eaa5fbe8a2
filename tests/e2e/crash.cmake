rg_unit_test(test_e2e_crash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_crash.c)
set_tests_properties(test_e2e_crash PROPERTIES LABELS "e2e" TIMEOUT 900)
