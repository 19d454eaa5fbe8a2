# The layer graph (cmake/layers.cmake): test_layers checks every library's and executable's
# undefined symbols against it; test_layers_catches hands the same check a server object
# that calls the store directly and passes only when the check names that call.
set(rg_layers_args
    rg_util=$<TARGET_FILE:rg_util> rg_stats=$<TARGET_FILE:rg_stats>
    rg_store=$<TARGET_FILE:rg_store> rg_platform=$<TARGET_FILE:rg_platform>
    rg_config=$<TARGET_FILE:rg_config> rg_engine=$<TARGET_FILE:rg_engine>
    "rollgate-sim=$<TARGET_OBJECTS:rollgate-sim>")
if(TARGET rollgate_server)
    list(APPEND rg_layers_args rollgate_server=$<TARGET_FILE:rollgate_server>)
endif()
list(APPEND rg_layers_args "rollgate=$<TARGET_OBJECTS:rollgate>")
add_test(NAME test_layers COMMAND ${CMAKE_SOURCE_DIR}/scripts/check-layers.sh ${rg_layers_args})

add_library(rg_layers_wrong_call OBJECT ${CMAKE_CURRENT_SOURCE_DIR}/unit/layers_wrong_call.c)
target_link_libraries(rg_layers_wrong_call PRIVATE rg_store rg_options)
add_test(NAME test_layers_catches COMMAND ${CMAKE_SOURCE_DIR}/scripts/check-layers.sh
    rg_store=$<TARGET_FILE:rg_store> rg_util=$<TARGET_FILE:rg_util>
    "rollgate_server=$<TARGET_OBJECTS:rg_layers_wrong_call>")
set_tests_properties(test_layers_catches PROPERTIES
    PASS_REGULAR_EXPRESSION "layer violation: rollgate_server \\(layers_wrong_call[^)]*\\) calls rg_store_open from rg_store")
set_property(GLOBAL APPEND PROPERTY rg_tests_unit test_layers test_layers_catches)
