// Reconnect delays with jitter. After a coordinator restart every page loses its socket at the
// same moment; with a plain doubling they would all come back on the same beats and hit the
// new process as one burst each time. "Equal jitter": the n-th retry waits a uniform draw in
// [d/2, d], d = min(baseMs · 2^n, maxMs), so the herd spreads out while the delay still grows.

export interface BackoffSettings {
  /** The first retry's ceiling. Default 1 000 ms. */
  baseMs: number;
  /** No wait is longer. Default 30 000 ms. */
  maxMs: number;
}
export const DEFAULT_BACKOFF: BackoffSettings = { baseMs: 1_000, maxMs: 30_000 };

/** The wait before retry `attempt` (0 for the first), with `random` in [0, 1). */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random, s: BackoffSettings = DEFAULT_BACKOFF): number {
  const ceiling = Math.min(s.baseMs * 2 ** Math.min(attempt, 30), s.maxMs);
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}
