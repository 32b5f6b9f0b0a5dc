# Test-only: runs protoc-c and the plugin just built on
# tests/fixtures/gen_test.proto (plus health and reflection) into the build
# tree, and builds test_gen_fixture from tests/unit/test_gen.c against that
# output (SE_GEN_FIXTURE). It does not link se_runtime: the test fakes the
# few runtime calls the generated stubs make, to check what they pass.
find_program(SE_PROTOC protoc)
find_program(SE_PROTOC_C protoc-c)
if(NOT CHECK_FOUND OR NOT SE_PROTOC OR NOT SE_PROTOC_C)
  message(WARNING "protoc, protoc-c or check missing: test_gen_fixture disabled")
  return()
endif()

set(fx_out ${CMAKE_CURRENT_BINARY_DIR}/fixture_gen)
set(fx_inc -I${PROJECT_SOURCE_DIR}/proto -I${PROJECT_SOURCE_DIR}/tests/fixtures
    -I/usr/include -I/usr/share/grpc-proto)
set(fx_stubs gen_test grpc/health/v1/health grpc/reflection/v1/reflection
    grpc/reflection/v1alpha/reflection)
set(fx_msgs ${fx_stubs} google/api/http google/api/annotations google/protobuf/descriptor
    google/protobuf/empty swifteats/api/options)

set(fx_stub_protos "")
set(fx_sources ${fx_out}/se_registry.c)
set(fx_outputs ${fx_out}/se_registry.c ${fx_out}/se_registry.h)
foreach(f ${fx_stubs})
  list(APPEND fx_stub_protos ${f}.proto)
  list(APPEND fx_sources ${fx_out}/${f}.se.c)
  list(APPEND fx_outputs ${fx_out}/${f}.se.c ${fx_out}/${f}.se.h)
endforeach()
set(fx_msg_protos "")
set(fx_pbc "")
foreach(f ${fx_msgs})
  list(APPEND fx_msg_protos ${f}.proto)
  list(APPEND fx_pbc ${fx_out}/${f}.pb-c.c)
  list(APPEND fx_outputs ${fx_out}/${f}.pb-c.c ${fx_out}/${f}.pb-c.h)
endforeach()

add_custom_command(OUTPUT ${fx_outputs}
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${fx_out}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${fx_out}
  COMMAND ${SE_PROTOC_C} ${fx_inc} --c_out=${fx_out} ${fx_msg_protos}
  COMMAND ${SE_PROTOC} ${fx_inc} --plugin=protoc-gen-se=$<TARGET_FILE:protoc-gen-se>
          --se_out=${fx_out} ${fx_stub_protos}
  DEPENDS protoc-gen-se ${PROJECT_SOURCE_DIR}/tests/fixtures/gen_test.proto
          ${PROJECT_SOURCE_DIR}/proto/swifteats/api/options.proto
          ${PROJECT_SOURCE_DIR}/proto/google/api/http.proto
          ${PROJECT_SOURCE_DIR}/proto/google/api/annotations.proto
  COMMENT "protoc-gen-se: generating the test fixture"
  VERBATIM)

set_source_files_properties(${fx_pbc} PROPERTIES COMPILE_OPTIONS -Wno-unused-parameter)
add_executable(test_gen_fixture ${PROJECT_SOURCE_DIR}/tests/unit/test_gen.c ${fx_sources} ${fx_pbc})
target_compile_definitions(test_gen_fixture PRIVATE SE_GEN_FIXTURE=1
                           SE_GEN_FIXTURE_DIR="${fx_out}")
target_include_directories(test_gen_fixture PRIVATE ${fx_out} ${PROJECT_SOURCE_DIR}/runtime)
target_link_libraries(test_gen_fixture PRIVATE PkgConfig::PROTOBUFC PkgConfig::GRPC
                      PkgConfig::CHECK Threads::Threads)
add_test(NAME test_gen_fixture COMMAND test_gen_fixture)

# Same input, same bytes: CI diffs gen/ against a fresh run.
add_test(NAME protoc_gen_se_deterministic
  COMMAND sh -c "set -e; d=$(mktemp -d); trap 'rm -rf $d' EXIT; \
mkdir $d/a $d/b; \
for o in a b; do $1 $2 $3 $4 $5 --plugin=protoc-gen-se=$6 --se_out=$d/$o gen_test.proto \
grpc/health/v1/health.proto grpc/reflection/v1/reflection.proto; done; \
diff -r $d/a $d/b"
  sh ${SE_PROTOC} ${fx_inc} $<TARGET_FILE:protoc-gen-se>)

# Bad input is refused with a message naming the file and the clash.
add_test(NAME protoc_gen_se_rejects_name_clash
  COMMAND sh -c "d=$(mktemp -d); trap 'rm -rf $d' EXIT; \
$1 $2 $3 $4 $5 --plugin=protoc-gen-se=$6 --se_out=$d gen_clash.proto 2>&1 && echo UNEXPECTED_SUCCESS"
  sh ${SE_PROTOC} ${fx_inc} $<TARGET_FILE:protoc-gen-se>)
set_tests_properties(protoc_gen_se_rejects_name_clash PROPERTIES
  PASS_REGULAR_EXPRESSION "gen_clash.proto: generated name se_gentest_v1_clash_service_get_async is defined twice"
  FAIL_REGULAR_EXPRESSION "UNEXPECTED_SUCCESS")
