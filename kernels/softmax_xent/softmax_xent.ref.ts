// CPU reference for fused softmax cross-entropy (float64), the same math as shared/mlp.ts.

/** logits (rows, C), labels (rows) → mean loss and dlogits (rows, C) = (softmax − onehot) / rows. */
export function softmaxXentRef(logits: ArrayLike<number>, labels: ArrayLike<number>, C: number): { loss: number; dlogits: Float64Array } {
  const rows = labels.length;
  const dlogits = new Float64Array(rows * C);
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let c = 0; c < C; c++) max = Math.max(max, logits[r * C + c]);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(logits[r * C + c] - max);
    loss += Math.log(sum) + max - logits[r * C + labels[r]];
    for (let c = 0; c < C; c++) dlogits[r * C + c] = (Math.exp(logits[r * C + c] - max) / sum - (c === labels[r] ? 1 : 0)) / rows;
  }
  return { loss: loss / rows, dlogits };
}
