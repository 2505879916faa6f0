# SPDX-License-Identifier: MIT
# Unit suites registered by the ctl component.
ramp_unit_test(test_ctl_config)
target_link_libraries(test_ctl_config PRIVATE ramp_ctl)
ramp_unit_test(test_api)
target_link_libraries(test_api PRIVATE ramp_ctl CURL::libcurl)
ramp_unit_test(test_resync)
target_link_libraries(test_resync PRIVATE ramp_ctl)
ramp_unit_test(test_tls)
target_link_libraries(test_tls PRIVATE ramp_ctl ramp_agentd ramp_cli CURL::libcurl)
ramp_unit_test(test_ctl_metrics)
target_link_libraries(test_ctl_metrics PRIVATE ramp_ctl)
