// An aggregation thread of coordinator/round/combine-thread.ts: the steps of the hierarchical
// combine (shared/robust-combine.ts) for the run it was started with — the screen of a round's
// aggregates, or one group.
import { parentPort, workerData } from 'node:worker_threads';
import type { RunSpec } from '../../shared/config.ts';
import type { WeightedUpdate } from '../../shared/aggregate.ts';
import { combineGroup, screenCohorts, type GroupInput } from '../../shared/robust-combine.ts';

type Request = { id: number; round: number } & ({ op: 'screen'; aggregates: WeightedUpdate[] } | { op: 'group'; level: number; inputs: GroupInput[] });

const { run } = workerData as { run: RunSpec };
parentPort!.on('message', (m: Request) => {
  try {
    if (m.op === 'screen') parentPort!.postMessage({ id: m.id, result: screenCohorts(run, m.aggregates) });
    else {
      const result = combineGroup(run, m.round, m.level, m.inputs);
      parentPort!.postMessage({ id: m.id, result }, [result.bytes.buffer as ArrayBuffer]);
    }
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
});
