// One worker thread of `npm run load` (e2e/load.ts): protocol clients without compute.
// It holds the WebSocket sessions of whole cohorts (hello signed by each device key),
// encodes each cohort's aggregate once with the real codec (e2e/scale-inputs.ts: ≈ 1 − (1 − ρ)^k
// of the parameters at fp32, a shared direction plus noise) and each relay member's own frame
// (ρ), re-stamped per round, signs every report it will send before the measured window, and then, for each
// `round` message, uploads its cohorts' aggregate frames (and relay members their own) and
// sends the pre-signed reports at a paced rate, timing each from send to the coordinator's
// ack, and each round from its last acked input to the `committed` notice.
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';
import { signRecoverable } from 'tiny-secp256k1';
import { bytesToHex, hashMessage, hexToBytes, type Address, type Hex } from 'viem';
import { encodeAggregate } from '../shared/codec.ts';
import { framesRoot } from '../shared/aggregate.ts';
import { eip712Domain } from '../shared/eip712.ts';
import { contributionToJson, helloMessage, parseServerMessage, PROTOCOL_VERSION, type ChainInfo } from '../shared/wire/index.ts';
import type { RunSpec } from '../shared/config.ts';
import { fastFrameHash, frameForRound, keptIn, relayMembersOf, sparseUpdates, syntheticContribution, syntheticFrameHash } from './scale-inputs.ts';
import { ContributionSigners } from '../coordinator/round/index.ts';
import { NodeSessionKey } from './node-session-key.ts';

export interface ClientPlan {
  url: string;
  run: RunSpec;
  chain: ChainInfo;
  /** First round to pre-sign and how many. */
  firstRound: number;
  rounds: number;
  /** Reports per second this worker offers. */
  rate: number;
  cohorts: { id: number; members: { key: Hex; address: Address }[] }[];
  /** Share of members in relay mode: each uploads and reports its own frame as its aggregate. */
  relayShare: number;
}

/** Per round, what this worker saw: its last acked input (report or upload) and the committed notice, epoch ms. */
export interface RoundTiming {
  round: number;
  reportEndsAt: number;
  lastInputAt: number;
  committedAt: number;
}

/** Worker → main messages. */
export type ClientReport =
  | { kind: 'ready'; sessions: number; presigned: number; aggregateDensity: number; aggregateBytes: number }
  /** While building aggregates, pre-signing and connecting (minutes on a loaded machine): how far it got. */
  | { kind: 'progress'; step: 'aggregates' | 'signed' | 'connected'; done: number; total: number }
  | { kind: 'acks'; samples: number[]; errors: Record<string, number>; firstError?: string; open: number; exhausted: number; rounds: RoundTiming[] }
  | { kind: 'closed' };

const plan = workerData as ClientPlan;
const port = parentPort!;
const sign = (hash: Uint8Array, key: Uint8Array): Hex => {
  const { signature, recoveryId } = signRecoverable(hash, key);
  return bytesToHex(new Uint8Array([...signature, 27 + recoveryId]));
};

interface Client {
  key: Uint8Array;
  address: Address;
  cohort: number;
  uploader: boolean;
  relay: boolean;
  ws: WebSocket;
  welcomed: boolean;
}
const clients: Client[] = [];
const byRound = new Map<number, Map<Address, { text: string; nonce: string }>>();
const sentAt = new Map<string, number>();
const queue: { text: string; nonce: string }[] = [];
let samples: number[] = [];
const errors: Record<string, number> = {};
let firstError: string | undefined;
let exhausted = 0;

/** The epoch-ms clock of this thread (the coordinator's Date.now on the same machine). */
const epochNow = () => performance.timeOrigin + performance.now();
const timings = new Map<number, RoundTiming>();
const timing = (round: number) =>
  timings.get(round) ?? (timings.set(round, { round, reportEndsAt: NaN, lastInputAt: 0, committedAt: NaN }), timings.get(round)!);
const reported = new Set<number>(); // rounds whose timing went to the main thread
const inputAcked = (round: number) => {
  if (reported.has(round)) return;
  const t = timing(round);
  t.lastInputAt = Math.max(t.lastInputAt, epochNow());
};

/**
 * Each cohort's aggregate frame and each relay member's own, encoded once (e2e/scale-inputs.ts:
 * a shared direction plus noise at 1 − (1 − ρ)^k and ρ of the parameters, fp32) for the first
 * round and re-stamped per round: only the header's round differs between rounds.
 */
function baseFrames(run: RunSpec, samplesPer: number): { cohorts: Map<number, Uint8Array>; relays: Map<Address, Uint8Array> } {
  const sparse = sparseUpdates(run, 1000 + (plan.cohorts[0]?.id ?? 0));
  const header = (samples: number) => ({ paramTableHash: run.paramTableHash, run: run.id, round: plan.firstRound, samples });
  const cohorts = new Map<number, Uint8Array>();
  const relays = new Map<Address, Uint8Array>();
  let told = performance.now();
  for (const cohort of plan.cohorts) {
    if (performance.now() - told > 5000) {
      told = performance.now();
      port.postMessage({ kind: 'progress', step: 'aggregates', done: cohorts.size, total: plan.cohorts.length } satisfies ClientReport);
    }
    const together = cohort.members.filter((m) => !relayMembers.has(m.address));
    cohorts.set(
      cohort.id,
      encodeAggregate(sparse(1 - (1 - run.codec.density) ** together.length).dense, run.codec.chunkSize, header(samplesPer * together.length)),
    );
    for (const m of cohort.members)
      if (relayMembers.has(m.address)) relays.set(m.address, encodeAggregate(sparse(run.codec.density).dense, run.codec.chunkSize, header(samplesPer)));
  }
  return { cohorts, relays };
}

/** Members in relay mode (e2e/scale-inputs.ts relayMembersOf). */
const relayMembers = new Set<Address>(plan.cohorts.flatMap((c) => relayMembersOf(c.members, plan.relayShare)));
let aggregateDensity = 0;
let aggregateBytes = 0;
let frames: ReturnType<typeof baseFrames>;

/** Each member's session key (shared/session-key.ts), made before its reports are pre-signed and certified at its hello. */
const sessionKeys = new Map<Address, NodeSessionKey>();

function presign(): number {
  const domain = eip712Domain(plan.chain.chainId, plan.chain.distributor);
  const signers = new ContributionSigners(domain);
  const { run } = plan;
  const samplesPer = run.inner.steps * run.inner.batchSize;
  const expiry = BigInt(Math.floor(Date.now() / 1000) + 3 * 3600);
  for (const cohort of plan.cohorts)
    for (const m of cohort.members)
      sessionKeys.set(m.address, new NodeSessionKey(domain, run.id, m.address, (d) => sign(d, hexToBytes(m.key)), Number(expiry)));
  frames = baseFrames(run, samplesPer);
  port.postMessage({ kind: 'progress', step: 'aggregates', done: frames.cohorts.size, total: plan.cohorts.length } satisfies ClientReport);
  const total = plan.rounds * plan.cohorts.reduce((s, c) => s + c.members.length, 0);
  let told = performance.now();
  aggregateDensity = [...frames.cohorts.values()].reduce((n, b) => n + keptIn(b), 0) / Math.max(1, frames.cohorts.size) / run.paramCount;
  aggregateBytes = Math.max(0, ...[...frames.cohorts.values()].map((b) => b.byteLength));
  let n = 0;
  for (let round = plan.firstRound; round < plan.firstRound + plan.rounds; round++) {
    const reports = new Map<Address, { text: string; nonce: string }>();
    for (const cohort of plan.cohorts) {
      const together = cohort.members.filter((m) => !relayMembers.has(m.address));
      const frameHashes = together.map((m) => syntheticFrameHash(m.address, round)).sort();
      const shared = { aggregateHash: fastFrameHash(frameForRound(frames.cohorts.get(cohort.id)!, round)), framesRoot: framesRoot(frameHashes), frameHashes };
      for (const m of cohort.members) {
        const nonce = BigInt(round) * 1_000_000n + BigInt(n % 1_000_000);
        const frameHash = syntheticFrameHash(m.address, round);
        const own = relayMembers.has(m.address)
          ? { aggregateHash: fastFrameHash(frameForRound(frames.relays.get(m.address)!, round)), framesRoot: framesRoot([frameHash]), frameHashes: [frameHash] }
          : shared;
        const c = syntheticContribution(run, { round, cohort: cohort.id, address: m.address, frameHash, ...own, samples: samplesPer, nonce, expiry });
        const signature = sessionKeys.get(m.address)!.signReport(signers.digest(c));
        reports.set(m.address, {
          text: JSON.stringify({ type: 'report', contribution: contributionToJson(c), signature, frameHashes: own.frameHashes }),
          nonce: nonce.toString(),
        });
        n++;
      }
    }
    byRound.set(round, reports);
    if (performance.now() - told > 5000) {
      told = performance.now();
      port.postMessage({ kind: 'progress', step: 'signed', done: n, total } satisfies ClientReport);
    }
  }
  return n;
}

function connect(key: Hex, address: Address, cohort: number, uploader: boolean, relay: boolean): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(plan.url.replace(/^http/, 'ws').replace(/\/$/, '') + '/ws');
    const c: Client = { key: hexToBytes(key), address, cohort, uploader, relay, ws, welcomed: false };
    const peerId = `load-${address.slice(2, 14)}`;
    ws.on('message', (d) => {
      const text = d.toString();
      // Acks and rounds are the hot path: look at the tag before parsing the rest.
      if (text.startsWith('{"type":"ack"')) {
        const ack = parseServerMessage(JSON.parse(text));
        if (ack.type !== 'ack') throw new Error(`${address}: a message tagged ack is a ${ack.type}`);
        const { nonce } = ack;
        const t = sentAt.get(nonce);
        if (t !== undefined) {
          sentAt.delete(nonce);
          inputAcked(Number(BigInt(nonce) / 1_000_000n));
          const now = performance.now();
          samples.push(performance.timeOrigin + now, now - t);
        }
        return;
      }
      // Account summaries are not used here: not parsed (client CPU shares the machine).
      if (text.startsWith('{"type":"account"')) return;
      if (text.startsWith('{"type":"committed"')) {
        const round = Number(/"round":(\d+)/.exec(text)?.[1]);
        if (reported.has(round)) return;
        const t = timing(round);
        if (Number.isNaN(t.committedAt)) t.committedAt = epochNow();
        return;
      }
      const m = parseServerMessage(JSON.parse(text));
      if (m.type === 'challenge') {
        ws.send(
          JSON.stringify({
            type: 'hello',
            protocol: PROTOCOL_VERSION,
            address,
            peerId,
            signature: sign(hexToBytes(hashMessage(helloMessage(m.challenge, peerId))), c.key),
            adapter: null,
            gflops: null,
            session: sessionKeys.get(address)!.grant(m.challenge),
          }),
        );
      } else if (m.type === 'welcome') {
        c.welcomed = true;
        resolve(c);
      } else if (m.type === 'round') {
        timing(m.round).reportEndsAt = m.reportEndsAt;
        onRound(c, m.round);
      } else if (m.type === 'error') {
        const k = `${m.code}`;
        errors[k] = (errors[k] ?? 0) + 1;
        firstError ??= `${m.code}: ${m.message}`;
        if (!c.welcomed) reject(new Error(`${address}: ${m.code} ${m.message}`));
      }
    });
    ws.on('error', reject);
    ws.on('close', () => (c.welcomed = false));
  });
}

function onRound(c: Client, round: number): void {
  const r = byRound.get(round)?.get(c.address);
  if (!r) {
    exhausted++;
    return;
  }
  if (c.uploader || c.relay) {
    const bytes = frameForRound(c.relay ? frames.relays.get(c.address)! : frames.cohorts.get(c.cohort)!, round);
    void fetch(new URL(`api/runs/${plan.run.id}/rounds/${round}/aggregate`, plan.url), {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes as unknown as BodyInit,
    })
      .then(async (res) => {
        if (res.status !== 200) {
          errors[`upload ${res.status}`] = (errors[`upload ${res.status}`] ?? 0) + 1;
          firstError ??= `aggregate upload: ${await res.text()}`;
        } else {
          await res.arrayBuffer();
          inputAcked(round);
        }
      })
      .catch((e) => (firstError ??= `aggregate upload: ${(e as Error).message}`));
  }
  queue.push(r);
  byRound.get(round)!.delete(c.address);
  owner.set(r.nonce, c);
}
const owner = new Map<string, Client>();

// Paced sending: `rate` reports a second from the queue, in arrival order.
let credit = 0;
let last = performance.now();
function pace(): void {
  const now = performance.now();
  credit = Math.min(credit + ((now - last) / 1000) * plan.rate, Math.max(1, plan.rate / 20));
  last = now;
  while (credit >= 1 && queue.length > 0) {
    const r = queue.shift()!;
    const c = owner.get(r.nonce)!;
    owner.delete(r.nonce);
    if (c.ws.readyState !== WebSocket.OPEN) continue;
    sentAt.set(r.nonce, performance.now());
    c.ws.send(r.text);
    credit--;
  }
}

port.on('message', async (m: { kind: 'go' } | { kind: 'close' }) => {
  if (m.kind === 'go') {
    for (const c of clients) c.ws.send('{"type":"start"}');
    setInterval(pace, 5);
    setInterval(() => {
      const done = [...timings.values()].filter((t) => !Number.isNaN(t.committedAt));
      for (const t of done) (timings.delete(t.round), reported.add(t.round));
      port.postMessage({
        kind: 'acks',
        samples,
        errors: { ...errors },
        firstError,
        open: clients.filter((c) => c.welcomed && c.ws.readyState === WebSocket.OPEN).length,
        exhausted,
        rounds: done,
      } satisfies ClientReport);
      samples = [];
    }, 1000);
  } else {
    for (const c of clients) c.ws.terminate();
    port.postMessage({ kind: 'closed' } satisfies ClientReport);
  }
});

// Pre-sign everything this worker will send, then connect (a few dozen hellos at a time). In
// that order: signing blocks this thread for minutes on a loaded machine, and sockets already
// open would miss the coordinator's pings meanwhile and be closed (0 sessions held, 0 acks).
const presigned = presign();
const members = plan.cohorts.flatMap((co) => {
  const firstTogether = co.members.find((m) => !relayMembers.has(m.address));
  return co.members.map((m) => ({ ...m, cohort: co.id, uploader: m === firstTogether, relay: relayMembers.has(m.address) }));
});
for (let i = 0; i < members.length; i += 50) {
  clients.push(...(await Promise.all(members.slice(i, i + 50).map((m) => connect(m.key, m.address, m.cohort, m.uploader, m.relay)))));
  if (clients.length % 1000 < 50) port.postMessage({ kind: 'progress', step: 'connected', done: clients.length, total: members.length } satisfies ClientReport);
}
port.postMessage({ kind: 'ready', sessions: clients.length, presigned, aggregateDensity, aggregateBytes } satisfies ClientReport);
