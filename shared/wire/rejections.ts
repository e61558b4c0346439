// Why the ledger refused a contribution: one code from this table, stored in its own column
// (contributions.reason_code) with the prose beside it (contributions.reason). The engine,
// the validator and the ledger write { code, prose }; the dashboard, the flagged-identity view
// and the account summary read the code. `conduct`: the refusal blames the identity itself
// (flagged on the dashboard); the others are nobody's fault (a restart, a late report, a
// cohort that missed its quorum).
/** Every code, in the order of the table below. */
export const REJECTION_CODES = [
  'LEFT_OUT',
  'NO_QUORUM',
  'AGGREGATE_MISSING',
  'COMBINE_REFUSED',
  'STALE_ROUND',
  'DUPLICATE',
  'ROUND_ABORTED',
  'WORK_MISMATCH',
  'FRAME_MISMATCH',
  'EVIDENCE_MISMATCH',
  'EVIDENCE_WITHHELD',
  'BAD_FRAME',
  'CLAIM_MISMATCH',
  'FOREIGN_AGGREGATE',
  'CLAWED_BACK',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

/** What each code means (a Record over the union: a code without an entry does not compile). */
export const REJECTIONS: Record<RejectionCode, { conduct: boolean; meaning: string }> = {
  // At commit (coordinator/engine.ts):
  LEFT_OUT: { conduct: true, meaning: "the cohort's aggregate does not include this member's frame (refused by the robust aggregator)" },
  NO_QUORUM: {
    conduct: false,
    meaning: "fewer than 2/3 of the cohort signed the aggregate this member signed, or the round's update rested on fewer identities than run.minContributors",
  },
  AGGREGATE_MISSING: { conduct: false, meaning: 'the aggregate this member signed was never uploaded' },
  COMBINE_REFUSED: { conduct: false, meaning: "the cross-cohort combine refused this member's cohort aggregate" },
  STALE_ROUND: { conduct: false, meaning: 'the round committed before the report was recorded' },
  DUPLICATE: { conduct: false, meaning: 'the same key already reported for this round' },
  // On a restart (coordinator/db/ledger.ts):
  ROUND_ABORTED: { conduct: false, meaning: 'the coordinator restarted before the round committed' },
  // By a spot check (coordinator/validator.ts):
  WORK_MISMATCH: { conduct: true, meaning: 'the update differs from re-executing the claimed steps' },
  FRAME_MISMATCH: { conduct: true, meaning: 'the frame differs from the honest compression of the re-executed update' },
  EVIDENCE_MISMATCH: { conduct: true, meaning: 'the uploaded evidence does not hash to what the member committed' },
  EVIDENCE_WITHHELD: { conduct: true, meaning: 'the member did not upload its evidence in time' },
  BAD_FRAME: { conduct: true, meaning: "the member's frame or residuals are malformed" },
  CLAIM_MISMATCH: { conduct: true, meaning: 'the samples claimed do not match the steps, the batch size or the frame' },
  // At commit, a relay or cohort vote that claims an aggregate it did not make (coordinator/round/decide.ts):
  // After a failed check of another contribution of the same identity (coordinator/db/ledger.ts recordCheck):
  CLAWED_BACK: {
    conduct: true,
    meaning: "a spot check of another of this identity's contributions failed: all of its credit not yet in an epoch is taken back",
  },
  FOREIGN_AGGREGATE: {
    conduct: true,
    meaning: "the aggregate this member signed is another member's or another cohort's (named by them, or a near-copy of theirs)",
  },
};

/** A refusal as the ledger stores it: the code, and one line of prose with the figures. */
export interface Rejection {
  code: RejectionCode;
  prose: string;
}

export const isRejectionCode = (v: unknown): v is RejectionCode => (REJECTION_CODES as readonly unknown[]).includes(v);
