# The CXone driver offline: parsers, descriptors, credentials, the manifest driver.
rg_unit_test(test_cxone_offline ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cxone_offline.c)
set_tests_properties(test_cxone_offline PROPERTIES LABELS integration)
