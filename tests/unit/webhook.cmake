# SPDX-License-Identifier: MIT
# Unit suites registered by the webhook work.
ramp_unit_test(test_webhook)
target_link_libraries(test_webhook PRIVATE ramp_ctl)
ramp_unit_test(test_gate)
target_link_libraries(test_gate PRIVATE ramp_ctl CURL::libcurl nng::nng)
