#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Static checks of what ships beside the code, run as unit tests
# (tests/unit/pkg.cmake): each compares a file people read or deploy with
# the code it describes, and fails naming what is missing.
#
#   pkg_check.sh events              every log event id and metric name in
#                                    the sources is explained in
#                                    docs/troubleshooting.md
#   pkg_check.sh man RAMP            every command `RAMP help` lists has
#                                    its section in man/ramp.1; every man
#                                    page renders without a groff warning
#   pkg_check.sh container           each Containerfile's stages, images and
#                                    COPY sources exist
#   pkg_check.sh systemd CTL AGENT   systemd-analyze verify on the units
#                                    (exit 77, skipped, without it)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
fails=0

fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}

check_events() {
    local doc=$SRC/docs/troubleshooting.md ids id n=0
    ids=$(grep -rhoE '"RAMP-[A-Z0-9]+(-[A-Z0-9]+)*"' \
        --include='*.c' --include='*.h' \
        "$SRC/proto" "$SRC/controller" "$SRC/agent" "$SRC/client" |
        tr -d '"' | sort -u)
    [ -n "$ids" ] || fail "no RAMP-* event ids found in the sources"
    for id in $ids; do
        n=$((n + 1))
        # Documented means a heading or a table row naming it in backticks.
        grep -qE "^(#+ |\| )\`$id\`" "$doc" ||
            fail "$id (used in $(grep -rlF "\"$id\"" "$SRC/proto" \
                "$SRC/controller" "$SRC/agent" "$SRC/client" | head -1 |
                sed "s|$SRC/||")) is not explained in docs/troubleshooting.md"
    done
    # Ids documented but gone from the code: worth knowing, not a failure
    # (a doc may describe an event of a version still deployed).
    for id in $(grep -oE "^(#+ |\| )\`RAMP-[A-Z0-9-]+\`" "$doc" |
        grep -oE 'RAMP-[A-Z0-9-]+' | sort -u); do
        grep -qxF "$id" <<<"$ids" ||
            echo "note: $id is documented but no longer in the sources"
    done
    echo "events: $n ids checked"
    # Metrics: every ramp_ctl_* / ramp_agent_* name in the sources has its
    # row in the Metrics tables.
    n=0
    for id in $(grep -rhoE '"ramp_(ctl|agent)_[a-z0-9_]+"' --include='*.c' \
        "$SRC/controller" "$SRC/agent" | tr -d '"' | sort -u); do
        n=$((n + 1))
        grep -qE "^\| \`$id\` " "$doc" ||
            fail "metric $id is not explained in docs/troubleshooting.md"
    done
    echo "metrics: $n names checked"
}

check_man() {
    local ramp=$1 page cmds words n=0 warn
    # The command list: the lines under "Commands:" up to the blank line,
    # "  WORDS   summary". A first word that is a group ("ramp help flag"
    # lists its own commands) takes the second word with it; "help
    # [COMMAND]" is the command help.
    local top first groups=""
    top=$("$ramp" help | awk '/^Commands:/ && !done {on = 1; next}
        on && /^$/ {on = 0; done = 1}
        on && !done {print $1, $2}')
    for first in $(awk '{print $1}' <<<"$top" | sort -u); do
        if grep -q "^Usage: ramp $first COMMAND" <<<"$("$ramp" help "$first" 2>/dev/null)"; then
            groups="$groups $first "
        fi
    done
    cmds=$(while read -r w1 w2; do
        if [[ $groups == *" $w1 "* ]]; then echo "$w1 $w2"; else echo "$w1"; fi
    done <<<"$top")
    [ -n "$cmds" ] || fail "'ramp help' listed no commands"
    while IFS= read -r words; do
        n=$((n + 1))
        grep -qxF ".SS ramp $words" "$SRC/man/ramp.1" ||
            fail "man/ramp.1 has no section '.SS ramp $words' for 'ramp $words'"
    done <<<"$cmds"
    echo "man: $n commands have their section"
    if ! command -v groff >/dev/null; then
        echo "SKIP rendering: groff is not installed (groff-base)"
        return
    fi
    for page in "$SRC"/man/*.[0-9]; do
        warn=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" 2>&1) ||
            fail "$page: groff failed"
        [ -z "$warn" ] || fail "$page: groff warnings: $warn"
        # The page's own name and section match its file name.
        head -20 "$page" | grep -E "^\.TH $(basename "${page%.*}" |
            tr 'a-z-' 'A-Z-' | sed 's/-/\\\\-/g') ${page##*.} " >/dev/null ||
            fail "$page: .TH does not name the page and section"
    done
}

check_container() {
    local f line src n=0 stages from
    for f in "$SRC"/deploy/container/*.Containerfile; do
        [ -e "$f" ] || { fail "no deploy/container/*.Containerfile"; return; }
        n=$((n + 1))
        stages=""
        from=0
        while IFS= read -r line; do
            case $line in
            FROM\ *)
                from=$((from + 1))
                # FROM image[:tag] [AS name]
                set -- $line
                [[ $2 == debian:12* ]] || [[ " $stages " == *" $2 "* ]] ||
                    fail "$f: FROM $2 is neither debian:12 nor an earlier stage"
                if [ $# -ge 4 ] && [ "${3^^}" = AS ]; then
                    stages="$stages $4"
                fi
                ;;
            COPY\ --from=*)
                set -- $line
                [[ " $stages " == *" ${2#--from=} "* ]] ||
                    fail "$f: COPY $2 names no earlier stage"
                ;;
            COPY\ *|ADD\ *)
                set -- $line
                shift
                while [ $# -gt 1 ]; do
                    case $1 in
                    --*) ;;
                    *) [ -e "$SRC/$1" ] ||
                        fail "$f: COPY source '$1' does not exist in the tree" ;;
                    esac
                    shift
                done
                ;;
            esac
        done < <(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$f")
        [ "$from" -ge 2 ] || fail "$f: not multi-stage ($from FROM)"
        grep -q '^USER ' "$f" || fail "$f: runs as root (no USER)"
        grep -q '^ENTRYPOINT ' "$f" || fail "$f: no ENTRYPOINT"
    done
    [ "$n" -ge 2 ] || fail "expected a Containerfile per daemon, found $n"
    echo "container: $n files checked"
}

# The units name /usr/bin/ramp-*: verify copies that point at the built
# binaries instead (the package puts them at /usr/bin; pkg_deb checks).
check_systemd() {
    local ctl agent tmp u out rc
    ctl=$(realpath "$1")
    agent=$(realpath "$2")
    if ! command -v systemd-analyze >/dev/null; then
        echo "SKIP: systemd-analyze is not installed (package systemd); units not verified"
        exit 77
    fi
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    for u in ramp-controller ramp-agent; do
        grep -q "^ExecStart=/usr/bin/$u " "$SRC/deploy/systemd/$u.service" ||
            fail "$u.service: ExecStart is not /usr/bin/$u"
        grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' \
            "$SRC/deploy/systemd/$u.service" ||
            fail "$u.service: no ExecReload with SIGHUP"
        for k in User=ramp NoNewPrivileges=yes ProtectSystem=strict \
            PrivateTmp=yes ProtectHome=yes RestrictAddressFamilies= \
            StateDirectory=ramp/; do
            grep -q "^$k" "$SRC/deploy/systemd/$u.service" ||
                fail "$u.service: no $k"
        done
    done
    grep -q '^RuntimeDirectory=ramp$' "$SRC/deploy/systemd/ramp-agent.service" &&
        grep -q '^RuntimeDirectoryMode=0750$' "$SRC/deploy/systemd/ramp-agent.service" ||
        fail "ramp-agent.service: socket directory /run/ramp not 0750"
    sed "s|/usr/bin/ramp-controller|$ctl|" \
        "$SRC/deploy/systemd/ramp-controller.service" >"$tmp/ramp-controller.service"
    sed "s|/usr/bin/ramp-agent|$agent|" \
        "$SRC/deploy/systemd/ramp-agent.service" >"$tmp/ramp-agent.service"
    rc=0
    out=$(cd "$tmp" && systemd-analyze verify --man=no \
        "$tmp/ramp-controller.service" "$tmp/ramp-agent.service" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ] && grep -qiE 'failed to (initialize|connect|set up)|not booted|no such file or directory.*(systemd|/run)' <<<"$out" &&
        ! grep -q 'ramp-' <<<"$out"; then
        echo "SKIP: systemd-analyze cannot run here: $out"
        exit 77
    fi
    if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
        echo "systemd: units verified"
    else
        fail "systemd-analyze verify (exit $rc): $out"
    fi
}

case ${1:-} in
events) check_events ;;
man) check_man "$2" ;;
container) check_container ;;
systemd) check_systemd "$2" "$3" ;;
*) echo "usage: $0 events|man RAMP|container|systemd CTL AGENT" >&2; exit 2 ;;
esac
[ "$fails" -eq 0 ] || { echo "$fails problem(s)" >&2; exit 1; }
