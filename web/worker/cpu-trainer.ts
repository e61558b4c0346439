// The CPU path for volunteers without WebGPU: one round of local training with the shared/
// reference math (the same steps as shared/mlp.ts trainLocalCpu), in slices that yield to the
// worker's event loop so that a Stop arrives and ends the work within one slice.
import {
  adamwStep,
  gatherBatch,
  refusePrime,
  mlpBackward,
  mlpForward,
  softmaxCrossEntropy,
  type AdamWConfig,
  type AdamWState,
  type Dataset,
} from '../../shared/mlp.ts';
import type { MlpSpec } from '../../shared/model.ts';
import { TrainingAbortedError } from '../../kernels/errors.ts';

export interface CpuRoundResult {
  params: Float32Array;
  lossBefore: number;
  lossAfter: number;
  /** Mean over the round's steps. */
  lossMean: number;
  steps: number;
  samples: number;
  ms: number;
  /** The AdamW state after the last step, when the round went on from opts.state. */
  state?: AdamWState;
}

const yieldToEvents = () => new Promise<void>((r) => setTimeout(r, 0));

/**
 * `steps` AdamW steps from `start` (copied) on the batches (steps × B indices, step-major).
 * Bit-equal to trainLocalCpu on the same inputs (and state); yields every `sliceMs` of work. With
 * `opts.state` (run setting inner.state 'kept') AdamW goes on from a copy of it and hands the state back.
 */
export async function trainCpuRound(
  spec: MlpSpec,
  start: Float32Array,
  data: Dataset,
  batches: Uint32Array,
  steps: number,
  cfg: AdamWConfig,
  opts: { signal?: AbortSignal; sliceMs?: number; state?: AdamWState } = {},
): Promise<CpuRoundResult> {
  const B = batches.length / steps;
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`trainCpuRound: ${batches.length} indices is not steps ${steps} × a batch size`);
  refusePrime(cfg, 'trainCpuRound');
  const sliceMs = opts.sliceMs ?? 50;
  const C = spec.sizes[spec.sizes.length - 1];
  const params = start.slice();
  const m = opts.state ? opts.state.m.slice() : new Float32Array(params.length);
  const v = opts.state ? opts.state.v.slice() : new Float32Array(params.length);
  const t0 = opts.state?.t ?? 0;
  if (m.length !== params.length || v.length !== params.length)
    throw new RangeError(`trainCpuRound: the AdamW state holds ${m.length} and ${v.length} moments; the model has ${params.length} parameters`);
  let lossBefore = NaN;
  let lossAfter = NaN;
  let lossSum = 0;
  const started = performance.now();
  let sliceStart = started;
  for (let s = 0; s < steps; s++) {
    if (performance.now() - sliceStart >= sliceMs) {
      await yieldToEvents();
      sliceStart = performance.now();
    }
    if (opts.signal?.aborted)
      throw new TrainingAbortedError(`Training stopped after ${s} steps.`, { stepsDone: s, idleAt: performance.timeOrigin + performance.now() });
    const idx = batches.subarray(s * B, (s + 1) * B);
    const { x, y } = gatherBatch(data, idx);
    const acts = mlpForward(spec, params, x, B);
    const { loss, dlogits } = softmaxCrossEntropy(acts[acts.length - 1], y, C);
    if (s === 0) lossBefore = loss;
    lossAfter = loss;
    lossSum += loss;
    adamwStep(params, mlpBackward(spec, params, acts, dlogits, B), m, v, t0 + s + 1, cfg);
  }
  const state = opts.state ? { state: { m, v, t: t0 + steps } } : {};
  return { params, lossBefore, lossAfter, lossMean: lossSum / steps, steps, samples: steps * B, ms: performance.now() - started, ...state };
}
