#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Health tampering at the controller (docs/reliability.md). A real agent,
# enrolled through the API, reports an application's outcomes every
# 200 ms while `ramp_tamper health` pushes RAMP_IT_TAMPER_COUNT (default
# 10,000) bad HEALTH messages at the controller's health socket in that
# agent's name: mutated (re-mutated until the signature fails), truncated,
# signed by a rogue key under the agent's key id (bad signature) or
# under the rogue key's own id (not enrolled), replays of an accepted
# report, and the wrong kind. Asserted, exactly:
#
#   - the intake refused every bad message and counted it by reason: the
#     rejection counters moved by COUNT; replays and wrong kinds at least
#     their class (mutations can land in any reason);
#   - everything it accepted came from the agent's identity and is in
#     that agent's report count (GET /api/v1/agents): the real agent's
#     reports plus the forger's one valid, empty report (and the agent's
#     ENROLL, repeated every 30 s, when one falls in the window);
#   - the real agent was served throughout: its reports kept being
#     accepted during the storm, it saw no send failure;
#   - the controller's per-arm sums equal what the application reported,
#     exactly: nothing forged was added.
#
# Usage: tamper_health.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB OUTCOMES
. "$(dirname "$0")/lib.sh"
it_init "$@"
OUTCOMES=${6:-}
[ -x "$OUTCOMES" ] || it_fail "usage: tamper_health.sh ... OUTCOMES (ramp_outcomes)"
TAMPER=$(dirname "$TESTPUB")/ramp_tamper
[ -x "$TAMPER" ] || it_fail "not built: $TAMPER"
COUNT=${RAMP_IT_TAMPER_COUNT:-10000}
SEED=${RAMP_IT_SEED:-$RANDOM}
FLAG=it-th
echo "   seed $SEED (RAMP_IT_SEED=$SEED repeats this run)"

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
field() {
    printf ' %s\n' "$2" | grep -o " $1=[0-9]*" | head -n 1 | sed 's/.*=//'
}
REASONS="malformed wrong_kind not_enrolled bad_signature agent_mismatch replay too_big full"
rejected() {
    local s=0 r
    for r in $REASONS; do
        s=$((s + $(field "rejected_$r" "$1")))
    done
    echo "$s"
}
# agent_reports: it-host-1's accepted reports, from GET /api/v1/agents.
agent_reports() {
    curl -sS --max-time 10 -H "Authorization: Bearer $TOKEN" \
        "$CTL_URL/api/v1/agents" |
        grep -o '"id":"it-host-1"[^}]*' | grep -o '"reports":[0-9]*' |
        cut -d: -f2
}

it_start_controller
it_step "agent 1 enrolled through the API; $FLAG with a rollout"
mkdir -p "$WORK/a1"
PK=$("$AGENT" pubkey --state-dir "$WORK/a1" 2>>"$WORK/tools.log") ||
    it_fail "ramp-agent pubkey"
code=$(curl -sS -o "$WORK/enroll.json" -w '%{http_code}' --max-time 10 \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"id\":\"it-host-1\",\"public_key\":\"$PK\"}" \
    "$CTL_URL/api/v1/agents")
it_assert_eq "enroll" 201 "$code"
it_start_agent 1
it_cli flag create "$FLAG" --type bool --enabled >/dev/null
code=$(curl -sS -o "$WORK/rollout.json" -w '%{http_code}' --max-time 10 \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"flag\":\"$FLAG\",\"treatment\":\"on\",\"control\":\"off\",\"stages\":[5000,10000],\"policy\":{\"min_samples\":1000000}}" \
    "$CTL_URL/api/v1/rollouts")
it_assert_eq "rollout" 201 "$code"
it_wait_flag 1 "$FLAG" 1
rolled_out() {
    "$CLI" eval "$FLAG" --key probe --agent "$(it_agent_target 1)" \
        --json 2>/dev/null | grep '"SPLIT"' >/dev/null
}
it_wait_until "agent 1 serves the rollout" 20 rolled_out
"$CTL" keygen --out "$WORK/rogue.key" >/dev/null 2>>"$WORK/tools.log"

# The application's outcomes, summed per arm, over every run.
T_NONE=0 T_TREAT=0 T_CTRL=0
app() {
    local out
    out=$("$OUTCOMES" "$(it_agent_target 1)" "$FLAG" "$1" 7 1500 "$2") ||
        it_fail "ramp_outcomes: exit $?"
    T_NONE=$(( T_NONE + $(field none_ok "$out") + $(field none_err "$out") ))
    T_TREAT=$(( T_TREAT + $(field treatment_ok "$out") + $(field treatment_err "$out") ))
    T_CTRL=$(( T_CTRL + $(field control_ok "$out") + $(field control_err "$out") ))
}
totals_match() {
    local s
    s=$(ctl_stats)
    [ "$(field outcomes_none "$s")" = "$T_NONE" ] &&
        [ "$(field outcomes_treatment "$s")" = "$T_TREAT" ] &&
        [ "$(field outcomes_control "$s")" = "$T_CTRL" ]
}
app 100 before
it_wait_until "the controller's totals before the storm (none $T_NONE, treatment $T_TREAT, control $T_CTRL)" 30 totals_match
# snap: the intake's counters and it-host-1's report count around them:
# SNAP_RA before, SNAP_RB after (equal when no report came in between;
# a slow controller, as under ASan, may never give that).
snap() {
    local i
    for i in 1 2 3 4 5; do
        SNAP_RA=$(agent_reports)
        SNAP_S=$(ctl_stats)
        SNAP_RB=$(agent_reports)
        [ "$SNAP_RA" != "$SNAP_RB" ] || break
    done
    SNAP_T=$(it_now_ms)
}
snap
S0=$SNAP_S R0=$SNAP_RA R0B=$SNAP_RB T0=$SNAP_T
# agent_hstats: agent 1's health counters (SIGUSR1).
agent_hstats() {
    local n0 deadline
    n0=$(grep -c 'RAMP-AGENT-HEALTH-STATS' "$WORK/a1.log" || true)
    kill -USR1 "$(it_agent_pid 1)"
    deadline=$(( $(it_now_ms) + 10000 ))
    while [ "$(grep -c 'RAMP-AGENT-HEALTH-STATS' "$WORK/a1.log" || true)" -le "$n0" ]; do
        [ "$(it_now_ms)" -lt "$deadline" ] || it_fail "agent 1: no health stats"
        sleep 0.02
    done
    grep 'RAMP-AGENT-HEALTH-STATS' "$WORK/a1.log" | tail -n 1
}
A0=$(agent_hstats)

it_step "storm: $COUNT bad health messages in it-host-1's name, outcomes flowing"
"$TAMPER" health "tcp://127.0.0.1:$P_HEALTH" "$WORK/a1/agent.key" \
    "$WORK/rogue.key" it-host-1 "$COUNT" "$SEED" >"$WORK/storm.out" \
    2>>"$WORK/tools.log" &
STORM_PID=$!
it_track "$STORM_PID"
t0=$(it_now_ms)
# The application keeps reporting outcomes during the storm (runs of 20,
# their summaries in apps.out); meanwhile it-host-1's accepted report
# count is sampled every 100 ms.
: >"$WORK/apps.out"
(
    set +e
    n=0
    while [ ! -e "$WORK/storm.done" ]; do
        "$OUTCOMES" "$(it_agent_target 1)" "$FLAG" 20 7 1500 "storm$n" \
            >>"$WORK/apps.out" || echo "FAILED $?" >>"$WORK/apps.out"
        n=$((n + 1))
    done
) &
APPS_PID=$!
it_track "$APPS_PID"
during=()
while it_alive "$STORM_PID"; do
    during+=("$(agent_reports)")
    sleep 0.1
done
wait "$STORM_PID" || it_fail "ramp_tamper health failed: $(tail -n 3 "$WORK/tools.log")"
touch "$WORK/storm.done"
wait "$APPS_PID" || true
! grep -q '^FAILED' "$WORK/apps.out" || it_fail "ramp_outcomes failed during the storm"
while read -r line; do
    T_NONE=$(( T_NONE + $(field none_ok "$line") + $(field none_err "$line") ))
    T_TREAT=$(( T_TREAT + $(field treatment_ok "$line") + $(field treatment_err "$line") ))
    T_CTRL=$(( T_CTRL + $(field control_ok "$line") + $(field control_err "$line") ))
done <"$WORK/apps.out"
t1=$(it_now_ms)
grep '^class ' "$WORK/storm.out" | sed 's/^/   sent /'
cls() { grep "^class $1 " "$WORK/storm.out" | cut -d' ' -f3; }
sent=$(grep '^class ' "$WORK/storm.out" | awk '{ s += $3 } END { print s }')
it_assert_eq "sent" "$COUNT" "$sent"
grep -q '^valid 1$' "$WORK/storm.out" || it_fail "no valid first report sent"

app 50 after
counted() {
    S1=$(ctl_stats)
    [ "$(( $(rejected "$S1") - $(rejected "$S0") ))" -ge "$COUNT" ]
}
it_wait_until "the controller to count $COUNT rejections" 60 counted
it_wait_until "the controller's totals after the storm (none $T_NONE, treatment $T_TREAT, control $T_CTRL)" 30 totals_match
sleep 1 # reports keep coming: the totals stay
totals_match || it_fail "totals moved without new outcomes: $(ctl_stats)"
snap
S1=$SNAP_S R1=$SNAP_RB R1A=$SNAP_RA T1=$SNAP_T
d() { echo $(( $(field "$1" "$S1") - $(field "$1" "$S0") )); }
echo "   before: $S0"
echo "   after:  $S1"
it_assert_eq "received = accepted + rejected" "$(d received)" \
    "$(( $(d accepted) + $(rejected "$S1") - $(rejected "$S0") ))"
it_assert_eq "rejected" "$COUNT" "$(( $(rejected "$S1") - $(rejected "$S0") ))"
it_assert_eq "replay (replayed reports)" "$(cls replay)" "$(d rejected_replay)"
[ "$(d rejected_wrong_kind)" -ge "$(cls wrongkind)" ] ||
    it_fail "wrong_kind $(d rejected_wrong_kind) < $(cls wrongkind) sent"
[ "$(( $(d rejected_bad_signature) + $(d rejected_not_enrolled) ))" -ge "$(cls rogue)" ] ||
    it_fail "bad_signature + not_enrolled < $(cls rogue) rogue-signed"
# The agent also repeats its ENROLL every 30 s: accepted (already
# enrolled, same key) but not a report.
# Between the snapshots it-host-1's count grew by at least R1A - R0B
# and at most R1 - R0 (equal when both were taken cleanly).
lo=$(( R1A - R0B ))
hi=$(( R1 - R0 + (T1 - T0) / 30000 + 1 ))
[ "$(d accepted)" -ge "$lo" ] && [ "$(d accepted)" -le "$hi" ] ||
    it_fail "accepted $(d accepted) is not it-host-1's $lo..$(( R1 - R0 )) reports plus its ENROLLs"
it_assert_eq "agents seen" 1 "$(field agents "$S1")"
# The real agent was served during the storm: its count grew while the
# forger sent, and the agent saw no send fail.
[ "${#during[@]}" -ge 2 ] ||
    it_fail "the storm was too short to sample service twice ($(( t1 - t0 )) ms)"
first=${during[0]}
last=${during[${#during[@]} - 1]}
[ "$last" -gt "$first" ] ||
    it_fail "agent 1's reports were not accepted during the storm ($first -> $last)"
A1=$(agent_hstats)
it_assert_eq "agent 1 send failures" "$(field reports_failed "$A0")" \
    "$(field reports_failed "$A1")"
it_alive "$CTL_PID" || it_fail "the controller died"
by=$(for r in $REASONS; do
    v=$(d "rejected_$r")
    [ "$v" = 0 ] || printf '%s %s, ' "$r" "$v"
done | sed 's/, $//')
it_step "ok: $COUNT bad health messages refused and counted in $(( t1 - t0 )) ms ($by); agent 1: $(( last - first )) reports accepted during the storm (${#during[@]} samples), $(( R1 - R0 )) in all; sums equal the application's ($T_NONE none, $T_TREAT treatment, $T_CTRL control)"
