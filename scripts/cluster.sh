#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ramp's main job on an embedded default: a local controller and three
# agents on 127.0.0.1, in a temporary directory, driven by the ramp CLI.
# It creates a flag, watches every agent serve it (through its ipc socket
# and by reading its state directly), changes it, measures how fast each
# agent follows, stops the controller and shows the agents still serving,
# then stops everything and removes the directory.
#
#   scripts/cluster.sh [BUILD_DIR]      (default: build)
#   RAMP_KEEP=1 keeps the directory and prints its path.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
CTL=$B/controller/ramp-controller
AGENT=$B/agent/ramp-agent
CLI=$B/client/cli/ramp
for x in "$CTL" "$AGENT" "$CLI"; do
    [ -x "$x" ] || { echo "cluster: $x is missing; build first" >&2; exit 2; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/ramp-cluster.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "${RAMP_KEEP:-}" ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }
say() { printf '\n== %s\n' "$*"; }

# Ports below the ephemeral range, chosen free at start.
port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 9000))
        [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return; }
    done
}
P_PUB=$(port) P_RES=$(port) P_HEALTH=$(port) P_HTTP=$(port)
export RAMP_URL=http://127.0.0.1:$P_HTTP
: >"$W/controller.conf"

say "controller: signing key, an admin token, then the daemon"
"$CTL" keygen --out "$W/ctl.key" >/dev/null
RAMP_TOKEN=$("$CTL" token create --name demo --role admin \
    --config "$W/controller.conf" --data-dir "$W/ctl")
export RAMP_TOKEN
"$CTL" run --config "$W/controller.conf" --data-dir "$W/ctl" \
    --signing-key "$W/ctl.key" --pub-url "tcp://127.0.0.1:$P_PUB" \
    --resync-url "tcp://127.0.0.1:$P_RES" \
    --health-url "tcp://127.0.0.1:$P_HEALTH" \
    --http-addr "127.0.0.1:$P_HTTP" 2>"$W/ctl.log" &
CTL_PID=$!
PIDS+=("$CTL_PID")
until curl -sf "$RAMP_URL/healthz" >/dev/null 2>&1; do sleep 0.05; done
echo "listening on $RAMP_URL (updates on tcp://127.0.0.1:$P_PUB)"

say "three agents (hosts a1, a2, a3), each with its own LMDB state"
for n in 1 2 3; do
    "$AGENT" run --state-dir "$W/a$n" --controller-key "$W/ctl.key.pub" \
        --sub-url "tcp://127.0.0.1:$P_PUB" \
        --resync-url "tcp://127.0.0.1:$P_RES" \
        --query-url "ipc://$W/a$n.sock" --host-id "a$n" \
        --stale-after 2s --http-addr none 2>"$W/a$n.log" &
    PIDS+=("$!")
done
for n in 1 2 3; do
    until grep -q RAMP-AGENT-READY "$W/a$n.log" 2>/dev/null; do sleep 0.02; done
done
echo "all three ready"

cat >"$W/flag.json" <<'EOF'
{"key": "new-checkout", "type": "bool", "enabled": true,
 "description": "the new checkout flow",
 "rules": [{"clauses": [{"attribute": "country", "op": "in",
                         "values": ["nl", "be"]}], "variant": "on"},
           {"clauses": [], "split": [{"variant": "on", "weight": 2500},
                                     {"variant": "off", "weight": 7500}]}]}
EOF

# wait_all WHAT CMD...: until CMD succeeds for agent 1..3 ($n is set).
serve() { # agent key country -> "variant reason"
    "$CLI" eval new-checkout --key "$2" --attr "country=$3" \
        --agent "ipc://$W/a$1.sock" 2>/dev/null
}
propagate() { # expected variant for (user-7, nl) on every agent; prints ms
    local t0=$1 want=$2 n
    for n in 1 2 3; do
        until serve "$n" user-7 nl | grep -q "$want"; do sleep 0.005; done
        echo "  a$n serves it $(($(now_ms) - t0)) ms after the write (polled with the CLI, ~50 ms a call)"
    done
}

say "create new-checkout: NL and BE get it, everyone else a 25% split"
t0=$(now_ms)
"$CLI" flag create --file "$W/flag.json"
propagate "$t0" "variant: *on"

say "each agent answers, over ipc and by reading its state in-process"
for n in 1 2 3; do
    for who in "user-7 nl" "user-8 de" "user-9 us"; do
        set -- $who
        ipc=$("$CLI" eval new-checkout --key "$1" --attr "country=$2" \
            --agent "ipc://$W/a$n.sock" --json)
        dir=$("$CLI" eval new-checkout --key "$1" --attr "country=$2" \
            --agent "direct:$W/a$n" --json)
        [ "$ipc" = "$dir" ] || { echo "a$n: ipc and direct disagree" >&2; exit 1; }
        echo "  a$n $1 ($2): $ipc"
    done
done

say "kill switch: disable it and watch every agent follow"
t0=$(now_ms)
"$CLI" flag disable new-checkout >/dev/null
propagate "$t0" "DISABLED"

say "the audit log: who changed what"
"$CLI" audit

say "the controller goes away; the agents keep serving what they have"
kill -TERM "$CTL_PID"
wait "$CTL_PID" 2>/dev/null || true
sleep 2.5
for n in 1 2 3; do
    echo "  a$n: $(serve "$n" user-7 nl | tr -s ' \n' ' ')"
done
echo
echo "done: a flag written once was served on every host."
