# SPDX-License-Identifier: MIT
# Unit suites registered by the engine work.
ramp_unit_test(test_decide)
