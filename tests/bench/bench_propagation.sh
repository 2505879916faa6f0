#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Propagation: from a change committed on the controller to the change
# applied (verified and persisted) by each of N agents, every agent its
# own process with its own state dir and socket, on 127.0.0.1. Prints
# p50/p99/max over every (agent, change) and p50/p99 of the slowest agent
# per change, next to the floor measured in the same run: a bare nng PUB
# reaching N bare SUB processes (bench_propagation_nng). Figures only;
# never pass/fail.
#
# Times come from the daemons' own log lines (wall clock, ms): the
# controller's RAMP-API-FLAG-PUT, written right after the commit and the
# hand-off to PUB and before the HTTP answer, and each agent's
# RAMP-AGENT-APPLIED (debug level, written after the cache transaction
# committed) or, for a change that reached it by resync instead,
# RAMP-AGENT-RESYNC. Millisecond stamps on both sides: each figure is
# +-1 ms.
#
# Usage: bench_propagation.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB \
#            NNG_FLOOR [N...]          (default N: 100 1000)
# Environment: RAMP_BENCH_ROUNDS (changes per N, default 20).
. "$(dirname "$0")/../integration/lib.sh"
it_init "$@"
FLOOR=$6
shift 6
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100 1000)
ROUNDS=${RAMP_BENCH_ROUNDS:-20}

# Room for every agent's 2 connections on the controller and our greps.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "machine: $(nproc) cpus, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB," \
    "fd limit $(ulimit -n), pid_max $(cat /proc/sys/kernel/pid_max)"

it_start_controller --heartbeat-interval 1s --log-level info
it_cli flag create bench --type bool --enabled >/dev/null

# "2026-11-27T16:05:33.792Z ..." -> ms since the day began.
TS_AWK='function ts(s,   h, m, sec) {
    h = substr(s, 12, 2); m = substr(s, 15, 2); sec = substr(s, 18, 6)
    return h * 3600000 + m * 60000 + int(sec * 1000 + 0.5)
}'

# applied_count SEQ N: agents 1..N whose logs show SEQ applied.
applied_count() {
    local s=$1
    grep -lE "RAMP-AGENT-APPLIED kind=FLAG_PUT seq=$s\$|RAMP-AGENT-RESYNC .* seq=$s " \
        "$WORK"/b*.log 2>/dev/null | wc -l
}

wait_applied() {
    local s=$1 n=$2 deadline=$(( $(it_now_ms) + 60000 )) got
    while :; do
        got=$(applied_count "$s")
        [ "$got" -ge "$n" ] && return 0
        if [ "$(it_now_ms)" -ge "$deadline" ]; then
            echo "   seq $s reached only $got of $n agents in 60 s" >&2
            return 1
        fi
        sleep 0.05
    done
}

# patch: one committed change of the bench flag, through the API.
patch() {
    curl -sS --max-time 10 -o /dev/null -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/merge-patch+json' -X PATCH \
        -d "{\"description\": \"$1\"}" "$CTL_URL/api/v1/flags/bench"
}

start_agents() {
    local n=$1 i pid
    for i in $(seq 1 "$n"); do
        "$AGENT" run --state-dir "$WORK/b$i" \
            --controller-key "$WORK/ctl.key.pub" \
            --sub-url "$PUB_URL" --resync-url "$RESYNC_URL" \
            --query-url "ipc://$WORK/b$i.sock" --host-id "bench-$i" \
            --query-workers 4 --log-level debug 2>>"$WORK/b$i.log" &
        pid=$!
        it_track "$pid"
        AGENTS+=("$pid")
        # Let the controller accept and resync in step with the starts.
        [ $((i % 50)) -ne 0 ] || sleep 0.2
    done
    local deadline=$(( $(it_now_ms) + 300000 )) ready
    while :; do
        ready=$(grep -l RAMP-AGENT-SUB-CONNECTED "$WORK"/b*.log | wc -l)
        [ "$ready" -ge "$n" ] && break
        [ "$(it_now_ms)" -lt "$deadline" ] ||
            it_fail "only $ready of $n agents connected"
        sleep 0.2
    done
}

stop_agents() {
    local p
    for p in "${AGENTS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${AGENTS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    AGENTS=()
    IT_PIDS=("$CTL_PID")
}

for N in "${SIZES[@]}"; do
    AGENTS=()
    rm -rf "$WORK"/b*
    it_step "N=$N: starting $N agents"
    t0=$(it_now_ms)
    start_agents "$N"
    statf=()
    for p in "${AGENTS[@]}"; do
        statf+=("/proc/$p/status")
    done
    echo "   $N agents connected in $(( $(it_now_ms) - t0 )) ms; their RSS:" \
        "$(awk '/^VmRSS/ {r += $2} /^RssAnon/ {a += $2}
            END {printf "%d MiB (anonymous %d MiB)", r / 1024, a / 1024}' "${statf[@]}")"
    # A first change, not measured: every agent connected and current.
    seq0=$(it_healthz_seq)
    patch warm
    wait_applied $((seq0 + 1)) "$N" || true
    seq0=$((seq0 + 1))
    : >"$WORK/rounds"
    for r in $(seq 1 "$ROUNDS"); do
        patch "round-$N-$r"
        echo "$((seq0 + r))" >>"$WORK/rounds"
        wait_applied $((seq0 + r)) "$N" || true
        sleep "0.$(( 100 + RANDOM % 200 ))"
    done
    # Controller: the commit time of each measured seq, in order.
    grep 'RAMP-API-FLAG-PUT key=bench' "$CTL_LOG" | tail -n "$ROUNDS" |
        awk "$TS_AWK"'{ print ts($1) }' >"$WORK/commit-ms"
    paste -d' ' "$WORK/rounds" "$WORK/commit-ms" >"$WORK/seq-commit"
    # Every agent: the first apply time of each measured seq.
    awk "$TS_AWK"'
    FNR == NR { commit[$1] = $2; next }
    /RAMP-AGENT-APPLIED kind=FLAG_PUT/ {
        s = $NF; sub(/seq=/, "", s)
        if ((s in commit) && !((FILENAME, s) in seen)) {
            seen[FILENAME, s] = 1; d = ts($1) - commit[s]
            if (d < -43200000) d += 86400000
            print s, d
        }
    }
    /RAMP-AGENT-RESYNC status=/ && !/ applied=0 / {
        for (i = 1; i <= NF; i++) if ($i ~ /^seq=/) { s = $i; sub(/seq=/, "", s) }
        if ((s in commit) && !((FILENAME, s) in seen)) {
            seen[FILENAME, s] = 1; d = ts($1) - commit[s]
            if (d < -43200000) d += 86400000
            print s, d, "resync"
        }
    }' "$WORK/seq-commit" "$WORK"/b*.log >"$WORK/delays"
    resynced=$(grep -c resync "$WORK/delays" || true)
    samples=$(wc -l <"$WORK/delays")
    read -r p50 p99 pmax < <(awk '{print $2}' "$WORK/delays" | sort -n |
        awk '{v[NR] = $1} END {
            i50 = int(0.50 * (NR - 1) + 0.5) + 1; i99 = int(0.99 * (NR - 1) + 0.5) + 1
            print v[i50], v[i99], v[NR] }')
    read -r l50 l99 < <(awk '{ if (!($1 in w) || $2 > w[$1]) w[$1] = $2 }
        END { for (s in w) print w[s] }' "$WORK/delays" | sort -n |
        awk '{v[NR] = $1} END {
            i50 = int(0.50 * (NR - 1) + 0.5) + 1; i99 = int(0.99 * (NR - 1) + 0.5) + 1
            print v[i50], v[i99] }')
    echo "ramp N=$N rounds=$ROUNDS samples=$samples (want $((N * ROUNDS)), by resync $resynced)" \
        "p50_ms=$p50 p99_ms=$p99 max_ms=$pmax last_p50_ms=$l50 last_p99_ms=$l99"
    stop_agents

    it_step "N=$N: the nng floor"
    fport=$(it_free_port)
    floor=$("$FLOOR" -n "$N" -r "$ROUNDS" -p "$fport")
    echo "$floor"
    f50=$(echo "$floor" | sed -n 's/.* p50_ms=\([0-9.]*\).*/\1/p')
    f99=$(echo "$floor" | sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p')
    fl99=$(echo "$floor" | sed -n 's/.*last_p99_ms=\([0-9.]*\).*/\1/p')
    awk -v n="$N" -v p50="$p50" -v p99="$p99" -v l99="$l99" -v f50="$f50" \
        -v f99="$f99" -v fl99="$fl99" 'BEGIN {
        printf "ratio N=%d p50 %.2fx p99 %.2fx slowest-agent p99 %.2fx the nng floor\n",
            n, p50 / (f50 > 0 ? f50 : 1), p99 / (f99 > 0 ? f99 : 1),
            l99 / (fl99 > 0 ? fl99 : 1) }'
done
