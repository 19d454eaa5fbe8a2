# The README's quickstart block, run as written against rollgate-sim on its fixed port.
rg_unit_test(test_quickstart ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_quickstart.c)
add_dependencies(test_quickstart rollgate rollgate-sim)
set_tests_properties(test_quickstart PROPERTIES LABELS "e2e" TIMEOUT 180)
