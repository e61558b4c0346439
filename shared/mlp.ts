// CPU reference for the MLP: forward, loss, backward and AdamW, in plain loops.
// The GPU executor in kernels/ must match these; the coordinator uses the forward
// pass to measure held-out accuracy; the simulator trains with all of it.
import { f64, matmulNT, matmulSparseA, transpose, zeroFraction } from './cpu-matmul.ts';
import type { MlpSpec } from './model.ts';

/** Images as bytes (N, 784) scaled by 1/255 on use; labels (N). */
export interface Dataset {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  /** Floats per sample (784 for MNIST). */
  features: number;
  classes: number;
}

export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the gradient to this global L2 norm before the step (GPT trainer); absent or 0: no clipping. */
  maxGradNorm?: number;
  /**
   * The lr rises linearly over the optimizer's first `warmupSteps` steps (adamwLr): a page's
   * AdamW starts every round from zero moments, where its first steps are sign-like at full lr.
   * A function of the step count alone, so every trainer and a re-execution agree. Absent or 0: none.
   */
  warmupSteps?: number;
  /**
   * Prime the moments (issue 15): the optimizer's first `primeSteps` steps run at lr 0 on the
   * round's first batches again (primedBatches), so m and v accumulate gradients at the start
   * weights while the weights stay bit-identical (w − 0·u = w); the round's own steps follow with
   * the step count going on from K (bias correction consistent), and any warm-up counts from
   * there. A function of public data alone (the start weights and the round's batches), so a
   * re-execution computes the same moments with no new evidence. Absent or 0: none.
   */
  primeSteps?: number;
}

/** The lr of 1-based step `t`: 0 through the prime, then cfg.lr · min(1, (t − primeSteps) / warmupSteps). */
export function adamwLr(cfg: AdamWConfig, t: number): number {
  const k = cfg.primeSteps ?? 0;
  if (t <= k) return 0;
  const w = cfg.warmupSteps ?? 0;
  return w > 0 && t - k < w ? (cfg.lr * (t - k)) / w : cfg.lr;
}

/**
 * The batches a round's optimizer steps through: with `primeSteps` K, the round's first K batches
 * (cycling when K exceeds the round) for the prime, then the round's own. The prime sees no sample
 * the round does not: it costs K gradient evaluations, not data.
 */
export function primedBatches<T>(batches: readonly T[], cfg: AdamWConfig): T[] {
  const k = cfg.primeSteps ?? 0;
  if (k > 0 && batches.length === 0) throw new RangeError(`primeSteps ${k} needs at least one batch to prime on`);
  return [...Array.from({ length: k }, (_, s) => batches[s % batches.length]), ...batches];
}

/**
 * The pages' trainers (WGSL and the CPU fallback) step through the batches they are given with the
 * lr of each step: they do not build the primed batch list, so a prime there would train K fewer
 * steps and be re-executed differently. Refused loudly until they run it.
 */
export function refusePrime(cfg: AdamWConfig, who: string): void {
  if ((cfg.primeSteps ?? 0) > 0)
    throw new RangeError(`${who}: adamw.primeSteps ${cfg.primeSteps} is simulator-only (the CPU reference trainers); this trainer does not prime`);
}

/** A prime starts the optimizer: it cannot go on from a state that has already stepped. */
export function checkPrimeStart(cfg: AdamWConfig, state: { t: number }): void {
  if ((cfg.primeSteps ?? 0) > 0 && state.t !== 0)
    throw new RangeError(`primeSteps ${cfg.primeSteps} primes a fresh optimizer, but the AdamW state has taken ${state.t} steps`);
}

/** x (B, features) as floats in [0, 1]; y (B) class ids. */
export function gatherBatch(data: Dataset, indices: ArrayLike<number>): { x: Float32Array; y: Uint32Array } {
  const B = indices.length;
  const F = data.features;
  const x = new Float32Array(B * F);
  const y = new Uint32Array(B);
  for (let b = 0; b < B; b++) {
    const i = indices[b];
    if (i < 0 || i >= data.count) throw new RangeError(`sample index ${i} outside dataset of ${data.count}`);
    for (let f = 0; f < F; f++) x[b * F + f] = data.images[i * F + f] / 255;
    y[b] = data.labels[i];
  }
  return { x, y };
}

/**
 * Above this fraction of zeros in a layer's input, the products skip them (matmulSparseA): the
 * same sums, faster than the 4 × 4 blocked product below about 60 % of values set
 * (`npx tsx shared/cpu-reference.bench.ts`).
 */
const SPARSE_ABOVE = 0.4;

/** Activations of every layer: acts[0] = x, acts[L] = logits (B, classes). Hidden ones after ReLU. */
export function mlpForward(spec: MlpSpec, params: Float32Array, x: Float32Array, B: number): Float32Array[] {
  const acts = [x];
  const L = spec.sizes.length - 1;
  for (let l = 0; l < L; l++) {
    const [fin, fout] = [spec.sizes[l], spec.sizes[l + 1]];
    const w = spec.tensors[2 * l].offset;
    const bOff = spec.tensors[2 * l + 1].offset;
    // (B, fout) = bias + h (B, fin) · W (fin, fout), each sum in float64 (shared/cpu-matmul.ts).
    const z = new Float64Array(B * fout);
    const h = acts[l];
    if (zeroFraction(h) > SPARSE_ABOVE) matmulSparseA(z, h, params, B, fout, fin, { bOff: w, bias: params, biasOff: bOff });
    else matmulNT(z, f64(h), transpose(params, fin, fout, w), B, fout, fin, { bias: params, biasOff: bOff });
    const out = new Float32Array(B * fout);
    for (let k = 0; k < out.length; k++) out[k] = l + 1 < L && z[k] < 0 ? 0 : z[k];
    acts.push(out);
  }
  return acts;
}

/** Mean softmax cross-entropy and dLoss/dlogits (B, C). */
export function softmaxCrossEntropy(logits: Float32Array, y: Uint32Array, C: number): { loss: number; dlogits: Float32Array } {
  const B = y.length;
  const d = new Float32Array(B * C);
  let loss = 0;
  for (let b = 0; b < B; b++) {
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, logits[b * C + c]);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(logits[b * C + c] - max);
    loss += Math.log(sum) + max - logits[b * C + y[b]];
    for (let c = 0; c < C; c++) d[b * C + c] = (Math.exp(logits[b * C + c] - max) / sum - (c === y[b] ? 1 : 0)) / B;
  }
  return { loss: loss / B, dlogits: d };
}

/** Gradient of the mean loss over the batch, in the flat parameter layout. */
export function mlpBackward(spec: MlpSpec, params: Float32Array, acts: Float32Array[], dlogits: Float32Array, B: number): Float32Array {
  const grad = new Float32Array(spec.paramCount);
  let dout = dlogits;
  for (let l = spec.sizes.length - 2; l >= 0; l--) {
    const [fin, fout] = [spec.sizes[l], spec.sizes[l + 1]];
    const w = spec.tensors[2 * l].offset;
    const bOff = spec.tensors[2 * l + 1].offset;
    const h = acts[l];
    // dW (fin, fout) = hᵀ · dout, summed over the batch in float64; db the same over rows.
    const dW = new Float64Array(fin * fout);
    if (zeroFraction(h) > SPARSE_ABOVE) matmulSparseA(dW, transpose(h, B, fin, 0, new Float32Array(B * fin)), dout, fin, fout, B);
    else matmulNT(dW, transpose(h, B, fin), transpose(dout, B, fout), fin, fout, B);
    grad.set(dW, w);
    for (let o = 0; o < fout; o++) {
      let s = 0;
      for (let b = 0; b < B; b++) s += dout[b * fout + o];
      grad[bOff + o] = s;
    }
    if (l === 0) break;
    // dh (B, fin) = dout · Wᵀ, through the ReLU gate (h is post-activation).
    const dh64 = new Float64Array(B * fin);
    matmulNT(dh64, f64(dout), f64(params, w, fin * fout), B, fin, fout);
    const dh = new Float32Array(B * fin);
    for (let k = 0; k < dh.length; k++) dh[k] = h[k] <= 0 ? 0 : dh64[k];
    dout = dh;
  }
  return grad;
}

/** One AdamW step in place; `t` is the 1-based step count for bias correction. */
export function adamwStep(params: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, t: number, cfg: AdamWConfig): void {
  const { beta1, beta2, eps, weightDecay } = cfg;
  const lr = adamwLr(cfg, t);
  const c1 = 1 - beta1 ** t;
  const c2 = 1 - beta2 ** t;
  for (let i = 0; i < params.length; i++) {
    const g = grad[i];
    // m and v are read back as the float32 values they were stored as.
    const mi = Math.fround(beta1 * m[i] + (1 - beta1) * g);
    const vi = Math.fround(beta2 * v[i] + (1 - beta2) * g * g);
    m[i] = mi;
    v[i] = vi;
    const update = mi / c1 / (Math.sqrt(vi / c2) + eps);
    params[i] = params[i] - lr * (update + weightDecay * params[i]);
  }
}

/** Scales grad in place to global L2 norm ≤ maxNorm (no-op for maxNorm ≤ 0); returns the norm before clipping. */
export function clipGradNorm(grad: Float32Array, maxNorm: number): number {
  let sumsq = 0;
  for (let i = 0; i < grad.length; i++) sumsq += grad[i] * grad[i];
  const norm = Math.sqrt(sumsq);
  if (maxNorm > 0 && norm > maxNorm) for (let i = 0; i < grad.length; i++) grad[i] *= maxNorm / norm;
  return norm;
}

export interface EvalResult {
  loss: number;
  accuracy: number;
  count: number;
}

/** Held-out loss and accuracy, in batches to bound memory. */
export function evaluate(spec: MlpSpec, params: Float32Array, data: Dataset, limit = data.count, batch = 256): EvalResult {
  const n = Math.min(limit, data.count);
  let correct = 0;
  let lossSum = 0;
  const C = spec.sizes[spec.sizes.length - 1];
  for (let start = 0; start < n; start += batch) {
    const idx = Array.from({ length: Math.min(batch, n - start) }, (_, k) => start + k);
    const { x, y } = gatherBatch(data, idx);
    const acts = mlpForward(spec, params, x, idx.length);
    const logits = acts[acts.length - 1];
    lossSum += softmaxCrossEntropy(logits, y, C).loss * idx.length;
    for (let b = 0; b < idx.length; b++) {
      let best = 0;
      for (let c = 1; c < C; c++) if (logits[b * C + c] > logits[b * C + best]) best = c;
      if (best === y[b]) correct++;
    }
  }
  return { loss: lossSum / n, accuracy: correct / n, count: n };
}

/** AdamW's moments and step count, for training that goes on across calls. */
export interface AdamWState {
  m: Float32Array;
  v: Float32Array;
  /** Steps taken so far (the next one is t + 1). */
  t: number;
}

/**
 * Train H steps on the CPU from `start` (copied); the reference for one round's local work, where
 * AdamW starts from zero state (primed first with cfg.primeSteps: the losses are the round's H
 * steps'). With `state`, AdamW goes on from it and leaves it updated (one long run in pieces: the
 * simulator's centralized rows).
 */
export function trainLocalCpu(
  spec: MlpSpec,
  start: Float32Array,
  data: Dataset,
  batches: ArrayLike<number>[],
  cfg: AdamWConfig,
  state: AdamWState = { m: new Float32Array(start.length), v: new Float32Array(start.length), t: 0 },
): { params: Float32Array; lossBefore: number; lossAfter: number; lossMean: number } {
  checkPrimeStart(cfg, state);
  const params = start.slice();
  const { m, v } = state;
  const prime = cfg.primeSteps ?? 0;
  let lossBefore = NaN;
  let lossAfter = NaN;
  let lossSum = 0;
  const C = spec.sizes[spec.sizes.length - 1];
  primedBatches(batches, cfg).forEach((idx, s) => {
    const { x, y } = gatherBatch(data, idx);
    const acts = mlpForward(spec, params, x, idx.length);
    const { loss, dlogits } = softmaxCrossEntropy(acts[acts.length - 1], y, C);
    if (s === prime) lossBefore = loss;
    if (s >= prime) {
      lossAfter = loss;
      lossSum += loss;
    }
    adamwStep(params, mlpBackward(spec, params, acts, dlogits, idx.length), m, v, ++state.t, cfg);
  });
  return { params, lossBefore, lossAfter, lossMean: lossSum / batches.length };
}
