rg_unit_test(test_stats ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_stats.c)
rg_unit_test(test_stats_edge ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_stats_edge.c)
rg_unit_test(test_stats_verdict ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_stats_verdict.c)
rg_unit_test(test_stats_mc ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_stats_mc.c)
