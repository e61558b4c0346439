import { test } from 'node:test';
import { createRng } from '../../shared/rng.ts';
import { assertClose, dot, finiteDifference, randomArray, testGpu } from '../test-gpu.ts';
import { matmul, type MatmulShape } from './matmul.ts';
import { matmulRef } from './matmul.ref.ts';

const { cache } = await testGpu();
const tol = { atol: 1e-5, rtol: 1e-5 };

// None of these are multiples of the 4×4 block or the 32×32 workgroup tile; 1s hit the edge
// clamps; 70×45 spans several workgroups in both directions.
const shapes: [number, number, number][] = [[1, 1, 1], [7, 13, 5], [33, 17, 19], [20, 5, 41], [1, 40, 3], [50, 1, 17], [70, 45, 9]];

test('matmul forward and transposed layouts match the CPU reference', async () => {
  const rand = createRng(1);
  for (const [M, N, K] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const shape: MatmulShape = { M, N, K, transA, transB };
        const a = randomArray(M * K, rand);
        const b = randomArray(K * N, rand);
        assertClose(await matmul(cache, a, b, shape), matmulRef(a, b, shape), tol, `matmul ${JSON.stringify(shape)}`);
      }
    }
  }
});

// Backward of C = A·B with upstream G = dL/dC: dA = G·Bᵀ (transB), dB = Aᵀ·G (transA).
// L = Σ G⊙C is linear in A and B, so central differences are exact up to rounding.
test('matmul backward (dA = G·Bᵀ, dB = Aᵀ·G) matches finite differences', async () => {
  const rand = createRng(2);
  const [M, N, K] = [9, 11, 21];
  const a = randomArray(M * K, rand);
  const b = randomArray(K * N, rand);
  const g = randomArray(M * N, rand);
  const dA = await matmul(cache, g, b, { M, N: K, K: N, transB: true });
  const dB = await matmul(cache, a, g, { M: K, N, K: M, transA: true });

  const fdA = finiteDifference((aa) => dot(g, matmulRef(aa, b, { M, N, K })), a);
  const fdB = finiteDifference((bb) => dot(g, matmulRef(a, bb, { M, N, K })), b);
  assertClose(dA, fdA, { atol: 1e-4, rtol: 1e-4 }, 'dA vs finite differences');
  assertClose(dB, fdB, { atol: 1e-4, rtol: 1e-4 }, 'dB vs finite differences');
});
