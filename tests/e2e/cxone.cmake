rg_unit_test(test_e2e_cxone ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_cxone.c)
set_tests_properties(test_e2e_cxone PROPERTIES LABELS "e2e" TIMEOUT 300)
