rg_unit_test(test_e2e_ops ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_ops.c)
set_tests_properties(test_e2e_ops PROPERTIES LABELS "e2e" TIMEOUT 600)
