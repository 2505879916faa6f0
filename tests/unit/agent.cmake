# SPDX-License-Identifier: MIT
# Unit suites registered by the agent component.
ramp_unit_test(test_agent_config)
target_link_libraries(test_agent_config PRIVATE ramp_agentd)
target_compile_definitions(test_agent_config PRIVATE
    RAMP_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
ramp_unit_test(test_agent_policy)
target_link_libraries(test_agent_policy PRIVATE ramp_agentd)
ramp_unit_test(test_agent_serve)
target_link_libraries(test_agent_serve PRIVATE ramp_agentd)
