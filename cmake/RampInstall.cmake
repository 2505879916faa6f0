# SPDX-License-Identifier: MIT
# What `cmake --install` puts where, and the .deb CPack makes of it
# (docs/operations.md, "Installing").
#
#   bin/                   ramp-controller, ramp-agent, ramp
#   lib/                   libramp.so.0 (soname), libramp.so, libramp.a
#   lib/pkgconfig/         ramp.pc
#   lib/cmake/ramp/        rampConfig.cmake, rampConfigVersion.cmake
#   include/ramp/          ramp.h, err.h
#   share/man/man{1,3,8}/  ramp.1, libramp.3, ramp-controller.8, ramp-agent.8
#   share/doc/ramp/        README, docs/, example configs
#   lib/systemd/system/    ramp-controller.service, ramp-agent.service
#   lib/sysusers.d/, lib/tmpfiles.d/  the ramp user and its directories
#
# The installed libramp.a is self-contained: libramp's objects plus the
# proto core and the agent's view and query code it is built from (the
# build tree's libramp.a leaves those in their own archives). The CMake
# package is written by hand (rampConfig.cmake.in) rather than exported:
# the build targets carry source-tree include paths.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
install(CODE "set(RAMP_SRC \"${PROJECT_SOURCE_DIR}\")")

install(TARGETS ramp-agent RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

add_library(ramp_bundle STATIC $<TARGET_OBJECTS:ramp_static>
    $<TARGET_OBJECTS:ramp_agt> $<TARGET_OBJECTS:ramp_proto>)
set_target_properties(ramp_bundle PROPERTIES OUTPUT_NAME ramp
    ARCHIVE_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/pkg)

install(TARGETS ramp LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS ramp_bundle ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES include/ramp/ramp.h include/ramp/err.h
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ramp)

# ramp.pc finds its prefix from its own place (${pcfiledir}), so a tree
# installed with --prefix anywhere, or moved, still works.
file(RELATIVE_PATH RAMP_PC_UP
    /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
configure_file(cmake/ramp.pc.in ${PROJECT_BINARY_DIR}/pkg/ramp.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/pkg/ramp.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

set(RAMP_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/ramp)
file(RELATIVE_PATH RAMP_CMAKE_UP /p/${RAMP_CMAKEDIR} /p)
configure_file(cmake/rampConfig.cmake.in
    ${PROJECT_BINARY_DIR}/pkg/rampConfig.cmake @ONLY)
write_basic_package_version_file(
    ${PROJECT_BINARY_DIR}/pkg/rampConfigVersion.cmake
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/pkg/rampConfig.cmake
    ${PROJECT_BINARY_DIR}/pkg/rampConfigVersion.cmake
    DESTINATION ${RAMP_CMAKEDIR})

install(FILES man/ramp.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES man/libramp.3 DESTINATION ${CMAKE_INSTALL_MANDIR}/man3)
install(FILES man/ramp-controller.8 man/ramp-agent.8
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)

install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs
    FILES_MATCHING PATTERN "*.md" PATTERN "gen" EXCLUDE)
install(FILES deploy/controller.conf.example deploy/agent.conf.example
    DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# Configuration: /etc/ramp when the prefix is /usr (the package), else
# PREFIX/etc/ramp. An existing file is never overwritten.
install(CODE [[
    # file(INSTALL) adds $ENV{DESTDIR} itself; the existence check must.
    if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
        set(_ramp_etc "/etc/ramp")
    else()
        set(_ramp_etc "${CMAKE_INSTALL_PREFIX}/etc/ramp")
    endif()
    foreach(_ramp_d controller agent)
        if(EXISTS "$ENV{DESTDIR}${_ramp_etc}/${_ramp_d}.conf")
            message(STATUS "Kept: $ENV{DESTDIR}${_ramp_etc}/${_ramp_d}.conf")
        else()
            file(INSTALL "${RAMP_SRC}/deploy/${_ramp_d}.conf.example"
                DESTINATION "${_ramp_etc}" TYPE FILE
                RENAME "${_ramp_d}.conf" PERMISSIONS OWNER_READ
                OWNER_WRITE GROUP_READ WORLD_READ)
        endif()
    endforeach()
]])

# Units name /usr/bin: they are for the package (and any /usr install);
# other prefixes override ExecStart= with a drop-in.
install(FILES deploy/systemd/ramp-controller.service
    deploy/systemd/ramp-agent.service
    DESTINATION lib/systemd/system)
install(FILES deploy/systemd/ramp.sysusers DESTINATION lib/sysusers.d
    RENAME ramp.conf)
install(FILES deploy/systemd/ramp.tmpfiles DESTINATION lib/tmpfiles.d
    RENAME ramp.conf)

# ---- .deb (cpack -G DEB in the build directory) ----
set(CPACK_PACKAGE_NAME ramp)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "ramp maintainers <ramp@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "distributed feature flags and progressive rollouts")
set(CPACK_PACKAGE_DESCRIPTION
    "ramp-controller keeps flags and rollouts in LMDB and pushes signed updates to a ramp-agent on every host; applications ask their agent through libramp or OFREP; agents report health and the controller advances or rolls back each rollout. Includes the ramp CLI, libramp (shared and static), headers, pkg-config and CMake files, man pages and systemd units.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Debian 12 names of what the binaries link (checked with apt-cache);
# passwd provides useradd for the maintainer scripts.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libnng1 (>= 1.5.2), libmsgpackc2 (>= 4.0.0), libsodium23 (>= 1.0.18), libjansson4 (>= 2.14), liblmdb0 (>= 0.9.24), libcurl4 (>= 7.88.1), passwd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "lmdb-utils")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles
    ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
    ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_GENERATOR DEB)
include(CPack)
