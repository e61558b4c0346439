// CPU reference for the GPT preset (shared/model.ts gptSpec): every op forward and backward in
// float64 plain loops, the whole model's loss and gradient, and held-out evaluation on bytes.
// The GPU kernels' .ref.ts files and the GPU trainer are checked against these; the
// coordinator evaluates committed rounds with gptEvaluate. Shapes: B sequences of T tokens,
// C = width, NH heads of hs = C / NH, V = vocab.
import { adamwStep, checkPrimeStart, clipGradNorm, primedBatches, type AdamWConfig, type AdamWState } from './mlp.ts';
import { matmul } from './cpu-matmul.ts';
import type { GptSpec } from './model.ts';

type Arr = ArrayLike<number>;

/** Layernorm's ε, the same on the GPU (kernels/layernorm). */
export const LN_EPS = 1e-5;

/** x (rows, fin) · w[wOff…] (fin, fout) + b[bOff…] (fout) → (rows, fout). bOff < 0: no bias. */
export function linearForward(x: Arr, rows: number, fin: number, fout: number, p: Arr, wOff: number, bOff: number): Float64Array {
  const out = new Float64Array(rows * fout);
  matmul(out, x, p, rows, fout, fin, bOff >= 0 ? { bOff: wOff, bias: p, biasOff: bOff } : { bOff: wOff });
  return out;
}

/** Backward of linearForward: returns dx (rows, fin); adds dW, db into grad at the same offsets. */
export function linearBackward(dy: Arr, x: Arr, rows: number, fin: number, fout: number, p: Arr, wOff: number, bOff: number, grad: Float64Array): Float64Array {
  // dx (rows, fin) = dy · Wᵀ; dW (fin, fout) += xᵀ · dy and db += Σ_r dy, each summed over r in order.
  const dx = new Float64Array(rows * fin);
  matmul(dx, dy, p, rows, fin, fout, { bOff: wOff, bT: true });
  matmul(grad, x, dy, fin, fout, rows, { aT: true, outOff: wOff, accumulate: true });
  if (bOff >= 0)
    for (let o = 0; o < fout; o++) {
      let s = grad[bOff + o];
      for (let r = 0; r < rows; r++) s += dy[r * fout + o];
      grad[bOff + o] = s;
    }
  return dx;
}

/** x (rows, C) → y (rows, C), with mean and rstd = 1/√(var + ε) per row (rows). */
export function layernormForward(x: Arr, gamma: Arr, beta: Arr, rows: number, C: number): { y: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const y = new Float64Array(rows * C);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < C; c++) m += x[r * C + c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c] - m) ** 2;
    const s = 1 / Math.sqrt(v / C + LN_EPS);
    for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c] - m) * s * gamma[c] + beta[c];
    mean[r] = m;
    rstd[r] = s;
  }
  return { y, mean, rstd };
}

/** dy, x (rows, C) → dx (rows, C), dgamma, dbeta (C). mean/rstd as layernormForward returned them. */
export function layernormBackward(
  dy: Arr,
  x: Arr,
  gamma: Arr,
  mean: Arr,
  rstd: Arr,
  rows: number,
  C: number,
): { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array } {
  const dx = new Float64Array(rows * C);
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  for (let r = 0; r < rows; r++) {
    let sumD = 0;
    let sumDN = 0;
    for (let c = 0; c < C; c++) {
      const n = (x[r * C + c] - mean[r]) * rstd[r];
      const d = dy[r * C + c] * gamma[c];
      sumD += d;
      sumDN += d * n;
      dgamma[c] += dy[r * C + c] * n;
      dbeta[c] += dy[r * C + c];
    }
    for (let c = 0; c < C; c++) {
      const n = (x[r * C + c] - mean[r]) * rstd[r];
      dx[r * C + c] = rstd[r] * (dy[r * C + c] * gamma[c] - sumD / C - (n * sumDN) / C);
    }
  }
  return { dx, dgamma, dbeta };
}

const GELU_K = Math.sqrt(2 / Math.PI);

/**
 * tanh(√(2/π)·(u + 0.044715·u³)): GELU's gate, kept from the forward pass for the backward.
 * u·u·u, not u ** 3: V8 calls pow for that, which took two thirds of the GELU loops' time.
 */
const geluTanh = (u: number) => Math.tanh(GELU_K * (u + 0.044715 * (u * u * u)));
const geluOf = (u: number, t: number) => 0.5 * u * (1 + t);
const geluGradOf = (u: number, t: number) => 0.5 * (1 + t) + 0.5 * u * (1 - t * t) * GELU_K * (1 + 3 * 0.044715 * u * u);

/** GELU, tanh approximation (GPT-2): 0.5·u·(1 + tanh(√(2/π)·(u + 0.044715·u³))). */
export function gelu(u: number): number {
  return geluOf(u, geluTanh(u));
}

export function geluGrad(u: number): number {
  return geluGradOf(u, geluTanh(u));
}

/**
 * Causal multi-head self-attention. qkv (B, T, 3C) as [q | k | v], heads contiguous in each →
 * out (B, T, C), the softmax probabilities att (B, NH, T, T) (zero above the diagonal) and each
 * query row's log-sum-exp lse (B, NH, T) = log Σ_{u ≤ t} exp(q_t·k_u / √hs), which the fused GPU
 * kernel keeps instead of att.
 */
export function attentionForward(qkv: Arr, B: number, T: number, C: number, NH: number): { out: Float64Array; att: Float64Array; lse: Float64Array } {
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  const out = new Float64Array(B * T * C);
  const att = new Float64Array(B * NH * T * T);
  const lse = new Float64Array(B * NH * T);
  const row = new Float64Array(T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < NH; h++)
      for (let t = 0; t < T; t++) {
        const q = (b * T + t) * 3 * C + h * hs;
        let mx = -Infinity;
        for (let u = 0; u <= t; u++) {
          const k = (b * T + u) * 3 * C + C + h * hs;
          let s = 0;
          for (let i = 0; i < hs; i++) s += qkv[q + i] * qkv[k + i];
          row[u] = s * scale;
          mx = Math.max(mx, row[u]);
        }
        let sum = 0;
        for (let u = 0; u <= t; u++) sum += row[u] = Math.exp(row[u] - mx);
        lse[(b * NH + h) * T + t] = mx + Math.log(sum);
        const a = ((b * NH + h) * T + t) * T;
        for (let u = 0; u <= t; u++) {
          const p = row[u] / sum;
          att[a + u] = p;
          const v = (b * T + u) * 3 * C + 2 * C + h * hs;
          for (let i = 0; i < hs; i++) out[(b * T + t) * C + h * hs + i] += p * qkv[v + i];
        }
      }
  return { out, att, lse };
}

/** dout (B, T, C), qkv and att as attentionForward used and returned them → dqkv (B, T, 3C). */
export function attentionBackward(dout: Arr, qkv: Arr, att: Arr, B: number, T: number, C: number, NH: number): Float64Array {
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  const dqkv = new Float64Array(B * T * 3 * C);
  const datt = new Float64Array(T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < NH; h++)
      for (let t = 0; t < T; t++) {
        const a = ((b * NH + h) * T + t) * T;
        const o = (b * T + t) * C + h * hs;
        const q = (b * T + t) * 3 * C + h * hs;
        let dot = 0;
        for (let u = 0; u <= t; u++) {
          const v = (b * T + u) * 3 * C + 2 * C + h * hs;
          let s = 0;
          for (let i = 0; i < hs; i++) {
            s += dout[o + i] * qkv[v + i];
            dqkv[v + i] += att[a + u] * dout[o + i];
          }
          datt[u] = s;
          dot += att[a + u] * s;
        }
        for (let u = 0; u <= t; u++) {
          const dpre = att[a + u] * (datt[u] - dot) * scale;
          const k = (b * T + u) * 3 * C + C + h * hs;
          for (let i = 0; i < hs; i++) {
            dqkv[q + i] += dpre * qkv[k + i];
            dqkv[k + i] += dpre * qkv[q + i];
          }
        }
      }
  return dqkv;
}

/** tokens (B, T) → x (B, T, C) = wte[token] + wpe[t]. */
export function embeddingForward(tokens: Arr, p: Arr, wteOff: number, wpeOff: number, B: number, T: number, C: number): Float64Array {
  const x = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) x[(b * T + t) * C + c] = p[wteOff + tokens[b * T + t] * C + c] + p[wpeOff + t * C + c];
  return x;
}

/** Scatter-adds dx (B, T, C) into grad's wte rows (by token) and wpe rows (by position). */
export function embeddingBackward(dx: Arr, tokens: Arr, wteOff: number, wpeOff: number, B: number, T: number, C: number, grad: Float64Array): void {
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let c = 0; c < C; c++) {
        const g = dx[(b * T + t) * C + c];
        grad[wteOff + tokens[b * T + t] * C + c] += g;
        grad[wpeOff + t * C + c] += g;
      }
}

/** logits (rows, V), targets (rows) → mean cross-entropy and dlogits = (softmax − onehot) / rows. */
export function crossEntropy(logits: Arr, targets: Arr, V: number): { loss: number; dlogits: Float64Array } {
  const rows = targets.length;
  const d = new Float64Array(rows * V);
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    let mx = -Infinity;
    for (let c = 0; c < V; c++) mx = Math.max(mx, logits[r * V + c]);
    let sum = 0;
    for (let c = 0; c < V; c++) sum += Math.exp(logits[r * V + c] - mx);
    loss += Math.log(sum) + mx - logits[r * V + targets[r]];
    for (let c = 0; c < V; c++) d[r * V + c] = (Math.exp(logits[r * V + c] - mx) / sum - (c === targets[r] ? 1 : 0)) / rows;
  }
  return { loss: loss / rows, dlogits: d };
}

/** Float offsets of every tensor of the spec, by role, per layer. */
export function gptOffsets(spec: GptSpec) {
  const at = new Map(spec.tensors.map((t) => [t.name, t.offset]));
  const o = (name: string) => at.get(name)!;
  return {
    wte: o('wte'),
    wpe: o('wpe'),
    layers: Array.from({ length: spec.dims.layers }, (_, l) => {
      const p = `h${l}.`;
      return {
        ln1g: o(`${p}ln1.g`),
        ln1b: o(`${p}ln1.b`),
        qkvw: o(`${p}qkv.w`),
        projw: o(`${p}proj.w`),
        projb: o(`${p}proj.b`),
        ln2g: o(`${p}ln2.g`),
        ln2b: o(`${p}ln2.b`),
        fcw: o(`${p}fc.w`),
        fcb: o(`${p}fc.b`),
        outw: o(`${p}out.w`),
        outb: o(`${p}out.b`),
      };
    }),
    lnfg: o('lnf.g'),
    lnfb: o('lnf.b'),
    head: o('head.w'),
  };
}

const sub = (p: Arr, off: number, n: number) => Array.prototype.slice.call(p, off, off + n) as number[];

/** Validates a (B, T) batch of token ids against the spec. */
export function checkTokens(spec: GptSpec, tokens: Arr, B: number, T: number): void {
  if (!Number.isInteger(T) || T < 1 || T > spec.dims.context) throw new RangeError(`GPT: T = ${T} outside 1 … context ${spec.dims.context}`);
  if (tokens.length !== B * T) throw new RangeError(`GPT: ${tokens.length} tokens, expected B ${B} × T ${T}`);
  for (let i = 0; i < tokens.length; i++) {
    if (!(tokens[i] >= 0 && tokens[i] < spec.dims.vocab && Number.isInteger(tokens[i])))
      throw new RangeError(`GPT: token ${tokens[i]} at ${i} is not < vocab ${spec.dims.vocab}`);
  }
}

/** Mean next-token loss of (B, T) inputs against (B, T) targets, and its gradient in the flat layout. */
export function gptLossAndGrad(
  spec: GptSpec,
  p: Arr,
  tokens: Arr,
  targets: Arr,
  B: number,
  T: number,
  wantGrad = true,
): { loss: number; grad: Float64Array | null; logits: Float64Array } {
  checkTokens(spec, tokens, B, T);
  checkTokens(spec, targets, B, T);
  const { vocab: V, width: C, heads: NH, hidden: Hd } = spec.dims;
  const O = gptOffsets(spec);
  const R = B * T;
  const x0 = embeddingForward(tokens, p, O.wte, O.wpe, B, T, C);
  type Saved = ReturnType<typeof layerForward>;
  const saved: Saved[] = [];
  function layerForward(x: Float64Array, L: (typeof O.layers)[number]) {
    const ln1 = layernormForward(x, sub(p, L.ln1g, C), sub(p, L.ln1b, C), R, C);
    const qkv = linearForward(ln1.y, R, C, 3 * C, p, L.qkvw, -1);
    const at = attentionForward(qkv, B, T, C, NH);
    const proj = linearForward(at.out, R, C, C, p, L.projw, L.projb);
    const x1 = sum(x, proj);
    const ln2 = layernormForward(x1, sub(p, L.ln2g, C), sub(p, L.ln2b, C), R, C);
    const pre = linearForward(ln2.y, R, C, Hd, p, L.fcw, L.fcb);
    const gate = new Float64Array(pre.length);
    const act = new Float64Array(pre.length);
    for (let i = 0; i < pre.length; i++) act[i] = geluOf(pre[i], (gate[i] = geluTanh(pre[i])));
    const mlp = linearForward(act, R, Hd, C, p, L.outw, L.outb);
    const x2 = sum(x1, mlp);
    return { x, ln1, qkv, at, x1, ln2, pre, gate, act, x2 };
  }
  let x = x0;
  for (const L of O.layers) {
    const s = layerForward(x, L);
    saved.push(s);
    x = s.x2;
  }
  const lnf = layernormForward(x, sub(p, O.lnfg, C), sub(p, O.lnfb, C), R, C);
  const logits = linearForward(lnf.y, R, C, V, p, O.head, -1);
  const { loss, dlogits } = crossEntropy(logits, targets, V);
  if (!wantGrad) return { loss, grad: null, logits };

  const grad = new Float64Array(spec.paramCount);
  const dlnf = linearBackward(dlogits, lnf.y, R, C, V, p, O.head, -1, grad);
  const lf = layernormBackward(dlnf, x, sub(p, O.lnfg, C), lnf.mean, lnf.rstd, R, C);
  addInto(grad, O.lnfg, lf.dgamma);
  addInto(grad, O.lnfb, lf.dbeta);
  let dx = lf.dx;
  for (let l = O.layers.length - 1; l >= 0; l--) {
    const L = O.layers[l];
    const s = saved[l];
    // x2 = x1 + mlp(ln2(x1)): the residual passes dx through, the branch adds its input gradient.
    const dact = linearBackward(dx, s.act, R, Hd, C, p, L.outw, L.outb, grad);
    const dpre = new Float64Array(dact.length);
    for (let i = 0; i < dact.length; i++) dpre[i] = dact[i] * geluGradOf(s.pre[i], s.gate[i]);
    const dln2 = linearBackward(dpre, s.ln2.y, R, C, Hd, p, L.fcw, L.fcb, grad);
    const l2 = layernormBackward(dln2, s.x1, sub(p, L.ln2g, C), s.ln2.mean, s.ln2.rstd, R, C);
    addInto(grad, L.ln2g, l2.dgamma);
    addInto(grad, L.ln2b, l2.dbeta);
    const dx1 = sum(dx, l2.dx);
    const dattOut = linearBackward(dx1, s.at.out, R, C, C, p, L.projw, L.projb, grad);
    const dqkv = attentionBackward(dattOut, s.qkv, s.at.att, B, T, C, NH);
    const dln1 = linearBackward(dqkv, s.ln1.y, R, C, 3 * C, p, L.qkvw, -1, grad);
    const l1 = layernormBackward(dln1, s.x, sub(p, L.ln1g, C), s.ln1.mean, s.ln1.rstd, R, C);
    addInto(grad, L.ln1g, l1.dgamma);
    addInto(grad, L.ln1b, l1.dbeta);
    dx = sum(dx1, l1.dx);
  }
  embeddingBackward(dx, tokens, O.wte, O.wpe, B, T, C, grad);
  return { loss, grad, logits };
}

/** a + b, elementwise (the residual stream and its gradient). */
function sum(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

function addInto(grad: Float64Array, off: number, g: Float64Array): void {
  for (let i = 0; i < g.length; i++) grad[off + i] += g[i];
}

/** Mean next-byte loss over `windows` non-overlapping windows of T+1 bytes of `text` (held-out evaluation). */
export function gptEvaluate(spec: GptSpec, params: Arr, text: Uint8Array, T = spec.dims.context, maxWindows = 16): { loss: number; tokens: number } {
  const windows = Math.min(maxWindows, Math.floor((text.length - 1) / T));
  if (windows < 1) throw new RangeError(`gptEvaluate: ${text.length} bytes hold no window of ${T + 1}`);
  const tokens = new Uint32Array(windows * T);
  const targets = new Uint32Array(windows * T);
  for (let w = 0; w < windows; w++)
    for (let t = 0; t < T; t++) {
      tokens[w * T + t] = text[w * T + t];
      targets[w * T + t] = text[w * T + t + 1];
    }
  return { loss: gptLossAndGrad(spec, params, tokens, targets, windows, T, false).loss, tokens: windows * T };
}

/**
 * Training windows of a byte corpus: window i starts at offsets[i] and gives T input bytes and
 * the T bytes after each as targets. Tokens (B, T) and targets (B, T) for one batch.
 */
export function byteBatch(text: Uint8Array, starts: ArrayLike<number>, T: number): { tokens: Uint32Array; targets: Uint32Array } {
  const B = starts.length;
  const tokens = new Uint32Array(B * T);
  const targets = new Uint32Array(B * T);
  for (let b = 0; b < B; b++) {
    const s = starts[b];
    if (!Number.isInteger(s) || s < 0 || s + T + 1 > text.length) throw new RangeError(`window start ${s} at ${b}: needs ${T + 1} bytes of ${text.length}`);
    for (let t = 0; t < T; t++) {
      tokens[b * T + t] = text[s + t];
      targets[b * T + t] = text[s + t + 1];
    }
  }
  return { tokens, targets };
}

/**
 * One round of local training on the CPU from `start` (copied): per step, loss and gradient of
 * the batch, gradient clipped to cfg.maxGradNorm, AdamW from zero state (or, with `state`, going
 * on from it, as trainLocalCpu; primed first with cfg.primeSteps, whose losses are left out). The
 * reference for the GPU trainer (kernels/gpt-trainer.ts) and for re-executing a GPT contribution.
 */
export function trainGptLocalCpu(
  spec: GptSpec,
  start: Float32Array,
  batches: { tokens: ArrayLike<number>; targets: ArrayLike<number> }[],
  B: number,
  T: number,
  cfg: AdamWConfig,
  state: AdamWState = { m: new Float32Array(start.length), v: new Float32Array(start.length), t: 0 },
): { params: Float32Array; losses: number[] } {
  checkPrimeStart(cfg, state);
  const params = start.slice();
  const { m, v } = state;
  const losses = primedBatches(batches, cfg).map(({ tokens, targets }) => {
    const { loss, grad } = gptLossAndGrad(spec, params, tokens, targets, B, T);
    const g = Float32Array.from(grad!);
    clipGradNorm(g, cfg.maxGradNorm ?? 0);
    adamwStep(params, g, m, v, ++state.t, cfg);
    return loss;
  });
  return { params, losses: losses.slice(cfg.primeSteps ?? 0) };
}
