// One worker thread of `npm run load` (e2e/load.ts): protocol clients without compute.
// It holds the WebSocket sessions of whole cohorts (hello signed by each device key),
// signs every report it will send before the measured window, and then, for each
// `round` message, uploads its cohorts' aggregate frames and sends the pre-signed reports
// at a paced rate, timing each from send to the coordinator's ack.
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';
import { signRecoverable } from 'tiny-secp256k1';
import { bytesToHex, hashMessage, hexToBytes, keccak256, type Address, type Hex } from 'viem';
import { encodeAggregate } from '../shared/codec.ts';
import { framesRoot } from '../shared/aggregate.ts';
import { eip712Domain, type Contribution } from '../shared/eip712.ts';
import { contributionToJson, helloMessage, parseServerMessage, PROTOCOL_VERSION, type ChainInfo } from '../shared/wire/index.ts';
import type { RunSpec } from '../shared/config.ts';
import { ContributionSigners } from '../coordinator/round/index.ts';

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
}

/** Worker → main messages. */
export type ClientReport =
  | { kind: 'ready'; sessions: number; presigned: number }
  | { kind: 'acks'; samples: number[]; errors: Record<string, number>; firstError?: string; open: number; exhausted: number }
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
  ws: WebSocket;
  welcomed: boolean;
}
const clients: Client[] = [];
const byRound = new Map<number, Map<Address, { text: string; nonce: string }>>();
const aggregates = new Map<string, Uint8Array>(); // `${round}:${cohort}`
const sentAt = new Map<string, number>();
const queue: { text: string; nonce: string }[] = [];
let samples: number[] = [];
const errors: Record<string, number> = {};
let firstError: string | undefined;
let exhausted = 0;

function presign(): number {
  const signers = new ContributionSigners(eip712Domain(plan.chain.chainId, plan.chain.distributor));
  const { run } = plan;
  const samplesPer = run.inner.steps * run.inner.batchSize;
  const expiry = BigInt(Math.floor(Date.now() / 1000) + 3 * 3600);
  let n = 0;
  for (let round = plan.firstRound; round < plan.firstRound + plan.rounds; round++) {
    const reports = new Map<Address, { text: string; nonce: string }>();
    for (const cohort of plan.cohorts) {
      // The cohort's aggregate: a few small nonzero values, distinct per cohort and round.
      const dense = new Float32Array(run.paramCount);
      for (let j = 0; j < 4; j++) dense[(cohort.id * 7919 + round * 104729 + j * 12553) % run.paramCount] = 1e-6 * (j + 1);
      const bytes = encodeAggregate(dense, run.codec.chunkSize, { paramTableHash: run.paramTableHash, run: run.id, round, samples: samplesPer * cohort.members.length });
      aggregates.set(`${round}:${cohort.id}`, bytes);
      const aggregateHash = keccak256(bytes);
      const frameHashes = cohort.members.map((m) => keccak256(new TextEncoder().encode(`${m.address}:${round}`))).sort();
      const root = framesRoot(frameHashes);
      for (const m of cohort.members) {
        const nonce = BigInt(round) * 1_000_000n + BigInt(n % 1_000_000);
        const c: Contribution = {
          run: run.id, round, cohort: cohort.id, frameHash: keccak256(new TextEncoder().encode(`${m.address}:${round}`)), aggregateHash, framesRoot: root,
          residualHash: keccak256(new TextEncoder().encode(`residual:${m.address}:${round}`)), samples: samplesPer, steps: run.inner.steps,
          lossBeforeMicro: 2_300_000, lossAfterMicro: 2_200_000, computeMs: 1000, nonce, expiry,
        };
        const signature = sign(signers.digest(c), hexToBytes(m.key));
        reports.set(m.address, { text: JSON.stringify({ type: 'report', contribution: contributionToJson(c), signature, frameHashes }), nonce: nonce.toString() });
        n++;
      }
    }
    byRound.set(round, reports);
  }
  return n;
}

function connect(key: Hex, address: Address, cohort: number, uploader: boolean): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(plan.url.replace(/^http/, 'ws').replace(/\/$/, '') + '/ws');
    const c: Client = { key: hexToBytes(key), address, cohort, uploader, ws, welcomed: false };
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
          const now = performance.now();
          samples.push(performance.timeOrigin + now, now - t);
        }
        return;
      }
      // Account summaries and commit notices are not used here: not parsed (client CPU shares the machine).
      if (text.startsWith('{"type":"account"') || text.startsWith('{"type":"committed"')) return;
      const m = parseServerMessage(JSON.parse(text));
      if (m.type === 'challenge') {
        ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, address, peerId, signature: sign(hexToBytes(hashMessage(helloMessage(m.challenge, peerId))), c.key), adapter: null, gflops: null }));
      } else if (m.type === 'welcome') {
        c.welcomed = true;
        resolve(c);
      } else if (m.type === 'round') onRound(c, m.round);
      else if (m.type === 'error') {
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
  if (c.uploader) {
    const bytes = aggregates.get(`${round}:${c.cohort}`)!;
    void fetch(new URL(`api/runs/${plan.run.id}/rounds/${round}/aggregate`, plan.url), { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes as unknown as BodyInit })
      .then(async (res) => {
        if (res.status !== 200) {
          errors[`upload ${res.status}`] = (errors[`upload ${res.status}`] ?? 0) + 1;
          firstError ??= `aggregate upload: ${await res.text()}`;
        } else await res.arrayBuffer();
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
      port.postMessage({ kind: 'acks', samples, errors: { ...errors }, firstError, open: clients.filter((c) => c.welcomed && c.ws.readyState === WebSocket.OPEN).length, exhausted } satisfies ClientReport);
      samples = [];
    }, 1000);
  } else {
    for (const c of clients) c.ws.terminate();
    port.postMessage({ kind: 'closed' } satisfies ClientReport);
  }
});

// Connect (a few dozen hellos at a time), then pre-sign everything this worker will send.
const members = plan.cohorts.flatMap((co) => co.members.map((m, i) => ({ ...m, cohort: co.id, uploader: i === 0 })));
for (let i = 0; i < members.length; i += 50) {
  clients.push(...(await Promise.all(members.slice(i, i + 50).map((m) => connect(m.key, m.address, m.cohort, m.uploader)))));
}
const presigned = presign();
port.postMessage({ kind: 'ready', sessions: clients.length, presigned } satisfies ClientReport);
