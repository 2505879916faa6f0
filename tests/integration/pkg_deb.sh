#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `cpack -G DEB` in this build directory makes ramp_VERSION_ARCH.deb:
# its control file names the Debian 12 runtime packages, its maintainer
# scripts are ours, its payload holds the binaries, libramp (so.0 and
# .a), headers, ramp.pc, the CMake package, man pages, units and the
# configs as conffiles. When run as root on a machine where no ramp
# package is installed and dpkg is free, it installs the package for
# real, checks that postinst made the ramp user and its directories and
# that the installed binaries run, then purges it.
#
# Usage: pkg_deb.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"

BUILD=$(cd "$(dirname "$CTL")/.." && pwd)
command -v cpack >/dev/null || it_fail "cpack is needed"
command -v dpkg-deb >/dev/null || it_fail "dpkg-deb is needed"

it_step "cpack -G DEB"
# Whatever installs must be built; a target that fails to build and is
# not installed (a benchmark) must not hide what this test checks.
cmake --build "$BUILD" >"$WORK/build.log" 2>&1 ||
    echo "note: the build had errors; the install below shows if they matter: $(grep -m1 'error' "$WORK/build.log")"
(cd "$BUILD" && cpack -G DEB -B "$WORK/deb" >"$WORK/cpack.log" 2>&1) ||
    it_fail "cpack: $(tail -20 "$WORK/cpack.log")"
DEB=$(ls "$WORK"/deb/ramp_*.deb 2>/dev/null | head -1)
[ -n "$DEB" ] || it_fail "no .deb in $WORK/deb: $(ls "$WORK/deb")"
echo "$(basename "$DEB"): $(stat -c %s "$DEB") bytes"

it_step "control: name, version, dependencies, maintainer scripts"
it_assert_eq "Package" ramp "$(dpkg-deb -f "$DEB" Package)"
it_assert_eq "Version" 0.1.0 "$(dpkg-deb -f "$DEB" Version)"
deps=$(dpkg-deb -f "$DEB" Depends)
for p in libnng1 libmsgpackc2 libsodium23 libjansson4 liblmdb0 libcurl4 passwd; do
    grep -qE "(^|, )$p( |,|$)" <<<"$deps" || it_fail "Depends lacks $p: $deps"
done
mkdir -p "$WORK/ctrl"
dpkg-deb -e "$DEB" "$WORK/ctrl"
for s in postinst prerm postrm; do
    [ -x "$WORK/ctrl/$s" ] || it_fail "no executable $s in the control area"
    sh -n "$WORK/ctrl/$s" || it_fail "$s does not parse"
done
grep -q 'useradd --system' "$WORK/ctrl/postinst" || it_fail "postinst makes no user"
it_assert_eq "conffiles" "/etc/ramp/agent.conf /etc/ramp/controller.conf" \
    "$(sort "$WORK/ctrl/conffiles" | tr '\n' ' ' | sed 's/ $//')"

it_step "payload"
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\./|/|' >"$WORK/files"
for f in /usr/bin/ramp-controller /usr/bin/ramp-agent /usr/bin/ramp \
    /usr/lib/libramp.so.0 /usr/lib/libramp.so.0.1.0 /usr/lib/libramp.so /usr/lib/libramp.a \
    /usr/include/ramp/ramp.h /usr/include/ramp/err.h /usr/lib/pkgconfig/ramp.pc \
    /usr/lib/cmake/ramp/rampConfig.cmake /usr/share/man/man1/ramp.1 \
    /usr/share/man/man3/libramp.3 /usr/share/man/man8/ramp-controller.8 \
    /usr/share/man/man8/ramp-agent.8 /usr/lib/systemd/system/ramp-controller.service \
    /usr/lib/systemd/system/ramp-agent.service /usr/lib/sysusers.d/ramp.conf \
    /usr/lib/tmpfiles.d/ramp.conf /etc/ramp/controller.conf /etc/ramp/agent.conf; do
    grep -qxF "$f" "$WORK/files" || it_fail "the package lacks $f"
done
! grep -q '^/usr/etc' "$WORK/files" || it_fail "configs under /usr/etc"
! grep -qE '/(tmp|work)/' "$WORK/files" || it_fail "build paths in the payload"

it_step "install, check postinst's work, purge (root on a free machine only)"
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP install: not root"
elif dpkg-query -W -f='${Status}' ramp 2>/dev/null | grep installed >/dev/null; then
    echo "SKIP install: a ramp package is already installed here"
elif ! command -v dpkg >/dev/null; then
    echo "SKIP install: no dpkg"
else
    had_user=0
    getent passwd ramp >/dev/null && had_user=1
    dpkg -i "$DEB" >"$WORK/dpkg.log" 2>&1 ||
        { dpkg --purge ramp >/dev/null 2>&1; it_fail "dpkg -i: $(tail -20 "$WORK/dpkg.log")"; }
    trap 'dpkg --purge ramp >/dev/null 2>&1; it_cleanup' EXIT
    getent passwd ramp >/dev/null || it_fail "postinst made no ramp user"
    it_assert_eq "ramp's shell" /usr/sbin/nologin "$(getent passwd ramp | cut -d: -f7)"
    it_assert_eq "/etc/ramp" "root ramp 750" "$(stat -c '%U %G %a' /etc/ramp)"
    it_assert_eq "/var/lib/ramp" "ramp ramp 750" "$(stat -c '%U %G %a' /var/lib/ramp)"
    it_assert_eq "/run/ramp" "ramp ramp 750" "$(stat -c '%U %G %a' /run/ramp)"
    it_assert_match "installed ramp" '^ramp 0\.1\.0' "$(/usr/bin/ramp version)"
    it_assert_match "installed agent" '0\.1\.0' "$(/usr/bin/ramp-agent --version)"
    /usr/bin/ramp-controller --help >/dev/null || it_fail "installed controller does not run"
    [ -n "$(man -w ramp-agent 2>/dev/null)" ] || echo "note: man -w ramp-agent found nothing (man-db index)"
    dpkg --purge ramp >"$WORK/purge.log" 2>&1 || it_fail "purge: $(tail -5 "$WORK/purge.log")"
    trap it_cleanup EXIT
    [ ! -e /usr/bin/ramp-agent ] || it_fail "purge left /usr/bin/ramp-agent"
    [ ! -e /etc/ramp/agent.conf ] || it_fail "purge left /etc/ramp/agent.conf"
    [ ! -d /run/ramp ] || it_fail "purge left /run/ramp"
    [ "$had_user" = 1 ] || echo "note: the ramp user stays after purge, as documented"
fi
it_step "ok"
