// Rewards (DESIGN.md step 9): identities and wallet delegation, reward epochs (a cumulative
// Merkle root of the ledger's credit posted once to the RewardDistributor), the post-commit
// epoch policy (when a round becomes an epoch, and who is told), the epoch poster that retries a
// failed post without ever stopping the coordinator, the gas faucet, proofs, claims.
export { Rewards, type ChainPort, type EpochHooks } from './epochs.ts';
export { epochPolicy, epochWaitMs, type EpochPolicyDeps } from './epoch-policy.ts';
export { bindWallet, MAX_DELEGATION_SECONDS } from './identity.ts';
export { EpochPoster, type EpochPosterOptions } from './epoch-poster.ts';
export { EpochFiles, epochFileOf, signedContribution } from './epoch-file.ts';
export { auditEpochFile, auditPlatform, type AuditResult, type AuditMismatch } from './audit.ts';
export { Faucet, FAUCET_GRANT_WEI, type FaucetDeps } from './faucet.ts';
