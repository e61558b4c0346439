// Spot-check settings and sampling (DESIGN.md step 8; what a check compares is checks.ts).
//
// Sampling is BOINC-style adaptive replication: an identity with fewer than `trustAfter`
// passed checks is sampled at `newIdentityRate`, a trusted one at `rate`, and one whose
// reputation went negative (a failed check costs `FAIL_PENALTY`, a pass earns 1) at 1.
// Reports without a residual commitment (the browser page does not upload evidence yet)
// cannot be checked: they are marked `unverifiable` and paid like unsampled work.
import { DEFAULT_VERIFICATION, type RunSpec, type VerificationSettings } from '../../shared/config.ts';
import type { IdentityRecord } from '../db/index.ts';

/** Reputation lost per failed check (a pass earns 1): one failure outweighs ten passes. */
export const FAIL_PENALTY = 10;

/** The run's verification settings over the defaults, validated with the failing keypath. */
export function verificationOf(run: Pick<RunSpec, 'verification'>): VerificationSettings {
  const v = { ...DEFAULT_VERIFICATION, ...(run.verification ?? {}) };
  const unit = ['rate', 'newIdentityRate', 'tolerance', 'codecTolerance'] as const;
  for (const k of unit) if (!(typeof v[k] === 'number' && v[k] >= 0 && v[k] <= 1)) throw new Error(`run.verification.${k}: expected a number in [0, 1], got ${JSON.stringify(v[k])}`);
  for (const k of ['trustAfter', 'evidenceTimeoutMs', 'heldOutSamples'] as const) {
    if (!(Number.isInteger(v[k]) && v[k] >= 0)) throw new Error(`run.verification.${k}: expected a non-negative integer, got ${JSON.stringify(v[k])}`);
  }
  return v;
}

/** Probability that an identity's next contribution is re-executed. */
export function samplingRate(id: Pick<IdentityRecord, 'checksPassed' | 'reputation'>, v: VerificationSettings): number {
  if (id.reputation < 0) return 1;
  return id.checksPassed < v.trustAfter ? v.newIdentityRate : v.rate;
}
