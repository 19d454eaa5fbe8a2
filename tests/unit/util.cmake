rg_unit_test(test_util ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_util.c)
