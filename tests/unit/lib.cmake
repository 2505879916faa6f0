# SPDX-License-Identifier: MIT
# Unit suites registered by the lib component: the agent's view and query
# protocol (shared with libramp), and libramp itself.
ramp_unit_test(test_view)
target_link_libraries(test_view PRIVATE ramp_agt)
ramp_unit_test(test_query)
target_link_libraries(test_query PRIVATE ramp_agt)
# libramp through its static build: one copy of the allocator, so the
# suite can count what libramp leaves allocated.
ramp_unit_test(test_libramp)
target_link_libraries(test_libramp PRIVATE ramp_static ramp_agt)
target_include_directories(test_libramp PRIVATE ${PROJECT_SOURCE_DIR}/client)
# The shared library exports the public API and nothing else.
add_test(NAME unit.libramp_exports COMMAND sh -c
    "nm -D --defined-only \"$<TARGET_FILE:ramp>\" | awk '{print $3}' | grep -v '^ramp_' | grep . && exit 1; nm -D --defined-only \"$<TARGET_FILE:ramp>\" | grep -q ' ramp_bool$'")
set_tests_properties(unit.libramp_exports PROPERTIES LABELS unit)
