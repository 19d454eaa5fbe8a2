rg_unit_test(test_manifest ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_manifest.c)
rg_unit_test(test_manifest_resolve ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_manifest_resolve.c)
rg_unit_test(test_manifest_env ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_manifest_env.c)
rg_unit_test(test_manifest_sized ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_manifest_sized.c)
