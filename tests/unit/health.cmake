# SPDX-License-Identifier: MIT
# Unit suites registered by the health work.
ramp_unit_test(test_health_agent)
target_link_libraries(test_health_agent PRIVATE ramp_agentd)
ramp_unit_test(test_health_ctl)
target_link_libraries(test_health_ctl PRIVATE ramp_ctl)
# libramp through its static build, with the agent's aggregation to read
# what arrives on the outcome socket.
ramp_unit_test(test_observe)
target_link_libraries(test_observe PRIVATE ramp_static ramp_agentd)
target_include_directories(test_observe PRIVATE ${PROJECT_SOURCE_DIR}/client)
