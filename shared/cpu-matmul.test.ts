import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matmul, matmulJs, matmulNT, matmulSparseA, transpose } from './cpu-matmul.ts';
import { instantiateMatmulWasm } from './cpu-matmul-wasm.ts';
import { createRng } from './rng.ts';

// The naive loop the reference had: start, then k = 0, 1, … in float64.
function naive(a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number, start: (m: number, n: number) => number): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = start(m, n);
      for (let k = 0; k < K; k++) s += a[m * K + k] * b[k * N + n];
      out[m * N + n] = s;
    }
  return out;
}

const rand = createRng(17);
const values = (n: number, zeros = 0) => Float32Array.from({ length: n }, () => (rand() < zeros ? 0 : rand() - 0.5));

test('matmulNT and matmulSparseA equal the naive loop to the bit, at shapes off the 2 × 4 block, with bias and accumulation', () => {
  for (const [M, N, K] of [
    [1, 1, 1],
    [2, 4, 3],
    [5, 7, 9],
    [8, 10, 33],
    [3, 13, 1],
  ]) {
    const a = values(M * K, 0.5);
    const b = values(K * N);
    const bias = values(N + 3);
    const prior = Float64Array.from(values(M * N));
    const cases: [string, Parameters<typeof matmulNT>[6], (m: number, n: number) => number][] = [
      ['zero', {}, () => 0],
      ['bias', { bias, biasOff: 3 }, (_m, n) => bias[3 + n]],
      ['accumulate', { accumulate: true }, (m, n) => prior[m * N + n]],
    ];
    for (const [what, opts, start] of cases) {
      const want = naive(a, b, M, N, K, start);
      const nt = prior.slice();
      matmulNT(nt, Float64Array.from(a), transpose(b, K, N), M, N, K, opts);
      assert.deepEqual(nt, want, `matmulNT ${M}×${N}×${K} ${what}`);
      const sparse = prior.slice();
      matmulSparseA(sparse, a, b, M, N, K, opts);
      assert.deepEqual(sparse, want, `matmulSparseA ${M}×${N}×${K} ${what}`);
    }
  }
});

test('operands and output at offsets', () => {
  const [M, N, K] = [3, 5, 4];
  const a = values(7 + M * K);
  const b = values(2 + K * N);
  const want = naive(a.subarray(7), b.subarray(2), M, N, K, () => 0);
  const out = new Float64Array(1 + M * N);
  matmulNT(out, Float64Array.from(a), Float64Array.from([0, 0, 0, ...transpose(b, K, N, 2)]), M, N, K, { aOff: 7, bOff: 3, outOff: 1 });
  assert.deepEqual(out.subarray(1), want);
  const out2 = new Float64Array(1 + M * N);
  matmulSparseA(out2, a, b, M, N, K, { aOff: 7, bOff: 2, outOff: 1 });
  assert.deepEqual(out2.subarray(1), want);
});

test('matmul (WebAssembly SIMD, and its JavaScript fallback) equals the naive loop to the bit, operands transposed or not, off the 2 × 8 block', () => {
  assert.ok(instantiateMatmulWasm(), 'WebAssembly SIMD is missing here: matmul would test only its fallback');
  for (const [M, N, K] of [
    [1, 1, 1],
    [2, 8, 3],
    [5, 7, 9],
    [4, 17, 33],
    [9, 24, 2],
    [16, 64, 64],
  ]) {
    const a = values(3 + M * K, 0.3);
    const b = values(5 + K * N);
    const bias = values(N + 2);
    const prior = Float64Array.from(values(M * N));
    const aM = a.subarray(3);
    const bM = b.subarray(5);
    const cases: [string, Parameters<typeof matmul>[6], (m: number, n: number) => number][] = [
      ['zero', {}, () => 0],
      ['bias', { bias, biasOff: 2 }, (_m, n) => bias[2 + n]],
      ['accumulate', { accumulate: true }, (m, n) => prior[m * N + n]],
    ];
    for (const [what, opts, start] of cases) {
      const want = naive(aM, bM, M, N, K, start);
      // a as (M, K) or as Aᵀ (K, M), b as (K, N) or as Bᵀ (N, K), each at an offset.
      const aT = Float32Array.from([0, 0, 0, ...transpose(aM, M, K)]);
      const bT = Float64Array.from([0, 0, 0, 0, 0, ...transpose(bM, K, N)]);
      for (const [layout, aIn, bIn, flags] of [
        ['A B', a, b, {}],
        ['Aᵀ B', aT, b, { aT: true }],
        ['A Bᵀ', a, bT, { bT: true }],
      ] as const)
        for (const [impl, fn] of [
          ['wasm', matmul],
          ['js', matmulJs],
        ] as const) {
          const out = Float64Array.from([7, ...prior]);
          fn(out, aIn, bIn, M, N, K, { ...opts, ...flags, aOff: 3, bOff: 5, outOff: 1 });
          assert.equal(out[0], 7, `${impl} ${layout} ${M}×${N}×${K} ${what}: wrote before outOff`);
          assert.deepEqual(out.subarray(1), want, `${impl} ${layout} ${M}×${N}×${K} ${what}`);
        }
    }
  }
});

test('matmul grows the kernel memory past its first page and keeps working at smaller shapes after', () => {
  for (const [M, N, K] of [
    [64, 96, 80],
    [3, 10, 5],
  ]) {
    const a = values(M * K);
    const b = values(K * N);
    const out = new Float64Array(M * N);
    matmul(out, a, b, M, N, K);
    assert.deepEqual(
      out,
      naive(a, b, M, N, K, () => 0),
      `${M}×${N}×${K}`,
    );
  }
});
