// Held-out evaluation of each committed round's model on a worker thread
// (coordinator/round/eval-worker.ts): the same evaluateModel over the same data, so the figures
// recorded with the round are unchanged, but the forward passes over the held-out set (a
// few hundred milliseconds a round for the default MNIST run) no longer stall the reports
// waiting on the event loop. If the thread cannot run, the evaluation runs in place.
import { Worker } from 'node:worker_threads';
import type { ModelSpec } from '../../shared/model.ts';
import type { Dataset, EvalResult } from '../../shared/mlp.ts';
import { evaluateModel } from '../../shared/preset.ts';
import { WorkerCalls } from '../worker-calls.ts';

export class EvalThread {
  private readonly calls: WorkerCalls<{ id: number; result?: EvalResult; error?: string }>;

  constructor(
    private readonly spec: ModelSpec,
    private readonly heldOut: Dataset,
  ) {
    // The worker loads TypeScript through tsx's API (loader flags do not reach workers on Node 20).
    const entry = `import('tsx/esm/api').then((m) => m.tsImport(${JSON.stringify(new URL('./eval-worker.ts', import.meta.url).href)}, ${JSON.stringify(import.meta.url)}))`;
    this.calls = new WorkerCalls(new Worker(entry, { eval: true, workerData: { spec, heldOut } }));
  }

  /** evaluateModel(spec, params, heldOut). */
  async evaluate(params: Float32Array): Promise<EvalResult> {
    try {
      const m = await this.calls.call({ params });
      if (m.error !== undefined) throw new Error(m.error);
      return m.result!;
    } catch (e) {
      console.error(`[eval] evaluation thread: ${(e as Error).message}; evaluating on the event loop`);
      return evaluateModel(this.spec, params, this.heldOut);
    }
  }

  stop(): void {
    void this.calls.stop();
  }
}
