// An aggregation thread of coordinator/round/combine-thread.ts: the steps of the hierarchical
// combine (shared/robust-combine.ts) for the run it was started with — the screen of a round's
// aggregates, or one group — and, on the first thread, the round desk (round-desk.ts): the open
// round's reports and admitted aggregates as the engine records them, its decision, combine and
// verdicts at the commit. In a worker thread, or in a child process (worker-calls.ts startProcess).
import { workerPort } from '../worker-calls.ts';
import type { RunSpec } from '../../shared/config.ts';
import { combineVersionOf, type CombineVersion, type WeightedUpdate } from '../../shared/aggregate.ts';
import { combineGroup, inThread, screenCohorts, type GroupInput } from '../../shared/robust-combine.ts';
import { cpuOf, threadCpuMs } from './commit-phases.ts';
import { hashFrame, type DecodedFrame } from '../../shared/codec.ts';
import { wasmFrameHasher } from './frame-hasher.ts';
import { RoundDesk, type DeskReport } from './round-desk.ts';
import type { Address, Hex } from 'viem';

/** One-way messages (no id, no reply): the desk's feed. A failure is kept and answered by the next call. */
export type DeskFeed =
  | { op: 'desk-open'; round: number; cohorts: Address[][]; quarantined: number[] }
  | { op: 'desk-reports'; round: number; reports: DeskReport[] }
  | { op: 'desk-aggregate'; round: number; hash: Hex; frame: DecodedFrame };

type Request = { id: number; round: number } & (
  | { op: 'screen'; aggregates: WeightedUpdate[] }
  | { op: 'group'; level: number; inputs: GroupInput[]; version: CombineVersion }
  | { op: 'desk-decide' }
  | { op: 'desk-combine' }
);

// A worker thread, or a child process of its own (CombineThread's `inProcess`: the scale harness's aggregation role).
const { port: parentPort, data } = await workerPort();
const { run } = data as { run: RunSpec };
// Group frames hashed in WebAssembly (a level-1 group's frame is dense, ~200 KB at the default
// run: js-sha3 took ~7 % of this thread's CPU in a 5,000-session load); js-sha3 if it cannot load.
// Requests wait for it in arrival order.
const hasher = wasmFrameHasher().catch((e: Error) => {
  console.error(`[combine] hash-wasm: ${e.message}; hashing with js-sha3`);
  return hashFrame;
});
const desk = new RoundDesk(run);
/** The first feed message of the round that failed: its calls fail with it (the engine then decides in place). */
let feedError: string | null = null;
// Every message waits for the hasher, so feed and calls stay in the order they were posted.
parentPort.on('message', (m: Request | DeskFeed) => void hasher.then((hash) => ('id' in m ? answer(m, hash) : feed(m))));

function feed(m: DeskFeed): void {
  try {
    if (m.op === 'desk-open') {
      desk.open(m.round, m.cohorts, m.quarantined);
      feedError = null;
    } else if (m.op === 'desk-reports') desk.report(m.round, m.reports);
    else desk.aggregate(m.round, m.hash, m.frame);
  } catch (e) {
    feedError ??= e instanceof Error ? e.message : String(e);
  }
}

async function answer(m: Request, hash: (bytes: Uint8Array) => Hex): Promise<void> {
  try {
    // Each reply carries the CPU this thread spent on it (the commit's phase figures, commit-phases.ts).
    if (m.op === 'screen') {
      const { result, cpuMs } = cpuOf(() => screenCohorts(run, m.aggregates));
      parentPort.postMessage({ id: m.id, result, cpuMs });
    } else if (m.op === 'group') {
      const { result, cpuMs } = cpuOf(() => combineGroup(run, m.round, m.level, m.inputs, hash, combineVersionOf(m.version)));
      parentPort.postMessage({ id: m.id, result, cpuMs }, [result.bytes.buffer as ArrayBuffer]);
    } else {
      if (feedError !== null) throw new Error(`the round desk missed part of round ${m.round}: ${feedError}`);
      const before = threadCpuMs();
      // The steps run in this thread: nothing between them waits on another thread.
      const result = m.op === 'desk-decide' ? desk.decide(m.round) : await desk.combine(m.round, inThread(run, m.round, hash));
      const after = threadCpuMs();
      const cpuMs = before === null || after === null ? null : after - before;
      const moved =
        'acceptedIds' in result ? [result.acceptedIds.buffer, result.acceptedSamples.buffer, ...(result.combined ? [result.combined.bytes.buffer] : [])] : [];
      parentPort.postMessage({ id: m.id, result, cpuMs }, moved as ArrayBuffer[]);
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
}
