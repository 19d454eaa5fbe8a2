# Integration tests of rollgate-sim: real HTTP over loopback through tests/support/simproc.
foreach(t test_sim_api test_sim_control test_sim_telemetry test_sim_scale test_sim_datatable
        test_sim_ivr)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/integration/${t}.c)
        rg_unit_test(${t} ${CMAKE_CURRENT_SOURCE_DIR}/integration/${t}.c)
        add_dependencies(${t} rollgate-sim)
        set_tests_properties(${t} PROPERTIES LABELS "integration;sim" TIMEOUT 180)
    endif()
endforeach()
