# SPDX-License-Identifier: MIT
# The ramp-agent daemon: its pieces as a static library (so unit tests
# link exactly what the daemon links), and the executable.
add_library(ramp_agentd STATIC
    config.c
    policy.c
    stats.c
)
ramp_target_defaults(ramp_agentd)
target_include_directories(ramp_agentd PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(ramp_agentd PUBLIC ramp_agt nng::nng Threads::Threads)
