// The outer optimizer (DiLoCo): Nesterov momentum on the aggregated pseudo-gradient.
// Applied on the CPU in float32 in index order, so the coordinator and every peer reach
// the same bytes, hence the same model hash.

export interface OuterConfig {
  lr: number;
  momentum: number;
}

/** m ← μ·m + g;  θ ← θ − lr·(g + μ·m). In place; g is the pseudo-gradient θ_r − θ_local. */
export function applyOuterStep(params: Float32Array, momentum: Float32Array, g: Float32Array, cfg: OuterConfig): void {
  const { lr, momentum: mu } = cfg;
  for (let i = 0; i < params.length; i++) {
    const m = Math.fround(mu * momentum[i] + g[i]);
    momentum[i] = m;
    params[i] = params[i] - Math.fround(lr * Math.fround(g[i] + mu * m));
  }
}
