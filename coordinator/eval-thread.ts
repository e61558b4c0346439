// Held-out evaluation of each committed round's model on a worker thread
// (coordinator/eval-worker.ts): the same evaluateModel over the same data, so the figures
// recorded with the round are unchanged, but the forward passes over the held-out set (a
// few hundred milliseconds a round for the default MNIST run) no longer stall the reports
// waiting on the event loop. If the thread cannot run, the evaluation runs in place.
import { Worker } from 'node:worker_threads';
import type { ModelSpec } from '../shared/model.ts';
import type { Dataset, EvalResult } from '../shared/mlp.ts';
import { evaluateModel } from '../shared/preset.ts';

export class EvalThread {
  private worker: Worker | null;
  private readonly pending = new Map<number, { resolve: (r: EvalResult) => void; reject: (e: Error) => void }>();
  private next = 0;

  constructor(private readonly spec: ModelSpec, private readonly heldOut: Dataset) {
    this.worker = this.start();
  }

  /** evaluateModel(spec, params, heldOut). */
  async evaluate(params: Float32Array): Promise<EvalResult> {
    const w = this.worker;
    if (!w) return evaluateModel(this.spec, params, this.heldOut);
    try {
      return await new Promise<EvalResult>((resolve, reject) => {
        const id = this.next++;
        if (this.pending.size === 0) w.ref(); // alive while an evaluation is owed
        this.pending.set(id, { resolve, reject });
        w.postMessage({ id, params });
      });
    } catch (e) {
      console.error(`[eval] evaluation thread failed (${(e as Error).message}); evaluating on the event loop`);
      return evaluateModel(this.spec, params, this.heldOut);
    }
  }

  stop(): void {
    void this.worker?.terminate();
    this.worker = null;
  }

  private start(): Worker {
    // The worker loads TypeScript through tsx's API (loader flags do not reach workers on Node 20).
    const entry = `import('tsx/esm/api').then((m) => m.tsImport(${JSON.stringify(new URL('./eval-worker.ts', import.meta.url).href)}, ${JSON.stringify(import.meta.url)}))`;
    const w = new Worker(entry, { eval: true, workerData: { spec: this.spec, heldOut: this.heldOut } });
    w.unref();
    w.on('message', (m: { id: number; result?: EvalResult; error?: string }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.error !== undefined) p?.reject(new Error(m.error));
      else p?.resolve(m.result!);
    });
    const fail = (e: Error) => {
      if (this.worker === w) this.worker = null;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`exit ${code}`)));
    return w;
  }
}
