# SPDX-License-Identifier: MIT
# Unit suites registered by the rollout work.
ramp_unit_test(test_rollout)
target_link_libraries(test_rollout PRIVATE ramp_ctl CURL::libcurl)
