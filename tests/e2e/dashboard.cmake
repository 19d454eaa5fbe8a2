# The dashboard in headless Chromium (skipped with a message where chromium is absent or
# cannot run): a viewer token lists the rollout and the page draws one chart per metric.
if(TARGET rollgate_server)
    rg_unit_test(test_dashboard ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_dashboard.c
        ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_serve_support.c)
    target_link_libraries(test_dashboard PRIVATE rollgate_server PkgConfig::MHD PkgConfig::CURL)
    add_dependencies(test_dashboard rollgate rollgate-sim)
    set_tests_properties(test_dashboard PROPERTIES LABELS "e2e;serve" TIMEOUT 300)
endif()
