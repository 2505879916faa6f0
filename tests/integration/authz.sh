#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Authorization matrix (docs/reliability.md): every API route of
# docs/api.md x {no token, unknown token, revoked token, viewer,
# operator, admin} gets the documented status, and every write that
# succeeded is in the audit log under its token's name (and nothing is
# recorded for one that was refused).
#
# The table below is the whole test: a new route is one line. Columns:
#   METHOD PATH ROLE OK BODY
# ROLE is the least role that may call the route (none, viewer, operator,
# admin), OK the status documented for success, BODY a JSON body or "-".
# In PATH and BODY, {flag} is a flag created for this cell (disabled),
# {on} one created enabled (disabling a disabled flag changes nothing and
# is not audited, docs/api.md), {rollout} a
# flag with a running rollout, {paused} / {aborted} one whose rollout is
# in that state, {token} a live viewer token's name, {agent} an enrolled
# agent, {new} a fresh name that exists nowhere, {pk} a fresh public key
# in hex. Every cell gets its own resources, so a write in one cell never
# decides the status of another.
#
# A route that the controller does not serve yet ("no such route" for
# the admin) is reported as skipped, so the table can list routes of
# work in progress.
#
# Usage: authz.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"

ROUTES=$(cat <<'EOF'
GET    /healthz                              none     200 -
GET    /readyz                               none     200 -
GET    /metrics                              none     200 -
GET    /api/v1/flags                         viewer   200 -
HEAD   /api/v1/flags                         viewer   200 -
POST   /api/v1/flags                         operator 201 {"key":"{new}","type":"bool"}
GET    /api/v1/flags/{flag}                  viewer   200 -
HEAD   /api/v1/flags/{flag}                  viewer   200 -
PUT    /api/v1/flags/{flag}                  operator 200 {"type":"bool","enabled":true}
PATCH  /api/v1/flags/{flag}                  operator 200 {"description":"authz"}
DELETE /api/v1/flags/{flag}                  operator 204 -
POST   /api/v1/flags/{flag}/enable           operator 200 -
POST   /api/v1/flags/{on}/disable            operator 200 -
GET    /api/v1/audit                         viewer   200 -
GET    /api/v1/tokens                        admin    200 -
POST   /api/v1/tokens                        admin    201 {"name":"{new}","role":"viewer"}
DELETE /api/v1/tokens/{token}                admin    204 -
GET    /api/v1/rollouts                      viewer   200 -
POST   /api/v1/rollouts                      operator 201 {"flag":"{flag}","treatment":"on","control":"off"}
GET    /api/v1/rollouts/{rollout}            viewer   200 -
POST   /api/v1/rollouts/{rollout}/pause      operator 200 -
POST   /api/v1/rollouts/{paused}/resume      operator 200 -
POST   /api/v1/rollouts/{rollout}/promote    operator 200 -
POST   /api/v1/rollouts/{rollout}/abort      operator 200 -
POST   /api/v1/rollouts/{aborted}/retry      operator 200 -
GET    /api/v1/rollouts/{rollout}/explain    viewer   200 -
GET    /api/v1/rollouts/{rollout}/history    viewer   200 -
GET    /api/v1/agents                        viewer   200 -
POST   /api/v1/agents                        admin    201 {"id":"{new}","public_key":"{pk}"}
DELETE /api/v1/agents/{agent}                admin    204 -
GET    /api/v1/webhooks                      viewer   200 -
GET    /api/v1/webhooks/deliveries           viewer   200 -
GET    /api/v1/webhooks/{hook}               viewer   200 -
PUT    /api/v1/webhooks/{new}                admin    200 {"url":"http://127.0.0.1:9/az","events":["rollout.*"]}
DELETE /api/v1/webhooks/{hook}               admin    204 -
POST   /api/v1/webhooks/{hook}/test          operator 202 -
GET    /api/v1/analysis/{analysis}           viewer   200 -
PUT    /api/v1/analysis/{flag}               operator 200 {"checks":[{"name":"e","query":"up","op":"<","threshold":1}]}
DELETE /api/v1/analysis/{analysis}           operator 204 -
GET    /api/v1/analysis/{analysis}/results   viewer   200 -
EOF
)
CALLERS="none bogus revoked viewer operator admin"

it_start_controller

# curl_req METHOD PATH TOKEN BODY: prints the status; the body is in
# $WORK/resp.
curl_req() {
    local m=$1 path=$2 tok=$3 body=$4 args=(-sS --max-time 10 -o "$WORK/resp"
        -w '%{http_code}')
    [ "$tok" = - ] || args+=(-H "Authorization: Bearer $tok")
    if [ "$m" = HEAD ]; then
        args+=(--head)
    else
        args+=(-X "$m")
    fi
    if [ "$body" != - ]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    curl "${args[@]}" "$CTL_URL$path"
}

# admin_ok WHAT METHOD PATH [BODY]: a setup request by the test's own
# admin token that must succeed.
admin_ok() {
    local what=$1 code
    shift
    code=$(curl_req "$1" "$2" "$TOKEN" "${3:--}")
    case $code in
    2??) ;;
    *) it_fail "setup $what: $1 $2 answered $code: $(cat "$WORK/resp")" ;;
    esac
}

SERIAL=0
fresh() { # sets k (not in a subshell: SERIAL must move)
    SERIAL=$((SERIAL + 1))
    k=az-$1-$SERIAL
}

new_token() { # NAME ROLE: prints the secret
    admin_ok "token $1" POST /api/v1/tokens "{\"name\":\"$1\",\"role\":\"$2\"}"
    it_json_str token "$(cat "$WORK/resp")"
}

it_step "tokens: viewer, operator, admin, one revoked"
declare -A SECRET
SECRET[none]=-
SECRET[bogus]=rmp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
SECRET[viewer]=$(new_token az-viewer viewer)
SECRET[operator]=$(new_token az-operator operator)
SECRET[admin]=$(new_token az-admin admin)
SECRET[revoked]=$(new_token az-revoked admin)
admin_ok "revoke" DELETE /api/v1/tokens/az-revoked

# A public key in hex (64 digits) from a fresh key file.
new_pk() {
    local f=$WORK/pk
    rm -f "$f" "$f.pub"
    "$CTL" keygen --out "$f" >/dev/null 2>>"$WORK/tools.log"
    sed 's/^[^ ]* //' "$f.pub" | base64 -d | od -An -tx1 | tr -d ' \n'
}

# instantiate TEXT: replace the placeholders, creating what they name.
# Sets INST and TARGET (the audit target a write of this cell names).
instantiate() {
    local s=$1 k
    TARGET=
    while [[ $s == *"{"[a-z]*"}"* ]]; do
        case $s in
        *"{flag}"*)
            fresh f
            admin_ok "flag" POST /api/v1/flags "{\"key\":\"$k\",\"type\":\"bool\"}"
            s=${s//\{flag\}/$k}
            TARGET=$k
            ;;
        *"{on}"*)
            fresh f
            admin_ok "flag" POST /api/v1/flags \
                "{\"key\":\"$k\",\"type\":\"bool\",\"enabled\":true}"
            s=${s//\{on\}/$k}
            TARGET=$k
            ;;
        *"{rollout}"* | *"{paused}"* | *"{aborted}"*)
            fresh r
            admin_ok "flag" POST /api/v1/flags "{\"key\":\"$k\",\"type\":\"bool\"}"
            admin_ok "rollout" POST /api/v1/rollouts \
                "{\"flag\":\"$k\",\"treatment\":\"on\",\"control\":\"off\"}"
            if [[ $s == *"{paused}"* ]]; then
                admin_ok "pause" POST "/api/v1/rollouts/$k/pause"
                s=${s//\{paused\}/$k}
            elif [[ $s == *"{aborted}"* ]]; then
                admin_ok "abort" POST "/api/v1/rollouts/$k/abort"
                s=${s//\{aborted\}/$k}
            else
                s=${s//\{rollout\}/$k}
            fi
            TARGET=$k
            ;;
        *"{hook}"*)
            fresh h
            admin_ok "webhook" PUT "/api/v1/webhooks/$k" \
                '{"url":"http://127.0.0.1:9/az","events":["rollout.*"]}'
            s=${s//\{hook\}/$k}
            TARGET=webhook:$k
            ;;
        *"{analysis}"*)
            fresh f
            admin_ok "flag" POST /api/v1/flags "{\"key\":\"$k\",\"type\":\"bool\"}"
            admin_ok "analysis" PUT "/api/v1/analysis/$k" \
                '{"checks":[{"name":"e","query":"up","op":"<","threshold":1}]}'
            s=${s//\{analysis\}/$k}
            TARGET=$k
            ;;
        *"{token}"*)
            fresh t
            new_token "$k" viewer >/dev/null
            s=${s//\{token\}/$k}
            TARGET=token:$k
            ;;
        *"{agent}"*)
            fresh a
            admin_ok "agent" POST /api/v1/agents \
                "{\"id\":\"$k\",\"public_key\":\"$(new_pk)\"}"
            s=${s//\{agent\}/$k}
            TARGET=agent:$k
            ;;
        *"{new}"*)
            fresh n
            s=${s//\{new\}/$k}
            case $NEW_KIND in
            tokens) TARGET=token:$k ;;
            agents) TARGET=agent:$k ;;
            webhooks) TARGET=webhook:$k ;;
            *) TARGET=$k ;;
            esac
            ;;
        *"{pk}"*)
            s=${s//\{pk\}/$(new_pk)}
            ;;
        *) it_fail "unknown placeholder in: $s" ;;
        esac
    done
    INST=$s
}

rank() {
    case $1 in
    none) echo 0 ;; viewer) echo 1 ;; operator) echo 2 ;; admin) echo 3 ;;
    *) echo 9 ;;
    esac
}

# expect ROLE-NEEDED CALLER OK
expect() {
    local need=$1 who=$2 ok=$3
    if [ "$need" = none ]; then
        echo "$ok"
        return
    fi
    case $who in
    none | bogus | revoked) echo 401 ;;
    *)
        if [ "$(rank "$who")" -ge "$(rank "$need")" ]; then
            echo "$ok"
        else
            echo 403
        fi
        ;;
    esac
}

: >"$WORK/writes"  # "actor target" of every write that succeeded
cells=0 skipped=0 routes=0
while read -r method path role ok body; do
    [ -n "$method" ] || continue
    # Is the route served at all? The admin asks once, naming nothing
    # that exists (a route still being built answers "no such route").
    p=$(printf '%s' "$path" | sed 's/{[a-z]*}/az-probe/g')
    code=$(curl_req "$method" "$p" "${SECRET[admin]}" -)
    if [ "$code" = 404 ] && grep -q 'no such route' "$WORK/resp"; then
        echo "   SKIP $method $path: not served by this controller"
        skipped=$((skipped + 1))
        continue
    fi
    routes=$((routes + 1))
    NEW_KIND=$(printf '%s' "$path" | cut -d/ -f4)
    for who in $CALLERS; do
        instantiate "$path"
        p=$INST
        t=$TARGET
        b=-
        if [ "$body" != - ]; then
            instantiate "$body"
            b=$INST
            [ -z "$TARGET" ] || t=$TARGET
        fi
        want=$(expect "$role" "$who" "$ok")
        got=$(curl_req "$method" "$p" "${SECRET[$who]}" "$b")
        cells=$((cells + 1))
        if [ "$got" != "$want" ]; then
            it_fail "$method $path as $who: expected $want, got $got: $(head -c 300 "$WORK/resp")"
        fi
        case $method$want in
        HEAD*) ;; # no body to read
        *401)
            grep -q '"code":"unauthenticated"' "$WORK/resp" ||
                it_fail "$method $path as $who: 401 without code unauthenticated"
            ;;
        *403)
            grep -q '"code":"forbidden"' "$WORK/resp" ||
                it_fail "$method $path as $who: 403 without code forbidden"
            ;;
        esac
        case $method in
        GET | HEAD) ;;
        *) [ "${got:0:1}" != 2 ] || echo "az-$who $t" >>"$WORK/writes" ;;
        esac
    done
done <<<"$ROUTES"

it_step "audit: every write under its token's name, none for a refusal"
: >"$WORK/audit"
before=
while :; do
    q="limit=1000"
    [ -z "$before" ] || q="$q&before=$before"
    page=$(curl -sS --max-time 10 -H "Authorization: Bearer $TOKEN" \
        "$CTL_URL/api/v1/audit?$q")
    printf '%s' "$page" |
        grep -o '"actor":"[^"]*","action":"[^"]*","target":"[^"]*"' |
        sed 's/"actor":"\([^"]*\)","action":"[^"]*","target":"\([^"]*\)"/\1 \2/' \
            >>"$WORK/audit"
    before=$(it_json_num next "$page")
    [ "$before" != null ] && [ -n "$before" ] || break
done
nwrites=$(wc -l <"$WORK/writes")
while read -r actor target; do
    grep -qxF "$actor $target" "$WORK/audit" ||
        it_fail "write by $actor on $target is not in the audit log"
done <"$WORK/writes"
for who in viewer revoked; do
    n=$(grep -c "^az-$who " "$WORK/audit" || true)
    it_assert_eq "audit records by az-$who" 0 "$n"
done
# Nothing else was recorded under the matrix's tokens than its writes.
for who in operator admin; do
    it_assert_eq "audit records by az-$who" \
        "$(grep -c "^az-$who " "$WORK/writes" || true)" \
        "$(grep -c "^az-$who " "$WORK/audit" || true)"
done
it_step "ok: $routes routes x ${CALLERS// /, } = $cells cells as documented, $nwrites writes all audited; $skipped routes not served yet"
