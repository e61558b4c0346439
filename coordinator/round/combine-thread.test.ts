import { test, type TestContext } from 'node:test';
import { COMBINE_VERSIONS, type CombineVersion } from '../../shared/aggregate.ts';
import assert from 'node:assert/strict';
import { DEFAULT_RUN, runSpecOf } from '../../shared/config.ts';
import { decodeFrame, encodeAggregate, hashFrame } from '../../shared/codec.ts';
import { createRng, gaussian } from '../../shared/rng.ts';
import { aggregateLimits } from '../../shared/round.ts';
import { COMBINE_GROUP_SIZE, combineCohorts } from '../../shared/robust-combine.ts';
import { CombineThread } from './combine-thread.ts';
import { inSharedMemory } from './upload-check.ts';

for (const combineVersion of COMBINE_VERSIONS)
  test(
    `combine version ${combineVersion}: the combine on aggregation threads gives the same bytes, refusals and group records as in this thread (flat and hierarchical)`,
    { timeout: 120_000 },
    (t) => sameOnThreads(t, combineVersion),
  );

async function sameOnThreads(t: TestContext, combineVersion: CombineVersion): Promise<void> {
  const run = runSpecOf(3, { ...DEFAULT_RUN, sizes: [30, 20, 5], combineVersion }, { name: 'mnist', trainCount: 10, testCount: 10, features: 30, classes: 5 });
  const r = createRng(5);
  const direction = Float32Array.from({ length: run.paramCount }, () => gaussian(r));
  const aggregate = (k: number) => {
    const v = new Float32Array(run.paramCount);
    for (let i = 0; i < v.length; i++) if (r() < 0.2) v[i] = (k % 7 === 0 ? -3 : 1) * direction[i] + gaussian(r);
    const bytes = encodeAggregate(v, run.codec.chunkSize, { paramTableHash: run.paramTableHash, run: run.id, round: 4, samples: 100 + k });
    return { hash: hashFrame(bytes), frame: decodeFrame(bytes, aggregateLimits(run, 4)) };
  };
  const threads = new CombineThread(run, 2);
  t.after(() => threads.stop());
  // The combine falls back to this thread (with the same result) when a thread fails: it must not have.
  const fallbacks: string[] = [];
  t.mock.method(console, 'error', (m: string) => void fallbacks.push(m));
  for (const n of [6, 2 * COMBINE_GROUP_SIZE + 3]) {
    const aggregates = Array.from({ length: n }, (_, k) => aggregate(k));
    aggregates.push({ ...aggregates[1] }); // a duplicate
    const here = await combineCohorts(run, 4, aggregates);
    const there = await threads.combine(4, aggregates);
    assert.deepEqual(there.bytes, here.bytes, `${n} aggregates`);
    // As the upload thread hands them over (upload-check.ts inSharedMemory): the same combine.
    const shared = await threads.combine(
      4,
      aggregates.map((a) => ({ ...a, frame: inSharedMemory(a.frame) })),
    );
    assert.deepEqual(shared.bytes, here.bytes, `${n} aggregates in shared memory`);
    assert.deepEqual(shared.groups, here.groups);
    assert.deepEqual(there.excluded, here.excluded);
    assert.deepEqual(there.groups, here.groups);
    assert.equal(there.version, combineVersion);
    assert.equal(here.groups.length, n > COMBINE_GROUP_SIZE ? 3 + 1 : 1);
    assert.deepEqual(here.excluded.filter((x) => x.reason === 'duplicate').length, 1);
  }
  assert.deepEqual(fallbacks, [], 'every step ran on the threads');
}
