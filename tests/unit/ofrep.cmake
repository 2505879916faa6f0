# SPDX-License-Identifier: MIT
# Unit suites registered by the ofrep work.
ramp_unit_test(test_promtext)
ramp_unit_test(test_agent_metrics)
target_link_libraries(test_agent_metrics PRIVATE ramp_agentd)
