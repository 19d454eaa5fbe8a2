# Gating webhooks end to end: rollgate-sim as the platform and a receiver (libmicrohttpd) in
# the test process that refuses, fails and accepts (docs/gates.md).
rg_unit_test(test_e2e_gates ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_gates.c)
target_link_libraries(test_e2e_gates PRIVATE PkgConfig::MHD)
add_dependencies(test_e2e_gates rollgate rollgate-sim)
set_tests_properties(test_e2e_gates PROPERTIES LABELS "e2e" TIMEOUT 300)
