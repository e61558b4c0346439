import { test } from 'node:test';
import assert from 'node:assert/strict';
import { privateKeyToAccount } from 'viem/accounts';
import type { Address, Hex } from 'viem';
import { decodeFrame, hashFrame, kPerChunk, maxUpdateFrameBytes } from '../../../../shared/codec.ts';
import { DEFAULT_RUN, runSpecOf, type RunSpec } from '../../../../shared/config.ts';
import { splitFrame } from '../../../../shared/wire/index.ts';
import { CohortExchange, type ExchangeEvent } from './exchange.ts';
import { dialsTo, sendChunks } from './links.ts';
import { LinkPool } from './link-pool.ts';
import { encodeOwnUpdate, peerUpdateLimits } from '../../../../shared/round.ts';
import { FakeNetwork, ManualScheduler, fakeLink, settle, until, verifyMessageSync } from '../testing.ts';

const run: RunSpec = runSpecOf(
  7,
  { ...DEFAULT_RUN, sizes: [40, 30, 10], codec: { density: 0.25, bits: 8, chunkSize: 256 } },
  { name: 'mnist', trainCount: 100, testCount: 10, features: 40, classes: 10 },
);
const ROUND = 3;
const KEYS: Hex[] = [1, 2, 3, 4].map((i) => `0x${i.toString(16).padStart(64, '0')}` as Hex);

function frameFor(seed: number, round = ROUND): Uint8Array {
  const v = new Float32Array(run.paramCount);
  for (let i = 0; i < v.length; i++) v[i] = Math.sin(seed * 1000 + i) * 0.01;
  return encodeOwnUpdate(run, round, v, 64).bytes;
}

interface Node {
  peerId: string;
  address: Address;
  ex: CohortExchange;
  events: ExchangeEvent[];
  frame: Uint8Array;
}

function cohort(
  n: number,
  opts: { endsIn?: number; net?: FakeNetwork; sched?: ManualScheduler; sign?: (i: number, msg: string) => Promise<Hex>; timeouts?: object } = {},
) {
  const sched = opts.sched ?? new ManualScheduler();
  const net = opts.net ?? new FakeNetwork();
  const accounts = KEYS.slice(0, n).map((k) => privateKeyToAccount(k));
  const members = accounts.map((a, i) => ({ address: a.address.toLowerCase() as Address, peerId: `ig-${'abcdef'[i]}000000000000000` }));
  const limits = peerUpdateLimits(run, ROUND);
  const nodes: Node[] = members.map((self, i) => {
    const events: ExchangeEvent[] = [];
    const ex = new CohortExchange({
      run: run.id,
      round: ROUND,
      self,
      members,
      endsAt: sched.now() + (opts.endsIn ?? 10_000),
      maxFrameBytes: maxUpdateFrameBytes(run.paramCount, run.codec.chunkSize, kPerChunk(run.codec, run.codec.chunkSize), run.codec.bits, run.codec.indexCoding),
      decode: (b) => decodeFrame(b, limits),
      sign: (m) => (opts.sign ? opts.sign(i, m) : accounts[i].signMessage({ message: m })),
      verify: verifyMessageSync,
      dial: (to) => net.dial(self.peerId, to),
      scheduler: sched,
      timeouts: { handshakeMs: 2_000, idleMs: 1_000, redialMs: 500, maxDials: 2, ...opts.timeouts },
      onEvent: (e) => events.push(e),
    });
    net.register(self.peerId, (link) => ex.accept(link));
    return { peerId: self.peerId, address: self.address, ex, events, frame: frameFor(i) };
  });
  return { sched, net, nodes, members };
}

test('the smaller peer id dials', () => {
  assert.equal(dialsTo('ig-a', 'ig-b'), true);
  assert.equal(dialsTo('ig-b', 'ig-a'), false);
});

test('a cohort of three all-gathers every frame, verified and decoded', async () => {
  const { sched, net, nodes } = cohort(3);
  for (const n of nodes) n.ex.start();
  await settle();
  for (const n of nodes) n.ex.setOwnFrame(n.frame);
  await sched.advance(100);
  const results = await Promise.all(nodes.map((n) => n.ex.finished));
  // Exactly one link per pair, dialled by the smaller id.
  assert.equal(net.links.length, 3);
  for (const l of net.links) assert.ok(l.from < l.to);
  results.forEach((r, i) => {
    assert.equal(r.timedOut, false);
    assert.equal(r.frames.length, 2);
    const want = nodes
      .filter((_, j) => j !== i)
      .map((n) => hashFrame(n.frame))
      .sort();
    assert.deepEqual(r.frames.map((f) => f.hash).sort(), want);
    assert.ok(r.peers.every((p) => p.status === 'complete' && p.failure === null));
    assert.equal(
      r.bytesIn,
      r.frames.reduce((s, f) => s + splitFrame(f.bytes, ROUND).reduce((a, c) => a + c.byteLength, 0), 0),
    );
  });
});

test('a peer that never connects is left out at the deadline; the rest still finish', async () => {
  const { sched, net, nodes } = cohort(3, { endsIn: 5_000 });
  net.dead.add(nodes[2].peerId);
  // Node 2 never starts: it neither dials nor answers.
  for (const n of nodes.slice(0, 2)) n.ex.start();
  await settle();
  for (const n of nodes.slice(0, 2)) n.ex.setOwnFrame(n.frame);
  await until(() => nodes[0].events.some((e) => e.type === 'frame'), 'the live peer frame');
  await sched.advance(4_000);
  let settledEarly = false;
  void nodes[0].ex.finished.then(() => (settledEarly = true));
  await settle();
  assert.equal(settledEarly, false, 'waits while the silent peer still has time');
  await sched.advance(1_500);
  const r = await nodes[0].ex.finished;
  assert.equal(r.frames.length, 1);
  assert.equal(r.frames[0].hash, hashFrame(nodes[1].frame));
  const silent = r.peers.find((p) => p.peerId === nodes[2].peerId)!;
  assert.equal(silent.status, 'failed');
  assert.equal(silent.failure?.code, 'PEER_TIMEOUT');
});

test('a handshake signed by another key is refused and that peer is left out', async () => {
  const impostor = privateKeyToAccount(KEYS[3]);
  const { sched, nodes } = cohort(2, {
    sign: (i, m) => (i === 1 ? impostor.signMessage({ message: m }) : privateKeyToAccount(KEYS[0]).signMessage({ message: m })),
  });
  for (const n of nodes) n.ex.start();
  await settle();
  for (const n of nodes) n.ex.setOwnFrame(n.frame);
  await sched.advance(100);
  const r0 = await nodes[0].ex.finished;
  assert.equal(r0.frames.length, 0);
  assert.equal(r0.peers[0].failure?.code, 'BAD_SIGNATURE');
  assert.ok(nodes[0].events.some((e) => e.type === 'peer-failed' && e.code === 'BAD_SIGNATURE' && e.final));
});

test('links from non-members, or from members who should be dialled, are refused', async () => {
  const { nodes } = cohort(3);
  nodes[1].ex.start();
  const stranger = fakeLink('ig-zzz0000000000000');
  assert.equal(nodes[1].ex.accept(stranger), false);
  assert.equal(stranger.closed, true);
  // nodes[1] dials nodes[2] (smaller id), so an incoming link from nodes[2] is refused.
  const wrongWay = fakeLink(nodes[2].peerId);
  assert.equal(nodes[1].ex.accept(wrongWay), false);
  const rightWay = fakeLink(nodes[0].peerId);
  assert.equal(nodes[1].ex.accept(rightWay), true);
  nodes[1].ex.dispose();
});

async function acceptorWithLink() {
  const { sched, nodes, members } = cohort(2);
  const b = nodes[1];
  b.ex.start();
  const link = fakeLink(nodes[0].peerId);
  b.ex.accept(link);
  link.open();
  const a = privateKeyToAccount(KEYS[0]);
  const hs = JSON.stringify({
    address: members[0].address,
    peerId: members[0].peerId,
    round: ROUND,
    signature: await a.signMessage({ message: `idlegrad cohort\nrun: ${run.id}\nround: ${ROUND}\npeer: ${members[0].peerId}` }),
  });
  link.deliver(hs);
  await until(() => b.events.some((e) => e.type === 'verified'), 'handshake verification');
  return { sched, b, link };
}

test('a frame larger than the run allows is rejected before it is buffered', async () => {
  const { b, link } = await acceptorWithLink();
  const huge = new Uint8Array(200_000);
  link.deliver(splitFrame(huge, ROUND)[0]);
  const r = await b.ex.finished;
  assert.equal(r.peers[0].failure?.code, 'LIMIT_EXCEEDED');
  assert.equal(link.closed, true);
});

test('a copy of our own frame is refused as a duplicate', async () => {
  const { b, link } = await acceptorWithLink();
  b.ex.setOwnFrame(b.frame);
  for (const c of splitFrame(b.frame, ROUND)) link.deliver(c);
  const r = await b.ex.finished;
  assert.equal(r.peers[0].failure?.code, 'DUPLICATE');
  assert.equal(r.frames.length, 0);
});

test('a frame for another round is refused', async () => {
  const { b, link } = await acceptorWithLink();
  for (const c of splitFrame(frameFor(0, ROUND + 1), ROUND)) link.deliver(c);
  const r = await b.ex.finished;
  assert.equal(r.peers[0].failure?.code, 'STALE_ROUND');
});

test('a transfer that stalls mid-frame is dropped after idleMs', async () => {
  const { sched, b, link } = await acceptorWithLink();
  // Chunk 0 of 2 of a 1400-byte frame (within the run's cap), then silence.
  const chunk = new Uint8Array(20 + 700);
  const dv = new DataView(chunk.buffer);
  dv.setUint8(0, 1);
  dv.setUint32(4, ROUND, true);
  dv.setUint32(8, 0, true);
  dv.setUint32(12, 2, true);
  dv.setUint32(16, 1400, true);
  link.deliver(chunk);
  await until(() => b.ex.counts().verified === 1 && link.sent.length >= 1, 'the partial frame');
  await settle();
  await sched.advance(900);
  let done = false;
  void b.ex.finished.then(() => (done = true));
  await settle();
  assert.equal(done, false);
  await sched.advance(200);
  // The acceptor cannot redial; the peer goes back to waiting until the deadline.
  assert.ok(b.events.some((e) => e.type === 'peer-failed' && e.code === 'PEER_TIMEOUT' && /stalled/.test(e.message)));
  assert.equal(link.closed, true);
});

test('sendChunks waits for bufferedamountlow instead of polling', async () => {
  const link = fakeLink('ig-x');
  link.open();
  const ch = link.fake;
  const chunks = [new Uint8Array(100), new Uint8Array(100), new Uint8Array(100)];
  const origSend = link.send;
  link.send = (d) => {
    origSend(d);
    ch.bufferedAmount += (d as Uint8Array).byteLength;
  };
  const p = sendChunks(link, chunks, { highWaterBytes: 150, lowWaterBytes: 50 });
  await settle();
  assert.equal(link.sent.length, 2, 'stops once more than the high-water mark is buffered');
  assert.equal(ch.bufferedAmountLowThreshold, 50);
  ch.drainTo(100);
  await settle();
  assert.equal(link.sent.length, 2, 'still above the low-water mark: no event yet');
  ch.drainTo(0);
  await p;
  assert.equal(link.sent.length, 3);
});

test('sendChunks rejects when the channel closes while paused', async () => {
  const link = fakeLink('ig-x');
  link.open();
  link.fake.bufferedAmount = 10_000;
  const p = sendChunks(link, [new Uint8Array(1)], { highWaterBytes: 100, lowWaterBytes: 10 });
  link.close();
  await assert.rejects(p, /closed/);
});

test('a dialler whose link drops redials and completes', async () => {
  const { sched, net, nodes } = cohort(2);
  for (const n of nodes) n.ex.start();
  await settle();
  // Cut the first link before any frame is sent.
  net.links[0].b.close();
  await settle();
  await sched.advance(600);
  for (const n of nodes) n.ex.setOwnFrame(n.frame);
  await sched.advance(100);
  const [r0, r1] = await Promise.all(nodes.map((n) => n.ex.finished));
  assert.equal(net.links.length, 2);
  assert.equal(r0.frames.length, 1);
  assert.equal(r1.frames.length, 1);
});

// ---- links that persist across rounds (link-pool.ts) ------------------------------------

/** Pages that keep a LinkPool across rounds, as RoundRunner does: each round a new exchange over the kept links. */
function pages(n: number) {
  const sched = new ManualScheduler();
  const net = new FakeNetwork();
  const accounts = KEYS.slice(0, n).map((k) => privateKeyToAccount(k));
  const all = accounts.map((a, i) => ({ address: a.address.toLowerCase() as Address, peerId: `ig-${'abcdef'[i]}000000000000000` }));
  const list = all.map((self, i) => {
    const pool = new LinkPool(sched, (peerId, what) => page.poolEvents.push(`${peerId}: ${what}`));
    const page = {
      self,
      pool,
      poolEvents: [] as string[],
      ex: null as CohortExchange | null,
      events: [] as ExchangeEvent[],
      /** Round `round` with these members: the previous exchange parks its links, links to others close. */
      open(round: number, members: typeof all) {
        page.ex?.dispose();
        pool.keepOnly(new Set(members.map((m) => m.peerId)));
        const limits = peerUpdateLimits(run, round);
        const ex = new CohortExchange({
          run: run.id,
          round,
          self,
          members,
          endsAt: sched.now() + 10_000,
          maxFrameBytes: maxUpdateFrameBytes(
            run.paramCount,
            run.codec.chunkSize,
            kPerChunk(run.codec, run.codec.chunkSize),
            run.codec.bits,
            run.codec.indexCoding,
          ),
          decode: (b) => decodeFrame(b, limits),
          sign: (m) => accounts[i].signMessage({ message: m }),
          verify: verifyMessageSync,
          dial: (to) => net.dial(self.peerId, to),
          scheduler: sched,
          timeouts: { handshakeMs: 2_000, idleMs: 1_000, redialMs: 500, maxDials: 2 },
          onEvent: (e) => page.events.push(e),
          reuse: (peerId) => pool.take(peerId),
          park: (link, pending) => pool.park(link, 30_000, pending),
        });
        page.ex = ex;
        ex.start();
        return ex;
      },
    };
    net.register(self.peerId, (link) => page.ex?.accept(link));
    return page;
  });
  return { sched, net, pages: list, all };
}

async function exchangeRound(ps: ReturnType<typeof pages>, round: number, who: number[]) {
  const members = who.map((i) => ps.all[i]);
  const exs = who.map((i) => ps.pages[i].open(round, members));
  await settle();
  exs.forEach((ex, k) => ex.setOwnFrame(frameFor(10 * round + who[k], round)));
  await ps.sched.advance(100);
  return Promise.all(exs.map((ex) => ex.finished));
}

test("round r+1 runs over round r's links: no new dial, every frame in, each link marked reused", async () => {
  const ps = pages(3);
  const first = await exchangeRound(ps, ROUND, [0, 1, 2]);
  assert.ok(first.every((r) => r.frames.length === 2 && r.peers.every((p) => !p.reused)));
  assert.equal(ps.net.links.length, 3);
  for (const round of [ROUND + 1, ROUND + 2]) {
    const results = await exchangeRound(ps, round, [0, 1, 2]);
    assert.equal(ps.net.links.length, 3, `round ${round} dialled nothing`);
    results.forEach((r, i) => {
      assert.equal(r.frames.length, 2);
      assert.deepEqual(
        r.frames.map((f) => f.hash).sort(),
        [0, 1, 2]
          .filter((j) => j !== i)
          .map((j) => hashFrame(frameFor(10 * round + j, round)))
          .sort(),
      );
      assert.ok(r.peers.every((p) => p.status === 'complete' && p.reused));
    });
  }
  assert.ok(ps.net.links.every((l) => !l.a.closed && !l.b.closed));
});

test('a member that left the cohort has its link closed; the others keep theirs', async () => {
  const ps = pages(3);
  await exchangeRound(ps, ROUND, [0, 1, 2]);
  const results = await exchangeRound(ps, ROUND + 1, [0, 1]);
  ps.pages[2].ex!.dispose();
  assert.equal(ps.net.links.length, 3, 'nothing dialled');
  for (const l of ps.net.links) {
    const toLeaver = l.from === ps.all[2].peerId || l.to === ps.all[2].peerId;
    assert.equal(l.a.closed, toLeaver, `${l.from}→${l.to}`);
  }
  assert.ok(results.every((r) => r.frames.length === 1 && r.peers[0].reused));
  assert.equal(ps.pages[2].pool.size, 0, "the leaver's parked links closed with the others' ends");
});

test('a late chunk of the previous round on a kept link is refused as STALE_ROUND; the link and the round go on', async () => {
  const ps = pages(2);
  await exchangeRound(ps, ROUND, [0, 1]);
  const members = [ps.all[0], ps.all[1]];
  const [a, b] = [ps.pages[0].open(ROUND + 1, members), ps.pages[1].open(ROUND + 1, members)];
  await settle();
  // The dialler's end of the kept link, as node 1 sees it: deliver a chunk of round ROUND there.
  const late = splitFrame(frameFor(5, ROUND), ROUND)[0];
  ps.net.links[0].b.deliver(late);
  await settle();
  const stale = ps.pages[1].events.filter((e) => e.type === 'stale');
  assert.equal(stale.length, 1);
  assert.ok(stale[0].type === 'stale' && stale[0].code === 'STALE_ROUND' && /round 3 refused: this link is in round 4/.test(stale[0].message));
  a.setOwnFrame(frameFor(40, ROUND + 1));
  b.setOwnFrame(frameFor(41, ROUND + 1));
  await ps.sched.advance(100);
  const [ra, rb] = await Promise.all([a.finished, b.finished]);
  assert.equal(rb.frames[0]?.hash, hashFrame(frameFor(40, ROUND + 1)));
  assert.equal(ra.frames[0]?.hash, hashFrame(frameFor(41, ROUND + 1)));
  assert.equal(ps.net.links.length, 1);
});

test('a peer that reaches the next round first: its handshake moves the link to the pool, and our next exchange verifies it there', async () => {
  const ps = pages(2);
  const members = [ps.all[0], ps.all[1]];
  await exchangeRound(ps, ROUND, [0, 1]);
  // Node 0 already runs round ROUND+1; node 1's round-ROUND exchange is still open.
  const a = ps.pages[0].open(ROUND + 1, members);
  await settle();
  assert.equal(ps.pages[1].pool.size, 1, "node 0's handshake moved the link into node 1's pool");
  const b = ps.pages[1].open(ROUND + 1, members);
  await settle();
  a.setOwnFrame(frameFor(50, ROUND + 1));
  b.setOwnFrame(frameFor(51, ROUND + 1));
  await ps.sched.advance(100);
  const [ra, rb] = await Promise.all([a.finished, b.finished]);
  assert.equal(ra.frames.length, 1);
  assert.equal(rb.frames.length, 1);
  assert.ok(rb.peers[0].reused && ra.peers[0].reused);
  assert.equal(ps.net.links.length, 1);
});

test('a parked link nobody takes closes after keepMs; a chunk on it is dropped and said', async () => {
  const sched = new ManualScheduler();
  const events: string[] = [];
  const pool = new LinkPool(sched, (peerId, what) => events.push(`${peerId}: ${what}`));
  const link = fakeLink('ig-x');
  link.open();
  pool.park(link, 1_000);
  link.deliver(new Uint8Array(40));
  link.deliver('{"handshake":1}');
  link.deliver('{"handshake":2}');
  assert.match(events[0], /ig-x: dropped a 40-byte frame chunk/);
  await sched.advance(999);
  assert.equal(link.closed, false);
  const other = fakeLink('ig-y');
  other.open();
  pool.park(other, 5_000);
  await sched.advance(1);
  assert.equal(link.closed, true);
  assert.equal(pool.take('ig-x'), null);
  // The newest handshake is what a taker gets.
  other.deliver('{"h":"a"}');
  other.deliver('{"h":"b"}');
  assert.deepEqual(pool.take('ig-y')?.pending, ['{"h":"b"}']);
});
