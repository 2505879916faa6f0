#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# OFREP, outcomes, metrics and probes on real agents over real sockets
# (docs/ofrep.md), asked with curl and, for what curl will not send, raw
# bytes through bash's /dev/tcp:
#   - every flag type typed right (bool, string, integer, float, object),
#     reasons, variants, flat metadata with version, seq and stale;
#   - every status: 200, 304, 400 (PARSE_ERROR, TARGETING_KEY_MISSING,
#     INVALID_CONTEXT), 401, 403, 404 (flag, route), 405, 411, 413, 503;
#     error bodies always JSON with key and errorCode;
#   - the bulk ETag: 304 for the same answer, a new tag when the context
#     changes with the same targetingKey, when a flag changes, and when
#     the state turns stale;
#   - auth by Bearer and X-API-Key; probes and /metrics without;
#   - bad input (invalid JSON, wrong types, huge and chunked bodies, bad
#     Content-Length, unknown methods) and the agent serving on after it;
#   - /ramp/v1/outcomes into the health aggregation, a bad batch changing
#     nothing;
#   - `promtool check metrics` on both daemons, bounded flag labels.
#
# Usage: ofrep.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ofrep_flags.sh"
it_init "$@"
command -v jq >/dev/null || it_fail "jq is needed (scripts/deps.sh)"
command -v promtool >/dev/null ||
    it_fail "promtool is needed (Debian package prometheus, scripts/deps.sh)"

it_start_controller
P1=$(it_free_port)
P2=$(it_free_port)
printf 's3cret-agent-key\n' >"$WORK/http.key"
chmod 600 "$WORK/http.key"
it_start_agent 1 --http-addr "127.0.0.1:$P1" --outcome-url "ipc://$WORK/o1.sock"
it_start_agent 2 --http-addr "127.0.0.1:$P2" --http-key-file "$WORK/http.key" \
    --outcome-url "ipc://$WORK/o2.sock"
A1=http://127.0.0.1:$P1
A2=http://127.0.0.1:$P2
OF=/ofrep/v1/evaluate/flags

# req METHOD URL [BODY [CURL-ARGS...]]: sets ST (status), B (body), and
# leaves the headers in $WORK/hdr.
req() {
    local method=$1 url=$2 body=${3-}
    shift 2
    [ $# -eq 0 ] || shift
    local args=(-sS --max-time 10 -o "$WORK/body" -D "$WORK/hdr"
        -w '%{http_code}' -X "$method")
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    : >"$WORK/body" # curl writes nothing for an empty body
    ST=$(curl "${args[@]}" "$@" "$url") || it_fail "curl $method $url failed"
    B=$(cat "$WORK/body")
}

# hdr NAME: a response header's value from the last req.
hdr() {
    grep -i "^$1:" "$WORK/hdr" | head -n 1 | sed 's/^[^:]*: *//' | tr -d '\r'
}

# expect WHAT STATUS JQ-FILTER EXPECTED: status, JSON Content-Type, and
# one jq answer (-c) about the body.
expect() {
    it_assert_eq "$1: status" "$2" "$ST"
    if [ "$2" != 304 ]; then
        it_assert_eq "$1: content type" application/json "$(hdr Content-Type)"
    fi
    it_assert_eq "$1" "$4" "$(printf '%s' "$B" | jq -c "$3")"
}

# eval1 URL KEY CONTEXT-JSON: POST one flag.
eval1() {
    req POST "$1$OF/$2" "{\"context\": $3}" "${@:4}"
}

# raw PORT BYTES: send BYTES (printf %b escapes) on a new connection and
# print the whole answer (the request asks the server to close).
raw() {
    local out
    out=$(timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$1"'
        printf "%b" "$0" >&3; cat <&3' "$2") || true
    printf '%s' "$out"
}

# ------------------------------------------------------------------ flags
it_step "flags of every type"
ofrep_create_flags
it_wait_flag 1 of-off 1
it_wait_flag 2 of-off 1
SEQ=$(it_healthz_seq)

it_step "single evaluations: values typed, reasons, variants, metadata"
eval1 "$A1" of-bool '{"targetingKey": "u1", "country": "NL"}'
expect "bool NL" 200 '[.key,.value,.reason,.variant]' \
    '["of-bool",true,"TARGETING_MATCH","on"]'
it_assert_eq "metadata" "{\"version\":1,\"seq\":$SEQ,\"stale\":false}" \
    "$(printf '%s' "$B" | jq -c .metadata)"
eval1 "$A1" of-bool '{"targetingKey": "u1", "country": "DE"}'
expect "bool DE" 200 '[.value,.reason,.variant]' '[false,"DEFAULT","off"]'
eval1 "$A1" of-string '{"targetingKey": "u1", "plan": "pro"}'
expect "string" 200 '[.value,.reason,.variant]' '["beta","TARGETING_MATCH","b"]'
eval1 "$A1" of-int '{"targetingKey": "u1"}'
expect "integer" 200 '[.value,.reason,.variant]' '[42,"STATIC","big"]'
it_assert_match "integer written as an integer" '"value":42,' "$B"
eval1 "$A1" of-float '{}'
expect "float" 200 '[.value,(.value|type)]' '[0.5,"number"]'
eval1 "$A1" of-object '{"targetingKey": "u1"}'
expect "object" 200 '.value' '{"color":"blue","n":2,"tags":["x"]}'
eval1 "$A1" of-off '{"targetingKey": "u1"}'
expect "disabled" 200 '[.value,.reason,.variant]' '[false,"DISABLED","off"]'
eval1 "$A1" of-split '{"targetingKey": "u1"}'
expect "split" 200 '[.reason,(.value|type)]' '["SPLIT","boolean"]'
expect "metadata scalars only" 200 \
    '[.metadata[]|type]|all(.=="string" or .=="number" or .=="boolean")' true
req POST "$A1$OF/of-int"
expect "no body: empty context" 200 '.value' 42

it_step "evaluation errors: key and errorCode in every body"
eval1 "$A1" no-such-flag '{"targetingKey": "u1"}'
expect "unknown flag" 404 '[.key,.errorCode]' '["no-such-flag","FLAG_NOT_FOUND"]'
eval1 "$A1" 'Bad%20Key' '{}'
expect "invalid key" 404 '[.key,.errorCode]' '["Bad%20Key","FLAG_NOT_FOUND"]'
eval1 "$A1" of-split '{"country": "NL"}'
expect "no targeting key" 400 '[.key,.errorCode]' \
    '["of-split","TARGETING_KEY_MISSING"]'
eval1 "$A1" of-bool '"just a string"'
expect "context not an object" 400 '[.key,.errorCode]' \
    '["of-bool","INVALID_CONTEXT"]'
eval1 "$A1" of-bool '{"targetingKey": 17}'
expect "targetingKey a number" 400 '[.key,.errorCode]' \
    '["of-bool","INVALID_CONTEXT"]'
req POST "$A1$OF/of-bool" '{"context": {"targetingKey": "u1"'
expect "invalid JSON" 400 '[.key,.errorCode]' '["of-bool","PARSE_ERROR"]'
req POST "$A1$OF/of-bool" '[1, 2]'
expect "body an array" 400 '[.key,.errorCode]' '["of-bool","PARSE_ERROR"]'
req POST "$A1$OF/of-bool" '{"ctx": {}}'
expect "unknown member" 400 '[.key,.errorCode]' '["of-bool","PARSE_ERROR"]'
req POST "$A1$OF/of-bool" '{"context": {"a": 1, "a": 2}}'
expect "duplicate member" 400 '.errorCode' '"PARSE_ERROR"'

it_step "routes and methods: 404, 405 with Allow, JSON bodies"
req GET "$A1$OF/of-bool"
expect "GET on OFREP" 405 '[.key,.errorCode]' '["of-bool","GENERAL"]'
it_assert_eq "Allow" POST "$(hdr Allow)"
req DELETE "$A1/metrics"
expect "DELETE /metrics" 405 '.errorCode' '"GENERAL"'
it_assert_eq "Allow" "GET, HEAD" "$(hdr Allow)"
req PUT "$A1$OF" '{}'
expect "PUT bulk" 405 '.errorCode' '"GENERAL"'
req POST "$A1/ofrep/v2/evaluate/flags" '{}'
expect "unknown route" 404 '.errorCode' '"GENERAL"'
req POST "$A1$OF/a/b" '{}'
expect "nested key" 404 '.errorCode' '"GENERAL"'

it_step "bodies: 413 over http-max-body, 411 chunked, 400 bad Content-Length"
head -c 70000 /dev/zero | tr '\0' ' ' >"$WORK/huge.json"
ST=$(curl -sS --max-time 10 -o "$WORK/body" -D "$WORK/hdr" -w '%{http_code}' \
    -X POST -H 'Content-Type: application/json' \
    --data-binary @"$WORK/huge.json" "$A1$OF/of-bool") || true
B=$(cat "$WORK/body")
expect "huge body" 413 '[.key,.errorCode]' '["of-bool","GENERAL"]'
it_assert_eq "413 closes" close "$(hdr Connection)"
ST=$(curl -sS --max-time 10 -o "$WORK/body" -D "$WORK/hdr" -w '%{http_code}' \
    -X POST -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
    -H 'Expect: 100-continue' --data-binary '{"context": {}}' "$A1$OF/of-bool") ||
    true
B=$(cat "$WORK/body")
expect "chunked body" 411 '.errorCode' '"GENERAL"'
out=$(raw "$P1" "POST $OF/of-bool HTTP/1.1\r\nHost: x\r\nContent-Length: 12x\r\nConnection: close\r\n\r\n")
it_assert_match "bad Content-Length" '^HTTP/1.1 400' "$out"
it_assert_match "bad Content-Length body" '"errorCode":"PARSE_ERROR"' "$out"
# Headers only: the agent answers and closes at once, and body bytes it
# never read would make the kernel reset the connection before our read.
out=$(raw "$P1" "POST $OF/of-bool HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
it_assert_match "raw chunked" '^HTTP/1.1 411' "$out"
out=$(raw "$P1" "BREW $OF/of-bool HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
it_assert_match "unknown method" '^HTTP/1.1 405' "$out"
it_assert_match "unknown method: JSON" 'application/json' "$out"
it_alive "$(it_agent_pid 1)" || it_fail "agent 1 died on bad input"
eval1 "$A1" of-int '{}'
expect "serving on after bad input" 200 '.value' 42

# ------------------------------------------------------------------- bulk
it_step "bulk: every flag, errors inline, ETag"
req POST "$A1$OF" '{"context": {"targetingKey": "u1", "country": "NL"}}'
expect "bulk" 200 '[.flags[].key]|sort' \
    '["of-bool","of-float","of-int","of-object","of-off","of-split","of-string"]'
expect "bulk values" 200 \
    '[.flags[]|select(.key=="of-bool" or .key=="of-int")|.value]' '[true,42]'
ETAG1=$(hdr ETag)
it_assert_match "ETag quoted" '^"[0-9a-f]{32}"$' "$ETAG1"
req POST "$A1$OF" '{"context": {"country": "NL"}}'
expect "bulk without key: the split's error inline" 200 \
    '.flags[]|select(.key=="of-split")|[.key,.errorCode]' \
    '["of-split","TARGETING_KEY_MISSING"]'

it_step "bulk: 304 for the same answer, 200 when the context changes"
req POST "$A1$OF" '{"context": {"country": "NL", "targetingKey": "u1"}}' \
    -H "If-None-Match: $ETAG1"
it_assert_eq "same context, members reordered: 304" 304 "$ST"
it_assert_eq "304 has no body" "" "$B"
it_assert_eq "304 repeats the ETag" "$ETAG1" "$(hdr ETag)"
req POST "$A1$OF" '{"context": {"targetingKey": "u1", "country": "NL"}}' \
    -H "If-None-Match: W/$ETAG1"
it_assert_eq "weak form: 304" 304 "$ST"
req POST "$A1$OF" '{"context": {"targetingKey": "u1", "country": "NL"}}' \
    -H "If-None-Match: \"0000\", $ETAG1"
it_assert_eq "in a list: 304" 304 "$ST"
req POST "$A1$OF" '{"context": {"targetingKey": "u1", "country": "DE"}}' \
    -H "If-None-Match: $ETAG1"
expect "same targetingKey, new context: 200" 200 \
    '.flags[]|select(.key=="of-bool")|.value' false
ETAG2=$(hdr ETag)
[ "$ETAG2" != "$ETAG1" ] || it_fail "ETag did not change with the context"

it_step "bulk: a flag change makes a new ETag"
it_cli flag set of-int --patch '{"default_variant": "small"}' --json >/dev/null
it_wait_flag 1 of-int 2
req POST "$A1$OF" '{"context": {"targetingKey": "u1", "country": "DE"}}' \
    -H "If-None-Match: $ETAG2"
expect "after the change: 200" 200 \
    '.flags[]|select(.key=="of-int")|[.value,.metadata.version]' '[3,2]'
[ "$(hdr ETag)" != "$ETAG2" ] || it_fail "ETag did not change with the flag"

# ------------------------------------------------------------------- auth
it_step "auth: 401 without a key, 403 wrong, Bearer and X-API-Key right"
eval1 "$A2" of-bool '{"targetingKey": "u1"}'
expect "no key" 401 '[.key,.errorCode]' '["of-bool","GENERAL"]'
it_assert_eq "WWW-Authenticate" Bearer "$(hdr WWW-Authenticate)"
eval1 "$A2" of-bool '{"targetingKey": "u1"}' -H 'Authorization: Bearer nope'
expect "wrong bearer" 403 '[.key,.errorCode]' '["of-bool","GENERAL"]'
eval1 "$A2" of-bool '{"targetingKey": "u1"}' -H 'X-API-Key: s3cret-agent-keyX'
expect "wrong X-API-Key" 403 '.errorCode' '"GENERAL"'
eval1 "$A2" of-bool '{"targetingKey": "u1", "country": "NL"}' \
    -H 'Authorization: Bearer s3cret-agent-key'
expect "Bearer" 200 '.value' true
eval1 "$A2" of-bool '{"targetingKey": "u1", "country": "NL"}' \
    -H 'X-API-Key: s3cret-agent-key'
expect "X-API-Key" 200 '.value' true
req POST "$A2$OF" '{}'
expect "bulk without a key" 401 '.errorCode' '"GENERAL"'
req POST "$A2/ramp/v1/outcomes" '{}'
expect "outcomes without a key" 401 '.errorCode' '"GENERAL"'
req GET "$A2/healthz"
expect "healthz needs no key" 200 '.status' '"ok"'
req GET "$A2/readyz"
expect "readyz needs no key" 200 '[.status,.flags]' '["ready",7]'
ST=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$A2/metrics")
it_assert_eq "metrics need no key" 200 "$ST"

# --------------------------------------------------------------- outcomes
it_step "outcomes: variant or context, a bad batch changes nothing"
metric() { # URL NAME-WITH-LABELS: one sample's value (0 if absent)
    curl -sS --max-time 10 "$1/metrics" |
        awk -v n="$2" '$1 == n { v = $2 } END { print v + 0 }'
}
req POST "$A1/ramp/v1/outcomes" \
    '{"flag": "of-string", "variant": "b", "success": true, "latencyMs": 12.5}'
if [ "$ST" = 503 ]; then
    it_fail "outcomes answered 503: the agent runs without its health aggregation"
fi
expect "one outcome by variant" 202 '.accepted' 1
o0=$(metric "$A1" ramp_agent_health_outcomes_total)
req POST "$A1/ramp/v1/outcomes" \
    '[{"flag": "of-split", "targetingKey": "u7", "success": false},
      {"flag": "of-bool", "context": {"targetingKey": "u1", "country": "NL"},
       "success": true, "latencyMs": 3}]'
expect "two by context" 202 '.accepted' 2
it_assert_eq "counted" $((o0 + 2)) "$(metric "$A1" ramp_agent_health_outcomes_total)"
req POST "$A1/ramp/v1/outcomes" \
    '[{"flag": "of-bool", "variant": "on", "success": true},
      {"flag": "no-such", "variant": "on", "success": true}]'
expect "unknown flag in a batch" 404 '.errorCode' '"FLAG_NOT_FOUND"'
req POST "$A1/ramp/v1/outcomes" '{"flag": "of-bool", "variant": "maybe", "success": true}'
expect "unknown variant" 400 '.errorCode' '"PARSE_ERROR"'
req POST "$A1/ramp/v1/outcomes" '{"flag": "of-bool", "variant": "on"}'
expect "no success" 400 '.errorCode' '"PARSE_ERROR"'
req POST "$A1/ramp/v1/outcomes" '{"flag": "of-bool", "variant": "on", "success": "yes"}'
expect "success not a boolean" 400 '.errorCode' '"PARSE_ERROR"'
req POST "$A1/ramp/v1/outcomes" \
    '{"flag": "of-bool", "variant": "on", "targetingKey": "u1", "success": true}'
expect "variant and context" 400 '.errorCode' '"PARSE_ERROR"'
req POST "$A1/ramp/v1/outcomes" '{"flag": "of-bool", "variant": "on", "success": true, "latencyMs": -1}'
expect "negative latency" 400 '.errorCode' '"PARSE_ERROR"'
req POST "$A1/ramp/v1/outcomes" '{"flag": "of-split", "context": {}, "success": true}'
expect "context without key for a split" 400 '.errorCode' '"TARGETING_KEY_MISSING"'
req POST "$A1/ramp/v1/outcomes" '[]'
expect "empty batch" 400 '.errorCode' '"PARSE_ERROR"'
it_assert_eq "nothing counted" $((o0 + 2)) \
    "$(metric "$A1" ramp_agent_health_outcomes_total)"

# ---------------------------------------------------------------- metrics
it_step "metrics: promtool on the agent and the controller"
curl -sS --max-time 10 -D "$WORK/hdr" "$A1/metrics" >"$WORK/agent.prom"
it_assert_match "agent content type" '^text/plain; version=0.0.4' "$(hdr Content-Type)"
promtool check metrics <"$WORK/agent.prom" >"$WORK/promtool.out" 2>&1 ||
    it_fail "promtool on the agent: $(cat "$WORK/promtool.out")"
curl -sS --max-time 10 "$CTL_URL/metrics" >"$WORK/ctl.prom"
promtool check metrics <"$WORK/ctl.prom" >"$WORK/promtool.out" 2>&1 ||
    it_fail "promtool on the controller: $(cat "$WORK/promtool.out")"
it_assert_match "controller seq" "^ramp_ctl_seq [0-9]+$" "$(grep '^ramp_ctl_seq ' "$WORK/ctl.prom")"
req GET "$CTL_URL/readyz"
expect "controller readyz" 200 '.status' '"ready"'
for s in 'ramp_agent_http_requests_total{route="ofrep_flag",code="200"}' \
    'ramp_agent_http_requests_total{route="ofrep_flag",code="404"}' \
    'ramp_agent_http_requests_total{route="ofrep_bulk",code="304"}' \
    'ramp_agent_http_requests_total{route="ofrep_flag",code="413"}' \
    'ramp_agent_ofrep_evaluations_total{flag="of-bool",reason="TARGETING_MATCH"}' \
    'ramp_agent_ofrep_evaluations_total{flag="other",reason="ERROR"}' \
    'ramp_agent_updates_total{outcome="applied"}'; do
    v=$(awk -v n="$s" '$1 == n { print $2 }' "$WORK/agent.prom")
    [ -n "$v" ] && [ "$v" -gt 0 ] || it_fail "agent metric $s: '$v'"
done
it_assert_eq "agent seq" "ramp_agent_seq $(it_healthz_seq)" \
    "$(grep '^ramp_agent_seq ' "$WORK/agent.prom")"

it_step "metrics: at most 20 flags by name, the rest as \"other\""
for n in $(seq 1 24); do
    printf '{"key": "of-many-%d", "type": "bool", "enabled": true}\n' "$n" \
        >"$WORK/m.json"
    it_cli flag create --file "$WORK/m.json" --json >/dev/null
done
it_wait_flag 1 of-many-24 1
for n in 1 2 3; do
    req POST "$A1$OF" '{"context": {"targetingKey": "u1"}}'
done
curl -sS --max-time 10 "$A1/metrics" >"$WORK/agent.prom"
promtool check metrics <"$WORK/agent.prom" >"$WORK/promtool.out" 2>&1 ||
    it_fail "promtool with many flags: $(cat "$WORK/promtool.out")"
named=$(grep '^ramp_agent_ofrep_evaluations_total{' "$WORK/agent.prom" |
    sed 's/.*flag="\([^"]*\)".*/\1/' | sort -u)
it_assert_eq "flag labels" 21 "$(printf '%s\n' "$named" | wc -l)"
grep -qx other <<<"$named" || it_fail "no flag=\"other\" series"

# ----------------------------------------------------------------- probes
it_step "probes: an agent with no state is alive, not ready"
NOWHERE=tcp://127.0.0.1:$(it_free_port)
P3=$(it_free_port)
it_start_agent 3 --http-addr "127.0.0.1:$P3" --sub-url "$NOWHERE" \
    --resync-url "$NOWHERE" --outcome-url "ipc://$WORK/o3.sock"
req GET "http://127.0.0.1:$P3/healthz"
expect "healthz" 200 '.status' '"ok"'
req GET "http://127.0.0.1:$P3/readyz"
expect "readyz without state" 503 '[.seq,.flags]' '[0,0]'
eval1 "http://127.0.0.1:$P3" of-bool '{}'
expect "flag without state" 404 '.errorCode' '"FLAG_NOT_FOUND"'
req POST "http://127.0.0.1:$P3$OF" '{}'
expect "bulk without state" 200 '.flags' '[]'
it_stop_agent 3

it_step "stale: metadata and the ETag follow the agent's freshness"
req POST "$A1$OF" '{"context": {"targetingKey": "u1"}}'
ETAG3=$(hdr ETag)
it_stop_controller
stale_now() {
    eval1 "$A1" of-bool '{"targetingKey": "u1"}'
    [ "$(printf '%s' "$B" | jq -c .metadata.stale)" = true ]
}
it_wait_until "agent 1 stale" 20 stale_now
expect "stale value still served" 200 '[.value,.reason]' '[false,"DEFAULT"]'
req POST "$A1$OF" '{"context": {"targetingKey": "u1"}}' -H "If-None-Match: $ETAG3"
expect "stale: a new ETag" 200 '[.flags[].metadata.stale]|all' true
it_assert_eq "stale gauge" 1 "$(metric "$A1" ramp_agent_stale)"

it_step "the agents stop cleanly"
it_stop_agent 1
it_stop_agent 2
it_step "ok"
