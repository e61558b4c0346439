// CPU reference for one AdamW step: shared/mlp.ts adamwStep, on copies.
import { adamwStep, clipGradNorm, type AdamWConfig } from '../../shared/mlp.ts';

/** params, grad, m, v (n) → updated copies after step t (1-based); grad clipped first when cfg.maxGradNorm. */
export function adamwRef(
  state: { params: Float32Array; grad: Float32Array; m: Float32Array; v: Float32Array },
  t: number,
  cfg: AdamWConfig,
): { params: Float32Array; m: Float32Array; v: Float32Array } {
  const [params, m, v] = [state.params.slice(), state.m.slice(), state.v.slice()];
  const grad = state.grad.slice();
  clipGradNorm(grad, cfg.maxGradNorm ?? 0);
  adamwStep(params, grad, m, v, t, cfg);
  return { params, m, v };
}
