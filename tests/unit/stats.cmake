rg_unit_test(test_stats ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_stats.c)
