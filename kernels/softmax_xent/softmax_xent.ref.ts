// CPU reference for fused softmax cross-entropy (float64): shared/gpt.ts crossEntropy, the
// same math as shared/mlp.ts softmaxCrossEntropy.
//   logits (rows, C), labels (rows) → mean loss and dlogits (rows, C) = (softmax − onehot) / rows.
export { crossEntropy as softmaxXentRef } from '../../shared/gpt.ts';
