// What differs between model presets, behind one interface used by the coordinator (held-out
// evaluation, re-execution of a contribution) and the volunteers' CPU fallback: local training
// and evaluation of any ModelSpec on a Dataset.
//
// A GPT run's data is a Dataset too: every sample is a window of T + 1 consecutive bytes of the
// text (features = T + 1, classes = 256, labels unused and zero), so sample assignment, the
// wire format and the volunteers' cache work unchanged; a window gives T input bytes and, shifted
// by one, their T next-byte targets.
import type { AdamWConfig, AdamWState, Dataset, EvalResult } from './mlp.ts';
import { evaluate as evaluateMlp, trainLocalCpu } from './mlp.ts';
import { gptLossAndGrad, trainGptLocalCpu } from './gpt.ts';
import type { GptSpec, ModelSpec } from './model.ts';

/** Windows of T + 1 bytes of `text` starting every `stride` bytes, as a Dataset. */
export function textWindows(text: Uint8Array, T: number, stride = T): Dataset {
  if (!Number.isInteger(T) || T < 1 || !Number.isInteger(stride) || stride < 1)
    throw new RangeError(`textWindows: T and stride must be positive integers, got ${T}, ${stride}`);
  const count = text.length >= T + 1 ? Math.floor((text.length - T - 1) / stride) + 1 : 0;
  if (count < 1) throw new RangeError(`textWindows: ${text.length} bytes hold no window of ${T + 1} bytes`);
  const images = new Uint8Array(count * (T + 1));
  for (let i = 0; i < count; i++) images.set(text.subarray(i * stride, i * stride + T + 1), i * (T + 1));
  return { images, labels: new Uint8Array(count), count, features: T + 1, classes: 256 };
}

/** Inputs (B, T) and next-byte targets (B, T) of the windows `indices` of a textWindows dataset. */
export function windowBatch(data: Dataset, indices: ArrayLike<number>): { tokens: Uint32Array; targets: Uint32Array } {
  const W = data.features;
  const T = W - 1;
  const B = indices.length;
  const tokens = new Uint32Array(B * T);
  const targets = new Uint32Array(B * T);
  for (let b = 0; b < B; b++) {
    const i = indices[b];
    if (!Number.isInteger(i) || i < 0 || i >= data.count) throw new RangeError(`window index ${i} outside dataset of ${data.count}`);
    tokens.set(data.images.subarray(i * W, i * W + T), b * T);
    targets.set(data.images.subarray(i * W + 1, i * W + W), b * T);
  }
  return { tokens, targets };
}

function checkGptData(spec: GptSpec, data: Dataset): number {
  const T = data.features - 1;
  if (T < 1 || T > spec.dims.context) throw new RangeError(`GPT data: windows of ${data.features} bytes do not fit context ${spec.dims.context} + 1`);
  return T;
}

/** The mean of a round's per-step losses (NaN for none). */
export function meanOf(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return xs.length ? s / xs.length : NaN;
}

/**
 * Train `batches` steps on the CPU from `start` (copied): the reference for one round of local work.
 * AdamW from zero moments, or going on from `state` (left updated: run setting inner.state 'kept').
 */
export function trainLocal(
  spec: ModelSpec,
  start: Float32Array,
  data: Dataset,
  batches: ArrayLike<number>[],
  cfg: AdamWConfig,
  state?: AdamWState,
): { params: Float32Array; lossBefore: number; lossAfter: number; lossMean: number } {
  if (spec.preset === 'mlp') return trainLocalCpu(spec, start, data, batches, cfg, state);
  const T = checkGptData(spec, data);
  const r = trainGptLocalCpu(
    spec,
    start,
    batches.map((idx) => windowBatch(data, idx)),
    batches[0]?.length ?? 0,
    T,
    cfg,
    state,
  );
  return { params: r.params, lossBefore: r.losses[0] ?? NaN, lossAfter: r.losses.at(-1) ?? NaN, lossMean: meanOf(r.losses) };
}

/**
 * Held-out loss and accuracy over the first `limit` samples. For a GPT: mean next-byte loss and
 * top-1 next-byte accuracy over the first `limit` windows.
 */
export function evaluateModel(spec: ModelSpec, params: Float32Array, data: Dataset, limit = data.count, batch = 16): EvalResult {
  if (spec.preset === 'mlp') return evaluateMlp(spec, params, data, limit);
  const T = checkGptData(spec, data);
  const V = spec.dims.vocab;
  const n = Math.min(limit, data.count);
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < n; start += batch) {
    const idx = Array.from({ length: Math.min(batch, n - start) }, (_, k) => start + k);
    const { tokens, targets } = windowBatch(data, idx);
    const { loss, logits } = gptLossAndGrad(spec, params, tokens, targets, idx.length, T, false);
    lossSum += loss * idx.length;
    for (let r = 0; r < targets.length; r++) {
      let best = 0;
      for (let c = 1; c < V; c++) if (logits[r * V + c] > logits[r * V + best]) best = c;
      if (best === targets[r]) correct++;
    }
  }
  return { loss: lossSum / n, accuracy: correct / (n * T), count: n };
}

/**
 * Training FLOPs for one sample (an MLP input, or a GPT sequence of `context` tokens):
 * 6 × the forward pass's multiply-adds (forward 2, backward 4). The GPT counts every matmul
 * (qkv, projection, MLP, head) per token plus attention's QKᵀ and AV over the causal half.
 */
export function trainingFlopsPerSample(spec: ModelSpec): number {
  if (spec.preset === 'mlp') return 6 * spec.sizes.slice(1).reduce((s, out, l) => s + spec.sizes[l] * out, 0);
  const { context: T, width: C, layers: L, hidden: H, vocab: V } = spec.dims;
  const perToken = L * (3 * C * C + C * C + 2 * C * H) + C * V;
  const attention = L * 2 * C * ((T * (T + 1)) / 2);
  return 6 * (T * perToken + attention);
}
