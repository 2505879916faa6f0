#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A real OpenFeature client against a real agent: the npm packages
# @openfeature/server-sdk and @openfeature/ofrep-provider (pinned in
# tests/ofrep-node/package-lock.json) run with the machine's Node.js and
# evaluate every flag type, the errors it maps, with the agent's API key
# sent as a Bearer token (tests/ofrep-node/test.mjs).
#
# The packages are installed with `npm ci` into the work dir, from an npm
# cache kept in the build tree (RAMP_IT_NPM_CACHE overrides), so a second
# run needs no network. The test is skipped, saying so, only when node or
# npm is not installed; a failed install is a failure.
#
# Usage: ofrep_node.sh CONTROLLER AGENT CLI EVALTOOL TESTPUB
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ofrep_flags.sh"
SRC=$(cd "$(dirname "$0")/../ofrep-node" && pwd)
NPM_CACHE=${RAMP_IT_NPM_CACHE:-$(cd "$(dirname "$1")/.." 2>/dev/null && pwd)/ofrep-node-npm-cache}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "SKIP: ofrep_node needs node and npm (Node.js 18 or later);" \
        "install them (scripts/deps.sh installs nodejs) to run it" >&2
    exit 0
fi
it_init "$@"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || it_fail "Node.js $(node --version) has no fetch: 18 or later is needed"

it_step "npm ci of the OpenFeature packages (cache $NPM_CACHE)"
mkdir -p "$WORK/node" "$NPM_CACHE"
cp "$SRC/package.json" "$SRC/package-lock.json" "$SRC/test.mjs" "$WORK/node/"
(cd "$WORK/node" && timeout 300 npm ci --no-audit --no-fund --loglevel=error \
    --cache "$NPM_CACHE" >"$WORK/npm.log" 2>&1) ||
    it_fail "npm ci failed: $(tail -n 5 "$WORK/npm.log")"

it_start_controller
P1=$(it_free_port)
printf 'node-test-key\n' >"$WORK/http.key"
it_start_agent 1 --http-addr "127.0.0.1:$P1" --http-key-file "$WORK/http.key" \
    --outcome-url "ipc://$WORK/o1.sock"
ofrep_create_flags
it_wait_flag 1 of-off 1

it_step "the OpenFeature Node.js SDK evaluates every type through the agent"
(cd "$WORK/node" && RAMP_OFREP_URL="http://127.0.0.1:$P1" \
    RAMP_OFREP_KEY=node-test-key timeout 60 node test.mjs) >"$WORK/node.out" 2>&1 ||
    it_fail "node test.mjs: $(cat "$WORK/node.out")"
cat "$WORK/node.out"
grep -qx 'all ok' "$WORK/node.out" || it_fail "node test.mjs did not finish"

it_step "a wrong key is an error the SDK reports, with the default value"
cat >"$WORK/node/wrong.mjs" <<'EOF'
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: process.env.U,
    headers: [['X-API-Key', 'wrong']] }));
const d = await OpenFeature.getClient().getBooleanDetails('of-bool', true,
    { targetingKey: 'u1', country: 'NL' });
console.log(JSON.stringify([d.value, d.reason, d.errorCode]));
await OpenFeature.close();
EOF
out=$(cd "$WORK/node" && U="http://127.0.0.1:$P1" timeout 60 node wrong.mjs 2>&1) ||
    it_fail "node wrong.mjs: $out"
it_assert_eq "wrong key" '[true,"ERROR","GENERAL"]' "$out"
it_stop_agent 1
it_step "ok"
