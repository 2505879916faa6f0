#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Webhooks and Prometheus analysis on real processes: a controller, a
# webhook receiver that verifies signatures and refuses replays
# (webhook_helper.py), a real Prometheus server scraping a tiny exporter,
# all on 127.0.0.1. Proves: signed delivery, replay and tamper refused by
# the receiver, a 500 retried until it recovers, rollout events in order,
# a failing Prometheus check rolling back while the receiver hangs (the
# time to the rollback is printed), the event arriving once the receiver
# recovers, a pending event sent after a controller restart, and an
# unreachable Prometheus giving no data and no advance.
#
# Usage: webhook.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"

HELPER=$(dirname "$0")/webhook_helper.py
command -v python3 >/dev/null || it_fail "python3 is needed"
PROM=$(command -v prometheus || true)
[ -n "$PROM" ] || it_fail "prometheus is needed (scripts/deps.sh installs it)"
SECRET=it-webhook-secret-0123456789
printf '%s' "$SECRET" >"$WORK/secret"
RDIR=$WORK/recv
mkdir -p "$RDIR"
echo ok >"$RDIR/mode"
EVLOG=$RDIR/events.jsonl
: >"$EVLOG"

# start_helper WHAT PORTFILE ARGS...: run webhook_helper.py, wait for its port.
start_helper() {
    local what=$1 pf=$2
    shift 2
    rm -f "$pf"
    python3 "$HELPER" "$what" --port-file "$pf" "$@" 2>>"$WORK/helpers.log" &
    it_track $!
    it_wait_until "$what port" 10 test -s "$pf"
}
start_helper receiver "$RDIR/port" --dir "$RDIR" --secret "$SECRET" \
    --log "$EVLOG" --mode-file "$RDIR/mode" --hang 20
RPORT=$(cat "$RDIR/port")
printf 'ramp_it_error_ratio{flag="it-good"} 0.01\nramp_it_error_ratio{flag="it-bad"} 0.5\n' \
    >"$WORK/values"
start_helper exporter "$WORK/export.port" --values-file "$WORK/values"
EPORT=$(cat "$WORK/export.port")

PPORT=$(it_free_port)
cat >"$WORK/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: it
    static_configs: [{targets: ["127.0.0.1:$EPORT"]}]
EOF
"$PROM" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
    --web.listen-address="127.0.0.1:$PPORT" >"$WORK/prometheus.log" 2>&1 &
it_track $!
it_wait_until "prometheus ready" 60 curl -sf "http://127.0.0.1:$PPORT/-/ready"
it_wait_until "a scrape of the exporter" 30 sh -c \
    "curl -s 'http://127.0.0.1:$PPORT/api/v1/query?query=ramp_it_error_ratio' | grep -q it-bad"

WH_ARGS=(--webhook-url "http://127.0.0.1:$RPORT/" --webhook-secret-file "$WORK/secret"
    --webhook-timeout 1s --webhook-backoff-min 100ms --webhook-backoff-max 1s
    --check-tick 100ms)
it_start_controller "${WH_ARGS[@]}" --prometheus-url "http://127.0.0.1:$PPORT"

events_of() { # TYPE: how many accepted events of TYPE
    grep -c "\"type\": \"$1\"" "$EVLOG" || true
}
api() { # METHOD PATH [BODY]
    curl -sS --max-time 10 -X "$1" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' ${3:+-d "$3"} "$CTL_URL$2"
}

# ------------------------------------------------------------ signatures
it_step "ramp webhook test: a signed webhook.test reaches the receiver"
it_cli webhook test controller >/dev/null
it_wait_until "webhook.test accepted" 10 sh -c "grep -q webhook.test '$EVLOG'"
out=$(it_cli webhook list)
it_assert_match "webhook list" "controller +config +json +no" "$out"

it_step "the receiver refuses a replay (409) and a changed body (401)"
hdr=()
while IFS= read -r line; do hdr+=(-H "$line"); done <"$RDIR/last-request.headers"
code=$(curl -s -o /dev/null -w '%{http_code}' "${hdr[@]}" \
    --data-binary @"$RDIR/last-request.body" "http://127.0.0.1:$RPORT/")
it_assert_eq "replayed delivery" 409 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' "${hdr[@]}" \
    --data-binary '{"type":"rollout.completed"}' "http://127.0.0.1:$RPORT/")
it_assert_eq "tampered delivery" 401 "$code"

# -------------------------------------------------------------- retries
it_step "a receiver answering 500 gets the event once it recovers"
echo 500 >"$RDIR/mode"
it_cli webhook test controller >/dev/null
it_wait_until "two failed attempts" 10 sh -c \
    "'$CLI' webhook deliveries --state pending --json | grep -q '\"last_status\":500'"
echo ok >"$RDIR/mode"
it_wait_until "the retried event" 10 sh -c "[ \$(grep -c webhook.test '$EVLOG') -ge 2 ]"
out=$(it_cli webhook deliveries --limit 1 --json)
it_assert_eq "delivered state" '"delivered"' "$(it_json_num state "$out")"
att=$(it_json_num attempts "$out")
[ "$att" -ge 2 ] || it_fail "attempts: $att, want >= 2"

# ------------------------------------------------------- rollout events
it_step "rollout events in order: started, paused, resumed, aborted"
it_cli flag create it-good --type bool --enabled >/dev/null
api PUT /api/v1/analysis/it-good \
    '{"checks":[{"name":"errors","query":"max(ramp_it_error_ratio{flag=\"{{flag}}\"})","op":"<","threshold":0.1}]}' >/dev/null
out=$(api POST /api/v1/rollouts \
    '{"flag":"it-good","treatment":"on","control":"off","stages":[500,10000],"policy":{"check_interval_ms":200,"bake_ms":200,"max_stage_ms":600000}}')
it_assert_match "rollout start" '"state":"running"' "$out"
it_wait_until "a pass from Prometheus" 20 sh -c \
    "curl -s -H 'Authorization: Bearer $TOKEN' '$CTL_URL/api/v1/analysis/it-good/results' | grep -q '\"verdict\":\"pass\"'"
for a in pause resume abort; do
    api POST "/api/v1/rollouts/it-good/$a" >/dev/null
done
it_wait_until "rollout.aborted" 10 sh -c "grep -q rollout.aborted '$EVLOG'"
it_step "flag writes reach the webhook as flag.changed"
it_wait_until "flag.changed for it-good" 10 sh -c \
    "grep '\"type\": \"flag.changed\"' '$EVLOG' | grep -q '\"flag\": \"it-good\"'"
order=$(grep '"flag": "it-good"' "$EVLOG" | grep -o '"type": "rollout[^"]*"' |
    sed 's/.*: //; s/"//g' | tr '\n' ' ')
it_assert_match "event order" "^rollout.started (rollout.stage_advanced )?rollout.paused rollout.resumed rollout.aborted $" "$order"

# ------------------------------------------ rollback with a hung receiver
it_step "a failing Prometheus check rolls back while the receiver hangs"
echo hang >"$RDIR/mode"
it_cli flag create it-bad --type bool --enabled >/dev/null
api PUT /api/v1/analysis/it-bad \
    '{"checks":[{"name":"errors","query":"max(ramp_it_error_ratio{flag=\"{{flag}}\"})","op":"<","threshold":0.1}]}' >/dev/null
it_cli webhook test controller >/dev/null # occupies the receiver first
t0=$(it_now_ms)
api POST /api/v1/rollouts \
    '{"flag":"it-bad","treatment":"on","control":"off","stages":[500,10000],"policy":{"check_interval_ms":200,"failure_limit":1}}' >/dev/null
it_wait_until "rolled back" 30 sh -c \
    "curl -s -H 'Authorization: Bearer $TOKEN' '$CTL_URL/api/v1/rollouts/it-bad' | grep -q '\"state\":\"rolled_back\"'"
t1=$(it_now_ms)
echo "   rollback with a hanging receiver: $((t1 - t0)) ms from the rollout's start (check interval 200 ms, Prometheus answers in the same check)"
grep -q '"type": "rollout.rolled_back"' "$EVLOG" &&
    it_fail "rolled_back delivered while the receiver hangs"
it_cli webhook deliveries --state pending --json | grep webhook.test >/dev/null ||
    it_fail "the hung delivery is not pending at the rollback"
echo ok >"$RDIR/mode"
it_wait_until "rollout.rolled_back after recovery" 30 sh -c \
    "grep -q '\"type\": \"rollout.rolled_back\"' '$EVLOG'"
line=$(grep '"type": "rollout.rolled_back"' "$EVLOG")
it_assert_match "rolled_back names the check" 'prometheus errors failed' "$line"

# ------------------------------------------------------ across a restart
it_step "a pending event is sent after a controller restart"
echo 500 >"$RDIR/mode"
before=$(events_of webhook.test)
it_cli webhook test controller >/dev/null
it_wait_until "a failed attempt" 10 sh -c \
    "'$CLI' webhook deliveries --state pending --json | grep -q '\"last_status\":500'"
it_stop_controller
echo ok >"$RDIR/mode"
DEAD=$(it_free_port) # nobody listens: Prometheus unreachable from now on
it_start_controller "${WH_ARGS[@]}" --prometheus-url "http://127.0.0.1:$DEAD"
it_wait_until "the event after the restart" 15 sh -c \
    "[ \$(grep -c webhook.test '$EVLOG') -gt $before ]"

# ------------------------------------------------ unreachable Prometheus
it_step "an unreachable Prometheus: no data, and the rollout does not advance"
api POST /api/v1/rollouts/it-bad/retry >/dev/null
it_wait_until "no_data from an unreachable Prometheus" 15 sh -c \
    "curl -s -H 'Authorization: Bearer $TOKEN' '$CTL_URL/api/v1/analysis/it-bad/results' | grep -q '\"verdict\":\"no_data\".*onnect'"
sleep 2 # ten check intervals
out=$(api GET /api/v1/rollouts/it-bad)
it_assert_match "still at stage 0" '"stage_index":0' "$out"
it_assert_match "not rolled back" '"state":"(running|held)"' "$out"
metrics=$(curl -s "$CTL_URL/metrics")
it_assert_match "metrics" 'ramp_ctl_webhook_deliveries_total\{result="delivered"\} [1-9]' "$metrics"
it_step "ok"
