// The cross-cohort combine (shared/round.ts combineCohorts: the run's robust aggregator over
// the round's cohort aggregates) on a worker thread (coordinator/round/combine-worker.ts):
// the same deterministic code, so the global update's bytes are unchanged, but its seconds
// at hundreds of cohorts no longer stall the reports and sessions waiting on the event
// loop. If the thread cannot run, the combine runs in place.
import type { Hex } from 'viem';
import type { RunSpec } from '../../shared/config.ts';
import type { DecodedFrame } from '../../shared/codec.ts';
import { combineCohorts } from '../../shared/round.ts';
import { startWorker, WorkerCalls } from '../worker-calls.ts';

export type Combined = ReturnType<typeof combineCohorts>;

export class CombineThread {
  private readonly calls: WorkerCalls<{ id: number; result?: Combined; error?: string }>;

  constructor(private readonly run: RunSpec) {
    this.calls = new WorkerCalls(startWorker(new URL('./combine-worker.ts', import.meta.url), { workerData: { run } }));
  }

  /** combineCohorts(run, round, aggregates), off the event loop. */
  async combine(round: number, aggregates: { hash: Hex; frame: DecodedFrame }[]): Promise<Combined> {
    try {
      const m = await this.calls.call({ round, aggregates });
      if (m.error !== undefined) throw new Error(m.error);
      return m.result!;
    } catch (e) {
      console.error(`[combine] combine thread: ${(e as Error).message}; combining on the event loop`);
      return combineCohorts(this.run, round, aggregates);
    }
  }

  stop(): void {
    void this.calls.stop();
  }
}
