#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ramp's main job on an embedded default: a local controller and three
# enrolled agents on 127.0.0.1, in a temporary directory, with synthetic
# application traffic (ramp-traffic, through libramp) and two progressive
# rollouts with short bakes that you watch:
#   checkout: redesign is as good as classic  -> reaches 100%, completed
#   search:   v2 fails 8% of its requests      -> rolled back on its own
# then each rollout's final state, its last checks (explain) and history.
#
#   scripts/cluster.sh [demo] [--ci] [BUILD_DIR]   (default: build)
#   scripts/cluster.sh slice [BUILD_DIR]    flags only: propagation, kill
#                                           switch, serving without the
#                                           controller
#   --ci: no live view; exit 0 only if checkout completed and search
#         rolled back (RAMP_DEMO_TIMEOUT bounds each wait, default 600 s).
#   RAMP_KEEP=1 keeps the directory and prints its path.
# Ctrl-C stops every process it started and removes the directory; each
# run starts from nothing, so it can run again at once.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=demo CI= B=build
for a in "$@"; do
    case $a in
    demo | slice) MODE=$a ;;
    --ci) CI=1 ;;
    -*) echo "cluster: unknown option $a" >&2; exit 2 ;;
    *) B=$a ;;
    esac
done
CTL=$B/controller/ramp-controller
AGENT=$B/agent/ramp-agent
CLI=$B/client/cli/ramp
TRAFFIC=$B/client/tools/ramp-traffic
for x in "$CTL" "$AGENT" "$CLI" "$TRAFFIC"; do
    [ -x "$x" ] || { echo "cluster: $x is missing; build first" >&2; exit 2; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/ramp-cluster.XXXXXX")
PIDS=()
cleanup() {
    local p
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "${RAMP_KEEP:-}" ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'echo; echo "interrupted: stopping everything"; exit 130' INT TERM

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
# The embedded default: the rollout engine looks for due checks twice a
# second (the demo's checks are every 2 s).
echo "check-tick = 500ms" >"$W/controller.conf"

say "controller: signing key, an admin token, then the daemon"
"$CTL" keygen --out "$W/ctl.key" >/dev/null
RAMP_TOKEN=$("$CTL" token create --name demo --role admin \
    --config "$W/controller.conf" --data-dir "$W/ctl" 2>>"$W/ctl.log")
export RAMP_TOKEN
"$CTL" run --config "$W/controller.conf" --data-dir "$W/ctl" \
    --signing-key "$W/ctl.key" --pub-url "tcp://127.0.0.1:$P_PUB" \
    --resync-url "tcp://127.0.0.1:$P_RES" \
    --health-url "tcp://127.0.0.1:$P_HEALTH" \
    --http-addr "127.0.0.1:$P_HTTP" 2>"$W/ctl.log" &
CTL_PID=$!
PIDS+=("$CTL_PID")
until curl -sf "$RAMP_URL/healthz" >/dev/null 2>&1; do
    kill -0 "$CTL_PID" 2>/dev/null || { cat "$W/ctl.log" >&2; exit 1; }
    sleep 0.05
done
echo "listening on $RAMP_URL (updates on tcp://127.0.0.1:$P_PUB)"

say "three agents (hosts a1, a2, a3), each enrolled with its own key"
for n in 1 2 3; do
    pk=$("$AGENT" pubkey --key-file "$W/a$n.key" 2>>"$W/a$n.log")
    "$CLI" agent enroll "a$n" --public-key "$pk" --host "a$n.local" >/dev/null
    "$AGENT" run --state-dir "$W/a$n" --controller-key "$W/ctl.key.pub" \
        --sub-url "tcp://127.0.0.1:$P_PUB" \
        --resync-url "tcp://127.0.0.1:$P_RES" \
        --health-url "tcp://127.0.0.1:$P_HEALTH" --report-interval 500ms \
        --key-file "$W/a$n.key" --agent-id "a$n" \
        --query-url "ipc://$W/a$n.sock" --outcome-url "ipc://$W/a$n.out" \
        --host-id "a$n" --stale-after 2s --http-addr none 2>"$W/a$n.log" &
    PIDS+=("$!")
done
for n in 1 2 3; do
    until grep -q RAMP-AGENT-READY "$W/a$n.log" 2>/dev/null; do sleep 0.02; done
done
echo "all three ready"

demo() {
    local flag t r state want rc=0

    say "two flags: checkout (classic | redesign), search (v1 | v2)"
    "$CLI" flag create checkout --type string --variant classic=classic \
        --variant redesign=redesign --default-variant classic \
        --description "the checkout page" >/dev/null
    "$CLI" flag create search --type string --variant v1=v1 --variant v2=v2 \
        --default-variant v1 --description "the search backend" >/dev/null
    "$CLI" flag enable checkout >/dev/null
    "$CLI" flag enable search >/dev/null
    "$CLI" flag list

    say "application traffic: 3 x 700 evaluations/s over 100000 users"
    # What each variant does to a request: redesign is exactly as good as
    # classic (1% errors); search v2 fails 8% of its requests, is slower.
    for n in 1 2 3; do
        "$TRAFFIC" --agent "ipc://$W/a$n.sock" --flag checkout --flag search \
            --rate 700 --keys 100000 --seed "$n" --threads 1 \
            --profile "checkout/classic:err=1%,p50=80ms,p95=200ms" \
            --profile "checkout/redesign:err=1%,p50=80ms,p95=200ms" \
            --profile "search/v1:err=0.5%,p50=40ms,p95=120ms" \
            --profile "search/v2:err=8%,p50=60ms,p95=300ms" \
            >"$W/traffic$n.log" 2>&1 &
        PIDS+=("$!")
    done
    sleep 2
    tail -n 1 "$W/traffic1.log"

    say "two rollouts: 5% 25% 50% 100%, 20 s bakes, a check every 2 s"
    for flag in checkout search; do
        case $flag in
        checkout) t=redesign r=classic ;;
        *) t=v2 r=v1 ;;
        esac
        "$CLI" rollout start "$flag" --treatment "$t" --control "$r" \
            --stages 5,25,50,100 --bake 20s --check 2s --max-stage 5m \
            --reason "demo" >/dev/null
        echo "  started $flag: $t against $r"
    done
    echo
    echo "Watch them from another terminal:"
    echo "  RAMP_URL=$RAMP_URL RAMP_TOKEN=$RAMP_TOKEN \\"
    echo "    $CLI rollout status --watch checkout"
    echo "  (or search; and rollout explain, rollout history, rollout list)"
    if [ -n "$CI" ]; then
        for flag in checkout search; do
            "$CLI" rollout status "$flag" --watch --wait \
                --timeout "${RAMP_DEMO_TIMEOUT:-600}s" || true
        done
    else
        for flag in search checkout; do
            say "ramp rollout status --watch $flag"
            "$CLI" rollout status "$flag" --watch || true
        done
    fi

    for flag in checkout search; do
        say "$flag: final state, the last checks, the history"
        "$CLI" rollout status "$flag" || true
        echo
        "$CLI" rollout explain "$flag" --limit 2 || true
        echo
        "$CLI" rollout history "$flag" || true
    done
    say "what user-1 gets now, on a1"
    for flag in checkout search; do
        echo "  $flag: $("$CLI" eval "$flag" --key user-1 \
            --agent "ipc://$W/a1.sock" --json 2>&1)"
    done
    echo
    for flag in checkout search; do
        state=$("$CLI" rollout status "$flag" --json |
            sed -n 's/.*"state":"\([a-z_]*\)".*/\1/p')
        want=rolled_back
        [ "$flag" = checkout ] && want=completed
        if [ "$state" = "$want" ]; then
            echo "ok: $flag $state"
        else
            echo "FAIL: $flag is ${state:-unknown}, expected $want" >&2
            rc=1
        fi
    done
    return $rc
}

if [ "$MODE" = demo ]; then
    demo
    exit
fi

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
        until serve "$n" user-7 nl | grep "$want" >/dev/null; do sleep 0.005; done
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
