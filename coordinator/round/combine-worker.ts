// An aggregation thread of coordinator/round/combine-thread.ts: the steps of the hierarchical
// combine (shared/robust-combine.ts) for the run it was started with — the screen of a round's
// aggregates, or one group.
import { parentPort, workerData } from 'node:worker_threads';
import type { RunSpec } from '../../shared/config.ts';
import type { WeightedUpdate } from '../../shared/aggregate.ts';
import { combineGroup, screenCohorts, type GroupInput } from '../../shared/robust-combine.ts';
import { cpuOf } from './commit-phases.ts';

type Request = { id: number; round: number } & ({ op: 'screen'; aggregates: WeightedUpdate[] } | { op: 'group'; level: number; inputs: GroupInput[] });

const { run } = workerData as { run: RunSpec };
parentPort!.on('message', (m: Request) => {
  try {
    // Each reply carries the CPU this thread spent on it (the commit's phase figures, commit-phases.ts).
    if (m.op === 'screen') {
      const { result, cpuMs } = cpuOf(() => screenCohorts(run, m.aggregates));
      parentPort!.postMessage({ id: m.id, result, cpuMs });
    } else {
      const { result, cpuMs } = cpuOf(() => combineGroup(run, m.round, m.level, m.inputs));
      parentPort!.postMessage({ id: m.id, result, cpuMs }, [result.bytes.buffer as ArrayBuffer]);
    }
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
});
