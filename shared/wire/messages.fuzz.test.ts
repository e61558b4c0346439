// Property-based fuzzing of message parsing at the edge (fast-check): parseClientMessage
// on arbitrary JSON and on valid messages with one field replaced by a wrong value
// (wrong type, out of range, bad hex, oversized, prototype keys), the EIP-712 encoding of
// whatever the parser lets through, and evidence bodies of every length. A malformed
// message is refused with BAD_MESSAGE naming the field; nothing parsed can make the
// EIP-712 encoding throw; nothing reaches Object.prototype.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hashTypedData } from 'viem';
import { contributionFromJson, delegationFromJson, parseClientMessage, parseServerMessage, PROTOCOL_VERSION } from './messages.ts';
import { parseAccountSummary, parseDashboardState, parseRunInfo } from './http.ts';
import { contributionTypedData, delegationTypedData, eip712Domain } from '../eip712.ts';
import { decodeEvidence, openingBytes } from './evidence.ts';
import { innerStateBytes } from './inner-state.ts';
import { IdlegradError } from '../errors.ts';

const h32 = `0x${'ab'.repeat(32)}`;
const addr = `0x${'cd'.repeat(20)}`;
const sig = `0x${'ef'.repeat(65)}`;
const contribution = {
  run: 1,
  round: 2,
  cohort: 0,
  frameHash: h32,
  aggregateHash: h32,
  framesRoot: h32,
  residualHash: h32,
  samples: 10,
  steps: 1,
  lossBeforeMicro: 5,
  lossAfterMicro: 4,
  computeMs: 3,
  nonce: '7',
  expiry: '1999999999',
  partner: 'blog',
};
const VALID: Record<string, Record<string, unknown>> = {
  hello: {
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    address: addr,
    peerId: 'peer-1',
    signature: sig,
    adapter: { vendor: 'v', architecture: 'a', description: 'd' },
    gflops: 1.5,
    session: {
      certificate: { run: 1, device: addr, sessionKey: h32, expiry: '1999999999' },
      signature: sig,
      proof: `0x${'ab'.repeat(64)}`,
    },
  },
  report: { type: 'report', contribution, signature: `0x${'ab'.repeat(64)}`, frameHashes: [h32, h32] },
  bind: { type: 'bind', delegation: { wallet: addr, device: addr, nonce: '1', expiry: '2000000000' }, signature: sig },
  subscribe: { type: 'subscribe', topic: 'dashboard' },
};
/** Every field path of the valid messages whose replacement by a wrong value must be refused. */
const FIELDS: [string, string[]][] = [
  ...[
    ['protocol'],
    ['address'],
    ['peerId'],
    ['signature'],
    ['adapter'],
    ['adapter', 'vendor'],
    ['gflops'],
    ['session'],
    ['session', 'certificate', 'sessionKey'],
    ['session', 'certificate', 'expiry'],
    ['session', 'signature'],
    ['session', 'proof'],
  ].map((p) => ['hello', p] as [string, string[]]),
  ...[
    'run',
    'round',
    'cohort',
    'frameHash',
    'aggregateHash',
    'framesRoot',
    'residualHash',
    'samples',
    'steps',
    'lossBeforeMicro',
    'lossAfterMicro',
    'computeMs',
    'nonce',
    'expiry',
    'partner',
  ].map((f) => ['report', ['contribution', f]] as [string, string[]]),
  ['report', ['contribution']],
  ['report', ['signature']],
  ['report', ['frameHashes']],
  ['report', ['frameHashes', '0']],
  ['bind', ['delegation']],
  ['bind', ['delegation', 'wallet']],
  ['bind', ['delegation', 'device']],
  ['bind', ['delegation', 'nonce']],
  ['bind', ['delegation', 'expiry']],
  ['bind', ['signature']],
  ['subscribe', ['topic']],
];
const EXPECTS: Record<string, 'uint32' | 'hex32' | 'sig' | 'addr' | 'u64' | 'str' | 'obj' | 'num' | 'arr' | 'topic' | 'partner'> = {
  partner: 'partner',
  protocol: 'uint32',
  run: 'uint32',
  round: 'uint32',
  cohort: 'uint32',
  samples: 'uint32',
  steps: 'uint32',
  lossBeforeMicro: 'uint32',
  lossAfterMicro: 'uint32',
  computeMs: 'uint32',
  frameHash: 'hex32',
  aggregateHash: 'hex32',
  framesRoot: 'hex32',
  residualHash: 'hex32',
  '0': 'hex32',
  signature: 'sig',
  address: 'addr',
  wallet: 'addr',
  device: 'addr',
  nonce: 'u64',
  expiry: 'u64',
  peerId: 'str',
  vendor: 'str',
  adapter: 'obj',
  contribution: 'obj',
  delegation: 'obj',
  gflops: 'num',
  frameHashes: 'arr',
  topic: 'topic',
};

const hexa = (minLength: number, maxLength: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength, maxLength });

/** Values that are wrong for a field of the given kind. */
function wrongFor(kind: string): fc.Arbitrary<unknown> {
  const junk = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }),
    fc.constant({ __proto__: { polluted: 1 } }),
    fc.constant(JSON.parse('{"__proto__":{"polluted":1}}')),
  );
  const badHex = (bytes: number) =>
    fc.oneof(
      fc.string({ maxLength: bytes * 2 + 4 }),
      hexa(0, bytes * 4)
        .filter((s) => s.length !== bytes * 2)
        .map((s) => `0x${s}`),
      hexa(bytes * 2, bytes * 2).map((s) => `0x${s.slice(1)}g`),
      hexa(bytes * 2, bytes * 2).map((s) => s), // no 0x
    );
  switch (kind) {
    case 'uint32':
      return fc.oneof(
        fc.integer({ max: -1 }),
        fc.double({ min: 2 ** 32, noNaN: true }),
        fc.double().filter((x) => !Number.isInteger(x)),
        fc.constant(NaN),
        fc.string(),
        fc.constant('1'),
        junk,
      );
    case 'hex32':
      return fc.oneof(badHex(32), fc.integer(), junk);
    case 'sig':
      return fc.oneof(badHex(65), fc.integer(), junk);
    case 'addr':
      return fc.oneof(badHex(20), fc.integer(), junk);
    case 'u64':
      return fc.oneof(
        fc.bigInt({ min: 2n ** 64n, max: 2n ** 80n }).map(String),
        fc.integer({ max: -1 }).map(String),
        fc.constant('1e3'),
        fc.constant('0x10'),
        fc.constant(' 1'),
        fc.integer(),
        fc.string({ minLength: 1 }).filter((s) => !/^[0-9]{1,20}$/.test(s)),
        junk,
      );
    case 'str':
      return fc.oneof(fc.string({ minLength: 257, maxLength: 400 }), fc.integer(), junk);
    case 'partner':
      return fc.oneof(fc.string({ minLength: 65, maxLength: 100 }), fc.constant('<script>'), fc.constant(' blog'), fc.constant('-x'), fc.integer(), junk);
    case 'obj':
      return fc.oneof(fc.string(), fc.integer(), fc.array(fc.integer(), { maxLength: 3 }), fc.boolean());
    case 'num':
      return fc.oneof(fc.double({ max: -Number.MIN_VALUE, noDefaultInfinity: true, noNaN: true }), fc.string(), fc.constant({}), fc.constant([1]));
    case 'arr':
      return fc.oneof(fc.array(fc.constant(h32), { minLength: 257, maxLength: 300 }), fc.string(), fc.integer(), fc.constant({ length: 1, 0: h32 }));
    default:
      return fc.oneof(
        fc.string().filter((s) => s !== 'dashboard'),
        fc.integer(),
        junk,
      );
  }
}

function setPath(o: Record<string, unknown>, path: string[], v: unknown): Record<string, unknown> {
  const copy = structuredClone(o);
  let at: Record<string, unknown> = copy;
  for (const p of path.slice(0, -1)) at = at[p] as Record<string, unknown>;
  const last = path[path.length - 1];
  if (path.length === 1 && last === 'protocol' && v === undefined) delete at[last];
  else if (v === undefined) delete at[last];
  else at[last] = v;
  return copy;
}

let malformed = 0;
const domain = eip712Domain(31337, `0x${'12'.repeat(20)}`);

test('the valid messages parse and encode (the fuzz below starts from them)', () => {
  for (const m of Object.values(VALID)) parseClientMessage(structuredClone(m));
  const r = parseClientMessage(VALID.report) as Extract<ReturnType<typeof parseClientMessage>, { type: 'report' }>;
  hashTypedData(contributionTypedData(domain, contributionFromJson(r.contribution)));
});

test('one field replaced by a wrong value: refused with BAD_MESSAGE naming that field', () => {
  const field = fc
    .constantFrom(...FIELDS)
    .chain(([type, path]) => fc.tuple(fc.constant(type), fc.constant(path), fc.oneof(wrongFor(EXPECTS[path[path.length - 1]]), fc.constant(undefined))));
  fc.assert(
    fc.property(field, ([type, path, v]) => {
      // Optional fields may be absent (and adapter/gflops may be null): those are valid.
      if (((path[0] === 'adapter' && path.length === 1) || path[0] === 'gflops') && (v === undefined || v === null)) return;
      // A contribution without `partner` is a protocol-1 report: SCHEMA_MISMATCH naming the version (messages.test.ts).
      if (path[1] === 'partner' && v === undefined) return;
      const msg = setPath(VALID[type], path, v);
      malformed++;
      const name = path[path.length - 1] === '0' ? 'frameHashes' : path[path.length - 1];
      assert.throws(
        () => parseClientMessage(JSON.parse(JSON.stringify(msg)) as unknown),
        (e: unknown) => e instanceof IdlegradError && e.code === 'BAD_MESSAGE' && e.shortMessage.includes(name),
        `${type}.${path.join('.')} = ${String(JSON.stringify(v)).slice(0, 80)} must be refused naming ${name}`,
      );
    }),
    { numRuns: 3000 },
  );
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing reached Object.prototype');
});

test('arbitrary JSON: refused with BAD_MESSAGE, or a message whose signed parts EIP-712 can encode', () => {
  let accepted = 0;
  const msg = fc.oneof(
    fc.jsonValue(),
    fc.record(
      {
        type: fc.constantFrom('hello', 'report', 'bind', 'subscribe', 'start', 'stop', 'nope', '__proto__', 'constructor'),
        contribution: fc.jsonValue(),
        delegation: fc.jsonValue(),
        signature: fc.jsonValue(),
      },
      { requiredKeys: ['type'] },
    ),
  );
  fc.assert(
    fc.property(msg, (raw) => {
      let m;
      try {
        m = parseClientMessage(JSON.parse(JSON.stringify(raw ?? null)) as unknown);
      } catch (e) {
        assert.ok(e instanceof IdlegradError && e.code === 'BAD_MESSAGE' && e.shortMessage.length > 10, String(e));
        malformed++;
        return;
      }
      accepted++;
      assert.ok(['start', 'stop', 'subscribe'].includes(m.type), `only field-less messages can come from random JSON, got ${m.type}`);
    }),
    { numRuns: 1500 },
  );
  // What the parser lets through must encode: the nonce/expiry/uint32 checks cover EIP-712's ranges.
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.integer({ min: 0, max: 0xffffffff }), (n, u) => {
      const r = parseClientMessage({
        ...VALID.report,
        contribution: { ...contribution, nonce: n.toString(), expiry: n.toString(), samples: u, computeMs: u },
      }) as Extract<ReturnType<typeof parseClientMessage>, { type: 'report' }>;
      hashTypedData(contributionTypedData(domain, contributionFromJson(r.contribution)));
      const b = parseClientMessage({ ...VALID.bind, delegation: { wallet: addr, device: addr, nonce: n.toString(), expiry: n.toString() } }) as Extract<
        ReturnType<typeof parseClientMessage>,
        { type: 'bind' }
      >;
      hashTypedData(delegationTypedData(domain, delegationFromJson(b.delegation)));
    }),
    { numRuns: 300 },
  );
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing reached Object.prototype');
  console.log(`protocol fuzz: ${malformed} malformed messages refused naming the field (${accepted} random messages were a valid start/stop/subscribe)`);
  assert.ok(malformed >= 3000, `at least 3,000 malformed messages, got ${malformed}`);
});

test('evidence bodies of every length and modes byte: refused by name, or exactly split into the parts the modes name and a frame', () => {
  let refusedCount = 0;
  fc.assert(
    fc.property(fc.nat(600), fc.integer({ min: 1, max: 300 }), fc.oneof(fc.nat(31), fc.nat(255)), fc.nat(), (len, paramCount, modes, seed) => {
      const body = Uint8Array.from({ length: len }, (_, i) => (seed * (i + 1) * 2654435761) >>> 24);
      if (len) body[0] = modes;
      // An opened part starting with a plausible count and index, so some get past the first checks.
      if (len > 7) body.set([1, 0, seed % 6, 0, 0, 0], 1);
      const modeOk = (m: number) => m <= 2;
      try {
        const e = decodeEvidence(body, paramCount);
        // Bits 0–1 e_b's part, 2–3 e_a's, bit 4 the inner state section (protocol 7).
        assert.ok(modes < 32 && modeOk(modes & 3) && modeOk((modes >> 2) & 3), `modes 0x${modes.toString(16)} accepted`);
        let used = 1;
        [e.before, e.after].forEach((p, i) => {
          const mode = (modes >> (2 * i)) & 3;
          if (mode === 1) assert.ok(p instanceof Float32Array && p.length === paramCount);
          else if (mode === 0) assert.ok(typeof p === 'string' && p.length === 66);
          else assert.ok(typeof p === 'object' && !(p instanceof Float32Array) && p.leaves.length > 0 && p.paramCount === paramCount);
          used += typeof p === 'string' ? 32 : p instanceof Float32Array ? 4 * paramCount : openingBytes(p);
        });
        if (modes & 0x10) {
          assert.ok(e.state && e.state.before.m.length === paramCount && e.state.before.v.length === paramCount, 'the state section is decoded');
          used += innerStateBytes(paramCount);
        } else assert.equal(e.state, undefined);
        assert.ok(e.frame.byteLength > 0 && e.frame.byteLength + used === len);
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assert.ok(e instanceof IdlegradError && e.code === 'BAD_FRAME', String(e));
        refusedCount++;
      }
    }),
    { numRuns: 500 },
  );
  console.log(`evidence fuzz: ${refusedCount} too-short bodies, unknown modes or bad openings refused by name`);
  assert.ok(refusedCount > 0);
});

test('arbitrary JSON to the server-message and reply parsers: refused with BAD_MESSAGE, never another exception', () => {
  let refusedCount = 0;
  const tagged = fc.record(
    {
      type: fc.constantFrom('challenge', 'welcome', 'round', 'committed', 'ack', 'error', 'account', 'dashboard', 'verify', 'ice', '__proto__'),
      summary: fc.jsonValue(),
      state: fc.jsonValue(),
      run: fc.jsonValue(),
      cohort: fc.jsonValue(),
    },
    { requiredKeys: ['type'] },
  );
  const parsers = [
    (v: unknown) => parseServerMessage(v),
    (v: unknown) => parseAccountSummary(v, 'reply'),
    (v: unknown) => parseDashboardState(v, 'reply'),
    (v: unknown) => parseRunInfo(v, 'reply'),
  ];
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), tagged), fc.nat(parsers.length - 1), (raw, i) => {
      try {
        parsers[i](JSON.parse(JSON.stringify(raw ?? null)));
      } catch (e) {
        assert.ok(e instanceof IdlegradError && e.code === 'BAD_MESSAGE' && /: expected /.test(e.shortMessage), String(e));
        refusedCount++;
      }
    }),
    { numRuns: 2000 },
  );
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing reached Object.prototype');
  assert.ok(refusedCount > 1900, `${refusedCount} of 2,000 random values refused`);
});
