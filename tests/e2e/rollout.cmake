rg_unit_test(test_e2e_rollout ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_rollout.c)
set_tests_properties(test_e2e_rollout PROPERTIES LABELS "e2e" TIMEOUT 600)
