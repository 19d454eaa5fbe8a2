# The dashboard as an operator console in headless Chromium: actions taken through the page's
# buttons and dialog change the rollout as the API would (approve to a rollback with a
# reason), a viewer sees no actions, the timeline lists a trip with its reason, and the
# page is served under a CSP without 'unsafe-inline'. Without chromium it reports SKIPPED
# (exit 77), never PASSED.
if(TARGET rollgate_server)
    rg_unit_test(test_console ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_console.c
        ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_serve_support.c)
    target_link_libraries(test_console PRIVATE rollgate_server PkgConfig::MHD PkgConfig::CURL)
    add_dependencies(test_console rollgate rollgate-sim)
    set_tests_properties(test_console PROPERTIES LABELS "e2e;serve" TIMEOUT 300
        SKIP_RETURN_CODE 77)
endif()
