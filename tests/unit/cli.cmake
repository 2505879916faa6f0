# SPDX-License-Identifier: MIT
# Unit suites registered by the cli component.
ramp_unit_test(test_cli)
target_link_libraries(test_cli PRIVATE ramp_cli)
