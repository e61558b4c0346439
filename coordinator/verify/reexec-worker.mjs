// The spot checks' re-execution thread (ReexecThread in coordinator/verify/reexec-thread.ts): the
// WGSL trainer through Dawn, or the CPU reference, off the coordinator's event loop. Plain
// JavaScript: worker threads do not inherit the tsx and .wgsl loaders, so it registers them
// before importing the TypeScript it runs.
import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import('../../kernels/wgsl-register.mjs');
const { createReexecutor } = await import('./reexec.ts');

const { run, settings, train, heldOut, gpu } = workerData;
const reexec = await createReexecutor(run, settings, train, heldOut, {
  gpu,
  onFallback: (reason) => parentPort.postMessage({ type: 'executor', executor: 'cpu', adapter: null, fallback: reason }),
});
parentPort.postMessage({ type: 'executor', executor: reexec.executor, adapter: reexec.adapter, fallback: reexec.fallback });

// One check at a time, in arrival order (the validator queues them anyway).
let queue = Promise.resolve();
parentPort.on('message', (m) => {
  if (m.type === 'stop') {
    queue = queue.then(async () => {
      await reexec.destroy(); // the device's loss delivered before the thread may be terminated
      parentPort.postMessage({ type: 'stopped' });
    });
    return;
  }
  queue = queue.then(async () => {
    try {
      parentPort.postMessage({ type: 'result', id: m.id, result: await reexec.check(m.thetaR, m.claim, m.evidence) });
    } catch (e) {
      parentPort.postMessage({ type: 'error', id: m.id, message: e instanceof Error ? e.message : String(e) });
    }
  });
});
