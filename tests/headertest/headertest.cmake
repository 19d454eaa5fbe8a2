# test_headers: each public header compiled alone (tests/headertest/check-headers.sh).
set(rg_header_deps)
foreach(dir ${JANSSON_INCLUDE_DIRS})
    list(APPEND rg_header_deps -I${dir})
endforeach()
add_test(NAME test_headers COMMAND ${CMAKE_SOURCE_DIR}/tests/headertest/check-headers.sh
    ${CMAKE_C_COMPILER} ${CMAKE_SOURCE_DIR} ${rg_header_deps})
set_property(GLOBAL APPEND PROPERTY rg_tests_unit test_headers)
