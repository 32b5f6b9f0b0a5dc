# se_link_suites(<library> <pattern>...): links the Check suites
# tests/unit/<pattern>.c (globs, e.g. test_order*) with <library>.
# tests/CMakeLists.txt makes one executable per suite, linked with
# se_runtime and se_proto only, and is read after the components; so the
# link is deferred to the end of the top-level directory, when the test
# targets exist. Shared by every component that has a *_core library.
function(se_link_suites lib)
  set(names)
  foreach(pattern ${ARGN})
    file(GLOB suites CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/${pattern}.c)
    foreach(src ${suites})
      get_filename_component(t ${src} NAME_WE)
      list(APPEND names ${t})
    endforeach()
  endforeach()
  # DEFER evaluates its arguments when the call runs, in another scope:
  # EVAL bakes the values in now.
  list(JOIN names " " names)
  cmake_language(EVAL CODE
    "cmake_language(DEFER DIRECTORY \"${CMAKE_SOURCE_DIR}\" CALL se__link_suites_now ${lib} ${names})")
endfunction()

function(se__link_suites_now lib)
  foreach(t ${ARGN})
    if(TARGET ${t})
      target_link_libraries(${t} PRIVATE ${lib})
    endif()
  endforeach()
endfunction()
