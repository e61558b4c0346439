import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../../shared/rng.ts';
import { encodeUpdate, kPerChunk, decodeFrame, frameLimits } from '../../../shared/codec.ts';
import { assertClose, randomArray, testGpu } from '../../test-gpu.ts';
import { chunkThresholds, codecStats, CODEC_HIST_BINS } from './codec_stats.ts';
import { chunkStatsRef, pseudoGradRef } from './codec_stats.ref.ts';

const { cache } = await testGpu();

test('pseudo-gradient and per-chunk max |v| and histogram match the CPU reference', async () => {
  const rand = createRng(90);
  // Chunks not multiples of the workgroup; a short last chunk; a single partial chunk; an all-zero chunk.
  for (const [count, chunkSize] of [
    [1, 16],
    [1000, 97],
    [5 * 64 + 7, 64],
    [300, 4096],
  ]) {
    const start = randomArray(count, rand);
    const current = randomArray(count, rand);
    const residual = randomArray(count, rand, -0.1, 0.1);
    if (count === 1000) current.set(start.subarray(97, 194), 97); // chunk 1: Δ = 0, residual alone
    if (count === 1000) residual.fill(0, 97, 194); //           … and residual 0: an all-zero chunk
    const got = await codecStats(cache, { start, current, residual }, chunkSize);
    assertClose(got.v, pseudoGradRef(start, current, residual), { atol: 0, rtol: 0 }, `v (${count}, ${chunkSize})`);
    const want = chunkStatsRef(got.v, chunkSize);
    assertClose(got.maxabs, want.maxabs, { atol: 0, rtol: 0 }, `maxabs (${count}, ${chunkSize})`);
    assertClose(got.hist, want.hist, { atol: 0, rtol: 0 }, `hist (${count}, ${chunkSize})`);
    for (let c = 0; c < want.maxabs.length; c++) {
      const n = got.hist.subarray(c * CODEC_HIST_BINS, (c + 1) * CODEC_HIST_BINS).reduce((a, b) => a + b, 0);
      assert.equal(n, Math.min(chunkSize, count - c * chunkSize), `chunk ${c} histogram counts every value once`);
    }
  }
});

test('thresholds from the GPU statistics keep every value of the codec’s top-k', async () => {
  const rand = createRng(91);
  const [count, chunkSize, density] = [2000, 300, 0.05];
  const start = randomArray(count, rand);
  const current = start.map((v, i) => v - (rand() - 0.5) * (i % 7 === 0 ? 1 : 0.01)); // heavy tail
  const { v, maxabs, hist } = await codecStats(cache, { start, current }, chunkSize);
  const thr = chunkThresholds(maxabs, hist, (c) => kPerChunk({ density }, Math.min(chunkSize, count - c * chunkSize)));
  const cfg = { density, bits: 32 as const, chunkSize };
  const args = { paramTableHash: `0x${'ab'.repeat(32)}` as const, run: 1, round: 1, samples: 1 };
  const frame = decodeFrame(encodeUpdate(v, cfg, args).bytes, frameLimits({ ...args, paramCount: count, codec: cfg, maxSamples: 1 }));
  let candidates = 0;
  for (let i = 0; i < count; i++) if (Math.abs(v[i]) >= thr[Math.floor(i / chunkSize)]) candidates++;
  for (const i of frame.indices) assert.ok(Math.abs(v[i]) >= thr[Math.floor(i / chunkSize)], `top-k value ${i} below its chunk threshold`);
  // The point of the statistics: far fewer candidates than values to read back and sort.
  assert.ok(candidates < count / 4, `${candidates} candidates of ${count}`);
});
