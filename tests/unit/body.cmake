rg_unit_test(test_body ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_body.c)
