#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Load (docs/reliability.md): RAMP_IT_LOAD_AGENTS (default 1000) agents,
# simulated in one process by ramp_loadagents, each with its own Ed25519
# key enrolled through POST /api/v1/agents, send a signed cumulative
# health report every second for RAMP_IT_LOAD_SECONDS (default 60; the
# long form is 600) to a real controller that runs three rollouts (a
# long bake keeps them at stage 0). Asserted, all exact:
#
#   - every message the controller received was accepted or refused by a
#     counted reason (received = accepted + rejected), none was refused,
#     and it accepted exactly the reports the tool sent (the tool counts
#     sends that failed; they lose nothing, counters being cumulative);
#   - the agents' report counts in GET /api/v1/agents add up to the same;
#   - per arm, the intake took in exactly the evaluations and outcomes the
#     tool produced (RAMP-CTL-HEALTH-STATS on SIGUSR1: the health
#     families are not in the controller's /metrics yet);
#   - per flag and arm, the rollout engine's stage totals (requests and
#     errors in the rollout's status, which each check adds its drained
#     window to) equal what the tool produced, and stay equal one check
#     later: nothing lost between the intake and the engine, nothing
#     counted twice; where every check of the stage is in explain, the
#     windows add up to the same;
#   - controller memory is flat: RSS at the end is not above twice RSS
#     after warm-up (a gross bound, not a timing figure).
#
# Printed: enrollment time, reports per second, controller RSS, heap in
# use and held by malloc (/metrics) over time, the rollout check duration (ramp_ctl_rollout_check_duration_
# seconds: count, mean, and the buckets of p50 and p99).
#
# RAMP_IT_LOAD_FIXED_LATENCY_US=N: every latency reported is N us (one
# histogram bucket per entry; see ramp_loadagents.c), to tell the heap
# the histograms' tails take from any other growth.
#
# Usage: load.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"
LOADTOOL=$(dirname "$TESTPUB")/ramp_loadagents
[ -x "$LOADTOOL" ] || it_fail "not built: $LOADTOOL"
AGENTS=${RAMP_IT_LOAD_AGENTS:-1000}
SECONDS_RUN=${RAMP_IT_LOAD_SECONDS:-60}
SOCKETS=${RAMP_IT_LOAD_SOCKETS:-8}
SEED=${RAMP_IT_SEED:-$RANDOM}
# About 50 checks per rollout over the run, at least every 2 s.
CHECK_MS=$(( SECONDS_RUN * 1000 / 50 ))
[ "$CHECK_MS" -ge 2000 ] || CHECK_MS=2000
BAKE_MS=$(( (SECONDS_RUN + 3600) * 1000 ))
FLAGS="load-a load-b load-c"
echo "   $AGENTS agents, $SECONDS_RUN s, $SOCKETS PUSH sockets, check every $CHECK_MS ms, seed $SEED"

# Under ASan, freed memory waits in a quarantine of up to 256 MB before
# reuse: RSS would grow by design. A small one keeps the figure about the
# controller's own memory.
if grep -q __asan_init "$CTL" 2>/dev/null; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
fi

it_start_controller
API=$CTL_URL/api/v1
AUTH="Authorization: Bearer $TOKEN"
JSON="Content-Type: application/json"

metrics() { curl -sS --max-time 10 "$CTL_URL/metrics"; }
# metric TEXT NAME[{LABELS}]: the value of one sample, 0 if absent.
metric() {
    local v
    v=$(awk -v n="$2" '$1 == n && !done { print $2; done = 1 }' <<<"$1")
    echo "${v:-0}"
}
# ctl_stats: SIGUSR1 the controller, print its newest
# RAMP-CTL-HEALTH-STATS line (the intake's counters).
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
# field NAME LINE: one key=value of a stats line.
field() {
    printf ' %s\n' "$2" | grep -o " $1=[0-9]*" | head -n 1 | sed 's/.*=//'
}
rejected_sum() {
    printf ' %s\n' "$1" | grep -o ' rejected_[a-z_]*=[0-9]*' |
        sed 's/.*=//' | awk '{ s += $1 } END { print s + 0 }'
}

it_step "three flags, each with a running rollout (bake $BAKE_MS ms)"
for f in $FLAGS; do
    it_cli flag create "$f" --type bool --enabled >/dev/null
    body="{\"flag\":\"$f\",\"treatment\":\"on\",\"control\":\"off\",\"policy\":{\"bake_ms\":$BAKE_MS,\"max_stage_ms\":$BAKE_MS,\"check_interval_ms\":$CHECK_MS,\"failure_limit\":100}}"
    code=$(curl -sS --max-time 10 -o "$WORK/r.json" -w '%{http_code}' \
        -H "$AUTH" -H "$JSON" -d "$body" "$API/rollouts")
    it_assert_eq "start rollout $f" 201 "$code"
done
S0=$(ctl_stats)

# Memory of the controller every 2 s: "ms_since_start rss anon file
# inuse arena ours blocks". rss, anon (the heap and thread stacks) and
# file (mostly the LMDB map's pages) in kB from /proc; from /metrics,
# inuse and arena in kB (malloc's bytes handed out, and held from the
# system: in use plus free in its arenas; "-" where the allocator does
# not say, as under ASan), ours the kB and blocks the count of rp_alloc
# blocks outstanding. anon growing with inuse flat is the allocator
# keeping freed memory; inuse growing with ours is our data, and with
# blocks flat, entries that grow rather than entries added.
RSS_LOG=$WORK/rss
: >"$RSS_LOG"
sampler() {
    set +e
    local t0 kb heap
    t0=$(it_now_ms)
    while kill -0 "$CTL_PID" 2>/dev/null; do
        kb=$(awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 }
            /^RssFile:/ { f = $2 } END { if (r != "") print r, a, f }' \
            /proc/"$CTL_PID"/status 2>/dev/null)
        heap=$(metrics 2>/dev/null | awk '
            $1 == "ramp_ctl_heap_inuse_bytes" { u = int($2 / 1024) }
            $1 == "ramp_ctl_heap_arena_bytes" { a = int($2 / 1024) }
            $1 == "ramp_ctl_alloc_bytes" { o = int($2 / 1024) }
            $1 == "ramp_ctl_alloc_blocks" { b = $2 }
            END { print (u == "" ? "-" : u), (a == "" ? "-" : a),
                (o == "" ? "-" : o), (b == "" ? "-" : b) }')
        [ -n "$kb" ] && echo "$(( $(it_now_ms) - t0 )) $kb $heap" >>"$RSS_LOG"
        sleep 2
    done
}

it_step "ramp_loadagents: enroll $AGENTS agents, then report for $SECONDS_RUN s"
args=()
for f in $FLAGS; do
    args+=("$f:on:off")
done
mkfifo "$WORK/go"
exec 3<>"$WORK/go"
"$LOADTOOL" "$CTL_URL" "tcp://127.0.0.1:$P_HEALTH" "$AGENTS" "$SECONDS_RUN" \
    "$SOCKETS" "$SEED" "${args[@]}" <&3 >"$WORK/load.out" \
    2>>"$WORK/tools.log" &
LOAD_PID=$!
it_track "$LOAD_PID"
it_wait_until "the agents enrolled" 600 grep -q '^enrolled ' "$WORK/load.out"
T_SEND=$(it_now_ms)
sampler &
it_track "$!"
while it_alive "$LOAD_PID" && ! grep -q '^done' "$WORK/load.out"; do
    sleep 1
    n=$(grep -c '^progress ' "$WORK/load.out" || true)
    if [ "$n" -gt "${shown:-0}" ]; then
        shown=$n
        echo "   $(grep '^progress ' "$WORK/load.out" | tail -n 1), controller $(tail -n 1 "$RSS_LOG" | cut -d' ' -f2-) (kB rss anon file inuse arena ours, blocks)"
    fi
done
T_END=$(it_now_ms)
grep -q '^done' "$WORK/load.out" ||
    it_fail "ramp_loadagents failed: $(tail -n 3 "$WORK/tools.log")"
it_alive "$CTL_PID" || it_fail "the controller died"
sed 's/^/   /' "$WORK/load.out" | grep -v 'progress\|done'
val() { grep "^$1 " "$WORK/load.out" | head -n 1 | awk '{ print $2 }'; }
SENT=$(val sent)
FAILED=$(val failed)

# ------------------------------------------------------------- intake
# Every report sent has arrived and been judged; then the tool may close
# its sockets.
settled() {
    S1=$(ctl_stats)
    [ "$(( $(field received "$S1") - $(field received "$S0") ))" -ge "$SENT" ] &&
        [ "$(( $(field accepted "$S1") + $(rejected_sum "$S1") ))" = \
            "$(field received "$S1")" ]
}
it_wait_until "every report sent received and judged" 60 settled
echo >&3
wait "$LOAD_PID" || it_fail "ramp_loadagents exited non-zero"
exec 3>&-
# ------------------------------------------------------------- intake
S1=$(ctl_stats)
d() { echo $(( $(field "$1" "$S1") - $(field "$1" "$S0") )); }
RECEIVED=$(d received)
ACCEPTED=$(d accepted)
REJECTED=$(( $(rejected_sum "$S1") - $(rejected_sum "$S0") ))
echo "   controller: received $RECEIVED accepted $ACCEPTED rejected $REJECTED; tool: sent $SENT failed $FAILED"
it_assert_eq "received = accepted + rejected" "$RECEIVED" "$(( ACCEPTED + REJECTED ))"
it_assert_eq "rejected" 0 "$REJECTED"
it_assert_eq "accepted = sent" "$SENT" "$ACCEPTED"
it_assert_eq "agents tracked" "$AGENTS" "$(field agents "$S1")"
for arm in none treatment control; do
    want_ev=$(grep "^arm $arm " "$WORK/load.out" | awk '{ print $4 }')
    want_oc=$(grep "^arm $arm " "$WORK/load.out" | awk '{ print $6 }')
    it_assert_eq "evaluations, arm $arm" "$want_ev" "$(d "evaluations_$arm")"
    it_assert_eq "outcomes, arm $arm" "$want_oc" "$(d "outcomes_$arm")"
done
curl -sS --max-time 30 -H "$AUTH" "$API/agents" >"$WORK/agents.json"
nag=$(grep -o '"id":"load-[0-9]*"' "$WORK/agents.json" | wc -l)
reports=$(grep -o '"reports":[0-9]*' "$WORK/agents.json" | cut -d: -f2 |
    awk '{ s += $1 } END { print s + 0 }')
it_assert_eq "agents listed" "$AGENTS" "$nag"
it_assert_eq "reports in GET /api/v1/agents" "$SENT" "$reports"

# ------------------------------------------------------------- engine
# want FLAG ARM: requests (successes + errors) and errors the tool produced.
want() {
    grep "^total $1 $2 " "$WORK/load.out" | awk '{ print $7 + $9, $9 }'
}
# stage FLAG: "t_requests t_errors c_requests c_errors" of the status.
stage() {
    curl -sS --max-time 10 -H "$AUTH" "$API/rollouts/$1" |
        sed 's/.*"status"://' |
        grep -oE '"(treatment|control)":\{"requests":[0-9]+,"errors":[0-9]+' |
        grep -oE '[0-9]+' | tr '\n' ' ' | sed 's/ $//'
}
engine_equal() {
    local f
    for f in $FLAGS; do
        [ "$(stage "$f")" = "$(want "$f" treatment) $(want "$f" control)" ] ||
            return 1
    done
}
it_step "the rollout engine drains the rest (a check every $CHECK_MS ms)"
deadline=$(( $(it_now_ms) + CHECK_MS * 3 + 20000 ))
until engine_equal || [ "$(it_now_ms)" -ge "$deadline" ]; do
    sleep 0.5
done
if ! engine_equal; then
    for f in $FLAGS; do
        echo "   $f: engine $(stage "$f"), tool $(want "$f" treatment) $(want "$f" control)"
    done
    it_fail "engine totals differ from the tool's"
fi
sleep $(( CHECK_MS / 1000 + 1 ))
for f in $FLAGS; do
    got=$(stage "$f")
    it_assert_eq "$f stage totals one check later" \
        "$(want "$f" treatment) $(want "$f" control)" "$got"
    ex=$(curl -sS --max-time 10 -H "$AUTH" "$API/rollouts/$f/explain?limit=100")
    it_assert_match "$f still running" '"state":"running","stage_index":0' "$ex"
    nchk=$(printf '%s' "$ex" | grep -o '"window":' | wc -l)
    if [ "$nchk" -lt 100 ]; then
        wsum=$(printf '%s' "$ex" |
            grep -oE '"window":\{"treatment":\{[^}]*\},"control":\{[^}]*\}' |
            grep -oE '"(requests|errors)":[0-9]+' | cut -d: -f2 |
            awk '{ s[NR % 4] += $1 } END { print s[1], s[2], s[3], s[0] }')
        it_assert_eq "$f: the $nchk checks' windows add up" \
            "$(want "$f" treatment) $(want "$f" control)" "$wsum"
    fi
    echo "   $f: treatment/control requests and errors $got over $nchk checks"
done

# ------------------------------------------------------------- figures
M2=$(metrics)
cnt=$(metric "$M2" ramp_ctl_rollout_check_duration_seconds_count)
sum=$(metric "$M2" ramp_ctl_rollout_check_duration_seconds_sum)
q() {
    printf '%s\n' "$M2" | awk -v q="$1" -v n="$cnt" '
        /^ramp_ctl_rollout_check_duration_seconds_bucket/ {
            le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le)
            if (!done && $2 >= q * n) { print le; done = 1 }
        }'
}
mean_ms=$(awk -v s="$sum" -v n="$cnt" 'BEGIN { if (n > 0) printf "%.2f", s * 1000 / n; else print "-" }')
echo "   check duration: $cnt checks, mean $mean_ms ms, p50 <= $(q 0.5) s, p99 <= $(q 0.99) s"
echo "   intake: $(field tracked "$S1") entries tracked for $(field boots "$S1") boots"

# Warm-up: a quarter of the run, at most 150 s. The heap still grows
# after it, ever more slowly: the health intake keeps each entry's last
# cumulative histogram, and the log-normal latencies' rare tail values
# keep adding buckets to it (rp_alloc bytes rise, blocks stay flat;
# RAMP_IT_LOAD_FIXED_LATENCY_US=40000 keeps it flat). malloc's free
# space in its arenas grows by about 1 MB and levels off.
WARM_MS=$(( SECONDS_RUN * 1000 / 4 ))
[ "$WARM_MS" -le 150000 ] || WARM_MS=150000
rss=$(awk -v w="$WARM_MS" -v e="$(( T_END - T_SEND ))" '
    $1 >= w && warm == "" { warm = $2; wa = $3; wf = $4 }
    $1 <= e { last = $2; la = $3; lf = $4 }
    { if ($2 > max) max = $2 }
    END { printf "%s %s %s %s %s %s %s", warm, last, max, wa, la, wf, lf }' "$RSS_LOG")
read -r RSS_WARM RSS_END RSS_MAX ANON_WARM ANON_END FILE_WARM FILE_END <<<"$rss"
[ -n "$RSS_WARM" ] && [ -n "$RSS_END" ] || it_fail "no RSS samples: $(cat "$RSS_LOG")"
ratio=$(awk -v a="$RSS_END" -v b="$RSS_WARM" 'BEGIN { printf "%.3f", a / b }')
echo "   controller RSS: after warm-up ($(( WARM_MS / 1000 )) s) $RSS_WARM kB, at the end $RSS_END kB, max $RSS_MAX kB, end/warm $ratio ($(wc -l <"$RSS_LOG") samples); heap (RssAnon) $ANON_WARM -> $ANON_END kB, file pages (RssFile: LMDB map, binaries) $FILE_WARM -> $FILE_END kB"
# The same at 15 s, at each quarter of the run and at the end: the
# last sample at or before each point (the first one if none is).
E_MS=$(( T_END - T_SEND ))
for at in 15000 $(( E_MS / 4 )) $(( E_MS / 2 )) $(( E_MS * 3 / 4 )) "$E_MS"; do
    awk -v at="$at" '
        NR == 1 || $1 <= at { l = $0 }
        END {
            split(l, f, " ")
            printf "   memory at %4d s: rss %s anon %s inuse %s arena %s ours %s kB, %s blocks\n",
                at / 1000, f[2], f[3], f[5], f[6], f[7], f[8]
        }' "$RSS_LOG"
done
# RAMP_IT_LOAD_MEMLOG=FILE keeps every sample for a closer look.
[ -z "${RAMP_IT_LOAD_MEMLOG:-}" ] || cp "$RSS_LOG" "$RAMP_IT_LOAD_MEMLOG"
echo "   data dir $(du -sk "$CTL_DATA" | cut -f1) kB"
[ "$RSS_END" -le $(( RSS_WARM * 2 )) ] ||
    it_fail "controller RSS grew from $RSS_WARM kB to $RSS_END kB"
it_step "ok: $AGENTS agents x $SECONDS_RUN s: $SENT reports sent, $FAILED failed, all accepted and summed exactly; RSS end/warm $ratio; checks mean $mean_ms ms"
