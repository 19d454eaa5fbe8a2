# Data-table rollouts against rollgate-sim, in two programs that ctest -j runs side by side:
# the apply, merge, claim and plan cases; the trips, rollbacks, kills and created rows.
rg_unit_test(test_e2e_datatable ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_datatable.c
    ${CMAKE_CURRENT_SOURCE_DIR}/e2e/datatable_fixture.c)
set_tests_properties(test_e2e_datatable PROPERTIES LABELS "e2e" TIMEOUT 600)
rg_unit_test(test_e2e_datatable_restore ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_datatable_restore.c
    ${CMAKE_CURRENT_SOURCE_DIR}/e2e/datatable_fixture.c)
set_tests_properties(test_e2e_datatable_restore PROPERTIES LABELS "e2e" TIMEOUT 600)
