// Spot-check settings and sampling (DESIGN.md step 8; what a check compares is checks.ts).
//
// Sampling is BOINC-style adaptive replication: an identity with fewer than `trustAfter`
// passed checks is sampled at `newIdentityRate`, a trusted one at `rate`, and one whose
// reputation went negative (a failed check costs `FAIL_PENALTY`, a pass earns 1) at 1.
// Reports without a residual commitment (the browser page does not upload evidence yet)
// cannot be checked: they are marked `unverifiable` and paid like unsampled work.
//
// Why cheating does not pay (issue 14): the credit rule.
//   1. Vesting. A contribution accepted in round r vests once round r + W has committed
//      (W = `vestingRounds`); an epoch pays only vested credit (Ledger CREDITABLE), so nothing
//      unvested ever reaches a posted root and a later clawback never meets paid tokens.
//   2. Clawback. A failed check rejects the checked row AND every other row of the identity
//      not yet in an epoch (CLAWED_BACK, one transaction: Ledger.recordCheck); its reputation
//      drops by FAIL_PENALTY, so it is sampled at rate 1 from then on (and quarantined).
//   3. The arithmetic, per contribution of credit c, trusted sampling rate p (default 0.025),
//      and an identity contributing once a round. A cheater that starts cheating at some
//      round is first caught after k ~ Geometric(p) cheats (mean 1/p = 40). At that moment
//      every row of its last W rounds is unvested and clawed back: its cheats (≤ k of them)
//      and its honest rows inside the window (W − k of them when k < W). Only cheats older
//      than W rounds at the first catch ever vest: E[max(0, k − W)] = (1 − p)^W / p rows.
//      Expected net from cheating ≈ c · (E[max(0, k − W)] − E[max(0, W − k)]) = c · (1/p − W),
//      which is ≤ 0 exactly when W ≥ 1/p: the stake at risk (W·c of unvested credit) is at
//      least the gain divided by the sampling rate. A cheat-and-leave identity gains
//      c·k·(1 − p)^k only if never caught and loses its honest stake if caught; with W ≥ 1/p
//      the expectation is ≤ 0 for every k. The default W = 120 = 3/p makes the chance that a
//      cheat vests before the first catch (1 − p)^W = e^−3 ≈ 0.05.
//   4. Pace. A round never commits before startsAt + trainMs (coordinator/round/decide.ts
//      commitAt), even when every report is in: an identity makes at most one contribution per
//      trainMs however little work it does, so skipping the work buys no extra rounds, and c per
//      round is the most any claim can earn before the checks above price it.
//   Measured, with this code (the sim drives the Validator, Ledger and epoch policy):
//   `npm run sim -- --verify --json` rows sleeper-KIND (e2e/sim-verify.ts; figures in the README).
import { DEFAULT_VERIFICATION, type RunSpec, type VerificationSettings } from '../../shared/config.ts';
import type { IdentityRecord } from '../db/index.ts';

/** Reputation lost per failed check (a pass earns 1): one failure outweighs ten passes. */
export const FAIL_PENALTY = 10;

/** The run's verification settings over the defaults, validated with the failing keypath. */
export function verificationOf(run: Pick<RunSpec, 'verification'>): VerificationSettings {
  const v = { ...DEFAULT_VERIFICATION, ...(run.verification ?? {}) };
  const unit = ['rate', 'newIdentityRate', 'tolerance', 'codecTolerance'] as const;
  for (const k of unit)
    if (!(typeof v[k] === 'number' && v[k] >= 0 && v[k] <= 1))
      throw new Error(`run.verification.${k}: expected a number in [0, 1], got ${JSON.stringify(v[k])}`);
  for (const k of ['trustAfter', 'evidenceTimeoutMs', 'heldOutSamples', 'vestingRounds'] as const) {
    if (!(Number.isInteger(v[k]) && v[k] >= 0)) throw new Error(`run.verification.${k}: expected a non-negative integer, got ${JSON.stringify(v[k])}`);
  }
  return v;
}

/** The round after whose commit credit accepted in `round` vests (the credit rule's step 1). */
export function vestsRoundOf(round: number, v: Pick<VerificationSettings, 'vestingRounds'>): number {
  return round + v.vestingRounds;
}

/** Probability that an identity's next contribution is re-executed. */
export function samplingRate(id: Pick<IdentityRecord, 'checksPassed' | 'reputation'>, v: VerificationSettings): number {
  if (id.reputation < 0) return 1;
  return id.checksPassed < v.trustAfter ? v.newIdentityRate : v.rate;
}
