// Property-based fuzzing (fast-check) of every HTTP and WebSocket endpoint of a real
// coordinator (PGlite ledger, anvil chain, PeerServer) with a round open:
//
//   GET  /api/health /api/run /api/dashboard /api/data/train   (no input: only liveness)
//   GET  /api/runs/:id/snapshot            GET /api/runs/:id/updates/:round
//   POST /api/runs/:id/rounds/:round/aggregate        (frame bytes)
//   POST /api/runs/:id/rounds/:round/evidence/:address (evidence bytes)
//   GET  /api/accounts/:address            GET /api/accounts/:address/reward-proof
//   POST /api/faucet  POST /api/accounts/:address/claimed  POST /rpc   (JSON)
//   GET  /api/lead/session  POST /api/lead/texts /api/lead/runs /api/lead/runs/:id/:action
//        (wrong or missing tokens; with the token, malformed requests)  GET /api/contributions/:id
//   GET  /api/partners /api/model.onnx           (no input: only liveness)
//   static files (path traversal), raw HTTP garbage, /peerjs (HTTP and WebSocket),
//   WebSocket /ws: text, binary, oversized, and every message type before and after hello,
//   with forged signatures (random, another key, another domain, tampered) and validly
//   signed reports/delegations that break one rule each; upgrades to unknown paths.
//
// Every input is malformed by construction. Each must be refused: HTTP with a 4xx (an
// error naming what was wrong where the coordinator answers), WebSocket with an `error`
// message carrying a code and a message (or a clean close for an oversized frame). After
// the fuzz the ledger's row counts are unchanged and valid requests still succeed promptly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import fc from 'fast-check';
import WebSocket from 'ws';
import { signRecoverable } from 'tiny-secp256k1';
import { bytesToHex, hashTypedData, hexToBytes, keccak256, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { configFromEnv } from '../coordinator/config.ts';
import { startPlatform, type Platform } from '../coordinator/platform.ts';
import { wsMaxPayload } from '../coordinator/http/server.ts';
import { ContributionSigners } from '../coordinator/round/index.ts';
import { NodeSessionKey } from './node-session-key.ts';
import { encodeAggregate } from '../shared/codec.ts';
import {
  CHUNK_ENTRY,
  FRAME_HEADER,
  FrameKind,
  contributionToJson,
  delegationToJson,
  parseErrorReply,
  parseServerMessage,
  PROTOCOL_VERSION,
  shape,
  str,
  type ServerMessage,
} from '../shared/wire/index.ts';
import { framesRoot } from '../shared/aggregate.ts';
import { maxCohortAggregateBytes } from '../shared/round.ts';
import { maxSamplesPerReport, PRESETS } from '../shared/config.ts';
import { delegationTypedData, eip712Domain, type Contribution, type Delegation } from '../shared/eip712.ts';
import { VirtualVolunteer } from './virtual-volunteer.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'idlegrad-fuzz-'));
const env = {
  IDLEGRAD_DATA_DIR: dataDir,
  PORT: '0',
  IDLEGRAD_RUN: JSON.stringify({
    minVolunteers: 2,
    cohortSize: 3,
    inner: { steps: 3 },
    timing: { trainMs: 3_600_000, exchangeMs: 100, reportMs: 100 },
    rewards: { epochRounds: 1000 },
  }),
};
let platform: Platform | null = null;
const sessions: VirtualVolunteer[] = [];
after(async () => {
  for (const v of sessions) v.close();
  await platform?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const FRAME_CODES = ['BAD_FRAME', 'SCHEMA_MISMATCH', 'LIMIT_EXCEEDED', 'WRONG_RUN', 'STALE_ROUND'];
const counts: Record<string, number> = {};
const tally = (what: string, n = 1) => (counts[what] = (counts[what] ?? 0) + n);
const total = () => Object.values(counts).reduce((a, b) => a + b, 0);

/** PeerJS's own signalling messages: only their tag is read. */
const parsePeerJsMessage = (v: unknown) => shape<{ type: string }>({ type: str() })(v, 'peerjs message');

/** A WebSocket that queues what it receives, each message through `parse` (ours: parseServerMessage). */
class Conn<T = ServerMessage> {
  readonly inbox: T[] = [];
  private wake: (() => void) | null = null;
  closed: { code: number } | null = null;
  private constructor(
    readonly ws: WebSocket,
    parse: (raw: unknown) => T,
  ) {
    ws.on('message', (d) => {
      this.inbox.push(parse(JSON.parse(d.toString())));
      this.wake?.();
    });
    ws.on('close', (code) => {
      this.closed = { code };
      this.wake?.();
    });
  }
  static open<T = ServerMessage>(url: string, parse: (raw: unknown) => T = parseServerMessage as (raw: unknown) => T): Promise<Conn<T>> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const c = new Conn(ws, parse);
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
    });
  }
  async next(timeoutMs = 20_000): Promise<T> {
    const end = Date.now() + timeoutMs;
    while (this.inbox.length === 0) {
      if (this.closed) throw new Error(`connection closed (${this.closed.code}) while a reply was due`);
      if (Date.now() > end) throw new Error('no reply within the time limit: the server is wedged');
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 200);
      });
    }
    return this.inbox.shift()!;
  }
}

// ---- generators --------------------------------------------------------------------

const notDots = (s: string) => s !== '.' && s !== '..';
const hexChars = (minLength: number, maxLength: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength, maxLength });
/** Path segments that are not a plain decimal integer in [0, 2^31). */
const badInt = fc
  .oneof(
    fc.integer({ max: -1 }).map(String),
    fc
      .double({ noNaN: true })
      .filter((x) => !Number.isInteger(x))
      .map(String),
    fc.constantFrom('1e0', '0x1', ' 1', '1 ', '01', '+1', '1.0', 'NaN', 'Infinity', '-0', '2147483648', '99999999999999999999'),
    fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !/^(0|[1-9][0-9]{0,9})$/.test(s) || Number(s) > 0x7fffffff),
  )
  .filter(notDots);
/** Strings that are not an address. */
const badAddress = fc
  .oneof(
    hexChars(0, 60)
      .filter((s) => s.length !== 40)
      .map((s) => `0x${s}`),
    hexChars(40, 40),
    hexChars(39, 39).map((s) => `0x${s}g`),
    fc.string({ minLength: 1, maxLength: 50 }).filter((s) => !/^0x[0-9a-fA-F]{40}$/.test(s)),
  )
  .filter(notDots);
const seg = (s: string) => encodeURIComponent(s);

async function expect4xx(res: Response, what: string, names?: string, codes?: string[]): Promise<void> {
  const text = await res.text();
  assert.ok(res.status >= 400 && res.status < 500, `${what}: expected a 4xx refusal, got ${res.status} ${text.slice(0, 200)}`);
  if (names !== undefined || codes) {
    const body = parseErrorReply(JSON.parse(text), `${what}: error reply`);
    assert.ok(body.error.message.length > 5, `${what}: an error message`);
    if (names !== undefined) assert.ok(body.error.message.includes(names), `${what}: the error names ${names}: ${body.error.message}`);
    if (codes) assert.ok(codes.includes(body.error.code), `${what}: code ${body.error.code} not in ${codes.join(',')}: ${body.error.message}`);
  }
}

/** Run requests with a few in flight at a time. */
async function pool<T>(items: T[], fn: (x: T) => Promise<void>, width = 6): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

const sign = (digest: Uint8Array, key: Hex): Hex => {
  const { signature, recoveryId } = signRecoverable(digest, hexToBytes(key));
  return bytesToHex(new Uint8Array([...signature, 27 + recoveryId]));
};

test('every endpoint refuses malformed input by name, nothing crashes or wedges, the ledger is unchanged', { timeout: 300_000 }, async () => {
  platform = await startPlatform(configFromEnv(env), () => {});
  const p = platform;
  const base = p.url;
  const wsUrl = base.replace(/^http/, 'ws') + 'ws';
  const run = p.run;

  // Two sessions start round 0 as cohort 0. v reports validly (a row to replay against);
  // w reports only malformed things, so every check up to the ledger write is reached.
  const vKey = generatePrivateKey();
  const wKey = generatePrivateKey();
  const v = new VirtualVolunteer(base, vKey);
  const w = new VirtualVolunteer(base, wKey);
  sessions.push(v, w);
  await Promise.all([v.connect(), w.connect()]);
  for (const s of [v, w]) s.send({ type: 'start' });
  const [rv, rw] = await Promise.all([v.next('round'), w.next('round')]);
  assert.equal(rv.cohort.id, 0);
  const round = rv.round;
  const domain = eip712Domain(v.chain.chainId, v.chain.distributor);
  const signers = new ContributionSigners(domain);
  const h = (s: string) => keccak256(new TextEncoder().encode(s));
  const validFor = (who: VirtualVolunteer, extra: Partial<Contribution> = {}): { c: Contribution; frameHashes: Hex[] } => {
    const frameHash = h(`${who.address}:${Math.random()}`);
    const c: Contribution = {
      run: run.id,
      round,
      cohort: 0,
      frameHash,
      aggregateHash: h(`agg:${Math.random()}`),
      framesRoot: framesRoot([frameHash]),
      residualHash: h('r'),
      samples: maxSamplesPerReport(run),
      steps: run.inner.steps,
      lossBeforeMicro: 2_000_000,
      lossAfterMicro: 1_900_000,
      computeMs: 1000,
      nonce: BigInt(Math.floor(Math.random() * 2 ** 52)),
      expiry: BigInt(Math.floor(Date.now() / 1000) + 3600),
      partner: '',
      ...extra,
    };
    return { c, frameHashes: [frameHash] };
  };
  const first = validFor(v);
  const ack = await v.report(first.c, first.frameHashes, v.signSync(first.c));
  assert.equal(ack.type, 'ack', JSON.stringify(ack));
  assert.equal(rw.cohort.members.length, 2);

  const tables = ['contributions', 'delegations', 'claims', 'epochs', 'rounds', 'updates', 'identities'];
  const rowCounts = async () =>
    Object.fromEntries(
      await Promise.all(tables.map(async (t) => [t, (await p.ledger.sql.query<{ n: number }>(`select count(*)::int as n from ${t}`)).rows[0].n])),
    );
  const before = await rowCounts();
  const t0 = performance.now();

  // ---- WebSocket /ws before hello: text, JSON, binary, every type, forged hellos ----
  const outsider = privateKeyToAccount(generatePrivateKey());
  const preHello = fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 200 }).map((s) => ({ text: s })) },
    { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((j) => ({ text: JSON.stringify(j) ?? 'null' })) },
    { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => ({ binary: b })) },
    {
      weight: 3,
      arbitrary: fc
        .record({
          type: fc.constantFrom('start', 'stop', 'report', 'bind', 'hello', 'subscribe', '__proto__', 'constructor', 'toString', 'ack'),
          rest: fc.dictionary(
            fc.constantFrom('topic', 'protocol', 'address', 'contribution', 'signature', '__proto__', 'delegation'),
            fc.jsonValue({ maxDepth: 2 }),
          ),
        })
        .filter(({ type, rest }) => !(type === 'subscribe' && rest.topic === 'dashboard'))
        .map(({ type, rest }) => ({ text: JSON.stringify({ ...rest, type }) })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({
          sig: fc.uint8Array({ minLength: 65, maxLength: 65 }),
          protocol: fc.constantFrom(PROTOCOL_VERSION, 0, PROTOCOL_VERSION - 1, PROTOCOL_VERSION + 1, 999),
        })
        .map(({ sig, protocol }) => ({
          text: JSON.stringify({ type: 'hello', protocol, address: outsider.address, peerId: 'p', signature: bytesToHex(sig), adapter: null, gflops: null }),
        })),
    },
  );
  const wsInputs = fc.sample(preHello, { numRuns: 5200, seed: 42 });
  const conns = await Promise.all(Array.from({ length: 8 }, () => Conn.open(wsUrl)));
  for (const c of conns) assert.equal((await c.next()).type, 'challenge');
  await Promise.all(
    conns.map(async (c, ci) => {
      const mine = wsInputs.filter((_, i) => i % conns.length === ci);
      for (let i = 0; i < mine.length; i += 100) {
        const batch = mine.slice(i, i + 100);
        for (const m of batch) 'binary' in m ? c.ws.send(m.binary, { binary: true }) : c.ws.send(m.text);
        for (const m of batch) {
          const reply = await c.next();
          const what = 'binary' in m ? `binary frame of ${m.binary.length} bytes` : `text ${m.text.slice(0, 120)}`;
          if (reply.type !== 'error') assert.fail(`${what} was not refused: ${JSON.stringify(reply).slice(0, 200)}`);
          assert.ok(reply.message.length > 5, `${what}: the refusal has a message`);
          assert.notEqual(reply.code, 'INTERNAL', `${what}: ${reply.message}`);
        }
      }
      tally('ws before hello', mine.length);
      // The connection is still served: a valid subscribe gets the dashboard.
      c.ws.send(JSON.stringify({ type: 'subscribe', topic: 'dashboard' }));
      assert.equal((await c.next()).type, 'dashboard');
      c.ws.close();
    }),
  );

  // ---- WebSocket /ws after hello: forged and rule-breaking reports, binds, hellos ----
  const foreign = [eip712Domain(domain.chainId + 1, domain.verifyingContract), eip712Domain(domain.chainId, `0x${'77'.repeat(20)}` as Address)];
  const now = () => Math.floor(Date.now() / 1000);
  type Case = { kind: string; code: string; msg: Record<string, unknown> };
  // Another session key (certified for nobody here): its report signatures verify under no session of this test.
  const stranger = new NodeSessionKey(domain, run.id, outsider.address, (d) => sign(d, generatePrivateKey()), now() + 3600);
  const reportCase = fc.oneof(
    fc.record({ r: fc.uint8Array({ minLength: 64, maxLength: 64 }) }).map(({ r }): Case => {
      const { c, frameHashes } = validFor(w);
      return {
        kind: 'random signature',
        code: 'BAD_SIGNATURE',
        msg: { type: 'report', contribution: contributionToJson(c), signature: bytesToHex(r), frameHashes },
      };
    }),
    fc.constant(null).map((): Case => {
      const { c, frameHashes } = validFor(w);
      return {
        kind: 'signed by another key',
        code: 'BAD_SIGNATURE',
        msg: { type: 'report', contribution: contributionToJson(c), signature: stranger.signReport(signers.digest(c)), frameHashes },
      };
    }),
    fc.constantFrom(0, 1).map((d): Case => {
      const { c, frameHashes } = validFor(w);
      return {
        kind: 'signed for another domain',
        code: 'BAD_SIGNATURE',
        msg: { type: 'report', contribution: contributionToJson(c), signature: w.signSync(c, foreign[d]), frameHashes },
      };
    }),
    fc
      .record({ field: fc.constantFrom('samples', 'steps', 'cohort', 'computeMs', 'lossAfterMicro'), delta: fc.integer({ min: 1, max: 1000 }) })
      .map(({ field, delta }): Case => {
        const { c, frameHashes } = validFor(w);
        const signature = w.signSync(c);
        const tampered = {
          ...c,
          [field]: Math.max(0, (c[field] as number) - delta) === c[field] ? (c[field] as number) + delta : Math.max(0, (c[field] as number) - delta),
        };
        return {
          kind: `tampered ${field} after signing`,
          code: 'BAD_SIGNATURE',
          msg: { type: 'report', contribution: contributionToJson(tampered), signature, frameHashes },
        };
      }),
    fc
      .oneof(
        fc.integer({ min: 2, max: 0xffffffff }).map((x) => ['run', { run: x }, 'WRONG_RUN'] as const),
        fc.integer({ min: 1, max: 0xffffffff }).map((x) => ['round', { round: x === round ? x + 1 : x }, 'STALE_ROUND'] as const),
        fc.integer({ min: 0, max: 1_000_000 }).map((x) => ['expiry', { expiry: BigInt(x) }, 'EXPIRED'] as const),
        fc.integer({ min: 1, max: 0xffffffff }).map((x) => ['cohort', { cohort: x }, 'NOT_A_MEMBER'] as const),
        fc.integer({ min: maxSamplesPerReport(run) + 1, max: 0xffffffff }).map((x) => ['samples', { samples: x }, 'LIMIT_EXCEEDED'] as const),
        fc.integer({ min: run.inner.steps + 1, max: 0xffffffff }).map((x) => ['steps', { steps: x }, 'LIMIT_EXCEEDED'] as const),
        fc.integer({ min: 0x80000000, max: 0xffffffff }).map((x) => ['computeMs past the ledger column', { computeMs: x }, 'LIMIT_EXCEEDED'] as const),
        fc.bigInt({ min: 1n << 63n, max: (1n << 64n) - 1n }).map((x) => ['expiry past the ledger column', { expiry: x }, 'LIMIT_EXCEEDED'] as const),
        fc.constant(['framesRoot', { framesRoot: h('another set') }, 'BAD_MESSAGE'] as const),
      )
      .map(([kind, extra, code]): Case => {
        const { c, frameHashes } = validFor(w, extra as Partial<Contribution>);
        return {
          kind: `validly signed, bad ${kind}`,
          code,
          msg: { type: 'report', contribution: contributionToJson(c), signature: w.signSync(c), frameHashes },
        };
      }),
  );
  const walletKey = generatePrivateKey();
  const wallet = privateKeyToAccount(walletKey);
  const delegationMsg = (d: Delegation, key: Hex, dom = domain) => ({
    type: 'bind',
    delegation: delegationToJson(d),
    signature: sign(hexToBytes(hashTypedData(delegationTypedData(dom, d))), key),
  });
  const bindCase = fc.oneof(
    fc.constant(null).map((): Case => ({
      kind: 'delegation signed by another key',
      code: 'BAD_SIGNATURE',
      msg: delegationMsg({ wallet: wallet.address, device: w.address, nonce: 1n, expiry: BigInt(now() + 60) }, generatePrivateKey()),
    })),
    fc.constantFrom(0, 1).map((d): Case => ({
      kind: 'delegation for another domain',
      code: 'BAD_SIGNATURE',
      msg: delegationMsg({ wallet: wallet.address, device: w.address, nonce: 1n, expiry: BigInt(now() + 60) }, walletKey, foreign[d]),
    })),
    fc.constant(null).map((): Case => ({
      kind: 'delegation for another device',
      code: 'BAD_MESSAGE',
      msg: delegationMsg({ wallet: wallet.address, device: v.address, nonce: 1n, expiry: BigInt(now() + 60) }, generatePrivateKey()),
    })),
    fc.integer({ min: 0, max: 1_000_000 }).map((x): Case => ({
      kind: 'expired delegation',
      code: 'EXPIRED',
      msg: delegationMsg({ wallet: wallet.address, device: w.address, nonce: 1n, expiry: BigInt(x) }, walletKey),
    })),
    fc.bigInt({ min: 10n ** 10n, max: (1n << 64n) - 1n }).map((x): Case => ({
      kind: 'delegation that never ends',
      code: 'LIMIT_EXCEEDED',
      msg: delegationMsg({ wallet: wallet.address, device: w.address, nonce: 1n, expiry: x }, walletKey),
    })),
    fc.uint8Array({ minLength: 65, maxLength: 65 }).map((b): Case => ({
      kind: 'delegation with a random signature',
      code: 'BAD_SIGNATURE',
      msg: {
        type: 'bind',
        delegation: delegationToJson({ wallet: wallet.address, device: w.address, nonce: 1n, expiry: BigInt(now() + 60) }),
        signature: bytesToHex(b),
      },
    })),
    fc.constant(null).map((): Case => ({
      kind: 'a second hello',
      code: 'DUPLICATE',
      msg: {
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        address: w.address,
        peerId: 'again',
        signature: `0x${'11'.repeat(65)}`,
        adapter: null,
        gflops: null,
        session: w.sessionKey!.grant('again'),
      },
    })),
  );
  const cases = fc.sample(fc.oneof({ weight: 5, arbitrary: reportCase }, { weight: 1, arbitrary: bindCase }), { numRuns: 2600, seed: 7 });
  // w's session is the VirtualVolunteer's socket: send there, read its replies in order.
  for (let i = 0; i < cases.length; i += 100) {
    const batch = cases.slice(i, i + 100);
    for (const c of batch) w.send(c.msg);
    for (const c of batch) {
      const reply = await w.next('error', 20_000);
      assert.equal(reply.code, c.code, `${c.kind}: expected ${c.code}, got ${reply.code}: ${reply.message}`);
      assert.ok(reply.message.length > 5);
      if (c.msg.type === 'report') assert.equal(reply.ref, (c.msg.contribution as { nonce: string }).nonce, `${c.kind}: the refusal names the report`);
    }
  }
  tally('ws after hello (forged or rule-breaking)', cases.length);

  // Oversized WebSocket frames close the connection cleanly (1009); unknown upgrade paths are dropped.
  for (let i = 0; i < 10; i++) {
    const c = await Conn.open(wsUrl);
    c.ws.send('x'.repeat(wsMaxPayload(p.run) + 1 + i));
    for (let t = 0; t < 100 && !c.closed; t++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(c.closed?.code, 1009, 'an oversized message closes with 1009 (message too big)');
    tally('ws oversized');
  }
  for (const path of fc.sample(
    fc
      .string({ minLength: 1, maxLength: 40 })
      .map((s) => `/${encodeURIComponent(s)}`)
      .filter((s) => s !== '/ws' && !s.startsWith('/peerjs')),
    { numRuns: 30, seed: 3 },
  )) {
    await assert.rejects(Conn.open(base.replace(/^http/, 'ws').replace(/\/$/, '') + path), `upgrade to ${path} is refused`);
    tally('ws unknown path');
  }
  for (const q of fc.sample(fc.dictionary(fc.constantFrom('key', 'id', 'token', 'x'), fc.string({ maxLength: 20 }), { maxKeys: 2 }), {
    numRuns: 30,
    seed: 5,
  })) {
    const qs = new URLSearchParams(q).toString();
    const c = await Conn.open(base.replace(/^http/, 'ws') + `peerjs?${qs}`, parsePeerJsMessage).catch(() => null);
    if (c) {
      for (let t = 0; t < 50 && !c.closed && c.inbox.length === 0; t++) await new Promise((r) => setTimeout(r, 20));
      const m = c.inbox[0];
      assert.ok(c.closed || m?.type === 'ERROR', `peerjs socket with ${qs}: refused, got ${JSON.stringify(m)}`);
      c.ws.terminate();
    }
    tally('peerjs bad socket');
  }

  // ---- HTTP: path parameters ---------------------------------------------------------
  const http = (path: string, init?: RequestInit) => fetch(new URL(path, base), init);
  const ints = fc.sample(badInt, { numRuns: 300, seed: 11 });
  const addrs = fc.sample(badAddress, { numRuns: 300, seed: 12 });
  await pool(ints, async (x) => {
    await expect4xx(await http(`api/runs/${seg(x)}/snapshot`), `snapshot of run ${x}`, 'run id');
    await expect4xx(await http(`api/runs/1/updates/${seg(x)}`), `update of round ${x}`, 'round');
    await expect4xx(await http(`api/runs/${seg(x)}/updates/0`), `update of run ${x}`, 'run id');
    await expect4xx(await http(`api/runs/1/rounds/${seg(x)}/aggregate`, { method: 'POST', body: 'x' }), `aggregate for round ${x}`, 'round');
    await expect4xx(await http(`api/runs/${seg(x)}/rounds/0/aggregate`, { method: 'POST', body: 'x' }), `aggregate for run ${x}`, 'run id');
    await expect4xx(await http(`api/runs/1/rounds/${seg(x)}/evidence/${v.address}`, { method: 'POST', body: 'x' }), `evidence for round ${x}`, 'round');
    tally('http bad integer parameter', 6);
  });
  await pool(addrs, async (a) => {
    await expect4xx(await http(`api/accounts/${seg(a)}`), `account ${a}`, 'address');
    await expect4xx(await http(`api/accounts/${seg(a)}/reward-proof`), `reward proof of ${a}`, 'address');
    await expect4xx(await http(`api/runs/1/rounds/${round}/evidence/${seg(a)}`, { method: 'POST', body: 'x' }), `evidence for ${a}`, 'address');
    await expect4xx(
      await http(`api/accounts/${seg(a)}/claimed`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ txHash: `0x${'00'.repeat(32)}` }),
      }),
      `claim of ${a}`,
      'address',
    );
    tally('http bad address parameter', 4);
  });

  // ---- HTTP: aggregate frames (the round is open: decoding is reached) -----------------
  const dense = new Float32Array(run.paramCount);
  dense[3] = 1e-3;
  dense[run.paramCount - 1] = -2e-3;
  const good = encodeAggregate(dense, run.codec.chunkSize, { paramTableHash: run.paramTableHash, run: run.id, round, samples: 10 });
  const H = FRAME_HEADER.at;
  const fields: [number, number][] = [
    [H.magic, 4],
    [H.version, 1],
    [H.indexCoding, 1],
    [H.paramTableHash, 32],
    [H.run, 4],
    [H.round, 4],
    [H.paramCount, 4],
    [H.chunkSize, 4],
    [H.chunkCount, 4],
    [H.totalK, 4],
  ];
  const frames = fc.sample(
    fc.oneof(
      fc.nat(good.byteLength - 1).map((n) => good.slice(0, n)),
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((x) => new Uint8Array([...good, ...x])),
      fc.tuple(fc.constantFrom(...fields), fc.uint8Array({ minLength: 32, maxLength: 32 })).map(([[at, size], junk]) => {
        const b = good.slice();
        b.set(junk.subarray(0, size), at);
        if (b.subarray(at, at + size).every((x, i) => x === good[at + i])) b[at] ^= 1;
        return b;
      }),
      fc
        .integer({ min: 0, max: 255 })
        .filter((k) => k !== FrameKind.aggregate)
        .map((k) => ((b) => ((b[H.kind] = k), b))(good.slice())),
      fc
        .tuple(
          fc.nat(Math.ceil(run.paramCount / run.codec.chunkSize) - 1),
          fc.float({ noNaN: true }).filter((x) => x !== 0),
        )
        .map(([c, s]) => {
          const b = good.slice();
          new DataView(b.buffer).setFloat32(FRAME_HEADER.bytes + CHUNK_ENTRY.bytes * c + CHUNK_ENTRY.at.scale, s, true);
          return b;
        }),
      fc.uint8Array({ maxLength: 4096 }),
    ),
    { numRuns: 1200, seed: 13 },
  );
  await pool(frames, async (b) => {
    const res = await http(`api/runs/${run.id}/rounds/${round}/aggregate`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: b as unknown as BodyInit,
    });
    await expect4xx(res, `malformed aggregate of ${b.byteLength} bytes`, undefined, FRAME_CODES);
    tally('http malformed aggregate frame');
  });
  await pool(
    fc.sample(
      fc.integer({ min: 0, max: 0x7fffffff }).filter((r) => r !== round),
      { numRuns: 100, seed: 14 },
    ),
    async (r) => {
      await expect4xx(
        await http(`api/runs/${run.id}/rounds/${r}/aggregate`, { method: 'POST', body: good as unknown as BodyInit }),
        `aggregate for closed round ${r}`,
        'round',
        ['STALE_ROUND'],
      );
      await expect4xx(
        await http(`api/runs/${(r % 1_000_000) + 2}/rounds/${round}/aggregate`, { method: 'POST', body: good as unknown as BodyInit }),
        `aggregate for run ${(r % 1_000_000) + 2}`,
        undefined,
        ['WRONG_RUN'],
      );
      tally('http aggregate for another round or run', 2);
    },
  );
  // Evidence nobody asked for.
  await pool(fc.sample(fc.uint8Array({ minLength: 1, maxLength: 2048 }), { numRuns: 100, seed: 15 }), async (b) => {
    await expect4xx(
      await http(`api/runs/${run.id}/rounds/${round}/evidence/${w.address}`, { method: 'POST', body: b as unknown as BodyInit }),
      'unsolicited evidence',
      undefined,
      ['NOT_FOUND'],
    );
    tally('http unsolicited evidence');
  });

  // ---- HTTP: JSON bodies ---------------------------------------------------------------
  const json = (body: string) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const jsonBodies = fc.sample(
    fc.oneof(
      fc.string({ maxLength: 100 }).filter((s) => {
        try {
          JSON.parse(s);
          return false;
        } catch {
          return true;
        }
      }),
      fc.jsonValue({ maxDepth: 3 }).map((j) => JSON.stringify(j)),
      fc.record({ address: fc.oneof(badAddress, fc.integer(), fc.constant(null)), __proto__: fc.constant({ admin: true }) }).map((o) => JSON.stringify(o)),
      fc.constant('{"__proto__":{"polluted":true},"address":"0x1"}'),
      fc.constant('{"constructor":{"prototype":{"polluted":true}}}'),
    ),
    { numRuns: 300, seed: 16 },
  );
  await pool(jsonBodies, async (b) => {
    await expect4xx(await http('api/faucet', json(b)), `faucet body ${b.slice(0, 80)}`, undefined, ['BAD_MESSAGE']);
    await expect4xx(await http(`api/accounts/${w.address}/claimed`, json(b)), `claimed body ${b.slice(0, 80)}`, undefined, ['BAD_MESSAGE']);
    tally('http malformed JSON body', 2);
  });
  // Valid-looking but forged claim transactions: refused at once, not after the receipt timeout.
  await pool(fc.sample(fc.uint8Array({ minLength: 32, maxLength: 32 }), { numRuns: 20, seed: 17 }), async (b) => {
    await expect4xx(await http(`api/accounts/${w.address}/claimed`, json(JSON.stringify({ txHash: bytesToHex(b) }))), 'forged claim transaction', 'not known', [
      'NOT_FOUND',
    ]);
    tally('http forged claim transaction');
  });
  const rpcBodies = fc.sample(
    fc.oneof(
      fc
        .record({
          jsonrpc: fc.constant('2.0'),
          id: fc.nat(),
          method: fc.oneof(
            fc.constantFrom(
              'eth_sendTransaction',
              'anvil_setBalance',
              'evm_mine',
              'eth_sign',
              'personal_sign',
              'debug_traceTransaction',
              'admin_peers',
              '__proto__',
            ),
            fc.string(),
          ),
          params: fc.jsonValue(),
        })
        .map((o) => JSON.stringify(o)),
      fc.record({ method: fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.string())) }).map((o) => JSON.stringify(o)),
      fc.constant('[]'),
      fc.constant(JSON.stringify(Array.from({ length: 101 }, (_, id) => ({ jsonrpc: '2.0', id, method: 'eth_chainId' })))),
      fc
        .array(fc.record({ method: fc.constantFrom('eth_chainId', 'anvil_mine') }), { minLength: 1, maxLength: 5 })
        .filter((a) => a.some((c) => c.method === 'anvil_mine'))
        .map((a) => JSON.stringify(a)),
      fc
        .jsonValue({ maxDepth: 2 })
        .filter((j) => typeof j !== 'object' || j === null || Array.isArray(j))
        .map((j) => JSON.stringify(j)),
      // Raw "transactions" that are not a signed claim to the distributor (coordinator/rpc-guard.ts).
      fc
        .oneof(
          fc.uint8Array({ maxLength: 300 }).map((b) => bytesToHex(b)),
          fc.jsonValue(),
        )
        .map((raw) => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransaction', params: [raw] })),
    ),
    { numRuns: 300, seed: 18 },
  );
  await pool(rpcBodies, async (b) => {
    await expect4xx(await http('rpc', json(b)), `rpc body ${b.slice(0, 80)}`, undefined, ['BAD_MESSAGE', 'RPC_REFUSED']);
    tally('http refused rpc');
  });
  for (let i = 0; i < 10; i++) {
    const r = await http('api/faucet', json(JSON.stringify({ address: 'x'.repeat(70 * 1024 + i) })));
    assert.equal(r.status, 413, 'oversized JSON: 413');
    await expect4xx(r, 'oversized JSON', undefined, ['TOO_LARGE']);
    tally('http oversized JSON');
  }
  const oversized = await http(`api/runs/${run.id}/rounds/${round}/aggregate`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(maxCohortAggregateBytes(run) + 1) as unknown as BodyInit,
  });
  assert.equal(oversized.status, 413, "oversized aggregate (one byte past the run's own bound): 413");
  await expect4xx(oversized, 'oversized aggregate', undefined, ['TOO_LARGE']);
  tally('http oversized aggregate');
  // Static files: no way out of the web directory.
  for (const path of [
    '..%2F..%2Fpackage.json',
    '%2E%2E/%2E%2E/package.json',
    '..%5C..%5Cpackage.json',
    'assets/..%2F..%2F..%2Fetc%2Fpasswd',
    '%00',
    'index.html%00.js',
  ]) {
    const res = await http(path);
    const text = await res.text();
    assert.ok(res.status >= 400 && res.status < 500 && !text.includes('"allowScripts"') && !text.includes('root:'), `${path}: ${res.status}`);
    tally('http path traversal');
  }
  // Raw garbage on the HTTP port: the parser refuses it (400) or the socket is closed.
  await pool(
    fc.sample(
      fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.string({ maxLength: 100 }).map((s) => new TextEncoder().encode(`GET /${s} HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n`)),
      ),
      { numRuns: 60, seed: 19 },
    ),
    async (b) => {
      const reply = await new Promise<string>((resolve) => {
        const s = netConnect(Number(new URL(base).port), '127.0.0.1', () => s.end(Buffer.from(b)));
        let got = '';
        s.on('data', (d) => (got += d.toString()));
        s.on('close', () => resolve(got));
        s.on('error', () => resolve(got));
        s.setTimeout(5000, () => s.destroy());
      });
      assert.ok(reply === '' || /^HTTP\/1\.1 4\d\d/.test(reply), `raw garbage answered ${reply.slice(0, 60)}`);
      tally('http raw garbage');
    },
    4,
  );
  // PeerServer HTTP: discovery is off and unknown routes are refused.
  for (const path of [
    'peerjs/peerjs/peers',
    ...fc.sample(
      fc
        .string({ minLength: 1, maxLength: 20 })
        .filter(notDots)
        .map((s) => `peerjs/${seg(s)}/${seg(s)}/x`),
      { numRuns: 20, seed: 20 },
    ),
  ]) {
    const res = await http(path);
    await res.text();
    assert.ok(res.status >= 400 && res.status < 500, `${path}: ${res.status}`);
    tally('http peerjs');
  }

  // ---- HTTP: lead routes and contribution states (issue 7, issue 6) ----------------------
  // Without the lead token every lead route refuses (401 or 403), whatever the header says.
  const leadRoutes: [string, string][] = [
    ['GET', 'api/lead/session'],
    ['POST', 'api/lead/texts'],
    ['POST', 'api/lead/runs'],
    ['POST', `api/lead/runs/${run.id}/pause`],
  ];
  const badAuth = fc.oneof(
    fc.stringMatching(/^[!-~][ -~]{0,60}$/).filter((h) => !h.includes(p.leadToken)),
    fc
      .stringMatching(/^[!-~]{1,60}$/)
      .filter((t) => t !== p.leadToken)
      .map((t) => `Bearer ${t}`),
    fc.constantFrom(
      `Bearer ${p.leadToken}x`,
      `Bearer x${p.leadToken}`,
      `Basic ${p.leadToken}`,
      `Bearer ${p.leadToken} ${p.leadToken}`,
      `Bearer ${p.leadToken.toUpperCase()}x`,
    ),
  );
  await pool(fc.sample(badAuth, { numRuns: 250, seed: 21 }), async (h) => {
    for (const [method, path] of leadRoutes) {
      const res = await http(path, {
        method,
        headers: { authorization: h, 'content-type': 'application/json' },
        body: method === 'POST' ? '{"preset":"mlp"}' : undefined,
      });
      assert.ok(res.status === 401 || res.status === 403, `${method} ${path} with Authorization ${JSON.stringify(h)}: expected 401/403, got ${res.status}`);
      await expect4xx(res, `${method} ${path} with a wrong token`);
    }
    tally('http lead route without the token', leadRoutes.length);
  });
  // With the token: create requests that are wrong in one way each are refused, naming the field.
  const lead = { authorization: `Bearer ${p.leadToken}`, 'content-type': 'application/json' };
  const KNOWN_SETTINGS = new Set([...Object.keys(run), 'verification', 'gpt', 'preset']);
  const isPresetObject = (v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) && (PRESETS as readonly string[]).includes((v as { preset?: unknown }).preset as string);
  const badCreate = fc.oneof(
    fc
      .jsonValue({ maxDepth: 3 })
      .filter((v) => !isPresetObject(v))
      .map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 60 }).filter((t) => {
      try {
        JSON.parse(t);
        return false;
      } catch {
        return true;
      }
    }),
    fc
      .record({
        preset: fc.constantFrom(...PRESETS),
        settings: fc.dictionary(
          fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !KNOWN_SETTINGS.has(k)),
          fc.jsonValue({ maxDepth: 1 }),
          { minKeys: 1, maxKeys: 3 },
        ),
      })
      .map((b) => JSON.stringify(b)),
    fc
      .oneof(fc.double({ min: 1.0001, noNaN: true }), fc.double({ max: 0, noNaN: true }), fc.string(), fc.constant(null))
      .map((d) => JSON.stringify({ preset: 'mlp', settings: { codec: { density: d } } })),
    fc
      .oneof(
        fc.integer({ max: 0 }),
        fc.integer({ min: 100_000 }),
        fc.double({ noNaN: true }).filter((x) => !Number.isInteger(x)),
      )
      .map((n) => JSON.stringify({ preset: 'mlp', settings: { inner: { steps: n } } })),
    fc
      .oneof(
        fc.string({ maxLength: 70 }),
        hexChars(64, 64).map((h) => `0x${h}`),
      )
      .map((t) => JSON.stringify({ preset: 'gpt', text: t })),
    fc.constantFrom(
      '{"preset":"mlp","settings":{"__proto__":{"polluted":1}}}',
      '{"preset":"mlp","settings":{"constructor":{"prototype":{"polluted":1}}}}',
      '{"preset":"mlp","settings":{"codec":{"__proto__":{"polluted":1}}}}',
    ),
  );
  await pool(fc.sample(badCreate, { numRuns: 600, seed: 22 }), async (b) => {
    await expect4xx(await http('api/lead/runs', { method: 'POST', headers: lead, body: b }), `create run ${b.slice(0, 80)}`, undefined, ['BAD_MESSAGE']);
    tally('http lead: malformed create');
  });
  // Run actions: an id that is not the current run's canonical number, or an action that is not one.
  const badAction = fc
    .oneof(
      fc.string({ minLength: 1, maxLength: 20 }),
      fc.constantFrom('constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf', 'PAUSE', 'pause ', 'Stop'),
    )
    .filter((a) => !['pause', 'resume', 'stop'].includes(a))
    .filter(notDots);
  await pool(fc.sample(badAction, { numRuns: 200, seed: 23 }), async (a) => {
    await expect4xx(await http(`api/lead/runs/${run.id}/${seg(a)}`, { method: 'POST', headers: lead }), `run action ${JSON.stringify(a)}`, undefined, [
      'BAD_MESSAGE',
      'NOT_FOUND',
    ]);
    tally('http lead: bad run action');
  });
  await pool(fc.sample(badInt, { numRuns: 200, seed: 24 }), async (x) => {
    await expect4xx(await http(`api/lead/runs/${seg(x)}/pause`, { method: 'POST', headers: lead }), `pause run ${JSON.stringify(x)}`, undefined, [
      'BAD_MESSAGE',
      'NOT_FOUND',
    ]);
    await expect4xx(await http(`api/contributions/${seg(x)}`), `contribution ${JSON.stringify(x)}`, undefined, ['BAD_MESSAGE', 'NOT_FOUND']);
    tally('http bad id (lead run, contribution)', 2);
  });
  // Texts: an empty body, and one past the size limit.
  await expect4xx(
    await http('api/lead/texts', { method: 'POST', headers: { authorization: lead.authorization }, body: new Uint8Array(0) as unknown as BodyInit }),
    'empty text',
    'body',
  );
  await expect4xx(
    await http('api/lead/texts', {
      method: 'POST',
      headers: { authorization: lead.authorization, 'content-type': 'text/plain' },
      body: new Uint8Array(8 * 1024 * 1024 + 1) as unknown as BodyInit,
    }),
    'oversized text',
  );
  tally('http lead: bad text', 2);
  assert.equal(p.engine.status, 'active', 'no malformed lead request paused or stopped the run');

  // ---- after the fuzz ----------------------------------------------------------------------
  const fuzzS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const health = await http('api/health');
  assert.equal(health.status, 200);
  for (const path of ['api/run', 'api/dashboard', 'api/partners', 'api/model.onnx', `api/accounts/${v.address}`, `api/runs/${run.id}/snapshot`])
    assert.equal((await http(path)).status, 200, path);
  const fresh = new VirtualVolunteer(base);
  sessions.push(fresh);
  await fresh.connect();
  assert.ok(performance.now() - t1 < 10_000, `valid requests answered promptly after the fuzz (${(performance.now() - t1).toFixed(0)} ms)`);
  assert.deepEqual(await rowCounts(), before, 'no ledger row written or lost by malformed input');
  assert.equal(p.engine.openRound?.round, round, 'the round is still open');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  console.log(`endpoint fuzz: ${total()} malformed inputs refused in ${fuzzS.toFixed(1)} s, 0 accepted, 0 crashes; by kind: ${JSON.stringify(counts)}`);
  assert.ok(total() >= 10_000, `at least 10,000 malformed inputs, got ${total()}`);
});
