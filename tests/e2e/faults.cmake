rg_unit_test(test_e2e_faults ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_faults.c)
set_tests_properties(test_e2e_faults PROPERTIES LABELS "e2e" TIMEOUT 900)
