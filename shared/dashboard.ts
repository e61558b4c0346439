// Figures the lead's dashboard derives from the DashboardState it receives (its DTOs, RunInsights
// among them, are in shared/wire/http.ts): throughput and compression per round, and series
// thinned for charting.
import type { RoundSummary, RunInsights } from './wire/http.ts';

/** One round's derived figures; rate-based ones use the time since the previous commit. */
export interface RoundRates {
  round: number;
  seconds: number | null;
  samplesPerSecond: number | null;
  gflops: number | null;
  compression: number | null;
}

/** Samples/s and GFLOP/s between consecutive commits, compression ratio vs a dense update. */
export function roundRates(rounds: RoundSummary[], insights: Pick<RunInsights, 'denseBytes' | 'flopsPerSample'>): RoundRates[] {
  return rounds.map((r, i) => {
    const prev = rounds[i - 1];
    const seconds = prev && prev.round === r.round - 1 ? (r.committedAt - prev.committedAt) / 1000 : null;
    const sps = seconds && seconds > 0 ? r.samples / seconds : null;
    return {
      round: r.round,
      seconds,
      samplesPerSecond: sps,
      gflops: sps === null ? null : (sps * insights.flopsPerSample) / 1e9,
      compression: r.updateBytes > 0 ? insights.denseBytes / r.updateBytes : null,
    };
  });
}

/**
 * Indices of at most ~`max` points of a series for charting: every bucket keeps its first,
 * minimum and maximum points (so spikes survive); the last point is always kept.
 */
export function downsampleIndices(ys: (number | null)[], max: number): number[] {
  if (ys.length <= max) return ys.map((_, i) => i);
  const buckets = Math.max(1, Math.floor(max / 3));
  const size = ys.length / buckets;
  const keep = new Set<number>();
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor(b * size);
    const hi = Math.min(ys.length, Math.floor((b + 1) * size));
    let min = -1;
    let maxI = -1;
    for (let i = lo; i < hi; i++) {
      const y = ys[i];
      if (y === null) continue;
      if (min < 0 || y < ys[min]!) min = i;
      if (maxI < 0 || y > ys[maxI]!) maxI = i;
    }
    keep.add(lo);
    if (min >= 0) keep.add(min);
    if (maxI >= 0) keep.add(maxI);
  }
  keep.add(ys.length - 1);
  return [...keep].sort((a, b) => a - b);
}

/** Several series over one x axis, thinned to the union of each series' kept points. */
export function downsampleSeries(x: number[], ys: (number | null)[][], maxPerSeries: number): { x: number[]; ys: (number | null)[][] } {
  if (x.length <= maxPerSeries) return { x, ys };
  const keep = new Set<number>();
  for (const y of ys) for (const i of downsampleIndices(y, maxPerSeries)) keep.add(i);
  const idx = [...keep].sort((a, b) => a - b);
  return { x: idx.map((i) => x[i]), ys: ys.map((y) => idx.map((i) => y[i])) };
}

/** Consecutive rises of the held-out loss after which the dashboard marks a run (issue 15). */
export const RISING_LOSS_ROUNDS = 3;

/**
 * The run's latest streak of rising held-out loss: how many consecutive rounds, ending at the
 * last one, each had a higher loss than the round before, and the round whose loss they rose
 * from. A gap in the rounds (one not committed) ends a streak; so does a loss that is not finite.
 */
export function risingLoss(rounds: Pick<RoundSummary, 'round' | 'heldOutLoss'>[]): { rounds: number; since: number } | null {
  let n = 0;
  for (let i = rounds.length - 1; i > 0; i--) {
    const [prev, cur] = [rounds[i - 1], rounds[i]];
    if (cur.round !== prev.round + 1 || !Number.isFinite(cur.heldOutLoss) || !Number.isFinite(prev.heldOutLoss) || !(cur.heldOutLoss > prev.heldOutLoss)) break;
    n++;
  }
  return n === 0 ? null : { rounds: n, since: rounds[rounds.length - 1 - n].round };
}
