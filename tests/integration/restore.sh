#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Restoring the controller's store from an older backup (docs/operations.md
# "Backup and restore"). Agents have applied seqs the restored store never
# issued; the controller must jump its seq past theirs (audited as
# store.seq_jump) and answer them with a snapshot, so that every host
# converges on the restored state: flags created after the backup are gone,
# flags written after the restore arrive, and later changes flow over PUB
# again instead of being dropped as replays.
#
# Round 1: agent 1 keeps running through the restore; its resync on
# reconnecting asks from a seq the store never issued, and the store
# jumps. Agent 2 was stopped meanwhile and comes back behind the jumped
# seq (the log no longer reaches it): a snapshot.
# Round 2: the same backup again. Agent 3 keeps a PUB subscription that
# outlives the restart (as through a relay) and hears only heartbeats
# behind its seq: two in a row make it ask the resync socket, which
# makes the store jump. Agents 1 and 2 come back after it.
#
# Usage: restore.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"

command -v mdb_copy >/dev/null || it_fail "mdb_copy (lmdb-utils) is needed"

BACKUP=$WORK/backup

# ver N FLAG: the version agent N serves FLAG at, "absent" when it has not.
ver() {
    local out rc=0
    out=$(it_eval "$1" "$2" --key k 2>/dev/null) || rc=$?
    if [ "$rc" -eq 3 ]; then
        echo absent
        return 0
    fi
    [ "$rc" -eq 0 ] || return "$rc"
    it_eval_answer "$out" | awk '{print $4}'
}

expect_ver() {
    it_assert_eq "agent $1 $2 version" "$3" "$(ver "$1" "$2")"
}

# agent N's seq is at least the controller's
agent_caught_up() {
    local a c
    a=$(it_agent_seq "$1")
    c=$(it_healthz_seq)
    [ -n "$a" ] && [ -n "$c" ] && [ "$a" -ge "$c" ]
}

restore_backup() {
    rm -rf "$CTL_DATA"
    mkdir -m 0700 "$CTL_DATA"
    cp "$BACKUP/data.mdb" "$CTL_DATA/"
}

# connected_since N COUNT: agent N logged more than COUNT connections.
connected_since() {
    [ "$(grep -c 'RAMP-AGENT-SUB-CONNECTED' "$WORK/a$1.log" || true)" -gt "$2" ]
}

jump_lines() {
    grep -c 'RAMP-STORE-SEQ-JUMP' "$CTL_LOG" || true
}

it_start_controller
it_start_agent 1
it_start_agent 2

it_step "five flags: both agents at seq 5; back up the store"
for f in f1 f2 f3 f4 f5; do
    it_cli flag create "$f" --type bool --enabled --default-variant on >/dev/null
done
it_wait_agent_seq 1 5
it_wait_agent_seq 2 5
it_stop_controller TERM
mkdir -m 0700 "$BACKUP"
mdb_copy -c "$CTL_DATA" "$BACKUP"
it_start_controller

it_step "five changes after the backup: both agents at seq 10"
it_cli flag create g1 --type bool --enabled >/dev/null         # seq 6
it_cli flag set f1 --default-variant off >/dev/null            # seq 7
it_cli flag delete f2 >/dev/null                               # seq 8
it_cli flag create g2 --type bool --enabled >/dev/null         # seq 9
it_cli flag disable f3 >/dev/null                              # seq 10
it_wait_agent_seq 1 10
it_wait_agent_seq 2 10
expect_ver 1 g1 1
expect_ver 1 f2 absent

# ------------------------------------------------------------- round 1
it_step "restore the backup (seq 5); agent 1 keeps running, agent 2 is down"
it_stop_agent 2 TERM
it_stop_controller TERM
restore_backup
it_start_controller
# Agent 1 is at 10, the store at 5. Its resync on reconnecting (or the
# heartbeats behind its seq, whichever comes first) asks from 10: the
# store jumps to 11 and answers with a snapshot.
it_wait_until "controller seq jump" 20 grep -q \
    'RAMP-STORE-SEQ-JUMP from=5 to=11 ' "$CTL_LOG"
it_wait_agent_seq 1 11
grep -q 'RAMP-RESYNC-AHEAD since=10 seq=5 from=5 to=11' "$CTL_LOG" ||
    it_fail "no RAMP-RESYNC-AHEAD line for the jump"
it_assert_eq "controller seq after the jump" 11 "$(it_healthz_seq)"
it_assert_eq "jump lines" 1 "$(jump_lines)"
# The running agent now holds the restored state.
expect_ver 1 g1 absent
expect_ver 1 g2 absent
expect_ver 1 f1 1
expect_ver 1 f2 1
expect_ver 1 f3 1
stats=$(it_agent_stats 1)
it_assert_eq "agent 1 resync_snapshots" 1 "$(it_stat resync_snapshots "$stats")"

it_step "the jump is in the audit log"
audit=$(it_cli audit --json --limit 5)
it_assert_match "audit has store.seq_jump" \
    '"action": *"store.seq_jump"' "$audit"
it_assert_match "seq_jump record's seq" \
    '"action": *"store.seq_jump"[^}]*"seq": *11|"seq": *11[^}]*"action": *"store.seq_jump"' \
    "$(tr -d '\n' <<<"$audit")"
jump=$(curl -sS --max-time 10 -H "Authorization: Bearer $TOKEN" \
    "$CTL_URL/api/v1/audit?limit=20" | jq -c '[.entries[] |
    select(.action == "store.seq_jump")][0] | [.before, .after, .seq]')
it_assert_eq "seq_jump's before, after and seq" '[{"seq":5},{"seq":11},11]' "$jump"

it_step "a flag written after the restore reaches agent 1; agent 2 comes back"
it_cli flag create n1 --type bool --enabled --default-variant on >/dev/null # 12
it_wait_flag 1 n1 1
it_start_agent 2
# Agent 2 is at 10, behind 12, and the log (emptied by the jump, then 12)
# does not reach 11: a snapshot.
it_wait_agent_seq 2 12
it_wait_flag 2 n1 1
it_wait_until "agent 2 caught up" 10 agent_caught_up 2
expect_ver 2 g1 absent
expect_ver 2 g2 absent
expect_ver 2 f1 1
expect_ver 2 f2 1
it_assert_eq "jump lines (agent 2 needed none)" 1 "$(jump_lines)"

it_step "a further write reaches both over PUB"
r1=$(it_stat resyncs "$(it_agent_stats 1)")
r2=$(it_stat resyncs "$(it_agent_stats 2)")
it_cli flag set f4 --default-variant off >/dev/null # seq 13
it_wait_flag 1 f4 2
it_wait_flag 2 f4 2
it_wait_agent_seq 1 13
it_wait_agent_seq 2 13
it_assert_eq "agent 1 resyncs for the PUB write" "$r1" \
    "$(it_stat resyncs "$(it_agent_stats 1)")"
it_assert_eq "agent 2 resyncs for the PUB write" "$r2" \
    "$(it_stat resyncs "$(it_agent_stats 2)")"

# ------------------------------------------------------------- round 2
# A subscription that outlives the controller's restart (a relay's, in
# production) brings no reconnection resync: only the heartbeats behind
# the agent's seq tell it. Agent 3 subscribes to a publisher that sends
# heartbeats at seq 5 signed with the controller's real key, exactly what
# the restored controller announces (and what a replayed old heartbeat
# looks like); its resync socket is the real controller's.
it_step "agent 3 on a long-lived PUB, resync at the controller"
P_RELAY=$(it_free_port)
RELAY_URL=tcp://127.0.0.1:$P_RELAY
it_start_agent 3 --sub-url "$RELAY_URL"
it_wait_agent_seq 3 13
hbs=()
for i in $(seq 1 24); do
    hbs+=("$WORK/hb5.env")
done
"$TESTPUB" forge "$WORK/ctl.key" - heartbeat 5 - "$WORK/hb5.env"
n0=$(grep -c 'RAMP-AGENT-SUB-CONNECTED' "$WORK/a3.log" || true)
timeout -k 2 60 "$TESTPUB" send "$RELAY_URL" 15000 500 "${hbs[@]}" \
    >>"$WORK/tools.log" 2>&1 &
send_pid=$!
it_track "$send_pid"
it_wait_until "agent 3 subscribed to the long-lived PUB" 15 connected_since 3 "$n0"

it_step "restore the same backup again; agents 1 and 2 down, agent 3 running"
it_stop_agent 1 TERM
it_stop_agent 2 TERM
it_stop_controller TERM
restore_backup
it_start_controller
# Agent 3 is at 13 and hears seq 5: it asks (at most once per 5 s), the
# store jumps to 14 and the snapshot brings the restored state.
it_wait_until "second seq jump" 30 grep -q \
    'RAMP-STORE-SEQ-JUMP from=5 to=14 ' "$CTL_LOG"
it_wait_agent_seq 3 14
grep -q 'RAMP-AGENT-CONTROLLER-BEHIND seq=5 last=13' "$WORK/a3.log" ||
    it_fail "agent 3 did not log the heartbeats behind its seq"
expect_ver 3 n1 absent
expect_ver 3 f4 1
expect_ver 3 f1 1
wait "$send_pid" || it_fail "ramp_testpub send failed"
# The heartbeats stay behind (seq 5 < 14) to the end: one episode, one
# line, however many of them came.
it_assert_eq "BEHIND lines of agent 3" 1 \
    "$(grep -c 'RAMP-AGENT-CONTROLLER-BEHIND' "$WORK/a3.log")"
it_assert_eq "controller seq" 14 "$(it_healthz_seq)"

it_step "agents 1 and 2 come back behind the jumped seq: snapshots"
it_start_agent 2
it_start_agent 1
it_wait_agent_seq 2 14
it_wait_agent_seq 1 14
expect_ver 1 n1 absent
expect_ver 2 n1 absent
expect_ver 2 f4 1
it_assert_eq "jump lines" 2 "$(jump_lines)"
it_cli flag create n2 --type bool --enabled >/dev/null # seq 15
it_wait_flag 1 n2 1
it_wait_flag 2 n2 1
it_wait_until "agent 1 caught up" 10 agent_caught_up 1
it_wait_until "agent 2 caught up" 10 agent_caught_up 2
it_assert_eq "controller seq" 15 "$(it_healthz_seq)"
m=$(curl -sS --max-time 10 "$CTL_URL/metrics")
it_assert_eq "ramp_ctl_resync_seq_jumps_total" 1 \
    "$(awk '$1 == "ramp_ctl_resync_seq_jumps_total" { print $2 }' <<<"$m")"
it_assert_eq "ramp_ctl_resync_jumps_refused_total" 0 \
    "$(awk '$1 == "ramp_ctl_resync_jumps_refused_total" { print $2 }' <<<"$m")"
it_step "ok"
