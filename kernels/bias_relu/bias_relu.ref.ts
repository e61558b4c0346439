// CPU reference for bias + ReLU, forward and backward, in float64.
import type { BiasShape } from './bias_relu.ts';

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
export function biasBackwardRef(
  dy: ArrayLike<number>,
  y: ArrayLike<number> | null,
  { rows, n, relu }: BiasShape,
): { dx: Float64Array; dbias: Float64Array } {
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
