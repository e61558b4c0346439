// Model presets and the flat parameter table.
//
// Every parameter of a model lives in one Float32Array; this table says where each
// tensor sits. Gradients, optimizer state, pseudo-gradients and update frames all use
// the same layout, and the table's hash travels in every handshake and frame so that
// peers with a different layout are refused before any byte is interpreted.
import { toBytes, type Hex } from 'viem';
import { keccak256 } from './keccak.ts';
import { createRng, gaussian } from './rng.ts';

export interface TensorSpec {
  name: string;
  shape: number[];
  /** Offset in floats into the flat parameter array. */
  offset: number;
  size: number;
  /** he: N(0, 2/fanIn); normal: N(0, std²); ones / zeros: constant. */
  init: 'he' | 'zeros' | 'ones' | 'normal';
  /** Fan-in used by He initialisation. */
  fanIn: number;
  /** Standard deviation for `normal`. */
  std?: number;
}

export interface MlpSpec {
  preset: 'mlp';
  /** Layer widths, input first: [784, 128, 10] is 784 → 128 (ReLU) → 10 (softmax). */
  sizes: number[];
  tensors: TensorSpec[];
  paramCount: number;
}

/** Shape of the decoder-only GPT preset (shared/gpt.ts holds its CPU reference). */
export interface GptDims {
  /** Token ids 0 … vocab−1 (256: bytes). */
  vocab: number;
  /** Longest sequence T; position embeddings exist for 0 … context−1. */
  context: number;
  /** Residual stream width C. */
  width: number;
  layers: number;
  /** Attention heads; width must be a multiple of heads. */
  heads: number;
  /** MLP hidden width (GELU). */
  hidden: number;
}

/** The GPT preset's default dims: byte vocabulary, 2 layers of width 64, 4 heads, context 64, MLP 256. */
export const GPT_DEFAULT: Readonly<GptDims> = Object.freeze({ vocab: 256, context: 64, width: 64, layers: 2, heads: 4, hidden: 256 });
/** gpt-small dims (~10.9 M parameters with bytes): 6 layers of width 384, 6 heads of 64, context 256, MLP 4×. */
export const GPT_SMALL: Readonly<GptDims> = Object.freeze({ vocab: 256, context: 256, width: 384, layers: 6, heads: 6, hidden: 1536 });
/** gpt-base dims (~25.6 M parameters with bytes): 8 layers of width 512, 8 heads of 64, context 256, MLP 4×. */
export const GPT_BASE: Readonly<GptDims> = Object.freeze({ vocab: 256, context: 256, width: 512, layers: 8, heads: 8, hidden: 2048 });

export interface GptSpec {
  preset: 'gpt';
  dims: GptDims;
  tensors: TensorSpec[];
  paramCount: number;
}

export type ModelSpec = MlpSpec | GptSpec;

/** Lays `entries` out back to back in one flat table. */
function table(entries: Omit<TensorSpec, 'offset' | 'size'>[]): { tensors: TensorSpec[]; paramCount: number } {
  let offset = 0;
  const tensors = entries.map((e) => {
    const size = e.shape.reduce((a, b) => a * b, 1);
    const t = { ...e, offset, size };
    offset += size;
    return t;
  });
  return { tensors, paramCount: offset };
}

/**
 * MLP: for layer l, W_l is (in, out) row-major so that h_{l+1} = h_l · W_l + b_l with
 * h_l (B, in). ReLU between layers, softmax cross-entropy on the last.
 */
export function mlpSpec(sizes: number[]): MlpSpec {
  if (sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new Error(`mlpSpec: sizes must be ≥2 positive integers, got [${sizes.join(', ')}]`);
  }
  const entries: Omit<TensorSpec, 'offset' | 'size'>[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const [fin, fout] = [sizes[l], sizes[l + 1]];
    entries.push({ name: `w${l}`, shape: [fin, fout], init: 'he', fanIn: fin });
    entries.push({ name: `b${l}`, shape: [fout], init: 'zeros', fanIn: fin });
  }
  return { preset: 'mlp', sizes: [...sizes], ...table(entries) };
}

/**
 * GPT (decoder-only, pre-layernorm), every matrix (in, out) row-major so that y = x · W + b:
 *   wte (vocab, C), wpe (context, C)
 *   per layer l, prefix `h{l}.`: ln1.g, ln1.b (C); qkv.w (C, 3C) with q, k, v in that order and
 *   heads contiguous inside each, no bias; proj.w (C, C), proj.b (C); ln2.g, ln2.b (C);
 *   fc.w (C, hidden), fc.b (hidden); out.w (hidden, C), out.b (C)
 *   lnf.g, lnf.b (C); head.w (C, vocab)
 * The head is untied from wte (a separate (C, vocab) matrix, no bias): one more matrix of
 * C·vocab floats in exchange for one plain matmul each way and no gradient sum across ends.
 * qkv has no bias: the key bias's gradient is identically zero (softmax ignores a shift common
 * to a row's scores), and Adam turns the f32 rounding noise a GPU leaves there into ±lr steps,
 * so honest GPU work would drift from the CPU re-execution that verifies it.
 * Init as GPT-2: N(0, 0.02²), residual projections N(0, (0.02/√(2·layers))²), gains 1.
 */
export function gptSpec(dims: GptDims = GPT_DEFAULT): GptSpec {
  const { vocab, context, width: C, layers, heads, hidden } = dims;
  for (const k of Object.keys(GPT_DEFAULT) as (keyof GptDims)[]) {
    if (!Number.isInteger(dims[k]) || dims[k] < 1) throw new Error(`gptSpec: ${k} must be a positive integer, got ${dims[k]}`);
  }
  if (C % heads !== 0) throw new Error(`gptSpec: width ${C} is not a multiple of heads ${heads}`);
  const w = (name: string, shape: number[], std = 0.02) => ({ name, shape, init: 'normal' as const, fanIn: shape[0], std });
  const zeros = (name: string, n: number) => ({ name, shape: [n], init: 'zeros' as const, fanIn: n });
  const ones = (name: string, n: number) => ({ name, shape: [n], init: 'ones' as const, fanIn: n });
  const residualStd = 0.02 / Math.sqrt(2 * layers);
  const entries: Omit<TensorSpec, 'offset' | 'size'>[] = [w('wte', [vocab, C]), w('wpe', [context, C])];
  for (let l = 0; l < layers; l++) {
    const p = `h${l}.`;
    entries.push(ones(`${p}ln1.g`, C), zeros(`${p}ln1.b`, C), w(`${p}qkv.w`, [C, 3 * C]));
    entries.push(w(`${p}proj.w`, [C, C], residualStd), zeros(`${p}proj.b`, C), ones(`${p}ln2.g`, C), zeros(`${p}ln2.b`, C));
    entries.push(w(`${p}fc.w`, [C, hidden]), zeros(`${p}fc.b`, hidden), w(`${p}out.w`, [hidden, C], residualStd), zeros(`${p}out.b`, C));
  }
  entries.push(ones('lnf.g', C), zeros('lnf.b', C), w('head.w', [C, vocab]));
  return { preset: 'gpt', dims: { ...dims }, ...table(entries) };
}

/** Hash of the layout (names, shapes, offsets): equal hashes ⇔ interchangeable parameter arrays. */
export function paramTableHash(spec: ModelSpec): Hex {
  const canonical = JSON.stringify({
    preset: spec.preset,
    tensors: spec.tensors.map((t) => [t.name, t.shape, t.offset]),
  });
  return keccak256(toBytes(canonical));
}

/** Deterministic initial parameters, as each tensor's `init` says. */
export function initParams(spec: ModelSpec, seed: number): Float32Array {
  const params = new Float32Array(spec.paramCount);
  const rand = createRng(seed);
  for (const t of spec.tensors) {
    if (t.init === 'zeros') continue;
    if (t.init === 'ones') {
      params.fill(1, t.offset, t.offset + t.size);
      continue;
    }
    const std = t.init === 'he' ? Math.sqrt(2 / t.fanIn) : (t.std ?? 0.02);
    for (let i = 0; i < t.size; i++) params[t.offset + i] = gaussian(rand) * std;
  }
  return params;
}

/** keccak256 of the little-endian float32 bytes: the model hash h_r. */
export function hashParams(params: Float32Array): Hex {
  return keccak256(new Uint8Array(params.buffer, params.byteOffset, params.byteLength));
}

export function tensor(spec: ModelSpec, name: string): TensorSpec {
  const t = spec.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`model has no tensor "${name}"`);
  return t;
}
