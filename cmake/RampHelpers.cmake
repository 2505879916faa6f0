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
    # The slowest unit suite takes about 30 s under ASan on two cores; a
    # hang fails within minutes instead of ctest's 25-minute default.
    set_tests_properties(unit.${name} PROPERTIES LABELS unit TIMEOUT 300
        ENVIRONMENT "RAMP_TEST_DATA=${PROJECT_SOURCE_DIR}/tests/data")
endfunction()
