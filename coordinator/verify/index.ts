// Spot-check verification (DESIGN.md step 8): the settings and sampling rates, the pure
// checks, the sampling validator and its queue, the evidence desk, the re-execution thread
// and worker (WGSL kernels through Dawn), and the quarantine of identities that failed.
export { FAIL_PENALTY, verificationOf, samplingRate, vestsRoundOf } from './settings.ts';
export {
  checkContribution,
  referenceDelta,
  assignedBatches,
  checkFigures,
  type CheckClaim,
  type CheckDetail,
  type CheckResult,
  type Executor,
} from './checks.ts';
export { Validator, type ValidatorDeps, type EvidenceSource } from './validator.ts';
export { EvidenceDesk, evidenceWindowMs } from './evidence-desk.ts';
export { Quarantine } from './quarantine.ts';
