# SPDX-License-Identifier: MIT
# Unit suites registered by the ofrep work.
ramp_unit_test(test_promtext)
