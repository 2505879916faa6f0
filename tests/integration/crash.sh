#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Crash safety of the controller's store. A client loop writes with the
# CLI (a new flag, then an update of one counter flag, over and over) and
# records which writes were acknowledged (exit 0); meanwhile the
# controller is killed with SIGKILL at random moments and restarted,
# RAMP_IT_CRASH_ITER times (default 10). After every kill the LMDB files
# read whole with mdb_stat and mdb_dump; after every restart each
# acknowledged flag answers GET 200 and the counter never went back
# before its last acknowledged value. At the end the audit's seqs are
# exactly 1..seq (gap-free, none twice) and an agent that followed the
# whole time has converged to the controller's seq and flag count.
#
# Usage: crash.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"

ITER=${RAMP_IT_CRASH_ITER:-10}
command -v mdb_stat >/dev/null || it_fail "mdb_stat (lmdb-utils) is needed"
command -v mdb_dump >/dev/null || it_fail "mdb_dump (lmdb-utils) is needed"

it_start_controller
it_start_agent 1
it_cli flag create counter --type bool --description v0 >/dev/null

ACKED=$WORK/acked          # flag keys created with exit 0
COUNTER_ACKED=$WORK/counter-acked # counter values set with exit 0
STOP=$WORK/stop
: >"$ACKED"
: >"$COUNTER_ACKED"

# The writer runs in a subshell and never stops on a failed write: while
# the controller is down the CLI exits 6 (or 7 for a 503 during a stop).
writer() {
    set +e
    local i=0 rc
    while [ ! -e "$STOP" ]; do
        i=$((i + 1))
        "$CLI" flag create "c-$i" --type bool --timeout 3s >/dev/null 2>&1
        rc=$?
        if [ "$rc" -eq 0 ]; then
            echo "c-$i" >>"$ACKED"
        else
            echo "c-$i $rc" >>"$WORK/failed"
        fi
        "$CLI" flag set counter --description "v$i" --timeout 3s >/dev/null 2>&1
        rc=$?
        if [ "$rc" -eq 0 ]; then
            echo "$i" >>"$COUNTER_ACKED"
        fi
        [ "$rc" -eq 0 ] || sleep 0.05
    done
}
writer &
WRITER=$!
it_track "$WRITER"

# Every acknowledged key, one GET each, in one curl process.
check_acked() {
    local cfg=$WORK/curl.cfg keys bad
    keys=$(cat "$ACKED")
    [ -n "$keys" ] || return 0
    {
        echo "header = \"Authorization: Bearer $TOKEN\""
        echo "silent"
        echo "write-out = \"%{http_code} %{url_effective}\\n\""
        for k in $keys; do
            echo "url = \"$CTL_URL/api/v1/flags/$k\""
            echo "output = \"/dev/null\""
        done
    } >"$cfg"
    curl -K "$cfg" --max-time 30 >"$WORK/gets.out" ||
        it_fail "curl GETs of acknowledged flags failed"
    it_assert_eq "GET answers" "$(echo "$keys" | wc -l)" "$(wc -l <"$WORK/gets.out")"
    bad=$(grep -v '^200 ' "$WORK/gets.out" || true)
    [ -z "$bad" ] || it_fail "acknowledged flags missing after restart: $bad"
}

# The counter's description must be its last acknowledged value or a
# later (possibly unacknowledged but committed) one: never older.
check_counter() {
    local last now out
    last=$(tail -n 1 "$COUNTER_ACKED")
    last=${last:-0}
    out=$(curl -sS --max-time 10 -H "Authorization: Bearer $TOKEN" \
        "$CTL_URL/api/v1/flags/counter")
    now=$(it_json_str description "$out")
    now=${now#v}
    [ -n "$now" ] || it_fail "counter: no description in $out"
    [ "$now" -ge "$last" ] ||
        it_fail "counter went back to v$now after v$last was acknowledged"
}

check_store() {
    mdb_stat -a "$CTL_DATA" >"$WORK/mdb_stat.out" 2>&1 ||
        it_fail "mdb_stat failed: $(tail -n 3 "$WORK/mdb_stat.out")"
    mdb_dump -a "$CTL_DATA" >/dev/null 2>"$WORK/mdb_dump.err" ||
        it_fail "mdb_dump failed: $(cat "$WORK/mdb_dump.err")"
}

for it in $(seq 1 "$ITER"); do
    # 200..999 ms of writing before the kill.
    sleep "0.$(( 200 + RANDOM % 800 ))"
    kill -KILL "$CTL_PID"
    wait "$CTL_PID" 2>/dev/null || true
    CTL_PID=
    check_store
    it_start_controller
    check_acked
    check_counter
    it_step "kill $it/$ITER: $(wc -l <"$ACKED") creates acknowledged, seq $(it_healthz_seq)"
done

touch "$STOP"
wait "$WRITER" 2>/dev/null || true

it_step "final checks"
check_acked
check_counter
acked=$(wc -l <"$ACKED")
[ "$acked" -ge "$ITER" ] || it_fail "only $acked writes acknowledged in $ITER rounds"
seq=$(it_healthz_seq)

# Audit records of published changes carry their seq; together they must
# be exactly 1..seq. Paged with `before` until next is null.
: >"$WORK/audit-seqs"
before=
while :; do
    q="limit=1000"
    [ -z "$before" ] || q="$q&before=$before"
    page=$(curl -sS --max-time 10 -H "Authorization: Bearer $TOKEN" \
        "$CTL_URL/api/v1/audit?$q")
    printf '%s' "$page" | grep -o '"seq":[0-9]*' | sed 's/.*://' |
        grep -v '^0$' >>"$WORK/audit-seqs" || true
    before=$(it_json_num next "$page")
    [ "$before" != null ] && [ -n "$before" ] || break
done
sort -n "$WORK/audit-seqs" >"$WORK/audit-sorted"
seq 1 "$seq" >"$WORK/audit-want"
diff -q "$WORK/audit-want" "$WORK/audit-sorted" >/dev/null || {
    diff "$WORK/audit-want" "$WORK/audit-sorted" | head -n 20 >&2
    it_fail "audit seqs are not exactly 1..$seq"
}

# The agent followed the whole time, through every restart.
it_wait_agent_seq 1 "$seq" 30
nflags=$(it_cli flag list --json | grep -o '"salt":' | wc -l)
agent_flags=$("$AGENT" status --state-dir "$WORK/a1" 2>/dev/null |
    sed -n 's/^flags: *//p')
it_assert_eq "agent 1 flag count" "$nflags" "$agent_flags"
out=$(it_cli flag get counter --json)
it_wait_flag 1 counter "$(it_json_num version "$out")"

it_stop_controller TERM
check_store
it_step "ok: $acked creates and $(wc -l <"$COUNTER_ACKED") updates acknowledged, seq $seq, $ITER kills"
