import { test } from 'node:test';
import { createRng } from '../../shared/rng.ts';
import { assertClose, dot, finiteDifference, randomArray, testGpu } from '../test-gpu.ts';
import { ROW_REDUCE_CANDIDATES, rowReduceUnsupported } from '../row-reduce/row-reduce.ts';
import { layernormBackward, layernormForward } from './layernorm.ts';
import { layernormBackwardRef, layernormForwardRef } from './layernorm.ref.ts';

const { ctx, cache } = await testGpu();
const tol = { atol: 2e-5, rtol: 1e-4 };

// Every reduction variant the autotune may pick; one this device cannot run is skipped, saying why
// (SwiftShader: subgroups of 4, so the 32-lane subgroup form).
for (const reduce of ROW_REDUCE_CANDIDATES) {
  const skip = rowReduceUnsupported(reduce, ctx.device) ?? false;
  test(`layernorm ${JSON.stringify(reduce)}: forward and backward (dx, accumulated dx, dγ, dβ) match the CPU reference`, { skip }, async () => {
    const rand = createRng(60);
    // 69 rows: past one workgroup at every lane count; widths that no lane count divides.
    for (const [rows, C] of [
      [1, 3],
      [7, 13],
      [69, 37],
    ]) {
      const what = `(${rows}, ${C}) ${JSON.stringify(reduce)}`;
      const x = randomArray(rows * C, rand, -2, 3);
      const gamma = randomArray(C, rand, 0.5, 1.5);
      const beta = randomArray(C, rand);
      const { y, stats } = await layernormForward(cache, x, gamma, beta, { rows, C }, reduce);
      const want = layernormForwardRef(x, gamma, beta, rows, C);
      assertClose(y, want.y, tol, `y ${what}`);
      assertClose(
        stats.filter((_, i) => i % 2 === 0),
        want.mean,
        tol,
        `mean ${what}`,
      );
      assertClose(
        stats.filter((_, i) => i % 2 === 1),
        want.rstd,
        tol,
        `rstd ${what}`,
      );

      const dy = randomArray(rows * C, rand);
      const dxIn = randomArray(rows * C, rand);
      const got = await layernormBackward(cache, { dy, x, gamma, stats }, { rows, C }, reduce);
      const acc = await layernormBackward(cache, { dy, x, gamma, stats, dxIn }, { rows, C }, reduce);
      const ref = layernormBackwardRef(dy, x, gamma, want.mean, want.rstd, rows, C);
      assertClose(got.dx, ref.dx, tol, `dx ${what}`);
      assertClose(
        acc.dx,
        ref.dx.map((v, i) => v + dxIn[i]),
        tol,
        `accumulated dx ${what}`,
      );
      assertClose(got.dgamma, ref.dgamma, tol, `dgamma ${what}`);
      assertClose(got.dbeta, ref.dbeta, tol, `dbeta ${what}`);
    }
  });
}

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
