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
# The start of each measure is the change's own timestamp: the
# controller's clock when its writer made the change, just before the
# commit (updated_at in the API's answer; the same ts_ms the signed
# envelope carries), with the store on /dev/shm so the commit adds no
# fsync. The end is each agent's RAMP-AGENT-APPLIED line (debug level,
# written after the cache transaction committed) or, for a change that
# reached an agent by resync instead, its RAMP-AGENT-RESYNC line.
# Millisecond stamps on both sides: each figure is +-1 ms. (The
# controller's RAMP-API-FLAG-PUT line is no start: it is written after
# the publish, and under load agents log their apply before it.)
#
# Usage: bench_propagation.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB \
#            NNG_FLOOR [N...]          (default N: 100 1000)
# Environment: RAMP_BENCH_ROUNDS (changes per N, default 20);
# RAMP_BENCH_AGENT_SHM=1 puts the agents' caches on /dev/shm too, which
# takes their fsyncs out of the figure (to see what the disk costs).
# Benchmarks run for minutes: the tests' watchdog gets an hour.
export RAMP_IT_DEADLINE=${RAMP_IT_DEADLINE:-3600}
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

# The controller's store on /dev/shm when there is one: the measure starts
# at the change's timestamp, taken just before the commit, so an fsync of
# a few ms would otherwise count as propagation.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    SHM=$(mktemp -d /dev/shm/ramp-bench.XXXXXX)
    IT_DIRS+=("$SHM")
    mv "$CTL_DATA" "$SHM/ctl"
    CTL_DATA=$SHM/ctl
fi
AGENT_DIR=$WORK
if [ -n "${RAMP_BENCH_AGENT_SHM:-}" ] && [ -n "${SHM:-}" ]; then
    AGENT_DIR=$SHM
    echo "agents' caches on /dev/shm (no fsync cost)"
fi
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

# patch: one committed change of the bench flag, through the API; prints
# its updated_at, the controller's clock when it made the change, just
# before the commit (the same ts_ms the signed envelope carries).
patch() {
    local out
    out=$(curl -sS --max-time 10 -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/merge-patch+json' -X PATCH \
        -d "{\"description\": \"$1\"}" "$CTL_URL/api/v1/flags/bench")
    it_json_str updated_at "$out"
}

start_agents() {
    local n=$1 i pid
    for i in $(seq 1 "$n"); do
        "$AGENT" run --state-dir "$AGENT_DIR/b$i" \
            --controller-key "$WORK/ctl.key.pub" \
            --sub-url "$PUB_URL" --resync-url "$RESYNC_URL" \
            --query-url "ipc://$WORK/b$i.sock" --host-id "bench-$i" \
            --query-workers 4 --log-level debug --http-addr none \
            2>>"$WORK/b$i.log" &
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

# TERM every agent; those still running 30 s later are counted (a clean
# stop is documented) and killed.
stop_agents() {
    local p hung=0 deadline
    for p in "${AGENTS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    deadline=$(( $(it_now_ms) + 30000 ))
    for p in "${AGENTS[@]}"; do
        while it_alive "$p" && [ "$(it_now_ms)" -lt "$deadline" ]; do
            sleep 0.05
        done
        if it_alive "$p"; then
            hung=$((hung + 1))
            kill -KILL "$p" 2>/dev/null || true
        fi
        wait "$p" 2>/dev/null || true
    done
    echo "   stop: $hung of ${#AGENTS[@]} agents still running 30 s after SIGTERM (killed);" \
        "$(grep -l '^panic:' "$WORK"/b*.log 2>/dev/null | wc -l) logged an nng panic"
    AGENTS=()
    IT_PIDS=("$CTL_PID")
}

for N in "${SIZES[@]}"; do
    AGENTS=()
    rm -rf "$WORK"/b* "$AGENT_DIR"/b*
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
    patch warm >/dev/null
    wait_applied $((seq0 + 1)) "$N" || true
    seq0=$((seq0 + 1))
    # What idle agents cost: CPU time of all their threads over 5 s.
    cpu() {
        awk '{t += $14 + $15} END {print t}' "${statf[@]/status/stat}"
    }
    c0=$(cpu)
    sleep 5
    c1=$(cpu)
    echo "   idle: $N agents use $(awk -v d=$((c1 - c0)) -v n="$N" \
        -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", d * 1000 / hz / 5 / n}') ms CPU per second each"
    : >"$WORK/seq-commit"
    for r in $(seq 1 "$ROUNDS"); do
        at=$(patch "round-$N-$r")
        echo "$((seq0 + r)) $(echo "$at" | awk "$TS_AWK"'{ print ts($1) }')" \
            >>"$WORK/seq-commit"
        wait_applied $((seq0 + r)) "$N" || true
        sleep "0.$(( 100 + RANDOM % 200 ))"
    done
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
