// Spec of the matmul kernel: the tile size, the override values and the dispatch grid.
import src from './matmul.wgsl?raw';
import { buildKernel, runOnce, wgslConst, type Kernel } from '../kernel.ts';
import type { PipelineCache } from '../pipeline-cache.ts';

/** C (M, N) = op(A) · op(B) with op(A) (M, K) and op(B) (K, N). */
export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  /** A is stored (K, M). */
  transA?: boolean;
  /** B is stored (N, K). */
  transB?: boolean;
}

/** Invocations per workgroup, x (columns of C) × y (rows of C): 64, within every adapter's limits. */
export const MATMUL_WORKGROUP = [8, 8] as const;
/** C elements per invocation, rows × columns: fixed by the shader's vec4 accumulators, read from it. */
export const MATMUL_THREAD_BLOCK = [wgslConst(src, 'TM'), wgslConst(src, 'TN')] as const;
/** C elements per workgroup, rows × columns. */
export const MATMUL_TILE = [MATMUL_WORKGROUP[1] * MATMUL_THREAD_BLOCK[0], MATMUL_WORKGROUP[0] * MATMUL_THREAD_BLOCK[1]] as const;

const BINDINGS = [
  { binding: 0, name: 'a', kind: 'read-only-storage' },
  { binding: 1, name: 'b', kind: 'read-only-storage' },
  { binding: 2, name: 'c', kind: 'storage' },
] as const;

export type MatmulKernel = Kernel<(typeof BINDINGS)[number]['name']>;

export function matmulKernel(cache: PipelineCache, shape: MatmulShape): MatmulKernel {
  const { M, N, K } = shape;
  for (const [k, v] of Object.entries({ M, N, K })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`matmul: ${k} must be a positive integer, got ${v}`);
  }
  const transA = shape.transA ?? false;
  const transB = shape.transB ?? false;
  return buildKernel(
    cache,
    {
      label: `matmul${transA ? '_tA' : ''}${transB ? '_tB' : ''}`,
      code: src,
      entryPoint: 'main',
      constants: { M, N, K, TRANS_A: +transA, TRANS_B: +transB, WG_X: MATMUL_WORKGROUP[0], WG_Y: MATMUL_WORKGROUP[1] },
      bindings: BINDINGS,
    },
    [Math.ceil(N / MATMUL_TILE[1]), Math.ceil(M / MATMUL_TILE[0]), 1],
  );
}

/** Eager C = op(A)·op(B) (tests, tools). */
export async function matmul(cache: PipelineCache, a: Float32Array, b: Float32Array, shape: MatmulShape): Promise<Float32Array> {
  const { M, N, K } = shape;
  if (a.length !== M * K || b.length !== K * N) {
    throw new RangeError(`matmul: got a[${a.length}], b[${b.length}], want a[${M * K}], b[${K * N}]`);
  }
  const out = await runOnce(cache, matmulKernel(cache, shape), { a, b, c: M * N * 4 }, ['c']);
  return new Float32Array(out.c);
}
