// What a device must offer to train a run: bytes of parameters, optimizer state, activations and
// a round's staging buffers, the largest buffer and storage binding, required features. Computed
// from the model and the batch, buffer by buffer as kernels/mlp-trainer.ts and
// kernels/gpt-trainer.ts allocate them (kernels/gpt-trainer.test.ts checks the sum against the
// buffers a real trainer holds), so that a volunteer is told before consent that a run does not
// fit, instead of failing at its first round.
//
// WebGPU says nothing of a device's memory: only the per-buffer limits can be checked up front.
// The total is shown so that a volunteer can judge it against their GPU.
import type { ModelSpec } from './model.ts';

export interface DeviceNeeds {
  paramCount: number;
  /** θ on the device: float32, each tensor at a 256-byte binding boundary (padding included). */
  paramBytes: number;
  /** The gradient and AdamW's m and v (3 × paramBytes), and a GPT's gradient-norm cell (clipping). */
  optimizerBytes: number;
  /** Activations, their gradients and per-row statistics kept between forward and backward at the run's batch; an MLP's training shard. */
  activationBytes: number;
  /** A round's staging: every step's batch (tokens, targets and their index; or sample indices), per-step uniforms and losses, θ's readback. */
  roundBytes: number;
  totalBytes: number;
  /** The largest buffer bound as storage (against maxStorageBufferBindingSize). */
  largestBindingBytes: number;
  /** The largest buffer of any use (against maxBufferSize). */
  largestBufferBytes: number;
  /** Features the kernels cannot run without: none (subgroups and shader-f16 are used where present, kernels/autotune.ts). */
  features: string[];
}

/** WebGPU's default minStorageBufferOffsetAlignment (the trainers do not raise it), and AdamW's 4 values an invocation. */
const STORAGE_ALIGN_BYTES = 256;
const UNIFORM_ALIGN_BYTES = 256;
const ADAMW_VALUES_PER_INVOCATION = 4;
/** Layernorm keeps mean and 1/σ per row (kernels/layernorm LAYERNORM_STATS_BYTES). */
const LAYERNORM_STATS_BYTES = 8;

const alignTo = (n: number, a: number) => Math.ceil(n / a) * a;

/** Floats of the padded device parameter layout (kernels/mlp-trainer.ts deviceParamLayout). */
function deviceParamFloats(spec: ModelSpec): number {
  const align = Math.max(STORAGE_ALIGN_BYTES / 4, ADAMW_VALUES_PER_INVOCATION);
  let at = 0;
  for (const t of spec.tensors) at = alignTo(at, align) + t.size;
  return alignTo(at, align);
}

/**
 * The device needs of training `spec` with `inner` (steps of batchSize samples). An MLP's
 * training shard lives on the device in one binding: pass `dataset` to count it.
 */
export function deviceNeeds(spec: ModelSpec, inner: { steps: number; batchSize: number }, dataset?: { trainCount: number; features: number }): DeviceNeeds {
  const B = inner.batchSize;
  const steps = inner.steps;
  const paramBytes = deviceParamFloats(spec) * 4;
  const optimizerBytes = 3 * paramBytes + (spec.preset === 'gpt' ? 4 : 0);
  // One buffer each, in bytes (a 4-byte minimum, as the trainers allocate).
  const bytes = (floats: number) => Math.max(floats * 4, 4);
  let resident: number[];
  let staging: number[];
  if (spec.preset === 'mlp') {
    const sizes = spec.sizes;
    resident = [...sizes.map((n) => bytes(B * n)), ...sizes.slice(1).map((n) => bytes(B * n)), bytes(B), bytes(B)];
    if (dataset) resident.push(alignTo(dataset.trainCount * dataset.features, 4), alignTo(dataset.trainCount, 4));
    staging = [steps * alignTo(B * 4, STORAGE_ALIGN_BYTES), steps * STORAGE_ALIGN_BYTES, steps * UNIFORM_ALIGN_BYTES, paramBytes, steps * 4];
  } else {
    const { vocab: V, width: C, heads: NH, hidden: Hd, layers: L } = spec.dims;
    const T = spec.dims.context;
    const R = B * T;
    const stats = (R * LAYERNORM_STATS_BYTES) / 4;
    const layer = [R * C, stats, 3 * R * C, B * NH * T, R * C, R * C, R * C, stats, R * Hd, R * Hd, R * C];
    // tokens, targets, their counting-sort order and starts, x0; L layers; lnf, its stats, logits;
    // the backward's d.res, d.tmp, d.act, d.qkv, attention's D, d.logits; the loss per row.
    const floats = [
      R,
      R,
      R,
      V + 1,
      R * C,
      ...Array.from({ length: L }, () => layer).flat(),
      R * C,
      stats,
      R * V,
      R * C,
      R * C,
      R * Hd,
      3 * R * C,
      B * NH * T,
      R * V,
      R,
    ];
    resident = floats.map(bytes);
    staging = [
      steps * R * 4,
      steps * R * 4,
      steps * (R + V + 1) * 4,
      steps * STORAGE_ALIGN_BYTES,
      steps * UNIFORM_ALIGN_BYTES,
      paramBytes,
      steps * STORAGE_ALIGN_BYTES,
    ];
  }
  const activationBytes = resident.reduce((a, b) => a + b, 0);
  const roundBytes = staging.reduce((a, b) => a + b, 0);
  const largestBindingBytes = Math.max(paramBytes, ...resident);
  return {
    paramCount: spec.paramCount,
    paramBytes,
    optimizerBytes,
    activationBytes,
    roundBytes,
    totalBytes: paramBytes + optimizerBytes + activationBytes + roundBytes,
    largestBindingBytes,
    largestBufferBytes: Math.max(largestBindingBytes, ...staging),
    features: [],
  };
}

/** Why a device with `limits` and `features` cannot train a run that needs `needs`: one plain sentence per shortfall, none when it fits. */
export function deviceShortfalls(needs: DeviceNeeds, limits: Readonly<Record<string, number>>, features: readonly string[] = []): string[] {
  const out: string[] = [];
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 0)} MiB`;
  const binding = limits.maxStorageBufferBindingSize;
  if (binding !== undefined && needs.largestBindingBytes > binding)
    out.push(`the run binds a ${mib(needs.largestBindingBytes)} buffer and this GPU binds at most ${mib(binding)} (maxStorageBufferBindingSize)`);
  const buffer = limits.maxBufferSize;
  if (buffer !== undefined && needs.largestBufferBytes > buffer)
    out.push(`the run needs a ${mib(needs.largestBufferBytes)} buffer and this GPU allows at most ${mib(buffer)} (maxBufferSize)`);
  for (const f of needs.features) if (!features.includes(f)) out.push(`the run needs the WebGPU feature "${f}", which this GPU lacks`);
  return out;
}
