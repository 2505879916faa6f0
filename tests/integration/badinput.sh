#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Bad input changes nothing. Against the HTTP API with curl: malformed
# JSON, bodies that are not objects, duplicate and unknown members, wrong
# types, bad keys, invalid rules, oversize and chunked bodies, wrong
# content types, bad or stale If-Match, bad query parameters, missing,
# unknown, revoked and under-privileged tokens: each answers its status
# with a JSON error naming the field (docs/api.md). The same classes
# through the ramp CLI exit with the codes of docs/cli.md. Before and
# after every case the flags, the seq and the newest audit record are
# compared: nothing changed.
#
# Usage: badinput.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"

it_start_controller --max-body 4k
API=$CTL_URL/api/v1
AUTH="Authorization: Bearer $TOKEN"
JSON="Content-Type: application/json"

it_step "fixtures: two flags, a viewer token and a revoked one"
it_cli flag create known --type bool --enabled >/dev/null
it_cli flag create banner --type string --variant a=Hello --variant b=Hi \
    --default-variant a >/dev/null
VIEWER=$(it_cli token create --name viewer --role viewer --json |
    sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
REVOKED=$(it_cli token create --name gone --role operator --json |
    sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$VIEWER" ] && [ -n "$REVOKED" ] || it_fail "token create gave no token"
it_cli token revoke gone >/dev/null

# Everything a bad request could change, in one curl: the seq, every
# flag with its version, and the newest audit record.
state() {
    curl -sS --max-time 10 -H "$AUTH" "$CTL_URL/healthz" \
        "$API/flags?limit=1000" "$API/audit?limit=1"
}
CLI_BEFORE=$(it_cli flag list --json)
SEQ_BEFORE=$(it_healthz_seq)
CASES=0

# http NAME STATUS CODE FIELD CURL-ARGS...: FIELD "-" means no field
# member is expected; "" means the document as a whole.
http() {
    local name=$1 status=$2 code=$3 field=$4
    shift 4
    local before after out got body
    before=$(state)
    out=$(curl -sS --max-time 10 -w '\n%{http_code}' "$@") ||
        it_fail "$name: curl failed"
    got=${out##*$'\n'}
    body=${out%$'\n'*}
    it_assert_eq "$name: status" "$status" "$got"
    it_assert_eq "$name: error status" "$status" "$(it_json_num status "$body")"
    it_assert_eq "$name: error code" "$code" "$(it_json_str code "$body")"
    if [ "$field" = "-" ]; then
        if grep -q '"field":' <<<"$body"; then
            it_fail "$name: unexpected field in $body"
        fi
    elif ! grep -qF "\"field\":\"$field\"" <<<"$body"; then
        it_fail "$name: field '$field' not named in $body"
    fi
    after=$(state)
    [ "$before" = "$after" ] || it_fail "$name: the store changed"
    CASES=$((CASES + 1))
}

# cli NAME EXIT STDERR-REGEX CLI-ARGS...
cli() {
    local name=$1 want=$2 re=$3
    shift 3
    local before after rc=0
    before=$(state)
    "$CLI" "$@" >"$WORK/cli.out" 2>"$WORK/cli.err" || rc=$?
    it_assert_eq "$name: exit" "$want" "$rc"
    grep -Eq -- "$re" "$WORK/cli.err" ||
        it_fail "$name: stderr '$(cat "$WORK/cli.err")' does not match /$re/"
    after=$(state)
    [ "$before" = "$after" ] || it_fail "$name: the store changed"
    CASES=$((CASES + 1))
}

# ------------------------------------------------------------------ HTTP
it_step "HTTP: JSON bodies"
http "malformed JSON" 400 invalid "" -H "$AUTH" -H "$JSON" \
    -d '{"key": "x", "type": ' "$API/flags"
http "not an object" 400 invalid "" -H "$AUTH" -H "$JSON" \
    -d '["x"]' "$API/flags"
http "empty body" 400 invalid "" -H "$AUTH" -H "$JSON" -X POST "$API/flags"
http "duplicate member" 400 invalid "" -H "$AUTH" -H "$JSON" \
    -d '{"key": "x", "key": "y", "type": "bool"}' "$API/flags"
http "unknown member" 400 invalid enabeld -H "$AUTH" -H "$JSON" \
    -d '{"key": "x", "type": "bool", "enabeld": true}' "$API/flags"
http "wrong type: enabled" 400 invalid enabled -H "$AUTH" -H "$JSON" \
    -d '{"key": "x", "type": "bool", "enabled": "yes"}' "$API/flags"
http "wrong type: variants" 400 invalid variants -H "$AUTH" -H "$JSON" \
    -d '{"key": "x", "type": "string", "variants": [1], "default_variant": "a"}' \
    "$API/flags"
http "unknown type" 400 invalid type -H "$AUTH" -H "$JSON" \
    -d '{"key": "x", "type": "colour"}' "$API/flags"
http "bad key in body" 400 invalid key -H "$AUTH" -H "$JSON" \
    -d '{"key": "Bad Key", "type": "bool"}' "$API/flags"
http "missing key" 400 invalid key -H "$AUTH" -H "$JSON" \
    -d '{"type": "bool"}' "$API/flags"
http "bad op" 400 invalid "rules[0].clauses[0].op" -H "$AUTH" -H "$JSON" \
    -d '{"key": "x", "type": "bool", "rules": [{"clauses": [{"attribute": "c", "op": "approx", "values": ["1"]}], "variant": "on"}]}' \
    "$API/flags"
http "split not 100%" 400 invalid "rules[0].split" -H "$AUTH" -H "$JSON" \
    -d '{"key": "x", "type": "bool", "rules": [{"split": [{"variant": "on", "weight": 5000}, {"variant": "off", "weight": 4000}]}]}' \
    "$API/flags"
http "unknown variant" 400 invalid default_variant -H "$AUTH" -H "$JSON" \
    -d '{"key": "x", "type": "bool", "default_variant": "maybe"}' "$API/flags"
http "bad regex" 400 invalid "rules[0].clauses[0].values[0]" -H "$AUTH" \
    -H "$JSON" \
    -d '{"key": "x", "type": "bool", "rules": [{"clauses": [{"attribute": "c", "op": "matches", "values": ["(["]}], "variant": "on"}]}' \
    "$API/flags"
http "exists" 409 conflict key -H "$AUTH" -H "$JSON" \
    -d '{"key": "known", "type": "bool"}' "$API/flags"

it_step "HTTP: keys, updates and preconditions"
http "bad key in URL" 400 invalid key -H "$AUTH" "$API/flags/Bad%20Key"
http "PUT key mismatch" 400 invalid key -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"key": "other", "type": "bool"}' "$API/flags/known"
http "PUT missing flag" 404 not_found - -H "$AUTH" -H "$JSON" -X PUT \
    -d '{"type": "bool"}' "$API/flags/nope"
http "PATCH leaves flag invalid" 400 invalid default_variant -H "$AUTH" \
    -H "Content-Type: application/merge-patch+json" -X PATCH \
    -d '{"variants": {"a": null}}' "$API/flags/banner"
http "PATCH not an object" 400 invalid "" -H "$AUTH" -H "$JSON" -X PATCH \
    -d '"enabled"' "$API/flags/known"
http "stale version in body" 409 conflict version -H "$AUTH" -H "$JSON" \
    -X PUT -d '{"type": "bool", "version": 7}' "$API/flags/known"
http "If-Match not a tag" 400 invalid If-Match -H "$AUTH" -H "$JSON" \
    -H 'If-Match: 1' -X PUT -d '{"type": "bool"}' "$API/flags/known"
http "If-Match stale" 412 precondition_failed - -H "$AUTH" -H 'If-Match: "9"' \
    -X POST "$API/flags/known/disable"
http "DELETE If-Match stale" 412 precondition_failed - -H "$AUTH" \
    -H 'If-Match: "9"' -X DELETE "$API/flags/known"
http "enable with a member" 400 invalid x -H "$AUTH" -H "$JSON" \
    -d '{"x": 1}' "$API/flags/known/enable"
http "unknown query parameter" 400 invalid frob -H "$AUTH" \
    "$API/flags?frob=1"
http "limit out of range" 400 invalid limit -H "$AUTH" "$API/flags?limit=0"
http "limit not a number" 400 invalid limit -H "$AUTH" "$API/flags?limit=ten"
http "wrong method" 405 method_not_allowed - -H "$AUTH" -X PATCH "$API/flags"
http "no such route" 404 not_found - -H "$AUTH" "$API/flagz"

it_step "HTTP: framing"
big=$(head -c 5000 /dev/zero | tr '\0' 'x')
http "body over max-body (4k)" 413 too_large - -H "$AUTH" -H "$JSON" \
    -d "{\"key\": \"x\", \"type\": \"bool\", \"description\": \"$big\"}" \
    "$API/flags"
http "chunked body" 411 unsupported - -H "$AUTH" -H "$JSON" \
    -H 'Transfer-Encoding: chunked' -d '{"key": "x", "type": "bool"}' \
    "$API/flags"
http "text/plain body" 415 unsupported - -H "$AUTH" \
    -H 'Content-Type: text/plain' -d '{"key": "x", "type": "bool"}' \
    "$API/flags"

it_step "HTTP: tokens"
http "no token" 401 unauthenticated - -H "$JSON" \
    -d '{"key": "x", "type": "bool"}' "$API/flags"
http "unknown token" 401 unauthenticated - -H "Authorization: Bearer rmp_nope" \
    -H "$JSON" -d '{"key": "x", "type": "bool"}' "$API/flags"
http "Basic scheme" 401 unauthenticated - -u "it:$TOKEN" \
    -H "$JSON" -d '{"key": "x", "type": "bool"}' "$API/flags"
http "revoked token" 401 unauthenticated - -H "Authorization: Bearer $REVOKED" \
    -H "$JSON" -d '{"key": "x", "type": "bool"}' "$API/flags"
http "viewer writes" 403 forbidden - -H "Authorization: Bearer $VIEWER" \
    -H "$JSON" -d '{"key": "x", "type": "bool"}' "$API/flags"
http "viewer deletes" 403 forbidden - -H "Authorization: Bearer $VIEWER" \
    -X DELETE "$API/flags/known"
out=$(curl -sS -i --max-time 10 "$API/flags")
grep -qi '^WWW-Authenticate: Bearer' <<<"$out" ||
    it_fail "401 without WWW-Authenticate: Bearer"

# ------------------------------------------------------------------- CLI
it_step "CLI: exit codes"
printf '{"key": "x", "type": ' >"$WORK/malformed.json"
printf '{"key": "x", "type": "bool", "enabeld": true}' >"$WORK/unknown.json"
printf '{"key": "x", "type": "bool", "enabled": "yes"}' >"$WORK/wrongtype.json"
printf '{"key": "x", "type": "json", "variants": {"a": {"pad": "%s"}}, "default_variant": "a"}' \
    "$big" >"$WORK/big.json"
cli "bad key" 2 "error:" flag create 'Bad Key' --type bool
cli "unknown type" 2 "error:" flag create x --type colour
cli "unknown option" 2 "error:" flag create x --type bool --frobnicate
cli "malformed file" 2 "error:" flag create --file "$WORK/malformed.json"
cli "unknown member in file" 2 "field: enabeld" flag create --file "$WORK/unknown.json"
cli "wrong type in file" 2 "field: enabled" flag create --file "$WORK/wrongtype.json"
cli "malformed patch" 2 "error:" flag set known --patch '{"enabled":'
cli "bad --attr" 2 "error:" eval known --attr novalue --agent "ipc://$WORK/none.sock"
cli "bad --limit" 2 "error:" flag list --limit ten
cli "patch with a wrong type (server)" 1 "field: enabled" \
    flag set known --patch '{"enabled": "yes"}'
cli "patch leaving the flag invalid" 1 "field: default_variant" \
    flag set banner --patch '{"variants": {"a": null}}'
cli "body over max-body" 1 "error:" flag create --file "$WORK/big.json"
cli "not found" 3 "error:" flag get nope
cli "exists" 4 "error:" flag create known --type bool
cli "stale version" 4 "error:" flag set known --description z --if-version 9
cli "unknown token" 5 "error:" --token rmp_nope flag create x --type bool
cli "revoked token" 5 "error:" --token "$REVOKED" flag create x --type bool
cli "viewer writes" 5 "error:" --token "$VIEWER" flag delete known
cli "no controller" 6 "error:" --url "http://127.0.0.1:$(it_free_port)" \
    flag create x --type bool

it_step "nothing changed at all"
it_assert_eq "flag list" "$CLI_BEFORE" "$(it_cli flag list --json)"
it_assert_eq "seq" "$SEQ_BEFORE" "$(it_healthz_seq)"
it_step "ok: $CASES cases"
