#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The health path on real processes: an application (ramp_outcomes,
# libramp's ramp_observe) reports outcomes to its agent, in direct and
# ipc mode; the agent sends signed cumulative reports; the controller
# accepts them only from the enrolled agent (enrolled with the key
# `ramp-agent pubkey` prints, through POST /api/v1/agents) and refuses
# the other's. The controller's intake counters (RAMP-CTL-HEALTH-STATS on
# SIGUSR1) must equal, per arm, what the application reported: nothing
# lost, nothing counted twice, also across an agent restart (a new boot)
# and with reports every 200 ms carrying the same cumulative totals.
#
# Usage: health.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB OUTCOMES
. "$(dirname "$0")/lib.sh"
it_init "$@"
OUTCOMES=${6:-}
[ -x "$OUTCOMES" ] || it_fail "usage: health.sh ... OUTCOMES (ramp_outcomes)"

FLAG=it-health

# ctl_stats: SIGUSR1 the controller, print its newest stats line.
ctl_stats() {
    local n0 deadline
    n0=$(grep -c 'RAMP-CTL-HEALTH-STATS' "$CTL_LOG" || true)
    kill -USR1 "$CTL_PID"
    deadline=$(( $(it_now_ms) + 10000 ))
    while [ "$(grep -c 'RAMP-CTL-HEALTH-STATS' "$CTL_LOG" || true)" -le "$n0" ]; do
        [ "$(it_now_ms)" -lt "$deadline" ] || it_fail "controller: no stats"
        sleep 0.02
    done
    grep 'RAMP-CTL-HEALTH-STATS' "$CTL_LOG" | tail -n 1
}

# field NAME LINE: one key=value of a line.
field() {
    printf ' %s\n' "$2" | grep -o " $1=[0-9]*" | head -n 1 | sed 's/.*=//'
}

# Totals the applications reported to agent 1, per arm (successes +
# errors), summed over the runs.
T_NONE=0 T_TREAT=0 T_CTRL=0

# run_app TARGET N FAIL_EVERY PREFIX [COUNT]: one application run;
# COUNT=1 adds its outcomes to the totals above.
run_app() {
    local out
    out=$("$OUTCOMES" "$1" "$FLAG" "$2" "$3" 1500 "$4") ||
        it_fail "ramp_outcomes $1: exit $?"
    it_step "app $1 ($4): $out"
    it_assert_eq "unsent by $4" 0 "$(field unsent "$out")"
    it_assert_eq "errors of $4" 0 "$(field errors "$out")"
    if [ "${5:-0}" = 1 ]; then
        T_NONE=$(( T_NONE + $(field none_ok "$out") + $(field none_err "$out") ))
        T_TREAT=$(( T_TREAT + $(field treatment_ok "$out") + $(field treatment_err "$out") ))
        T_CTRL=$(( T_CTRL + $(field control_ok "$out") + $(field control_err "$out") ))
    fi
}

# totals_match: the controller took in exactly the application's totals.
totals_match() {
    local s
    s=$(ctl_stats)
    [ "$(field outcomes_none "$s")" = "$T_NONE" ] &&
        [ "$(field outcomes_treatment "$s")" = "$T_TREAT" ] &&
        [ "$(field outcomes_control "$s")" = "$T_CTRL" ]
}

it_start_controller

# ---------------------------------------------------------------- enroll
it_step "agent key: ramp-agent pubkey creates it 0600 and prints it"
mkdir -p "$WORK/a1" "$WORK/a2"
PK=$("$AGENT" pubkey --state-dir "$WORK/a1" 2>>"$WORK/tools.log") ||
    it_fail "ramp-agent pubkey: exit $?"
it_assert_match "pubkey is 64 hex digits" '^[0-9a-f]{64}$' "$PK"
it_assert_eq "key file mode" 600 "$(stat -c %a "$WORK/a1/agent.key")"
it_assert_eq "pubkey again: same key" "$PK" \
    "$("$AGENT" pubkey --state-dir "$WORK/a1" 2>>"$WORK/tools.log")"

it_step "enroll agent 1 (id it-host-1) through POST /api/v1/agents"
code=$(curl -sS -o "$WORK/enroll.json" -w '%{http_code}' --max-time 10 \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"id\":\"it-host-1\",\"public_key\":\"$PK\",\"host\":\"it-host-1\"}" \
    "$CTL_URL/api/v1/agents") || it_fail "enroll: curl failed"
if [ "$code" = 404 ] || [ "$code" = 405 ]; then
    # A tree without the agents route: the development switch instead,
    # which enrolls every agent (agent 2 included) by its ENROLL.
    it_step "no /api/v1/agents here ($code): open enrollment instead"
    it_stop_controller
    it_start_controller --open-enrollment true
    grep -q 'RAMP-CTL-OPEN-ENROLLMENT' "$CTL_LOG" ||
        it_fail "open enrollment not announced in the log"
    OPEN=1
else
    it_assert_eq "enroll status" 201 "$code"
    OPEN=0
fi

it_start_agent 1
it_start_agent 2 # its own key, never enrolled (unless OPEN)

# ------------------------------------------------------------------ flag
it_step "create $FLAG (bool) and a rollout at its first stage"
it_cli flag create "$FLAG" --type bool --enabled --json >/dev/null ||
    it_fail "flag create"
code=$(curl -sS -o "$WORK/rollout.json" -w '%{http_code}' --max-time 10 \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"flag\":\"$FLAG\",\"treatment\":\"on\",\"control\":\"off\",\"stages\":[5000,10000],\"policy\":{\"min_samples\":1000000}}" \
    "$CTL_URL/api/v1/rollouts") || it_fail "rollout: curl failed"
it_step "rollout create: $code (without one every arm is none)"
# rolled_out N: agent N serves the flag through its rollout (a split).
rolled_out() {
    "$CLI" eval "$FLAG" --key probe --agent "$(it_agent_target "$1")" \
        --json 2>/dev/null | grep '"SPLIT"' >/dev/null
}
for n in 1 2; do
    it_wait_flag "$n" "$FLAG" 1
    if [ "$code" = 201 ]; then
        it_wait_until "agent $n serves the rollout" 20 rolled_out "$n"
    fi
done

# ---------------------------------------------------------- outcomes
it_step "outcomes to agent 1 in direct and ipc mode, to agent 2 by ipc"
run_app "$(it_agent_direct 1)" 200 10 direct 1
run_app "$(it_agent_target 1)" 120 4 ipc 1
run_app "$(it_agent_target 2)" 50 5 other 0
it_assert_eq "some outcomes reported" 1 \
    "$(( T_NONE + T_TREAT + T_CTRL > 0 ))"

it_step "the controller's totals equal agent 1's ($T_NONE none, $T_TREAT treatment, $T_CTRL control)"
if [ "$OPEN" = 1 ]; then
    it_step "(open enrollment: agent 2's are not checked)"
    totals_match() {
        local s
        s=$(ctl_stats)
        [ "$(field outcomes_none "$s")" -ge "$T_NONE" ] &&
            [ "$(field accepted "$s")" -gt 0 ]
    }
fi
it_wait_until "controller totals" 30 totals_match
s=$(ctl_stats)
it_step "controller: $s"
it_assert_eq "agent 1's reports accepted" 1 "$(( $(field accepted "$s") > 5 ))"
if [ "$OPEN" = 0 ]; then
    it_assert_eq "agent 2's reports refused as not enrolled" 1 \
        "$(( $(field rejected_not_enrolled "$s") > 0 ))"
    it_assert_eq "no bad signatures" 0 "$(field rejected_bad_signature "$s")"
    it_assert_eq "no malformed" 0 "$(field rejected_malformed "$s")"
    it_assert_eq "one agent seen" 1 "$(field agents "$s")"
fi

# Several more reports carry the same cumulative totals: still equal.
sleep 1
totals_match || it_fail "totals moved without new outcomes: $(ctl_stats)"

# ------------------------------------------------------ a new boot
it_step "agent 1 restarts (new boot): its counters start from zero"
it_stop_agent 1
it_start_agent 1
run_app "$(it_agent_direct 1)" 80 3 again 1
it_wait_until "controller totals after the restart" 30 totals_match
a=$(grep 'RAMP-AGENT-HEALTH-STATS' "$WORK/a1.log" | tail -n 1)
it_step "agent 1 before its restart: $a"
it_assert_eq "agent 1 dropped nothing" 0 "$(field dropped_invalid "$a")"

it_step "SIGTERM stops the controller cleanly"
it_stop_controller
it_step "ok"
