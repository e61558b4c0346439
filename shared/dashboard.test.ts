import { test } from 'node:test';
import assert from 'node:assert/strict';
import { downsampleIndices, downsampleSeries, risingLoss, roundRates } from './dashboard.ts';
import type { RoundSummary } from './wire/http.ts';

const round = (r: number, committedAt: number, samples: number, updateBytes: number): RoundSummary => ({
  round: r,
  modelHash: '0x00',
  committedAt,
  heldOutAccuracy: 0.5,
  heldOutLoss: 1,
  trainLoss: 1,
  contributions: 1,
  samples,
  volunteers: 1,
  updateBytes,
});

test('round rates: samples/s and GFLOP/s between consecutive commits, compression vs dense', () => {
  const rates = roundRates([round(0, 1_000, 500, 0), round(1, 3_000, 1000, 1000), round(3, 9_000, 1000, 500)], { denseBytes: 200_000, flopsPerSample: 1e6 });
  assert.deepEqual(rates[0], { round: 0, seconds: null, samplesPerSecond: null, gflops: null, compression: null });
  assert.deepEqual(rates[1], { round: 1, seconds: 2, samplesPerSecond: 500, gflops: 0.5, compression: 200 });
  // Round 2 is missing: no rate across the gap rather than a wrong one.
  assert.equal(rates[2].samplesPerSecond, null);
  assert.equal(rates[2].compression, 400);
});

test('downsampling 1,000 rounds keeps ≤ max points, the extremes and the last point', () => {
  const xs = Array.from({ length: 1000 }, (_, i) => i);
  const ys = xs.map((i) => Math.sin(i / 20));
  ys[417] = 50; // a spike
  ys[600] = null as unknown as number;
  const idx = downsampleIndices(ys, 300);
  assert.ok(idx.length <= 301, `${idx.length} points`);
  assert.ok(idx.includes(417));
  assert.equal(idx.at(-1), 999);
  assert.deepEqual(
    [...idx].sort((a, b) => a - b),
    idx,
  );
  const two = downsampleSeries(xs, [ys, xs.map((i) => -i)], 300);
  assert.ok(two.x.length <= 602 && two.x.length > 100, `${two.x.length} points`);
  assert.equal(two.ys[1][two.x.indexOf(417)], -417, 'series stay aligned with x');
  assert.deepEqual(downsampleSeries([1, 2], [[3, 4]], 300), { x: [1, 2], ys: [[3, 4]] });
});

test('rising loss: the streak of consecutive rises that ends at the last round, broken by a fall, a gap or a non-finite loss', () => {
  const of = (...losses: number[]) => losses.map((heldOutLoss, round) => ({ round, heldOutLoss }));
  assert.equal(risingLoss([]), null);
  assert.equal(risingLoss(of(0.5)), null);
  assert.equal(risingLoss(of(0.5, 0.4, 0.3)), null);
  assert.equal(risingLoss(of(0.5, 0.4, 0.4)), null, 'an equal loss is not a rise');
  assert.deepEqual(risingLoss(of(0.5, 0.3, 0.31)), { rounds: 1, since: 1 });
  assert.deepEqual(risingLoss(of(0.9, 0.2, 0.25, 0.3, 0.4)), { rounds: 3, since: 1 });
  assert.deepEqual(risingLoss(of(0.2, 0.3, 0.1, 0.2, 0.3)), { rounds: 2, since: 2 }, 'only the latest streak counts');
  assert.equal(risingLoss(of(0.2, 0.3, 0.4, 0.3)), null, 'a fall at the end ends it');
  const gap = [
    { round: 0, heldOutLoss: 0.2 },
    { round: 1, heldOutLoss: 0.3 },
    { round: 3, heldOutLoss: 0.4 },
    { round: 4, heldOutLoss: 0.5 },
  ];
  assert.deepEqual(risingLoss(gap), { rounds: 1, since: 3 }, 'no rise is counted across an uncommitted round');
  assert.deepEqual(risingLoss(of(0.2, NaN, 0.3, 0.4)), { rounds: 1, since: 2 });
});
