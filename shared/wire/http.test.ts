// Every HTTP reply and server message parses from a valid example, and with any one field
// replaced by a value of the wrong kind it is refused as BAD_MESSAGE naming that field's keypath.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RUN, runSpecOf } from '../config.ts';
import { IdlegradError } from '../errors.ts';
import {
  parseAccountSummary,
  parseContributionDetail,
  parseDashboardState,
  parseErrorReply,
  parseLeadSession,
  parsePartnersReply,
  parseRewardProof,
  parseRunCreated,
  parseRunInfo,
  parseRunStatusChanged,
  parseTextUploaded,
} from './http.ts';
import { parseServerMessage } from './messages.ts';
import type { Parser } from './parse.ts';

const h32 = `0x${'ab'.repeat(32)}`;
const a20 = `0x${'cd'.repeat(20)}`;
const run = runSpecOf(3, DEFAULT_RUN, { name: 'mnist', trainCount: 100, testCount: 10, features: 784, classes: 10 });
const chain = { chainId: 31337, distributor: a20, token: a20, rpcUrl: '/rpc', walletConnect: { projectId: 'p'.repeat(32), relayUrl: 'wss://relay.example' } };
const states = { pending: 1, accepted: 2, verified: 0, rejected: 1, batched: 0, claimable: 0, claimed: 0 };
const account = {
  address: a20,
  contributions: states,
  creditWei: '1000',
  claimable: { epoch: 2, cumulativeWei: '1000', proof: [h32] },
  claimedWei: '0',
  epochCreditWei: '1000',
  wallet: null,
  recent: [
    {
      id: 7,
      round: 2,
      state: 'rejected',
      code: 'LEFT_OUT',
      reason: 'left out',
      samples: 32,
      epoch: null,
      beneficiary: a20,
      verification: null,
      claimTx: null,
      device: 'cpu',
      partner: 'blog',
    },
  ],
  byDevice: { webgpu: { contributions: 1, samples: 32, creditWei: '1000' }, cpu: { contributions: 0, samples: 0, creditWei: '0' } },
};
const round = {
  round: 1,
  modelHash: h32,
  committedAt: 1_790_000_000_000,
  heldOutAccuracy: 0.5,
  heldOutLoss: 1.2,
  trainLoss: null,
  contributions: 2,
  samples: 64,
  volunteers: 3,
  updateBytes: 1800,
};
const dashboard = {
  run: { id: 3, name: 'mnist-mlp', round: 2, modelHash: h32, paramCount: run.paramCount, status: 'active' },
  volunteers: 3,
  rounds: [round],
  epochs: [{ epoch: 1, root: h32, txHash: h32, totalWei: '5', accounts: 2, round: 1 }],
  chain,
  verification: { passed: 2, sampled: 1 },
  validator: { executor: 'dawn', adapter: 'google swiftshader', fallback: null, backlog: 0, peakBacklog: 2, checks: 2, meanMs: 10.5, maxMs: 12 },
  insights: {
    denseBytes: 4 * run.paramCount,
    flopsPerSample: 1e6,
    outcomes: [{ round: 1, reports: 3, accepted: 2, rejected: 1, verified: 1, failed: 0, sampled: 0, cohorts: 1, stragglers: 0, codes: ['NO_QUORUM'] }],
    leaderboard: [{ account: a20, contributions: 2, samples: 64, creditWei: '5' }],
  },
  partners: [{ partner: 'blog', volunteers: 1, contributions: 1, samples: 32, creditWei: '5' }],
  flagged: {
    rejections: { NO_QUORUM: 1 },
    uncoded: 0,
    identities: [{ account: a20, reputation: -10, checksFailed: 1, refused: 1, creditWei: '0', lastCode: 'WORK_MISMATCH', lastReason: 'far' }],
  },
};
const detail = {
  id: 7,
  run: 3,
  round: 2,
  account: a20,
  beneficiary: a20,
  state: 'rejected',
  code: 'WORK_MISMATCH',
  reason: 'far',
  samples: 32,
  creditWei: '0',
  epoch: null,
  epochRoot: null,
  epochTx: null,
  claimTx: null,
  verification: 'failed',
  check: { executor: 'cpu', relDelta: 0.5, relFrame: 0.1, lossGain: -0.01, ms: 20 },
  device: 'webgpu',
  partner: null,
  nonce: '18446744073709551615',
  timeline: [
    { step: 'pending', status: 'done', detail: null },
    { step: 'rejected', status: 'failed', detail: 'WORK_MISMATCH: far' },
  ],
  proof: { epoch: 1, root: h32, cumulativeWei: '5', proof: [h32, h32] },
};

const REPLIES: [string, Parser<unknown>, unknown][] = [
  ['run', parseRunInfo, { run, round: 2, modelHash: h32, chain }],
  ['account', parseAccountSummary, account],
  ['reward proof', parseRewardProof, { epoch: 1, root: h32, cumulativeWei: '5', proof: [h32] }],
  ['contribution', parseContributionDetail, detail],
  ['partners', parsePartnersReply, { run: 3, partners: dashboard.partners }],
  ['dashboard', parseDashboardState, dashboard],
  ['lead session', parseLeadSession, { ok: true, run: { id: 3, name: 'mnist-mlp', status: 'paused' } }],
  ['text upload', parseTextUploaded, { text: { id: 'f'.repeat(64), bytes: 1200 } }],
  ['run created', parseRunCreated, { run: { id: 4, name: 'gpt', paramCount: 1000 } }],
  ['run status', parseRunStatusChanged, { run: { id: 4, status: 'stopped' } }],
  ['error', parseErrorReply, { error: { code: 'FORBIDDEN', message: 'only the project lead may create or change runs' } }],
];
const MESSAGES: unknown[] = [
  { type: 'challenge', challenge: 'ab12', serverTime: 1, session: { run: 3, chainId: 31337, distributor: a20 } },
  { type: 'welcome', run, round: 2, modelHash: h32, chain, serverTime: 1 },
  {
    type: 'welcome',
    run,
    round: 2,
    modelHash: h32,
    chain,
    serverTime: 1,
    ice: { servers: [{ urls: ['stun:s.example:3478'] }, { urls: 'turn:t.example:3478', username: '9:0xab', credential: 'c2' }], expiresAt: 9000 },
  },
  { type: 'ice', ice: { servers: [{ urls: 'turn:t.example:3478', username: '9:0xab', credential: 'c2' }], expiresAt: 9000 }, serverTime: 1 },
  {
    type: 'round',
    run: 3,
    round: 2,
    modelHash: h32,
    cohort: { id: 0, members: [{ address: a20, peerId: 'ig-1' }] },
    seed: 12345,
    steps: 100,
    startsAt: 1,
    exchangeEndsAt: 2,
    reportEndsAt: 3,
    serverTime: 1,
  },
  { type: 'committed', run: 3, round: 2, modelHash: h32, updateBytes: 1800, updateHash: h32, accepted: 2, serverTime: 1 },
  { type: 'ack', nonce: '7', state: 'pending', reason: null },
  { type: 'error', code: 'STALE_ROUND', message: 'report is for round 1', ref: '7' },
  { type: 'account', summary: account },
  { type: 'dashboard', state: dashboard },
  { type: 'verify', run: 3, round: 2, frameHash: h32, needs: { before: false, after: true, leaves: [3, 17] }, deadline: 5, serverTime: 1 },
];

/** Every leaf of a JSON value with its keypath under `root`. */
function leaves(v: unknown, path: string): [string, (string | number)[]][] {
  const walk = (x: unknown, p: string, keys: (string | number)[]): [string, (string | number)[]][] => {
    if (Array.isArray(x)) return x.flatMap((y, i) => walk(y, `${p}[${i}]`, [...keys, i]));
    if (typeof x === 'object' && x !== null) return Object.entries(x).flatMap(([k, y]) => walk(y, `${p}.${k}`, [...keys, k]));
    return [[p, keys]];
  };
  return walk(v, path, []);
}

/** A value of the wrong kind for this leaf. */
const wrong = (x: unknown): unknown =>
  typeof x === 'string' ? 12345 : typeof x === 'number' ? 'twelve' : typeof x === 'boolean' ? 'yes' : { unexpected: true };

function withLeaf(v: unknown, keys: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(v) as Record<string | number, unknown>;
  let at = copy;
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
  at[keys[keys.length - 1]] = value;
  return copy;
}

function refusedNaming(parse: () => unknown, path: string): void {
  // The run spec's settings are range-checked by validateRunSettings, which names the setting (an array by its name).
  const named = [path, path.replace(/\[\d+\]$/, '')];
  assert.throws(
    parse,
    (e: unknown) => e instanceof IdlegradError && e.code === 'BAD_MESSAGE' && named.some((p) => e.shortMessage.includes(`${p}:`)),
    `${path} must be refused by name`,
  );
}

test('every HTTP reply parses, and any one field of the wrong kind is refused naming its keypath', () => {
  let refused = 0;
  for (const [name, parse, value] of REPLIES) {
    assert.deepEqual(parse(structuredClone(value), 'reply'), value, `${name} parses to itself`);
    for (const [path, keys] of leaves(value, 'reply')) {
      refusedNaming(
        () => parse(withLeaf(value, keys, wrong(keys.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], value))), 'reply'),
        path,
      );
      refused++;
    }
  }
  console.log(`http replies: ${refused} one-field faults refused by keypath`);
});

test('every server message parses, and any one field of the wrong kind is refused naming <type>.<keypath>', () => {
  for (const m of MESSAGES) {
    const type = (m as { type: string }).type;
    assert.deepEqual(parseServerMessage(structuredClone(m)), m);
    for (const [path, keys] of leaves(m, type)) {
      if (keys.length === 1 && keys[0] === 'type') continue;
      refusedNaming(() => parseServerMessage(withLeaf(m, keys, wrong(keys.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], m)))), path);
    }
  }
  assert.throws(() => parseServerMessage({ type: 'nope' }), /message\.type: expected one of challenge, welcome/);
  assert.throws(() => parseServerMessage([]), /message: expected an object/);
});

test("a run spec whose table is not its model's, or whose settings are out of range, is refused by name", () => {
  refusedNaming(() => parseRunInfo({ run: { ...run, paramCount: run.paramCount + 1 }, round: 0, modelHash: h32, chain }, 'reply'), 'reply.run.paramTableHash');
  refusedNaming(
    () => parseRunInfo({ run: { ...run, codec: { ...run.codec, density: 2 } }, round: 0, modelHash: h32, chain }, 'reply'),
    'reply.run.codec.density',
  );
  refusedNaming(() => parseRunInfo({ run: { ...run, inner: undefined }, round: 0, modelHash: h32, chain }, 'reply'), 'reply.run.inner');
  // Optional fields may be absent; a rejection code outside the table is refused.
  const { claimable: _c, wallet: _w, byDevice: _b, ...bare } = account;
  assert.deepEqual(
    parseAccountSummary({ ...bare, recent: [{ round: 1, state: 'pending', code: null, reason: null, samples: 1, epoch: null }] }, 'reply').recent[0].code,
    null,
  );
  refusedNaming(() => parseAccountSummary({ ...account, recent: [{ ...account.recent[0], code: 'LEFT OUT' }] }, 'reply'), 'reply.recent[0].code');
  refusedNaming(() => parseAccountSummary({ ...account, contributions: { ...states, lost: 1 } }, 'reply'), 'reply.contributions.lost');
});
