import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../shared/rng.ts';
import { assertClose, randomDataset, testGpu } from '../test-gpu.ts';
import { gatherBatchGpu, GATHER_WG } from './gather_batch.ts';
import { gatherBatchRef } from './gather_batch.ref.ts';

const { cache } = await testGpu();

test('gathered batch matches shared/mlp.ts gatherBatch (odd feature counts, unaligned bytes)', async () => {
  const rand = createRng(9);
  // features = 7 puts samples at byte offsets that are not word-aligned; 37 samples → odd label
  // words; features = 8 takes the one-word-per-invocation path that 784 (MNIST) takes.
  for (const [count, features, rows] of [
    [37, 7, 5],
    [20, 13, 20],
    [11, 3, GATHER_WG + 1],
    [9, 8, 70],
  ]) {
    const data = randomDataset(count, features, 10, rand);
    const idx = Uint32Array.from({ length: rows }, () => Math.floor(rand() * count));
    idx[0] = count - 1; // the last sample, whose bytes end inside a padded word
    const got = await gatherBatchGpu(cache, data, idx);
    const want = gatherBatchRef(data, idx);
    assertClose(got.x, want.x, { atol: 0, rtol: 1e-7 }, `x (${count}, ${features}) rows ${rows}`);
    assert.deepEqual([...got.y], [...want.y]);
  }
});

test('indices outside the dataset and bad labels are refused before any GPU work', async () => {
  const data = randomDataset(4, 3, 2, createRng(10));
  await assert.rejects(gatherBatchGpu(cache, data, Uint32Array.from([0, 4])), /index 4 at position 1 outside dataset of 4/);
  await assert.rejects(gatherBatchGpu(cache, { ...data, classes: 1, labels: Uint8Array.from([0, 0, 1, 0]) }, Uint32Array.from([0])), /label 1 at 2/);
});
