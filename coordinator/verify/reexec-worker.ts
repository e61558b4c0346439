// The spot checks' re-execution thread (ReexecThread in coordinator/verify/reexec-thread.ts): the
// WGSL trainer through Dawn, or the CPU reference, off the coordinator's event loop. Started by
// coordinator/worker-calls.ts startWorker: its bundle in the compiled coordinator, this module
// through tsx and the .wgsl loader from source.
import { parentPort, workerData } from 'node:worker_threads';
import type { RunSpec, VerificationSettings } from '../../shared/config.ts';
import type { Dataset } from '../../shared/mlp.ts';
import type { Evidence } from '../../shared/wire/index.ts';
import type { CheckClaim } from './checks.ts';
import { createReexecutor } from './reexec.ts';
import { lowerThisThread } from './thread-priority.ts';

const port = parentPort!;
const { run, settings, train, heldOut, gpu, nice } = workerData as {
  run: RunSpec;
  settings: VerificationSettings;
  train: Dataset;
  heldOut: Dataset;
  gpu: boolean;
  nice: number;
};
// Before Dawn starts: the threads it and SwiftShader create inherit this thread's priority.
const priority = lowerThisThread(nice);
const reexec = await createReexecutor(run, settings, train, heldOut, {
  gpu,
  onFallback: (reason) => port.postMessage({ type: 'executor', executor: 'cpu', adapter: null, fallback: reason, priority }),
});
port.postMessage({ type: 'executor', executor: reexec.executor, adapter: reexec.adapter, fallback: reexec.fallback, priority });

type Request = { type: 'stop' } | { type: 'check'; id: number; thetaR: Float32Array; claim: CheckClaim; evidence: Evidence };

// One check at a time, in arrival order (the validator queues them anyway).
let queue = Promise.resolve();
port.on('message', (m: Request) => {
  if (m.type === 'stop') {
    // The check in flight stops within one segment (its caller gets an error, no result) rather
    // than running to its end: a coordinator's shutdown waited out tens of seconds of it.
    reexec.abort();
    queue = queue.then(async () => {
      await reexec.destroy(); // the device's loss delivered before the thread may be terminated
      port.postMessage({ type: 'stopped' });
    });
    return;
  }
  queue = queue.then(async () => {
    try {
      port.postMessage({ type: 'result', id: m.id, result: await reexec.check(m.thetaR, m.claim, m.evidence) });
    } catch (e) {
      port.postMessage({ type: 'error', id: m.id, message: e instanceof Error ? e.message : String(e) });
    }
  });
});
