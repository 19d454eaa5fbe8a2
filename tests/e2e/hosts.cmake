# Several `rollgate serve` hosts on one database (issue 21): three servers, killed and paused
# at random, drive 30 rollouts; judged from rollgate-sim's request log and state.
if(TARGET rollgate_server)
    rg_unit_test(test_e2e_hosts ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_hosts.c
        ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_serve_support.c)
    target_link_libraries(test_e2e_hosts PRIVATE rollgate_server PkgConfig::MHD PkgConfig::CURL)
    add_dependencies(test_e2e_hosts rollgate rollgate-sim)
    set_tests_properties(test_e2e_hosts PROPERTIES LABELS "e2e" TIMEOUT 600)
    # A host paused past its lease mid-write does not write after the takeover.
    rg_unit_test(test_e2e_hosts_paused ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_hosts_paused.c)
    target_link_libraries(test_e2e_hosts_paused PRIVATE PkgConfig::CURL)
    add_dependencies(test_e2e_hosts_paused rollgate rollgate-sim)
    set_tests_properties(test_e2e_hosts_paused PROPERTIES LABELS "e2e" TIMEOUT 600)
endif()
# The same kill test with the three hosts on one PostgreSQL database (a server of its own,
# tests/support/pg.c); SKIPPED without the postgresql package (CI requires it: .ci/run).
if(TARGET test_e2e_hosts)
    add_test(NAME test_e2e_hosts_pg COMMAND test_e2e_hosts)
    set_property(GLOBAL APPEND PROPERTY rg_tests_e2e test_e2e_hosts_pg)
    set_tests_properties(test_e2e_hosts_pg PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
        ENVIRONMENT "RG_SOURCE_DIR=${CMAKE_SOURCE_DIR};RG_BINARY_DIR=${CMAKE_BINARY_DIR};RG_TEST_STORE_BACKEND=postgresql;RG_TEST_NAME=test_e2e_hosts_pg"
        WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
endif()
