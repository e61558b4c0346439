import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testGpu } from '../test-gpu.ts';
import { autotuneMatmul, matmulTuneKey, PRUNE_FACTOR, type MatmulTuneStore } from './autotune.ts';
import { MATMUL_CANDIDATES, matmulConfigFor } from './matmul.ts';

const { ctx } = await testGpu();
const candidates = [MATMUL_CANDIDATES[0], MATMUL_CANDIDATES.find((c) => !c.tiled && !c.subgroups)!];
// Never timed at the default precision ('f32'), whether or not the device has shader-f16.
const f16 = MATMUL_CANDIDATES.find((c) => c.f16)!;
const shapes = [{ M: 40, N: 24, K: 36 }];

function mapStore(): MatmulTuneStore & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, get: (k) => map.get(k), set: (k, v) => void map.set(k, v) };
}

test('autotune measures every candidate once, stores the fastest, then answers from memory', async () => {
  const store = mapStore();
  const first = await autotuneMatmul(ctx, { store, candidates: [...candidates, f16], shapes, reps: 1 });
  assert.equal(first.source, 'measured');
  assert.deepEqual(
    first.timings?.map((t) => t.config),
    candidates,
    'the f16 candidate was timed at precision f32',
  );
  const best = first.timings!.reduce((x, y) => (y.ms < x.ms ? y : x)); // one shape: nothing pruned
  assert.deepEqual(first.config, best.config);
  assert.deepEqual(JSON.parse(store.map.get(first.key)!), first.config);
  assert.equal(matmulConfigFor(ctx.device), first.config);
  const again = await autotuneMatmul(ctx, { store, candidates, shapes, reps: 1 });
  assert.equal(again.source, 'memory');
  assert.equal(again.key, first.key);
});

test('a candidate past PRUNE_FACTOR × the best running total is timed on no further shape; the winner ran every shape', async () => {
  const shapes = [
    { M: 64, N: 64, K: 64 },
    { M: 40, N: 24, K: 36 },
    { M: 33, N: 17, K: 19 },
  ];
  const r = await autotuneMatmul(ctx, { candidates: MATMUL_CANDIDATES.filter((c) => !c.f16), shapes, reps: 1, force: true });
  const t = r.timings!;
  const winner = t.find((x) => x.config === r.config)!;
  assert.equal(winner.perShape.length, shapes.length);
  for (const x of t) {
    assert.ok(x.perShape.length >= 1);
    assert.ok(Math.abs(x.ms - x.perShape.reduce((a, b) => a + b, 0)) < 1e-9);
    const k = x.perShape.length;
    const upTo = (y: typeof x, n: number) => y.perShape.slice(0, n).reduce((a, b) => a + b, 0);
    // After shape j (0-based) it was still in the running iff its running total was within the factor of the best among those timed on j.
    for (let j = 0; j < k; j++) {
      const ran = t.filter((y) => y.perShape.length > j);
      const best = Math.min(...ran.map((y) => upTo(y, j + 1)));
      const kept = upTo(x, j + 1) <= PRUNE_FACTOR * best;
      if (j + 1 < k) assert.ok(kept, `${JSON.stringify(x.config)} was timed past shape ${j} though pruned`);
      if (j + 1 === k && k < shapes.length) assert.ok(!kept, `${JSON.stringify(x.config)} stopped after shape ${j} though within the factor`);
    }
  }
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
