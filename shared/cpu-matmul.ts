// The CPU reference's one matrix product, written for speed but summing exactly as the naive
// loop does: every output is start + a₀b₀ + a₁b₁ + … in float64, k ascending, so the MLP and GPT
// references (shared/mlp.ts, shared/gpt.ts) give the same bits as their plain triple loops.
// matmul (the GPT's) runs a WebAssembly SIMD kernel (shared/cpu-matmul-wasm.ts) on float64 copies
// of its operands, or matmulNT where WebAssembly SIMD is missing; matmulNT (the MLP's) has both
// operands k contiguous ("NT": A (M, K) row-major times Bᵀ given as (N, K) row-major), and keeps
// a block of outputs in registers per pass over k, so each loaded value is used several times;
// its operands are Float64Array only, so that V8 compiles one monomorphic loop.

import { instantiateMatmulWasm, type WasmMatmul } from './cpu-matmul-wasm.ts';

type Arr = ArrayLike<number>;

/** Where each operand starts in its array (floats), and how each output starts. */
export interface MatmulNTOptions {
  aOff?: number;
  /** Where the second operand (Bᵀ for matmulNT, B for matmulSparseA) starts. */
  bOff?: number;
  outOff?: number;
  /** out[m, n] starts at bias[biasOff + n] (a linear layer's bias). */
  bias?: Arr;
  biasOff?: number;
  /** out[m, n] starts at its current value (a gradient summed over calls); else at 0 or the bias. */
  accumulate?: boolean;
}

/**
 * out (M, N) = start + A (M, K) · Bᵀ, with bt holding B transposed: (N, K). Each output sums its
 * K products in order k = 0 … K−1 onto its start, in float64, before it is stored.
 */
export function matmulNT(out: Float64Array, a: Float64Array, bt: Float64Array, M: number, N: number, K: number, opts: MatmulNTOptions = {}): void {
  const { aOff = 0, bOff = 0, outOff = 0, bias, biasOff = 0, accumulate = false } = opts;
  // Every output's starting value, in place, so that the blocks below read it as any other.
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) if (!accumulate) out[outOff + m * N + n] = bias ? bias[biasOff + n] : 0;
  // 2 × 4 outputs a pass: 8 sums and 6 operands fit x64's 16 float registers (4 × 4 spilled
  // and ran at 0.6–0.75 GMAC/s against 1.1 for 2 × 4 and 4 × 2 on 512×64×256 here).
  const M2 = M - (M % 2);
  const N4 = N - (N % 4);
  for (let m = 0; m < M2; m += 2) {
    const a0 = aOff + m * K;
    const a1 = a0 + K;
    for (let n = 0; n < N4; n += 4) {
      const b0 = bOff + n * K;
      const b1 = b0 + K;
      const b2 = b1 + K;
      const b3 = b2 + K;
      const o0 = outOff + m * N + n;
      const o1 = o0 + N;
      let s00 = out[o0],
        s01 = out[o0 + 1],
        s02 = out[o0 + 2],
        s03 = out[o0 + 3];
      let s10 = out[o1],
        s11 = out[o1 + 1],
        s12 = out[o1 + 2],
        s13 = out[o1 + 3];
      for (let k = 0; k < K; k++) {
        const x0 = a[a0 + k],
          x1 = a[a1 + k];
        const y0 = bt[b0 + k],
          y1 = bt[b1 + k],
          y2 = bt[b2 + k],
          y3 = bt[b3 + k];
        s00 += x0 * y0;
        s01 += x0 * y1;
        s02 += x0 * y2;
        s03 += x0 * y3;
        s10 += x1 * y0;
        s11 += x1 * y1;
        s12 += x1 * y2;
        s13 += x1 * y3;
      }
      out[o0] = s00;
      out[o0 + 1] = s01;
      out[o0 + 2] = s02;
      out[o0 + 3] = s03;
      out[o1] = s10;
      out[o1 + 1] = s11;
      out[o1 + 2] = s12;
      out[o1 + 3] = s13;
    }
  }
  // Edges (M odd, N not a multiple of 4): one output at a time, the same order. (No closures
  // here: a variable a closure captures lives in a context, and the hot loop above slowed 2×.)
  for (let m = 0; m < M; m++)
    for (let n = m < M2 ? N4 : 0; n < N; n++) {
      const o = outOff + m * N + n;
      const am = aOff + m * K;
      const bn = bOff + n * K;
      let s = out[o];
      for (let k = 0; k < K; k++) s += a[am + k] * bt[bn + k];
      out[o] = s;
    }
}

/** Which operands of matmul arrive transposed. */
export interface MatmulOptions extends MatmulNTOptions {
  /** a holds Aᵀ: (K, M) row-major (a linear layer's input, for its weight gradient). */
  aT?: boolean;
  /** b holds Bᵀ: (N, K) row-major (a weight, for its input gradient). */
  bT?: boolean;
}

let wasm: WasmMatmul | null | undefined;
let mem = new Float64Array(0);

/**
 * out (M, N) = start + A (M, K) · B (K, N), each output summed over k ascending onto its start in
 * float64 (the same bits as matmulNT and the naive loop). Operands of any numeric array type, at
 * offsets, either transposed (opts.aT, opts.bT): they are copied as float64 into the WebAssembly
 * SIMD kernel's memory (shared/cpu-matmul-wasm.ts), or, where WebAssembly SIMD is missing, into
 * matmulNT's layout.
 */
export function matmul(out: Float64Array, a: Arr, b: Arr, M: number, N: number, K: number, opts: MatmulOptions = {}): void {
  if (wasm === undefined) wasm = instantiateMatmulWasm();
  if (wasm) matmulWasm(wasm, out, a, b, M, N, K, opts);
  else matmulJs(out, a, b, M, N, K, opts);
}

/** matmul without WebAssembly: the operands rearranged for matmulNT. */
export function matmulJs(out: Float64Array, a: Arr, b: Arr, M: number, N: number, K: number, opts: MatmulOptions = {}): void {
  const { aOff = 0, bOff = 0, aT = false, bT = false, ...rest } = opts;
  const a64 = aT ? transpose(a, K, M, aOff) : f64(a, aOff, M * K);
  const bt = bT ? f64(b, bOff, N * K) : transpose(b, K, N, bOff);
  matmulNT(out, a64, bt, M, N, K, rest);
}

function matmulWasm(w: WasmMatmul, out: Float64Array, a: Arr, b: Arr, M: number, N: number, K: number, opts: MatmulOptions): void {
  const { aOff = 0, bOff = 0, outOff = 0, bias, biasOff = 0, accumulate = false, aT = false, bT = false } = opts;
  // Floats in memory: out (M, N) at 0, a (M, K) after it, b (K, N) after that.
  const [o0, a0, b0] = [0, M * N, M * N + M * K];
  const floats = b0 + K * N;
  if (mem.buffer !== w.memory.buffer || mem.length < floats) {
    const pages = Math.ceil((floats * 8) / 65536) - w.memory.buffer.byteLength / 65536;
    if (pages > 0) w.memory.grow(pages);
    mem = new Float64Array(w.memory.buffer);
  }
  const f = mem;
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) f[o0 + m * N + n] = accumulate ? out[outOff + m * N + n] : bias ? bias[biasOff + n] : 0;
  if (aT) transpose(a, K, M, aOff, f.subarray(a0, a0 + M * K));
  else for (let i = 0; i < M * K; i++) f[a0 + i] = a[aOff + i];
  if (bT) transpose(b, N, K, bOff, f.subarray(b0, b0 + K * N));
  else for (let i = 0; i < K * N; i++) f[b0 + i] = b[bOff + i];
  const M2 = M - (M % 2);
  const N8 = N - (N % 8);
  w.mm(o0 * 8, a0 * 8, b0 * 8, M, N, K, M2, N8);
  // Edges (columns past N8, a last odd row): one output at a time, the same order.
  for (let m = 0; m < M; m++)
    for (let n = m < M2 ? N8 : 0; n < N; n++) {
      let s = f[o0 + m * N + n];
      for (let k = 0; k < K; k++) s += f[a0 + m * K + k] * f[b0 + k * N + n];
      f[o0 + m * N + n] = s;
    }
  out.set(f.subarray(o0, o0 + M * N), outOff);
}

/**
 * out (M, N) = start + A (M, K) · B (K, N), both row-major, skipping A's zeros: for inputs that
 * are mostly zero (MNIST's blank pixels are 81 % of them, ReLU gates about half a hidden layer).
 * Each output sums a[m, k]·b[k, n] over k ascending onto its start in float64, like matmulNT; a
 * skipped term is a zero, so the result equals the dense sum for finite B. Operands are float32
 * (the MLP's activations, weights and gradients), read as they are.
 */
export function matmulSparseA(out: Float64Array, a: Float32Array, b: Float32Array, M: number, N: number, K: number, opts: MatmulNTOptions = {}): void {
  const { aOff = 0, bOff = 0, outOff = 0, bias, biasOff = 0, accumulate = false } = opts;
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) if (!accumulate) out[outOff + m * N + n] = bias ? bias[biasOff + n] : 0;
  const cols = new Int32Array(K);
  const vals = new Float64Array(K);
  const N4 = N - (N % 4);
  for (let m = 0; m < M; m++) {
    let nz = 0;
    for (let k = 0; k < K; k++) {
      const v = a[aOff + m * K + k];
      if (v !== 0) {
        cols[nz] = bOff + k * N;
        vals[nz++] = v;
      }
    }
    const o = outOff + m * N;
    for (let n = 0; n < N4; n += 4) {
      let s0 = out[o + n],
        s1 = out[o + n + 1],
        s2 = out[o + n + 2],
        s3 = out[o + n + 3];
      for (let j = 0; j < nz; j++) {
        const x = vals[j];
        const r = cols[j] + n;
        s0 += x * b[r];
        s1 += x * b[r + 1];
        s2 += x * b[r + 2];
        s3 += x * b[r + 3];
      }
      out[o + n] = s0;
      out[o + n + 1] = s1;
      out[o + n + 2] = s2;
      out[o + n + 3] = s3;
    }
    for (let n = N4; n < N; n++) {
      let s = out[o + n];
      for (let j = 0; j < nz; j++) s += vals[j] * b[cols[j] + n];
      out[o + n] = s;
    }
  }
}

/** Fraction of zeros among n values of x from off. */
export function zeroFraction(x: ArrayLike<number>, off = 0, n = x.length - off): number {
  let z = 0;
  for (let i = 0; i < n; i++) if (x[off + i] === 0) z++;
  return n > 0 ? z / n : 0;
}

/** n values of x from off, as float64. */
export function f64(x: Arr, off = 0, n = x.length - off): Float64Array {
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) t[i] = x[off + i];
  return t;
}

/** (rows, cols) row-major from off → (cols, rows) row-major, into `t` (float64 unless given). */
export function transpose<T extends Float64Array | Float32Array = Float64Array>(
  x: Arr,
  rows: number,
  cols: number,
  off = 0,
  t: T = new Float64Array(rows * cols) as T,
): T {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = x[off + r * cols + c];
  return t;
}
