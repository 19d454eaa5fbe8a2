rg_unit_test(test_e2e_plan ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_plan.c)
set_tests_properties(test_e2e_plan PROPERTIES LABELS "e2e")
