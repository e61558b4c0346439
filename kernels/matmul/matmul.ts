// Spec of the matmul kernel: the tiling configuration, the override values and the dispatch grid.
import body from './matmul.wgsl?raw';
import loadF32 from './matmul_load_f32.wgsl?raw';
import loadVec4 from './matmul_load_vec4.wgsl?raw';
import subgroupPath from './matmul_subgroup.wgsl?raw';
import f16Path from './matmul_f16.wgsl?raw';
import { deviceChoice } from '../device-choice.ts';
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
 * at a time (`tiled`), or an 8×8 block read from storage directly — with `subgroups`, the op(A)
 * blocks shared by four lanes through subgroup shuffles (matmul_subgroup.wgsl). `f16` stages the
 * tiled path's operands in f16 (matmul_f16.wgsl: mixed precision, about 1e-3 relative).
 */
export interface MatmulConfig {
  wg: readonly [number, number];
  tiled: boolean;
  /** K per workgroup-memory stage (a multiple of 4); ignored when !tiled. */
  bk: number;
  /** Direct path only: share op(A) within quads of a subgroup (needs the `subgroups` feature). */
  subgroups?: boolean;
  /** Tiled path only: f16 tiles and per-stage f16 sums (needs `shader-f16`; chosen only when precision may be traded). */
  f16?: boolean;
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
  { wg: [8, 8], tiled: true, bk: 16, f16: true },
  { wg: [16, 16], tiled: true, bk: 16, f16: true },
];

/**
 * The direct path with op(A) shared in subgroup quads: timed by autotuneKernels, not by
 * autotuneMatmul's default list. On SwiftShader they win the gpt-small shapes (npm run bench),
 * but each compiles in about 1.3 s against 0.3 s (Node/Dawn), and in Chromium the GPU process
 * compiling them stalled other tabs' rendering past 30 s: e2e/swarm-gpt's second page could not
 * be clicked while the first tuned (it passes without them).
 */
export const MATMUL_SUBGROUP_CANDIDATES: readonly MatmulConfig[] = [
  { wg: [8, 8], tiled: false, bk: 0, subgroups: true },
  { wg: [4, 4], tiled: false, bk: 0, subgroups: true },
  { wg: [4, 16], tiled: false, bk: 0, subgroups: true },
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
const chosen = deviceChoice<MatmulConfig>(() => MATMUL_DEFAULT, validateConfig);

/** Makes `config` what matmulKernel builds on `device` from now on (autotune.ts calls this). */
export const setMatmulConfig = (device: GPUDevice, config: MatmulConfig): void => chosen.set(device, config);

export const matmulConfigFor = (device: GPUDevice): MatmulConfig => chosen.get(device);

/** Why `c` cannot run on `device`, or null. */
export function matmulUnsupported(c: MatmulConfig, device: GPUDevice): string | null {
  const [x, y] = c.wg;
  if (![x, y].every((v) => Number.isInteger(v) && v >= 1) || x * y > 256) return `wg must be two positive integers with a product ≤ 256, got [${x}, ${y}]`;
  if (c.tiled && (!Number.isInteger(c.bk) || c.bk < 4 || c.bk % 4 !== 0 || (x + y) * c.bk * 16 > 16384)) {
    return `bk must be a positive multiple of 4 within 16 KiB of workgroup memory, got ${c.bk}`;
  }
  if (c.f16) {
    if (!c.tiled || c.subgroups) return 'f16 tiles are a variant of the tiled path only';
    if (!device.features.has('shader-f16')) return 'the device has no shader-f16 feature';
  }
  if (c.subgroups) {
    if (c.tiled) return 'subgroups share op(A) on the direct path only';
    if (x % 4 !== 0) return `subgroup quads need wg[0] to be a multiple of 4, got ${x}`;
    if (!device.features.has('subgroups')) return 'the device has no subgroups feature';
    const min = device.adapterInfo?.subgroupMinSize ?? 0;
    if (min < 4) return `subgroup quads need subgroups of at least 4 invocations; this device's smallest is ${min || 'unknown'}`;
  }
  return null;
}

function validateConfig(c: MatmulConfig, device: GPUDevice): void {
  const why = matmulUnsupported(c, device);
  if (why) throw new RangeError(`matmul config ${JSON.stringify(c)}: ${why}`);
}

// A quad's lanes share row0 and leave (the early return) together, which the uniformity analysis cannot see.
const SUBGROUP_DIRECTIVES = 'enable subgroups;\ndiagnostic(off, subgroup_uniformity);\n';

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
  validateConfig(config, cache.device);
  const transA = shape.transA ?? false;
  const transB = shape.transB ?? false;
  const vec4 = (transA ? M : K) % 4 === 0 && (transB ? K : N) % 4 === 0;
  const load = vec4 ? loadVec4 : loadF32;
  const [tileM, tileN] = matmulTile(config);
  return buildKernel(
    cache,
    {
      label: `matmul${transA ? '_tA' : ''}${transB ? '_tB' : ''}${config.subgroups ? '_sg' : ''}${config.f16 ? '_f16' : ''}`,
      code: config.subgroups ? `${SUBGROUP_DIRECTIVES}${load}${body}${subgroupPath}` : config.f16 ? `enable f16;\n${load}${body}${f16Path}` : load + body,
      entryPoint: config.subgroups ? 'main_sg' : config.f16 ? 'main_f16' : 'main',
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
