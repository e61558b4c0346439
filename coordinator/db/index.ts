// The ledger: every SQL statement the coordinator runs lives in this folder — the schema and
// its migrations, the PGlite thread and PostgreSQL pool behind one `Sql` surface, the
// contribution/round/epoch/identity tables (Ledger), runs, and the read models the dashboard
// and the account pushes query, the cluster's leader lease on PostgreSQL, and the committer's
// lease with its fencing token (committer-lease.ts).
export { openDatabase, migrate, redactUrl, type Sql } from './sql.ts';
export { Ledger, type ModelState, type PendingContribution, type RoundCommit, type VerifiableContribution, type IdentityRecord } from './ledger.ts';
export { PendingWriter, type ReportOrigin } from './pending-batch.ts';
export { RunTable, type RunAction } from './runs.ts';
export { accountSummaries } from './account-summaries.ts';
export { runInsights } from './run-insights.ts';
export { flaggedSummary } from './flagged.ts';
export {
  LEADER_LOCK,
  ensureClusterTables,
  tryLeaderLock,
  holdsLeaderLock,
  clusterContracts,
  saveClusterContracts,
  registerLeader,
  leaderUrl,
} from './cluster-lease.ts';
export {
  LeaseError,
  ensureCommitterLeaseTable,
  acquireCommitterLease,
  renewCommitterLease,
  releaseCommitterLease,
  committerLeaseOf,
  fencedSql,
  type CommitterLease,
} from './committer-lease.ts';
export { reserveFaucetGrant, releaseFaucetGrant, recordFaucetTx, epochCoversRound } from './faucet-grants.ts';
export { epochInputs, postedEpochNumbers, postedEpoch, type EpochInputs, type EpochRow, type BatchedContribution } from './epoch-inputs.ts';
export { PartnerRegistry, type PartnerRecord } from './partners.ts';
