// CPU reference for causal self-attention: shared/gpt.ts attentionForward / attentionBackward (float64).
export { attentionBackward as attentionBackwardRef, attentionForward as attentionForwardRef } from '../../shared/gpt.ts';
