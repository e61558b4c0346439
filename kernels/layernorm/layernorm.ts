// Spec of the layernorm kernels: bindings per entry point, override values, dispatch grids.
// The row reduction (lanes per row, workgroup memory or subgroups) is the device's
// rowReduceChoice unless a config is passed.
import src from './layernorm.wgsl?raw';
import { LN_EPS } from '../../shared/gpt.ts';
import { buildKernel, grid1d, runOnce, type Kernel } from '../kernel.ts';
import type { PipelineCache } from '../pipeline-cache.ts';
import { rowReduceChoice, rowReduceSource, type RowReduceConfig } from '../row-reduce/row-reduce.ts';

/** A (rows, C) tensor normalised over C. */
export interface LayernormShape {
  rows: number;
  C: number;
  /** backward_dx adds into dx instead of overwriting it (default false). */
  accumulate?: boolean;
}

/** Bytes of stats per row (μ, σ⁻¹). */
export const LAYERNORM_STATS_BYTES = 8;

const FORWARD = [
  { binding: 0, name: 'x', kind: 'read-only-storage' },
  { binding: 1, name: 'gamma', kind: 'read-only-storage' },
  { binding: 2, name: 'beta', kind: 'read-only-storage' },
  { binding: 3, name: 'y', kind: 'storage' },
  { binding: 4, name: 'stats', kind: 'storage' },
] as const;
const BACKWARD_DX = [
  { binding: 0, name: 'x', kind: 'read-only-storage' },
  { binding: 1, name: 'gamma', kind: 'read-only-storage' },
  { binding: 4, name: 'stats', kind: 'storage' },
  { binding: 5, name: 'dy', kind: 'read-only-storage' },
  { binding: 6, name: 'dx', kind: 'storage' },
] as const;
const BACKWARD_PARAMS = [
  { binding: 0, name: 'x', kind: 'read-only-storage' },
  { binding: 4, name: 'stats', kind: 'storage' },
  { binding: 5, name: 'dy', kind: 'read-only-storage' },
  { binding: 7, name: 'dgamma', kind: 'storage' },
  { binding: 8, name: 'dbeta', kind: 'storage' },
] as const;

export type LayernormForwardKernel = Kernel<(typeof FORWARD)[number]['name']>;
export type LayernormDxKernel = Kernel<(typeof BACKWARD_DX)[number]['name']>;
export type LayernormParamsKernel = Kernel<(typeof BACKWARD_PARAMS)[number]['name']>;

/** `units` rows (columns for backward_params) of `reduce.lanes` invocations each. */
function kernel<K extends Kernel>(
  cache: PipelineCache,
  shape: LayernormShape,
  entryPoint: string,
  bindings: K['bindings'],
  units: number,
  reduce: RowReduceConfig,
): K {
  const { rows, C, accumulate } = shape;
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(C) || C < 1) {
    throw new RangeError(`layernorm: rows and C must be positive integers, got ${rows}, ${C}`);
  }
  const { prelude, constants } = rowReduceSource(reduce, cache.device);
  const max = cache.device.limits.maxComputeWorkgroupsPerDimension;
  return buildKernel(
    cache,
    {
      label: `layernorm_${entryPoint}`,
      code: prelude + src,
      entryPoint,
      constants: { ROWS: rows, C, EPS: LN_EPS, ACCUMULATE: +(accumulate ?? false), ...constants },
      bindings,
    },
    grid1d(units * reduce.lanes, reduce.wg, max),
  ) as K;
}

/** y, stats ← layernorm(x; γ, β). */
export const layernormForwardKernel = (cache: PipelineCache, shape: LayernormShape, reduce = rowReduceChoice.get(cache.device)): LayernormForwardKernel =>
  kernel(cache, { ...shape, accumulate: false }, 'forward', FORWARD, shape.rows, reduce);
/** dx (+)= ∂/∂x given dy (rows, C). */
export const layernormDxKernel = (cache: PipelineCache, shape: LayernormShape, reduce = rowReduceChoice.get(cache.device)): LayernormDxKernel =>
  kernel(cache, shape, 'backward_dx', BACKWARD_DX, shape.rows, reduce);
/** dγ, dβ (C) ← column sums over rows. */
export const layernormParamsKernel = (cache: PipelineCache, shape: LayernormShape, reduce = rowReduceChoice.get(cache.device)): LayernormParamsKernel =>
  kernel(cache, { ...shape, accumulate: false }, 'backward_params', BACKWARD_PARAMS, shape.C, reduce);

/** Eager forward (tests, tools). stats is (rows, 2): μ, σ⁻¹. */
export async function layernormForward(
  cache: PipelineCache,
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  shape: LayernormShape,
  reduce?: RowReduceConfig,
): Promise<{ y: Float32Array; stats: Float32Array }> {
  const { rows, C } = shape;
  if (x.length !== rows * C || gamma.length !== C || beta.length !== C) throw new RangeError('layernormForward: x must be (rows, C), gamma and beta (C)');
  const out = await runOnce(cache, layernormForwardKernel(cache, shape, reduce), { x, gamma, beta, y: x.byteLength, stats: rows * LAYERNORM_STATS_BYTES }, [
    'y',
    'stats',
  ]);
  return { y: new Float32Array(out.y), stats: new Float32Array(out.stats) };
}

/** Eager backward (tests, tools): dx (plus `dxIn` when given: the accumulating form), dγ, dβ. */
export async function layernormBackward(
  cache: PipelineCache,
  args: { dy: Float32Array; x: Float32Array; gamma: Float32Array; stats: Float32Array; dxIn?: Float32Array },
  shape: Omit<LayernormShape, 'accumulate'>,
  reduce?: RowReduceConfig,
): Promise<{ dx: Float32Array; dgamma: Float32Array; dbeta: Float32Array }> {
  const { dy, x, gamma, stats, dxIn } = args;
  const { rows, C } = shape;
  if ([dy, x].some((a) => a.length !== rows * C) || gamma.length !== C || stats.length !== 2 * rows)
    throw new RangeError('layernormBackward: dy, x (rows, C), gamma (C), stats (rows, 2)');
  const dx = await runOnce(cache, layernormDxKernel(cache, { ...shape, accumulate: !!dxIn }, reduce), { x, gamma, stats, dy, dx: dxIn ?? x.byteLength }, [
    'dx',
  ]);
  const p = await runOnce(cache, layernormParamsKernel(cache, shape, reduce), { x, stats, dy, dgamma: C * 4, dbeta: C * 4 }, ['dgamma', 'dbeta']);
  return { dx: new Float32Array(dx.dx), dgamma: new Float32Array(p.dgamma), dbeta: new Float32Array(p.dbeta) };
}
