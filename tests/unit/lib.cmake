# SPDX-License-Identifier: MIT
# Unit suites registered by the lib component: the agent's view and query
# protocol (shared with libramp), and libramp itself.
ramp_unit_test(test_view)
target_link_libraries(test_view PRIVATE ramp_agt)
ramp_unit_test(test_query)
target_link_libraries(test_query PRIVATE ramp_agt)
