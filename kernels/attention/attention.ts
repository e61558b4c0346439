// Spec of the causal self-attention kernels: bindings per entry point, overrides, grids.
import src from './attention.wgsl?raw';
import { buildKernel, grid1d, runOnce, type Kernel } from '../kernel.ts';
import type { PipelineCache } from '../pipeline-cache.ts';

/** B sequences of T positions, width C split into NH heads. */
export interface AttentionShape {
  B: number;
  T: number;
  C: number;
  NH: number;
}

export const ATTENTION_WG = 64;

const FORWARD = [
  { binding: 0, name: 'qkv', kind: 'read-only-storage' },
  { binding: 1, name: 'out', kind: 'storage' },
  { binding: 2, name: 'att', kind: 'storage' },
] as const;
const BACKWARD = [
  { binding: 0, name: 'qkv', kind: 'read-only-storage' },
  { binding: 2, name: 'att', kind: 'storage' },
  { binding: 3, name: 'dout', kind: 'read-only-storage' },
  { binding: 4, name: 'dpre', kind: 'storage' },
  { binding: 5, name: 'dqkv', kind: 'storage' },
] as const;

export type AttentionForwardKernel = Kernel<(typeof FORWARD)[number]['name']>;
export type AttentionBackwardKernel = Kernel<(typeof BACKWARD)[number]['name']>;

function request(cache: PipelineCache, shape: AttentionShape, entryPoint: string) {
  const { B, T, C, NH } = shape;
  for (const [k, v] of Object.entries(shape)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`attention: ${k} must be a positive integer, got ${v}`);
  }
  if (C % NH !== 0) throw new RangeError(`attention: C ${C} is not a multiple of NH ${NH}`);
  const max = cache.device.limits.maxComputeWorkgroupsPerDimension;
  return [
    { label: `attention_${entryPoint}`, code: src, entryPoint, constants: { B, T, C, NH, WG: ATTENTION_WG } },
    grid1d(B * NH * T, ATTENTION_WG, max),
  ] as const;
}

/** out (B, T, C), att (B, NH, T, T) ← attention(qkv (B, T, 3C)). */
export function attentionForwardKernel(cache: PipelineCache, shape: AttentionShape): AttentionForwardKernel {
  const [req, grid] = request(cache, shape, 'forward');
  return buildKernel(cache, { ...req, bindings: FORWARD }, grid);
}

/** Both passes of the backward, in dispatch order: [backward_q (dq, dpre), backward_kv (dk, dv)]. */
export function attentionBackwardKernels(cache: PipelineCache, shape: AttentionShape): [AttentionBackwardKernel, AttentionBackwardKernel] {
  const [q, gq] = request(cache, shape, 'backward_q');
  const [kv, gkv] = request(cache, shape, 'backward_kv');
  return [buildKernel(cache, { ...q, bindings: BACKWARD }, gq), buildKernel(cache, { ...kv, bindings: BACKWARD }, gkv)];
}

/** Eager forward (tests, tools). */
export async function attentionForward(cache: PipelineCache, qkv: Float32Array, shape: AttentionShape): Promise<{ out: Float32Array; att: Float32Array }> {
  const { B, T, C, NH } = shape;
  if (qkv.length !== B * T * 3 * C) throw new RangeError(`attentionForward: qkv has ${qkv.length} floats, want (B, T, 3C) = ${B * T * 3 * C}`);
  const r = await runOnce(cache, attentionForwardKernel(cache, shape), { qkv, out: B * T * C * 4, att: B * NH * T * T * 4 }, ['out', 'att']);
  return { out: new Float32Array(r.out), att: new Float32Array(r.att) };
}

/** Eager backward (tests, tools): dqkv (B, T, 3C) from dout and the forward's qkv and att. */
export async function attentionBackward(
  cache: PipelineCache,
  dout: Float32Array,
  qkv: Float32Array,
  att: Float32Array,
  shape: AttentionShape,
): Promise<Float32Array> {
  const { B, T, C, NH } = shape;
  if (dout.length !== B * T * C || qkv.length !== 3 * dout.length || att.length !== B * NH * T * T)
    throw new RangeError('attentionBackward: dout (B,T,C), qkv (B,T,3C), att (B,NH,T,T)');
  const [kq, kkv] = attentionBackwardKernels(cache, shape);
  // Two dispatches sharing dpre: the first's output (dpre, the q third of dqkv) is the second's input.
  const first = await runOnce(cache, kq, { qkv, att, dout, dpre: att.byteLength, dqkv: qkv.byteLength }, ['dpre', 'dqkv']);
  const second = await runOnce(cache, kkv, { qkv, att, dout, dpre: new Float32Array(first.dpre), dqkv: new Float32Array(first.dqkv) }, ['dqkv']);
  return new Float32Array(second.dqkv);
}
