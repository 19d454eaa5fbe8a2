# Integration tests of `rollgate serve`: the real binary over loopback HTTP, with
# rollgate-sim as the platform (tests/support/simproc) and a webhook receiver in the test;
# test_serve_tenants plays two hostile tenants against one server (issue 14).
foreach(t test_serve_api test_serve_flow test_serve_tenants test_serve_envs)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/integration/${t}.c AND TARGET rollgate_server)
        # A test split by concern: ${t}.c holds the fixture and main, ${t}_*.c the rest.
        file(GLOB parts CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/integration/${t}_*.c)
        rg_unit_test(${t} ${CMAKE_CURRENT_SOURCE_DIR}/integration/${t}.c ${parts}
            ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_serve_support.c)
        target_link_libraries(${t} PRIVATE rollgate_server PkgConfig::MHD PkgConfig::CURL)
        add_dependencies(${t} rollgate rollgate-sim)
        set_tests_properties(${t} PROPERTIES LABELS "integration;serve" TIMEOUT 300)
    endif()
endforeach()
