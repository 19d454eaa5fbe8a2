# The fuzz targets as plain programs: every file of tests/fuzz/corpus/<target> and
# tests/fuzz/regressions/<target> runs through the target's LLVMFuzzerTestOneInput and
# its property checks. Inputs under regressions/open/<target> reproduce bugs not fixed
# yet: that test passes while each still crashes and fails once one no longer does.
set(rg_fuzz_dir ${CMAKE_SOURCE_DIR}/tests/fuzz)
foreach(t manifest policy analytics strategy duration cxone)
    add_executable(test_fuzz_replay_${t} ${rg_fuzz_dir}/fuzz_${t}.c ${rg_fuzz_dir}/replay.c)
    target_include_directories(test_fuzz_replay_${t} PRIVATE ${CMAKE_SOURCE_DIR} ${rg_fuzz_dir})
    target_link_libraries(test_fuzz_replay_${t} PRIVATE rollgate_lib rg_options)
    add_test(NAME test_fuzz_replay_${t} COMMAND test_fuzz_replay_${t}
        ${rg_fuzz_dir}/corpus/${t} ${rg_fuzz_dir}/regressions/${t})
    set_tests_properties(test_fuzz_replay_${t} PROPERTIES LABELS "fuzz" TIMEOUT 60)
    set_property(GLOBAL APPEND PROPERTY rg_tests_unit test_fuzz_replay_${t})
    file(GLOB rg_fuzz_open CONFIGURE_DEPENDS ${rg_fuzz_dir}/regressions/open/${t}/*)
    if(rg_fuzz_open)
        add_test(NAME test_fuzz_open_${t} COMMAND test_fuzz_replay_${t} --expect-crash
            ${rg_fuzz_dir}/regressions/open/${t})
        set_tests_properties(test_fuzz_open_${t} PROPERTIES LABELS "fuzz;open-bug" TIMEOUT 60
            ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
    endif()
endforeach()
