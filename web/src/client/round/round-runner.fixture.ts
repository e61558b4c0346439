// The round runner's test fixture (round-runner.test.ts): in-memory peer links, a relay that
// plays the coordinator's part, a manual scheduler, a fake trainer, and pages built on them.
import assert from 'node:assert/strict';
import { privateKeyToAccount } from 'viem/accounts';
import type { Address, Hex } from 'viem';
import { decodeFrame, hashFrame, toDense } from '../../../../shared/codec.ts';
import { DEFAULT_RUN, runSpecOf, type RunSpec } from '../../../../shared/config.ts';
import { eip712Domain } from '../../../../shared/eip712.ts';
import { contributionSigningBytes, SessionKeyHolder, verifyEd25519, type SessionCertificateJson } from '../../../../shared/session-key.ts';
import { framesRoot } from '../../../../shared/aggregate.ts';
import { cohortAggregateOfBytes, compressUpdate, peerUpdateLimits, pseudoGradient } from '../../../../shared/round.ts';
import { contributionFromJson, decodeEvidence, residualCommitment, type ChainInfo, type ServerMessage } from '../../../../shared/wire/index.ts';
import { TrainingAbortedError } from '../../../../kernels/errors.ts';
import type { CohortExchange } from '../p2p/exchange.ts';
import { initialSnapshot, SnapshotStore } from '../snapshot.ts';
import { DEFAULT_GOVERNANCE } from '../governance.ts';
import { MemoryStorage, type OutboxRecord } from '../storage.ts';
import { FakeNetwork, ManualScheduler, settle, until, verifyMessageSync } from '../testing.ts';
import type { AggregateArgs, TrainArgs, TrainResult } from '../trainer.ts';
import { Outbox } from '../outbox.ts';
import { EVIDENCE_ROUNDS_KEPT, RoundRunner, type RoundMessage } from './round-runner.ts';
import type { RelayMessage } from './agreement.ts';

/**
 * The coordinator's part in the agreement (RoundEngine.handleRelay / handleAnnounce): a relay is
 * forwarded to the named members, the first announcement per round to the others. Counts both.
 */
export class FakeRelay {
  readonly runners = new Map<Address, RoundRunner>();
  readonly relays: { from: Address; to: Address[] }[] = [];
  readonly announcements: { from: Address; aggregateHash: Hex }[] = [];
  /** Members the coordinator cannot reach either (no path at all). */
  readonly offline = new Set<Address>();

  send(from: Address, m: RelayMessage): boolean {
    if (this.offline.has(from)) return false;
    const deliver = (to: Address, msg: Extract<ServerMessage, { type: 'relayed-frame' | 'announced' }>) =>
      setImmediate(() => !this.offline.has(to) && this.runners.get(to)?.receive(msg));
    if (m.type === 'relay') {
      this.relays.push({ from, to: m.to });
      for (const to of m.to) deliver(to, { type: 'relayed-frame', round: m.round, cohort: 5, from, frame: m.frame });
    } else if (this.announcedRound !== m.round) {
      this.announcedRound = m.round;
      this.announcements.push({ from, aggregateHash: m.aggregateHash });
      for (const to of this.runners.keys())
        if (to !== from) deliver(to, { type: 'announced', round: m.round, cohort: 5, from, aggregateHash: m.aggregateHash, frameHashes: m.frameHashes });
    }
    return true;
  }
  private announcedRound = -1;
}

/** Moves the manual clock in steps until `done` settles (the agreement waits on server-time deadlines). */
export async function finish<T>(sched: ManualScheduler, done: Promise<T>, stepMs = 250, maxMs = 60_000): Promise<T> {
  let settled = false;
  void done.then(() => (settled = true));
  for (let t = 0; t < maxMs && !settled; t += stepMs) await sched.advance(stepMs);
  assert.ok(settled, `the round did not settle within ${maxMs} ms of server time`);
  return done;
}

const fixtureRun = (state: 'round' | 'kept'): RunSpec =>
  runSpecOf(
    7,
    { ...DEFAULT_RUN, inner: { ...DEFAULT_RUN.inner, state }, sizes: [40, 30, 10], codec: { density: 0.25, bits: 8, chunkSize: 256 } },
    { name: 'mnist', trainCount: 100, testCount: 10, features: 40, classes: 10 },
  );
/** The pages' run: each round's AdamW restarts from zero moments (inner.state 'round', the default). */
export const run: RunSpec = fixtureRun('round');
/** The same run with the inner AdamW state kept across rounds (inner.state 'kept'). */
export const keptRun: RunSpec = fixtureRun('kept');
export const chain: ChainInfo = {
  chainId: 31337,
  distributor: '0x00000000000000000000000000000000000000d1',
  token: '0x00000000000000000000000000000000000000d2',
  rpcUrl: '/rpc',
};
export const KEYS: Hex[] = [1, 2, 3, 4].map((i) => `0x${i.toString(16).padStart(64, '0')}` as Hex);
export const theta = Float32Array.from({ length: run.paramCount }, (_, i) => Math.cos(i) * 0.1);

/**
 * The fake trainer's θ_local for a page's `call`-th round: a direction every page shares plus the
 * page's own, as honest pages' pseudo-gradients agree in part (so the in-cohort vote,
 * shared/round.ts cohortAggregator, keeps every frame).
 */
export const fakeLocal = (params: Float32Array, page: number, call: number): Float32Array =>
  params.map((p, i) => p - 0.01 * (Math.sin(i) + Math.sin(page * 97 + call * 13 + i)));

/** A trainer that moves θ by a per-page, per-round step; `gate` holds a round until the test lets go. */
export function fakeTrainer(page: number) {
  let calls = 0;
  let aborter: ((e: Error) => void) | null = null;
  return {
    gate: null as Promise<void> | null,
    /** Multiplies the page's pseudo-gradient (−4: a sign-flipped outlier the in-cohort vote refuses). */
    scale: 1,
    calls: () => calls,
    abort() {
      aborter?.(new TrainingAbortedError('stopped', { stepsDone: 1, idleAt: 0 }));
    },
    aggregate: async (a: AggregateArgs) => cohortAggregateOfBytes(a.run, a.round, a.own, a.received),
    async train(args: TrainArgs): Promise<TrainResult> {
      calls++;
      const local = fakeLocal(args.params, page, calls);
      const params = this.scale === 1 ? local : args.params.map((p, i) => p + this.scale * (local[i] - p));
      if (this.gate) await Promise.race([this.gate, new Promise<never>((_, reject) => (aborter = reject))]);
      // What the worker does after training (web/worker/trainer.worker.ts compress()).
      const own = compressUpdate(args.update, pseudoGradient(args.params, params, args.residual), args.batches.length);
      // A run that keeps the inner state (run setting inner.state 'kept'): a state that moves each round, handed back with the one given.
      const st = args.state;
      const state = st && {
        state: {
          before: st,
          after: { m: st.m.map((x, i) => 0.9 * x + 1e-3 * Math.sin(i + page)), v: st.v.map((x) => 0.999 * x + 1e-6), t: st.t + args.steps },
        },
      };
      return {
        ...state,
        frame: own.bytes,
        frameHash: own.hash,
        residual: own.residual,
        residualBefore: args.residual,
        losses: { before: 2.3, after: 2.1 - 0.01 * page, mean: 2.2 - 0.01 * page },
        steps: args.steps,
        samples: args.steps * run.inner.batchSize,
        gpuMs: 5,
        device: 'gpu',
        busyMs: 5,
        wallMs: 6,
      };
    },
  };
}

/** One coordinator relay per fake network: the pages of a test share it. */
export const relays = new WeakMap<FakeNetwork, FakeRelay>();
export const relayOf = (net: FakeNetwork) => relays.get(net) ?? (relays.set(net, new FakeRelay()), relays.get(net)!);

export function page(i: number, net: FakeNetwork, sched: ManualScheduler, relay = relayOf(net), partner: string | null = null) {
  const account = privateKeyToAccount(KEYS[i]);
  const peerId = `ig-${'abcdef'[i]}000000000000000`;
  const store = new SnapshotStore(initialSnapshot({ storage: { persistent: false, reason: null }, partner: null, governance: DEFAULT_GOVERNANCE }));
  const storage = new MemoryStorage();
  const trainer = fakeTrainer(i);
  const reports: OutboxRecord[] = [];
  const uploads: Uint8Array[] = [];
  const evidence: Uint8Array[] = [];
  let lending = true;
  let aggregateRefused = false;
  let socketUp = true;
  let current: CohortExchange | null = null;
  net.register(peerId, (link) => current?.accept(link));
  // The session key a hello would have certified (shared/session-key.ts).
  const sessionKeys = new SessionKeyHolder((typed) => account.signTypedData(typed));
  const granted = sessionKeys
    .grant(eip712Domain(chain.chainId, chain.distributor), 1, account.address, 'fixture', Math.floor(Date.now() / 1000))
    .then(() => void certified.push({ ...sessionKeys.certificate!, device: account.address.toLowerCase() as Address }));
  const runner = new RoundRunner({
    store,
    account: () => account,
    peerId: () => peerId,
    trainer: () => trainer,
    chain: () => chain,
    syncModel: async () => theta.slice(),
    prepared: async () => undefined,
    lending: () => lending,
    scheduler: sched,
    dial: (to) => net.dial(peerId, to),
    route: (ex) => (current = ex),
    api: {
      postAggregate: async (_run, _round, bytes) => {
        if (aggregateRefused) throw new Error('HTTP 409: refused');
        uploads.push(bytes);
        return { aggregateHash: hashFrame(bytes) };
      },
      postEvidence: async (_run, _round, _address, body) => (evidence.push(body), { ok: true as const }),
    },
    storage,
    report: async (rec) => (reports.push(rec), socketUp),
    signReport: async (domain, c) => (await granted, sessionKeys.signReport(domain, c)),
    device: () => 'webgpu',
    partner,
    now: () => sched.now(),
    peerTimeouts: { handshakeMs: 2_000, idleMs: 1_000, redialMs: 500, maxDials: 2 },
    verifySignature: verifyMessageSync,
    send: (m) => relay.send(account.address.toLowerCase() as Address, m),
  });
  relay.runners.set(account.address.toLowerCase() as Address, runner);
  return {
    i,
    account,
    peerId,
    store,
    storage,
    trainer,
    reports,
    uploads,
    evidence,
    runner,
    sessionKeys,
    address: account.address.toLowerCase() as Address,
    stop: () => (lending = false),
    refuseAggregates: () => (aggregateRefused = true),
    dropSocket: () => (socketUp = false),
    logs: () =>
      store
        .get()
        .log.map((l) => l.text)
        .join('\n'),
  };
}

export function roundFor(pages: { address: Address; peerId: string }[], sched: ManualScheduler, round: number): RoundMessage {
  const t = sched.now();
  return {
    type: 'round',
    run: run.id,
    round,
    modelHash: `0x${'ab'.repeat(32)}`,
    seed: 42 + round,
    steps: 3,
    cohort: { id: 5, members: pages.map((p) => ({ address: p.address, peerId: p.peerId })) },
    startsAt: t,
    exchangeEndsAt: t + 10_000,
    reportEndsAt: t + 20_000,
    serverTime: t,
  };
}

/** Every session certificate the fixture's pages were granted, with the device that signed it. */
const certified: { certificate: SessionCertificateJson; digest: Hex; device: Address }[] = [];

/** The device whose certified session key signed the report (as the coordinator and the audit check it); throws when none did. */
export async function signer(rec: OutboxRecord): Promise<Address> {
  const c = contributionFromJson(rec.report.contribution);
  const domain = eip712Domain(chain.chainId, chain.distributor);
  for (const k of certified)
    if (await verifyEd25519(k.certificate.sessionKey, rec.report.signature, contributionSigningBytes(domain, k.digest, c))) return k.device;
  throw new Error(`report ${rec.nonce} is signed by no certified session key`);
}

/** Three pages in cohort 5 run round 3 to the end. */
export async function cohortOfThree() {
  const sched = new ManualScheduler();
  const net = new FakeNetwork();
  // Page 0 runs in a partner's widget: the partner is inside what it signs.
  const pages = [0, 1, 2].map((i) => page(i, net, sched, undefined, i === 0 ? 'blog' : null));
  const m = roundFor(pages, sched, 3);
  const done = Promise.all(pages.map((p) => p.runner.begin(m, run)));
  await sched.advance(100);
  await done;
  return { pages, m };
}
