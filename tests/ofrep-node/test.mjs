// SPDX-License-Identifier: MIT
//
// OpenFeature's Node.js server SDK with its OFREP provider, pointed at a
// ramp agent: every flag type through the real client, its reasons,
// variants and metadata, and the errors it maps to its own codes.
// Run by tests/integration/ofrep_node.sh, which creates the flags:
//   RAMP_OFREP_URL=http://127.0.0.1:PORT RAMP_OFREP_KEY=... node test.mjs
// Prints one line per check; exits 1 at the first mismatch.
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { isDeepStrictEqual } from 'node:util';

const baseUrl = process.env.RAMP_OFREP_URL;
const key = process.env.RAMP_OFREP_KEY;
if (!baseUrl) {
    console.error('RAMP_OFREP_URL is not set');
    process.exit(2);
}

function check(what, got, want) {
    if (!isDeepStrictEqual(got, want)) {
        console.error(`FAIL: ${what}: expected ${JSON.stringify(want)}, ` +
            `got ${JSON.stringify(got)}`);
        process.exit(1);
    }
    console.log(`ok: ${what}`);
}

const pick = (d) => ({ value: d.value, variant: d.variant, reason: d.reason,
    errorCode: d.errorCode });

await OpenFeature.setProviderAndWait(new OFREPProvider({
    baseUrl,
    headers: key ? [['Authorization', `Bearer ${key}`]] : [],
}));
const client = OpenFeature.getClient('ramp-ofrep-test');
const nl = { targetingKey: 'u1', country: 'NL', plan: 'pro' };
const de = { targetingKey: 'u1', country: 'DE', plan: 'free' };

let d = await client.getBooleanDetails('of-bool', false, nl);
check('boolean, rule match', pick(d),
    { value: true, variant: 'on', reason: 'TARGETING_MATCH', errorCode: undefined });
check('metadata', [typeof d.flagMetadata.version, typeof d.flagMetadata.seq,
    d.flagMetadata.stale], ['number', 'number', false]);
d = await client.getBooleanDetails('of-bool', true, de);
check('boolean, default', pick(d),
    { value: false, variant: 'off', reason: 'DEFAULT', errorCode: undefined });
d = await client.getStringDetails('of-string', 'none', nl);
check('string', pick(d),
    { value: 'beta', variant: 'b', reason: 'TARGETING_MATCH', errorCode: undefined });
d = await client.getNumberDetails('of-int', -1, nl);
check('integer', pick(d),
    { value: 42, variant: 'big', reason: 'STATIC', errorCode: undefined });
check('integer is an integer', Number.isInteger(d.value), true);
d = await client.getNumberDetails('of-float', -1, nl);
check('float', pick(d),
    { value: 0.5, variant: 'half', reason: 'STATIC', errorCode: undefined });
d = await client.getObjectDetails('of-object', {}, nl);
check('object', pick(d), { value: { color: 'blue', n: 2, tags: ['x'] },
    variant: 'blue', reason: 'STATIC', errorCode: undefined });
d = await client.getBooleanDetails('of-off', true, nl);
check('disabled', pick(d),
    { value: false, variant: 'off', reason: 'DISABLED', errorCode: undefined });
d = await client.getBooleanDetails('of-split', true, { targetingKey: 'u1' });
check('split', [d.reason, typeof d.value, d.errorCode], ['SPLIT', 'boolean', undefined]);

// Errors: the default value, and the code the SDK reports.
d = await client.getBooleanDetails('no-such-flag', true, nl);
check('unknown flag', [d.value, d.reason, d.errorCode], [true, 'ERROR', 'FLAG_NOT_FOUND']);
d = await client.getBooleanDetails('of-split', true, { country: 'NL' });
check('no targeting key', [d.value, d.reason, d.errorCode],
    [true, 'ERROR', 'TARGETING_KEY_MISSING']);
d = await client.getStringDetails('of-bool', 'dflt', nl);
check('type mismatch', [d.value, d.reason, d.errorCode], ['dflt', 'ERROR', 'TYPE_MISMATCH']);

await OpenFeature.close();
console.log('all ok');
