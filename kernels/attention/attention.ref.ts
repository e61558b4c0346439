// CPU reference for causal self-attention: shared/gpt.ts attentionForward / attentionBackward
// (float64; the forward also returns the (B, NH, T, T) probabilities its backward takes), and the
// per-row log-sum-exp the fused kernel keeps instead of them.
export { attentionBackward as attentionBackwardRef, attentionForward as attentionForwardRef } from '../../shared/gpt.ts';

/** qkv (B, T, 3C) → lse (B, NH, T): log Σ_{u ≤ t} exp(q_t·k_u / √hs) for each head's query row t. */
export function attentionLseRef(qkv: ArrayLike<number>, B: number, T: number, C: number, NH: number): Float64Array {
  const hs = C / NH;
  const lse = new Float64Array(B * NH * T);
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < NH; h++)
      for (let t = 0; t < T; t++) {
        const q = (b * T + t) * 3 * C + h * hs;
        let mx = -Infinity;
        for (let u = 0; u <= t; u++) {
          const k = (b * T + u) * 3 * C + C + h * hs;
          let dot = 0;
          for (let i = 0; i < hs; i++) dot += qkv[q + i] * qkv[k + i];
          s[u] = dot / Math.sqrt(hs);
          mx = Math.max(mx, s[u]);
        }
        let sum = 0;
        for (let u = 0; u <= t; u++) sum += Math.exp(s[u] - mx);
        lse[(b * NH + h) * T + t] = mx + Math.log(sum);
      }
  return lse;
}
