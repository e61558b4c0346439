// Spec of the matmul kernel: the tiling configuration, the override values and the dispatch grid.
import body from './matmul.wgsl?raw';
import loadF32 from './matmul_load_f32.wgsl?raw';
import loadVec4 from './matmul_load_vec4.wgsl?raw';
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

/**
 * How the kernel tiles C (matmul.wgsl's overrides): a wg[0] × wg[1] workgroup (columns × rows of
 * C) of invocations that each own a 4×4 block staged through workgroup memory `bk` values of K
 * at a time (`tiled`), or an 8×8 block read from storage directly.
 */
export interface MatmulConfig {
  wg: readonly [number, number];
  tiled: boolean;
  /** K per workgroup-memory stage (a multiple of 4); ignored when !tiled. */
  bk: number;
}

/** C elements per invocation, rows × columns, tiled / direct: fixed by the shader's accumulators, read from it. */
export const MATMUL_THREAD_BLOCK = [wgslConst(body, 'TM'), wgslConst(body, 'TN')] as const;
export const MATMUL_DIRECT_BLOCK = [wgslConst(body, 'DB'), wgslConst(body, 'DB')] as const;

/**
 * What the autotune (autotune.ts) chooses among. Every entry is tested at shapes that are not
 * tile multiples (matmul.test.ts). Sizes stay within WebGPU's default limits (≤ 256
 * invocations, ≤ 16 KiB of workgroup memory), which every adapter offers.
 */
export const MATMUL_CANDIDATES: readonly MatmulConfig[] = [
  { wg: [8, 8], tiled: true, bk: 8 },
  { wg: [8, 8], tiled: true, bk: 16 },
  { wg: [16, 16], tiled: true, bk: 8 },
  { wg: [8, 4], tiled: true, bk: 16 },
  { wg: [8, 8], tiled: false, bk: 0 },
  { wg: [4, 4], tiled: false, bk: 0 },
  { wg: [8, 4], tiled: false, bk: 0 },
];

/** The configuration used on a device the autotune has not seen: a GPU-friendly tiled one. */
export const MATMUL_DEFAULT: MatmulConfig = MATMUL_CANDIDATES[1];

/** C elements per workgroup, rows × columns, under `config`. */
export function matmulTile(config: MatmulConfig = MATMUL_DEFAULT): readonly [number, number] {
  const block = config.tiled ? MATMUL_THREAD_BLOCK : MATMUL_DIRECT_BLOCK;
  return [config.wg[1] * block[0], config.wg[0] * block[1]];
}

/** C elements per workgroup under the default configuration. */
export const MATMUL_TILE = matmulTile();

// The configuration the autotune picked for each device (setMatmulConfig); absent: MATMUL_DEFAULT.
const chosen = new WeakMap<GPUDevice, MatmulConfig>();

/** Makes `config` what matmulKernel builds on `device` from now on (autotune.ts calls this). */
export function setMatmulConfig(device: GPUDevice, config: MatmulConfig): void {
  validateConfig(config);
  chosen.set(device, config);
}

export function matmulConfigFor(device: GPUDevice): MatmulConfig {
  return chosen.get(device) ?? MATMUL_DEFAULT;
}

function validateConfig(c: MatmulConfig): void {
  const [x, y] = c.wg;
  if (![x, y].every((v) => Number.isInteger(v) && v >= 1) || x * y > 256) {
    throw new RangeError(`matmul config: wg must be two positive integers with a product ≤ 256, got [${x}, ${y}]`);
  }
  if (c.tiled && (!Number.isInteger(c.bk) || c.bk < 4 || c.bk % 4 !== 0 || (x + y) * c.bk * 16 > 16384)) {
    throw new RangeError(`matmul config: bk must be a positive multiple of 4 within 16 KiB of workgroup memory, got ${c.bk}`);
  }
}

const BINDINGS = [
  { binding: 0, name: 'a', kind: 'read-only-storage' },
  { binding: 1, name: 'b', kind: 'read-only-storage' },
  { binding: 2, name: 'c', kind: 'storage' },
] as const;

export type MatmulKernel = Kernel<(typeof BINDINGS)[number]['name']>;

/**
 * The pipeline and grid for one shape, tiled as `config` (default: what the autotune chose for
 * the cache's device). Vec4 storage access needs both contiguous dimensions (K or M of A, N or
 * K of B) to be multiples of 4; bindings then hold whole vec4s whatever their offset.
 */
export function matmulKernel(cache: PipelineCache, shape: MatmulShape, config: MatmulConfig = matmulConfigFor(cache.device)): MatmulKernel {
  const { M, N, K } = shape;
  for (const [k, v] of Object.entries({ M, N, K })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`matmul: ${k} must be a positive integer, got ${v}`);
  }
  validateConfig(config);
  const transA = shape.transA ?? false;
  const transB = shape.transB ?? false;
  const vec4 = (transA ? M : K) % 4 === 0 && (transB ? K : N) % 4 === 0;
  const [tileM, tileN] = matmulTile(config);
  return buildKernel(
    cache,
    {
      label: `matmul${transA ? '_tA' : ''}${transB ? '_tB' : ''}`,
      code: (vec4 ? loadVec4 : loadF32) + body,
      entryPoint: 'main',
      constants: {
        M,
        N,
        K,
        TRANS_A: +transA,
        TRANS_B: +transB,
        TILED: +config.tiled,
        WG_X: config.wg[0],
        WG_Y: config.wg[1],
        BK: config.tiled ? config.bk : 4,
      },
      bindings: BINDINGS,
    },
    [Math.ceil(N / tileN), Math.ceil(M / tileM), 1],
  );
}

/** Eager C = op(A)·op(B) (tests, tools). */
export async function matmul(cache: PipelineCache, a: Float32Array, b: Float32Array, shape: MatmulShape, config?: MatmulConfig): Promise<Float32Array> {
  const { M, N, K } = shape;
  if (a.length !== M * K || b.length !== K * N) {
    throw new RangeError(`matmul: got a[${a.length}], b[${b.length}], want a[${M * K}], b[${K * N}]`);
  }
  const out = await runOnce(cache, matmulKernel(cache, shape, config), { a, b, c: M * N * 4 }, ['c']);
  return new Float32Array(out.c);
}
