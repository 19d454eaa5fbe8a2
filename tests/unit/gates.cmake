# The manifest's gates (parsing, stored JSON) and the outgoing HTTP layer (platform/http.c)
# against a loopback receiver in the test.
rg_unit_test(test_manifest_gates ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_manifest_gates.c)
set_tests_properties(test_manifest_gates PROPERTIES LABELS "unit")
rg_unit_test(test_http ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_http.c)
target_link_libraries(test_http PRIVATE PkgConfig::MHD PkgConfig::CRYPTO)
set_tests_properties(test_http PROPERTIES LABELS "unit")
