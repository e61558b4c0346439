// CPU reference for causal self-attention: shared/gpt.ts attentionForward / attentionBackward
// (float64; the forward also returns the (B, NH, T, T) probabilities its backward takes), and the
// per-row log-sum-exp the fused kernel keeps instead of them.
import { attentionForward } from '../../shared/gpt.ts';

export { attentionBackward as attentionBackwardRef, attentionForward as attentionForwardRef } from '../../shared/gpt.ts';

/** qkv (B, T, 3C) → lse (B, NH, T): log Σ_{u ≤ t} exp(q_t·k_u / √hs) for each head's query row t. */
export function attentionLseRef(qkv: ArrayLike<number>, B: number, T: number, C: number, NH: number): Float64Array {
  return attentionForward(qkv, B, T, C, NH).lse;
}
