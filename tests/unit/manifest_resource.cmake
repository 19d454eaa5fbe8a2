rg_unit_test(test_manifest_resource ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_manifest_resource.c)
