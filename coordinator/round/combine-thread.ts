// The cross-cohort combine (shared/robust-combine.ts combineCohorts: the run's robust aggregator
// over the round's cohort aggregates, hierarchical past COMBINE_GROUP_SIZE of them) on
// aggregation worker threads (coordinator/round/combine-worker.ts): the screen on one, each
// level's groups spread over all of them, in parallel. The same deterministic code as in one
// thread, so the global update's bytes do not depend on how many threads ran it, and its
// seconds at hundreds of cohorts never stall the reports and sessions waiting on the event
// loop. If a thread cannot run, the combine runs in place.
import { availableParallelism } from 'node:os';
import type { RunSpec } from '../../shared/config.ts';
import type { CombineVersion, WeightedUpdate } from '../../shared/aggregate.ts';
import { combineCohorts, inThread, type Combined, type CombineRunner, type GroupInput, type GroupOutput } from '../../shared/robust-combine.ts';
import { startWorker, WorkerCalls } from '../worker-calls.ts';

export type { Combined };

type Reply = { id: number; error?: string } & Record<string, unknown>;

/** One thread per core but the event loop's, at least 1 and at most 4. */
export const defaultCombineThreads = () => Math.max(1, Math.min(4, availableParallelism() - 1));

export class CombineThread {
  private readonly threads: WorkerCalls<Reply>[];
  private next = 0;
  /** CPU ms the aggregation threads reported for their steps so far (commit-phases.ts); null once a reply carried none. */
  cpuMs: number | null = 0;

  constructor(
    private readonly run: RunSpec,
    threads = defaultCombineThreads(),
  ) {
    this.threads = Array.from(
      { length: threads },
      () => new WorkerCalls<Reply>(startWorker(new URL('./combine-worker.ts', import.meta.url), { workerData: { run } })),
    );
  }

  /** combineCohorts(run, round, aggregates), off the event loop. */
  async combine(round: number, aggregates: WeightedUpdate[]): Promise<Combined> {
    const ask = async <T>(thread: WorkerCalls<Reply>, request: object): Promise<T> => {
      const m = await thread.call(request);
      if (m.error !== undefined) throw new Error(m.error);
      this.cpuMs = typeof m.cpuMs === 'number' && this.cpuMs !== null ? this.cpuMs + m.cpuMs : null;
      return m.result as T;
    };
    const runner: CombineRunner = {
      screen: (a) => ask(this.threads[0], { op: 'screen', round, aggregates: a }),
      group: (level: number, inputs: GroupInput[], version: CombineVersion) =>
        ask<GroupOutput>(this.threads[this.next++ % this.threads.length], { op: 'group', round, level, inputs, version }),
    };
    try {
      return await combineCohorts(this.run, round, aggregates, runner);
    } catch (e) {
      console.error(`[combine] combine thread: ${(e as Error).message}; combining on the event loop`);
      return combineCohorts(this.run, round, aggregates, inThread(this.run, round));
    }
  }

  stop(): void {
    for (const t of this.threads) void t.stop();
  }
}
