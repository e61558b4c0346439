// The upload thread of coordinator/round/upload-thread.ts: an uploaded cohort aggregate's checks
// (RoundEngine's checkAggregate: decode under the round's limits, kind, samples) and its hash, off
// the event loop, for the run it was started with; and a spot check's evidence upload's two
// hashes (shared/wire/evidence.ts evidenceDigests) for the evidence desk.
import { parentPort, workerData } from 'node:worker_threads';
import type { RunSpec } from '../../shared/config.ts';
import { serializeError } from '../../shared/errors.ts';
import { evidenceDigests } from '../../shared/wire/index.ts';
import { checkAggregate, inSharedMemory } from './upload-check.ts';
import { wasmFrameHasher } from './frame-hasher.ts';

const { run } = workerData as { run: RunSpec };
const hasher = await wasmFrameHasher();
parentPort!.on('message', (m: { id: number; round: number; bytes: Uint8Array; evidence?: true }) => {
  try {
    if (m.evidence) return void parentPort!.postMessage({ id: m.id, digests: evidenceDigests(m.bytes, run.paramCount, hasher) });
    const { hash, frame } = checkAggregate(run, m.round, m.bytes, hasher);
    parentPort!.postMessage({ id: m.id, hash, frame: inSharedMemory(frame) });
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: serializeError(e) });
  }
});
