import { test } from 'node:test';
import assert from 'node:assert/strict';
import { downsampleIndices, downsampleSeries, roundRates } from './dashboard.ts';
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
