# Several `rollgate serve` hosts on one database (issue 21): three servers, killed and paused
# at random, drive 30 rollouts; judged from rollgate-sim's request log and state.
if(TARGET rollgate_server)
    rg_unit_test(test_e2e_hosts ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_hosts.c
        ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_serve_support.c)
    target_link_libraries(test_e2e_hosts PRIVATE rollgate_server PkgConfig::MHD PkgConfig::CURL)
    add_dependencies(test_e2e_hosts rollgate rollgate-sim)
    set_tests_properties(test_e2e_hosts PROPERTIES LABELS "e2e" TIMEOUT 600)
endif()
