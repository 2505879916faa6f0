#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Network partitions (docs/reliability.md). Each agent runs in its own
# network namespace, joined to the host by a veth pair on a bridge with
# addresses on a private /24; the controller listens on the bridge's
# address. Rounds of: cut some agents off (their veth's host end set
# down: packets vanish, no connection is closed, as in a real partition),
# change flags meanwhile, heal, and wait until each agent has converged
# to the controller's seq. Printed per heal: the time from the link
# coming up to the agent at the controller's seq (the goal is <= 2 s;
# the figure is reported, not asserted). Asserted: every agent converges,
# serves the current versions, and never applied an older or equal seq
# after a newer one (its RAMP-AGENT-APPLIED and RAMP-AGENT-RESYNC lines,
# in log order, are strictly increasing).
#
# Needs root and `ip netns`; without them the test says so and passes
# as skipped. RAMP_IT_PARTITION_ROUNDS (default 3) rounds, 3 agents.
#
# Usage: partition.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"

ROUNDS=${RAMP_IT_PARTITION_ROUNDS:-3}
NAGENTS=3
TAG=rp$$
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null ||
    ! ip netns add "${TAG}chk" 2>/dev/null; then
    echo "SKIP: network namespaces are not permitted here (needs root and iproute2's ip netns)"
    exit 0
fi
ip netns del "${TAG}chk"

# The names and addresses this run owns; removed on exit (before lib.sh
# kills the agents: a namespace without its name lives on until its last
# process ends, so the order does not matter).
pt_cleanup() {
    local i
    for i in $(seq 1 "$NAGENTS"); do
        ip link del "${TAG}h$i" 2>/dev/null
        ip netns del "${TAG}n$i" 2>/dev/null
    done
    ip link del "${TAG}br" 2>/dev/null
    return 0
}
trap 'rc=$?; pt_cleanup; (exit $rc); it_cleanup' EXIT

# A /24 of 10.0.0.0/8 that no interface uses.
for try in $(seq 1 50); do
    NET=10.$((100 + RANDOM % 100)).$((RANDOM % 250))
    ip -4 addr show | grep " $NET\." >/dev/null || break
done
HOSTIP=$NET.1
it_step "bridge ${TAG}br $HOSTIP/24, agents in namespaces ${TAG}n1..$NAGENTS"
ip link add "${TAG}br" type bridge
ip addr add "$HOSTIP/24" dev "${TAG}br"
ip link set "${TAG}br" up
for i in $(seq 1 "$NAGENTS"); do
    ns=${TAG}n$i
    ip netns add "$ns"
    ip link add "${TAG}h$i" type veth peer name "${TAG}a$i"
    ip link set "${TAG}a$i" netns "$ns"
    ip link set "${TAG}h$i" master "${TAG}br"
    ip link set "${TAG}h$i" up
    ip -n "$ns" addr add "$NET.$((10 + i))/24" dev "${TAG}a$i"
    ip -n "$ns" link set "${TAG}a$i" up
    ip -n "$ns" link set lo up
done
for i in $(seq 1 "$NAGENTS"); do
    ip netns exec "${TAG}n$i" ping -c 1 -W 2 "$HOSTIP" >/dev/null 2>&1 ||
        ip netns exec "${TAG}n$i" bash -c "exec 3<>/dev/tcp/$HOSTIP/9" 2>/dev/null ||
        true # ping may be missing; the agents' start proves the path
done

# The controller on the bridge's address (lib.sh keeps ports chosen
# here across restarts).
P_PUB=$(it_free_port)
P_RESYNC=$(it_free_port)
P_HEALTH=$(it_free_port)
P_HTTP=$(it_free_port)
it_start_controller --pub-url "tcp://$HOSTIP:$P_PUB" \
    --resync-url "tcp://$HOSTIP:$P_RESYNC"
grep -q "RAMP-PUB-LISTEN url=tcp://$HOSTIP:$P_PUB" "$CTL_LOG" ||
    it_fail "the controller did not take --pub-url tcp://$HOSTIP:$P_PUB"

# Agents through `ip netns exec` (it execs: the pid is the agent's).
REAL_AGENT=$AGENT
cat >"$WORK/agent-in-ns" <<EOF
#!/usr/bin/env bash
if [ "\$1" = run ]; then
    exec ip netns exec "\$RAMP_IT_NS" "$REAL_AGENT" "\$@"
fi
exec "$REAL_AGENT" "\$@"
EOF
chmod +x "$WORK/agent-in-ns"
AGENT=$WORK/agent-in-ns
for i in $(seq 1 "$NAGENTS"); do
    export RAMP_IT_NS=${TAG}n$i
    it_start_agent "$i" --sub-url "tcp://$HOSTIP:$P_PUB" \
        --resync-url "tcp://$HOSTIP:$P_RESYNC" --log-level debug
done
unset RAMP_IT_NS

it_cli flag create pt-a --type bool >/dev/null
it_cli flag create pt-b --type string --variant x=x --variant y=y \
    --default-variant x >/dev/null 2>&1 ||
    it_cli flag create pt-b --type bool >/dev/null
seq_now=$(it_healthz_seq)
for i in $(seq 1 "$NAGENTS"); do
    it_wait_agent_seq "$i" "$seq_now" 20
done

# wait_converged N SEQ T0: poll until agent N is at SEQ; print ms since T0.
wait_converged() {
    local n=$1 want=$2 t0=$3 deadline
    deadline=$(( $(it_now_ms) + 30000 ))
    while [ "$(it_agent_seq "$n" 2>/dev/null)" != "$want" ]; do
        [ "$(it_now_ms)" -lt "$deadline" ] ||
            it_fail "agent $n did not converge to seq $want within 30 s of the heal"
        sleep 0.02
    done
    echo $(( $(it_now_ms) - t0 ))
}

: >"$WORK/converge"
for r in $(seq 1 "$ROUNDS"); do
    # Cut one agent, or two, or all of them, in turn.
    case $((r % 3)) in
    1) cut="1" ;;
    2) cut="2 3" ;;
    0) cut="1 2 3" ;;
    esac
    for i in $cut; do
        ip link set "${TAG}h$i" down
    done
    # Changes while cut off: writes, a disable, a delete and a create.
    it_cli flag set pt-a --description "round $r" >/dev/null
    it_cli flag enable pt-a >/dev/null
    it_cli flag create "pt-r$r" --type bool >/dev/null
    it_cli flag disable pt-a >/dev/null
    [ "$r" -lt 2 ] || it_cli flag delete "pt-r$((r - 1))" >/dev/null
    sleep "0.$(( 500 + RANDOM % 500 ))"
    want=$(it_healthz_seq)
    t0=$(it_now_ms)
    for i in $cut; do
        ip link set "${TAG}h$i" up
    done
    for i in $cut; do
        ms=$(wait_converged "$i" "$want" "$t0")
        echo "$ms" >>"$WORK/converge"
        echo "   round $r: agent $i converged to seq $want ${ms} ms after the heal"
    done
    for i in $(seq 1 "$NAGENTS"); do
        it_wait_agent_seq "$i" "$want" 30
    done
done

it_step "every agent serves the current versions"
va=$(it_json_num version "$(it_cli flag get pt-a --json)")
for i in $(seq 1 "$NAGENTS"); do
    it_wait_flag "$i" pt-a "$va" 10
    it_wait_flag "$i" "pt-r$ROUNDS" 1 10
    [ "$ROUNDS" -lt 2 ] || it_wait_flag "$i" "pt-r$((ROUNDS - 1))" 0 10
done

it_step "no agent applied out of order"
for i in $(seq 1 "$NAGENTS"); do
    # APPLIED lines carry the seq; a RESYNC that applied something ends
    # at its seq=. In log order they must strictly increase.
    awk '
    /RAMP-AGENT-APPLIED/ { if (match($0, / seq=[0-9]+/)) s = substr($0, RSTART + 5, RLENGTH - 5) + 0; else next }
    /RAMP-AGENT-RESYNC / { if ($0 !~ / applied=[1-9]/) next;
        if (match($0, / seq=[0-9]+/)) s = substr($0, RSTART + 5, RLENGTH - 5) + 0; else next }
    !/RAMP-AGENT-APPLIED|RAMP-AGENT-RESYNC / { next }
    { n++; if (s <= last) { print "seq " s " after " last; bad = 1 } last = s }
    END { print "applies " n + 0; exit bad }' "$WORK/a$i.log" >"$WORK/order$i" ||
        it_fail "agent $i applied out of order: $(head -n 3 "$WORK/order$i")"
    echo "   agent $i: $(tail -n 1 "$WORK/order$i") in strictly increasing seq order"
done
stats=$(sort -n "$WORK/converge" | awk '{a[NR] = $1} END {
    printf "n=%d min=%d p50=%d max=%d", NR, a[1], a[int((NR + 1) / 2)], a[NR] }')
it_step "ok: $ROUNDS rounds; convergence after heal (ms): $stats"
