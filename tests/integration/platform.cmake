# Platform client tests: offline checks, and integration against rollgate-sim.
rg_unit_test(test_platform_offline ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_platform_offline.c)
if(TARGET rollgate-sim AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/support/simproc.h)
    rg_unit_test(test_platform ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_platform.c
        ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_platform_write.c
        ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_platform_analytics.c)
    add_dependencies(test_platform rollgate-sim)
    set_tests_properties(test_platform PROPERTIES TIMEOUT 300 LABELS integration)
endif()
if(TARGET rollgate-sim AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/support/simproc.h)
    rg_unit_test(test_platform_datatable
        ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_platform_datatable.c)
    add_dependencies(test_platform_datatable rollgate-sim)
    set_tests_properties(test_platform_datatable PROPERTIES TIMEOUT 120 LABELS integration)
endif()
