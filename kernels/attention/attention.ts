// Spec of the fused causal attention (attention.wgsl): the per-adapter feed (tiled through
// workgroup memory, direct from storage, or a row per subgroup), the one binding layout of its
// three entry points, the consts and overrides, the grids.
import body from './attention.wgsl?raw';
import loadF32 from './attention_load_f32.wgsl?raw';
import loadVec4 from './attention_load_vec4.wgsl?raw';
import { deviceChoice } from '../device-choice.ts';
import { laneReducePrelude, notWholeSubgroup } from '../row-reduce/row-reduce.ts';
import { buildKernel, runOnce, wgslConst, type Kernel } from '../kernel.ts';
import type { PipelineCache } from '../pipeline-cache.ts';

/** B sequences of T positions, width C split into NH heads of C / NH. */
export interface AttentionShape {
  B: number;
  T: number;
  C: number;
  NH: number;
}

/**
 * How rows of one head map to a workgroup of `wg` invocations and how they are fed
 * (attention.wgsl): `lanes` invocations per row (> 1: one whole subgroup, its lanes splitting the
 * head and summing through shuffles), and the streamed rows either staged `bk` at a time in
 * workgroup memory (tiled, lanes 1) or read straight from storage.
 */
export interface AttentionConfig {
  tiled: boolean;
  wg: number;
  /** Streamed rows per stage (tiled only; capped so that the stage fits the device's workgroup memory). */
  bk: number;
  lanes: number;
}

/** Keys per online-softmax step, read from the shader. */
export const ATTENTION_KEY_BLOCK = wgslConst(body, 'KB');

/** What the autotune (autotune.ts) chooses among; every entry is tested at T that is no multiple of wg, bk or the key block. */
export const ATTENTION_CANDIDATES: readonly AttentionConfig[] = [
  { tiled: true, wg: 64, bk: 32, lanes: 1 },
  { tiled: true, wg: 32, bk: 16, lanes: 1 },
  { tiled: false, wg: 64, bk: 0, lanes: 1 },
  { tiled: false, wg: 16, bk: 0, lanes: 1 },
  { tiled: false, wg: 64, bk: 0, lanes: 4 },
  { tiled: false, wg: 64, bk: 0, lanes: 32 },
];

/**
 * On a device the autotune has not seen (the Node validator re-executes untuned): the direct
 * feed, a row per invocation — the unfused kernel's layout, slower than tiled on GPUs but never
 * far off on any adapter, and the fastest on SwiftShader.
 */
export const ATTENTION_DEFAULT: AttentionConfig = ATTENTION_CANDIDATES[2];

/** Why `c` cannot run on `device`, or null. */
export function attentionUnsupported(c: AttentionConfig, device: GPUDevice): string | null {
  const max = device.limits.maxComputeInvocationsPerWorkgroup;
  if (!Number.isInteger(c.wg) || c.wg < 1 || c.wg > max) return `wg must be an integer in 1 … ${max}, got ${c.wg}`;
  if (c.tiled && (!Number.isInteger(c.bk) || c.bk < 1)) return `bk must be a positive integer, got ${c.bk}`;
  if (!Number.isInteger(c.lanes) || c.lanes < 1 || c.wg % c.lanes !== 0) return `lanes must be a positive integer dividing wg ${c.wg}, got ${c.lanes}`;
  if (c.lanes > 1) return c.tiled ? 'lanes > 1 reads storage directly (tiled is for one lane per row)' : notWholeSubgroup(c.lanes, device);
  return null;
}

function validateConfig(c: AttentionConfig, device: GPUDevice): void {
  const why = attentionUnsupported(c, device);
  if (why) throw new RangeError(`attention config ${JSON.stringify(c)}: ${why}`);
}

/** The configuration attention kernels build on each device (set by the autotune). */
export const attentionChoice = deviceChoice<AttentionConfig>(() => ATTENTION_DEFAULT, validateConfig);

/** Bytes of workgroup memory a stage of `bk` rows takes at head size hs (two row tiles and the (lse, D) pairs). */
const stageBytes = (bk: number, hs: number) => bk * (2 * 16 * Math.ceil(hs / 4) + 8);

// One layout for all three entry points (their helpers are shared, so each statically touches
// every buffer): the forward binds the backward's buffers too and leaves them alone.
const BINDINGS = [
  { binding: 0, name: 'qkv', kind: 'read-only-storage' },
  { binding: 1, name: 'out', kind: 'storage' },
  { binding: 2, name: 'lse', kind: 'storage' },
  { binding: 3, name: 'dout', kind: 'read-only-storage' },
  { binding: 4, name: 'dd', kind: 'storage' },
  { binding: 5, name: 'dqkv', kind: 'storage' },
] as const;

export type AttentionKernel = Kernel<(typeof BINDINGS)[number]['name']>;

function build(cache: PipelineCache, shape: AttentionShape, entryPoint: string, config: AttentionConfig): AttentionKernel {
  const { B, T, C, NH } = shape;
  for (const [k, v] of Object.entries(shape)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`attention: ${k} must be a positive integer, got ${v}`);
  }
  if (C % NH !== 0) throw new RangeError(`attention: C ${C} is not a multiple of NH ${NH}`);
  validateConfig(config, cache.device);
  const limits = cache.device.limits;
  if (B * NH > limits.maxComputeWorkgroupsPerDimension)
    throw new RangeError(`attention: B·NH ${B * NH} exceeds ${limits.maxComputeWorkgroupsPerDimension} workgroups`);
  const hs = C / NH;
  const hs4 = Math.ceil(hs / 4);
  const { lanes } = config;
  const chunks = Math.ceil(Math.ceil(hs4 / lanes) / 4);
  if (chunks > 4)
    throw new RangeError(
      `attention: a head of ${hs} floats is more than 64 per lane (${lanes} lane${lanes > 1 ? 's' : ''}); the kernel holds at most 64 in registers`,
    );
  let bk = 1;
  if (config.tiled) {
    bk = Math.min(config.bk, Math.floor(limits.maxComputeWorkgroupStorageSize / stageBytes(1, hs)));
    if (bk < 1)
      throw new RangeError(`attention: a head of ${hs} floats does not fit one row in ${limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory`);
  }
  const consts = `const HS = ${hs}u;\nconst HS4 = ${hs4}u;\nconst LANES = ${lanes}u;\nconst HC = ${chunks}u;\n`;
  const code = laneReducePrelude(lanes) + consts + (hs % 4 === 0 ? loadVec4 : loadF32) + body;
  const label = `attention_${entryPoint}${config.tiled ? '_tiled' : ''}${lanes > 1 ? `_lanes${lanes}` : ''}`;
  return buildKernel(cache, { label, code, entryPoint, constants: { B, T, C, NH, WG: config.wg, TILED: +config.tiled, BK: bk }, bindings: BINDINGS }, [
    Math.ceil(T / (config.wg / lanes)),
    B * NH,
    1,
  ]);
}

/** out (B, T, C), lse (B, NH, T) ← attention(qkv (B, T, 3C)). */
export function attentionForwardKernel(cache: PipelineCache, shape: AttentionShape, config = attentionChoice.get(cache.device)): AttentionKernel {
  return build(cache, shape, 'forward', config);
}

/**
 * The backward's two dispatches, in order: backward_q (dq, and D = dout·out into dd) then
 * backward_kv (dk, dv; reads dd). Together they write all of dqkv (B, T, 3C).
 */
export function attentionBackwardKernels(
  cache: PipelineCache,
  shape: AttentionShape,
  config = attentionChoice.get(cache.device),
): [AttentionKernel, AttentionKernel] {
  return [build(cache, shape, 'backward_q', config), build(cache, shape, 'backward_kv', config)];
}

/** Eager forward (tests, tools). */
export async function attentionForward(
  cache: PipelineCache,
  qkv: Float32Array,
  shape: AttentionShape,
  config?: AttentionConfig,
): Promise<{ out: Float32Array; lse: Float32Array }> {
  const { B, T, C, NH } = shape;
  if (qkv.length !== B * T * 3 * C) throw new RangeError(`attentionForward: qkv has ${qkv.length} floats, want (B, T, 3C) = ${B * T * 3 * C}`);
  const unused = 16; // the backward's buffers, bound and untouched
  const r = await runOnce(
    cache,
    attentionForwardKernel(cache, shape, config),
    { qkv, out: B * T * C * 4, lse: B * NH * T * 4, dout: unused, dd: unused, dqkv: unused },
    ['out', 'lse'],
  );
  return { out: new Float32Array(r.out), lse: new Float32Array(r.lse) };
}

/** Eager backward (tests, tools): dqkv (B, T, 3C) from dout and the forward's qkv, out and lse. */
export async function attentionBackward(
  cache: PipelineCache,
  args: { dout: Float32Array; qkv: Float32Array; out: Float32Array; lse: Float32Array },
  shape: AttentionShape,
  config?: AttentionConfig,
): Promise<Float32Array> {
  const { B, T, C, NH } = shape;
  const { dout, qkv, out, lse } = args;
  if (dout.length !== B * T * C || out.length !== dout.length || qkv.length !== 3 * dout.length || lse.length !== B * NH * T) {
    throw new RangeError('attentionBackward: dout, out (B, T, C), qkv (B, T, 3C), lse (B, NH, T)');
  }
  const [kq, kkv] = attentionBackwardKernels(cache, shape, config);
  // Two dispatches sharing dd and dqkv: the first's outputs are the second's inputs.
  const first = await runOnce(cache, kq, { qkv, out, lse, dout, dd: lse.byteLength, dqkv: qkv.byteLength }, ['dd', 'dqkv']);
  const second = await runOnce(cache, kkv, { qkv, out, lse, dout, dd: new Float32Array(first.dd), dqkv: new Float32Array(first.dqkv) }, ['dqkv']);
  return new Float32Array(second.dqkv);
}
