// Spec of the fused softmax cross-entropy kernel.
import src from './softmax_xent.wgsl?raw';
import { buildKernel, runOnce, type Kernel } from '../kernel.ts';
import type { PipelineCache } from '../pipeline-cache.ts';

export interface XentShape {
  /** Batch size B. */
  rows: number;
  /** Classes C. */
  classes: number;
}

/** One workgroup of this many invocations (a power of two) covers the whole batch. */
export const SOFTMAX_XENT_WG = 64;

const BINDINGS = [
  { binding: 0, name: 'logits', kind: 'read-only-storage' },
  { binding: 1, name: 'labels', kind: 'read-only-storage' },
  { binding: 2, name: 'dlogits', kind: 'storage' },
  // The loss of step s lands at a dynamic offset, so one bind group serves a whole round.
  { binding: 3, name: 'loss', kind: 'storage', dynamicOffset: true },
] as const;

export type XentKernel = Kernel<(typeof BINDINGS)[number]['name']>;

/** Bytes bound for `loss` (one f32); bind it as { buffer, size: XENT_LOSS_BYTES }. */
export const XENT_LOSS_BYTES = 4;

export function softmaxXentKernel(cache: PipelineCache, { rows, classes }: XentShape): XentKernel {
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(classes) || classes < 1) {
    throw new RangeError(`softmax_xent: rows and classes must be positive integers, got ${rows}, ${classes}`);
  }
  return buildKernel(
    cache,
    { label: 'softmax_xent', code: src, entryPoint: 'main', constants: { ROWS: rows, C: classes, WG: SOFTMAX_XENT_WG }, bindings: BINDINGS },
    [1, 1, 1],
  );
}

/** Eager loss + dlogits (tests, tools). */
export async function softmaxXent(
  cache: PipelineCache,
  logits: Float32Array,
  labels: Uint32Array,
  shape: XentShape,
): Promise<{ loss: number; dlogits: Float32Array }> {
  if (logits.length !== shape.rows * shape.classes || labels.length !== shape.rows) {
    throw new RangeError('softmaxXent: logits must be (rows, classes), labels (rows)');
  }
  if (labels.some((y) => y >= shape.classes)) throw new RangeError(`softmaxXent: label ≥ ${shape.classes}`);
  const out = await runOnce(cache, softmaxXentKernel(cache, shape), { logits, labels, dlogits: logits.byteLength, loss: XENT_LOSS_BYTES }, ['loss', 'dlogits']);
  return { loss: new Float32Array(out.loss)[0], dlogits: new Float32Array(out.dlogits) };
}
