# store/ unit tests: each runs against real SQLite files in a fresh temporary directory.
rg_unit_test(test_store
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store.c
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_fixture.c)
rg_unit_test(test_store_rows
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_rows.c
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_fixture.c)
rg_unit_test(test_store_isolation
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_isolation.c
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_fixture.c)
rg_unit_test(test_store_sums
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_sums.c
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_fixture.c)
rg_unit_test(test_store_driver
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_driver.c
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_fixture.c)
rg_unit_test(test_store_tables
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_tables.c
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_fixture.c)
rg_unit_test(test_store_census
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_census.c
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_fixture.c)

# The same programs on PostgreSQL: a server of their own (tests/support/pg.c), one fresh
# database per test; SKIPPED without the postgresql package (CI requires them: .ci/run).
function(rg_store_pg_variant name)
    add_test(NAME ${name}_pg COMMAND ${name})
    set_property(GLOBAL APPEND PROPERTY rg_tests_unit ${name}_pg)
    set_tests_properties(${name}_pg PROPERTIES SKIP_RETURN_CODE 77
        ENVIRONMENT "RG_SOURCE_DIR=${CMAKE_SOURCE_DIR};RG_BINARY_DIR=${CMAKE_BINARY_DIR};RG_TEST_STORE_BACKEND=postgresql;RG_TEST_NAME=${name}_pg"
        WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
endfunction()
foreach(t test_store test_store_rows test_store_isolation test_store_sums test_store_tables
        test_store_driver test_store_census)
    rg_store_pg_variant(${t})
endforeach()
