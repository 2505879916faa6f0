#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The vertical slice: a controller and three agents. A flag created with
# the CLI is served by every agent, through its socket (ipc) and through
# its state directory (direct), with the same answers, and those answers
# are the proto engine's for the flag as the API shows it (salt and all).
# Every kind of change (set, disable, enable, delete) reaches all three.
#
# Usage: slice.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
it_init "$@"

AGENTS="1 2 3"

it_start_controller
for n in $AGENTS; do
    it_start_agent "$n"
done

# check N MODE FLAG VALUE VARIANT REASON VERSION [EVAL-ARGS...]: one
# `ramp eval --json` answer, member by member.
check() {
    local n=$1 mode=$2 flag=$3 value=$4 variant=$5 reason=$6 version=$7
    shift 7
    local out
    if [ "$mode" = ipc ]; then
        out=$(it_eval "$n" "$flag" "$@") || it_fail "eval $flag on agent $n ($mode): exit $?"
    else
        out=$(it_eval_direct "$n" "$flag" "$@") || it_fail "eval $flag on agent $n ($mode): exit $?"
    fi
    it_assert_eq "agent $n $mode $flag $*" \
        "$value \"$variant\" \"$reason\" $version false" \
        "$(it_eval_answer "$out")"
}

# check_all FLAG VALUE VARIANT REASON VERSION [EVAL-ARGS...]: every agent,
# both modes.
check_all() {
    local n mode
    for n in $AGENTS; do
        for mode in ipc direct; do
            check "$n" "$mode" "$@"
        done
    done
}

wait_all() {
    local n
    for n in $AGENTS; do
        it_wait_flag "$n" "$1" "$2"
    done
}

# ------------------------------------------------------------------ create
it_step "create it-country (bool) with the CLI shorthand, rule country == NL"
out=$(it_cli flag create it-country --type bool --enabled --json)
it_assert_eq "create version" 1 "$(it_json_num version "$out")"
out=$(it_cli flag set it-country --json --patch \
    '{"rules":[{"clauses":[{"attribute":"country","op":"eq","values":["NL"]}],"variant":"on"}]}')
it_assert_eq "set version" 2 "$(it_json_num version "$out")"
wait_all it-country 2

it_step "exact answers: TARGETING_MATCH, DEFAULT, on every agent by ipc and direct"
check_all it-country true on TARGETING_MATCH 2 --key user-1 --attr country=NL
check_all it-country false off DEFAULT 2 --key user-1 --attr country=DE
check_all it-country false off DEFAULT 2 --key user-1

it_step "create it-split (string) from a file: a rule, then a 30/70 split"
cat >"$WORK/split.json" <<'EOF'
{"key": "it-split", "type": "string", "enabled": true,
 "description": "integration slice",
 "variants": {"a": "alpha", "b": "beta", "nl": "dutch"},
 "default_variant": "a", "off_variant": "a",
 "rules": [
   {"clauses": [{"attribute": "country", "op": "eq", "values": ["NL"]}],
    "variant": "nl"},
   {"clauses": [{"attribute": "plan", "op": "in", "values": ["beta", "pro"]}],
    "split": [{"variant": "a", "weight": 3000},
              {"variant": "b", "weight": 7000}]}
 ]}
EOF
out=$(it_cli flag create --file "$WORK/split.json" --json)
it_assert_eq "it-split version" 1 "$(it_json_num version "$out")"
wait_all it-split 1

# 200 contexts covering every branch: NL (rule 1), plan beta/pro (the
# split, bucketed on the key), neither (DEFAULT), and a few without a
# targeting key (a split then cannot bucket: TARGETING_KEY_MISSING).
: >"$WORK/ctx.txt"
for i in $(seq 1 200); do
    line="user-$i"
    if [ $((i % 50)) -eq 0 ]; then
        line="-"
    fi
    if [ $((i % 7)) -eq 0 ]; then
        line="$line country=NL"
    fi
    case $((i % 3)) in
    0) line="$line plan=beta" ;;
    1) line="$line plan=pro" ;;
    *) line="$line plan=free" ;;
    esac
    echo "$line" >>"$WORK/ctx.txt"
done

# compare TAG: the proto engine on the API's JSON, then libramp through
# every agent, ipc and direct; every answer must be identical.
compare() {
    local tag=$1 n
    it_cli flag get it-split --json >"$WORK/split-$tag.json"
    "$EVALTOOL" ref "$WORK/split-$tag.json" <"$WORK/ctx.txt" >"$WORK/ref-$tag.txt"
    it_assert_eq "reference answers ($tag)" 200 "$(wc -l <"$WORK/ref-$tag.txt")"
    for n in $AGENTS; do
        timeout -k 2 60 "$EVALTOOL" eval "$(it_agent_target "$n")" it-split \
            <"$WORK/ctx.txt" >"$WORK/ipc-$n-$tag.txt"
        timeout -k 2 60 "$EVALTOOL" eval "$(it_agent_direct "$n")" it-split \
            <"$WORK/ctx.txt" >"$WORK/direct-$n-$tag.txt"
        diff -u "$WORK/ref-$tag.txt" "$WORK/ipc-$n-$tag.txt" >&2 ||
            it_fail "agent $n (ipc) differs from the proto engine ($tag)"
        diff -u "$WORK/ref-$tag.txt" "$WORK/direct-$n-$tag.txt" >&2 ||
            it_fail "agent $n (direct) differs from the proto engine ($tag)"
    done
    # The contexts must have exercised every branch, else agreement
    # proves little.
    local r
    for r in TARGETING_MATCH SPLIT DEFAULT TARGETING_KEY_MISSING; do
        grep -q " $r " "$WORK/ref-$tag.txt" || it_fail "no $r answer ($tag)"
    done
    grep -q ' a SPLIT ' "$WORK/ref-$tag.txt" || it_fail "split never served a ($tag)"
    grep -q ' b SPLIT ' "$WORK/ref-$tag.txt" || it_fail "split never served b ($tag)"
    echo "   $tag: $(awk '{print $2 "/" $3}' "$WORK/ref-$tag.txt" | sort | uniq -c | tr -s ' \n' ' ')"
}

it_step "200 contexts: proto engine == every agent by ipc == by direct"
compare v1

# Exact SPLIT answers through the CLI, as the reference computed them.
for key in user-3 user-6; do
    want=$(grep "^$key " "$WORK/ref-v1.txt")
    variant=$(echo "$want" | awk '{print $2}')
    value=$(echo "$want" | awk '{print $6}')
    check_all it-split "\"$value\"" "$variant" SPLIT 1 --key "$key" --attr plan=beta
done

# ----------------------------------------------------------------- updates
it_step "disable it-country: DISABLED everywhere"
it_cli flag disable it-country >/dev/null
wait_all it-country 3
check_all it-country false off DISABLED 3 --key user-1 --attr country=NL

it_step "enable it-country: the rule serves again"
it_cli flag enable it-country >/dev/null
wait_all it-country 4
check_all it-country true on TARGETING_MATCH 4 --key user-1 --attr country=NL

it_step "set it-country: rule widened to NL, BE; default variant on"
it_cli flag set it-country --if-version 4 --patch \
    '{"rules":[{"clauses":[{"attribute":"country","op":"in","values":["NL","BE"]}],"variant":"on"}]}' \
    >/dev/null
it_cli flag set it-country --default-variant on >/dev/null
wait_all it-country 6
check_all it-country true on TARGETING_MATCH 6 --key user-1 --attr country=BE
check_all it-country true on DEFAULT 6 --key user-1 --attr country=DE

it_step "set it-split: new weights; answers still identical"
it_cli flag set it-split --patch \
    '{"rules":[{"clauses":[{"attribute":"country","op":"eq","values":["NL"]}],"variant":"nl"},{"clauses":[{"attribute":"plan","op":"in","values":["beta","pro"]}],"split":[{"variant":"a","weight":6500},{"variant":"b","weight":3500}]}]}' \
    >/dev/null
wait_all it-split 2
compare v2

it_step "delete it-country: gone from every agent (exit 3)"
it_cli flag delete it-country >/dev/null
wait_all it-country 0
for n in $AGENTS; do
    rc=0
    it_eval "$n" it-country --key user-1 >/dev/null 2>&1 || rc=$?
    it_assert_eq "agent $n ipc eval of a deleted flag: exit" 3 "$rc"
    rc=0
    it_eval_direct "$n" it-country --key user-1 >/dev/null 2>&1 || rc=$?
    it_assert_eq "agent $n direct eval of a deleted flag: exit" 3 "$rc"
done

it_step "every agent's cache is at the controller's seq"
seq=$(it_healthz_seq)
it_assert_eq "controller seq (2 creates, 7 changes)" 9 "$seq"
for n in $AGENTS; do
    it_wait_agent_seq "$n" "$seq"
done
for n in $AGENTS; do
    stats=$(it_agent_stats "$n")
    for c in bad_signature unknown_key malformed; do
        it_assert_eq "agent $n $c" 0 "$(it_stat "$c" "$stats")"
    done
done
it_step "ok"
