// The round protocol against a real coordinator (PGlite ledger, anvil chain, HTTP/WS),
// with virtual volunteers that train on the CPU reference: a committed round that every
// peer reproduces, bad input rejected by name with the ledger unchanged, and a restart.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePrivateKey } from 'viem/accounts';
import { hexToBytes, type Hex } from 'viem';
import { configFromEnv } from '../coordinator/config.ts';
import { startPlatform, type Platform } from '../coordinator/platform.ts';
import { eip712Domain } from '../shared/eip712.ts';
import { encodeAggregate } from '../shared/codec.ts';
import { decodeDataset, VirtualVolunteer, type RoundMsg } from './virtual-volunteer.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'idlegrad-protocol-'));
const env = {
  IDLEGRAD_DATA_DIR: dataDir,
  PORT: '0',
  IDLEGRAD_RUN: JSON.stringify({ minVolunteers: 3, cohortSize: 3, inner: { steps: 3 }, timing: { trainMs: 4000, exchangeMs: 2000, reportMs: 4000 }, rewards: { epochRounds: 1 } }),
};
let platform: Platform | null = null;
const volunteers: VirtualVolunteer[] = [];
after(async () => {
  for (const v of volunteers) v.close();
  await platform?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const count = async (p: Platform) => Number((await p.ledger.sql.query<{ n: number }>('select count(*)::int as n from contributions')).rows[0].n);

async function playRound(vs: VirtualVolunteer[], data: ReturnType<typeof decodeDataset>) {
  const rounds = await Promise.all(vs.map((v) => v.next('round')));
  const updates = await Promise.all(vs.map((v, i) => v.train(rounds[i], data)));
  const agg = vs[0].aggregate(rounds[0].round, updates.map((u) => u.frame));
  const up = await vs[0].uploadAggregate(rounds[0].round, agg.bytes);
  assert.equal(up.status, 200, await up.clone().text());
  const acks = await Promise.all(vs.map((v, i) => v.report(v.contribution(rounds[i], updates[i], agg), agg.frameHashes)));
  for (const a of acks) assert.equal(a.type, 'ack', JSON.stringify(a));
  const committed = await Promise.all(vs.map((v) => v.next('committed')));
  return { rounds, updates, agg, committed };
}

test('three volunteers commit a round, reproduce the model hash, and bad input is refused by name', { timeout: 180_000 }, async () => {
  platform = await startPlatform(configFromEnv(env), () => {});
  const base = platform.url;
  for (let i = 0; i < 3; i++) volunteers.push(new VirtualVolunteer(base, generatePrivateKey()));
  await Promise.all(volunteers.map((v) => v.connect()));
  const data = decodeDataset(new Uint8Array(await (await fetch(new URL('api/data/train', base))).arrayBuffer()));
  assert.equal(data.count, platform.run.dataset.trainCount);
  for (const v of volunteers) v.send({ type: 'start' });

  const r0 = await playRound(volunteers, data);
  assert.equal(r0.committed[0].accepted, 3);
  for (let i = 0; i < 3; i++) assert.equal(await volunteers[i].applyCommitted(r0.committed[i]), true, `volunteer ${i} reaches the coordinator's model hash`);
  assert.equal(platform.engine.modelHash, r0.committed[0].modelHash);
  assert.notEqual(r0.committed[0].modelHash, r0.rounds[0].modelHash, 'the model changed');
  const states = await platform.ledger.contributionStates(platform.run.id);
  assert.equal((states.accepted ?? 0) + (states.batched ?? 0) + (states.claimable ?? 0), 3);

  // Round 1 is open: every bad report below must be refused with its reason, writing nothing.
  const [a, b] = volunteers;
  const r1 = await Promise.all(volunteers.map((v) => v.next('round')));
  const u = await a.train(r1[0], data);
  const agg = a.aggregate(r1[0].round, [u.frame]);
  const before = await count(platform);
  const expectRefusal = async (reply: unknown, code: string) => {
    assert.equal((reply as { type: string }).type, 'error', JSON.stringify(reply));
    assert.equal((reply as { code: string }).code, code, JSON.stringify(reply));
    assert.equal(await count(platform!), before, `ledger unchanged after ${code}`);
  };
  // Signed by another key.
  const c1 = a.contribution(r1[0], u, agg);
  await expectRefusal(await a.report(c1, agg.frameHashes, await b.sign(c1)), 'BAD_SIGNATURE');
  // Signed for another chain (foreign domain).
  const c2 = a.contribution(r1[0], u, agg);
  await expectRefusal(await a.report(c2, agg.frameHashes, await a.sign(c2, eip712Domain(1, a.chain.distributor))), 'BAD_SIGNATURE');
  // A nonce already used in round 0.
  const usedNonce = (await platform.ledger.sql.query<{ nonce: string }>('select nonce::text from contributions where account = $1', [a.address])).rows[0].nonce;
  await expectRefusal(await a.report(a.contribution(r1[0], u, agg, { nonce: BigInt(usedNonce) }), agg.frameHashes), 'REPLAYED_NONCE');
  // A stale round.
  await expectRefusal(await a.report(a.contribution(r1[0], u, agg, { round: 0 }), agg.frameHashes), 'STALE_ROUND');
  // More samples than the run allows.
  await expectRefusal(await a.report(a.contribution(r1[0], u, agg, { samples: 10_000_000 }), agg.frameHashes), 'LIMIT_EXCEEDED');
  // Garbage on the socket.
  a.send('{"type":"report","contribution":{"run":"x"}}');
  await expectRefusal(await a.next('error'), 'BAD_MESSAGE');

  // Frames: a wrong parameter-table hash, and lengths past the run's limits.
  const good = encodeAggregate(new Float32Array(platform.run.paramCount).fill(1e-3), platform.run.codec.chunkSize, { paramTableHash: platform.run.paramTableHash, run: platform.run.id, round: r1[0].round, samples: 1 });
  const wrongTable = good.slice();
  wrongTable.set(hexToBytes(`0x${'ab'.repeat(32)}` as Hex), 8);
  const r = await a.uploadAggregate(r1[0].round, wrongTable);
  assert.equal(r.status, 400);
  assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'SCHEMA_MISMATCH');
  const tooLong = good.slice();
  new DataView(tooLong.buffer).setUint32(64, 0x7fffffff, true); // totalK far past paramCount
  const r2 = await a.uploadAggregate(r1[0].round, tooLong);
  assert.equal(r2.status, 400);
  const body = (await r2.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'LIMIT_EXCEEDED', body.error.message);
  assert.equal(await count(platform), before);

  // The honest reports of round 1 still go through.
  const updates = [u, ...(await Promise.all([volunteers[1].train(r1[1], data), volunteers[2].train(r1[2], data)]))];
  const agg1 = a.aggregate(r1[0].round, updates.map((x) => x.frame));
  assert.equal((await a.uploadAggregate(r1[0].round, agg1.bytes)).status, 200);
  for (let i = 0; i < 3; i++) {
    const ack = await volunteers[i].report(volunteers[i].contribution(r1[i] as RoundMsg, updates[i], agg1), agg1.frameHashes);
    assert.equal(ack.type, 'ack', JSON.stringify(ack));
  }
  const c = await Promise.all(volunteers.map((v) => v.next('committed')));
  for (let i = 0; i < 3; i++) assert.equal(await volunteers[i].applyCommitted(c[i]), true);

  // The ledger survives a coordinator restart.
  const hash = platform.engine.modelHash;
  const rows = await count(platform);
  for (const v of volunteers) v.close();
  await platform.stop();
  platform = await startPlatform(configFromEnv(env), () => {});
  assert.equal(platform.engine.modelHash, hash);
  assert.equal(platform.engine.round, 2);
  assert.equal(await count(platform), rows);
  assert.equal((await platform.ledger.rounds(platform.run.id)).length, 2);
});
