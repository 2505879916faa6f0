#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Bad input to the rollout, agent, webhook and analysis routes and to
# `ramp rollout`, `ramp agent` and `ramp webhook` (badinput.sh covers the
# flag, token and audit routes). Each case gets the status and error code
# of docs/api.md / docs/integrations.md with the field at fault named, or
# the exit code of docs/cli.md, and changes nothing:
#
#   - around every case, the API's view of everything a write could touch
#     (seq, flags, rollouts with their history, agents, webhooks,
#     deliveries, the analysis of the fixture flags, the newest audit
#     record, the count of webhook audit lines in the log) is equal;
#   - around the whole matrix, the controller is stopped and both LMDB
#     environments (flags and rollouts; webhooks) are dumped whole with
#     mdb_dump: byte for byte equal. The fixtures are chosen so nothing
#     moves by itself meanwhile (a paused rollout runs no checks, the
#     webhook matches no event).
#
# Usage: badinput_matrix.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"
command -v mdb_dump >/dev/null || it_fail "mdb_dump is needed (lmdb-utils)"

it_start_controller --max-body 4k
API=$CTL_URL/api/v1
AUTH="Authorization: Bearer $TOKEN"
JSON="Content-Type: application/json"
PK=$(printf 'ab%.0s' $(seq 32)) # 64 hex digits

it_step "fixtures: flags, a paused rollout, an agent, a webhook, an analysis"
it_cli flag create known --type bool --enabled >/dev/null
it_cli flag create other --type bool --enabled >/dev/null
it_cli flag create free --type bool --enabled >/dev/null # no rollout
it_cli rollout start known --treatment on --control off >/dev/null
it_cli rollout pause known --reason fixture >/dev/null
it_cli rollout start other --treatment on --control off >/dev/null
it_cli rollout abort other >/dev/null
it_cli agent enroll web-01 --public-key "$PK" --host web-01.test >/dev/null
fixture() {
    local code
    code=$(curl -sS --max-time 10 -o "$WORK/fx.json" -w '%{http_code}' \
        -H "$AUTH" -H "$JSON" "$@")
    [ "${code:0:1}" = 2 ] || it_fail "fixture $*: $code $(cat "$WORK/fx.json")"
}
fixture -X PUT -d '{"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef", "events": ["rollout.completed"], "flags": ["nomatch"]}' \
    "$API/webhooks/chat"
fixture -X PUT -d '{"checks": [{"name": "err", "query": "up", "op": "<", "threshold": 0.05}]}' \
    "$API/analysis/known"
VIEWER=$(it_cli token create --name viewer --role viewer --json |
    sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$VIEWER" ] || it_fail "no viewer token"

# Everything a bad request could change, as the API shows it.
state() {
    curl -sS --max-time 10 -H "$AUTH" "$CTL_URL/healthz" \
        "$API/flags?limit=1000" "$API/rollouts?limit=1000" \
        "$API/rollouts/known/history" "$API/rollouts/other/history" \
        "$API/agents" "$API/webhooks" "$API/webhooks/deliveries" \
        "$API/analysis/known" "$API/audit?limit=1" |
        sed 's/"last_report_at":[^,}]*//g'
    grep -c RAMP-WEBHOOK-AUDIT "$CTL_LOG" || true
}
# dump: both LMDB environments, whole (the controller stopped).
dump() {
    mdb_dump -a "$CTL_DATA" 2>&1
    mdb_dump -a "$CTL_DATA/webhooks" 2>&1
}
it_stop_controller
dump >"$WORK/dump.before"
[ -s "$WORK/dump.before" ] || it_fail "mdb_dump printed nothing"
it_start_controller
CASES=0
LAST_STATE=

# http NAME STATUS CODE FIELD CURL-ARGS...: FIELD "-" means no field
# member is expected; "" means the document as a whole.
http() {
    local name=$1 status=$2 code=$3 field=$4
    shift 4
    local before after out got body
    before=${LAST_STATE:-$(state)}
    out=$(curl -sS --max-time 10 -w '\n%{http_code}' "$@") ||
        it_fail "$name: curl failed"
    got=${out##*$'\n'}
    body=${out%$'\n'*}
    it_assert_eq "$name: status ($body)" "$status" "$got"
    it_assert_eq "$name: error status" "$status" "$(it_json_num status "$body")"
    it_assert_eq "$name: error code" "$code" "$(it_json_str code "$body")"
    if [ "$field" = "-" ]; then
        if grep -q '"field":' <<<"$body"; then
            it_fail "$name: unexpected field in $body"
        fi
    elif ! grep -qF "\"field\":\"$field\"" <<<"$body"; then
        it_fail "$name: field '$field' not named in $body"
    fi
    grep -q '"message":"[^"]' <<<"$body" ||
        it_fail "$name: no message in $body"
    after=$(state)
    [ "$before" = "$after" ] || it_fail "$name: the store changed"
    LAST_STATE=$after # nothing else writes: the next case's "before"
    CASES=$((CASES + 1))
}

# cli NAME EXIT STDERR-REGEX CLI-ARGS...
cli() {
    local name=$1 want=$2 re=$3
    shift 3
    local before after rc=0
    before=${LAST_STATE:-$(state)}
    timeout -k 2 30 "$CLI" "$@" >"$WORK/cli.out" 2>"$WORK/cli.err" </dev/null ||
        rc=$?
    it_assert_eq "$name: exit ($(head -c 300 "$WORK/cli.err"))" "$want" "$rc"
    grep -Eq -- "$re" "$WORK/cli.err" ||
        it_fail "$name: stderr '$(cat "$WORK/cli.err")' does not match /$re/"
    after=$(state)
    [ "$before" = "$after" ] || it_fail "$name: the store changed"
    LAST_STATE=$after # nothing else writes: the next case's "before"
    CASES=$((CASES + 1))
}

big=$(head -c 5000 /dev/zero | tr '\0' 'x')
post() { # post PATH BODY: curl arguments of an admin JSON POST
    printf '%s\n' -H "$AUTH" -H "$JSON" -d "$2" "$API/$1"
}

# --------------------------------------------------------------- rollouts
it_step "HTTP: /api/v1/rollouts"
R=rollouts
http "rollout: malformed JSON" 400 invalid "" -H "$AUTH" -H "$JSON" \
    -d '{"flag": "free", "treatment": ' "$API/$R"
http "rollout: not an object" 400 invalid "" -H "$AUTH" -H "$JSON" \
    -d '["free"]' "$API/$R"
http "rollout: empty body" 400 invalid "" -H "$AUTH" -H "$JSON" -X POST "$API/$R"
http "rollout: duplicate member" 400 invalid "" -H "$AUTH" -H "$JSON" \
    -d '{"flag": "free", "flag": "known", "treatment": "on", "control": "off"}' "$API/$R"
http "rollout: missing flag" 400 invalid flag -H "$AUTH" -H "$JSON" \
    -d '{"treatment": "on", "control": "off"}' "$API/$R"
http "rollout: missing treatment" 400 invalid treatment -H "$AUTH" -H "$JSON" \
    -d '{"flag": "free", "control": "off"}' "$API/$R"
http "rollout: flag not a string" 400 invalid flag -H "$AUTH" -H "$JSON" \
    -d '{"flag": 7, "treatment": "on", "control": "off"}' "$API/$R"
http "rollout: flag not a key" 400 invalid flag -H "$AUTH" -H "$JSON" \
    -d '{"flag": "Bad Key", "treatment": "on", "control": "off"}' "$API/$R"
http "rollout: unknown member" 400 invalid stagez -H "$AUTH" -H "$JSON" \
    -d '{"flag": "free", "treatment": "on", "control": "off", "stagez": [1]}' "$API/$R"
http "rollout: same variants" 400 invalid control -H "$AUTH" -H "$JSON" \
    -d '{"flag": "free", "treatment": "on", "control": "on"}' "$API/$R"
http "rollout: stages not increasing" 400 invalid "stages[1]" -H "$AUTH" -H "$JSON" \
    -d '{"flag": "free", "treatment": "on", "control": "off", "stages": [5000, 500]}' "$API/$R"
http "rollout: stage above 10000" 400 invalid "stages[0]" -H "$AUTH" -H "$JSON" \
    -d '{"flag": "free", "treatment": "on", "control": "off", "stages": [10001]}' "$API/$R"
http "rollout: stages not an array" 400 invalid stages -H "$AUTH" -H "$JSON" \
    -d '{"flag": "free", "treatment": "on", "control": "off", "stages": "5,25"}' "$API/$R"
http "rollout: unit unknown" 400 invalid unit -H "$AUTH" -H "$JSON" \
    -d '{"flag": "free", "treatment": "on", "control": "off", "unit": "cookie"}' "$API/$R"
http "rollout: policy wrong type" 400 invalid policy.bake_ms -H "$AUTH" -H "$JSON" \
    -d '{"flag": "free", "treatment": "on", "control": "off", "policy": {"bake_ms": "10m"}}' "$API/$R"
http "rollout: policy integer as real" 400 invalid policy.min_samples -H "$AUTH" -H "$JSON" \
    -d '{"flag": "free", "treatment": "on", "control": "off", "policy": {"min_samples": 200.0}}' "$API/$R"
http "rollout: policy out of range" 400 invalid policy.error_rate_max -H "$AUTH" -H "$JSON" \
    -d '{"flag": "free", "treatment": "on", "control": "off", "policy": {"error_rate_max": 1.5}}' "$API/$R"
http "rollout: policy unknown member" 400 invalid policy.bake -H "$AUTH" -H "$JSON" \
    -d '{"flag": "free", "treatment": "on", "control": "off", "policy": {"bake": 1}}' "$API/$R"
http "rollout: check interval below 100" 400 invalid policy.check_interval_ms -H "$AUTH" -H "$JSON" \
    -d '{"flag": "free", "treatment": "on", "control": "off", "policy": {"check_interval_ms": 99}}' "$API/$R"
http "rollout: no such variant" 400 invalid control -H "$AUTH" -H "$JSON" \
    -d '{"flag": "free", "treatment": "on", "control": "maybe"}' "$API/$R"
http "rollout: no such flag" 404 not_found flag -H "$AUTH" -H "$JSON" \
    -d '{"flag": "nope", "treatment": "on", "control": "off"}' "$API/$R"
http "rollout: active one exists" 409 conflict - -H "$AUTH" -H "$JSON" \
    -d '{"flag": "known", "treatment": "on", "control": "off"}' "$API/$R"
http "rollout: body over max-body" 413 too_large - -H "$AUTH" -H "$JSON" \
    -d "{\"flag\": \"free\", \"treatment\": \"on\", \"control\": \"off\", \"x\": \"$big\"}" "$API/$R"
http "rollout: text/plain" 415 unsupported - -H "$AUTH" -H 'Content-Type: text/plain' \
    -d '{"flag": "free", "treatment": "on", "control": "off"}' "$API/$R"
http "rollout: viewer starts" 403 forbidden - -H "Authorization: Bearer $VIEWER" \
    -H "$JSON" -d '{"flag": "free", "treatment": "on", "control": "off"}' "$API/$R"
http "rollout list: state unknown" 400 invalid state -H "$AUTH" "$API/$R?state=bogus"
http "rollout list: limit 0" 400 invalid limit -H "$AUTH" "$API/$R?limit=0"
http "rollout list: limit 1001" 400 invalid limit -H "$AUTH" "$API/$R?limit=1001"
http "rollout list: limit not a number" 400 invalid limit -H "$AUTH" "$API/$R?limit=ten"
http "rollout list: after not a key" 400 invalid after -H "$AUTH" "$API/$R?after=Bad%20Key"
http "rollout list: unknown parameter" 400 invalid frob -H "$AUTH" "$API/$R?frob=1"
http "rollout list: repeated parameter" 400 invalid limit -H "$AUTH" "$API/$R?limit=1&limit=2"
http "rollout get: bad key" 400 invalid key -H "$AUTH" "$API/$R/Bad%20Key"
http "rollout get: too long a key" 400 invalid key -H "$AUTH" "$API/$R/$(printf 'k%.0s' $(seq 129))"
http "rollout get: none" 404 not_found - -H "$AUTH" "$API/$R/free"
http "rollout get: no flag" 404 not_found - -H "$AUTH" "$API/$R/nope"
http "rollout get: unknown parameter" 400 invalid x -H "$AUTH" "$API/$R/known?x=1"
for a in pause resume promote abort retry; do
    http "$a: bad key" 400 invalid key -H "$AUTH" -X POST "$API/$R/Bad%20Key/$a"
    http "$a: no rollout" 404 not_found - -H "$AUTH" -X POST "$API/$R/free/$a"
    http "$a: reason not a string" 400 invalid reason -H "$AUTH" -H "$JSON" \
        -d '{"reason": 5}' "$API/$R/known/$a"
    http "$a: unknown member" 400 invalid why -H "$AUTH" -H "$JSON" \
        -d '{"why": "x"}' "$API/$R/known/$a"
    http "$a: malformed body" 400 invalid "" -H "$AUTH" -H "$JSON" \
        -d '{"reason": ' "$API/$R/known/$a"
    http "$a: viewer" 403 forbidden - -H "Authorization: Bearer $VIEWER" \
        -X POST "$API/$R/known/$a"
done
http "pause: already paused" 409 conflict - -H "$AUTH" -X POST "$API/$R/known/pause"
http "retry: paused" 409 conflict - -H "$AUTH" -X POST "$API/$R/known/retry"
http "resume: aborted" 409 conflict - -H "$AUTH" -X POST "$API/$R/other/resume"
http "abort: aborted" 409 conflict - -H "$AUTH" -X POST "$API/$R/other/abort"
http "action: body over max-body" 413 too_large - -H "$AUTH" -H "$JSON" \
    -d "{\"reason\": \"$big\"}" "$API/$R/known/resume"
http "unknown action" 404 not_found - -H "$AUTH" -X POST "$API/$R/known/restart"
http "explain: limit 0" 400 invalid limit -H "$AUTH" "$API/$R/known/explain?limit=0"
http "explain: limit 101" 400 invalid limit -H "$AUTH" "$API/$R/known/explain?limit=101"
http "explain: limit not a number" 400 invalid limit -H "$AUTH" "$API/$R/known/explain?limit=x"
http "explain: bad key" 400 invalid key -H "$AUTH" "$API/$R/Bad%20Key/explain"
http "explain: none" 404 not_found - -H "$AUTH" "$API/$R/free/explain"
http "history: unknown parameter" 400 invalid limit -H "$AUTH" "$API/$R/known/history?limit=1"
http "history: bad key" 400 invalid key -H "$AUTH" "$API/$R/Bad%20Key/history"
http "wrong method" 405 method_not_allowed - -H "$AUTH" -X DELETE "$API/$R/known"

# ----------------------------------------------------------------- agents
it_step "HTTP: /api/v1/agents"
http "agent: malformed JSON" 400 invalid "" -H "$AUTH" -H "$JSON" \
    -d '{"id": "a1", ' "$API/agents"
http "agent: not an object" 400 invalid "" -H "$AUTH" -H "$JSON" \
    -d '"a1"' "$API/agents"
http "agent: missing id" 400 invalid id -H "$AUTH" -H "$JSON" \
    -d "{\"public_key\": \"$PK\"}" "$API/agents"
http "agent: id not a string" 400 invalid id -H "$AUTH" -H "$JSON" \
    -d "{\"id\": 1, \"public_key\": \"$PK\"}" "$API/agents"
http "agent: id with a space" 400 invalid id -H "$AUTH" -H "$JSON" \
    -d "{\"id\": \"web 02\", \"public_key\": \"$PK\"}" "$API/agents"
http "agent: id of 65 bytes" 400 invalid id -H "$AUTH" -H "$JSON" \
    -d "{\"id\": \"$(printf 'a%.0s' $(seq 65))\", \"public_key\": \"$PK\"}" "$API/agents"
http "agent: missing key" 400 invalid public_key -H "$AUTH" -H "$JSON" \
    -d '{"id": "web-02"}' "$API/agents"
http "agent: key too short" 400 invalid public_key -H "$AUTH" -H "$JSON" \
    -d '{"id": "web-02", "public_key": "abcd"}' "$API/agents"
http "agent: key not hex" 400 invalid public_key -H "$AUTH" -H "$JSON" \
    -d "{\"id\": \"web-02\", \"public_key\": \"zz${PK:2}\"}" "$API/agents"
http "agent: key not a string" 400 invalid public_key -H "$AUTH" -H "$JSON" \
    -d '{"id": "web-02", "public_key": [1]}' "$API/agents"
http "agent: host not a string" 400 invalid host -H "$AUTH" -H "$JSON" \
    -d "{\"id\": \"web-02\", \"public_key\": \"$PK\", \"host\": 5}" "$API/agents"
http "agent: host of 256 bytes" 400 invalid host -H "$AUTH" -H "$JSON" \
    -d "{\"id\": \"web-02\", \"public_key\": \"$PK\", \"host\": \"$(printf 'h%.0s' $(seq 256))\"}" "$API/agents"
http "agent: unknown member" 400 invalid role -H "$AUTH" -H "$JSON" \
    -d "{\"id\": \"web-02\", \"public_key\": \"$PK\", \"role\": \"x\"}" "$API/agents"
http "agent: enrolled" 409 conflict id -H "$AUTH" -H "$JSON" \
    -d "{\"id\": \"web-01\", \"public_key\": \"$PK\"}" "$API/agents"
http "agent: body over max-body" 413 too_large - -H "$AUTH" -H "$JSON" \
    -d "{\"id\": \"web-02\", \"public_key\": \"$PK\", \"host\": \"$big\"}" "$API/agents"
http "agent: viewer enrolls" 403 forbidden - -H "Authorization: Bearer $VIEWER" \
    -H "$JSON" -d "{\"id\": \"web-02\", \"public_key\": \"$PK\"}" "$API/agents"
http "agent remove: bad id" 400 invalid id -H "$AUTH" -X DELETE "$API/agents/web%2002"
http "agent remove: none" 404 not_found - -H "$AUTH" -X DELETE "$API/agents/web-09"
http "agent list: unknown parameter" 400 invalid limit -H "$AUTH" "$API/agents?limit=5"

# --------------------------------------------------------------- webhooks
it_step "HTTP: /api/v1/webhooks"
W=webhooks
http "webhook: malformed JSON" 400 invalid "" -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"url": ' "$API/$W/chat2"
http "webhook: not an object" 400 invalid "" -H "$AUTH" -H "$JSON" -X PUT \
    -d '[]' "$API/$W/chat2"
http "webhook: empty body" 400 invalid "" -H "$AUTH" -H "$JSON" -X PUT "$API/$W/chat2"
http "webhook: missing url" 400 invalid url -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"events": ["*"]}' "$API/$W/chat2"
http "webhook: url not http" 400 invalid url -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"url": "ftp://127.0.0.1/x"}' "$API/$W/chat2"
http "webhook: url not a string" 400 invalid url -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"url": 80}' "$API/$W/chat2"
http "webhook: secret too short" 400 invalid secret -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"url": "http://127.0.0.1:9/x", "secret": "short"}' "$API/$W/chat2"
http "webhook: unknown event" 400 invalid events -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"url": "http://127.0.0.1:9/x", "events": ["flag.exploded"]}' "$API/$W/chat2"
http "webhook: events not an array" 400 invalid events -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"url": "http://127.0.0.1:9/x", "events": "*"}' "$API/$W/chat2"
http "webhook: unknown format" 400 invalid format -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"url": "http://127.0.0.1:9/x", "format": "xml"}' "$API/$W/chat2"
http "webhook: gate not a boolean" 400 invalid gate -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"url": "http://127.0.0.1:9/x", "gate": "yes"}' "$API/$W/chat2"
http "webhook: slack gate" 400 invalid gate -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"url": "http://127.0.0.1:9/x", "format": "slack", "gate": true}' "$API/$W/chat2"
http "webhook: flags with a bad key" 400 invalid "flags[0]" -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"url": "http://127.0.0.1:9/x", "flags": ["Bad Key"]}' "$API/$W/chat2"
http "webhook: unknown member" 400 invalid retries -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"url": "http://127.0.0.1:9/x", "retries": 3}' "$API/$W/chat2"
http "webhook: bad change to an existing one" 400 invalid url -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"url": "mailto:x@example.net"}' "$API/$W/chat"
http "webhook: body over max-body" 413 too_large - -H "$AUTH" -H "$JSON" -X PUT \
    -d "{\"url\": \"http://127.0.0.1:9/$big\"}" "$API/$W/chat2"
http "webhook: operator writes" 403 forbidden - -H "Authorization: Bearer $VIEWER" \
    -H "$JSON" -X PUT -d '{"url": "http://127.0.0.1:9/x"}' "$API/$W/chat2"
http "webhook: bad name (PUT)" 400 invalid name -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"url": "http://127.0.0.1:9/x"}' "$API/$W/bad%20name"
http "webhook: bad name (GET)" 400 invalid name -H "$AUTH" "$API/$W/bad%20name"
http "webhook: bad name (DELETE)" 400 invalid name -H "$AUTH" -X DELETE "$API/$W/bad%20name"
http "webhook: bad name (test)" 400 invalid name -H "$AUTH" -X POST "$API/$W/bad%20name/test"
http "webhook: none (GET)" 404 not_found - -H "$AUTH" "$API/$W/nohook"
http "webhook: none (DELETE)" 404 not_found - -H "$AUTH" -X DELETE "$API/$W/nohook"
http "webhook: none (test)" 404 not_found - -H "$AUTH" -X POST "$API/$W/nohook/test"
http "deliveries: limit 0" 400 invalid limit -H "$AUTH" "$API/$W/deliveries?limit=0"
http "deliveries: limit not a number" 400 invalid limit -H "$AUTH" "$API/$W/deliveries?limit=x"
http "deliveries: state unknown" 400 invalid state -H "$AUTH" "$API/$W/deliveries?state=lost"
http "deliveries: bad hook name" 400 invalid hook -H "$AUTH" "$API/$W/deliveries?hook=bad%20name"
http "deliveries: unknown parameter" 400 invalid since -H "$AUTH" "$API/$W/deliveries?since=1"
http "webhooks: unknown parameter" 400 invalid x -H "$AUTH" "$API/$W?x=1"

# --------------------------------------------------------------- analysis
it_step "HTTP: /api/v1/analysis"
N=analysis
CHK='{"name": "e", "query": "up", "op": "<", "threshold": 1}'
http "analysis: malformed JSON" 400 invalid "" -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"checks": [' "$API/$N/known"
http "analysis: not an object" 400 invalid "" -H "$AUTH" -H "$JSON" -X PUT \
    -d '[]' "$API/$N/known"
http "analysis: missing checks" 400 invalid checks -H "$AUTH" -H "$JSON" -X PUT \
    -d '{}' "$API/$N/known"
http "analysis: checks not an array" 400 invalid checks -H "$AUTH" -H "$JSON" -X PUT \
    -d "{\"checks\": $CHK}" "$API/$N/known"
http "analysis: missing query" 400 invalid "checks[0].query" -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"checks": [{"name": "e", "op": "<", "threshold": 1}]}' "$API/$N/known"
http "analysis: unknown op" 400 invalid "checks[0].op" -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"checks": [{"name": "e", "query": "up", "op": "~", "threshold": 1}]}' "$API/$N/known"
http "analysis: threshold a string" 400 invalid "checks[0].threshold" -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"checks": [{"name": "e", "query": "up", "op": "<", "threshold": "1"}]}' "$API/$N/known"
http "analysis: unknown member" 400 invalid "checks[0].every" -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"checks": [{"name": "e", "query": "up", "op": "<", "threshold": 1, "every": 5}]}' "$API/$N/known"
http "analysis: 17 checks" 400 invalid checks -H "$AUTH" -H "$JSON" -X PUT \
    -d "{\"checks\": [$(for i in $(seq 17); do printf '{"name": "c%d", "query": "up", "op": "<", "threshold": 1}%s' "$i" "$([ "$i" -lt 17 ] && echo ,)"; done)]}" \
    "$API/$N/known"
http "analysis: body over max-body" 413 too_large - -H "$AUTH" -H "$JSON" -X PUT \
    -d "{\"checks\": [{\"name\": \"e\", \"query\": \"$big\", \"op\": \"<\", \"threshold\": 1}]}" "$API/$N/known"
http "analysis: viewer writes" 403 forbidden - -H "Authorization: Bearer $VIEWER" \
    -H "$JSON" -X PUT -d "{\"checks\": [$CHK]}" "$API/$N/known"
http "analysis: bad key (PUT)" 400 invalid key -H "$AUTH" -H "$JSON" -X PUT \
    -d "{\"checks\": [$CHK]}" "$API/$N/Bad%20Key"
http "analysis: bad key (GET)" 400 invalid key -H "$AUTH" "$API/$N/Bad%20Key"
http "analysis: bad key (DELETE)" 400 invalid key -H "$AUTH" -X DELETE "$API/$N/Bad%20Key"
http "analysis: bad key (results)" 400 invalid key -H "$AUTH" "$API/$N/Bad%20Key/results"
http "analysis: none (GET)" 404 not_found - -H "$AUTH" "$API/$N/free"
http "analysis: no such flag (PUT)" 404 not_found - -H "$AUTH" -H "$JSON" -X PUT \
    -d "{\"checks\": [$CHK]}" "$API/$N/nosuchflag"
http "analysis: none (DELETE)" 404 not_found - -H "$AUTH" -X DELETE "$API/$N/free"
http "analysis: none (results)" 404 not_found - -H "$AUTH" "$API/$N/free/results"
http "analysis: unknown parameter" 400 invalid x -H "$AUTH" "$API/$N/known?x=1"

# -------------------------------------------------------------------- CLI
it_step "CLI: ramp rollout, ramp agent, ramp webhook"
cli "rollout start: no --treatment" 2 "error:" rollout start free --control off
cli "rollout start: bad key" 2 "error:" rollout start 'Bad Key' --treatment on --control off
cli "rollout start: stages decreasing" 2 "error:" rollout start free --treatment on --control off --stages 50,25
cli "rollout start: stage 0" 2 "error:" rollout start free --treatment on --control off --stages 0,100
cli "rollout start: stage over 100" 2 "error:" rollout start free --treatment on --control off --stages 5,101
cli "rollout start: bad duration" 2 "error:" rollout start free --treatment on --control off --bake tenminutes
cli "rollout start: check below 100ms" 2 "error:" rollout start free --treatment on --control off --check 50ms
cli "rollout start: bad unit" 2 "error:" rollout start free --treatment on --control off --unit cookie
cli "rollout start: rate above 1" 2 "error:" rollout start free --treatment on --control off --error-rate-max 1.5
cli "rollout start: min-samples not a number" 2 "error:" rollout start free --treatment on --control off --min-samples many
cli "rollout start: unknown option" 2 "error:" rollout start free --treatment on --control off --canary
cli "rollout start: same variants" 2 "error:" rollout start free --treatment on --control on
cli "rollout start: no such variant (server)" 1 "field: control" rollout start free --treatment on --control maybe
cli "rollout start: no such flag" 3 "error:" rollout start nope --treatment on --control off
cli "rollout start: active one" 4 "error:" rollout start known --treatment on --control off
cli "rollout start: viewer" 5 "error:" --token "$VIEWER" rollout start free --treatment on --control off
cli "rollout pause: paused" 4 "error:" rollout pause known
cli "rollout resume: aborted" 4 "error:" rollout resume other
cli "rollout pause: none" 3 "error:" rollout pause free
cli "rollout pause: bad key" 2 "error:" rollout pause 'Bad Key'
cli "rollout pause: no flag" 2 "error:" rollout pause
cli "rollout frobnicate" 2 "error:" rollout frobnicate known
cli "rollout explain: limit 0" 2 "error:" rollout explain known --limit 0
cli "rollout explain: limit 101" 2 "error:" rollout explain known --limit 101
cli "rollout explain: none" 3 "error:" rollout explain free
cli "rollout status: none" 3 "error:" rollout status free
cli "rollout status: --json --wait" 2 "error:" rollout status known --json --wait
cli "rollout status: bad timeout" 2 "error:" rollout status known --wait --timeout soon
cli "rollout list: bad state" 2 "error:" rollout list --state lost
cli "rollout history: none" 3 "error:" rollout history free
cli "agent enroll: bad id" 2 "error:" agent enroll 'web 02' --public-key "$PK"
cli "agent enroll: no key" 2 "error:" agent enroll web-02
cli "agent enroll: short key" 2 "error:" agent enroll web-02 --public-key abcd
cli "agent enroll: long host" 2 "error:" agent enroll web-02 --public-key "$PK" --host "$(printf 'h%.0s' $(seq 256))"
cli "agent enroll: enrolled" 4 "error:" agent enroll web-01 --public-key "$PK"
cli "agent enroll: viewer" 5 "error:" --token "$VIEWER" agent enroll web-02 --public-key "$PK"
cli "agent remove: none" 3 "error:" agent remove web-09
cli "agent remove: bad id" 2 "error:" agent remove 'web 09'
cli "agent frobnicate" 2 "error:" agent frobnicate
cli "webhook test: none" 3 "error:" webhook test nohook
cli "webhook test: no name" 2 "error:" webhook test
cli "webhook deliveries: bad state" 2 "error:" webhook deliveries --state lost
cli "webhook deliveries: limit 0" 2 "error:" webhook deliveries --limit 0
cli "webhook frobnicate" 2 "error:" webhook frobnicate
cli "no controller" 6 "error:" --url "http://127.0.0.1:$(it_free_port)" rollout pause known

it_step "nothing changed at all: both LMDB environments dumped whole"
it_stop_controller
dump >"$WORK/dump.after"
if ! cmp -s "$WORK/dump.before" "$WORK/dump.after"; then
    diff "$WORK/dump.before" "$WORK/dump.after" | head -n 20
    it_fail "the LMDB environments changed"
fi
it_step "ok: $CASES cases, each with its documented answer; the store identical ($(wc -l <"$WORK/dump.after") dump lines)"
