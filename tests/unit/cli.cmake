# SPDX-License-Identifier: MIT
# Unit suites registered by the cli component.
ramp_unit_test(test_cli)
target_link_libraries(test_cli PRIVATE ramp_cli)

# The ramp binary against the controller's HTTP API, run in-process.
ramp_unit_test(test_cli_api)
target_link_libraries(test_cli_api PRIVATE ramp_ctl)
target_compile_definitions(test_cli_api PRIVATE
    RAMP_CLI_BIN="$<TARGET_FILE:ramp-cli>")
add_dependencies(test_cli_api ramp-cli)

# `ramp eval` through libramp's direct mode on a real agent cache.
ramp_unit_test(test_cli_eval)
target_link_libraries(test_cli_eval PRIVATE ramp_cli ramp_agt)

# ramp-traffic's command line, on the built binary.
if(TARGET ramp-traffic)
    ramp_unit_test(test_traffic)
    target_compile_definitions(test_traffic PRIVATE
        RAMP_TRAFFIC_BIN="$<TARGET_FILE:ramp-traffic>")
    add_dependencies(test_traffic ramp-traffic)
endif()

# ramp rollout and ramp agent: arguments, request bodies, text views, and
# status --wait/--watch against a scripted HTTP server in-process.
ramp_unit_test(test_cli_rollout)
target_link_libraries(test_cli_rollout PRIVATE ramp_cli Threads::Threads)
