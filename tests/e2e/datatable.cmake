rg_unit_test(test_e2e_datatable ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_datatable.c)
set_tests_properties(test_e2e_datatable PROPERTIES LABELS "e2e" TIMEOUT 600)
