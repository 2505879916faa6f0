# SPDX-License-Identifier: MIT
# ramp_target_defaults(tgt): warnings and include paths every target shares.
function(ramp_target_defaults tgt)
    target_compile_options(${tgt} PRIVATE ${RAMP_WARNINGS})
    target_compile_definitions(${tgt} PRIVATE _POSIX_C_SOURCE=200809L
        _DEFAULT_SOURCE)
endfunction()

# ramp_unit_test(name): tests/unit/name.c -> ctest "unit.name" (cmocka).
function(ramp_unit_test name)
    add_executable(${name} ${name}.c)
    ramp_target_defaults(${name})
    target_link_libraries(${name} PRIVATE ramp_proto PkgConfig::CMOCKA)
    add_test(NAME unit.${name} COMMAND ${name})
    set_tests_properties(unit.${name} PROPERTIES LABELS unit
        ENVIRONMENT "RAMP_TEST_DATA=${PROJECT_SOURCE_DIR}/tests/data")
endfunction()
