import { test } from 'node:test';
import { createRng } from '../../shared/rng.ts';
import { assertClose, dot, finiteDifference, randomArray, testGpu } from '../test-gpu.ts';
import { matmul, MATMUL_CANDIDATES, matmulTile, type MatmulShape } from './matmul.ts';
import { matmulRef } from './matmul.ref.ts';

const { cache } = await testGpu();
const tol = { atol: 1e-5, rtol: 1e-5 };

// None of these are multiples of the 4×4 block or any candidate's tile; 1s hit the edges;
// 70×45 spans several workgroups in both directions; K 19/41 leave partial BK stages.
const shapes: [number, number, number][] = [
  [1, 1, 1],
  [33, 17, 19],
  [20, 5, 41],
  [70, 45, 9],
];
// Multiples of 4 in every dimension take the vec4 storage path; 68×36 is still not a tile multiple.
const vec4Shapes: [number, number, number][] = [[68, 36, 20]];

function checkAll(shapeList: [number, number, number][], seed: number) {
  return async () => {
    const rand = createRng(seed);
    for (const config of MATMUL_CANDIDATES) {
      for (const [M, N, K] of shapeList) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            const shape: MatmulShape = { M, N, K, transA, transB };
            const a = randomArray(M * K, rand);
            const b = randomArray(K * N, rand);
            const what = `matmul ${JSON.stringify(shape)} config ${JSON.stringify(config)} (tile ${matmulTile(config).join('×')})`;
            assertClose(await matmul(cache, a, b, shape, config), matmulRef(a, b, shape), tol, what);
          }
        }
      }
    }
  };
}

test('matmul: every layout and every autotune candidate matches the CPU reference (scalar path)', checkAll(shapes, 1));
test('matmul: every layout and every autotune candidate matches the CPU reference (vec4 path)', checkAll(vec4Shapes, 3));

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
