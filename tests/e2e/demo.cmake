# `rollgate demo`: both stories against rollgate-sim, checked from its --json summary.
rg_unit_test(test_demo ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_demo.c)
add_dependencies(test_demo rollgate rollgate-sim)
set_tests_properties(test_demo PROPERTIES LABELS "e2e" TIMEOUT 240)
