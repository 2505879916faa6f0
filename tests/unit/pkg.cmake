# SPDX-License-Identifier: MIT
# Unit suites registered by the pkg work: the docs, man pages and
# deployment files checked against the code they describe.
#
# ramp_cfgdoc prints the daemons' settings tables (docs/gen/cfgdoc.c);
# `make docs-sync` rewrites the generated blocks of docs/operations.md
# and the section 8 man pages from it.
add_executable(ramp_cfgdoc ${PROJECT_SOURCE_DIR}/docs/gen/cfgdoc.c)
ramp_target_defaults(ramp_cfgdoc)
target_link_libraries(ramp_cfgdoc PRIVATE ramp_ctl ramp_agentd)
add_custom_target(docs-sync
    COMMAND python3 ${PROJECT_SOURCE_DIR}/docs/gen/sync.py
        $<TARGET_FILE:ramp_cfgdoc>
    DEPENDS ramp_cfgdoc
    COMMENT "Refreshing the generated settings in docs/ and man/")

set(RAMP_PKG_CHECK ${PROJECT_SOURCE_DIR}/tests/integration/pkg_check.sh)
# The generated settings tables are those of the code.
add_test(NAME unit.pkg_docs_settings COMMAND python3
    ${PROJECT_SOURCE_DIR}/docs/gen/sync.py --check $<TARGET_FILE:ramp_cfgdoc>)
# Every log event id in the sources is in docs/troubleshooting.md.
add_test(NAME unit.pkg_docs_events COMMAND bash ${RAMP_PKG_CHECK} events)
# Every command `ramp help` lists has its section in man/ramp.1; every
# man page renders without a groff warning.
add_test(NAME unit.pkg_man COMMAND bash ${RAMP_PKG_CHECK} man
    $<TARGET_FILE:ramp-cli>)
# Kubernetes manifests parse and carry what each kind requires.
add_test(NAME unit.pkg_k8s COMMAND python3
    ${PROJECT_SOURCE_DIR}/deploy/k8s/check.py)
# Containerfiles: stages, FROM images, COPY sources that exist.
add_test(NAME unit.pkg_container COMMAND bash ${RAMP_PKG_CHECK} container)
# systemd-analyze verify on the units (skipped, loudly, without it).
add_test(NAME unit.pkg_systemd COMMAND bash ${RAMP_PKG_CHECK} systemd
    $<TARGET_FILE:ramp-controller> $<TARGET_FILE:ramp-agent>)
set_tests_properties(unit.pkg_docs_settings unit.pkg_docs_events
    unit.pkg_man unit.pkg_k8s unit.pkg_container unit.pkg_systemd
    PROPERTIES LABELS unit)
set_tests_properties(unit.pkg_systemd PROPERTIES SKIP_RETURN_CODE 77)
