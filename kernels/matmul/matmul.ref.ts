// CPU reference for matmul: naive loops, accumulated in float64.
import type { MatmulShape } from './matmul.ts';

/** C (M, N) = op(A) · op(B); A (M, K) or (K, M) if transA; B (K, N) or (N, K) if transB. */
export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, shape: MatmulShape): Float64Array {
  const { M, N, K, transA = false, transB = false } = shape;
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[transA ? k * M + m : m * K + k] * b[transB ? n * K + k : k * N + n];
      c[m * N + n] = s;
    }
  return c;
}
