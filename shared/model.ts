// Model presets and the flat parameter table.
//
// Every parameter of a model lives in one Float32Array; this table says where each
// tensor sits. Gradients, optimizer state, pseudo-gradients and update frames all use
// the same layout, and the table's hash travels in every handshake and frame so that
// peers with a different layout are refused before any byte is interpreted.
import { keccak256, toBytes, type Hex } from 'viem';
import { createRng, gaussian } from './rng.ts';

export interface TensorSpec {
  name: string;
  shape: number[];
  /** Offset in floats into the flat parameter array. */
  offset: number;
  size: number;
  init: 'he' | 'zeros';
  /** Fan-in used by He initialisation. */
  fanIn: number;
}

export interface MlpSpec {
  preset: 'mlp';
  /** Layer widths, input first: [784, 128, 10] is 784 → 128 (ReLU) → 10 (softmax). */
  sizes: number[];
  tensors: TensorSpec[];
  paramCount: number;
}

export type ModelSpec = MlpSpec;

/**
 * MLP: for layer l, W_l is (in, out) row-major so that h_{l+1} = h_l · W_l + b_l with
 * h_l (B, in). ReLU between layers, softmax cross-entropy on the last.
 */
export function mlpSpec(sizes: number[]): MlpSpec {
  if (sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new Error(`mlpSpec: sizes must be ≥2 positive integers, got [${sizes.join(', ')}]`);
  }
  const tensors: TensorSpec[] = [];
  let offset = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const [fin, fout] = [sizes[l], sizes[l + 1]];
    tensors.push({ name: `w${l}`, shape: [fin, fout], offset, size: fin * fout, init: 'he', fanIn: fin });
    offset += fin * fout;
    tensors.push({ name: `b${l}`, shape: [fout], offset, size: fout, init: 'zeros', fanIn: fin });
    offset += fout;
  }
  return { preset: 'mlp', sizes: [...sizes], tensors, paramCount: offset };
}

/** Hash of the layout (names, shapes, offsets): equal hashes ⇔ interchangeable parameter arrays. */
export function paramTableHash(spec: ModelSpec): Hex {
  const canonical = JSON.stringify({
    preset: spec.preset,
    tensors: spec.tensors.map((t) => [t.name, t.shape, t.offset]),
  });
  return keccak256(toBytes(canonical));
}

/** Deterministic initial parameters (He-normal weights, zero biases). */
export function initParams(spec: ModelSpec, seed: number): Float32Array {
  const params = new Float32Array(spec.paramCount);
  const rand = createRng(seed);
  for (const t of spec.tensors) {
    if (t.init === 'zeros') continue;
    const std = Math.sqrt(2 / t.fanIn);
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
