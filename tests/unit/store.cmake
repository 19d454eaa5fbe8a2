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
rg_unit_test(test_store_tables
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_tables.c
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_fixture.c)
