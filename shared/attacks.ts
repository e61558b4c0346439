// Byzantine attacks on a cohort round, for measuring robust aggregation: `npm run sim`
// (e2e/sim.ts) and the browser swarm use these same definitions. Pure: no I/O, no state
// beyond what the caller passes in.
//
// An attacker is omniscient: it sees the honest members' decoded updates of the round.
//   sign-flip  trains honestly and sends −4Δ through the codec (with its own error feedback)
//   noise      N(0, 1) per parameter through the codec: ~100× an honest update's scale
//   alie       μ − z·σ of the honest updates per coordinate (Baruch et al. 2019), z ≥ 1
//   ipm        −0.5 × the honest mean (Xie et al. 2020)
//   nan        an honest frame whose first chunk scale is NaN: decode refuses it
//   lazy       even attackers send an empty (all-zero) update, odd ones replay the update
//              they trained once, relabelled for the current round
//   copycat    replays an honest member's frame byte for byte
// Colluding attackers that send one vector (alie, ipm) are copies of one another, so copycat
// rejection already keeps one of them; the remaining one meets the robust aggregator.
import { CHUNK_ENTRY, FRAME_HEADER } from './wire/frame.ts';
import { createRng, gaussian } from './rng.ts';

export const ATTACKS = ['sign-flip', 'noise', 'alie', 'ipm', 'nan', 'lazy', 'copycat'] as const;
export type Attack = (typeof ATTACKS)[number];

export function isAttack(name: string): name is Attack {
  return (ATTACKS as readonly string[]).includes(name);
}

/** Sign-flip strength: −4Δ (as in RSA, Li et al. 2019); a −1× flip only slows the mean down. */
export const SIGN_FLIP_SCALE = 4;
/** IPM sends −ε × the honest mean (Xie et al. 2020). */
export const IPM_EPSILON = 0.5;
export const NOISE_SIGMA = 1;

/** ALIE's z (Baruch et al. 2019): Φ⁻¹((n − s)/n) with s = ⌊n/2 + 1⌋ − f, at least 1 so the attack moves. */
export function alieZ(n: number, f: number): number {
  const s = Math.floor(n / 2 + 1) - f;
  const p = (n - s) / n;
  // Φ by Abramowitz–Stegun 7.1.26, inverted by bisection.
  const phi = (x: number) => {
    const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
    const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(x * x) / 2);
    return 0.5 * (1 + Math.sign(x) * y);
  };
  let [lo, hi] = [-6, 6];
  for (let i = 0; i < 60; i++) phi((lo + hi) / 2) < p ? (lo = (lo + hi) / 2) : (hi = (lo + hi) / 2);
  return Math.max(1, (lo + hi) / 2);
}

/** Per-coordinate mean and standard deviation of the honest members' dense updates. */
export function honestMoments(honest: Float32Array[]): { mean: Float32Array; std: Float32Array } {
  const n = honest[0]?.length ?? 0;
  const mean = new Float32Array(n);
  const std = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    let s2 = 0;
    for (const d of honest) ((s += d[i]), (s2 += d[i] * d[i]));
    mean[i] = s / honest.length;
    std[i] = Math.sqrt(Math.max(0, s2 / honest.length - (s / honest.length) ** 2));
  }
  return { mean, std };
}

export interface AttackContext {
  attack: Attack;
  /** This attacker's index among the f attackers (0-based). */
  index: number;
  /** Members in the cohort (honest + attackers) and attackers among them. */
  members: number;
  attackers: number;
  paramCount: number;
  /** Seed for the attack's randomness (noise). */
  seed: number;
  /** Honest members' decoded dense updates this round. */
  honest: Float32Array[];
  /** Honest members' frames this round (copycat replays one). */
  honestFrames: Uint8Array[];
  /** The attacker's own honest pseudo-gradient (trains on demand; sign-flip, nan, lazy). */
  train: () => Float32Array;
  /** Per-attacker memory across rounds (lazy keeps its stale update here). */
  memory: Map<string, Float32Array>;
}

/**
 * What the attacker sends: a vector for the codec (with or without the attacker's error
 * feedback, and optionally with its encoded frame corrupted), or ready frame bytes.
 */
export type AttackOutput =
  { kind: 'vector'; v: Float32Array; errorFeedback: boolean; corrupt?: (bytes: Uint8Array) => void } | { kind: 'frame'; bytes: Uint8Array };

/** Writes NaN into the first chunk's scale of an encoded frame (decode must refuse it). */
export function corruptFirstScale(bytes: Uint8Array): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setFloat32(FRAME_HEADER.bytes + CHUNK_ENTRY.at.scale, NaN, true);
}

export function attackUpdate(ctx: AttackContext): AttackOutput {
  switch (ctx.attack) {
    case 'sign-flip':
      return { kind: 'vector', v: ctx.train().map((x) => -SIGN_FLIP_SCALE * x), errorFeedback: true };
    case 'noise': {
      const r = createRng(ctx.seed);
      return { kind: 'vector', v: Float32Array.from({ length: ctx.paramCount }, () => NOISE_SIGMA * gaussian(r)), errorFeedback: false };
    }
    case 'alie': {
      const { mean, std } = honestMoments(ctx.honest);
      const z = alieZ(ctx.members, ctx.attackers);
      return { kind: 'vector', v: mean.map((m, i) => m - z * std[i]), errorFeedback: false };
    }
    case 'ipm': {
      const { mean } = honestMoments(ctx.honest);
      return { kind: 'vector', v: mean.map((m) => -IPM_EPSILON * m), errorFeedback: false };
    }
    case 'nan':
      return { kind: 'vector', v: ctx.train(), errorFeedback: true, corrupt: corruptFirstScale };
    case 'lazy': {
      if (ctx.index % 2 === 0) return { kind: 'vector', v: new Float32Array(ctx.paramCount), errorFeedback: false };
      let stale = ctx.memory.get('lazy');
      if (!stale) ctx.memory.set('lazy', (stale = ctx.train()));
      return { kind: 'vector', v: stale, errorFeedback: false };
    }
    case 'copycat':
      return { kind: 'frame', bytes: ctx.honestFrames[ctx.index % ctx.honestFrames.length].slice() };
  }
}
