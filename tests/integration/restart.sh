#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Restarts. An agent killed while flags change catches up from the
# controller's update log when it comes back; when the log no longer
# reaches back (a controller with log-retain 2) it gets a snapshot, which
# also drops what was deleted meanwhile. With the controller killed the
# agents keep serving, turn stale, and an agent restarted meanwhile serves
# its last-known-good state at once; when the controller returns they are
# fresh again and follow new changes.
#
# Usage: restart.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"

# answer N FLAG [EVAL-ARGS]: "value variant reason version stale" from
# agent N through its socket.
answer() {
    local n=$1 out
    shift
    out=$(it_eval "$n" "$@") || return $?
    it_eval_answer "$out"
}

expect() {
    it_assert_eq "agent $1 $2" "$3" "$(answer "$1" "$2" --key k)"
}

expect_absent() {
    local rc=0
    it_eval "$1" "$2" --key k >/dev/null 2>&1 || rc=$?
    it_assert_eq "agent $1 $2 (deleted): exit" 3 "$rc"
}

is_stale() {
    [ "$(answer "$1" "$2" --key k | awk '{print $5}')" = "$3" ]
}

resync_lines() {
    grep -c "RAMP-AGENT-RESYNC status=$2" "$WORK/a$1.log" || true
}

it_start_controller
it_start_agent 1
it_start_agent 2

it_step "three flags, both agents at seq 3"
it_cli flag create f1 --type bool --enabled --default-variant on >/dev/null
it_cli flag create f2 --type bool --enabled --default-variant on >/dev/null
it_cli flag create f3 --type bool --enabled >/dev/null
it_wait_agent_seq 1 3
it_wait_agent_seq 2 3

# ------------------------------------------------------------ log path
it_step "kill agent 2; four changes; restart it: resync from the log"
it_stop_agent 2 KILL
it_cli flag set f1 --default-variant off >/dev/null # seq 4
it_cli flag disable f2 >/dev/null                   # seq 5
it_cli flag delete f3 >/dev/null                    # seq 6
it_cli flag create f4 --type bool --enabled --default-variant on >/dev/null
it_wait_agent_seq 1 7
snap0=$(resync_lines 2 1)
it_start_agent 2
# RAMP-AGENT-READY came before any controller contact: it says seq=3.
grep 'RAMP-AGENT-READY' "$WORK/a2.log" | tail -n 1 | grep ' seq=3 ' >/dev/null ||
    it_fail "agent 2 was not ready at its last-known seq 3"
it_wait_agent_seq 2 7
it_wait_flag 2 f4 1
expect 2 f1 'false "off" "STATIC" 2 false'
expect 2 f2 'false "off" "DISABLED" 2 false'
expect_absent 2 f3
expect 2 f4 'true "on" "STATIC" 1 false'
grep -q 'RAMP-AGENT-RESYNC status=0 envs=4 applied=4' "$WORK/a2.log" ||
    it_fail "agent 2 did not apply the four logged envelopes in one resync"
it_assert_eq "snapshot resyncs of agent 2" "$snap0" "$(resync_lines 2 1)"

# ------------------------------------------------------- snapshot path
it_step "controller restarted with log-retain 2; agent 2 down for five changes"
it_stop_agent 2 KILL
it_stop_controller TERM
it_start_controller --log-retain 2
it_cli flag set f1 --default-variant on >/dev/null  # seq 8
it_cli flag enable f2 >/dev/null                    # seq 9
it_cli flag delete f4 >/dev/null                    # seq 10
it_cli flag create f5 --type bool --enabled >/dev/null # seq 11
it_cli flag create f6 --type bool --enabled >/dev/null # seq 12
it_wait_agent_seq 1 12
it_start_agent 2
it_wait_agent_seq 2 12
it_wait_flag 2 f6 1
it_wait_until "agent 2 snapshot resync line" 10 \
    test "$(resync_lines 2 1)" -gt "$snap0"
stats=$(it_agent_stats 2)
it_assert_eq "agent 2 resync_snapshots" 1 "$(it_stat resync_snapshots "$stats")"
expect 2 f1 'true "on" "STATIC" 3 false'
expect 2 f2 'true "on" "STATIC" 3 false'
expect_absent 2 f3
# Deleted while agent 2 was down and no longer in the log: only a
# snapshot that replaces the whole state removes it.
expect_absent 2 f4
expect 2 f5 'false "off" "STATIC" 1 false'
expect 1 f1 'true "on" "STATIC" 3 false'
expect_absent 1 f4

# ------------------------------------------------------ controller down
it_step "kill the controller: agents keep serving, then say stale"
it_stop_controller KILL
# Whether it is stale yet depends on timing; the answer does not.
it_assert_eq "agent 1 f1 just after the kill" 'true "on" "STATIC" 3' \
    "$(answer 1 f1 --key k | cut -d' ' -f1-4)"
it_wait_until "agent 1 stale" 15 is_stale 1 f1 true
it_wait_until "agent 2 stale" 15 is_stale 2 f1 true
expect 1 f1 'true "on" "STATIC" 3 true'
expect 2 f2 'true "on" "STATIC" 3 true'
grep -q 'RAMP-AGENT-STALE' "$WORK/a1.log" || it_fail "no RAMP-AGENT-STALE line"

it_step "restart agent 1 while the controller is down: last-known-good, stale"
it_stop_agent 1 TERM
it_start_agent 1
grep 'RAMP-AGENT-READY' "$WORK/a1.log" | tail -n 1 | grep ' seq=12 .*stale=1' >/dev/null ||
    it_fail "agent 1 not ready at seq 12, stale"
expect 1 f1 'true "on" "STATIC" 3 true'
expect 1 f2 'true "on" "STATIC" 3 true'
expect 1 f5 'false "off" "STATIC" 1 true'
expect_absent 1 f4
# Direct mode reads the same cache; it cannot tell staleness (the cache
# does not record heartbeats), so only the answer itself is compared.
it_assert_eq "direct mode on agent 1, f1" 'true "on" "STATIC" 3' \
    "$(it_eval_answer "$(it_eval_direct 1 f1 --key k)" | cut -d' ' -f1-4)"

it_step "controller back: agents fresh again and following changes"
it_start_controller --log-retain 2
it_wait_until "agent 1 fresh" 15 is_stale 1 f1 false
it_wait_until "agent 2 fresh" 15 is_stale 2 f1 false
it_cli flag disable f1 >/dev/null # seq 13
it_wait_flag 1 f1 4
it_wait_flag 2 f1 4
expect 1 f1 'false "off" "DISABLED" 4 false'
expect 2 f1 'false "off" "DISABLED" 4 false'
it_assert_eq "controller seq" 13 "$(it_healthz_seq)"
it_step "ok"
