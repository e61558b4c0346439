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
//      (W = `vestingRounds`) AND its identity has since passed a check of that contribution or
//      a later one; without such a check it vests only once round r + 2W has committed (an
//      honest volunteer who stops is paid late, never lost). An epoch pays only vested credit
//      (db/creditable.ts), so nothing unvested ever reaches a posted root and a later
//      clawback never meets paid tokens.
//   2. Clawback. A failed check rejects the checked row AND every other row of the identity
//      not yet in an epoch (CLAWED_BACK, one transaction: Ledger.recordCheck); its reputation
//      drops by FAIL_PENALTY, so it is sampled at rate 1 from then on (and quarantined).
//   3. The arithmetic, per contribution of credit c, trusted sampling rate p (default 0.025),
//      and an identity contributing once a round. A cheater that starts cheating at some
//      round — after any number of honest ones — is first caught after k ~ Geometric(p) cheats
//      (mean 1/p = 40). No check of a cheat passes, so no cheat vests by step 1's first path;
//      at the first catch every row not yet in an epoch is clawed back. Only cheats older than
//      2W rounds at the first catch ever vest: E[max(0, k − 2W)] = (1 − p)^(2W) / p rows, a
//      fraction (1 − p)^(2W) of its cheats — e^−6 ≈ 0.25 % at the default W = 120 = 3/p
//      (with vesting after W alone it was (1 − p)^W ≈ 4.8 %, on the 5 % bar: issue 14's
//      sleeper rows measured 6.2 % and 14.5 %). Its honest rows after its last passed check
//      are at stake too, so the expected net from cheating is ≤ c · ((1 − p)^(2W)/p − E[lost
//      honest rows]) < 0. The honest cost: a row waits for round r + W and a passed check at
//      or after it; P(no check in W rounds) = (1 − p)^W ≈ 5 %, so about 95 % of honest credit
//      vests at r + W as before, the rest at its identity's next passed check or r + 2W.
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
