#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A deployment gated on a growing share of hosts: a rollout with unit
# "host" across eight real agents (host ids it-host-1..8), promoted
# 25% -> 50% -> 100%, then a second one aborted. At every stage each
# agent's `ramp eval --host` must be exactly what proto's engine computes
# for that host id from the flag's JSON (salt included) and the stage
# (ramp_evaltool ref ... host BP), a host served the treatment stays on
# it as the share grows, 100% is every host and an abort none.
#
# Usage: host_gate.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"
N=8

it_start_controller
it_cli flag create gate --type bool --enabled >/dev/null
it_step "$N agents, host ids it-host-1..$N"
for n in $(seq 1 $N); do
    it_start_agent "$n"
done
for n in $(seq 1 $N); do
    it_wait_flag "$n" gate 1
done

# stage FLAG BP: wait until every agent serves what the engine computes
# for its host at BP basis points; leaves the answers in $WORK/want.BP.
stage() {
    local flag=$1 bp=$2 n
    it_cli flag get "$flag" --json >"$WORK/$flag.json"
    for n in $(seq 1 $N); do
        echo "- @host=it-host-$n"
    done | "$EVALTOOL" ref "$WORK/$flag.json" on off host "$bp" |
        awk '{ print $2 }' >"$WORK/want.$bp"
    [ "$(wc -l <"$WORK/want.$bp")" -eq "$N" ] ||
        it_fail "reference: $(cat "$WORK/want.$bp")"
    answers() {
        for n in $(seq 1 $N); do
            "$CLI" eval "$flag" --host --agent "$(it_agent_target "$n")" ||
                echo "exit-$?"
        done >"$WORK/got.$bp" 2>>"$WORK/tools.log"
        cmp -s "$WORK/got.$bp" "$WORK/want.$bp"
    }
    it_wait_until "every host served as computed at $bp bp" 20 answers
    echo "   $bp bp: $(paste -sd' ' "$WORK/got.$bp") (hosts 1..$N)"
}

it_step "a host-unit rollout at 25%, promoted to 50% and 100%"
it_cli rollout start gate --treatment on --control off --unit host \
    --stages 25,50,100 --bake 1h >/dev/null
stage gate 2500
it_cli rollout promote gate >/dev/null
stage gate 5000
it_cli rollout promote gate >/dev/null
# From the last stage, promote completes: the default becomes "on".
it_cli rollout promote gate >/dev/null
out=$(it_cli rollout status gate --json)
it_assert_match "completed" '"state":"completed"' "$out"
stage gate 10000

it_step "a host on the treatment stays on it as the share grows"
for n in $(seq 1 $N); do
    a=$(sed -n "${n}p" "$WORK/want.2500")
    b=$(sed -n "${n}p" "$WORK/want.5000")
    [ "$a" = off ] || [ "$b" = on ] ||
        it_fail "it-host-$n: on at 25% but off at 50%"
done
it_assert_eq "every host at 100%" "$N" "$(grep -c '^on$' "$WORK/want.10000")"

it_step "a second host rollout, aborted: every host back on control"
it_cli flag create gate2 --type bool --enabled >/dev/null
for n in $(seq 1 $N); do
    it_wait_flag "$n" gate2 1
done
it_cli rollout start gate2 --treatment on --control off --unit host \
    --stages 50,100 --bake 1h >/dev/null
stage gate2 5000
it_cli rollout abort gate2 >/dev/null
stage gate2 0
it_assert_eq "no host after the abort" 0 "$(grep -c '^on$' "$WORK/want.0" || true)"
it_step "ok"
