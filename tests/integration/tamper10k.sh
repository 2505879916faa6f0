#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Tampering at volume (docs/reliability.md). tamper.sh shows each kind of
# forgery once; this one sends RAMP_IT_TAMPER_COUNT (default 10,000) bad
# envelopes at an agent with ramp_tamper: mutated, truncated, signed by a
# rogue key under the pinned id or its own, replayed, ahead of the agent
# (reordered), of another version or random bytes, and of the wrong
# kind. Every one must be refused and counted (the agent's counters
# moved by exactly the number sent, applied by 0), nothing forged is
# served, and evaluations keep answering throughout.
#
# Then key rotation on a second agent: a KEY_ROTATE signed by the pinned
# key is applied, an envelope signed by the old key is refused after it
# (also after a restart), one signed by the new key is applied, and a
# KEY_ROTATE signed by the retired key is refused.
#
# Usage: tamper10k.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"
TAMPER=$(dirname "$TESTPUB")/ramp_tamper
[ -x "$TAMPER" ] || it_fail "not built: $TAMPER"
COUNT=${RAMP_IT_TAMPER_COUNT:-10000}
CHUNK=1000
SEED=${RAMP_IT_SEED:-$RANDOM}
echo "   seed $SEED (RAMP_IT_SEED=$SEED repeats this run)"

it_start_controller
it_cli flag create victim --type bool --default-variant on >/dev/null # seq 1
it_cli flag create it-real --type bool --enabled >/dev/null            # seq 2
"$CTL" keygen --out "$WORK/rogue.key" >/dev/null 2>>"$WORK/tools.log"
cat >"$WORK/victim-on.json" <<'EOF'
{"key": "victim", "type": "bool", "enabled": true, "default_variant": "on"}
EOF

P_EVIL=$(it_free_port)
EVIL_URL=tcp://127.0.0.1:$P_EVIL
it_step "agent 1 subscribed to ramp_tamper at $EVIL_URL, resync at the controller"
it_start_agent 1 --sub-url "$EVIL_URL" --recv-buffer 8192
it_wait_agent_seq 1 2
it_wait_flag 1 victim 1

REJECTS="bad_signature unknown_key replay gap malformed version oversize wrong_kind"
before=$(it_agent_stats 1)
delta() {
    echo $(( $(it_stat "$1" "$after") - $(it_stat "$1" "$before") ))
}
rejected() {
    local sum=0 c
    for c in $REJECTS; do
        sum=$((sum + $(delta "$c")))
    done
    echo "$sum"
}

# Evaluations go on during the storm: every answer must be the real
# state (victim disabled at version 1), from the agent's socket.
STOP=$WORK/stop-eval
evaluator() {
    set +e
    local out
    while [ ! -e "$STOP" ]; do
        out=$("$CLI" eval victim --key k --agent "$(it_agent_target 1)" \
            --json --timeout 5s 2>&1)
        echo "$? $(it_eval_answer "$out" | cut -d' ' -f1-4)" >>"$WORK/evals"
    done
}
: >"$WORK/evals"
evaluator &
EVAL_PID=$!
it_track "$EVAL_PID"

it_step "storm: $COUNT envelopes in chunks of $CHUNK"
mkfifo "$WORK/go"
exec 3<>"$WORK/go"
"$TAMPER" storm "$EVIL_URL" "$WORK/ctl.key" "$WORK/rogue.key" 2 \
    "$WORK/victim-on.json" "$COUNT" "$CHUNK" "$SEED" <&3 \
    >"$WORK/storm.out" 2>>"$WORK/tools.log" &
STORM_PID=$!
it_track "$STORM_PID"
t0=$(it_now_ms)
chunks=0
while :; do
    n=$(grep -c '^chunk ' "$WORK/storm.out" || true)
    if [ "$n" -gt "$chunks" ]; then
        chunks=$n
        want=$(grep '^chunk ' "$WORK/storm.out" | tail -n 1 | cut -d' ' -f2)
        counted() {
            after=$(it_agent_stats 1)
            [ "$(rejected)" -ge "$want" ]
        }
        it_wait_until "agent 1 to count $want rejections" 60 counted
        echo >&3
        [ "$want" -lt "$COUNT" ] || break
    fi
    it_alive "$STORM_PID" || break
    sleep 0.05
done
wait "$STORM_PID" || it_fail "ramp_tamper storm failed: $(tail -n 3 "$WORK/tools.log")"
exec 3>&-
t1=$(it_now_ms)
touch "$STOP"
wait "$EVAL_PID" 2>/dev/null || true

after=$(it_agent_stats 1)
echo "   before: $before"
echo "   after:  $after"
grep '^class ' "$WORK/storm.out" | sed 's/^/   sent /'
cls() { grep "^class $1 " "$WORK/storm.out" | cut -d' ' -f3; }
sent=$(grep '^class ' "$WORK/storm.out" | awk '{s += $3} END {print s}')
it_assert_eq "sent" "$COUNT" "$sent"
it_assert_eq "rejections counted" "$COUNT" "$(rejected)"
it_assert_eq "applied" 0 "$(delta applied)"
it_assert_eq "replay (replayed seqs)" "$(cls replay)" "$(delta replay)"
it_assert_eq "gap (reordered, ahead)" "$(cls reorder)" "$(delta gap)"
it_assert_eq "wrong_kind" "$(cls wrongkind)" "$(delta wrong_kind)"
[ "$(delta bad_signature)" -ge "$(cls badsig)" ] ||
    it_fail "bad_signature $(delta bad_signature) < $(cls badsig) forged"
[ "$(delta unknown_key)" -ge "$(cls unknown)" ] ||
    it_fail "unknown_key $(delta unknown_key) < $(cls unknown) sent"
it_alive "$(it_agent_pid 1)" || it_fail "agent 1 died"
it_assert_eq "agent seq" 2 "$(it_agent_seq 1)"
out=$(it_eval 1 victim --key k)
it_assert_eq "victim" 'false "off" "DISABLED" 1' \
    "$(it_eval_answer "$out" | cut -d' ' -f1-4)"
nev=$(wc -l <"$WORK/evals")
bad=$(grep -vc '^0 false "off" "DISABLED" 1$' "$WORK/evals" || true)
[ "$nev" -ge 1 ] || it_fail "no evaluation completed during the storm"
[ "$bad" -eq 0 ] || it_fail "$bad of $nev evaluations during the storm were wrong: $(grep -v '^0 false' "$WORK/evals" | head -n 3)"
it_step "storm: $COUNT sent, $COUNT refused and counted, 0 applied, $nev evaluations answered right during it ($(( t1 - t0 )) ms)"

# A real change still arrives (by resync: the agent's PUB is the forger).
it_cli flag enable victim >/dev/null # seq 3
timeout -k 2 20 "$TESTPUB" send "$EVIL_URL" 10000 0 "$WORK/victim-on.json" \
    >>"$WORK/tools.log" 2>&1 || true # any message: the reconnection resyncs
it_wait_flag 1 victim 2
after=$(it_agent_stats 1)
it_step "the agent follows the real controller after the storm"

# ------------------------------------------------------------ rotation
it_step "key rotation on agent 2 (resync at a dead port: only what is sent counts)"
P_EVIL2=$(it_free_port)
EVIL2_URL=tcp://127.0.0.1:$P_EVIL2
P_DEAD=$(it_free_port)
"$CTL" keygen --out "$WORK/next.key" >/dev/null 2>>"$WORK/tools.log"
cat >"$WORK/rot-a.json" <<'EOF'
{"key": "rot-a", "type": "bool", "enabled": true, "default_variant": "on"}
EOF
cat >"$WORK/rot-b.json" <<'EOF'
{"key": "rot-b", "type": "bool", "enabled": true, "default_variant": "on"}
EOF
cat >"$WORK/rot-c.json" <<'EOF'
{"key": "rot-c", "type": "bool", "enabled": true, "default_variant": "on"}
EOF
seal() { "$TAMPER" seal "$@" 2>>"$WORK/tools.log" || it_fail "seal $*"; }
seal "$WORK/ctl.key" flag_put 1 "$WORK/rot-a.json" "$WORK/r1.env"
seal "$WORK/ctl.key" key_rotate 2 "$WORK/next.key.pub" "$WORK/r2.env"
seal "$WORK/ctl.key" flag_put 3 "$WORK/rot-b.json" "$WORK/r3-old.env"
seal "$WORK/next.key" flag_put 3 "$WORK/rot-b.json" "$WORK/r3-new.env"
seal "$WORK/ctl.key" key_rotate 4 "$WORK/ctl.key.pub" "$WORK/r4-back.env"
seal "$WORK/ctl.key" flag_put 4 "$WORK/rot-c.json" "$WORK/r4-old.env"
seal "$WORK/next.key" flag_put 4 "$WORK/rot-c.json" "$WORK/r4-new.env"

it_start_agent 2 --sub-url "$EVIL2_URL" \
    --resync-url "tcp://127.0.0.1:$P_DEAD"
send2() {
    timeout -k 2 30 "$TESTPUB" send "$EVIL2_URL" 15000 30 "$@" \
        >>"$WORK/tools.log" 2>&1 || it_fail "ramp_testpub send $*"
}
st() {
    local line
    line=$(it_agent_stats 2)
    it_stat "$1" "$line"
}
send2 "$WORK/r1.env" "$WORK/r2.env" "$WORK/r3-old.env"
it_wait_agent_seq 2 2
it_wait_until "the old key's envelope refused" 10 \
    test "$(st unknown_key)" -ge 1
grep -q RAMP-AGENT-KEY-ROTATED "$WORK/a2.log" || it_fail "no RAMP-AGENT-KEY-ROTATED"
it_assert_eq "unknown_key after the rotation" 1 "$(st unknown_key)"
it_wait_flag 2 rot-a 999
rc=0
it_eval 2 rot-b --key k >/dev/null 2>&1 || rc=$?
it_assert_eq "rot-b (old key after rotation): exit" 3 "$rc"

send2 "$WORK/r3-new.env" "$WORK/r4-back.env"
it_wait_flag 2 rot-b 999
it_wait_until "the retired key's KEY_ROTATE refused" 10 \
    test "$(st unknown_key)" -ge 2
it_assert_eq "agent 2 seq" 3 "$(it_agent_seq 2)"

it_step "restart agent 2: the rotated pin is kept"
it_stop_agent 2 TERM
it_start_agent 2 --sub-url "$EVIL2_URL" \
    --resync-url "tcp://127.0.0.1:$P_DEAD"
it_assert_eq "agent 2 seq after restart" 3 "$(it_agent_seq 2)"
send2 "$WORK/r4-old.env"
it_wait_until "the old key refused after the restart" 10 \
    test "$(st unknown_key)" -ge 1
send2 "$WORK/r4-new.env"
it_wait_flag 2 rot-c 999
it_assert_eq "agent 2 seq" 4 "$(it_agent_seq 2)"
line=$(it_agent_stats 2)
it_assert_eq "applied after the restart" 1 "$(it_stat applied "$line")"
it_assert_eq "unknown_key after the restart" 1 "$(it_stat unknown_key "$line")"
it_step "ok: $COUNT tampered envelopes refused and counted; rotation applied, old key refused before and after a restart"
