#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Rollouts on real processes: a controller, two enrolled agents (enrolled
# through POST /api/v1/agents with their own keys) and ramp-traffic
# driving each agent through libramp with outcomes that depend on the
# variant served. Short policies (checks every 500 ms, 3 s bakes):
#   - a healthy rollout advances by itself and completes, and its
#     treatment becomes the flag's default on every agent (no errors in
#     either arm: evidence comes fast enough for a short test);
#   - a bad one (8% errors in the treatment against 0.5%) rolls back by
#     itself, and every agent then serves control to everyone;
#   - a controller killed with SIGKILL mid-stage comes back at the same
#     stage with the same stage_entered_at (absolute times in LMDB) and
#     carries on.
#
# Usage: rollout.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB OUTCOMES
# ramp-traffic is found next to the CLI's build tree (client/tools), or
# at RAMP_IT_TRAFFIC.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

it_init "$@"
CLI_DIR=$(dirname "$CLI")
TRAFFIC=${RAMP_IT_TRAFFIC:-$(dirname "$CLI_DIR")/tools/ramp-traffic}
[ -x "$TRAFFIC" ] || it_fail "ramp-traffic not found at $TRAFFIC"

api() { # METHOD PATH [BODY]: prints the body; the status goes to $WORK/code
    local body=${3:-}
    curl -sS --max-time 10 -o "$WORK/api.out" -w '%{http_code}' -X "$1" \
        -H "Authorization: Bearer $TOKEN" \
        ${body:+-H 'Content-Type: application/json' -d "$body"} \
        "$CTL_URL$2" >"$WORK/code" || it_fail "curl $1 $2 failed"
    cat "$WORK/api.out"
}
field() { # NAME: a top-level string or number of $WORK/api.out
    sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" "$WORK/api.out" | head -1
}
state_of() { api GET "/api/v1/rollouts/$1" >/dev/null; field state; }
stage_of() { api GET "/api/v1/rollouts/$1" >/dev/null; field stage_index; }

it_start_controller --check-tick 100ms

it_step "enroll two agents by their public keys"
for n in 1 2; do
    mkdir -p "$WORK/a$n"
    pk=$("$AGENT" pubkey --state-dir "$WORK/a$n" 2>>"$WORK/tools.log") ||
        it_fail "ramp-agent pubkey: exit $?"
    api POST /api/v1/agents \
        "{\"id\":\"it-host-$n\",\"public_key\":\"$pk\",\"host\":\"it-host-$n\"}" \
        >/dev/null
    it_assert_eq "enroll $n" 201 "$(cat "$WORK/code")"
done
it_start_agent 1
it_start_agent 2

it_step "flags good and bad, enabled, default off"
for f in good bad; do
    api POST /api/v1/flags "{\"key\":\"$f\",\"type\":\"bool\",\"enabled\":true}" \
        >/dev/null
    it_assert_eq "create $f" 201 "$(cat "$WORK/code")"
done

POLICY='"policy":{"bake_ms":3000,"check_interval_ms":500,"max_stage_ms":60000,"min_samples":50,"failure_limit":2}'
for f in good bad; do
    api POST /api/v1/rollouts \
        "{\"flag\":\"$f\",\"treatment\":\"on\",\"control\":\"off\",\"stages\":[2500,5000,10000],$POLICY}" \
        >/dev/null
    it_assert_eq "start $f" 201 "$(cat "$WORK/code")"
done

it_step "traffic on both agents: bad's treatment fails 8% of the time"
for n in 1 2; do
    "$TRAFFIC" --agent "ipc://$WORK/a$n.sock" --flag good --flag bad \
        --profile good/on:err=0,p50=50ms,p95=100ms \
        --profile good/off:err=0,p50=50ms,p95=100ms \
        --profile bad/on:err=0.08,p50=50ms,p95=100ms \
        --profile bad/off:err=0.005,p50=50ms,p95=100ms \
        --rate 400 --keys 100000 --duration 300s \
        >>"$WORK/traffic$n.log" 2>&1 &
    it_track $!
done

is_state() { [ "$(state_of "$1")" = "$2" ]; }
at_stage() { [ "$(stage_of "$1")" = "$2" ]; }
serves() { # N FLAG VARIANT: agent N serves VARIANT of FLAG to a few keys
    local k out
    for k in u1 u2 u3 u4 u5; do
        out=$(it_eval "$1" "$2" --key "$k") || return 1
        [ "$(it_eval_answer "$out" | awk '{print $2}')" = "\"$3\"" ] ||
            return 1
    done
}

it_step "bad rolls back by itself"
it_wait_until "bad rolled back" 60 is_state bad rolled_back
api GET /api/v1/rollouts/bad/explain >/dev/null
grep -q '"action":"rollback"' "$WORK/api.out" ||
    it_fail "explain shows no rollback: $(cat "$WORK/api.out")"
grep -q 'RAMP-ROLLOUT-ROLLBACK flag=bad' "$CTL_LOG" ||
    it_fail "no RAMP-ROLLOUT-ROLLBACK line"
it_step "rollback publish: $(grep -o 'publish_us=[0-9]*' "$CTL_LOG" | head -1)"
for n in 1 2; do
    it_wait_until "agent $n serves bad=off" 10 serves "$n" bad off
done

it_step "good advances past stage 0 on evidence"
it_wait_until "good at stage 1" 60 at_stage good 1
api GET /api/v1/rollouts/good >/dev/null
entered=$(field stage_entered_at)
it_step "SIGKILL the controller mid-stage (stage 1 entered $entered)"
kill -KILL "$CTL_PID"
wait "$CTL_PID" 2>/dev/null || true
it_start_controller
api GET /api/v1/rollouts/good >/dev/null
it_assert_eq "same stage after restart" 1 "$(field stage_index)"
it_assert_eq "same stage_entered_at" "$entered" "$(field stage_entered_at)"

it_step "good completes; its treatment becomes the default"
it_wait_until "good completed" 90 is_state good completed
api GET /api/v1/flags/good >/dev/null
it_assert_eq "good's default" on "$(field default_variant)"
it_assert_eq "bad's state" rolled_back "$(state_of bad)"
for n in 1 2; do
    it_wait_until "agent $n serves good=on" 10 serves "$n" good on
done
it_step "ok"
