# Hostile inputs against the loaders and the store: size, count and depth limits, NUL bytes,
# invalid UTF-8, SQL metacharacters in every name and id, path traversal in policy names.
rg_unit_test(test_abuse ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_abuse.c)
set_tests_properties(test_abuse PROPERTIES LABELS "unit;abuse" TIMEOUT 60)
