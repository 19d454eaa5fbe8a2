rg_unit_test(test_e2e_versioned ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_versioned.c)
set_tests_properties(test_e2e_versioned PROPERTIES LABELS "e2e" TIMEOUT 300)
