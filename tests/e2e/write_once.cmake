# Exactly one successful write per org per apply and per restore under lost replies, resets
# after apply and 503s, counted by rollgate-sim; the platform down exits 4 (plan, run).
rg_unit_test(test_e2e_write_once ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_write_once.c)
add_dependencies(test_e2e_write_once rollgate)
set_tests_properties(test_e2e_write_once PROPERTIES LABELS "e2e" TIMEOUT 900)
