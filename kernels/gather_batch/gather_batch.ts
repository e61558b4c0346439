// Spec of the batch gather: dataset bytes resident on the GPU → one batch of f32 inputs + labels.
import src from './gather_batch.wgsl?raw';
import type { Dataset } from '../../shared/mlp.ts';
import { buildKernel, grid1d, runOnce, wgslConst, type Kernel } from '../kernel.ts';
import type { PipelineCache } from '../pipeline-cache.ts';

export const GATHER_WG = 64;
/** Features written per invocation, read from the shader. */
const QUAD = wgslConst(src, 'QUAD');

export interface GatherShape {
  rows: number;
  features: number;
}

const BINDINGS = [
  { binding: 0, name: 'images', kind: 'read-only-storage' },
  { binding: 1, name: 'labels', kind: 'read-only-storage' },
  // Step s's indices sit at a dynamic offset, so one bind group serves a whole round.
  { binding: 2, name: 'indices', kind: 'read-only-storage', dynamicOffset: true },
  { binding: 3, name: 'x', kind: 'storage' },
  { binding: 4, name: 'y', kind: 'storage' },
] as const;

export type GatherKernel = Kernel<(typeof BINDINGS)[number]['name']>;

export function gatherKernel(cache: PipelineCache, { rows, features }: GatherShape): GatherKernel {
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(features) || features < 1) {
    throw new RangeError(`gather_batch: rows and features must be positive integers, got ${rows}, ${features}`);
  }
  const max = cache.device.limits.maxComputeWorkgroupsPerDimension;
  return buildKernel(
    cache,
    { label: 'gather_batch', code: src, entryPoint: 'main', constants: { ROWS: rows, F: features, WG: GATHER_WG }, bindings: BINDINGS },
    // Enough invocations for every quad of features, and at least one per row for the labels.
    grid1d(Math.max(rows * Math.ceil(features / QUAD), rows), GATHER_WG, max),
  );
}

/** Throws unless every label is a class id and the byte arrays match count × features. */
export function validateDataset(data: Dataset): void {
  if (data.images.length !== data.count * data.features) {
    throw new RangeError(`dataset: ${data.images.length} image bytes, expected count ${data.count} × features ${data.features}`);
  }
  if (data.labels.length !== data.count) throw new RangeError(`dataset: ${data.labels.length} labels for ${data.count} samples`);
  for (let i = 0; i < data.count; i++) {
    if (data.labels[i] >= data.classes) throw new RangeError(`dataset: label ${data.labels[i]} at ${i} is not < classes ${data.classes}`);
  }
}

/** Throws on the first index outside the dataset (the shader does not check). */
export function validateIndices(indices: ArrayLike<number>, count: number): void {
  for (let i = 0; i < indices.length; i++) {
    const v = indices[i];
    if (!Number.isInteger(v) || v < 0 || v >= count) throw new RangeError(`sample index ${v} at position ${i} outside dataset of ${count}`);
  }
}

/** Eager gather (tests, tools). */
export async function gatherBatchGpu(cache: PipelineCache, data: Dataset, indices: Uint32Array): Promise<{ x: Float32Array; y: Uint32Array }> {
  validateDataset(data);
  validateIndices(indices, data.count);
  const rows = indices.length;
  const out = await runOnce(
    cache,
    gatherKernel(cache, { rows, features: data.features }),
    { images: data.images, labels: data.labels, indices, x: rows * data.features * 4, y: rows * 4 },
    ['x', 'y'],
  );
  return { x: new Float32Array(out.x), y: new Uint32Array(out.y) };
}
