rg_unit_test(test_review_secrets ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_review_secrets.c)
rg_unit_test(test_review_numbers ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_review_numbers.c)
