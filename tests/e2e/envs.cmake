rg_unit_test(test_e2e_envs ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_envs.c)
set_tests_properties(test_e2e_envs PROPERTIES LABELS "e2e" TIMEOUT 300)
