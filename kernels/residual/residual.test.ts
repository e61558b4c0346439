import { test } from 'node:test';
import { createRng } from '../../shared/rng.ts';
import { assertClose, dot, finiteDifference, randomArray, testGpu } from '../test-gpu.ts';
import { residualAdd, RESIDUAL_WG } from './residual.ts';
import { residualRef } from './residual.ref.ts';

const { cache } = await testGpu();

test('residual add matches the CPU reference', async () => {
  const rand = createRng(50);
  for (const n of [1, 7, RESIDUAL_WG + 1, 3 * 5 * 67]) {
    const [x, y] = [randomArray(n, rand), randomArray(n, rand)];
    assertClose(await residualAdd(cache, x, y), residualRef(x, y), { atol: 1e-7, rtol: 1e-7 }, `n=${n}`);
  }
});

test('the backward use (dstream += dbranch) is the gradient of the forward, by finite differences', async () => {
  const rand = createRng(51);
  const n = 13;
  const [x, y, g, dbranch] = [randomArray(n, rand), randomArray(n, rand), randomArray(n, rand), randomArray(n, rand)];
  // z = x + f(y) with f linear (dbranch = ∂(g·f)/∂… = g here); d/dx (g · z) = g, and the
  // block input's gradient is g + Jᵀg: the kernel adds the two.
  const fdX = finiteDifference((xx) => dot(g, residualRef(xx, y)), x);
  const fdY = finiteDifference((yy) => dot(g, residualRef(x, yy)), y);
  assertClose(fdX, g, { atol: 1e-9, rtol: 1e-9 }, 'dx = g');
  assertClose(fdY, g, { atol: 1e-9, rtol: 1e-9 }, 'dy = g');
  assertClose(
    await residualAdd(cache, g, dbranch),
    Float64Array.from(g, (v, i) => v + dbranch[i]),
    { atol: 1e-7, rtol: 1e-7 },
    'accumulated gradient',
  );
});
