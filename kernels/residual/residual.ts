// Spec of the residual add (x += y), used forward and backward (see residual.wgsl).
import src from './residual.wgsl?raw';
import { buildKernel, grid1d, runOnce, type Kernel } from '../kernel.ts';
import type { PipelineCache } from '../pipeline-cache.ts';

export const RESIDUAL_WG = 64;

const BINDINGS = [
  { binding: 0, name: 'x', kind: 'storage' },
  { binding: 1, name: 'y', kind: 'read-only-storage' },
] as const;

export type ResidualKernel = Kernel<(typeof BINDINGS)[number]['name']>;

/** x (count) ← x + y (count). */
export function residualKernel(cache: PipelineCache, count: number): ResidualKernel {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`residual: count must be a positive integer, got ${count}`);
  const max = cache.device.limits.maxComputeWorkgroupsPerDimension;
  return buildKernel(
    cache,
    { label: 'residual_add', code: src, entryPoint: 'main', constants: { COUNT: count, WG: RESIDUAL_WG }, bindings: BINDINGS },
    grid1d(count, RESIDUAL_WG, max),
  );
}

/** Eager x + y (tests, tools). */
export async function residualAdd(cache: PipelineCache, x: Float32Array, y: Float32Array): Promise<Float32Array> {
  if (x.length !== y.length) throw new RangeError(`residualAdd: x has ${x.length} floats, y ${y.length}`);
  const out = await runOnce(cache, residualKernel(cache, x.length), { x, y }, ['x']);
  return new Float32Array(out.x);
}
