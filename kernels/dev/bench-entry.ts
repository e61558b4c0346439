// Worker side of bench-trainer.ts: times MLP trainer rounds on navigator.gpu (Chromium) — or,
// imported from Node, on whatever GPU object it is handed.
import { initParams, mlpSpec } from '../../shared/model.ts';
import { createRng } from '../../shared/rng.ts';
import { randomDataset } from '../conformance.ts';
import { acquireDevice, type AdapterSummary } from '../device.ts';
import { createMlpTrainer } from '../mlp-trainer.ts';

export interface BenchCase {
  sizes: number[];
  batchSize: number;
  /** Steps in the timed round (after a 2-step warm-up round). */
  steps: number;
}

export interface BenchRow extends BenchCase {
  msPerStep: number;
  samplesPerSec: number;
  /** Round wall time including upload and encoding, ms; gpuMs is submit → readback. */
  wallMs: number;
  gpuMs: number;
}

export type BenchReport = { type: 'bench'; adapter: AdapterSummary; rows: BenchRow[] } | { type: 'error'; name: string; message: string };

export async function benchTrainer(gpu: GPU | undefined, cases: BenchCase[]): Promise<BenchReport> {
  const ctx = await acquireDevice(gpu);
  const rows: BenchRow[] = [];
  try {
    for (const c of cases) {
      const spec = mlpSpec(c.sizes);
      const rand = createRng(1);
      const count = 8500; // the MNIST shard size a volunteer holds
      const trainer = createMlpTrainer(ctx.device, spec, { batchSize: c.batchSize });
      try {
        trainer.setData(randomDataset(count, c.sizes[0], c.sizes[c.sizes.length - 1], rand));
        const batches = (steps: number) => Uint32Array.from({ length: steps * c.batchSize }, () => Math.floor(rand() * count));
        const adamw = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
        const params = initParams(spec, 1);
        await trainer.train({ params, batches: batches(2), steps: 2, adamw }); // warm-up: shader JIT, buffers
        const t0 = performance.now();
        const r = await trainer.train({ params, batches: batches(c.steps), steps: c.steps, adamw });
        const wallMs = performance.now() - t0;
        rows.push({ ...c, wallMs, gpuMs: r.gpuMs, msPerStep: wallMs / c.steps, samplesPerSec: (r.samples * 1000) / wallMs });
      } finally {
        trainer.destroy();
      }
    }
  } finally {
    ctx.device.destroy();
  }
  return { type: 'bench', adapter: ctx.adapter, rows };
}

// In a worker: answer one message carrying { cases }.
const scope = globalThis as unknown as Partial<DedicatedWorkerGlobalScope>;
if (typeof scope.importScripts === 'function' && scope.navigator?.gpu !== undefined) {
  scope.onmessage = async (e: MessageEvent<{ cases: BenchCase[] }>) => {
    let report: BenchReport;
    try {
      report = await benchTrainer(scope.navigator!.gpu, e.data.cases);
    } catch (err) {
      const x = err instanceof Error ? err : new Error(String(err));
      report = { type: 'error', name: x.name, message: x.message };
    }
    scope.postMessage!(report);
  };
}
