// CPU reference for bias + ReLU, forward and backward, in float64.
import { gelu, geluGrad } from '../../shared/gpt.ts';
import type { BiasShape, GeluShape } from './bias_relu.ts';

/** x (rows, n), bias (n) → act(x + bias) (rows, n). */
export function biasForwardRef(x: ArrayLike<number>, bias: ArrayLike<number>, { rows, n, relu }: BiasShape): Float64Array {
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < n; j++) {
      const v = x[r * n + j] + bias[j];
      out[r * n + j] = relu && v < 0 ? 0 : v;
    }
  return out;
}

/** dy (rows, n), y = forward output (rows, n) → dx = dy ⊙ [y > 0] (rows, n), dbias = Σ_rows dx (n). */
export function biasBackwardRef(dy: ArrayLike<number>, y: ArrayLike<number> | null, { rows, n, relu }: BiasShape): { dx: Float64Array; dbias: Float64Array } {
  const dx = new Float64Array(rows * n);
  const dbias = new Float64Array(n);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < n; j++) {
      const i = r * n + j;
      dx[i] = relu && y![i] <= 0 ? 0 : dy[i];
      dbias[j] += dx[i];
    }
  return { dx, dbias };
}

/** x (rows, n), bias (n) → GELU(x + bias) (rows, n): shared/gpt.ts gelu. */
export function geluForwardRef(x: ArrayLike<number>, bias: ArrayLike<number>, { rows, n }: GeluShape): Float64Array {
  return Float64Array.from({ length: rows * n }, (_, i) => gelu(x[i] + bias[i % n]));
}

/** dy, pre = x + bias (rows, n) → dx = dy ⊙ GELU'(pre), dbias = Σ_rows dx. */
export function geluBackwardRef(dy: ArrayLike<number>, pre: ArrayLike<number>, { rows, n }: GeluShape): { dx: Float64Array; dbias: Float64Array } {
  const dx = Float64Array.from({ length: rows * n }, (_, i) => dy[i] * geluGrad(pre[i]));
  const dbias = new Float64Array(n);
  for (let i = 0; i < rows * n; i++) dbias[i % n] += dx[i];
  return { dx, dbias };
}
