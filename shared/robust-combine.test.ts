import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Hex } from 'viem';
import { aggregateUpdates, COPYCAT_EXHAUSTIVE } from './aggregate.ts';
import { decodeFrame, encodeAggregate, hashFrame, toDense } from './codec.ts';
import { DEFAULT_RUN, runSpecOf } from './config.ts';
import { createRng, gaussian, shuffle } from './rng.ts';
import { aggregateLimits } from './round.ts';
import { COMBINE_GROUP_SIZE, combineCohorts, combineGroup, groupsOf, runCombineVersion, type GroupInput } from './robust-combine.ts';

const run = runSpecOf(
  5,
  { ...DEFAULT_RUN, sizes: [20, 10, 4], codec: { density: 0.1, bits: 8, chunkSize: 64 } },
  { name: 'mnist', trainCount: 10, testCount: 10, features: 20, classes: 4 },
);

test("combineCohorts: the run's robust aggregator bounds an outlying cohort and refuses a copied one", async () => {
  const aggregate = (seed: number, scale: number) => {
    const v = new Float32Array(run.paramCount).map((_, i) => Math.cos(seed * 7 + i) * 0.01 * scale + 0.01);
    const bytes = encodeAggregate(v, run.codec.chunkSize, { paramTableHash: run.paramTableHash, run: run.id, round: 2, samples: 96 });
    return { hash: hashFrame(bytes), frame: decodeFrame(bytes, aggregateLimits(run, 2)), v };
  };
  const honest = [aggregate(1, 1), aggregate(2, 1), aggregate(3, 1)];
  const outlier = aggregate(4, -1000);
  const norm = (x: Float32Array) => Math.hypot(...x);
  const combined = await combineCohorts(run, 2, [...honest, outlier]);
  const g = toDense(decodeFrame(combined.bytes, aggregateLimits(run, 2)));
  assert.equal(decodeFrame(combined.bytes, aggregateLimits(run, 2)).header.samples, 4 * 96);
  assert.ok(norm(g) < 3 * Math.max(...honest.map((h) => norm(h.v))), `combined norm ${norm(g)}`);
  const plainMean = await combineCohorts({ ...run, aggregator: { kind: 'mean', clip: 0 } }, 2, [...honest, outlier]);
  assert.ok(norm(toDense(decodeFrame(plainMean.bytes, aggregateLimits(run, 2)))) > 100 * norm(g), 'the mean control follows the outlier');
  // A re-encoded near copy of a cohort's aggregate adds no weight.
  const copy = { ...aggregate(1, 1.0001) };
  const withCopy = await combineCohorts(run, 2, [...honest, copy]);
  assert.deepEqual(
    withCopy.excluded.map((x) => x.reason),
    ['copycat'],
  );
  // Deterministic: the same aggregates in any order give the same bytes.
  assert.deepEqual((await combineCohorts(run, 2, [outlier, ...honest].reverse())).bytes, combined.bytes);
});

/** n cohort aggregates of `run`: a common direction plus as much noise on a support of density 0.2; `bad` of them sign-flipped ×3. */
export function aggregatesOf(n: number, seed: number, bad = 0) {
  const r = createRng(seed);
  const direction = Float32Array.from({ length: run.paramCount }, () => gaussian(r));
  const out = Array.from({ length: n }, (_, k) => {
    const v = new Float32Array(run.paramCount);
    for (let i = 0; i < v.length; i++) if (r() < 0.2) v[i] = (k < bad ? -3 : 1) * direction[i] + gaussian(r);
    const bytes = encodeAggregate(v, run.codec.chunkSize, { paramTableHash: run.paramTableHash, run: run.id, round: 2, samples: 64 + k });
    return { hash: hashFrame(bytes), frame: decodeFrame(bytes, aggregateLimits(run, 2)) };
  });
  return { direction, aggregates: out };
}

const cosine = (a: Float32Array, b: Float32Array) => {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) ((d += a[i] * b[i]), (na += a[i] * a[i]), (nb += b[i] * b[i]));
  return d / Math.sqrt(na * nb);
};

test('up to COMBINE_GROUP_SIZE aggregates the combine is one group, bit-identical to the flat combine', async () => {
  for (const n of [1, 5, COMBINE_GROUP_SIZE]) {
    const { aggregates } = aggregatesOf(n, n, Math.floor(n / 5));
    const got = await combineCohorts(run, 2, aggregates);
    const flat = aggregateUpdates(aggregates, run.paramCount, run.aggregator, runCombineVersion(run));
    const bytes = encodeAggregate(flat.dense, run.codec.chunkSize, { paramTableHash: run.paramTableHash, run: run.id, round: 2, samples: flat.samples });
    assert.deepEqual(got.bytes, bytes, `${n} aggregates`);
    assert.deepEqual(got.excluded, flat.excluded);
    assert.equal(got.groups.length, 1);
    assert.deepEqual(got.groups[0], {
      level: 1,
      inputs: [...flat.included, ...flat.excluded.filter((x) => x.reason === 'opposed').map((x) => x.hash)].sort(),
      output: hashFrame(bytes),
      samples: flat.samples,
    });
  }
});

test('past COMBINE_GROUP_SIZE: groups of near-equal size, each redone by an auditor from its record; order-independent; robust', async () => {
  const n = 3 * COMBINE_GROUP_SIZE + 10;
  const bad = Math.floor(n * 0.2);
  const { direction, aggregates } = aggregatesOf(n, 9, bad);
  // A near-copy of one aggregate, which lands in another group: the screen runs over all of them.
  const victim = aggregates[bad + 1];
  const copyValues = new Float32Array(run.paramCount);
  victim.frame.indices.forEach((i, j) => (copyValues[i] = victim.frame.values[j] * 1.0001));
  const copyBytes = encodeAggregate(copyValues, run.codec.chunkSize, { paramTableHash: run.paramTableHash, run: run.id, round: 2, samples: 64 });
  const copy = { hash: hashFrame(copyBytes), frame: decodeFrame(copyBytes, aggregateLimits(run, 2)) };
  const all = [...aggregates, copy];
  assert.ok(all.length > COPYCAT_EXHAUSTIVE);
  const got = await combineCohorts(run, 2, all);
  const refusedCopy = [victim.hash, copy.hash].sort()[1];
  assert.deepEqual(
    got.excluded.filter((x) => x.reason === 'copycat').map((x) => x.hash),
    [refusedCopy],
    'the copy is refused whichever group it would be in',
  );
  // Level 1: ⌈kept / 64⌉ groups of near-equal size that partition the kept aggregates; level 2: one group of their frames.
  const level1 = got.groups.filter((g) => g.level === 1);
  const kept = all.map((a) => a.hash).filter((h) => h !== refusedCopy);
  assert.equal(level1.length, Math.ceil(kept.length / COMBINE_GROUP_SIZE));
  assert.ok(Math.max(...level1.map((g) => g.inputs.length)) - Math.min(...level1.map((g) => g.inputs.length)) <= 1);
  assert.deepEqual(level1.flatMap((g) => g.inputs).sort(), kept.sort());
  assert.deepEqual(
    level1.map((g) => g.inputs),
    groupsOf(kept),
  );
  const top = got.groups.filter((g) => g.level === 2);
  assert.equal(top.length, 1);
  assert.deepEqual(top[0].inputs, level1.map((g) => g.output).sort());
  assert.equal(top[0].output, hashFrame(got.bytes));
  assert.equal(top[0].samples, decodeFrame(got.bytes, aggregateLimits(run, 2)).header.samples);
  // An auditor with the inputs redoes every group and reaches its recorded hash and samples.
  const byHash = new Map<Hex, GroupInput>(all.map((a) => [a.hash, a]));
  for (const g of level1) {
    const out = combineGroup(
      run,
      2,
      1,
      g.inputs.map((h) => byHash.get(h)!),
    );
    assert.equal(out.hash, g.output);
    assert.equal(out.samples, g.samples);
    byHash.set(out.hash, { hash: out.hash, bytes: out.bytes });
  }
  assert.equal(
    combineGroup(
      run,
      2,
      2,
      top[0].inputs.map((h) => byHash.get(h)!),
    ).hash,
    top[0].output,
  );
  // The same aggregates in any order: the same bytes.
  const shuffled = [...all];
  shuffle(shuffled, createRng(3));
  assert.deepEqual((await combineCohorts(run, 2, shuffled)).bytes, got.bytes);
  // 20 % sign-flipped ×3 spread over the groups: the update still points along the honest direction, as the flat combine's does.
  const g = toDense(decodeFrame(got.bytes, aggregateLimits(run, 2)));
  const flat = aggregateUpdates(all, run.paramCount, run.aggregator).dense;
  assert.ok(cosine(g, direction) > 0.9, `hierarchical: cosine ${cosine(g, direction)} to the honest direction`);
  assert.ok(cosine(g, flat) > 0.95, `hierarchical vs flat: cosine ${cosine(g, flat)}`);
});
