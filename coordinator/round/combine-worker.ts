// The combine thread of coordinator/round/combine-thread.ts: combineCohorts for the run it was
// started with, for each round's aggregates it is sent.
import { parentPort, workerData } from 'node:worker_threads';
import type { Hex } from 'viem';
import type { RunSpec } from '../../shared/config.ts';
import type { DecodedFrame } from '../../shared/codec.ts';
import { combineCohorts } from '../../shared/round.ts';

const { run } = workerData as { run: RunSpec };
parentPort!.on('message', ({ id, round, aggregates }: { id: number; round: number; aggregates: { hash: Hex; frame: DecodedFrame }[] }) => {
  try {
    const result = combineCohorts(run, round, aggregates);
    parentPort!.postMessage({ id, result }, [result.bytes.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
  }
});
