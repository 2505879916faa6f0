# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# The flags the OFREP tests evaluate, one of each type and reason, shared
# by ofrep.sh and ofrep_node.sh. Source after lib.sh; then
# ofrep_create_flags creates them with the CLI (versions 1).
#   of-bool    bool, country == NL -> on (TARGETING_MATCH), else DEFAULT
#   of-string  "alpha"/"beta", plan == pro -> "beta"
#   of-int     3 or 42 (default 42): integers
#   of-float   0.5 (default) or 1
#   of-object  {"color": "blue", "n": 2, "tags": ["x"]}
#   of-split   bool, 50/50 on the targeting key (SPLIT; none: error)
#   of-off     bool, disabled (DISABLED, off)
ofrep_create_flags() {
    local d=$WORK/ofrep-flags f
    mkdir -p "$d"
    cat >"$d/1.json" <<'EOF'
{"key": "of-bool", "type": "bool", "enabled": true,
 "rules": [{"clauses": [{"attribute": "country", "op": "eq",
                         "values": ["NL"]}], "variant": "on"}]}
EOF
    cat >"$d/2.json" <<'EOF'
{"key": "of-string", "type": "string", "enabled": true,
 "variants": {"a": "alpha", "b": "beta"}, "default_variant": "a",
 "rules": [{"clauses": [{"attribute": "plan", "op": "eq",
                         "values": ["pro"]}], "variant": "b"}]}
EOF
    cat >"$d/3.json" <<'EOF'
{"key": "of-int", "type": "number", "enabled": true,
 "variants": {"small": 3, "big": 42}, "default_variant": "big"}
EOF
    cat >"$d/4.json" <<'EOF'
{"key": "of-float", "type": "number", "enabled": true,
 "variants": {"half": 0.5, "one": 1}, "default_variant": "half"}
EOF
    cat >"$d/5.json" <<'EOF'
{"key": "of-object", "type": "json", "enabled": true,
 "variants": {"blue": {"color": "blue", "n": 2, "tags": ["x"]}},
 "default_variant": "blue"}
EOF
    cat >"$d/6.json" <<'EOF'
{"key": "of-split", "type": "bool", "enabled": true,
 "rules": [{"clauses": [], "split": [{"variant": "on", "weight": 5000},
                                     {"variant": "off", "weight": 5000}]}]}
EOF
    cat >"$d/7.json" <<'EOF'
{"key": "of-off", "type": "bool", "enabled": false}
EOF
    for f in 1 2 3 4 5 6 7; do
        it_cli flag create --file "$d/$f.json" --json >/dev/null ||
            it_fail "flag create from $d/$f.json"
    done
}
