// What the in-process round-engine tests share (engine.test.ts, engine-deadline.test.ts, combine-record.test.ts): a fixed
// clock start, an MLP run spec on a tiny MNIST-shaped dataset, an 8-sample held-out set, the
// EIP-712 domain reports are signed for, and a fresh in-memory ledger holding the run at θ_0.
import { DEFAULT_RUN, maxSamplesPerReport, modelOf, runSpecOf, type RunSettings, type RunSpec } from '../../shared/config.ts';
import { initParams } from '../../shared/model.ts';
import { runModelHash } from '../../shared/model-hash.ts';
import type { Address, Hex, LocalAccount } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { decodeFrame } from '../../shared/codec.ts';
import { eip712Domain } from '../../shared/eip712.ts';
import { SessionKeyHolder } from '../../shared/session-key.ts';
import { framesRoot } from '../../shared/aggregate.ts';
import { buildContribution, encodeOwnUpdate, peerUpdateLimits } from '../../shared/round.ts';
import { contributionToJson, type RoundSummary } from '../../shared/wire/index.ts';
import type { Dataset } from '../../shared/mlp.ts';
import { openDatabase, Ledger } from '../db/index.ts';
import { RoundEngine, type EngineEvents, type Session } from './engine.ts';

export const NOW = 1_800_000_000_000;

/** Run 1 over DEFAULT_RUN with `settings`; a long training window, 100 ms exchange and report phases unless `settings` says otherwise. */
export function engineTestRun(settings: Partial<RunSettings>): RunSpec {
  return runSpecOf(
    1,
    // No codec warm-up: round0Frames' pseudo-gradients are one wave shifted by i·phase, and at the
    // warm-up's 30 % their frames' cosines reach cos(2·phase) (−0.84 at phase 5), which the
    // in-cohort vote rightly drops as opposed; at 3 % the frames barely overlap.
    { ...DEFAULT_RUN, codec: { ...DEFAULT_RUN.codec, warmup: undefined }, timing: { trainMs: 600_000, exchangeMs: 100, reportMs: 100 }, ...settings },
    { name: 'mnist', trainCount: 100, testCount: 8, features: 784, classes: 10 },
  );
}

export const heldOut: Dataset = {
  images: new Uint8Array(8 * 784).map((_, i) => (i * 37) % 256),
  labels: new Uint8Array(8).map((_, i) => i % 10),
  count: 8,
  features: 784,
  classes: 10,
};

export const domain = eip712Domain(31337, '0x0000000000000000000000000000000000000d15');

/** An in-memory PGlite ledger (and its database, to close) with `run` created at its seed's θ_0 (returned with it). */
export async function ledgerAtTheta0(run: RunSpec) {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  const params = initParams(modelOf(run), run.seed);
  const theta0 = { round: 0, modelHash: await runModelHash(run, params), params, momentum: new Float32Array(params.length) };
  await ledger.createRun(run, theta0);
  return { sql, ledger, params, theta0 };
}

/** Each device key's session key (shared/session-key.ts), as its page would keep it. */
const holders = new WeakMap<object, SessionKeyHolder>();
const holderOf = (key: FixtureKey, run: RunSpec) => {
  let h = holders.get(key);
  if (!h) holders.set(key, (h = new SessionKeyHolder((typed) => key.signTypedData(typed))));
  return { holder: h, grant: () => h.grant(domain, run.id, key.address.toLowerCase() as Address, 'fixture', Math.floor(NOW / 1000)) };
};
type FixtureKey = Pick<LocalAccount, 'signTypedData' | 'address'>;

/** `session`'s session key certified by `key` as a hello certifies it (engine.certifySession; the ledger keeps the certificate), once. */
export async function certify(engine: RoundEngine, run: RunSpec, session: Session, key: FixtureKey): Promise<void> {
  session.sessionKey ??= await engine.certifySession(session.address, 'fixture', await holderOf(key, run).grant());
}

/** reportRound0's message, signed by `key`'s session key: to hand to the engine later, at a chosen moment (after certify). */
export async function signedReport0(
  run: RunSpec,
  key: FixtureKey,
  r: { cohort: number; own: { hash: Hex }; agg: { aggregateHash: Hex; hashes: Hex[] }; samples: number; nonce: bigint },
) {
  const c = buildContribution({
    run: run.id,
    round: 0,
    cohort: r.cohort,
    frameHash: r.own.hash,
    aggregateHash: r.agg.aggregateHash,
    framesRoot: framesRoot(r.agg.hashes),
    residualHash: `0x${'00'.repeat(32)}`,
    samples: r.samples,
    steps: r.samples / run.inner.batchSize,
    lossBefore: 2.3,
    lossAfter: 2.1,
    computeMs: 100,
    nowMs: NOW,
    nonce: r.nonce,
  });
  const { holder, grant } = holderOf(key, run);
  if (!holder.certificate) await grant();
  const signature = await holder.signReport(domain, c);
  return { type: 'report' as const, contribution: contributionToJson(c), signature, frameHashes: r.agg.hashes };
}

/**
 * `key` signs and `session` sends round 0's report of `samples` samples for its frame `own` in
 * cohort `cohort`, naming the aggregate `agg` (its hash and frame hashes); the engine's answer.
 */
export async function reportRound0(
  engine: RoundEngine,
  run: RunSpec,
  session: Session,
  key: FixtureKey,
  r: { cohort: number; own: { hash: Hex }; agg: { aggregateHash: Hex; hashes: Hex[] }; samples: number; nonce: bigint },
) {
  await certify(engine, run, session, key);
  return engine.handleReport(session, await signedReport0(run, key, r));
}

/**
 * A RoundEngine over `ledger` at a copy of θ_0 (the test keeps its own), with the fixture's
 * held-out set and EIP-712 domain.
 */
export function engineAtTheta0(
  run: RunSpec,
  { ledger, theta0 }: { ledger: Ledger; theta0: Awaited<ReturnType<typeof ledgerAtTheta0>>['theta0'] },
  events: EngineEvents,
  clock: () => number,
  inFlightWaitMs?: number,
): RoundEngine {
  const theta = { ...theta0, params: theta0.params.slice(), momentum: theta0.momentum.slice() };
  return new RoundEngine(run, theta, ledger, heldOut, domain, events, clock, inFlightWaitMs);
}

/**
 * Round 0's frame of each of `addresses` (a deterministic pseudo-gradient, sin(i·phase + j)·10⁻³,
 * at the most samples a report may claim), encoded and decoded as a cohort member holds them.
 */
export function round0Frames(run: RunSpec, addresses: readonly Address[], phase: number) {
  const samples = Math.min(maxSamplesPerReport(run), run.inner.steps * run.inner.batchSize);
  const own = addresses.map((_, i) =>
    encodeOwnUpdate(
      run,
      0,
      new Float32Array(run.paramCount).map((_, j) => Math.sin(i * phase + j) * 1e-3),
      samples,
    ),
  );
  const held = own.map((u, i) => ({ address: addresses[i], hash: u.hash, frame: decodeFrame(u.bytes, peerUpdateLimits(run, 0)) }));
  return { samples, own, held };
}

/**
 * A RoundEngine at θ_0 over a fresh in-memory ledger with `members` sessions of fresh keys, each
 * added and ready (so round 0 opens once minVolunteers are), stopped and closed after the test.
 * `clock.now` is its clock (NOW at first); `summary` resolves with its first committed round.
 */
export async function readyEngine(run: RunSpec, members: number, t: { after(fn: () => Promise<void>): void }) {
  const { sql, ledger, theta0 } = await ledgerAtTheta0(run);
  let committed!: (s: RoundSummary) => void;
  const summary = new Promise<RoundSummary>((r) => (committed = r));
  const clock = { now: NOW };
  const engine = engineAtTheta0(run, { ledger, theta0 }, { committed: (s) => committed(s), accountsChanged: () => {} }, () => clock.now);
  t.after(async () => {
    engine.stop();
    await sql.close();
  });
  const keys = Array.from({ length: members }, () => privateKeyToAccount(generatePrivateKey()));
  const sessions: Session[] = keys.map((k, i) => ({ id: i, address: k.address.toLowerCase() as Address, peerId: `peer-${i}`, ready: false, send: () => {} }));
  for (const s of sessions) engine.addSession(s);
  for (const s of sessions) engine.setReady(s.id, true);
  return { ledger, theta0, engine, keys, sessions, summary, clock };
}
