// Held-out evaluation of each committed round's model on a worker thread
// (coordinator/round/eval-worker.ts): the same evaluateModel over the same data, so the figures
// recorded with the round are unchanged, but the forward passes over the held-out set (a
// few hundred milliseconds a round for the default MNIST run) no longer stall the reports
// waiting on the event loop. If the thread cannot run, the evaluation runs in place.
import type { ModelSpec } from '../../shared/model.ts';
import type { Dataset, EvalResult } from '../../shared/mlp.ts';
import { evaluateModel } from '../../shared/preset.ts';
import { startWorker, WorkerCalls } from '../worker-calls.ts';

export class EvalThread {
  private readonly calls: WorkerCalls<{ id: number; result?: EvalResult; cpuMs?: number | null; error?: string }>;

  constructor(
    private readonly spec: ModelSpec,
    private readonly heldOut: Dataset,
  ) {
    this.calls = new WorkerCalls(startWorker(new URL('./eval-worker.ts', import.meta.url), { workerData: { spec, heldOut } }));
  }

  /** evaluateModel(spec, params, heldOut), and the CPU ms the thread spent on it (null: not read, or evaluated on the event loop). */
  async evaluate(params: Float32Array): Promise<EvalResult & { cpuMs: number | null }> {
    try {
      const m = await this.calls.call({ params });
      if (m.error !== undefined) throw new Error(m.error);
      return { ...m.result!, cpuMs: m.cpuMs ?? null };
    } catch (e) {
      console.error(`[eval] evaluation thread: ${(e as Error).message}; evaluating on the event loop`);
      return { ...evaluateModel(this.spec, params, this.heldOut), cpuMs: null };
    }
  }

  stop(): void {
    void this.calls.stop();
  }
}
