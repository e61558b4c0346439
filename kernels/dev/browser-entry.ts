// Runs inside a dedicated Web Worker in Chromium (see browser.test.ts): acquires the device
// through navigator.gpu, runs the kernel conformance checks and one trainer round against the
// CPU reference, and posts a BrowserReport back.
import { acquireDevice, type AdapterSummary } from '../device.ts';
import { checkGptTrainerMatchesCpu, checkTrainerMatchesCpu, runKernelConformance, type CheckResult } from '../conformance.ts';
import { PipelineCache } from '../pipeline-cache.ts';

export type BrowserReport =
  { type: 'report'; adapter: AdapterSummary; limits: Record<string, number>; results: CheckResult[] } | { type: 'error'; name: string; message: string };

const scope = globalThis as unknown as DedicatedWorkerGlobalScope;

scope.onmessage = async () => {
  let report: BrowserReport;
  try {
    const ctx = await acquireDevice(scope.navigator.gpu);
    const cache = new PipelineCache(ctx.device);
    const results = await runKernelConformance(cache);
    const tol = { atol: 1e-5, rtol: 1e-5 };
    const adamw = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    results.push(
      await checkTrainerMatchesCpu(ctx.device, cache, { sizes: [20, 13, 5], batchSize: 8, steps: 3, count: 50, adamw, paramTol: tol, lossTol: tol }),
    );
    results.push(
      await checkTrainerMatchesCpu(ctx.device, cache, {
        sizes: [784, 128, 10],
        batchSize: 32,
        steps: 2,
        count: 100,
        adamw: { ...adamw, lr: 1e-3 },
        paramTol: { atol: 1e-4, rtol: 1e-4 },
        lossTol: { atol: 1e-4, rtol: 1e-4 },
      }),
    );
    results.push(await checkGptTrainerMatchesCpu(ctx.device, cache, { vocab: 11, context: 7, width: 8, layers: 2, heads: 2, hidden: 12 }, 3, 5, 3));
    report = { type: 'report', adapter: ctx.adapter, limits: ctx.limits, results };
    ctx.device.destroy();
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    report = { type: 'error', name: err.name, message: err.message };
  }
  scope.postMessage(report);
};
