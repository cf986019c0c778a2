# The fuzz targets: one per decoder of outside input (docs/reliability.md).
# Each is tools/fuzz/<name>_fuzzer.cc (LLVMFuzzerTestOneInput), plus the
# sources and libraries listed here. Read by tools/fuzz/CMakeLists.txt (the
# libFuzzer build, SB_FUZZ=ON) and tests/fuzz/CMakeLists.txt (the corpus
# replay tests of the normal build), so both build the same targets.
set(SB_FUZZ_TARGETS
  eventgrid gorg_envelope managed_app run_request terraform_output
  azure_xml sas blob_uri token_file server_config gateway_config http_request blob_request
  amqp_spec)

set(SB_FUZZ_eventgrid_SOURCES ${PROJECT_SOURCE_DIR}/gateway/eventgrid/event.cc)
set(SB_FUZZ_eventgrid_LIBS sb_wire)
set(SB_FUZZ_gorg_envelope_LIBS sb_wire)
set(SB_FUZZ_managed_app_LIBS sb_wire)
set(SB_FUZZ_run_request_LIBS sb_wire)
set(SB_FUZZ_terraform_output_LIBS sb_wire)
set(SB_FUZZ_azure_xml_LIBS sb_azure)
set(SB_FUZZ_sas_LIBS sb_azure)
set(SB_FUZZ_blob_uri_SOURCES ${PROJECT_SOURCE_DIR}/server/media/blob_router.cc)
set(SB_FUZZ_blob_uri_LIBS sb_blob)
set(SB_FUZZ_token_file_LIBS sb_common)
set(SB_FUZZ_http_request_LIBS sb_httpcore)
set(SB_FUZZ_amqp_spec_SOURCES ${PROJECT_SOURCE_DIR}/gateway/adapters/rabbitmq/consume_spec.cc)
set(SB_FUZZ_amqp_spec_LIBS absl::strings absl::status absl::statusor protobuf::libprotobuf)
# The blob listener's reading of a head, without its sockets and threads.
set(SB_FUZZ_blob_request_SOURCES ${PROJECT_SOURCE_DIR}/server/http/blob_request.cc)
set(SB_FUZZ_blob_request_LIBS sb_httpcore sb_blob sb_azure)
# The config file's own code, not the libraries around it (sb_core needs
# SQLite, the media and resourcing libraries gRPC services).
set(SB_FUZZ_server_config_SOURCES
  ${PROJECT_SOURCE_DIR}/server/core/config.cc
  ${PROJECT_SOURCE_DIR}/server/core/programs.cc
  ${PROJECT_SOURCE_DIR}/server/media/media_config.cc
  ${PROJECT_SOURCE_DIR}/server/resourcing/options.cc
  ${PROJECT_SOURCE_DIR}/server/resourcing/names.cc)
set(SB_FUZZ_server_config_LIBS sb_blob sb_proto nlohmann_json::nlohmann_json)
set(SB_FUZZ_gateway_config_SOURCES ${PROJECT_SOURCE_DIR}/gateway/config.cc)
set(SB_FUZZ_gateway_config_LIBS sb_gateway_storage_queue sb_common)

# Adds executable `exe` built from target `name`'s sources and `extra`.
function(sb_fuzz_executable exe name)
  add_executable(${exe} ${PROJECT_SOURCE_DIR}/tools/fuzz/${name}_fuzzer.cc ${SB_FUZZ_${name}_SOURCES} ${ARGN})
  target_include_directories(${exe} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${exe} PRIVATE ${SB_FUZZ_${name}_LIBS})
  target_compile_options(${exe} PRIVATE ${SB_WARNINGS})
endfunction()
