// The outer optimizer (DiLoCo): Nesterov momentum on the aggregated pseudo-gradient.
// Applied on the CPU in float32 in index order, so the coordinator and every peer reach
// the same bytes, hence the same model hash.

/**
 * The outer learning rate over rounds. 'constant' (the default) keeps `lr`; 'cosine' anneals
 * it from `lr` at round 0 to `floor`·`lr` at round `rounds` and holds it there, which damps
 * the end-of-run oscillation of a run with a known length (`npm run sim`, non-IID row).
 */
export interface OuterLrSchedule {
  kind: 'constant' | 'cosine';
  /** Rounds over which the lr decays ('cosine'). */
  rounds: number;
  /** The final lr as a fraction of `lr`, in [0, 1]. */
  floor: number;
}

export const OUTER_LR_SCHEDULES: readonly OuterLrSchedule['kind'][] = ['constant', 'cosine'];

export interface OuterConfig {
  lr: number;
  momentum: number;
  /** Absent: constant lr. */
  lrSchedule?: OuterLrSchedule;
}

/**
 * cos(x) for x in [0, π] from its Taylor series with + and × only: those are exactly rounded
 * in IEEE 754, while Math.cos may differ in the last bit between engines, and every peer must
 * compute the same outer lr.
 */
function cosExact(x: number): number {
  const x2 = x * x;
  let term = 1;
  let sum = 1;
  for (let k = 1; k <= 24; k++) {
    term = (-term * x2) / ((2 * k - 1) * (2 * k));
    sum += term;
  }
  return Math.min(1, Math.max(-1, sum));
}

/**
 * `lr` at `round` (0-based) under schedule `s` (absent: constant). A function of the round number
 * alone, exactly rounded, so that whoever knows the round (a peer, the coordinator, a validator
 * re-executing it) computes the same value: the outer step's lr, and the inner lr schedule the
 * simulator measures (e2e/sim.ts Scenario.innerLrSchedule).
 */
export function scheduledLr(lr: number, s: OuterLrSchedule | undefined, round: number): number {
  if (!s || s.kind === 'constant') return lr;
  const t = Math.min(Math.max(round, 0), s.rounds) / s.rounds;
  return lr * (s.floor + (1 - s.floor) * 0.5 * (1 + cosExact(Math.PI * t)));
}

/** The outer lr of `round` (0-based) under `cfg.lrSchedule`. */
export function outerLrAt(cfg: OuterConfig, round: number): number {
  return scheduledLr(cfg.lr, cfg.lrSchedule, round);
}

/** Validation messages for an outer lr schedule, keyed by field; empty when valid. */
export function outerLrScheduleErrors(s: unknown): [string, string][] {
  if (s === undefined) return [];
  if (typeof s !== 'object' || s === null) return [['', `expected an object, got ${JSON.stringify(s)}`]];
  const { kind, rounds, floor } = s as Partial<OuterLrSchedule>;
  const errors: [string, string][] = [];
  if (!OUTER_LR_SCHEDULES.includes(kind as OuterLrSchedule['kind']))
    errors.push(['kind', `expected one of ${OUTER_LR_SCHEDULES.join(', ')}, got ${JSON.stringify(kind)}`]);
  if (typeof rounds !== 'number' || !Number.isInteger(rounds) || rounds < 1 || rounds > 1e9)
    errors.push(['rounds', `expected an integer in [1, 1000000000], got ${JSON.stringify(rounds)}`]);
  if (typeof floor !== 'number' || !Number.isFinite(floor) || floor < 0 || floor > 1)
    errors.push(['floor', `expected a number in [0, 1], got ${JSON.stringify(floor)}`]);
  return errors;
}

/**
 * m ← μ·m + g;  θ ← θ − lr_r·(g + μ·m), lr_r = outerLrAt(cfg, round). In place; g is the
 * pseudo-gradient θ_r − θ_local. Elementwise: over [from, to) only when given (a caller that
 * yields between slices gets the same bits as one pass).
 */
export function applyOuterStep(params: Float32Array, momentum: Float32Array, g: Float32Array, cfg: OuterConfig, round = 0, from = 0, to = params.length): void {
  const { momentum: mu } = cfg;
  const lr = outerLrAt(cfg, round);
  for (let i = from; i < to; i++) {
    const m = Math.fround(mu * momentum[i] + g[i]);
    momentum[i] = m;
    params[i] = params[i] - Math.fround(lr * Math.fround(g[i] + mu * m));
  }
}
