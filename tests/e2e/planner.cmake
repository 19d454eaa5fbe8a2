# Online `rollgate plan`: the planner's numbers from rollgate-sim's analytics against closed form.
rg_unit_test(test_e2e_planner ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_planner.c)
set_tests_properties(test_e2e_planner PROPERTIES LABELS "e2e")
add_dependencies(test_e2e_planner rollgate rollgate-sim)
