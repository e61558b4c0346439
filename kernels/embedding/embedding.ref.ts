// CPU reference for token + position embedding: shared/gpt.ts, on separate wte/wpe arrays.
import { embeddingBackward, embeddingForward } from '../../shared/gpt.ts';
import type { EmbeddingShape } from './embedding.ts';

/** tokens (B, T), wte (V, C), wpe (T, C) → x (B, T, C). */
export function embeddingForwardRef(tokens: ArrayLike<number>, wte: ArrayLike<number>, wpe: ArrayLike<number>, { B, T, C }: EmbeddingShape): Float64Array {
  return embeddingForward(tokens, [...Array.from(wte), ...Array.from(wpe)], 0, wte.length, B, T, C);
}

/** dx (B, T, C) → dwte (V, C), dwpe (T, C). */
export function embeddingBackwardRef(
  tokens: ArrayLike<number>,
  dx: ArrayLike<number>,
  { B, T, C, V }: EmbeddingShape,
): { dwte: Float64Array; dwpe: Float64Array } {
  const grad = new Float64Array(V * C + T * C);
  embeddingBackward(dx, tokens, 0, V * C, B, T, C, grad);
  return { dwte: grad.subarray(0, V * C), dwpe: grad.subarray(V * C) };
}
