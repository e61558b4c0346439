import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matmulNT, matmulSparseA, transpose } from './cpu-matmul.ts';
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
