# layers.cmake - the allowed graph between rollgate's libraries, checked at configure time.
#
# rg_layer_links_<target>: the project libraries <target> may link directly.
# rg_layer_uses_<target>: the libraries whose symbols its objects may call (what it links and
# what those re-export to it; the server and the CLI reach the store and the platform only
# through the engine). scripts/check-layers.sh checks the second list over the built objects
# (ctest test_layers); this file refuses a target_link_libraries outside the first.
set(rg_layer_targets rg_util rg_stats rg_store rg_platform rg_config rg_engine rollgate_server
    rollgate rollgate-sim)

set(rg_layer_links_rg_util "")
set(rg_layer_links_rg_stats rg_util)
set(rg_layer_links_rg_store rg_util)
set(rg_layer_links_rg_platform rg_util)
set(rg_layer_links_rg_config rg_util rg_stats)
set(rg_layer_links_rg_engine rg_util rg_config rg_stats rg_store rg_platform)
set(rg_layer_links_rollgate_server rg_engine)
set(rg_layer_links_rollgate rg_engine rg_stats rollgate_server)
set(rg_layer_links_rollgate-sim rg_util)

set(rg_layer_project_libs ${rg_layer_targets} rollgate_lib rollgate_archive rg_test_support)
foreach(t ${rg_layer_targets})
    if(NOT TARGET ${t})
        continue()
    endif()
    get_target_property(links ${t} LINK_LIBRARIES)
    get_target_property(ilinks ${t} INTERFACE_LINK_LIBRARIES)
    foreach(l IN LISTS links ilinks)
        string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" l "${l}")
        if(l IN_LIST rg_layer_project_libs AND NOT l IN_LIST rg_layer_links_${t})
            message(FATAL_ERROR "layers: ${t} links ${l}, outside the allowed graph "
                "(${t} may link: ${rg_layer_links_${t}}; cmake/layers.cmake)")
        endif()
    endforeach()
endforeach()
