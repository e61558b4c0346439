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
import { startProcess, startWorker, WorkerCalls, type WorkerLike } from '../worker-calls.ts';
import type { Address, Hex } from 'viem';
import type { DecodedFrame } from '../../shared/codec.ts';
import type { DeskReport, DeskVerdict } from './round-desk.ts';
import type { DeskFeed } from './combine-worker.ts';

/** Reports per feed message to the round desk. */
const REPORT_BATCH = 512;

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
    /** One aggregation child process instead of threads (worker-calls.ts startProcess): the role in a process of its own. */
    inProcess = false,
  ) {
    const entry = new URL('./combine-worker.ts', import.meta.url);
    this.threads = inProcess
      ? [new WorkerCalls<Reply>((this.child = startProcess(entry, { run })))]
      : Array.from({ length: threads }, () => new WorkerCalls<Reply>(startWorker(entry, { workerData: { run } })));
  }

  private child: WorkerLike | null = null;
  /** The aggregation child process's pid (inProcess), else null. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  private async ask<T>(thread: WorkerCalls<Reply>, request: object): Promise<T> {
    const m = await thread.call(request);
    if (m.error !== undefined) throw new Error(m.error);
    this.cpuMs = typeof m.cpuMs === 'number' && this.cpuMs !== null ? this.cpuMs + m.cpuMs : null;
    return m.result as T;
  }

  /** combineCohorts(run, round, aggregates), off the event loop. */
  async combine(round: number, aggregates: WeightedUpdate[]): Promise<Combined> {
    const runner: CombineRunner = {
      screen: (a) => this.ask(this.threads[0], { op: 'screen', round, aggregates: a }),
      group: (level: number, inputs: GroupInput[], version: CombineVersion) =>
        this.ask<GroupOutput>(this.threads[this.next++ % this.threads.length], { op: 'group', round, level, inputs, version }),
    };
    try {
      return await combineCohorts(this.run, round, aggregates, runner);
    } catch (e) {
      console.error(`[combine] combine thread: ${(e as Error).message}; combining on the event loop`);
      return combineCohorts(this.run, round, aggregates, inThread(this.run, round));
    }
  }

  /**
   * The round desk on the first thread (round-desk.ts, combine-worker.ts): a round's opening, then
   * its recorded reports (batched: one message per REPORT_BATCH or per turn of the loop) and admitted
   * aggregates, in the order the engine recorded them. One-way; a feed the thread missed (it failed)
   * makes deskDecide fail, and the engine decides in place.
   */
  deskOpen(round: number, cohorts: readonly (readonly Address[])[], quarantined: Iterable<number>): void {
    this.batch = null; // what was not sent of an earlier round is not this one's
    this.feed({ op: 'desk-open', round, cohorts: cohorts as Address[][], quarantined: [...quarantined] });
  }

  deskReport(round: number, report: DeskReport): void {
    if (this.batch && this.batch.round !== round) this.flushReports();
    this.batch ??= { round, reports: [] };
    this.batch.reports.push(report);
    if (this.batch.reports.length >= REPORT_BATCH) this.flushReports();
    else if (this.batch.reports.length === 1) setImmediate(() => this.flushReports());
  }

  deskAggregate(round: number, hash: Hex, frame: DecodedFrame): void {
    this.flushReports();
    this.feed({ op: 'desk-aggregate', round, hash, frame });
  }

  /** The desk's decision of `round` (how many aggregates it applies). */
  async deskDecide(round: number): Promise<{ applied: number; cpuMs: number | null }> {
    this.flushReports();
    if (!this.fed) throw new Error('the aggregation thread missed part of the round');
    const cpu = this.cpuMs;
    const r = await this.ask<{ applied: number }>(this.threads[0], { op: 'desk-decide', round });
    return { ...r, cpuMs: cpu === null || this.cpuMs === null ? null : this.cpuMs - cpu };
  }

  /** The desk's combine of the decided round, and its verdicts. */
  async deskCombine(round: number): Promise<DeskVerdict & { cpuMs: number | null }> {
    const cpu = this.cpuMs;
    const r = await this.ask<DeskVerdict>(this.threads[0], { op: 'desk-combine', round });
    return { ...r, cpuMs: cpu === null || this.cpuMs === null ? null : this.cpuMs - cpu };
  }

  private batch: { round: number; reports: DeskReport[] } | null = null;
  /** False once a feed message could not be posted this round (the thread failed): the desk's copy is incomplete. */
  private fed = true;

  private flushReports(): void {
    const b = this.batch;
    if (!b || b.reports.length === 0) return;
    this.batch = null;
    this.feed({ op: 'desk-reports', round: b.round, reports: b.reports });
  }

  private feed(m: DeskFeed): void {
    if (m.op === 'desk-open') this.fed = true;
    try {
      if (!this.threads[0].send(m)) this.fed = false;
    } catch (e) {
      this.fed = false;
      console.error(`[combine] round desk feed (${m.op}): ${(e as Error).message}`);
    }
  }

  stop(): void {
    for (const t of this.threads) void t.stop();
  }
}
