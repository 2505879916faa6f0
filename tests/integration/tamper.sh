#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Hostile updates: an agent whose sub-url points at ramp_testpub (its
# resync-url at the real controller) is sent a forged envelope signed by
# another key under the pinned key's id, one under the other key's own
# id, a forged heartbeat, a real envelope with one payload byte changed,
# a replay of an old real envelope, a truncated one, random garbage and
# finally a message over the 16 MiB cap. Each is rejected and counted
# under its reason (RAMP-AGENT-STATS), nothing forged is ever served, and
# the agent keeps serving and following the real controller.
#
# Usage: tamper.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"

it_start_controller
CAP=$WORK/cap
mkdir -p "$CAP"

it_step "capture the controller's first two envelopes off its PUB socket"
"$TESTPUB" capture "$PUB_URL" "$WORK/ctl.key.pub" "$CAP" 2 20000 \
    >"$WORK/capture.out" 2>>"$WORK/tools.log" &
cap_pid=$!
it_track "$cap_pid"
# "ready" comes after the tool's first heartbeat: the controller's PUB
# has its pipe, so it misses nothing published from here on.
it_wait_until "capture tool subscribed" 20 test -e "$CAP/ready"
it_cli flag create victim --type bool --default-variant on >/dev/null # seq 1
it_cli flag create it-real --type bool --enabled >/dev/null # seq 2
wait "$cap_pid" || it_fail "capture tool failed; it printed: $(paste -sd, "$WORK/capture.out")"
it_assert_eq "captured" "1 FLAG_PUT,2 FLAG_PUT" \
    "$(paste -sd, "$WORK/capture.out")"

P_EVIL=$(it_free_port)
EVIL_URL=tcp://127.0.0.1:$P_EVIL
it_step "agent 1 subscribed to the forger at $EVIL_URL, resync at the controller"
it_start_agent 1 --sub-url "$EVIL_URL"
it_wait_agent_seq 1 2
it_wait_flag 1 it-real 1

it_step "forge"
"$CTL" keygen --out "$WORK/rogue.key" >/dev/null 2>>"$WORK/tools.log"
cat >"$WORK/victim-on.json" <<'EOF'
{"key": "victim", "type": "bool", "enabled": true, "default_variant": "on"}
EOF
cat >"$WORK/evil.json" <<'EOF'
{"key": "evil", "type": "bool", "enabled": true, "default_variant": "on"}
EOF
# Signed by the rogue key but carrying the pinned key's id.
"$TESTPUB" forge "$WORK/rogue.key" "$WORK/ctl.key.pub" flag_put 3 \
    "$WORK/victim-on.json" "$WORK/badsig.env"
# Signed by the rogue key under its own id: no such pinned key.
"$TESTPUB" forge "$WORK/rogue.key" - flag_put 3 \
    "$WORK/evil.json" "$WORK/unknown.env"
# A heartbeat far ahead: accepted, it would send the agent resyncing.
"$TESTPUB" forge "$WORK/rogue.key" "$WORK/ctl.key.pub" heartbeat 1000 \
    - "$WORK/heartbeat.env"
# The real envelope of seq 2 with one payload byte changed. The payload
# starts within the first 24 bytes (array, version, kind, seq, ts, bin
# header), so byte 30 of a flag envelope is payload.
cp "$CAP/2.env" "$WORK/tampered.env"
b=$(od -An -tu1 -j 30 -N 1 "$WORK/tampered.env" | tr -d ' ')
printf "\\$(printf %03o $(( b ^ 0x5a )))" |
    dd of="$WORK/tampered.env" bs=1 seek=30 conv=notrunc status=none
cmp -s "$CAP/2.env" "$WORK/tampered.env" && it_fail "tampering changed nothing"
# The real envelope of seq 1 again: the agent is at 2.
cp "$CAP/1.env" "$WORK/replay.env"
size=$(wc -c <"$CAP/2.env")
head -c $((size - 20)) "$CAP/2.env" >"$WORK/truncated.env"
head -c 300 /dev/urandom >"$WORK/garbage.env"

before=$(it_agent_stats 1)

it_step "publish the forgeries at agent 1"
timeout -k 2 40 "$TESTPUB" send "$EVIL_URL" 15000 50 "$WORK/badsig.env" "$WORK/unknown.env" \
    "$WORK/heartbeat.env" "$WORK/tampered.env" "$WORK/replay.env" \
    "$WORK/truncated.env" "$WORK/garbage.env" >>"$WORK/tools.log" 2>&1 ||
    it_fail "ramp_testpub send failed"

# The counters move as the agent handles the messages; wait for all
# seven, then compare exactly.
delta() {
    echo $(( $(it_stat "$1" "$after") - $(it_stat "$1" "$before") ))
}
handled() {
    after=$(it_agent_stats 1)
    local sum=0 c
    for c in bad_signature unknown_key replay malformed version wrong_kind; do
        sum=$((sum + $(delta "$c")))
    done
    [ "$sum" -ge 7 ]
}
it_wait_until "agent 1 to count seven rejections" 20 handled
after=$(it_agent_stats 1)
echo "   before: $before"
echo "   after:  $after"
it_assert_eq "bad_signature (forged, heartbeat, tampered)" 3 "$(delta bad_signature)"
it_assert_eq "unknown_key" 1 "$(delta unknown_key)"
it_assert_eq "replay" 1 "$(delta replay)"
# Random bytes are malformed, or (rarely) a well-formed array with a
# version other than 1: both are refusals before any key is looked at.
it_assert_eq "malformed + version (truncated, garbage)" 2 \
    $(( $(delta malformed) + $(delta version) ))
it_assert_eq "applied" 0 "$(delta applied)"
it_assert_eq "gap" 0 "$(delta gap)"
it_assert_eq "resync snapshots" 0 "$(delta resync_snapshots)"
grep -q 'RAMP-AGENT-UPDATE-DROP.*outcome=bad_signature' "$WORK/a1.log" ||
    it_fail "no RAMP-AGENT-UPDATE-DROP line for the bad signatures"

it_step "nothing forged is served; the real flags are"
it_alive "$(it_agent_pid 1)" || it_fail "agent 1 died"
it_assert_eq "agent seq" 2 "$(it_agent_seq 1)"
out=$(it_eval 1 victim --key k)
it_assert_eq "victim" 'false "off" "DISABLED" 1' \
    "$(it_eval_answer "$out" | cut -d' ' -f1-4)"
out=$(it_eval 1 it-real --key k)
it_assert_eq "it-real" 'false "off" "STATIC" 1' \
    "$(it_eval_answer "$out" | cut -d' ' -f1-4)"
rc=0
it_eval 1 evil --key k >/dev/null 2>&1 || rc=$?
it_assert_eq "eval of the forged flag: exit" 3 "$rc"
rc=0
it_eval_direct 1 evil --key k >/dev/null 2>&1 || rc=$?
it_assert_eq "direct eval of the forged flag: exit" 3 "$rc"

it_step "a real change, then a message over 16 MiB from the forger"
it_cli flag enable victim >/dev/null # seq 3
head -c $((17 * 1024 * 1024)) /dev/zero >"$WORK/huge.env"
n0=$(grep -c RAMP-AGENT-SUB-DISCONNECTED "$WORK/a1.log" || true)
timeout -k 2 40 "$TESTPUB" send "$EVIL_URL" 15000 0 "$WORK/huge.env" >>"$WORK/tools.log" 2>&1 ||
    it_fail "ramp_testpub send (huge) failed"
rm -f "$WORK/huge.env"
# nng refuses it by closing the connection; reconnecting makes the agent
# resync from the real controller, which brings seq 3.
it_wait_until "the oversize message to drop the connection" 10 \
    test "$(grep -c RAMP-AGENT-SUB-DISCONNECTED "$WORK/a1.log" || true)" -gt "$n0"
it_wait_flag 1 victim 2
it_alive "$(it_agent_pid 1)" || it_fail "agent 1 died"
out=$(it_eval 1 victim --key k)
it_assert_eq "victim after the real enable" 'true "on" "STATIC" 2' \
    "$(it_eval_answer "$out" | cut -d' ' -f1-4)"
after=$(it_agent_stats 1)
it_assert_eq "applied since the attack" 1 "$(delta applied)"
it_assert_eq "bad_signature still" 3 "$(delta bad_signature)"
it_step "ok"
