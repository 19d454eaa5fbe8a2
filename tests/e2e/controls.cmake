rg_unit_test(test_e2e_controls ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_controls.c)
set_tests_properties(test_e2e_controls PROPERTIES LABELS "e2e" TIMEOUT 300)
rg_unit_test(test_e2e_controls2 ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_controls2.c)
set_tests_properties(test_e2e_controls2 PROPERTIES LABELS "e2e" TIMEOUT 300)
