# The owner's registry of tenants' orgs, private files, and errors that quote no file.
rg_unit_test(test_registry ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_registry.c)
set_tests_properties(test_registry PROPERTIES LABELS "unit;abuse" TIMEOUT 60)
