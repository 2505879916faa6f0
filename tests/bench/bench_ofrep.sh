#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# OFREP single-flag evaluation on a real agent, driven by wrk at 1, 16
# and 64 connections (keep-alive, POST with a context), next to the floor
# measured in the same run: nng's HTTP server answering every POST with a
# fixed body of the same size (bench_http_static). Prints req/s, p50 and
# p99 for both, the agent's share of the floor, and each server's CPU
# time per request (user + system) with their ratio. Figures only; never
# pass/fail (docs/benchmarks.md, docs/ofrep.md).
#
# The flag has a rule on an attribute and the context carries a targeting
# key and three attributes, so every request parses JSON, evaluates a
# clause and writes a typed answer with metadata.
#
# Usage: bench_ofrep.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB STATIC [CONNS...]
#        (STATIC: bench_http_static; default CONNS: 1 16 64)
# Environment: RAMP_BENCH_SECONDS (per run, default 10),
# RAMP_BENCH_THREADS (wrk threads, default 2).
export RAMP_IT_DEADLINE=${RAMP_IT_DEADLINE:-1800}
. "$(dirname "$0")/../integration/lib.sh"
command -v wrk >/dev/null || {
    echo "bench_ofrep needs wrk (Debian package wrk)" >&2
    exit 2
}
STATIC=$6
it_init "$@"
shift 6
CONNS=("$@")
[ ${#CONNS[@]} -gt 0 ] || CONNS=(1 16 64)
SECS=${RAMP_BENCH_SECONDS:-10}
THREADS=${RAMP_BENCH_THREADS:-2}
echo "machine: $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg);" \
    "wrk $THREADS threads, ${SECS}s per run"

it_start_controller
P=$(it_free_port)
it_start_agent 1 --http-addr "127.0.0.1:$P" --outcome-url "ipc://$WORK/o1.sock"
cat >"$WORK/flag.json" <<'EOF'
{"key": "bench", "type": "bool", "enabled": true,
 "rules": [{"clauses": [{"attribute": "country", "op": "in",
                         "values": ["nl", "be"]}], "variant": "on"}]}
EOF
it_cli flag create --file "$WORK/flag.json" --json >/dev/null
it_wait_flag 1 bench 1

PS=$(it_free_port)
"$STATIC" "$PS" >"$WORK/static.out" 2>&1 &
SPID=$!
it_track "$SPID"
it_wait_until "static server listening" 10 grep -q listening "$WORK/static.out"

cat >"$WORK/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"context":{"targetingKey":"user-4711","country":"nl","plan":"pro","beta":true}}'
wrk.headers["Content-Type"] = "application/json"
EOF
# Every answer must be the flag's, or the figures are of errors.
out=$(curl -sS --max-time 5 -X POST -H 'Content-Type: application/json' \
    --data-binary '{"context":{"targetingKey":"user-4711","country":"nl","plan":"pro","beta":true}}' \
    "http://127.0.0.1:$P/ofrep/v1/evaluate/flags/bench")
it_assert_match "the agent's answer" '"value":true,"reason":"TARGETING_MATCH"' "$out"

# CPU time (user + system, clock ticks) the process has used so far.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}
TICK_US=$(( 1000000 / $(getconf CLK_TCK) ))

# run URL CONNS PID: "req/s p50_ms p99_ms non2xx cpu_us_per_req" from
# wrk --latency and the server's CPU time over the run. CPU per request
# is the steadier figure on a busy machine: a neighbour's load stretches
# the wall clock, much less the work each request costs.
run() {
    local t=$THREADS c0 c1
    [ "$2" -ge "$t" ] || t=$2
    c0=$(cpu_ticks "$3")
    wrk -t "$t" -c "$2" -d "${SECS}s" --latency -s "$WORK/post.lua" "$1" \
        >"$WORK/wrk.out" 2>&1 || it_fail "wrk: $(cat "$WORK/wrk.out")"
    c1=$(cpu_ticks "$3")
    awk -v cpu_us=$(( (c1 - c0) * TICK_US )) '
    function ms(v) {
        if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
        if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
        if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
        return v
    }
    / requests in / { n = $1 }
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx/ { bad = $NF }
    END {
        printf "%.0f %.3f %.3f %d %.1f\n", rps, p50, p99, bad + 0,
            (n > 0) ? cpu_us / n : 0
    }' "$WORK/wrk.out"
}

printf '\n%-6s | %-28s | %-28s | %-12s | %s\n' conns \
    "agent OFREP: req/s p50 p99" "static nng: req/s p50 p99" \
    "agent/static" "CPU us/req agent static ratio"
for c in "${CONNS[@]}"; do
    read -r ar a50 a99 abad acpu < <(run \
        "http://127.0.0.1:$P/ofrep/v1/evaluate/flags/bench" "$c" \
        "$(it_agent_pid 1)")
    read -r sr s50 s99 sbad scpu < <(run \
        "http://127.0.0.1:$PS/ofrep/v1/evaluate/flags/bench" "$c" "$SPID")
    [ "$abad" -eq 0 ] || it_fail "agent: $abad non-2xx answers at $c connections"
    [ "$sbad" -eq 0 ] || it_fail "static: $sbad non-2xx answers at $c connections"
    printf '%-6s | %8s %8s ms %8s ms | %8s %8s ms %8s ms | %12s | %6s %6s %5s\n' \
        "$c" "$ar" "$a50" "$a99" "$sr" "$s50" "$s99" \
        "$(awk -v a="$ar" -v s="$sr" 'BEGIN { printf "%.2f", (s > 0) ? a / s : 0 }')" \
        "$acpu" "$scpu" \
        "$(awk -v a="$acpu" -v s="$scpu" 'BEGIN { printf "%.2f", (s > 0) ? a / s : 0 }')"
done
echo
echo "agent errors in its log: $(grep -c ' err ' "$WORK/a1.log" || true)"
