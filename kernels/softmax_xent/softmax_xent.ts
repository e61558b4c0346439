// Spec of the fused softmax cross-entropy: two dispatches, the row-parallel `rows` (dlogits and
// one loss per row) and `total` (their mean into this step's loss slot). The row reduction is
// the device's rowReduceChoice unless a config is passed.
import src from './softmax_xent.wgsl?raw';
import { buildKernel, grid1d, runOnce, type Kernel } from '../kernel.ts';
import type { PipelineCache } from '../pipeline-cache.ts';
import { rowReduceChoice, rowReduceSource, type RowReduceConfig } from '../row-reduce/row-reduce.ts';

export interface XentShape {
  /** Batch size B. */
  rows: number;
  /** Classes C. */
  classes: number;
}

const ROWS_BINDINGS = [
  { binding: 0, name: 'logits', kind: 'read-only-storage' },
  { binding: 1, name: 'labels', kind: 'read-only-storage' },
  { binding: 2, name: 'dlogits', kind: 'storage' },
  { binding: 3, name: 'rowLoss', kind: 'storage' },
] as const;
const TOTAL_BINDINGS = [
  { binding: 3, name: 'rowLoss', kind: 'storage' },
  // The loss of step s lands at a dynamic offset, so one bind group serves a whole round.
  { binding: 4, name: 'loss', kind: 'storage', dynamicOffset: true },
] as const;

export type XentRowsKernel = Kernel<(typeof ROWS_BINDINGS)[number]['name']>;
export type XentTotalKernel = Kernel<(typeof TOTAL_BINDINGS)[number]['name']>;

/** Bytes bound for `loss` (one f32); bind it as { buffer, size: XENT_LOSS_BYTES }. */
export const XENT_LOSS_BYTES = 4;

/** Both dispatches, in order; `rowLoss` is a (rows) f32 scratch buffer shared by the two. */
export function softmaxXentKernels(
  cache: PipelineCache,
  { rows, classes }: XentShape,
  reduce: RowReduceConfig = rowReduceChoice.get(cache.device),
): { rows: XentRowsKernel; total: XentTotalKernel } {
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(classes) || classes < 1) {
    throw new RangeError(`softmax_xent: rows and classes must be positive integers, got ${rows}, ${classes}`);
  }
  const { prelude, constants } = rowReduceSource(reduce, cache.device);
  const req = { code: prelude + src, constants: { ROWS: rows, C: classes, ...constants } };
  const max = cache.device.limits.maxComputeWorkgroupsPerDimension;
  return {
    rows: buildKernel(cache, { ...req, label: 'softmax_xent_rows', entryPoint: 'rows', bindings: ROWS_BINDINGS }, grid1d(rows * reduce.lanes, reduce.wg, max)),
    total: buildKernel(cache, { ...req, label: 'softmax_xent_total', entryPoint: 'total', bindings: TOTAL_BINDINGS }, [1, 1, 1]),
  };
}

/** Eager loss + dlogits (tests, tools). */
export async function softmaxXent(
  cache: PipelineCache,
  logits: Float32Array,
  labels: Uint32Array,
  shape: XentShape,
  reduce?: RowReduceConfig,
): Promise<{ loss: number; dlogits: Float32Array }> {
  if (logits.length !== shape.rows * shape.classes || labels.length !== shape.rows) {
    throw new RangeError('softmaxXent: logits must be (rows, classes), labels (rows)');
  }
  if (labels.some((y) => y >= shape.classes)) throw new RangeError(`softmaxXent: label ≥ ${shape.classes}`);
  const k = softmaxXentKernels(cache, shape, reduce);
  const a = await runOnce(cache, k.rows, { logits, labels, dlogits: logits.byteLength, rowLoss: shape.rows * 4 }, ['dlogits', 'rowLoss']);
  const b = await runOnce(cache, k.total, { rowLoss: new Float32Array(a.rowLoss), loss: XENT_LOSS_BYTES }, ['loss']);
  return { loss: new Float32Array(b.loss)[0], dlogits: new Float32Array(a.dlogits) };
}
