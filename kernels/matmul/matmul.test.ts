import { test } from 'node:test';
import { createRng } from '../../shared/rng.ts';
import { assertClose, dot, finiteDifference, randomArray, testGpu } from '../test-gpu.ts';
import { matmul, MATMUL_CANDIDATES, MATMUL_SUBGROUP_CANDIDATES, matmulTile, matmulUnsupported, type MatmulShape } from './matmul.ts';
import { matmulRef } from './matmul.ref.ts';
import { buildKernel, runOnce } from '../kernel.ts';
import body from './matmul.wgsl?raw';
import f16Path from './matmul_f16.wgsl?raw';
import loadF32 from './matmul_load_f32.wgsl?raw';
import loadVec4 from './matmul_load_vec4.wgsl?raw';

const { ctx, cache } = await testGpu();
const tol = { atol: 1e-5, rtol: 1e-5 };
// f16 tiles: operands rounded to 2⁻¹¹, products summed in f16 per stage; K ≤ 41 values in ±1.
const f16Tol = { atol: 2e-2, rtol: 5e-3 };

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

// One test per autotune candidate, each layout, both storage paths; a candidate this device
// cannot run is skipped, saying why (e.g. subgroup quads without the subgroups feature).
for (const config of [...MATMUL_CANDIDATES, ...MATMUL_SUBGROUP_CANDIDATES]) {
  const skip = matmulUnsupported(config, ctx.device) ?? false;
  test(`matmul ${JSON.stringify(config)}: every layout matches the CPU reference (scalar and vec4 paths)`, { skip }, async () => {
    const rand = createRng(1);
    for (const [M, N, K] of [...shapes, ...vec4Shapes]) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          // At 1×1×1 every layout reads the same single element: one layout checks it (the edge
          // masks of the transposed loads are checked at the other shapes, none a tile multiple).
          if (M * N * K === 1 && (transA || transB)) continue;
          const shape: MatmulShape = { M, N, K, transA, transB };
          const a = randomArray(M * K, rand);
          const b = randomArray(K * N, rand);
          const what = `matmul ${JSON.stringify(shape)} config ${JSON.stringify(config)} (tile ${matmulTile(config).join('×')})`;
          assertClose(await matmul(cache, a, b, shape, config), matmulRef(a, b, shape), config.f16 ? f16Tol : tol, what);
        }
      }
    }
  });
}

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

// The f16 path cannot compile here without shader-f16 (SwiftShader has none), so its candidates
// above are skipped. Its staging and indexing are still checked: the same source with f16 spelled
// f32 must match the reference (to fp32 tolerance) at shapes that straddle tiles and stages.
test('matmul_f16.wgsl logic, with f16 spelled f32, matches the CPU reference (every layout)', async () => {
  const asF32 = f16Path
    .replace('enable f16;', '')
    .replaceAll('vec4h', 'vec4f')
    .replaceAll('mat4x4h', 'mat4x4f')
    .replace(/\bf16\(/g, 'f32(');
  const rand = createRng(4);
  for (const config of MATMUL_CANDIDATES.filter((c) => c.f16)) {
    for (const [M, N, K] of [
      [33, 17, 19],
      [68, 36, 20],
    ]) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const shape: MatmulShape = { M, N, K, transA, transB };
          const vec4 = (transA ? M : K) % 4 === 0 && (transB ? K : N) % 4 === 0;
          const [tileM, tileN] = matmulTile(config);
          const kernel = buildKernel(
            cache,
            {
              label: 'matmul_f16_as_f32',
              code: (vec4 ? loadVec4 : loadF32) + body + asF32,
              entryPoint: 'main_f16',
              constants: { M, N, K, TRANS_A: +transA, TRANS_B: +transB, TILED: 1, WG_X: config.wg[0], WG_Y: config.wg[1], BK: config.bk },
              bindings: [
                { binding: 0, name: 'a', kind: 'read-only-storage' },
                { binding: 1, name: 'b', kind: 'read-only-storage' },
                { binding: 2, name: 'c', kind: 'storage' },
              ] as const,
            },
            [Math.ceil(N / tileN), Math.ceil(M / tileM), 1],
          );
          const a = randomArray(M * K, rand);
          const b = randomArray(K * N, rand);
          const out = await runOnce(cache, kernel, { a, b, c: M * N * 4 }, ['c']);
          assertClose(new Float32Array(out.c), matmulRef(a, b, shape), tol, `f16 path as f32 ${JSON.stringify(shape)} ${JSON.stringify(config)}`);
        }
      }
    }
  }
});
