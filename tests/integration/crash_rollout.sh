#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Crash safety of a rollout as the engine advances it (docs/reliability.md).
# Twenty simulated agents (ramp_loadagents) report healthy traffic for
# the rollout's flag; the engine checks every 500 ms and advances each
# stage after a 2 s bake. Meanwhile the controller is killed with SIGKILL
# RAMP_IT_CRASH_ITER times (default 8), 0.2..1.8 s apart, and restarted;
# when a rollout completes, a new one of the flag replaces it.
# Asserted:
#
#   - after every restart the rollout is where it was, or one transition
#     further (one committed between the last look and the kill): its
#     history begins with the history seen before the kill, unchanged;
#     when its stage is the same, so is stage_entered_at, so the rest of
#     the bake is what it was (the bake does not start again), and it is
#     the same rollout (id);
#   - the history never holds a transition twice: each stage is entered
#     once, in order, and each rollout completes exactly once, with as
#     many rollout.advance and rollout.complete records in the audit log;
#   - the LMDB files read whole after every kill (mdb_stat, mdb_dump);
#   - at the end the flag serves the treatment as its default, and an
#     agent that followed the whole time serves it too.
#
# Usage: crash_rollout.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"
LOADTOOL=$(dirname "$TESTPUB")/ramp_loadagents
[ -x "$LOADTOOL" ] || it_fail "not built: $LOADTOOL"
command -v mdb_stat >/dev/null || it_fail "mdb_stat (lmdb-utils) is needed"
command -v mdb_dump >/dev/null || it_fail "mdb_dump (lmdb-utils) is needed"
ITER=${RAMP_IT_CRASH_ITER:-8}
FLAG=it-cr
STAGES="[1000,5000,10000]"
NSTAGES=3

it_start_controller
it_start_agent 1
API=$CTL_URL/api/v1
AUTH="Authorization: Bearer $TOKEN"
it_cli flag create "$FLAG" --type bool --enabled >/dev/null

it_step "20 simulated agents report healthy traffic"
"$LOADTOOL" "$CTL_URL" "tcp://127.0.0.1:$P_HEALTH" 20 3600 1 "${RAMP_IT_SEED:-$RANDOM}" \
    "$FLAG:on:off" </dev/null >"$WORK/load.out" 2>>"$WORK/tools.log" &
it_track "$!"
it_wait_until "the agents enrolled" 60 grep -q '^enrolled ' "$WORK/load.out"

# start_rollout: a new rollout of the flag (a finished one is replaced).
ROUNDS=0
start_rollout() {
    local code
    code=$(curl -sS --max-time 10 -o "$WORK/r.json" -w '%{http_code}' \
        -H "$AUTH" -H 'Content-Type: application/json' \
        -d "{\"flag\":\"$FLAG\",\"treatment\":\"on\",\"control\":\"off\",\"stages\":$STAGES,\"policy\":{\"bake_ms\":2000,\"check_interval_ms\":500,\"max_stage_ms\":600000,\"min_samples\":20,\"failure_limit\":50,\"error_rate_relative\":100,\"p95_relative\":100}}" \
        "$API/rollouts")
    it_assert_eq "rollout start" 201 "$code"
    ROUNDS=$((ROUNDS + 1))
}
it_step "start the rollout: stages $STAGES, bake 2 s, a check every 500 ms"
start_rollout

# look: "state stage_index stage_entered_at" and the history as one
# line per transition ("from to stage_index"), in $WORK/hist.
look() {
    local out
    out=$(curl -sS --max-time 10 -H "$AUTH" "$API/rollouts/$FLAG") || return 1
    grep -q '"history"' <<<"$out" || return 1
    printf '%s' "$out" | sed 's/.*"history":\[//; s/\].*//' |
        grep -oE '"from":"[a-z_]+","to":"[a-z_]+","stage_index":[0-9]+' |
        sed 's/"from":"\([a-z_]*\)","to":"\([a-z_]*\)","stage_index":\([0-9]*\)/\1 \2 \3/' \
        >"$WORK/hist"
    echo "$(it_json_str state "$out") $(it_json_num stage_index "$out") $(it_json_str stage_entered_at "$out") $(it_json_num id "$out")"
}
check_store() {
    mdb_stat -a "$CTL_DATA" >"$WORK/mdb_stat.out" 2>&1 ||
        it_fail "mdb_stat failed: $(tail -n 3 "$WORK/mdb_stat.out")"
    mdb_dump -a "$CTL_DATA" >/dev/null 2>"$WORK/mdb_dump.err" ||
        it_fail "mdb_dump failed: $(cat "$WORK/mdb_dump.err")"
}
# Each stage entered once, in order; at most one completion.
check_history() {
    awk -v n="$NSTAGES" '
        $1 == "pending" && $2 == "running" && $3 == 0 && NR == 1 { next }
        $1 == "running" && $2 == "running" && $3 == want + 1 { want = $3; next }
        $2 == "completed" && !done && want == n - 1 { done = 1; next }
        { print "bad transition " NR ": " $0; bad = 1 }
        END { exit bad }' "$WORK/hist" ||
        it_fail "history: $(tr '\n' ';' <"$WORK/hist")"
}

kills=0
while [ "$kills" -lt "$ITER" ]; do
    sleep "$(( RANDOM % 2 )).$(( 200 + RANDOM % 800 ))"
    before=$(look) || it_fail "no rollout before kill $((kills + 1))"
    cp "$WORK/hist" "$WORK/hist.before"
    read -r st0 si0 at0 id0 <<<"$before"
    if [ "$st0" = completed ]; then
        check_history
        it_step "rollout $ROUNDS (id $id0) completed; another one"
        start_rollout
        continue
    fi
    kill -KILL "$CTL_PID"
    wait "$CTL_PID" 2>/dev/null || true
    CTL_PID=
    kills=$((kills + 1))
    check_store
    it_start_controller
    after=$(look) || it_fail "no rollout after restart $kills"
    read -r st1 si1 at1 id1 <<<"$after"
    it_assert_eq "kill $kills: rollout id" "$id0" "$id1"
    # The history seen before the kill is still its beginning.
    head -n "$(wc -l <"$WORK/hist.before")" "$WORK/hist" |
        cmp -s - "$WORK/hist.before" ||
        it_fail "history rewritten by kill $kills: before $(tr '\n' ';' <"$WORK/hist.before") after $(tr '\n' ';' <"$WORK/hist")"
    check_history
    extra=$(( $(wc -l <"$WORK/hist") - $(wc -l <"$WORK/hist.before") ))
    [ "$extra" -le 1 ] ||
        it_fail "kill $kills: $extra transitions between the last look and the restart"
    if [ "$si1" = "$si0" ] && [ "$st1" = "$st0" ]; then
        it_assert_eq "kill $kills: stage $si0 entered at" "$at0" "$at1"
    fi
    it_step "kill $kills/$ITER: $st0 stage $si0 (entered $at0) -> $st1 stage $si1 (entered $at1)"
done

it_step "the rollout completes"
done_() { [ "$(look | cut -d' ' -f1)" = completed ]; }
it_wait_until "the rollout to complete" 120 done_
look >/dev/null
check_history
it_assert_eq "transitions" $(( NSTAGES + 1 )) "$(wc -l <"$WORK/hist")"
: >"$WORK/audit"
before=
while :; do
    q="flag=$FLAG&limit=1000"
    [ -z "$before" ] || q="$q&before=$before"
    page=$(curl -sS --max-time 10 -H "$AUTH" "$API/audit?$q")
    printf '%s' "$page" | grep -o '"action":"rollout\.[a-z_]*"' >>"$WORK/audit" || true
    before=$(it_json_num next "$page")
    [ "$before" != null ] && [ -n "$before" ] || break
done
it_assert_eq "rollout.advance audit records ($ROUNDS rollouts)" \
    $(( (NSTAGES - 1) * ROUNDS )) "$(grep -c 'rollout.advance' "$WORK/audit" || true)"
it_assert_eq "rollout.complete audit records" "$ROUNDS" \
    "$(grep -c 'rollout.complete' "$WORK/audit" || true)"
out=$(it_cli flag get "$FLAG" --json)
it_assert_eq "default variant after completion" on \
    "$(it_json_str default_variant "$out")"
it_wait_flag 1 "$FLAG" "$(it_json_num version "$out")" 30
out=$(it_eval 1 "$FLAG" --key someone)
it_assert_eq "agent 1 serves the treatment" on \
    "$(it_eval_answer "$out" | cut -d' ' -f2 | tr -d '"')"
it_stop_controller TERM
check_store
it_step "ok: $kills kills while $ROUNDS rollouts advanced; each stage entered once, each rollout completed once; bakes resumed, not restarted"
