rg_unit_test(test_review_log ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_review_log.c)
rg_unit_test(test_review_ids ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_review_ids.c)
