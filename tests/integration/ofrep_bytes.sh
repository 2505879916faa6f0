#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The agent's single-flag OFREP answers, byte for byte, on a real agent.
# ofrep.sh checks what the answers mean (through jq); this pins their
# exact text, the compact key order jansson gives an object built as
# {key, value, reason, variant, metadata{version, seq, stale, arm?}}, so
# a faster way of writing them cannot change one byte: every value type
# (bool, string with escapes and UTF-8, integers, reals, JSON variants),
# every success reason, rollout arms, an answer too long for the agent's
# stack buffer, and the stale bit.
#
# Usage: ofrep_bytes.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
# RAMP_IT_PRINT=1 prints the answers ("name<TAB>body") instead
# of checking them: how the expected text below was taken.
. "$(dirname "$0")/lib.sh"
it_init "$@"

it_start_controller
P=$(it_free_port)
it_start_agent 1 --http-addr "127.0.0.1:$P" --outcome-url "ipc://$WORK/o1.sock"
URL=http://127.0.0.1:$P/ofrep/v1/evaluate/flags

it_step "flags of every type"
LONG=$(printf 'x%.0s' $(seq 1 1500))
cat >"$WORK/1.json" <<'EOF'
{"key": "b-bool", "type": "bool", "enabled": true,
 "rules": [{"clauses": [{"attribute": "country", "op": "eq",
                         "values": ["NL"]}], "variant": "on"}]}
EOF
cat >"$WORK/2.json" <<EOF
{"key": "b-str", "type": "string", "enabled": true,
 "variants": {"plain": "alpha", "Esc_1.x-y": "q\"b\\\\s/ é\n\t\u0001 ☃",
              "long": "$LONG"},
 "default_variant": "plain",
 "rules": [{"clauses": [{"attribute": "v", "op": "eq", "values": ["esc"]}],
            "variant": "Esc_1.x-y"},
           {"clauses": [{"attribute": "v", "op": "eq", "values": ["long"]}],
            "variant": "long"}]}
EOF
cat >"$WORK/3.json" <<'EOF'
{"key": "b-num", "type": "number", "enabled": true,
 "variants": {"i": 42, "neg": -7, "zero": 0, "r": 0.1, "e": 1e300,
              "tiny": -1.5e-7, "big": 123456789012345},
 "default_variant": "i",
 "rules": [{"clauses": [{"attribute": "v", "op": "eq", "values": ["neg"]}],
            "variant": "neg"},
           {"clauses": [{"attribute": "v", "op": "eq", "values": ["zero"]}],
            "variant": "zero"},
           {"clauses": [{"attribute": "v", "op": "eq", "values": ["r"]}],
            "variant": "r"},
           {"clauses": [{"attribute": "v", "op": "eq", "values": ["e"]}],
            "variant": "e"},
           {"clauses": [{"attribute": "v", "op": "eq", "values": ["tiny"]}],
            "variant": "tiny"},
           {"clauses": [{"attribute": "v", "op": "eq", "values": ["big"]}],
            "variant": "big"}]}
EOF
cat >"$WORK/4.json" <<'EOF'
{"key": "b-json", "type": "json", "enabled": true,
 "variants": {"obj": {"z": [1, 2.5, "x\"y"], "a": {"c": null, "b": true}},
              "arr": [true, false, {}], "s": "just a string"},
 "default_variant": "obj",
 "rules": [{"clauses": [{"attribute": "v", "op": "eq", "values": ["arr"]}],
            "variant": "arr"},
           {"clauses": [{"attribute": "v", "op": "eq", "values": ["s"]}],
            "variant": "s"}]}
EOF
cat >"$WORK/5.json" <<'EOF'
{"key": "b-split", "type": "bool", "enabled": true,
 "rules": [{"clauses": [], "split": [{"variant": "on", "weight": 5000},
                                     {"variant": "off", "weight": 5000}]}]}
EOF
cat >"$WORK/6.json" <<'EOF'
{"key": "b-off", "type": "bool", "enabled": false}
EOF
cat >"$WORK/7.json" <<'EOF'
{"key": "b-static", "type": "bool", "enabled": true}
EOF
cat >"$WORK/8.json" <<'EOF'
{"key": "b-ro", "type": "bool", "enabled": true}
EOF
for f in 1 2 3 4 5 6 7 8; do
    it_cli flag create --file "$WORK/$f.json" --json >/dev/null ||
        it_fail "flag create from $f.json"
done
it_cli rollout start b-ro --treatment on --control off --stages 50 \
    >/dev/null || it_fail "rollout start b-ro"
it_wait_until "the rollout on agent 1" 20 bash -c \
    "curl -sS -X POST '$URL/b-ro' -d '{\"context\":{\"targetingKey\":\"u1\"}}' | grep -q '\"arm\"'"
SEQ=$(it_healthz_seq)

# one NAME KEY CONTEXT [NAME2]: the answer's body, checked against
# $EXPECT[NAME] (with @SEQ@ for the agent's seq), or either of NAME and
# NAME2 where the bucket, from the flag's random salt, decides; or
# printed.
declare -A EXPECT
one() {
    local body want
    body=$(curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' \
        --data-binary "{\"context\": $3}" "$URL/$2") ||
        it_fail "$1: curl failed"
    if [ -n "${RAMP_IT_PRINT:-}" ]; then
        printf '%s\t%s\n' "$1" "${body//\"seq\":$SEQ,/\"seq\":@SEQ@,}"
        return
    fi
    want=${EXPECT[$1]//@SEQ@/$SEQ}
    if [ $# -gt 3 ] && [ "$body" != "$want" ]; then
        want=${EXPECT[$4]//@SEQ@/$SEQ}
    fi
    it_assert_eq "$1 ($3)" "$want" "$body"
}

EXPECT[bool-match]='{"key":"b-bool","value":true,"reason":"TARGETING_MATCH","variant":"on","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[bool-default]='{"key":"b-bool","value":false,"reason":"DEFAULT","variant":"off","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[static]='{"key":"b-static","value":false,"reason":"STATIC","variant":"off","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[off]='{"key":"b-off","value":false,"reason":"DISABLED","variant":"off","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[str-plain]='{"key":"b-str","value":"alpha","reason":"DEFAULT","variant":"plain","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[str-esc]='{"key":"b-str","value":"q\"b\\s/ é\n\t\u0001 ☃","reason":"TARGETING_MATCH","variant":"Esc_1.x-y","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[str-long]='{"key":"b-str","value":"'"$LONG"'","reason":"TARGETING_MATCH","variant":"long","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[num-i]='{"key":"b-num","value":42,"reason":"DEFAULT","variant":"i","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[num-neg]='{"key":"b-num","value":-7,"reason":"TARGETING_MATCH","variant":"neg","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[num-zero]='{"key":"b-num","value":0,"reason":"TARGETING_MATCH","variant":"zero","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[num-r]='{"key":"b-num","value":0.10000000000000001,"reason":"TARGETING_MATCH","variant":"r","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[num-e]='{"key":"b-num","value":1.0000000000000001e300,"reason":"TARGETING_MATCH","variant":"e","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[num-tiny]='{"key":"b-num","value":-1.4999999999999999e-7,"reason":"TARGETING_MATCH","variant":"tiny","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[num-big]='{"key":"b-num","value":123456789012345,"reason":"TARGETING_MATCH","variant":"big","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[json-obj]='{"key":"b-json","value":{"z":[1,2.5,"x\"y"],"a":{"c":null,"b":true}},"reason":"DEFAULT","variant":"obj","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[json-arr]='{"key":"b-json","value":[true,false,{}],"reason":"TARGETING_MATCH","variant":"arr","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[json-s]='{"key":"b-json","value":"just a string","reason":"TARGETING_MATCH","variant":"s","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[stale-bool]='{"key":"b-bool","value":true,"reason":"TARGETING_MATCH","variant":"on","metadata":{"version":1,"seq":@SEQ@,"stale":true}}'
EXPECT[stale-str]='{"key":"b-str","value":"q\"b\\s/ é\n\t\u0001 ☃","reason":"TARGETING_MATCH","variant":"Esc_1.x-y","metadata":{"version":1,"seq":@SEQ@,"stale":true}}'
EXPECT[split-on]='{"key":"b-split","value":true,"reason":"SPLIT","variant":"on","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[split-off]='{"key":"b-split","value":false,"reason":"SPLIT","variant":"off","metadata":{"version":1,"seq":@SEQ@,"stale":false}}'
EXPECT[ro-treatment]='{"key":"b-ro","value":true,"reason":"SPLIT","variant":"on","metadata":{"version":1,"seq":@SEQ@,"stale":false,"arm":"treatment"}}'
EXPECT[ro-control]='{"key":"b-ro","value":false,"reason":"SPLIT","variant":"off","metadata":{"version":1,"seq":@SEQ@,"stale":false,"arm":"control"}}'
EXPECT[bulk-esc]='{"flags":[{"key":"b-bool","value":true,"reason":"TARGETING_MATCH","variant":"on","metadata":{"version":1,"seq":@SEQ@,"stale":false}},{"key":"b-json","value":{"z":[1,2.5,"x\"y"],"a":{"c":null,"b":true}},"reason":"DEFAULT","variant":"obj","metadata":{"version":1,"seq":@SEQ@,"stale":false}},{"key":"b-num","value":42,"reason":"DEFAULT","variant":"i","metadata":{"version":1,"seq":@SEQ@,"stale":false}},{"key":"b-off","value":false,"reason":"DISABLED","variant":"off","metadata":{"version":1,"seq":@SEQ@,"stale":false}},{"key":"b-ro","errorCode":"TARGETING_KEY_MISSING","errorDetails":"this flag splits by targetingKey: the context needs one"},{"key":"b-split","errorCode":"TARGETING_KEY_MISSING","errorDetails":"this flag splits by targetingKey: the context needs one"},{"key":"b-static","value":false,"reason":"STATIC","variant":"off","metadata":{"version":1,"seq":@SEQ@,"stale":false}},{"key":"b-str","value":"q\"b\\s/ é\n\t\u0001 ☃","reason":"TARGETING_MATCH","variant":"Esc_1.x-y","metadata":{"version":1,"seq":@SEQ@,"stale":false}}]}'
EXPECT[bulk-long]='{"flags":[{"key":"b-bool","value":false,"reason":"DEFAULT","variant":"off","metadata":{"version":1,"seq":@SEQ@,"stale":false}},{"key":"b-json","value":{"z":[1,2.5,"x\"y"],"a":{"c":null,"b":true}},"reason":"DEFAULT","variant":"obj","metadata":{"version":1,"seq":@SEQ@,"stale":false}},{"key":"b-num","value":42,"reason":"DEFAULT","variant":"i","metadata":{"version":1,"seq":@SEQ@,"stale":false}},{"key":"b-off","value":false,"reason":"DISABLED","variant":"off","metadata":{"version":1,"seq":@SEQ@,"stale":false}},{"key":"b-ro","errorCode":"TARGETING_KEY_MISSING","errorDetails":"this flag splits by targetingKey: the context needs one"},{"key":"b-split","errorCode":"TARGETING_KEY_MISSING","errorDetails":"this flag splits by targetingKey: the context needs one"},{"key":"b-static","value":false,"reason":"STATIC","variant":"off","metadata":{"version":1,"seq":@SEQ@,"stale":false}},{"key":"b-str","value":"'"$LONG"'","reason":"TARGETING_MATCH","variant":"long","metadata":{"version":1,"seq":@SEQ@,"stale":false}}]}'

it_step "every value type and reason, byte for byte"
one bool-match b-bool '{"targetingKey": "u1", "country": "NL", "plan": "pro", "beta": true}'
one bool-default b-bool '{"targetingKey": "u1", "country": "DE"}'
one static b-static '{}'
one off b-off '{"targetingKey": "u1"}'
for v in plain esc long; do
    one "str-$v" b-str "{\"targetingKey\": \"u1\", \"v\": \"$v\"}"
done
for v in i neg zero r e tiny big; do
    one "num-$v" b-num "{\"v\": \"$v\"}"
done
for v in obj arr s; do
    one "json-$v" b-json "{\"v\": \"$v\"}"
done
for u in u1 u2 u3 u4 u5 u6 u7 u8; do
    one split-on b-split "{\"targetingKey\": \"$u\"}" split-off
    one ro-treatment b-ro "{\"targetingKey\": \"$u\"}" ro-control
done

it_step "bulk answers, byte for byte"
# No targeting key: the split and rollout flags answer with their error
# objects, so the whole answer is fixed by the flags alone.
bulk() {
    local body
    body=$(curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' \
        --data-binary "{\"context\": $2}" "${URL%/}") ||
        it_fail "$1: curl failed"
    if [ -n "${RAMP_IT_PRINT:-}" ]; then
        printf '%s\t%s\n' "$1" "${body//\"seq\":$SEQ,/\"seq\":@SEQ@,}"
        return
    fi
    it_assert_eq "$1" "${EXPECT[$1]//@SEQ@/$SEQ}" "$body"
}
bulk bulk-esc '{"country": "NL", "v": "esc"}'
bulk bulk-long '{"v": "long"}'

it_step "stale: the bit in the metadata"
it_stop_controller
stale_now() {
    curl -sS -X POST "$URL/b-bool" -d '{}' | grep -q '"stale":true'
}
it_wait_until "agent 1 stale" 20 stale_now
one stale-bool b-bool '{"country": "NL"}'
one stale-str b-str '{"v": "esc"}'

it_step "the agent stops cleanly"
it_stop_agent 1
it_step "ok"
