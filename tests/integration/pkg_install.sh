#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `cmake --install` of this build into a temporary prefix puts every
# file where docs/operations.md says, libramp.so.0 carries its soname
# and exports ramp_* only, and a small C program builds against the
# installed tree three ways -- pkg-config (shared), find_package(ramp)
# with ramp::ramp and with ramp::ramp_static -- and each build, run
# against a real agent's state directory, reads the flag the CLI
# created through the controller. The installed tree is then moved:
# ramp.pc and rampConfig.cmake find it at its new place.
#
# Usage: pkg_install.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"

BUILD=$(cd "$(dirname "$CTL")/.." && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PREFIX=$WORK/prefix

it_step "cmake --install $BUILD into a temp prefix"
# Whatever installs must be built; a target that fails to build and is
# not installed (a benchmark) must not hide what this test checks.
cmake --build "$BUILD" >"$WORK/build.log" 2>&1 ||
    echo "note: the build had errors; the install below shows if they matter: $(grep -m1 'error' "$WORK/build.log")"
cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1 ||
    it_fail "install: $(tail -5 "$WORK/install.log")"
for f in bin/ramp-controller bin/ramp-agent bin/ramp \
    lib/libramp.so.0.1.0 lib/libramp.so.0 lib/libramp.so lib/libramp.a \
    include/ramp/ramp.h include/ramp/err.h lib/pkgconfig/ramp.pc \
    lib/cmake/ramp/rampConfig.cmake lib/cmake/ramp/rampConfigVersion.cmake \
    share/man/man1/ramp.1 share/man/man3/libramp.3 \
    share/man/man8/ramp-controller.8 share/man/man8/ramp-agent.8 \
    lib/systemd/system/ramp-controller.service lib/systemd/system/ramp-agent.service \
    lib/sysusers.d/ramp.conf lib/tmpfiles.d/ramp.conf \
    etc/ramp/controller.conf etc/ramp/agent.conf \
    share/doc/ramp/README.md share/doc/ramp/docs/operations.md; do
    [ -e "$PREFIX/$f" ] || it_fail "not installed: $f"
done
it_assert_eq "soname" "libramp.so.0" \
    "$(readelf -d "$PREFIX/lib/libramp.so.0.1.0" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
it_assert_eq "libramp.so.0 link" "libramp.so.0.1.0" "$(readlink "$PREFIX/lib/libramp.so.0")"
leaked=$(nm -D --defined-only "$PREFIX/lib/libramp.so.0" | awk '{print $3}' | grep -v '^ramp_' || true)
it_assert_eq "symbols exported beyond ramp_*" "" "$leaked"
# The static archive is self-contained: the proto core is inside.
nm "$PREFIX/lib/libramp.a" >"$WORK/nm.txt" 2>/dev/null
grep -q ' T rp_eval$' "$WORK/nm.txt" ||
    it_fail "libramp.a lacks the evaluation engine (rp_eval)"
# The installed config files are the examples, and the daemons accept them.
cmp -s "$PREFIX/etc/ramp/agent.conf" "$SRC/deploy/agent.conf.example" ||
    it_fail "etc/ramp/agent.conf is not deploy/agent.conf.example"

it_step "a controller, an agent and a flag for the programs to read"
it_start_controller
it_start_agent 1
it_cli flag create pkg-demo --type string --variant a=alpha --variant b=beta \
    --default-variant b --off-variant a --enabled >/dev/null
it_wait_flag 1 pkg-demo 1
STATE=$(it_agent_direct 1)
STATE=${STATE#direct:}

cat >"$WORK/app.c" <<'CEOF'
#include <stdio.h>
#include <string.h>
#include <ramp/ramp.h>

int
main(int argc, char **argv)
{
    ramp_client *c = NULL;
    char target[4200], buf[64];
    struct ramp_detail d;
    ramp_err rv;

    if (argc != 2) {
        return 2;
    }
    /* A directory with no agent state: a clear error, no client. */
    snprintf(target, sizeof(target), "direct:%s/nonexistent", argv[1]);
    rv = ramp_open(target, 0, &c);
    if (rv != RAMP_ENOTFOUND || c != NULL) {
        fprintf(stderr, "open nonexistent: %s\n", ramp_strerror(rv));
        return 1;
    }
    snprintf(target, sizeof(target), "direct:%s", argv[1]);
    rv = ramp_open(target, 0, &c);
    if (rv != RAMP_OK) {
        fprintf(stderr, "open: %s\n", ramp_strerror(rv));
        return 1;
    }
    rv = ramp_string(c, "pkg-demo", NULL, "none", buf, sizeof(buf), &d);
    printf("%s %s %s %s\n", ramp_version(), ramp_errname(rv), buf, d.variant);
    ramp_close(c);
    return rv == RAMP_OK ? 0 : 1;
}
CEOF
want="0.1.0 RAMP_OK beta b"

build_pc() { # OUT: cc with pkg-config against PREFIX
    PKG_CONFIG_PATH=$1/lib/pkgconfig cc -std=c11 -Wall -Werror $SANFLAGS \
        -o "$2" "$WORK/app.c" $(PKG_CONFIG_PATH=$1/lib/pkgconfig pkg-config --cflags --libs ramp) \
        -Wl,-rpath,"$1/lib"
}
build_cmake() { # PREFIX TARGET DIR
    mkdir -p "$3"
    cat >"$3/CMakeLists.txt" <<CEOF
cmake_minimum_required(VERSION 3.18)
project(app C)
find_package(ramp 0.1 REQUIRED)
add_executable(app $WORK/app.c)
target_link_libraries(app PRIVATE $2)
CEOF
    CFLAGS="$SANFLAGS" LDFLAGS="$SANFLAGS" cmake -S "$3" -B "$3/b" -DCMAKE_PREFIX_PATH="$1" \
        -DCMAKE_BUILD_TYPE=Debug >"$3/cmake.log" 2>&1 ||
        it_fail "cmake with $2: $(tail -5 "$3/cmake.log")"
    cmake --build "$3/b" >"$3/build.log" 2>&1 ||
        it_fail "build with $2: $(tail -5 "$3/build.log")"
}
# A sanitizer build's libramp needs the sanitizer runtime in the program.
SANFLAGS=""
if grep -q '^RAMP_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt"; then
    SANFLAGS="-fsanitize=address,undefined"
    export CC=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
fi
export CC=${CC:-cc}
cc() { command "$CC" "$@"; }

it_step "pkg-config: shared"
build_pc "$PREFIX" "$WORK/app-pc" || it_fail "cc with pkg-config failed"
grep -qF "$PREFIX/lib/libramp.so.0" <<<"$(ldd "$WORK/app-pc")" ||
    it_fail "app-pc does not load the installed libramp.so.0: $(ldd "$WORK/app-pc")"
it_assert_eq "pkg-config app" "$want" "$("$WORK/app-pc" "$STATE")"

it_step "find_package(ramp): ramp::ramp (shared) and ramp::ramp_static"
build_cmake "$PREFIX" ramp::ramp "$WORK/cm-shared"
it_assert_eq "ramp::ramp app" "$want" "$("$WORK/cm-shared/b/app" "$STATE")"
grep -q 'libramp.so.0' <<<"$(ldd "$WORK/cm-shared/b/app")" || it_fail "ramp::ramp app is not dynamic"
build_cmake "$PREFIX" ramp::ramp_static "$WORK/cm-static"
! grep -q 'libramp' <<<"$(ldd "$WORK/cm-static/b/app")" || it_fail "ramp::ramp_static app loads libramp.so"
it_assert_eq "ramp::ramp_static app" "$want" "$("$WORK/cm-static/b/app" "$STATE")"

it_step "the tree moved elsewhere still works (relocatable .pc and CMake files)"
mv "$PREFIX" "$WORK/moved"
build_pc "$WORK/moved" "$WORK/app-moved" || it_fail "cc after the move failed"
it_assert_eq "moved pkg-config app" "$want" "$("$WORK/app-moved" "$STATE")"
build_cmake "$WORK/moved" ramp::ramp "$WORK/cm-moved"
it_assert_eq "moved ramp::ramp app" "$want" "$("$WORK/cm-moved/b/app" "$STATE")"

it_step "installed systemd units verify against the installed binaries and man pages"
if command -v systemd-analyze >/dev/null; then
    for u in ramp-controller ramp-agent; do
        sed "s|/usr/bin/|$WORK/moved/bin/|" "$WORK/moved/lib/systemd/system/$u.service" \
            >"$WORK/$u.service"
    done
    out=$(cd "$WORK" && MANPATH="$WORK/moved/share/man" systemd-analyze verify \
        "$WORK/ramp-controller.service" "$WORK/ramp-agent.service" 2>&1) ||
        it_fail "systemd-analyze verify: $out"
    [ -z "$out" ] || it_fail "systemd-analyze verify: $out"
else
    echo "SKIP: systemd-analyze is not installed; units not verified here"
fi
it_step "ok"
