# Online `rollgate plan`: the planner's numbers from rollgate-sim's analytics against closed form.
rg_unit_test(test_e2e_planner ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_planner.c)
set_tests_properties(test_e2e_planner PROPERTIES LABELS "e2e")
add_dependencies(test_e2e_planner rollgate rollgate-sim)
# Traffic-sized stages: stage 1 sized from the sim's analytics at start, kept across a restart.
rg_unit_test(test_e2e_sized ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_e2e_sized.c)
set_tests_properties(test_e2e_sized PROPERTIES LABELS "e2e")
add_dependencies(test_e2e_sized rollgate rollgate-sim)
