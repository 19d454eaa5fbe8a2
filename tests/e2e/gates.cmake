# Gating webhooks end to end: rollgate-sim as the platform and a receiver (libmicrohttpd) in
# the test process that refuses, fails and accepts (docs/gates.md). Two programs that ctest -j
# runs side by side: the answers, and the kills, post-rollback and plan.
foreach(t test_e2e_gates test_e2e_gates_recovery)
    rg_unit_test(${t} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/${t}.c
        ${CMAKE_CURRENT_SOURCE_DIR}/e2e/gates_fixture.c)
    target_link_libraries(${t} PRIVATE PkgConfig::MHD)
    add_dependencies(${t} rollgate rollgate-sim)
    set_tests_properties(${t} PROPERTIES LABELS "e2e" TIMEOUT 300)
endforeach()
