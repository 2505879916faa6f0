#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Agent memory with many flags: the resident set (VmRSS, split into
# anonymous and file-backed pages, and the peak VmHWM from
# /proc/PID/status) of one ramp-agent serving N flags (default 10000),
# against the same agent serving none, measured in the same run. Figures
# only; never pass/fail.
#
# The flags are created through the HTTP API (one curl process sends them
# in batches over kept-alive connections). Every write is an fsync'd
# commit, so the controller's store is put on /dev/shm when it exists:
# the bench measures the agent, not the disk. The agent's cache stays on
# the temp dir's file system, as on a host.
#
# Usage: bench_agent_rss.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB [N]
# Benchmarks run for minutes: the tests' watchdog gets an hour.
export RAMP_IT_DEADLINE=${RAMP_IT_DEADLINE:-3600}
. "$(dirname "$0")/../integration/lib.sh"
it_init "$@"
N=${6:-10000}

if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    SHM=$(mktemp -d /dev/shm/ramp-bench.XXXXXX)
    mv "$CTL_DATA" "$SHM/ctl"
    CTL_DATA=$SHM/ctl
    IT_DIRS+=("$SHM")
fi
# A short log: the new agent gets one SNAPSHOT, not N envelopes.
it_start_controller --log-retain 100

# mem PID: "rss_kib anon_kib file_kib hwm_kib"
mem() {
    awk '/^VmRSS/ {r = $2} /^RssAnon/ {a = $2} /^RssFile/ {f = $2}
        /^VmHWM/ {h = $2} END {print r, a, f, h}' "/proc/$1/status"
}

report() {
    local label=$1 m
    m=$(mem "$2")
    set -- $m
    printf '%-34s VmRSS %6d KiB  anon %6d KiB  file %6d KiB  VmHWM %6d KiB\n' \
        "$label" "$1" "$2" "$3" "$4"
}

settle() {
    it_wait_agent_seq "$1" "$(it_healthz_seq)" 300
    sleep 1
}

it_step "baseline: an agent with 0 flags"
it_start_agent 0
settle 0
report "agent, 0 flags" "$(it_agent_pid 0)"
RSS0=$(mem "$(it_agent_pid 0)" | awk '{print $1}')
it_stop_agent 0 TERM

it_step "create $N flags through the API"
t0=$(it_now_ms)
batch=500
for start in $(seq 1 "$batch" "$N"); do
    end=$((start + batch - 1))
    [ "$end" -le "$N" ] || end=$N
    {
        for i in $(seq "$start" "$end"); do
            k=$(printf 'rss-%05d' "$i")
            # "next" resets every option: each request carries its own.
            echo "header = \"Authorization: Bearer $TOKEN\""
            echo "header = \"Content-Type: application/json\""
            echo "silent"
            echo "url = \"$CTL_URL/api/v1/flags\""
            echo "data = \"{\\\"key\\\": \\\"$k\\\", \\\"type\\\": \\\"string\\\", \\\"enabled\\\": true, \\\"variants\\\": {\\\"a\\\": \\\"alpha\\\", \\\"b\\\": \\\"beta\\\"}, \\\"default_variant\\\": \\\"a\\\", \\\"rules\\\": [{\\\"clauses\\\": [{\\\"attribute\\\": \\\"country\\\", \\\"op\\\": \\\"in\\\", \\\"values\\\": [\\\"NL\\\", \\\"BE\\\"]}], \\\"variant\\\": \\\"b\\\"}], \\\"tags\\\": [\\\"bench\\\"]}\""
            echo "output = \"/dev/null\""
            echo "write-out = \"%{http_code}\\n\""
            [ "$i" -eq "$end" ] || echo "next"
        done
    } >"$WORK/batch.cfg"
    curl -K "$WORK/batch.cfg" --max-time 600 >"$WORK/batch.out" ||
        it_fail "curl batch at $start failed"
    bad=$(grep -vc '^201$' "$WORK/batch.out" || true)
    [ "$bad" -eq 0 ] || it_fail "batch at $start: $bad writes not 201 ($(sort "$WORK/batch.out" | uniq -c | tr '\n' ' '))"
done
ms=$(( $(it_now_ms) - t0 ))
echo "   $N flags in $ms ms ($(( N * 1000 / (ms > 0 ? ms : 1) )) writes/s); seq $(it_healthz_seq)"

it_step "an agent with $N flags"
it_start_agent 1
settle 1
report "agent, $N flags, first sync" "$(it_agent_pid 1)"
it_stop_agent 1 TERM
it_start_agent 1
grep 'RAMP-AGENT-READY' "$WORK/a1.log" | tail -n 1 | sed 's/^/   /'
settle 1
report "agent, $N flags, restarted" "$(it_agent_pid 1)"
RSS1=$(mem "$(it_agent_pid 1)" | awk '{print $1}')
timeout 120 "$EVALTOOL" eval "$(it_agent_target 1)" rss-00001 \
    <<<"user-1 country=NL" >/dev/null || it_fail "bulk evaluation failed"
report "agent, $N flags, after bulk eval" "$(it_agent_pid 1)"
RSS2=$(mem "$(it_agent_pid 1)" | awk '{print $1}')
du -k "$WORK/a1/data.mdb" | awk '{printf "   cache file %d KiB on disk\n", $1}'
awk -v a="$RSS0" -v b="$RSS1" -v c="$RSS2" -v n="$N" 'BEGIN {
    printf "ratio VmRSS %d flags / 0 flags: %.2fx restarted, %.2fx after a bulk eval (%.1f MiB, goal <= 8 MiB)\n",
        n, b / a, c / a, c / 1024 }'
