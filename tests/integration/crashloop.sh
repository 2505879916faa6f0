#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Crash safety of the agents (docs/reliability.md; crash.sh does the
# controller's side). A writer changes flags with the CLI while two
# agents are killed with SIGKILL at random moments (50..549 ms apart, in
# turn) and restarted, RAMP_IT_AGENT_KILLS times (default 12). After
# every kill the agent's LMDB cache reads whole (mdb_stat, mdb_dump);
# after every restart it becomes ready at its old seq or later (never
# earlier). At the end each agent's state equals the controller's: the
# same seq, the same flag count, and every flag served at the
# controller's version (absent ones absent).
#
# Usage: crashloop.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"

KILLS=${RAMP_IT_AGENT_KILLS:-12}
command -v mdb_stat >/dev/null || it_fail "mdb_stat (lmdb-utils) is needed"

it_start_controller
it_start_agent 1
it_start_agent 2
for i in 1 2 3 4 5; do
    it_cli flag create "cl-$i" --type bool >/dev/null
done

STOP=$WORK/stop
writer() {
    set +e
    local i=0 k
    while [ ! -e "$STOP" ]; do
        i=$((i + 1))
        k=cl-$(( 1 + i % 5 ))
        case $((i % 4)) in
        0) "$CLI" flag enable "$k" --timeout 3s ;;
        1) "$CLI" flag disable "$k" --timeout 3s ;;
        2) "$CLI" flag set "$k" --description "w$i" --timeout 3s ;;
        3) "$CLI" flag create "cl-n$i" --type bool --timeout 3s ;;
        esac >/dev/null 2>&1
    done
}
writer &
WRITER=$!
it_track "$WRITER"

for it in $(seq 1 "$KILLS"); do
    n=$(( 1 + it % 2 ))
    sleep "0.$(( 50 + RANDOM % 500 ))"
    old=$(it_agent_seq "$n")
    it_stop_agent "$n" KILL
    mdb_stat -a "$WORK/a$n" >/dev/null 2>"$WORK/mdb.err" ||
        it_fail "agent $n cache after SIGKILL: $(cat "$WORK/mdb.err")"
    mdb_dump -a "$WORK/a$n" >/dev/null 2>"$WORK/mdb.err" ||
        it_fail "agent $n cache after SIGKILL: $(cat "$WORK/mdb.err")"
    it_start_agent "$n"
    now=$(grep RAMP-AGENT-READY "$WORK/a$n.log" | tail -n 1 |
        grep -o ' seq=[0-9]*' | cut -d= -f2)
    [ "${now:-0}" -ge "${old:-0}" ] ||
        it_fail "agent $n came back at seq $now, below $old before the kill"
    it_step "kill $it/$KILLS: agent $n at seq $old, ready again at $now"
done
touch "$STOP"
wait "$WRITER" 2>/dev/null || true

it_step "every agent equals the controller"
seq=$(it_healthz_seq)
list=$(it_cli flag list --json)
nflags=$(printf '%s' "$list" | grep -o '"salt":' | wc -l)
for n in 1 2; do
    it_wait_agent_seq "$n" "$seq" 30
    got=$("$AGENT" status --state-dir "$WORK/a$n" 2>/dev/null |
        sed -n 's/^flags: *//p')
    it_assert_eq "agent $n flag count" "$nflags" "$got"
done
# Every flag at the controller's version, on both agents.
printf '%s' "$list" | grep -oE '"key":"[^"]*"|"version":[0-9]+' |
    paste - - | sed 's/"key":"\([^"]*\)"[[:space:]]*"version":/\1 /' \
    >"$WORK/versions"
checked=0
while read -r k v; do
    for n in 1 2; do
        it_wait_flag "$n" "$k" "$v" 10
    done
    checked=$((checked + 1))
done <"$WORK/versions"
it_assert_eq "flags checked" "$nflags" "$checked"
it_step "ok: $KILLS agent kills, both agents at seq $seq with the controller's $nflags flags at its versions"
