# The CXone driver offline: parsers, descriptors, credentials, the manifest driver.
rg_unit_test(test_cxone_offline ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cxone_offline.c)
set_tests_properties(test_cxone_offline PROPERTIES LABELS integration)
if(TARGET rollgate-sim AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/support/simproc.h)
    rg_unit_test(test_cxone_sim ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cxone_sim.c)
    add_dependencies(test_cxone_sim rollgate-sim)
    set_tests_properties(test_cxone_sim PROPERTIES TIMEOUT 120 LABELS integration)
endif()
