// Rewards (DESIGN.md step 9): identities and wallet delegation, reward epochs (a cumulative
// Merkle root of the ledger's credit posted once to the RewardDistributor), the post-commit
// epoch policy (when a round becomes an epoch, and who is told), proofs, claims.
export { Rewards, type ChainPort, type EpochHooks } from './epochs.ts';
export { epochPolicy, epochWaitMs, type EpochPolicyDeps } from './epoch-policy.ts';
export { bindWallet, MAX_DELEGATION_SECONDS } from './identity.ts';
