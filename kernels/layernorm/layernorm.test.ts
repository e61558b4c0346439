import { test } from 'node:test';
import { createRng } from '../../shared/rng.ts';
import { assertClose, dot, finiteDifference, randomArray, testGpu } from '../test-gpu.ts';
import { layernormBackward, layernormForward, LAYERNORM_WG } from './layernorm.ts';
import { layernormBackwardRef, layernormForwardRef } from './layernorm.ref.ts';

const { cache } = await testGpu();
const tol = { atol: 2e-5, rtol: 1e-4 };

test('layernorm forward and backward (dx, accumulated dx, dγ, dβ) match the CPU reference', async () => {
  const rand = createRng(60);
  // Rows spilling past one workgroup; widths not multiples of anything.
  for (const [rows, C] of [
    [1, 3],
    [7, 13],
    [LAYERNORM_WG + 5, 37],
  ]) {
    const x = randomArray(rows * C, rand, -2, 3);
    const gamma = randomArray(C, rand, 0.5, 1.5);
    const beta = randomArray(C, rand);
    const { y, stats } = await layernormForward(cache, x, gamma, beta, { rows, C });
    const want = layernormForwardRef(x, gamma, beta, rows, C);
    assertClose(y, want.y, tol, `y (${rows}, ${C})`);
    assertClose(
      stats.filter((_, i) => i % 2 === 0),
      want.mean,
      tol,
      `mean (${rows}, ${C})`,
    );
    assertClose(
      stats.filter((_, i) => i % 2 === 1),
      want.rstd,
      tol,
      `rstd (${rows}, ${C})`,
    );

    const dy = randomArray(rows * C, rand);
    const dxIn = randomArray(rows * C, rand);
    const got = await layernormBackward(cache, { dy, x, gamma, stats }, { rows, C });
    const acc = await layernormBackward(cache, { dy, x, gamma, stats, dxIn }, { rows, C });
    const ref = layernormBackwardRef(dy, x, gamma, want.mean, want.rstd, rows, C);
    assertClose(got.dx, ref.dx, tol, `dx (${rows}, ${C})`);
    assertClose(
      acc.dx,
      ref.dx.map((v, i) => v + dxIn[i]),
      tol,
      `accumulated dx (${rows}, ${C})`,
    );
    assertClose(got.dgamma, ref.dgamma, tol, `dgamma (${rows}, ${C})`);
    assertClose(got.dbeta, ref.dbeta, tol, `dbeta (${rows}, ${C})`);
  }
});

test('layernorm backward matches finite differences of the forward', async () => {
  const rand = createRng(61);
  const [rows, C] = [4, 9];
  const x = randomArray(rows * C, rand, -2, 2);
  const gamma = randomArray(C, rand, 0.5, 1.5);
  const beta = randomArray(C, rand);
  const g = randomArray(rows * C, rand);
  const { stats } = await layernormForward(cache, x, gamma, beta, { rows, C });
  const got = await layernormBackward(cache, { dy: g, x, gamma, stats }, { rows, C });
  const f = (xx: ArrayLike<number>, gg: ArrayLike<number>, bb: ArrayLike<number>) => dot(g, layernormForwardRef(xx, gg, bb, rows, C).y);
  const fdTol = { atol: 1e-4, rtol: 1e-3 };
  assertClose(
    got.dx,
    finiteDifference((xx) => f(xx, gamma, beta), x),
    fdTol,
    'dx vs FD',
  );
  assertClose(
    got.dgamma,
    finiteDifference((gg) => f(x, gg, beta), gamma),
    fdTol,
    'dgamma vs FD',
  );
  assertClose(
    got.dbeta,
    finiteDifference((bb) => f(x, gamma, bb), beta),
    fdTol,
    'dbeta vs FD',
  );
});
