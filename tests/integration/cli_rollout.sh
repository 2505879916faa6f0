#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The operator's side of rollouts on real processes: `ramp agent
# enroll|list|remove` with the key `ramp-agent pubkey` prints, `ramp
# rollout start|status|pause|resume|promote|abort|retry|explain|history|
# list` against a real controller (exit codes of refusals, nothing
# changed by a usage error), then two rollouts driven by ramp-traffic
# through a real agent: a healthy one (1% errors in both arms, judged
# against a +100% margin so that a short stage can show "no worse") that `status --wait` sees complete
# (exit 0) and a bad one it sees roll back (exit 1); `status --watch`
# without a terminal prints a line per change and ends with the rollout;
# `ramp eval --host` answers a host-unit rollout for the agent's host.
#
# ramp-traffic is found beside the CLI's build directory
# (client/tools/ramp-traffic).
#
# Usage: cli_rollout.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB [...]
. "$(dirname "$0")/lib.sh"
it_init "$@"
TRAFFIC=$(cd "$(dirname "$CLI")/../tools" && pwd)/ramp-traffic
[ -x "$TRAFFIC" ] || it_fail "ramp-traffic not found at $TRAFFIC"

# rc CMD...: the exit code of CMD, output to the tools log.
rc() {
    local r=0
    "$@" >>"$WORK/tools.log" 2>&1 || r=$?
    echo "$r"
}

state_of() {
    it_json_str state "$("$CLI" rollout status "$1" --json)"
}

it_start_controller --check-tick 100ms

# ---------------------------------------------------------------- agents
it_step "enroll agent it-1 with the key ramp-agent pubkey prints"
PK=$("$AGENT" pubkey --key-file "$WORK/a1.key" 2>>"$WORK/tools.log")
it_assert_match "pubkey" '^[0-9a-f]{64}$' "$PK"
out=$("$CLI" agent enroll it-1 --public-key "$PK" --host it-host-1.local)
it_assert_match "enroll prints the agent" "^id: +it-1$" "$out"
it_assert_eq "enroll again: conflict" 4 \
    "$(rc "$CLI" agent enroll it-1 --public-key "$PK")"
it_assert_eq "bad key: usage" 2 \
    "$(rc "$CLI" agent enroll it-2 --public-key abc)"
it_assert_eq "remove unknown: not found" 3 "$(rc "$CLI" agent remove it-9)"
"$CLI" agent enroll it-2 --public-key "$PK" >/dev/null
it_assert_eq "remove" "removed agent it-2" "$("$CLI" agent remove it-2)"
it_assert_match "list" "^it-1 +it-host-1.local +0 +never " \
    "$("$CLI" agent list)"
it_assert_eq "unknown token: unauthorized" 5 "$(RAMP_TOKEN=nope rc "$CLI" agent \
    enroll it-3 --public-key "$PK")"

it_start_agent 1 --key-file "$WORK/a1.key" --agent-id it-1

# ----------------------------------------------------------------- flags
for f in good bad; do
    "$CLI" flag create "$f" --type string --variant old=old --variant new=new \
        --default-variant old >/dev/null
    "$CLI" flag enable "$f" >/dev/null
done
"$CLI" flag create gate --type bool >/dev/null
"$CLI" flag enable gate >/dev/null
it_wait_flag 1 gate 2

# ------------------------------------------------------ refusals, actions
it_step "refusals change nothing"
it_assert_eq "bad stages: usage" 2 "$(rc "$CLI" rollout start good \
    --treatment new --control old --stages 50,25)"
it_assert_eq "no such variant: refused" 1 "$(rc "$CLI" rollout start good \
    --treatment nope --control old)"
it_assert_eq "no such flag" 3 "$(rc "$CLI" rollout start missing \
    --treatment new --control old)"
it_assert_eq "nothing started" "" \
    "$("$CLI" rollout list --json | grep -o '"flag"' || true)"
it_assert_eq "status of none" 3 "$(rc "$CLI" rollout status good)"

it_step "start, pause, resume, promote, abort, retry"
out=$("$CLI" rollout start good --treatment new --control old \
    --stages 10,50,100 --bake 1h --check 1s --reason "it start")
it_assert_match "start shows the stage" "^stage: +1/3 \(10%\)$" "$out"
it_assert_eq "start again: conflict" 4 "$(rc "$CLI" rollout start good \
    --treatment new --control old)"
it_assert_match "paused" "^state: +paused$" \
    "$("$CLI" rollout pause good --reason "it pause")"
it_assert_eq "pause twice: conflict" 4 "$(rc "$CLI" rollout pause good)"
it_assert_match "resumed" "^state: +running$" "$("$CLI" rollout resume good)"
it_assert_match "promoted" "^stage: +2/3 \(50%\)$" \
    "$("$CLI" rollout promote good)"
it_assert_match "aborted" "^state: +aborted$" \
    "$("$CLI" rollout abort good --reason "it abort")"
it_assert_eq "wait on aborted: 1" 1 \
    "$(rc "$CLI" rollout status good --wait --timeout 10s)"
it_assert_match "retried" "^stage: +1/3 \(10%\)$" "$("$CLI" rollout retry good)"
hist=$("$CLI" rollout history good)
for why in "it start" "it pause" "it abort"; do
    it_assert_match "history has '$why'" "$why" "$hist"
done
it_assert_match "list --state running" "^good +running " \
    "$("$CLI" rollout list --state running)"
it_assert_eq "explain answers" 0 "$(rc "$CLI" rollout explain good --limit 3)"
"$CLI" rollout abort good >/dev/null

# ------------------------------------------------------ judged rollouts
it_step "traffic through the agent: good is healthy, bad fails 30%"
"$TRAFFIC" --agent "$(it_agent_target 1)" --flag good --flag bad \
    --rate 2000 --keys 50000 --seed 7 --threads 2 \
    --profile "*:err=1%,p50=50ms,p95=120ms" \
    --profile "bad/new:err=30%,p50=50ms,p95=120ms" \
    >"$WORK/traffic.log" 2>&1 &
TRAFFIC_PID=$!
it_track "$TRAFFIC_PID"
"$CLI" rollout start bad --treatment new --control old --stages 20,50,100 \
    --bake 2s --check 500ms --min-samples 50 >/dev/null
# good: short bakes from here (a new rollout replaces the aborted one).
"$CLI" rollout start good --treatment new --control old --stages 20,50,100 \
    --bake 2s --check 1s --min-samples 50 --max-stage 120s >/dev/null

it_step "status --wait: bad rolls back (1), good completes (0)"
it_assert_eq "bad: wait exit" 1 \
    "$(rc "$CLI" rollout status bad --wait --timeout 60s)"
"$CLI" rollout status good --watch --wait --timeout 150s >"$WORK/watch.out" \
    2>&1 || it_fail "good: wait exit $? ($(tail -n 3 "$WORK/watch.out"))"
it_assert_match "watch: a line per change" "good running stage 1/3" \
    "$(cat "$WORK/watch.out")"
it_assert_match "watch: ends completed" "good completed stage 3/3" \
    "$(tail -n 1 "$WORK/watch.out")"
it_assert_eq "watch: no terminal codes" "" \
    "$(grep -c $'\033' "$WORK/watch.out" | grep -v '^0$' || true)"
it_assert_match "bad's explain shows a failing check" "verdict (fail|critical)" \
    "$("$CLI" rollout explain bad)"
it_assert_match "agent reports counted" "^it-1 +it-host-1.local +[1-9]" \
    "$("$CLI" agent list)"
it_assert_eq "wait on completed: 0" 0 \
    "$(rc "$CLI" rollout status good --wait --timeout 5s)"

# --------------------------------------------------------------- eval --host
it_step "eval --host: a host-unit rollout at 100% serves this host"
"$CLI" rollout start gate --treatment on --control off --unit host \
    --stages 100 --bake 1h >/dev/null
it_wait_until "agent serves gate on" 10 \
    sh -c "[ \"\$('$CLI' eval gate --host --agent '$(it_agent_target 1)')\" = on ]"
it_assert_eq "eval --host prints the variant alone" "on" \
    "$("$CLI" eval gate --host --agent "$(it_agent_target 1)")"
"$CLI" rollout abort gate >/dev/null
it_wait_until "agent serves gate off" 10 \
    sh -c "[ \"\$('$CLI' eval gate --host --agent '$(it_agent_target 1)')\" = off ]"

it_stop_pid ramp-traffic "$TRAFFIC_PID" TERM
it_step "ok"
