# Platform client tests: offline checks, and integration against rollgate-sim.
rg_unit_test(test_platform_offline ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_platform_offline.c)
if(TARGET rollgate-sim AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/support/simproc.h)
    rg_unit_test(test_platform ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_platform.c
        ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_platform_write.c
        ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_platform_queries.c)
    add_dependencies(test_platform rollgate-sim)
    set_tests_properties(test_platform PROPERTIES TIMEOUT 300 LABELS integration)
endif()
if(TARGET rollgate-sim AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/support/simproc.h)
    rg_unit_test(test_platform_datatable
        ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_platform_datatable.c)
    add_dependencies(test_platform_datatable rollgate-sim)
    set_tests_properties(test_platform_datatable PROPERTIES TIMEOUT 120 LABELS integration)
endif()
if(TARGET rollgate-sim AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/support/simproc.h)
    rg_unit_test(test_platform_tokens
        ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_platform_tokens.c)
    add_dependencies(test_platform_tokens rollgate-sim)
    set_tests_properties(test_platform_tokens PROPERTIES TIMEOUT 120 LABELS integration)
endif()
if(TARGET rollgate-sim AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/support/simproc.h)
    rg_unit_test(test_platform_versioned
        ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_platform_versioned.c)
    add_dependencies(test_platform_versioned rollgate-sim)
    set_tests_properties(test_platform_versioned PROPERTIES TIMEOUT 120 LABELS integration)
endif()
if(TARGET rollgate-sim AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/support/simproc.h)
    rg_unit_test(test_platform_analytics
        ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_platform_analytics.c)
    add_dependencies(test_platform_analytics rollgate-sim)
    set_tests_properties(test_platform_analytics PROPERTIES TIMEOUT 120 LABELS integration)
endif()
