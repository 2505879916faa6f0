# SPDX-License-Identifier: MIT
# The ramp-agent daemon: its pieces as a static library (so unit tests
# link exactly what the daemon links), and the executable.
add_library(ramp_agentd STATIC
    config.c
    health.c
    http.c
    metrics.c
    policy.c
    serve.c
    sock.c
    stats.c
    sub.c
)
ramp_target_defaults(ramp_agentd)
target_include_directories(ramp_agentd PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(ramp_agentd PUBLIC ramp_agt ramp_httpd nng::nng
    Threads::Threads)

add_executable(ramp-agent main.c)
ramp_target_defaults(ramp-agent)
target_compile_definitions(ramp-agent PRIVATE
    RAMP_VERSION="${PROJECT_VERSION}")
target_link_libraries(ramp-agent PRIVATE ramp_agentd)
