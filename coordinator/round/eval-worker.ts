// The evaluation thread of coordinator/round/eval-thread.ts: evaluateModel over the held-out set
// it was started with, for each parameter vector it is sent.
import { parentPort, workerData } from 'node:worker_threads';
import type { ModelSpec } from '../../shared/model.ts';
import type { Dataset } from '../../shared/mlp.ts';
import { evaluateModel } from '../../shared/preset.ts';
import { cpuOf } from './commit-phases.ts';

const { spec, heldOut } = workerData as { spec: ModelSpec; heldOut: Dataset };
parentPort!.on('message', ({ id, params }: { id: number; params: Float32Array }) => {
  try {
    const { result, cpuMs } = cpuOf(() => evaluateModel(spec, params, heldOut));
    parentPort!.postMessage({ id, result, cpuMs });
  } catch (e) {
    parentPort!.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
  }
});
