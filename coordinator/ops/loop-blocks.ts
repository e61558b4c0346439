// Synchronous blocks on the event loop, measured as they happen (issue 18: a gpt-small commit
// held the coordinator's loop long enough for PeerServer to drop every signalling socket).
// A timer that should fire every `tickMs` records how late each firing is: a firing
// `tickMs + d` after the one before means the loop was held for about d ms by something
// synchronous (or by a starved process: the figure is wall time, not CPU time). Each block
// past `minMs` is kept with its end time, so a caller that marks phases can say which phase
// held the loop; `monitorEventLoopDelay` gives the same maximum independently.
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface LoopBlock {
  /** performance.now() when the loop was free again. */
  endedAt: number;
  /** How long the loop was held past the timer's period. */
  ms: number;
}

export interface LoopWatch {
  /** Stops the timer and the histogram; the blocks past `minMs` in order, and the longest delays. */
  stop(): { blocks: LoopBlock[]; longestMs: number; histogramMaxMs: number };
}

/** Watches the event loop from now until `stop()`; blocks under `minMs` are counted only in the maxima. */
export function watchLoop({ tickMs = 10, minMs = 20 }: { tickMs?: number; minMs?: number } = {}): LoopWatch {
  const blocks: LoopBlock[] = [];
  let longestMs = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const ms = now - last - tickMs;
    last = now;
    if (ms > longestMs) longestMs = ms;
    if (ms >= minMs) blocks.push({ endedAt: now, ms });
  }, tickMs);
  const histogram = monitorEventLoopDelay({ resolution: tickMs });
  histogram.enable();
  return {
    stop() {
      clearInterval(timer);
      histogram.disable();
      // A block still running when stop() is called is not seen by the timer: count it too.
      const tail = performance.now() - last - tickMs;
      if (tail > longestMs) longestMs = tail;
      if (tail >= minMs) blocks.push({ endedAt: performance.now(), ms: tail });
      return { blocks, longestMs, histogramMaxMs: histogram.max / 1e6 };
    },
  };
}

/**
 * Calls `report(ms)` whenever the loop was held (or the process starved) for `minMs` or more,
 * seen by a timer of `tickMs` that keeps nothing alive: the platform logs each one, so a swarm's
 * platform log says whether its coordinator stalled, for how long and when. Returns a stop function.
 */
export function reportLoopBlocks(report: (ms: number) => void, { minMs = 1_000, tickMs = 100 } = {}): () => void {
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const ms = now - last - tickMs;
    last = now;
    if (ms >= minMs) report(ms);
  }, tickMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** A phase's span on performance.now()'s clock. */
export interface PhaseSpan {
  name: string;
  start: number;
  end: number;
}

/**
 * The longest block charged to each phase, with their total and count: a block (the stretch
 * [endedAt − ms, endedAt]) is charged to the phase it overlaps most, the innermost (latest
 * starting) on a tie, or to `between` when it overlaps none. By overlap, not by its estimated
 * start: the timer that sees a block may have been due a moment before the phase began.
 */
export function blocksByPhase(
  blocks: readonly LoopBlock[],
  phases: readonly PhaseSpan[],
  between = 'between phases',
): Map<string, { longestMs: number; totalMs: number; count: number }> {
  const out = new Map<string, { longestMs: number; totalMs: number; count: number }>();
  for (const p of phases) out.set(p.name, { longestMs: 0, totalMs: 0, count: 0 });
  for (const b of blocks) {
    const start = b.endedAt - b.ms;
    let best: PhaseSpan | null = null;
    let bestOverlap = 0;
    for (const p of phases) {
      const overlap = Math.min(b.endedAt, p.end) - Math.max(start, p.start);
      if (overlap > bestOverlap || (best && overlap === bestOverlap && overlap > 0 && p.start > best.start)) {
        best = p;
        bestOverlap = overlap;
      }
    }
    const name = best?.name ?? between;
    const s = out.get(name) ?? { longestMs: 0, totalMs: 0, count: 0 };
    s.longestMs = Math.max(s.longestMs, b.ms);
    s.totalMs += b.ms;
    s.count++;
    out.set(name, s);
  }
  return out;
}
