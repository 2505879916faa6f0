#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Leaks and memory errors of the daemons under valgrind
# (docs/reliability.md): a controller and an agent, both under memcheck,
# start, take a few writes (create, set, disable, delete, a resync after
# the agent is restarted), answer evaluations, and stop on SIGTERM. Each
# valgrind log must end with "ERROR SUMMARY: 0 errors": invalid reads or
# writes, uninitialised values, and definite or indirect leaks all count
# as errors (--errors-for-leak-kinds=definite,indirect). One CLI command
# runs under valgrind too.
#
# valgrind.supp (next to this script) suppresses only what belongs to
# the libraries (nng, glibc, libcurl), each entry with its reason. The
# "possibly lost" blocks (pointers into the middle of a block, e.g. nng's
# per-thread state) are shown, not counted. The
# binaries are those of a normal build: valgrind cannot run an ASan
# build, so the test skips there.
#
# Usage: valgrind.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"

if ! command -v valgrind >/dev/null; then
    echo "SKIP: valgrind is not installed (scripts/deps.sh valgrind)"
    exit 0
fi
if grep -q __asan_init "$CTL" 2>/dev/null; then
    echo "SKIP: an AddressSanitizer build cannot run under valgrind"
    exit 0
fi
SUPP=$(cd "$(dirname "$0")" && pwd)/valgrind.supp
VG=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
    --track-origins=no --num-callers=30 --suppressions="$SUPP"
    --gen-suppressions=all)

# Wrappers: `run` goes under valgrind, with one log per process.
wrap() {
    local real=$1 name=$2
    cat >"$WORK/$name-vg" <<EOF
#!/usr/bin/env bash
if [ "\$1" = run ]; then
    exec ${VG[*]} --log-file=$WORK/vg-$name.%p.log "$real" "\$@"
fi
exec "$real" "\$@"
EOF
    chmod +x "$WORK/$name-vg"
}
wrap "$CTL" ctl
wrap "$AGENT" agent
REAL_CLI=$CLI
CTL=$WORK/ctl-vg
AGENT=$WORK/agent-vg

it_step "controller and agent under valgrind"
it_start_controller
it_start_agent 1
it_cli flag create vg-a --type bool >/dev/null
it_cli flag create vg-b --type bool --enabled >/dev/null
it_cli flag set vg-a --description "under valgrind" >/dev/null
it_wait_flag 1 vg-b 1 60
it_eval 1 vg-b --key k >/dev/null
it_eval_direct 1 vg-a --key k >/dev/null

it_step "agent restart: a resync under valgrind"
it_stop_agent 1 TERM
it_cli flag disable vg-b >/dev/null
it_cli flag delete vg-a >/dev/null
it_start_agent 1
it_wait_flag 1 vg-a 0 60
it_wait_flag 1 vg-b 2 60

it_step "one CLI command under valgrind"
"${VG[@]}" --log-file="$WORK/vg-cli.%p.log" "$REAL_CLI" flag list --json \
    >/dev/null 2>>"$WORK/tools.log" || true

it_stop_agent 1 TERM
it_stop_controller TERM

it_step "valgrind's verdicts"
logs=$(ls "$WORK"/vg-*.log)
n=0
for f in $logs; do
    n=$((n + 1))
    summary=$(grep 'ERROR SUMMARY' "$f" | tail -n 1)
    [ -n "$summary" ] || it_fail "$(basename "$f"): no ERROR SUMMARY (did the process exit?)"
    grep -Eq 'definitely lost: 0 bytes|All heap blocks were freed' "$f" ||
        it_fail "$(basename "$f"): no leak summary (did --leak-check run?)"
    echo "   $(basename "$f"): ${summary#==*== }; $(grep -Eo 'possibly lost: [0-9,]+ bytes' "$f" || echo 'no leak')"
    grep -q 'ERROR SUMMARY: 0 errors' "$f" || {
        grep -v '^==[0-9]*== *$' "$f" | head -n 80 >&2
        it_fail "$(basename "$f"): $summary"
    }
done
[ "$n" -ge 4 ] || it_fail "expected 4 valgrind logs (2 agents, controller, CLI), got $n"
it_step "ok: $n processes under valgrind, 0 errors, no definite or indirect leak"
