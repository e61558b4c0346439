import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testGpu } from '../test-gpu.ts';
import { autotuneMatmul, matmulTuneKey, type MatmulTuneStore } from './autotune.ts';
import { MATMUL_CANDIDATES, matmulConfigFor } from './matmul.ts';

const { ctx } = await testGpu();
const candidates = [MATMUL_CANDIDATES[0], MATMUL_CANDIDATES[MATMUL_CANDIDATES.length - 1]];
const shapes = [{ M: 40, N: 24, K: 36 }];

function mapStore(): MatmulTuneStore & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, get: (k) => map.get(k), set: (k, v) => void map.set(k, v) };
}

test('autotune measures every candidate once, stores the fastest, then answers from memory', async () => {
  const store = mapStore();
  const first = await autotuneMatmul(ctx, { store, candidates, shapes, reps: 1 });
  assert.equal(first.source, 'measured');
  assert.equal(first.timings?.length, candidates.length);
  const best = first.timings!.reduce((x, y) => (y.ms < x.ms ? y : x));
  assert.deepEqual(first.config, best.config);
  assert.deepEqual(JSON.parse(store.map.get(first.key)!), first.config);
  assert.equal(matmulConfigFor(ctx.device), first.config);
  const again = await autotuneMatmul(ctx, { store, candidates, shapes, reps: 1 });
  assert.equal(again.source, 'memory');
  assert.equal(again.key, first.key);
});

test('autotune keys by adapter, takes a stored choice, and re-measures a stale one', async () => {
  const other = { ...ctx, adapter: { ...ctx.adapter, description: 'another adapter' } };
  assert.notEqual(matmulTuneKey(other.adapter, other.limits), matmulTuneKey(ctx.adapter, ctx.limits));
  const third = { ...ctx, adapter: { ...ctx.adapter, description: 'a third adapter' } };
  const probe = await autotuneMatmul(third, {
    store: { get: () => JSON.stringify({ wg: [3, 3], tiled: true, bk: 4 }), set: () => {} },
    candidates,
    shapes,
    reps: 1,
  });
  assert.equal(probe.source, 'measured', 'a stored config that is no candidate is ignored');

  const fourth = { ...ctx, adapter: { ...ctx.adapter, description: 'a fourth adapter' } };
  const store = mapStore();
  store.map.set(matmulTuneKey(fourth.adapter, fourth.limits), JSON.stringify(candidates[1]));
  const stored = await autotuneMatmul(fourth, { store, candidates, shapes, reps: 1 });
  assert.equal(stored.source, 'store');
  assert.deepEqual(stored.config, candidates[1]);
});
