# Hostile HTTP against `rollgate serve` (issue 9's abuse list for the API).
if(TARGET rollgate_server)
    rg_unit_test(test_serve_abuse ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_serve_abuse.c
        ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_serve_support.c)
    target_link_libraries(test_serve_abuse PRIVATE rollgate_server PkgConfig::MHD PkgConfig::CURL)
    add_dependencies(test_serve_abuse rollgate rollgate-sim)
    set_tests_properties(test_serve_abuse PROPERTIES LABELS "integration;serve;abuse" TIMEOUT 120)
endif()
