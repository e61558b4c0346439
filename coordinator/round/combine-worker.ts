// An aggregation thread of coordinator/round/combine-thread.ts: the steps of the hierarchical
// combine (shared/robust-combine.ts) for the run it was started with — the screen of a round's
// aggregates, or one group.
import { parentPort, workerData } from 'node:worker_threads';
import type { RunSpec } from '../../shared/config.ts';
import { combineVersionOf, type CombineVersion, type WeightedUpdate } from '../../shared/aggregate.ts';
import { combineGroup, screenCohorts, type GroupInput } from '../../shared/robust-combine.ts';
import { cpuOf } from './commit-phases.ts';
import { hashFrame } from '../../shared/codec.ts';
import { wasmFrameHasher } from './frame-hasher.ts';
import type { Hex } from 'viem';

type Request = { id: number; round: number } & (
  { op: 'screen'; aggregates: WeightedUpdate[] } | { op: 'group'; level: number; inputs: GroupInput[]; version: CombineVersion }
);

const { run } = workerData as { run: RunSpec };
// Group frames hashed in WebAssembly (a level-1 group's frame is dense, ~200 KB at the default
// run: js-sha3 took ~7 % of this thread's CPU in a 5,000-session load); js-sha3 if it cannot load.
// Requests wait for it in arrival order.
const hasher = wasmFrameHasher().catch((e: Error) => {
  console.error(`[combine] hash-wasm: ${e.message}; hashing with js-sha3`);
  return hashFrame;
});
parentPort!.on('message', (m: Request) => void hasher.then((hash) => answer(m, hash)));

function answer(m: Request, hash: (bytes: Uint8Array) => Hex): void {
  try {
    // Each reply carries the CPU this thread spent on it (the commit's phase figures, commit-phases.ts).
    if (m.op === 'screen') {
      const { result, cpuMs } = cpuOf(() => screenCohorts(run, m.aggregates));
      parentPort!.postMessage({ id: m.id, result, cpuMs });
    } else {
      const { result, cpuMs } = cpuOf(() => combineGroup(run, m.round, m.level, m.inputs, hash, combineVersionOf(m.version)));
      parentPort!.postMessage({ id: m.id, result, cpuMs }, [result.bytes.buffer as ArrayBuffer]);
    }
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
}
