// Where a round's commit spends its time (issue 17): RoundEngine.commitOpen runs each step inside
// `CommitClock.time`, which records per phase the wall time, the event-loop thread's CPU time
// over that wall time (everything the loop ran meanwhile, ingest of the next round's reports
// included: a phase that awaits a thread shows the loop's other work here), the CPU time of the
// worker thread that did the phase's work when there is one (the combine's aggregation threads,
// the evaluation thread: they report their own), and the longest event-loop block seen while the
// phase ran (a 10 ms timer's lateness, so blocks under ~10 ms read as 0). CPU times are read from
// /proc/thread-self/schedstat (nanoseconds; Linux): elsewhere they are null, never estimated.
import { readFileSync } from 'node:fs';

export const COMMIT_PHASES = ['settle', 'decide', 'combine', 'compress', 'apply', 'evaluate', 'ledger', 'prepare', 'verify', 'broadcast'] as const;
export type CommitPhase = (typeof COMMIT_PHASES)[number];

export interface PhaseFigures {
  wallMs: number;
  /** The event-loop thread's CPU over the phase's wall time; null where it cannot be read. */
  loopCpuMs: number | null;
  /** CPU of the worker threads that did the phase's work (summed over threads); null when none did. */
  threadCpuMs: number | null;
  /** The longest event-loop block that ended while the phase ran, ms (10 ms resolution). */
  loopBlockMs: number;
}

export interface CommitPhases {
  round: number;
  /** performance.timeOrigin + performance.now() when the commit began and ended (epoch ms). */
  startedAt: number;
  endedAt: number;
  phases: Partial<Record<CommitPhase, PhaseFigures>>;
}

let schedstat: boolean | undefined;
/** This thread's CPU time so far in ms (Linux /proc/thread-self/schedstat), or null where it cannot be read. */
export function threadCpuMs(): number | null {
  if (schedstat === false) return null;
  try {
    const ns = Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]);
    schedstat = Number.isFinite(ns);
    return schedstat ? ns / 1e6 : null;
  } catch {
    schedstat = false;
    return null;
  }
}

/** CPU ms `fn` took on this thread (for a worker's reply), or null where it cannot be read. */
export function cpuOf<T>(fn: () => T): { result: T; cpuMs: number | null } {
  const before = threadCpuMs();
  const result = fn();
  const after = threadCpuMs();
  return { result, cpuMs: before === null || after === null ? null : after - before };
}

/**
 * The loop-block timer's period: 10 ms, or IDLEGRAD_COMMIT_TICK_MS (a measurement switch: the
 * timer itself costs the loop ≈ 8 ms of CPU per second of a commit's wall on a loaded 2-core
 * machine, which `npm run scale` counts to the committer; a longer period shows what is left).
 */
const TICK_MS = Number(process.env.IDLEGRAD_COMMIT_TICK_MS) > 0 ? Number(process.env.IDLEGRAD_COMMIT_TICK_MS) : 10;
const epochNow = () => performance.timeOrigin + performance.now();

export class CommitClock {
  private readonly phases: Partial<Record<CommitPhase, PhaseFigures>> = {};
  private readonly startedAt = epochNow();
  private current: PhaseFigures | null = null;
  private lastTick = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly round: number) {
    // A late tick is a block that ended while `current` ran; a block inside a synchronous phase
    // ends before any tick, so the phase's end charges the time since the last tick (time()).
    this.timer = setInterval(() => {
      const now = performance.now();
      const late = now - this.lastTick - TICK_MS;
      this.lastTick = now;
      if (this.current && late > this.current.loopBlockMs) this.current.loopBlockMs = late;
    }, TICK_MS);
    this.timer.unref();
  }

  /**
   * Runs `fn` as `phase` (a phase run twice adds up). `threadCpu` reads, from its result, the CPU
   * its worker threads reported; a phase without one records threadCpuMs null.
   */
  async time<T>(phase: CommitPhase, fn: () => T | Promise<T>, threadCpu?: (result: T) => number | null): Promise<T> {
    const fig: PhaseFigures = { wallMs: 0, loopCpuMs: null, threadCpuMs: null, loopBlockMs: 0 };
    const outer = this.current;
    this.current = fig;
    const t0 = performance.now();
    const c0 = threadCpuMs();
    try {
      const result = await fn();
      if (threadCpu) fig.threadCpuMs = threadCpu(result);
      return result;
    } finally {
      const c1 = threadCpuMs();
      const end = performance.now();
      fig.wallMs = end - t0;
      fig.loopBlockMs = Math.max(fig.loopBlockMs, end - Math.max(this.lastTick, t0) - TICK_MS);
      this.lastTick = end; // what was late so far is charged: the next tick does not charge it to the next phase
      fig.loopCpuMs = c0 === null || c1 === null ? null : c1 - c0;
      this.current = outer;
      this.add(phase, fig);
    }
  }

  private add(phase: CommitPhase, fig: PhaseFigures): void {
    const seen = this.phases[phase];
    if (!seen) this.phases[phase] = fig;
    else {
      const sum = (a: number | null, b: number | null) => (a === null && b === null ? null : (a ?? 0) + (b ?? 0));
      this.phases[phase] = {
        wallMs: seen.wallMs + fig.wallMs,
        loopCpuMs: sum(seen.loopCpuMs, fig.loopCpuMs),
        threadCpuMs: sum(seen.threadCpuMs, fig.threadCpuMs),
        loopBlockMs: Math.max(seen.loopBlockMs, fig.loopBlockMs),
      };
    }
  }

  /** Stops the loop timer; the commit's phases. */
  finish(): CommitPhases {
    clearInterval(this.timer);

    return { round: this.round, startedAt: this.startedAt, endedAt: epochNow(), phases: this.phases };
  }
}

/** p50 and p99 (nearest rank, as `npm run load` reads its other figures) of some figures; null when there are none. */
function quantiles(xs: number[]): { p50: number; p99: number } | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => Number(s[Math.min(s.length - 1, Math.floor(q * s.length))].toFixed(1));
  return { p50: at(0.5), p99: at(0.99) };
}

export interface PhaseSummary {
  /** How many of the commits ran this phase. */
  commits: number;
  wall: { p50: number; p99: number };
  loopCpu: { p50: number; p99: number } | null;
  threadCpu: { p50: number; p99: number } | null;
  /** The longest event-loop block seen during the phase in any of the commits. */
  loopBlockMaxMs: number;
}

/** Per phase (in commit order), the commits' figures as p50 / p99: `npm run load`'s commitPhasesMs. */
export function summarizeCommitPhases(commits: readonly CommitPhases[]): Partial<Record<CommitPhase, PhaseSummary>> {
  const out: Partial<Record<CommitPhase, PhaseSummary>> = {};
  for (const phase of COMMIT_PHASES) {
    const figs = commits.map((c) => c.phases[phase]).filter((f): f is PhaseFigures => f !== undefined);
    if (figs.length === 0) continue;
    const read = (pick: (f: PhaseFigures) => number | null) => figs.map(pick).filter((x): x is number => x !== null);
    out[phase] = {
      commits: figs.length,
      wall: quantiles(read((f) => f.wallMs))!,
      loopCpu: quantiles(read((f) => f.loopCpuMs)),
      threadCpu: quantiles(read((f) => f.threadCpuMs)),
      loopBlockMaxMs: Number(Math.max(...figs.map((f) => f.loopBlockMs)).toFixed(1)),
    };
  }
  return out;
}
