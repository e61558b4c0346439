// The combine versions (shared/aggregate.ts CombineVersion) on a round's realistic inputs: the
// default MLP's 50,890 parameters, per cohort of 8 a 7-member aggregate at 1 − (1 − ρ)^7 and a
// relay member's frame at ρ = 3 % (e2e/scale-inputs.ts, as `npm run load` and `npm run scale`
// build them), 300 of them: five level-1 groups and one level-2 group. Version 2 is a different
// float64 formulation of the same centered-clip: other bits, within 1e-5 of version 1 in relative
// L2, deterministic, and what an auditor redoes from the record's version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Hex } from 'viem';
import { aggregateUpdates, COMBINE_VERSIONS, combineScreened, type CombineVersion } from './aggregate.ts';
import { decodeFrame, encodeAggregate, hashFrame, toDense } from './codec.ts';
import { DEFAULT_RUN, runSpecOf, validateRunSettings } from './config.ts';
import { createRng, shuffle } from './rng.ts';
import { aggregateLimits } from './round.ts';
import { auditCombine, combineCohorts, parseCombineRecord, runCombineVersion } from './robust-combine.ts';
import { sparseUpdates } from '../e2e/scale-inputs.ts';

const dataset = { name: 'mnist' as const, trainCount: 1000, testCount: 64, features: 784, classes: 10 };
const runAt = (combineVersion?: CombineVersion) => runSpecOf(1, { ...DEFAULT_RUN, combineVersion }, dataset);
const ROUND = 3;

/** `cohorts` cohorts' aggregates (7 members) and relay frames; the first `flipped` cohorts' aggregates sign-flipped ×3. */
function roundInputs(cohorts: number, seed: number, flipped = 0) {
  const run = runAt(1);
  const rho = run.codec.density;
  const next = sparseUpdates(run, seed);
  const limits = aggregateLimits(run, ROUND);
  const frame = (density: number, samples: number, sign = 1) => {
    const { dense } = next(density);
    if (sign !== 1) for (let i = 0; i < dense.length; i++) dense[i] *= sign;
    const bytes = encodeAggregate(dense, run.codec.chunkSize, { paramTableHash: run.paramTableHash, run: run.id, round: ROUND, samples });
    return { hash: hashFrame(bytes), bytes, frame: decodeFrame(bytes, limits) };
  };
  return Array.from({ length: cohorts }, (_, c) => [frame(1 - (1 - rho) ** 7, 7 * 800, c < flipped ? -3 : 1), frame(rho, 800)]).flat();
}

const relativeL2 = (a: Float32Array, b: Float32Array) => {
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) ((d += (a[i] - b[i]) ** 2), (n += a[i] ** 2));
  return Math.sqrt(d / n);
};
const updateOf = (bytes: Uint8Array) => toDense(decodeFrame(bytes, aggregateLimits(runAt(1), ROUND)));

test(
  'version 2 is within 1e-5 of version 1 on realistic inputs (clean and 20 % sign-flipped), in other bits; a spec without a version combines as 1',
  { timeout: 120_000 },
  async () => {
    for (const flipped of [0, 30]) {
      const inputs = roundInputs(150, 11 + flipped, flipped);
      const [v1, v2] = await Promise.all(COMBINE_VERSIONS.map((v) => combineCohorts(runAt(v), ROUND, inputs)));
      assert.deepEqual([v1.version, v2.version], [1, 2]);
      const what = `${inputs.length} aggregates, ${flipped} sign-flipped`;
      assert.deepEqual(
        v1.groups.map((g) => g.level),
        [1, 1, 1, 1, 1, 2],
        what,
      );
      // The same groups (membership is a function of the input hashes) and refusals, other outputs.
      assert.deepEqual(
        v2.groups.filter((g) => g.level === 1).map((g) => g.inputs),
        v1.groups.filter((g) => g.level === 1).map((g) => g.inputs),
      );
      assert.deepEqual(v2.excluded, v1.excluded, what);
      assert.notDeepEqual(v2.bytes, v1.bytes, `${what}: version 2 is another formulation`);
      const rel = relativeL2(updateOf(v1.bytes), updateOf(v2.bytes));
      assert.ok(rel < 1e-5, `${what}: relative L2 of the two updates ${rel}`);
      // Absent is 1: a spec made before versions keeps its bytes.
      assert.equal(runCombineVersion(runAt(undefined)), 1);
      if (flipped === 0) assert.deepEqual((await combineCohorts(runAt(undefined), ROUND, inputs)).bytes, v1.bytes, what);
    }
  },
);

test(
  'version 2 is deterministic: the same bytes twice and in any input order; the auditor redoes it from its record, and only at its version',
  { timeout: 120_000 },
  async () => {
    const inputs = roundInputs(150, 23);
    const run = runAt(2);
    const got = await combineCohorts(run, ROUND, inputs);
    assert.deepEqual((await combineCohorts(run, ROUND, inputs)).bytes, got.bytes);
    const shuffled = [...inputs];
    shuffle(shuffled, createRng(4));
    assert.deepEqual((await combineCohorts(run, ROUND, shuffled)).bytes, got.bytes);

    const held = new Map<Hex, Uint8Array>(inputs.map((i) => [i.hash, i.bytes]));
    const record = parseCombineRecord(JSON.parse(JSON.stringify({ run: run.id, round: ROUND, version: got.version, groups: got.groups })));
    const audit = auditCombine(run, record, (h) => held.get(h));
    assert.deepEqual(audit.mismatches, []);
    assert.equal(audit.matched, got.groups.length);
    assert.deepEqual(audit.combined, got.bytes);
    // The same record redone as version 1 does not pass. (A group's two float64 results can round
    // to the same float32 values: at 50,890 parameters some level-1 groups do; the round's update does not.)
    const asV1 = auditCombine(run, { ...record, version: 1 }, (h) => held.get(h));
    assert.ok(asV1.matched < got.groups.length, `${asV1.matched} of ${got.groups.length} groups matched as version 1`);
    assert.equal(asV1.combined, null);
    assert.match(asV1.mismatches.at(-1)!.detail, /redone output 0x[0-9a-f]{64} \(\d+ samples\), recorded|is not held/);
  },
);

test('without iterations (trimmed mean, or centered-clip at 0 iterations) the versions are the same bits', () => {
  const inputs = roundInputs(20, 31);
  const run = runAt(1);
  for (const aggregator of [
    { ...run.aggregator, kind: 'trimmed-mean' as const },
    { ...run.aggregator, iterations: 0 },
  ]) {
    const [a, b] = COMBINE_VERSIONS.map((v) => aggregateUpdates(inputs, run.paramCount, aggregator, v).dense);
    assert.ok(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)), JSON.stringify(aggregator));
  }
});

test('an unknown combine version is refused by name: in a run spec, a record, and the combine itself', () => {
  assert.throws(
    () => validateRunSettings({ ...DEFAULT_RUN, combineVersion: 3 as CombineVersion }),
    /^Error: run\.combineVersion: expected one of 1, 2, got 3$/,
  );
  assert.doesNotThrow(() => validateRunSettings({ ...DEFAULT_RUN, combineVersion: undefined }));
  const group = { level: 1, inputs: [`0x${'ab'.repeat(32)}`], output: `0x${'cd'.repeat(32)}`, samples: 1 };
  assert.throws(
    () => parseCombineRecord({ run: 1, round: 0, version: '2', groups: [group] }),
    /combine record version: unknown combine version "2" \(this code knows 1, 2\): this auditor cannot redo the round's combine/,
  );
  assert.equal(parseCombineRecord({ run: 1, round: 0, groups: [group] }).version, 1, 'a record without a version reads as 1');
  assert.throws(() => combineScreened([], [], 4, DEFAULT_RUN.aggregator, 0 as CombineVersion), /unknown combine version 0/);
  assert.throws(() => runCombineVersion({ combineVersion: 9 as CombineVersion }), /run\.combineVersion: unknown combine version 9/);
});
