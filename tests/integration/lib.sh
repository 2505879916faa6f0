# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Shared helpers of the integration scripts (docs/testing.md): a temp dir
# removed on exit, a controller and agents as real processes on 127.0.0.1
# with free ports, real keys, tokens and LMDB files, and waits that poll
# with a deadline. Every process started here is killed on exit, whatever
# the way out. Only bash, coreutils, grep, sed, awk, curl and ss are used.
#
# A script does:
#   . "$(dirname "$0")/lib.sh"
#   it_init "$@"          # the binaries, in CMakeLists.txt's order
#   it_start_controller
#   it_start_agent 1
#   ...
# Not here: what a test asserts.

set -euo pipefail

# ---------------------------------------------------------------- basics

it_now_ms() {
    local t
    t=$(date +%s%N)
    echo $((t / 1000000))
}

it_step() {
    echo "== [$(( $(it_now_ms) - IT_T0 )) ms] $*"
}

it_fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# it_assert_eq WHAT EXPECTED ACTUAL
it_assert_eq() {
    if [ "$2" != "$3" ]; then
        it_fail "$1: expected '$2', got '$3'"
    fi
}

# it_assert_match WHAT REGEX TEXT (grep -E)
it_assert_match() {
    if ! grep -Eq -- "$2" <<<"$3"; then
        it_fail "$1: '$3' does not match /$2/"
    fi
}

# it_wait_until DESC TIMEOUT_S CMD...: run CMD every 50 ms until it
# succeeds; fail naming DESC at the deadline.
it_wait_until() {
    local desc=$1 secs=$2
    shift 2
    local deadline=$(( $(it_now_ms) + secs * 1000 ))
    until "$@" >/dev/null 2>&1; do
        if [ "$(it_now_ms)" -ge "$deadline" ]; then
            it_fail "timed out after ${secs}s waiting for $desc"
        fi
        sleep 0.05
    done
}

# it_json_num NAME JSON: the raw value of "NAME": in compact JSON, the
# first occurrence: a number, true, false, null, or a string with its
# quotes. Enough for the CLI's --json output, whose top-level members
# come first; nothing here parses JSON in general.
it_json_num() {
    printf '%s' "$2" | grep -oE "\"$1\":(\"[^\"]*\"|[^,}\"]*)" | head -n 1 |
        sed 's/^"[^"]*"://'
}

it_json_str() {
    printf '%s' "$2" | grep -o "\"$1\":\"[^\"]*\"" | head -n 1 |
        sed 's/^[^:]*:"//; s/"$//'
}

# ------------------------------------------------------------ lifecycle

it_init() {
    if [ $# -lt 5 ]; then
        echo "usage: $0 CONTROLLER AGENT CLI EVALTOOL TESTPUB" >&2
        exit 2
    fi
    CTL=$1 AGENT=$2 CLI=$3 EVALTOOL=$4 TESTPUB=$5
    local b
    for b in "$CTL" "$AGENT" "$CLI" "$EVALTOOL" "$TESTPUB"; do
        [ -x "$b" ] || { echo "not executable: $b" >&2; exit 2; }
    done
    command -v curl >/dev/null || { echo "curl is needed" >&2; exit 2; }

    # Nothing from the caller's environment or home may leak in; only
    # the scripts' own knobs (RAMP_IT_*, RAMP_BENCH_*) stay.
    local v
    for v in $(compgen -e | grep '^RAMP_' | grep -v '^RAMP_IT_\|^RAMP_BENCH_' ||
        true); do
        unset "$v"
    done
    IT_T0=$(it_now_ms)
    IT_PIDS=()
    IT_PORTS=()
    IT_DIRS=() # removed on exit besides $WORK
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/ramp-it.XXXXXX")
    trap it_cleanup EXIT
    trap 'exit 130' INT TERM HUP
    it_watchdog "${RAMP_IT_DEADLINE:-100}"
    export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/xdg"
    mkdir -p "$HOME"
    : >"$WORK/controller.conf" # keeps /etc/ramp/controller.conf out

    CTL_DATA=$WORK/ctl
    CTL_LOG=$WORK/ctl.log
    CTL_PID=
    CTL_ARGS=()
    "$CTL" keygen --out "$WORK/ctl.key" >/dev/null 2>>"$WORK/tools.log"
    TOKEN=$("$CTL" token create --name it-admin --role admin \
        --config "$WORK/controller.conf" --data-dir "$CTL_DATA" \
        2>>"$WORK/tools.log")
    [ -n "$TOKEN" ] || it_fail "no token from ramp-controller token create"
    export RAMP_TOKEN=$TOKEN
    it_step "work dir $WORK"
}

# it_is_child PID: PID is (still) a child of this script's shell. A
# tracked process that was killed and reaped long ago may have left its
# PID to someone else's process (pid_max is 32768 here, and a crash loop
# starts thousands): never signal that one.
it_is_child() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) } # after "PID (comm) ": state, ppid, ...
    set -- $st
    [ "${2:-}" = "$$" ]
}

# Kill every process started here that is still ours (TERM, then KILL
# after 5 s), print the logs' tails on failure, remove the work dir.
it_cleanup() {
    local rc=$? p deadline live=()
    trap - EXIT INT TERM HUP
    set +e
    kill "${IT_WATCHDOG:-}" 2>/dev/null
    for p in "${IT_PIDS[@]}"; do
        if it_is_child "$p"; then
            live+=("$p")
            kill -TERM "$p" 2>/dev/null
        fi
    done
    deadline=$(( $(it_now_ms) + 5000 ))
    for p in "${live[@]}"; do
        while it_is_child "$p" && [ "$(it_now_ms)" -lt "$deadline" ]; do
            sleep 0.05
        done
        it_is_child "$p" && kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    if [ "$rc" -ne 0 ] && [ -n "${WORK:-}" ]; then
        # At most 8 logs (a benchmark has a thousand): the controller's,
        # the tools', then the agents' in order.
        local f shown=0 logs
        logs=$(ls "$WORK"/ctl.log "$WORK"/tools.log "$WORK"/*.log 2>/dev/null |
            awk '!seen[$0]++')
        for f in $logs; do
            if [ "$shown" -ge 8 ]; then
                echo "---- (more logs in $WORK, kept: RAMP_IT_KEEP=1)" >&2
                break
            fi
            echo "---- last lines of $(basename "$f")" >&2
            tail -n 25 "$f" >&2
            shown=$((shown + 1))
        done
    fi
    if [ -n "${WORK:-}" ] && [ -z "${RAMP_IT_KEEP:-}" ]; then
        rm -rf "$WORK" "${IT_DIRS[@]}"
    elif [ -n "${WORK:-}" ]; then
        echo "kept $WORK" >&2
    fi
    it_step "exit $rc"
    exit "$rc"
}

# it_watchdog SECONDS: a bound of the script's own, under ctest's
# TIMEOUT, so that a hung client still ends in it_cleanup (processes
# killed, logs shown) rather than in ctest killing the tree silently. At
# the deadline it signals this shell, then ends its children (the one
# blocking the shell among them).
it_watchdog() {
    local secs=$1 main=$$
    (
        end=$(( $(it_now_ms) + secs * 1000 ))
        while [ "$(it_now_ms)" -lt "$end" ]; do
            kill -0 "$main" 2>/dev/null || exit 0
            sleep 1
        done
        echo "WATCHDOG: still running after ${secs}s; stopping" >&2
        kill -TERM "$main" 2>/dev/null
        sleep 1
        for c in $(cat /proc/"$main"/task/*/children 2>/dev/null); do
            [ "$c" = "$BASHPID" ] || kill -TERM "$c" 2>/dev/null
        done
    ) &
    IT_WATCHDOG=$!
}

it_track() {
    IT_PIDS+=("$1")
}

it_alive() {
    kill -0 "$1" 2>/dev/null
}

# it_port_listening PORT: someone listens on it (ss -ltn, or the
# kernel's tables where iproute2 is not installed).
it_port_listening() {
    if command -v ss >/dev/null; then
        [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
        return
    fi
    # local_address is ADDR:PORT in hex, st 0A is LISTEN.
    grep -qs ":$(printf '%04X' "$1") [0-9A-F:]* 0A " /proc/net/tcp /proc/net/tcp6
}

# it_free_port: a TCP port nobody listens on and not handed out before in
# this script. Taken below the kernel's ephemeral range when there is
# room, so outgoing connections cannot be holding it; a start that still
# collides is retried with new ports by the caller.
it_free_port() {
    local lo hi p used tries=0
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
    if [ "$lo" -gt 21000 ]; then
        hi=$((lo - 1))
        lo=20000
    fi
    while :; do
        tries=$((tries + 1))
        [ "$tries" -lt 200 ] || it_fail "no free TCP port"
        p=$(( lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1) ))
        used=0
        for u in "${IT_PORTS[@]}"; do
            [ "$u" = "$p" ] && used=1
        done
        [ "$used" -eq 0 ] || continue
        if ! it_port_listening "$p"; then
            IT_PORTS+=("$p")
            echo "$p"
            return 0
        fi
    done
}

# ----------------------------------------------------------- controller

# it_start_controller [SETTING-FLAGS...]: start (or restart, on the same
# ports and data dir) ramp-controller and wait for RAMP-CTL-START. The
# extra flags are remembered for restarts. Sets CTL_PID, CTL_URL, PUB_URL,
# RESYNC_URL.
it_start_controller() {
    if [ $# -gt 0 ]; then
        CTL_ARGS=("$@")
    fi
    local attempt n0 deadline
    for attempt in 1 2 3 4 5; do
        if [ -z "${P_HTTP:-}" ]; then
            P_PUB=$(it_free_port)
            P_RESYNC=$(it_free_port)
            P_HEALTH=$(it_free_port)
            P_HTTP=$(it_free_port)
        fi
        PUB_URL=tcp://127.0.0.1:$P_PUB
        RESYNC_URL=tcp://127.0.0.1:$P_RESYNC
        CTL_URL=http://127.0.0.1:$P_HTTP
        export RAMP_URL=$CTL_URL
        n0=$(grep -c RAMP-CTL-START "$CTL_LOG" 2>/dev/null || true)
        "$CTL" run --config "$WORK/controller.conf" \
            --data-dir "$CTL_DATA" --signing-key "$WORK/ctl.key" \
            --pub-url "$PUB_URL" --resync-url "$RESYNC_URL" \
            --health-url "tcp://127.0.0.1:$P_HEALTH" \
            --http-addr "127.0.0.1:$P_HTTP" \
            --heartbeat-interval 200ms "${CTL_ARGS[@]}" \
            2>>"$CTL_LOG" &
        CTL_PID=$!
        it_track "$CTL_PID"
        deadline=$(( $(it_now_ms) + 20000 ))
        while it_alive "$CTL_PID"; do
            if [ "$(grep -c RAMP-CTL-START "$CTL_LOG" || true)" -gt "${n0:-0}" ]; then
                CTL_STARTED=1
                return 0
            fi
            [ "$(it_now_ms)" -lt "$deadline" ] ||
                it_fail "controller did not start within 20 s"
            sleep 0.02
        done
        wait "$CTL_PID" 2>/dev/null || true
        if tail -n 5 "$CTL_LOG" | grep 'LISTEN-FAIL' >/dev/null; then
            # A port was taken between the check and the bind (another
            # test running in parallel): new ports on a first start; on a
            # restart, the old ones again after a pause.
            if [ "${CTL_STARTED:-0}" -eq 0 ]; then
                P_HTTP=
            fi
            sleep 0.2
            continue
        fi
        it_fail "controller exited during start"
    done
    it_fail "controller could not bind its ports in 5 attempts"
}

# it_stop_pid WHAT PID SIGNAL: send SIGNAL and reap PID. After TERM a
# daemon must be gone within 15 s (docs: SIGTERM stops cleanly); one that
# is not is killed and the test fails, since a hang there is a bug.
it_stop_pid() {
    local what=$1 pid=$2 sig=$3 deadline
    kill -"$sig" "$pid" 2>/dev/null || true
    deadline=$(( $(it_now_ms) + 15000 ))
    while it_alive "$pid"; do
        if [ "$(it_now_ms)" -ge "$deadline" ]; then
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            it_fail "$what (pid $pid) did not exit within 15 s of SIG$sig"
        fi
        sleep 0.02
    done
    wait "$pid" 2>/dev/null || true
}

# it_stop_controller [SIGNAL]: TERM (default) or KILL, and reap it.
it_stop_controller() {
    local sig=${1:-TERM} pid=$CTL_PID
    [ -n "$pid" ] || return 0
    CTL_PID=
    it_stop_pid controller "$pid" "$sig"
}

it_healthz_seq() {
    local body
    body=$(curl -sS --max-time 5 "$CTL_URL/healthz") || return 1
    it_json_num seq "$body"
}

# it_cli ARGS...: the ramp CLI against this controller (RAMP_URL and
# RAMP_TOKEN are exported).
it_cli() {
    "$CLI" "$@"
}

# ---------------------------------------------------------------- agents

# it_start_agent N [SETTING-FLAGS...]: start agent N (state dir
# $WORK/aN, socket $WORK/aN.sock, log $WORK/aN.log) pointed at the
# controller, and wait for its RAMP-AGENT-READY line. Later flags win, so
# --sub-url can point elsewhere.
it_start_agent() {
    local n=$1
    shift
    local log=$WORK/a$n.log n0 pid deadline
    n0=$(grep -c RAMP-AGENT-READY "$log" 2>/dev/null || true)
    "$AGENT" run --state-dir "$WORK/a$n" \
        --controller-key "$WORK/ctl.key.pub" \
        --sub-url "$PUB_URL" --resync-url "$RESYNC_URL" \
        --query-url "ipc://$WORK/a$n.sock" --host-id "it-host-$n" \
        --resync-timeout 1s --stale-after 2s --http-addr none \
        --outcome-url "ipc://$WORK/a$n.out.sock" \
        --health-url "${P_HEALTH:+tcp://127.0.0.1:}${P_HEALTH:-none}" \
        --report-interval 200ms \
        "$@" 2>>"$log" &
    pid=$!
    it_track "$pid"
    eval "AGENT_PID_$n=$pid"
    deadline=$(( $(it_now_ms) + 20000 ))
    while it_alive "$pid"; do
        if [ "$(grep -c RAMP-AGENT-READY "$log" || true)" -gt "${n0:-0}" ]; then
            return 0
        fi
        [ "$(it_now_ms)" -lt "$deadline" ] ||
            it_fail "agent $n not ready within 20 s"
        sleep 0.02
    done
    it_fail "agent $n exited during start"
}

it_agent_pid() {
    eval "echo \${AGENT_PID_$1:-}"
}

# it_stop_agent N [SIGNAL]
it_stop_agent() {
    local pid
    pid=$(it_agent_pid "$1")
    [ -n "$pid" ] || return 0
    eval "AGENT_PID_$1="
    it_stop_pid "agent $1" "$pid" "${2:-TERM}"
}

it_agent_target() {
    echo "ipc://$WORK/a$1.sock"
}

it_agent_direct() {
    echo "direct:$WORK/a$1"
}

# it_eval N FLAG [ARGS...]: `ramp eval --json` through agent N's socket.
it_eval() {
    local n=$1
    shift
    "$CLI" eval "$@" --agent "$(it_agent_target "$n")" --json
}

# it_eval_direct N FLAG [ARGS...]: the same in direct mode.
it_eval_direct() {
    local n=$1
    shift
    "$CLI" eval "$@" --agent "$(it_agent_direct "$n")" --json
}

# it_agent_seq N: the seq in agent N's cache (read-only; it may run).
it_agent_seq() {
    "$AGENT" status --state-dir "$WORK/a$1" | sed -n 's/^seq: *//p'
}

it_agent_at_seq() {
    [ "$(it_agent_seq "$1")" = "$2" ]
}

# it_wait_agent_seq N SEQ [TIMEOUT_S]
it_wait_agent_seq() {
    it_wait_until "agent $1 at seq $2" "${3:-20}" it_agent_at_seq "$1" "$2"
}

# it_wait_flag N FLAG VERSION [TIMEOUT_S]: agent N serves FLAG at
# VERSION (0: FLAG absent), asked through its socket.
it_wait_flag() {
    timeout -k 2 $(( ${4:-20} + 10 )) "$EVALTOOL" wait "$(it_agent_target "$1")" "$2" "$3" \
        "$(( ${4:-20} * 1000 ))" ||
        it_fail "agent $1 does not serve $2 at version $3"
}

# it_agent_stats N: ask agent N for its counters (SIGUSR1) and print its
# RAMP-AGENT-STATS line.
it_agent_stats() {
    local n=$1 log=$WORK/a$1.log n0 pid
    pid=$(it_agent_pid "$n")
    n0=$(grep -c 'RAMP-AGENT-STATS why=sigusr1' "$log" || true)
    kill -USR1 "$pid"
    local deadline=$(( $(it_now_ms) + 10000 ))
    while [ "$(grep -c 'RAMP-AGENT-STATS why=sigusr1' "$log" || true)" -le "$n0" ]; do
        [ "$(it_now_ms)" -lt "$deadline" ] || it_fail "agent $n: no stats"
        sleep 0.02
    done
    grep 'RAMP-AGENT-STATS why=sigusr1' "$log" | tail -n 1
}

# it_stat NAME STATS-LINE: one counter of a RAMP-AGENT-STATS line.
it_stat() {
    printf '%s\n' "$2" | grep -o " $1=[0-9]*" | head -n 1 | sed 's/.*=//'
}

# it_eval_answer JSON: "value variant reason version stale" of a `ramp
# eval --json` answer, in one awk (each process start costs 20+ ms here).
it_eval_answer() {
    printf '%s\n' "$1" | awk '
    function get(n,   re) {
        re = "\"" n "\":(\"[^\"]*\"|[^,}\"]*)"
        if (!match($0, re)) {
            return "?"
        }
        return substr($0, RSTART + length(n) + 3, RLENGTH - length(n) - 3)
    }
    { print get("value"), get("variant"), get("reason"), get("version"),
        get("stale") }'
}
