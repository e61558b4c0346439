// The combine audit (e2e/combine-audit.ts) against a coordinator's replies held in memory: a run
// with the exact download whose round 0 is honest, round 1 publishes an update that is not its
// combine's last frame, round 2 applied nothing (no record) and round 3 is open. The platform case
// (an honest record, a forged one, frames no longer served) is e2e/audit.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Hex } from 'viem';
import { decodeFrame, encodeAggregate, hashFrame } from '../shared/codec.ts';
import { DEFAULT_RUN, runSpecOf } from '../shared/config.ts';
import { aggregateLimits } from '../shared/round.ts';
import { combineCohorts } from '../shared/robust-combine.ts';
import { auditCombines } from './combine-audit.ts';
import { sparseUpdates } from './scale-inputs.ts';

const run = runSpecOf(1, { ...DEFAULT_RUN, globalUpdate: 'exact' }, { name: 'mnist', trainCount: 1000, testCount: 64, features: 784, classes: 10 });
const chain = { chainId: 31337, distributor: `0x${'d1'.padStart(40, '0')}`, token: `0x${'d2'.padStart(40, '0')}`, rpcUrl: '/rpc' };

/** Four cohort aggregates of one round and their combine. */
async function round(r: number) {
  const next = sparseUpdates(run, 40 + r);
  const aggregates = Array.from({ length: 4 }, () => {
    const bytes = encodeAggregate(next(0.2).dense, run.codec.chunkSize, { paramTableHash: run.paramTableHash, run: run.id, round: r, samples: 800 });
    return { hash: hashFrame(bytes), bytes, frame: decodeFrame(bytes, aggregateLimits(run, r)) };
  });
  const combined = await combineCohorts(run, r, aggregates);
  return { aggregates: new Map(aggregates.map((a) => [a.hash, a.bytes])), combined };
}

test("the exact download: a round whose published update is its combine's last frame matches; one that publishes other bytes is a mismatch naming it", async () => {
  const rounds = [await round(0), await round(1)];
  const published = [rounds[0].combined.bytes, rounds[0].combined.bytes];
  const asked: string[] = [];
  const reply = (path: string): Response => {
    asked.push(path);
    const m = /^\/api\/runs\/1\/(?:rounds\/(\d+)\/(combine|aggregates\/(0x[0-9a-f]{64}))|updates\/(\d+))$/.exec(path);
    if (path === '/api/run') return Response.json({ run, round: 3, modelHash: `0x${'ab'.repeat(32)}`, chain });
    if (!m) return new Response('no route', { status: 404 });
    const r = Number(m[1] ?? m[4]);
    if (r >= rounds.length) return new Response('none', { status: 404 });
    if (m[4]) return new Response(Buffer.from(published[r]));
    if (m[2] === 'combine') return Response.json({ run: run.id, round: r, version: rounds[r].combined.version, groups: rounds[r].combined.groups });
    const bytes = rounds[r].aggregates.get(m[3] as Hex);
    return bytes ? new Response(Buffer.from(bytes)) : new Response('not kept', { status: 404 });
  };
  const result = await auditCombines({ url: 'http://coordinator.test/', fetch: async (u) => reply(new URL(String(u)).pathname) });
  const last = rounds[1].combined.groups.length - 1;
  assert.deepEqual(result, {
    rounds: 3,
    matched: 1,
    mismatches: [{ round: 1, level: rounds[1].combined.groups[last].level, group: last, detail: "the published update is not the combine's last frame" }],
    unchecked: [],
    withoutCombine: 1,
  });
  assert.equal(asked.filter((p) => p.includes('/aggregates/')).length, 8, 'every level-1 input of both rounds was fetched');
});
